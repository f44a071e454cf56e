"""What the simulated business answers for each Graph node type: the value of each field.

Which fields and edges a node type *has*, which are default and which methods each edge allows
come from Meta's schema (``bastion.connectors.meta.schema``), never from here: a view only says
how to compute a field's value from the simulator's state, and ``schema_view`` refuses at import a
getter for a field Meta's type lacks. A field Meta has but the simulated business holds no value
for is left out of answers, as Graph leaves out unset fields. Choices where Meta is unconfirmed:
``role`` reads upper-case (``ADMIN``); ``two_fac_status`` reads ``enabled`` / ``not_enabled``;
``user_type`` on AssignedUser reads ``BUSINESS_USER`` / ``SYSTEM_USER``; the agency
``*_permissions`` fields list ``{id, permitted_tasks}`` per shared asset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bastion.connectors.meta.schema import load_schema
from bastion.connectors.meta.simulator import errors, permissions
from bastion.connectors.meta.simulator.context import GraphContext, graph_time
from bastion.connectors.meta.simulator.enums import TASKS, TYPE_NAMES
from bastion.connectors.meta.simulator.render import (
    EdgeDef,
    FieldFn,
    NodeView,
    Related,
    check_views,
)
from bastion.connectors.meta.simulator.scenario import (
    AssetRecord,
    PartnerAccessRecord,
    PartnerRecord,
)
from bastion.connectors.meta.simulator.state import FacebookProfile


@dataclass(frozen=True, slots=True)
class AssignedHolder:
    id: str
    tasks: tuple[str, ...]
    asset_type: str


@dataclass(frozen=True, slots=True)
class AssetGrant:
    asset: AssetRecord
    tasks: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.asset.id


@dataclass(frozen=True, slots=True)
class AgencyAccess:
    partner: PartnerRecord
    access: PartnerAccessRecord

    @property
    def id(self) -> str:
        return self.partner.id


def _attr(name: str) -> FieldFn:
    return lambda ctx, obj: getattr(obj, name)


def _time_attr(name: str) -> FieldFn:
    return lambda ctx, obj: graph_time(getattr(obj, name))


def _business_ref(ctx: GraphContext, business_id: str) -> Related | None:
    if business_id == ctx.state.business.id:
        return Related(BUSINESS, ctx.state.business)
    partner = ctx.state.partners.get(business_id)
    return Related(PARTNER_BUSINESS, partner) if partner is not None else None


def _user_ref(ctx: GraphContext, user_id: str | None) -> Related | None:
    if user_id is None:
        return None
    if user_id in ctx.state.people:
        return Related(BUSINESS_USER, ctx.state.people[user_id])
    if user_id in ctx.state.system_users:
        return Related(SYSTEM_USER, ctx.state.system_users[user_id])
    return None


# ----------------------------------------------------------------------------- edge item lists


def _assigned_users(
    ctx: GraphContext, asset: AssetRecord, args: Mapping[str, Any]
) -> Sequence[Any]:
    business = str(args.get("business") or "")
    if not business:
        raise errors.bad_parameter("The parameter business is required")
    if business == ctx.state.business.id:
        holders = ctx.state.asset_users.get(asset.id, {})
        return [AssignedHolder(uid, tasks, asset.type) for uid, tasks in holders.items()]
    if business in ctx.state.partners:
        # A partner's people are listed only to the partner's own token (partner_graph.py).
        return []
    raise errors.bad_parameter(f"Param business must be a valid business id, got {business!r}")


def _asset_agencies(
    ctx: GraphContext, asset: AssetRecord, args: Mapping[str, Any]
) -> Sequence[Any]:
    shared = ctx.state.partner_access.get(asset.id, {})
    return [AgencyAccess(ctx.state.partners[pid], access) for pid, access in shared.items()]


def _user_grants(asset_type: str) -> Any:
    def items(ctx: GraphContext, user: Any, args: Mapping[str, Any]) -> Sequence[Any]:
        held = ctx.state.user_assets.get(user.id, {})
        wanted = args.get("pages")
        wanted_ids = set(wanted) if isinstance(wanted, list) else None
        return [
            AssetGrant(ctx.state.assets[asset_id], tasks)
            for asset_id, tasks in held.items()
            if ctx.state.assets[asset_id].type == asset_type
            and (wanted_ids is None or asset_id in wanted_ids)
        ]

    return items


def _asset_list(asset_type: str, ownership: str) -> Any:
    def items(ctx: GraphContext, business: Any, args: Mapping[str, Any]) -> Sequence[Any]:
        found = ctx.state.assets_of(asset_type, ownership)
        query = str(args.get("search_query") or "").lower()
        return [a for a in found if query in a.name.lower()] if query else found

    return items


def _pending_users(ctx: GraphContext, business: Any, args: Mapping[str, Any]) -> Sequence[Any]:
    email = args.get("email")
    return ctx.state.listed_invitations(ctx.now, str(email) if email else None)


def _partners(relation: str) -> Any:
    def items(ctx: GraphContext, business: Any, args: Mapping[str, Any]) -> Sequence[Any]:
        return [p for p in ctx.state.partners.values() if p.relation == relation]

    return items


def _agency_permissions(asset_type: str) -> FieldFn:
    def value(ctx: GraphContext, partner: PartnerRecord) -> list[dict[str, Any]]:
        return [
            {"id": asset_id, "permitted_tasks": list(by_partner[partner.id].permitted_tasks)}
            for asset_id, by_partner in ctx.state.partner_access.items()
            if partner.id in by_partner and ctx.state.assets[asset_id].type == asset_type
        ]

    return value


# ----------------------------------------------------------------------------- people

SCHEMA = load_schema()

BUSINESS = NodeView("Business", {})
PARTNER_BUSINESS = NodeView("Business", {"id": _attr("id"), "name": _attr("name")})

BUSINESS_USER = NodeView(
    "BusinessUser",
    {
        "id": _attr("id"),
        "name": _attr("name"),
        "business": lambda ctx, p: Related(BUSINESS, ctx.state.business),
        "email": _attr("email"),
        "first_name": _attr("first_name"),
        "last_name": _attr("last_name"),
        "title": _attr("title"),
        "role": _attr("role"),
        "two_fac_status": _attr("two_fac_status"),
        "pending_email": _attr("pending_email"),
        "finance_permission": _attr("finance_permission"),
        "ip_permission": _attr("ip_permission"),
        # UNCONFIRMED: what Meta lists in BusinessUser.tasks; the base role is assumed.
        "tasks": lambda ctx, p: [p.role],
        "marked_for_removal": lambda ctx, p: False,
    },
)


def _email(ctx: GraphContext, profile: FacebookProfile) -> str | None:
    """A User's ``email`` needs the email permission (docs/permissions#email); without it Graph
    leaves the field out."""
    return profile.email if "email" in ctx.token.scopes else None


def _ids_for_business(
    ctx: GraphContext, profile: FacebookProfile, args: Mapping[str, Any]
) -> Sequence[Any]:
    """The ids the business's apps know the person by (docs/graph-api/reference/user/
    ids_for_business): the simulated business has one app, the caller's."""
    app = str(args.get("app") or ctx.state.app.id)
    return [profile] if app == ctx.state.app.id else []


# What the business's app knows a person by (UserIDForApp). UNCONFIRMED: ``app`` is served as
# ``{id, name}`` whatever sub-fields are asked (Meta's Application type is not in our schema).
USER_ID_FOR_APP = NodeView(
    "UserIDForApp",
    {
        "id": _attr("id"),
        "app": lambda ctx, p: {"id": ctx.state.app.id, "name": ctx.state.app.name},
    },
)
# A Facebook account (FacebookProfile) as the simulated app sees it: ``id`` is its app-scoped
# user id, never the business-scoped id of its seat (docs/facebook-login/guides/map-users).
# Meta's SystemUser.created_by is one too (the creator's Facebook profile).
ME_USER = NodeView(
    "User",
    {
        "id": _attr("id"),
        "name": _attr("name"),
        "first_name": _attr("first_name"),
        "last_name": _attr("last_name"),
        "email": _email,
    },
    {
        # One row per business the person has a seat in; only the simulated business here
        # (docs/graph-api/reference/user/business_users/).
        "business_users": EdgeDef(
            lambda ctx, p, a: [p.person] if p.person is not None else [],
            BUSINESS_USER,
            permissions.OWN_BUSINESS_ACCOUNTS,
        ),
        "ids_for_business": EdgeDef(
            _ids_for_business, USER_ID_FOR_APP, permissions.OWN_BUSINESS_ACCOUNTS
        ),
    },
)
SYSTEM_USER = NodeView(
    "SystemUser",
    {
        "id": _attr("id"),
        "name": _attr("name"),
        "role": _attr("role"),
        "created_time": _time_attr("created_time"),
        "created_by": lambda ctx, s: (
            Related(ME_USER, ctx.state.profile(ctx.state.people[s.created_by_id].global_id))
            if s.created_by_id in ctx.state.people
            else None
        ),
    },
)
INVITATION = NodeView(
    "BusinessRoleRequest",
    {
        "id": _attr("id"),
        "email": _attr("email"),
        "role": _attr("role"),
        "status": lambda ctx, i: ctx.state.invitation_status(i, ctx.now),
        "created_time": _time_attr("created_time"),
        "created_by": lambda ctx, i: _user_ref(ctx, i.created_by_id),
        "updated_time": lambda ctx, i: graph_time(i.updated_time or i.created_time),
        "expiration_time": _time_attr("expiration_time"),
        "expiry_time": _time_attr("expiration_time"),
        "invited_user_type": lambda ctx, i: list(i.invited_user_type),
        "tasks": lambda ctx, i: list(i.tasks),
        "owner": lambda ctx, i: Related(BUSINESS, ctx.state.business),
        "invite_link": lambda ctx, i: f"https://business.facebook.com/invitation/?token={i.id}",
    },
)
PERMISSION = NodeView(
    "Permission",
    {"permission": lambda ctx, p: p[0], "status": lambda ctx, p: p[1]},
    key=lambda p: str(p[0]),
)

# ----------------------------------------------------------------------------- assets


def _asset(obj: Any) -> AssetRecord:
    return obj.asset if isinstance(obj, AssetGrant) else obj


def _asset_attr(name: str) -> FieldFn:
    return lambda ctx, obj: _asset(obj).attrs.get(name)


def _owner(ctx: GraphContext, obj: Any) -> Related | None:
    return _business_ref(ctx, _asset(obj).owner_business_id)


def _user_tasks(ctx: GraphContext, obj: Any) -> list[str]:
    holder = ctx.state.holder_id(ctx.token)
    return list(ctx.state.asset_users.get(_asset(obj).id, {}).get(holder, ()))


# Values every asset type could have; each type keeps only the fields Meta's schema gives it
# (an Instagram asset has no ``name``, ``owner_business`` or ``business``).
_COMMON: dict[str, FieldFn] = {
    "id": lambda ctx, obj: _asset(obj).id,
    "name": lambda ctx, obj: _asset(obj).name,
    "owner_business": _owner,
    "business": _owner,
}
_ASSET_FIELDS: dict[str, dict[str, FieldFn]] = {
    "page": {
        **{key: _asset_attr(key) for key in ("category", "username", "link", "is_published")},
        "verification_status": _asset_attr("verification_status"),
    },
    "ad_account": {
        **{key: _asset_attr(key) for key in ("account_id", "account_status", "disable_reason")},
        "currency": _asset_attr("currency"),
        "timezone_name": _asset_attr("timezone_name"),
        "created_time": lambda ctx, obj: graph_time(_asset(obj).created_time),
        "user_tasks": _user_tasks,
    },
    "catalog": {"vertical": _asset_attr("vertical"), "product_count": _asset_attr("product_count")},
    "pixel": {
        "creation_time": lambda ctx, obj: graph_time(_asset(obj).created_time),
        "last_fired_time": lambda ctx, obj: graph_time(_asset(obj).attrs.get("last_fired_time")),
        "is_unavailable": _asset_attr("is_unavailable"),
    },
    "instagram": {
        "ig_user_id": _asset_attr("ig_user_id"),
        "ig_username": _asset_attr("ig_username"),
    },
}

ASSIGNED_USER = NodeView(
    "AssignedUser",
    {
        "id": _attr("id"),
        "name": lambda ctx, h: ctx.state.user_name(h.id),
        "user_type": lambda ctx, h: "BUSINESS_USER" if h.id in ctx.state.people else "SYSTEM_USER",
        "business": lambda ctx, h: Related(BUSINESS, ctx.state.business),
        "tasks": lambda ctx, h: list(h.tasks),
        # UNCONFIRMED: every task of the asset type is taken to be assignable.
        "permitted_tasks": lambda ctx, h: list(TASKS[h.asset_type]),
    },
)
AGENCY_ACCESS = NodeView(
    "Business",
    {
        "id": lambda ctx, a: a.partner.id,
        "name": lambda ctx, a: a.partner.name,
        "permitted_tasks": lambda ctx, a: list(a.access.permitted_tasks),
        "access_status": lambda ctx, a: a.access.access_status,
        "access_requested_time": lambda ctx, a: graph_time(a.partner.created_time),
        "access_updated_time": lambda ctx, a: graph_time(a.partner.created_time),
    },
)


def _fields_of(type_name: str, extra: dict[str, FieldFn]) -> dict[str, FieldFn]:
    """The common asset values the type has in Meta's schema, and the type's own (which
    ``check_views`` then holds to the schema: a misspelt one fails at import)."""
    own = SCHEMA.node(type_name).fields
    return {name: fn for name, fn in _COMMON.items() if name in own} | extra


ASSET_VIEWS: dict[str, NodeView] = {}
GRANT_VIEWS: dict[str, NodeView] = {}
for _kind, _extra in _ASSET_FIELDS.items():
    _needs = permissions.ASSET_NEEDS[_kind]
    _type = TYPE_NAMES[_kind]
    ASSET_VIEWS[_kind] = NodeView(
        _type,
        _fields_of(_type, _extra),
        {
            "assigned_users": EdgeDef(_assigned_users, ASSIGNED_USER, _needs[1]),
            "agencies": EdgeDef(_asset_agencies, AGENCY_ACCESS, permissions.BUSINESS),
        },
    )

# A person's or system user's own assets (``assigned_pages`` …); Meta has no such edge for
# pixels or Instagram assets.
for _kind in ("page", "ad_account", "catalog"):
    _type = TYPE_NAMES[_kind]
    GRANT_VIEWS[_kind] = NodeView(
        _type,
        {
            **_fields_of(_type, _ASSET_FIELDS[_kind]),
            "tasks": lambda ctx, g: list(g.tasks),
            "permitted_tasks": lambda ctx, g, kind=_kind: list(TASKS[kind]),  # type: ignore[misc]
        },
    )

_GRANT_EDGES = {
    "assigned_pages": EdgeDef(_user_grants("page"), GRANT_VIEWS["page"], permissions.PAGES_LIST),
    "assigned_ad_accounts": EdgeDef(
        _user_grants("ad_account"), GRANT_VIEWS["ad_account"], permissions.ADS_READ
    ),
    "assigned_product_catalogs": EdgeDef(
        _user_grants("catalog"), GRANT_VIEWS["catalog"], permissions.CATALOG_READ
    ),
}
BUSINESS_USER.edges.update(_GRANT_EDGES)
SYSTEM_USER.edges.update(_GRANT_EDGES)

AGENCY = NodeView(
    "Business",
    {
        "id": _attr("id"),
        "name": _attr("name"),
        "adaccount_permissions": _agency_permissions("ad_account"),
        "page_permissions": _agency_permissions("page"),
        "productcatalog_permissions": _agency_permissions("catalog"),
        "application_permissions": lambda ctx, p: [],
        "shared_ca_count": lambda ctx, p: 0,
    },
)

BUSINESS.fields.update(
    {
        "id": _attr("id"),
        "name": _attr("name"),
        "created_time": _time_attr("created_time"),
        "updated_time": _time_attr("created_time"),
        "created_by": lambda ctx, b: _user_ref(ctx, b.created_by_id),
        "link": lambda ctx, b: f"https://business.facebook.com/settings/?business_id={b.id}",
        "primary_page": lambda ctx, b: (
            Related(ASSET_VIEWS["page"], ctx.state.assets[b.primary_page_id])
            if b.primary_page_id in ctx.state.assets
            else None
        ),
        "timezone_id": _attr("timezone_id"),
        "vertical": _attr("vertical"),
        "is_hidden": lambda ctx, b: False,
        "two_factor_type": _attr("two_factor_type"),
        "verification_status": _attr("verification_status"),
    }
)
_BM = permissions.BUSINESS
BUSINESS.edges.update(
    {
        "business_users": EdgeDef(
            lambda ctx, b, a: list(ctx.state.people.values()), BUSINESS_USER, _BM
        ),
        "pending_users": EdgeDef(_pending_users, INVITATION, _BM),
        "system_users": EdgeDef(
            lambda ctx, b, a: list(ctx.state.system_users.values()), SYSTEM_USER, _BM
        ),
        "agencies": EdgeDef(_partners("agency"), AGENCY, _BM),
        "clients": EdgeDef(_partners("client"), PARTNER_BUSINESS, _BM),
    }
)
_LIST_EDGES = {
    "pages": ("page", permissions.PAGES_LIST),
    "ad_accounts": ("ad_account", permissions.ADS_READ),
    "product_catalogs": ("catalog", _BM),
    "pixels": ("pixel", _BM),
    "instagram_assets": ("instagram", _BM),
}
for _suffix, (_kind, _need) in _LIST_EDGES.items():
    for _ownership in ("owned", "client"):
        BUSINESS.edges[f"{_ownership}_{_suffix}"] = EdgeDef(
            _asset_list(_kind, _ownership), ASSET_VIEWS[_kind], _need
        )
BUSINESS.edges["adspixels"] = BUSINESS.edges["owned_pixels"]

_PEOPLE_VIEWS = [
    BUSINESS_USER,
    ME_USER,
    USER_ID_FOR_APP,
    SYSTEM_USER,
    INVITATION,
    PERMISSION,
    ASSIGNED_USER,
]
_BUSINESS_VIEWS = [BUSINESS, PARTNER_BUSINESS, AGENCY, AGENCY_ACCESS]
check_views(
    SCHEMA, [*_PEOPLE_VIEWS, *_BUSINESS_VIEWS, *ASSET_VIEWS.values(), *GRANT_VIEWS.values()]
)
