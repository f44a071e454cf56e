"""Graph writes: invite, update and remove people, invitations, system users, asset tasks,
partner sharing.

Which writes exist and which parameters each takes come from Meta's schema and were checked
before a handler runs (so ``DELETE /{pixel}/assigned_users``, which Meta's AdsPixel lacks, never
gets here). Each handler checks permissions and policies and validates every value before
calling the state, so a refused write changes nothing. Choices where Meta is unconfirmed:
``role`` defaults to ``EMPLOYEE`` on invite; ``tasks`` is required on every ``assigned_users``
POST (Meta requires it for catalogs and pixels); ``DELETE`` of a user without tasks on the asset
succeeds (idempotent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.connectors.meta.simulator import errors, params, permissions
from bastion.connectors.meta.simulator.context import GraphContext
from bastion.connectors.meta.simulator.enums import (
    EXCLUSIVE_TASKS,
    INVITED_USER_TYPES,
    ROLES,
    TASKS,
    TWO_FACTOR_TYPES,
    expand_tasks,
)
from bastion.connectors.meta.simulator.graph_reads import node_need, resolve
from bastion.connectors.meta.simulator.limits import REQUIRED_PERMISSIONS
from bastion.connectors.meta.simulator.policy import guard
from bastion.connectors.meta.simulator.scenario import AssetRecord, TokenRecord
from bastion.connectors.meta.simulator.tokens import mint_token

SUCCESS = {"success": True}
KNOWN_SCOPES = (*REQUIRED_PERMISSIONS, "ads_read", "read_insights", "instagram_basic")


def post_node(ctx: GraphContext, node_id: str, query: Mapping[str, Any]) -> dict[str, Any]:
    _, _, kind = resolve(ctx, node_id, "post")
    permissions.BUSINESS.check(ctx.token)
    if kind == "person":
        return _update_person(ctx, node_id, query)
    if kind == "invitation":
        role = params.required_text(query, "role")
        if role not in ROLES:
            raise errors.enum_error("role", ROLES)
        guard(ctx, "update_user", restricted_action=True)
        invitation = ctx.state.pending_invitation(node_id, ctx.now)
        invitation.role = role
        invitation.updated_time = int(ctx.now)
        return {"id": invitation.id}
    if kind == "business":
        return _update_business(ctx, query)
    raise errors.unknown_object(node_id, "post")


def delete_node(ctx: GraphContext, node_id: str, query: Mapping[str, Any]) -> dict[str, Any]:
    _, _, kind = resolve(ctx, node_id, "delete")
    permissions.BUSINESS.check(ctx.token)
    if kind == "person":
        guard(ctx, "remove_user", restricted_action=True)
        ctx.state.remove_person(node_id)
        return SUCCESS
    if kind == "invitation":
        ctx.state.close_invitation(node_id, "CANCELED", ctx.now)
        return SUCCESS
    raise errors.unknown_object(node_id, "delete")


def post_edge(
    ctx: GraphContext, node_id: str, edge: str, query: Mapping[str, Any]
) -> dict[str, Any]:
    _, obj, kind = resolve(ctx, node_id, "post")
    if kind == "business" and edge == "business_users":
        return _invite(ctx, query)
    if kind == "business" and edge == "system_users":
        permissions.BUSINESS.check(ctx.token)
        name = params.required_text(query, "name")
        system_user = ctx.state.create_system_user(
            name=name, role=params.text(query, "role") or "EMPLOYEE", now=ctx.now
        )
        return {"id": system_user.id}
    if kind == "business" and edge == "system_user_access_tokens":
        return _system_user_token(ctx, query)
    if isinstance(obj, AssetRecord) and edge == "assigned_users":
        return _assign(ctx, obj, query)
    if isinstance(obj, AssetRecord) and edge == "agencies":
        permissions.BUSINESS.check(ctx.token)
        partner_id = _partner(ctx, query)
        tasks = params.string_list(query, "permitted_tasks") or []
        _check_tasks(obj.type, tasks, "permitted_tasks")
        ctx.state.share_asset(obj.id, partner_id, list(expand_tasks(obj.type, set(tasks))))
        return SUCCESS
    raise errors.unknown_object(node_id, "post")


def delete_edge(
    ctx: GraphContext, node_id: str, edge: str, query: Mapping[str, Any]
) -> dict[str, Any]:
    _, obj, kind = resolve(ctx, node_id, "delete")
    if isinstance(obj, AssetRecord) and edge == "assigned_users":
        node_need(kind).check(ctx.token)
        permissions.ASSET_NEEDS[obj.type][2].check(ctx.token)
        user_id = _scoped_user(ctx, params.required_text(query, "user"))
        ctx.state.revoke_tasks(obj.id, user_id)
        return SUCCESS
    if isinstance(obj, AssetRecord) and edge == "agencies":
        permissions.BUSINESS.check(ctx.token)
        ctx.state.unshare_asset(obj.id, _partner(ctx, query))
        return SUCCESS
    if kind == "business" and edge in ("agencies", "clients"):
        permissions.BUSINESS.check(ctx.token)
        partner_id = _partner(ctx, query)
        wanted = "agency" if edge == "agencies" else "client"
        if ctx.state.partners[partner_id].relation != wanted:
            raise errors.bad_parameter(f"Business {partner_id} is not one of your {edge}")
        ctx.state.remove_partner(partner_id)
        return SUCCESS
    raise errors.unknown_object(node_id, "delete")


def _invite(ctx: GraphContext, query: Mapping[str, Any]) -> dict[str, Any]:
    permissions.BUSINESS.check(ctx.token)
    email = params.required_text(query, "email")
    role = params.text(query, "role") or "EMPLOYEE"
    user_types = params.string_list(query, "invited_user_type") or ["FB"]
    if any(kind not in INVITED_USER_TYPES for kind in user_types):
        raise errors.enum_error("invited_user_type", INVITED_USER_TYPES)
    tasks = params.string_list(query, "tasks") or []
    if any(task not in ROLES for task in tasks):
        raise errors.enum_error("tasks", ROLES)
    if role not in ROLES:
        raise errors.enum_error("role", ROLES)
    guard(ctx, "invite", restricted_action=True)
    invitation = ctx.state.invite(
        email=email,
        role=role,
        invited_user_type=user_types,
        tasks=tasks,
        now=ctx.now,
        created_by_id=ctx.state.holder_id(ctx.token),
    )
    return {"id": invitation.id}


_PERSON_TEXT = ("email", "first_name", "last_name", "title", "pending_email")


def _update_person(ctx: GraphContext, person_id: str, query: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {key: params.text(query, key) for key in _PERSON_TEXT}
    role = params.text(query, "role")
    if role is not None and role not in ROLES:
        raise errors.enum_error("role", ROLES)
    changes["role"] = role
    if params.flag(query, "clear_pending_email"):
        changes["pending_email"] = ""
    role_changes = role is not None and role != ctx.state.people[person_id].role
    guard(ctx, "update_user", restricted_action=role_changes)
    ctx.state.update_person(person_id, changes)
    return SUCCESS


def _update_business(ctx: GraphContext, query: Mapping[str, Any]) -> dict[str, Any]:
    business = ctx.state.business
    two_factor = params.text(query, "two_factor_type")
    if two_factor is not None and two_factor not in TWO_FACTOR_TYPES:
        raise errors.enum_error("two_factor_type", TWO_FACTOR_TYPES)
    page = params.text(query, "primary_page")
    if page is not None and ctx.state.assets.get(page, None) is None:
        raise errors.bad_parameter(
            f"Param primary_page must be a Page of this business, got {page}"
        )
    timezone = params.text(query, "timezone_id")
    if timezone is not None and not timezone.isdigit():
        raise errors.bad_parameter("Param timezone_id must be an integer")
    business.name = params.text(query, "name") or business.name
    business.vertical = params.text(query, "vertical") or business.vertical
    business.two_factor_type = two_factor or business.two_factor_type
    business.primary_page_id = page or business.primary_page_id
    business.timezone_id = int(timezone) if timezone else business.timezone_id
    return SUCCESS


def _system_user_token(ctx: GraphContext, query: Mapping[str, Any]) -> dict[str, Any]:
    permissions.BUSINESS.check(ctx.token)
    user_id = params.required_text(query, "system_user_id")
    if user_id not in ctx.state.system_users:
        raise errors.bad_parameter(f"Param system_user_id must be a system user, got {user_id}")
    scopes = params.string_list(query, "scope") or []
    unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
    if unknown:
        raise errors.GraphError(f"(#3962) Invalid permission: {', '.join(unknown)}", 3962)
    expires = (
        int(ctx.now) + 60 * 86_400 if params.flag(query, "set_token_expires_in_60_days") else 0
    )
    token = mint_token(ctx.sim._rng)
    ctx.state.tokens[token] = TokenRecord(
        token,
        user_id,
        "SYSTEM_USER",
        ctx.state.app.id,
        ctx.state.business.id,
        scopes,
        int(ctx.now),
        expires,
    )
    return {"access_token": token}


def _check_tasks(asset_type: str, tasks: list[str], name: str) -> None:
    allowed = TASKS[asset_type]
    for index, task in enumerate(tasks):
        if task not in allowed:
            raise errors.enum_error(f"{name}[{index}]", allowed)
    exclusive = EXCLUSIVE_TASKS.get(asset_type)
    if exclusive in tasks and len(set(tasks)) > 1:
        raise errors.GraphError(
            "(#100) This Task Combination Is Not Supported",
            100,
            subcode=1752129,
            user_title="Task combination not supported",
            user_msg=f"{exclusive} can't be combined with other tasks on this asset.",
        )


def _scoped_user(ctx: GraphContext, user_id: str) -> str:
    if not ctx.state.is_business_scoped(user_id):
        raise errors.GraphError(
            "(#100) User is not business-scoped. Use the business-scoped user id from "
            "/{business_id}/business_users or /{business_id}/system_users.",
            100,
            subcode=1752100,
            user_title="User is not business-scoped",
            user_msg="This person isn't part of the business. Use their business-scoped id.",
        )
    return user_id


def _assign(ctx: GraphContext, asset: AssetRecord, query: Mapping[str, Any]) -> dict[str, Any]:
    node_need(asset.type).check(ctx.token)
    permissions.ASSET_NEEDS[asset.type][2].check(ctx.token)
    user = params.required_text(query, "user")
    tasks = params.string_list(query, "tasks")
    if not tasks:
        raise errors.bad_parameter("The parameter tasks is required")
    _check_tasks(asset.type, tasks, "tasks")
    _scoped_user(ctx, user)
    if asset.type == "catalog":
        guard(ctx, "catalog_grant", restricted_action=False)
    ctx.state.set_tasks(asset.id, user, expand_tasks(asset.type, set(tasks)))
    return SUCCESS


def _partner(ctx: GraphContext, query: Mapping[str, Any]) -> str:
    partner_id = params.required_text(query, "business")
    if partner_id not in ctx.state.partners:
        raise errors.bad_parameter(f"Param business must be a partner business, got {partner_id}")
    return partner_id
