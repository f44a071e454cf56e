"""Graph reads: ``GET /{node}``, ``GET /{node}/{edge}``, ``/me`` and its edges, ``/debug_token``.

What a request may name was checked against Meta's schema before it gets here (``graph_routes``):
unknown edges and fields fail there like Meta's code 100 "nonexisting field". An edge Meta has
but the simulator does not model (a business's apps, a Page's photos…) reads as an empty list:
the simulated business holds none of those.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.connectors.meta.schema import load_schema
from bastion.connectors.meta.simulator import errors, params, permissions
from bastion.connectors.meta.simulator.context import GraphContext
from bastion.connectors.meta.simulator.fields import parse_fields
from bastion.connectors.meta.simulator.render import (
    EdgeDef,
    NodeView,
    render_listing,
    render_node,
    wants_summary,
)
from bastion.connectors.meta.simulator.scenario import TokenRecord
from bastion.connectors.meta.simulator.views import (
    ASSET_VIEWS,
    BUSINESS,
    BUSINESS_USER,
    INVITATION,
    ME_USER,
    PARTNER_BUSINESS,
    PERMISSION,
    SYSTEM_USER,
)

SCHEMA = load_schema()


def resolve(ctx: GraphContext, node_id: str, method: str = "get") -> tuple[NodeView, Any, str]:
    """The view and object behind ``node_id`` and its kind; unknown ids fail with 100/33."""
    state = ctx.state
    if node_id == "me":
        return me_view(ctx)
    kind = state.kind_of(node_id)
    if kind == "business":
        return BUSINESS, state.business, kind
    if kind == "person":
        return BUSINESS_USER, state.people[node_id], kind
    if kind == "system_user":
        return SYSTEM_USER, state.system_users[node_id], kind
    if kind == "invitation":
        return INVITATION, state.invitations[node_id], kind
    if kind == "asset":
        asset = state.assets[node_id]
        return ASSET_VIEWS[asset.type], asset, asset.type
    if kind == "partner":
        return PARTNER_BUSINESS, state.partners[node_id], kind
    raise errors.unknown_object(node_id, method)


def me_view(ctx: GraphContext) -> tuple[NodeView, Any, str]:
    """``/me`` is the token's holder: a SystemUser node, or the User node of a person's Facebook
    account (a user token holds the app-scoped user id, with or without a seat)."""
    user_id = ctx.token.user_id
    if user_id in ctx.state.system_users:
        return SYSTEM_USER, ctx.state.system_users[user_id], "system_user"
    profile = ctx.state.profile(user_id) if ctx.token.user_type == "USER" else None
    if profile is None:
        # An app token has no holder: Meta answers /me with "An active access token must be
        # used" (code 2500).
        raise errors.GraphError(
            "An active access token must be used to query information about the current user.",
            2500,
        )
    return ME_USER, profile, "user"


def _own_permissions(ctx: GraphContext, profile: Any, args: Mapping[str, Any]) -> list[Any]:
    """Granted and declined permissions (docs/graph-api/reference/user/permissions): a
    permission the person unticked in the login dialog reads ``declined``."""
    granted = [(scope, "granted") for scope in ctx.token.scopes]
    return granted + [(scope, "declined") for scope in ctx.token.declined_scopes]


def node_need(kind: str) -> permissions.Need:
    if kind in permissions.ASSET_NEEDS:
        return permissions.ASSET_NEEDS[kind][0]
    if kind == "user":
        return permissions.NONE
    return permissions.BUSINESS


def get_node(ctx: GraphContext, node_id: str, query: Mapping[str, Any]) -> dict[str, Any]:
    view, obj, kind = resolve(ctx, node_id)
    node_need(kind).check(ctx.token)
    return render_node(ctx, view, obj, parse_fields(params.text(query, "fields") or ""))


def _unmodelled(ctx: GraphContext, parent: Any, args: Mapping[str, Any]) -> list[Any]:
    return []


def get_edge(
    ctx: GraphContext, node_id: str, edge_name: str, query: Mapping[str, Any]
) -> dict[str, Any]:
    view, obj, kind = resolve(ctx, node_id)
    edge = view.edges.get(edge_name)
    if edge_name == "permissions" and view is ME_USER:
        edge = EdgeDef(_own_permissions, PERMISSION)
    node_need(kind).check(ctx.token)
    if edge is None:
        target = SCHEMA.get_target(view.type_name, edge_name)
        edge = EdgeDef(_unmodelled, NodeView(target or "AbstractCrudObject", {}))
    edge.check(ctx, obj)
    specs = parse_fields(params.text(query, "fields") or "")
    items = edge.items(ctx, obj, query)
    return render_listing(
        ctx,
        items=items,
        view=edge.view,
        specs=specs,
        edge_name=edge_name,
        url_path=f"{view.key(obj) if node_id == 'me' else node_id}/{edge_name}",
        url_params=query,
        limit_raw=query.get("limit"),
        after=params.text(query, "after"),
        before=params.text(query, "before"),
        summary=wants_summary(query.get("summary")),
        parent_type=view.type_name,
    )


def debug_token(ctx: GraphContext, query: Mapping[str, Any]) -> dict[str, Any]:
    """Token introspection. The caller must be the app's own access token (``app_id|secret``) or a
    person's user token for the app (docs/graph-api/reference/debug_token: "an app access token
    or an app developer's user access token"); a system-user token is refused (UNCONFIRMED
    wording, Meta's usual one for this refusal)."""
    if ctx.token.user_type not in ("APP", "USER"):
        raise errors.GraphError(
            "(#100) You must provide an app access token, or a user access token that is an "
            "owner or developer of the app",
            100,
        )
    input_token = params.required_text(query, "input_token")
    record = ctx.state.tokens.get(input_token)
    if record is None:
        return {
            "data": {
                "is_valid": False,
                "error": {"code": 190, "message": "Invalid OAuth access token.", "subcode": 467},
                "scopes": [],
            }
        }
    expired = bool(record.expires_at) and record.expires_at <= ctx.now
    data: dict[str, Any] = {
        "app_id": record.app_id,
        "type": record.user_type,
        "application": ctx.state.app.name,
        "data_access_expires_at": _data_access_expires_at(record),
        "expires_at": record.expires_at,
        "is_valid": record.valid and not expired,
        "issued_at": record.issued_at,
        "metadata": {"auth_type": "rerequest"} if record.user_type == "USER" else {},
        "scopes": list(record.scopes),
        "granular_scopes": [{"scope": scope} for scope in record.scopes],
        "user_id": record.user_id,
    }
    if not data["is_valid"]:
        message = "Session has expired." if expired else "The session has been invalidated."
        data["error"] = {"code": 190, "message": message, "subcode": 463 if expired else 460}
    return {"data": data}


def _data_access_expires_at(record: TokenRecord) -> int:
    """A person's data access lasts 90 days from their login (docs/facebook-login/auth-vs-data,
    "Data Access Expiration"); a system user's never expires."""
    if record.user_type == "USER":
        return record.issued_at + 90 * 86_400
    return 0 if record.user_type == "SYSTEM_USER" else record.expires_at
