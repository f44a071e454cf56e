"""What Meta documents but its SDK's node lists do not carry: edge-only fields and default fields.

The SDK lists a node type's own fields; some edges *add* fields to each node they return (the
reference pages say "The following fields will be added to each node that is returned"), and the
reference pages mark which fields come back when ``fields`` is not given. Each line cites the
page it comes from (paths under developers.facebook.com). A line marked UNCONFIRMED has no Meta
page behind it: it is the narrowest reading that fails safely (a field left out here is refused
by the simulator and never requested by the connector).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EdgeField:
    """A field ``edge`` of ``node`` adds to each node it returns."""

    node: str
    edge: str
    field: str
    type: str
    default: bool
    source: str


_AD_ACCOUNT_USERS = "documentation/ads-commerce/marketing-api/reference/ad-account/assigned_users"
_PAGE_USERS = "docs/graph-api/reference/page/assigned_users"
_CATALOG_USERS = "documentation/ads-commerce/marketing-api/reference/product-catalog/assigned_users"
_PIXEL_USERS = "documentation/ads-commerce/marketing-api/reference/ads-pixel/assigned_users"
_BUSINESS_USERS = "documentation/ads-commerce/marketing-api/reference/business/business_users"
_SYSTEM_USERS = "documentation/ads-commerce/marketing-api/reference/business/system_users"
_USER_PAGES = "documentation/ads-commerce/marketing-api/reference/business-user/assigned_pages"
_USER_ACCOUNTS = (
    "documentation/ads-commerce/marketing-api/reference/business-user/assigned_ad_accounts"
)
_USER_CATALOGS = (
    "documentation/ads-commerce/marketing-api/reference/business-user/assigned_product_catalogs"
)
_SYSTEM_USER_ACCOUNTS = (
    "documentation/ads-commerce/marketing-api/reference/system-user/assigned_ad_accounts"
)
_AD_ACCOUNT_AGENCIES = "documentation/ads-commerce/marketing-api/reference/ad-account/agencies"
_BUSINESS_AGENCIES = "documentation/ads-commerce/marketing-api/reference/business/agencies"

EDGE_FIELDS: tuple[EdgeField, ...] = (
    # Who holds which tasks on an asset.
    EdgeField("AdAccount", "assigned_users", "tasks", "list<string>", True, _AD_ACCOUNT_USERS),
    EdgeField(
        "AdAccount", "assigned_users", "permitted_tasks", "list<string>", False, _AD_ACCOUNT_USERS
    ),
    EdgeField("Page", "assigned_users", "tasks", "list<string>", True, _PAGE_USERS),
    EdgeField("Page", "assigned_users", "permitted_tasks", "list<string>", False, _PAGE_USERS),
    EdgeField("ProductCatalog", "assigned_users", "tasks", "list<string>", True, _CATALOG_USERS),
    EdgeField(
        "ProductCatalog", "assigned_users", "permitted_tasks", "list<string>", False, _CATALOG_USERS
    ),
    EdgeField("AdsPixel", "assigned_users", "tasks", "list<string>", True, _PIXEL_USERS),
    EdgeField("AdsPixel", "assigned_users", "permitted_tasks", "list<string>", False, _PIXEL_USERS),
    # UNCONFIRMED: no reference page for Instagram assets' assignees; ``tasks`` as on every other
    # asset, and no ``permitted_tasks`` (reads of Instagram assets were observed without it).
    EdgeField(
        "InstagramBusinessAsset",
        "assigned_users",
        "tasks",
        "list<string>",
        True,
        "UNCONFIRMED: no reference page; as on " + _AD_ACCOUNT_USERS,
    ),
    # The base role of each person and system user is a default field of the business's lists
    # (the SDK lists ``role`` on both node types; these lines only make it a default here).
    EdgeField("Business", "business_users", "role", "string", True, _BUSINESS_USERS),
    EdgeField("Business", "system_users", "role", "string", True, _SYSTEM_USERS),
    # A person's or system user's own assets, with their tasks there.
    *(
        EdgeField(owner, edge, field, "list<string>", field == "tasks", source)
        for owner in ("BusinessUser", "SystemUser")
        for edge, source in (
            ("assigned_pages", _USER_PAGES),
            (
                "assigned_ad_accounts",
                _SYSTEM_USER_ACCOUNTS if owner == "SystemUser" else _USER_ACCOUNTS,
            ),
            ("assigned_product_catalogs", _USER_CATALOGS),
        )
        for field in ("tasks", "permitted_tasks")
    ),
    # Partners: what an agency holds on one ad account, and on the business's assets by type.
    EdgeField(
        "AdAccount", "agencies", "permitted_tasks", "list<string>", False, _AD_ACCOUNT_AGENCIES
    ),
    EdgeField("AdAccount", "agencies", "access_status", "string", False, _AD_ACCOUNT_AGENCIES),
    EdgeField(
        "AdAccount", "agencies", "access_requested_time", "datetime", False, _AD_ACCOUNT_AGENCIES
    ),
    EdgeField(
        "AdAccount", "agencies", "access_updated_time", "datetime", False, _AD_ACCOUNT_AGENCIES
    ),
    *(
        EdgeField("Business", "agencies", field, "list<map>", False, _BUSINESS_AGENCIES)
        for field in (
            "adaccount_permissions",
            "application_permissions",
            "page_permissions",
            "productcatalog_permissions",
        )
    ),
    EdgeField("Business", "agencies", "shared_ca_count", "int", False, _BUSINESS_AGENCIES),
)

# Fields returned when a request names none. Graph's general rule is ``id`` plus a few fields
# the reference page marks "default"; a type with no page behind it gets ``id`` and ``name``
# where it has a name (UNCONFIRMED, Graph's usual shape), else ``id`` alone.
NODE_DEFAULTS: dict[str, tuple[tuple[str, ...], str]] = {
    "Business": (("id", "name"), "documentation/ads-commerce/marketing-api/reference/business"),
    "BusinessUser": (
        ("id", "name", "business"),
        "documentation/ads-commerce/marketing-api/reference/business-user",
    ),
    "BusinessRoleRequest": (
        ("id", "email", "role", "status"),
        "documentation/ads-commerce/marketing-api/reference/business-role-request",
    ),
    "SystemUser": (
        ("id", "name"),
        "documentation/ads-commerce/marketing-api/reference/system-user",
    ),
    "Permission": (("permission", "status"), "docs/graph-api/reference/user/permissions"),
    "User": (("id", "name"), "docs/graph-api/reference/user"),
}

# Parameters every Graph request may carry, whatever the node or edge.
GLOBAL_PARAMS: dict[str, str] = {
    "access_token": "docs/graph-api/overview#access-tokens",
    "appsecret_proof": "docs/graph-api/guides/secure-requests",
    "fields": "docs/graph-api/guides/field-expansion",
    "limit": "docs/graph-api/results",
    "after": "docs/graph-api/results",
    "before": "docs/graph-api/results",
    "summary": "docs/graph-api/results",
    "pretty": "docs/graph-api/results",
}

# Paths that are not a node or an edge of one: Graph's root operations.
ROOT_PATHS: dict[tuple[str, str], tuple[dict[str, str], str]] = {
    ("GET", "debug_token"): ({"input_token": "string"}, "docs/graph-api/reference/debug_token"),
    ("POST", ""): (
        {"batch": "list<map>", "include_headers": "bool"},
        "docs/graph-api/batch-requests",
    ),
}
