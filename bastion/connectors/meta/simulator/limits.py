"""Page sizes, caps and other fixed limits of the simulated Graph API.

Meta documents that "some edges cap ``limit``" without listing the caps. We picked Graph's usual
default page size of 25 everywhere and a maximum of 100 for most edges, larger (500) for the
business-level inventory edges where Meta has been observed to serve big pages. A ``limit`` above
the cap is silently clamped, as Meta does. These caps are importable because the connector's
benchmark derives a lower bound of Graph calls from scenario sizes and these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EdgeLimit:
    """Default page size and the largest ``limit`` an edge honours."""

    default: int
    maximum: int


DEFAULT_PAGE_SIZE = 25
_STANDARD = EdgeLimit(DEFAULT_PAGE_SIZE, 100)
_INVENTORY = EdgeLimit(DEFAULT_PAGE_SIZE, 500)

EDGE_LIMIT_CAPS: dict[str, EdgeLimit] = {
    "business_users": _STANDARD,
    "pending_users": _STANDARD,
    "system_users": _STANDARD,
    "agencies": _STANDARD,
    "clients": _STANDARD,
    "owned_pages": _INVENTORY,
    "client_pages": _INVENTORY,
    "owned_ad_accounts": _INVENTORY,
    "client_ad_accounts": _INVENTORY,
    "owned_product_catalogs": _INVENTORY,
    "client_product_catalogs": _INVENTORY,
    "owned_pixels": _INVENTORY,
    "adspixels": _INVENTORY,
    "client_pixels": _INVENTORY,
    "owned_instagram_assets": _INVENTORY,
    "client_instagram_assets": _INVENTORY,
    "assigned_users": _STANDARD,
    "assigned_pages": _STANDARD,
    "assigned_ad_accounts": _STANDARD,
    "assigned_product_catalogs": _STANDARD,
    "permissions": _STANDARD,
}

MAX_BATCH_OPERATIONS = 50
SUPPORTED_VERSIONS = tuple(range(22, 28))
LATEST_VERSION = 27
DEFAULT_VERSION = 25  # the SDKs' default when a path carries no version

REQUIRED_PERMISSIONS = (
    "business_management",
    "pages_show_list",
    "catalog_management",
    "pages_read_engagement",
    "pages_manage_metadata",
    "ads_management",
)


def edge_limit(edge: str) -> EdgeLimit:
    """The caps of ``edge``; unknown edges get the standard caps."""
    return EDGE_LIMIT_CAPS.get(edge, _STANDARD)
