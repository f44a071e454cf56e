"""Graph reads: ``GET /{node}``, ``GET /{node}/{edge}``, ``/me``, ``/me/permissions``,
``/debug_token``.

Unknown edges fail like unknown fields (code 100 "nonexisting field"); Meta was observed to
refuse ``assigned_pixels`` and ``client_instagram_accounts`` this way or with a 404 — we use the
code-100 form for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.connectors.meta.simulator import errors, params, permissions
from bastion.connectors.meta.simulator.context import GraphContext
from bastion.connectors.meta.simulator.fields import parse_fields
from bastion.connectors.meta.simulator.render import (
    NodeView,
    render_listing,
    render_node,
    wants_summary,
)
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


def resolve(ctx: GraphContext, node_id: str, method: str = "get") -> tuple[NodeView, Any, str]:
    """The view and object behind ``node_id`` and its kind; unknown ids fail with 100/33."""
    state = ctx.state
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


def node_need(kind: str) -> permissions.Need:
    if kind in permissions.ASSET_NEEDS:
        return permissions.ASSET_NEEDS[kind][0]
    return permissions.BUSINESS


def get_node(ctx: GraphContext, node_id: str, query: Mapping[str, Any]) -> dict[str, Any]:
    view, obj, kind = resolve(ctx, node_id)
    node_need(kind).check(ctx.token)
    return render_node(ctx, view, obj, parse_fields(params.text(query, "fields") or ""))


def get_edge(
    ctx: GraphContext, node_id: str, edge_name: str, query: Mapping[str, Any]
) -> dict[str, Any]:
    view, obj, kind = resolve(ctx, node_id)
    edge = view.edges.get(edge_name)
    if edge is None:
        raise errors.nonexisting_field(edge_name, view.type_name)
    node_need(kind).check(ctx.token)
    edge.check(ctx, obj)
    specs = parse_fields(params.text(query, "fields") or "")
    items = edge.items(ctx, obj, query)
    return render_listing(
        ctx,
        items=items,
        view=edge.view,
        specs=specs,
        edge_name=edge_name,
        url_path=f"{node_id}/{edge_name}",
        url_params=query,
        limit_raw=query.get("limit"),
        after=params.text(query, "after"),
        before=params.text(query, "before"),
        summary=wants_summary(query.get("summary")),
    )


def get_me(ctx: GraphContext, query: Mapping[str, Any]) -> dict[str, Any]:
    specs = parse_fields(params.text(query, "fields") or "")
    user_id = ctx.token.user_id
    if user_id in ctx.state.system_users:
        return render_node(ctx, SYSTEM_USER, ctx.state.system_users[user_id], specs)
    person = ctx.state.people.get(user_id)
    if person is None:
        raise errors.invalid_token()
    return render_node(ctx, ME_USER, person, specs)


def get_my_permissions(ctx: GraphContext, query: Mapping[str, Any]) -> dict[str, Any]:
    specs = parse_fields(params.text(query, "fields") or "")
    return {
        "data": [
            render_node(ctx, PERMISSION, (scope, "granted"), specs) for scope in ctx.token.scopes
        ]
    }


def debug_token(ctx: GraphContext, query: Mapping[str, Any]) -> dict[str, Any]:
    """Token introspection; any valid token of the same app may inspect another."""
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
        "data_access_expires_at": 0 if record.user_type == "SYSTEM_USER" else record.expires_at,
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
