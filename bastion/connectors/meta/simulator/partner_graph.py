"""What a partner business's token reaches: its own business, and its people on our assets.

A partner (an agency we share assets with) has its own system users and tokens. Such a token
acts for the partner business, so it reads (Meta's schema, facebook-business 25.0.3 adobjects):

- ``GET /me``: its system user (SystemUser);
- ``GET /{partner_id}`` and its ``business_users`` and ``system_users`` edges
  (business.py ``get_business_users``, ``get_system_users``);
- ``GET /{asset_id}/assigned_users?business={partner_id}`` on one of our assets shared with the
  partner: the partner's people holding tasks on it (adaccount.py ``get_assigned_users`` takes
  ``business``, the business whose users are listed; page.py, productcatalog.py, adspixel.py,
  instagrambusinessasset.py the same);
- ``DELETE /{asset_id}/assigned_users?user={id}`` for one of its own people on such an asset
  (adaccount.py ``delete_assigned_users``, ``user`` an int).

UNCONFIRMED (the reference §2.7 says only "presumably ... with a token that can see the partner
business"): which token Meta wants for these reads and the DELETE. The simulator takes the
reading that fails safely: our own token lists nobody for ``business={partner_id}`` (views.py)
and cannot remove a partner's person; a partner token reaches only its own business's people,
and only on assets shared with it. Anything else a partner token asks for is refused like an
object it cannot see (100/33), or, for another business's ``assigned_users``, code 200.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.connectors.meta.schema import load_schema
from bastion.connectors.meta.simulator import errors, params
from bastion.connectors.meta.simulator.context import GraphContext, graph_time
from bastion.connectors.meta.simulator.enums import TASKS, TYPE_NAMES
from bastion.connectors.meta.simulator.fields import parse_fields
from bastion.connectors.meta.simulator.render import (
    NodeView,
    Related,
    check_views,
    render_listing,
    render_node,
    wants_summary,
)
from bastion.connectors.meta.simulator.scenario import PartnerPersonRecord
from bastion.connectors.meta.simulator.views import AssignedHolder

SCHEMA = load_schema()


def _partner_ref(ctx: GraphContext, obj: Any) -> Related:
    return Related(PARTNER_NODE, ctx.state.partners[obj.partner_id])


PARTNER_NODE = NodeView(
    "Business",
    {"id": lambda ctx, p: p.id, "name": lambda ctx, p: p.name},
)
PARTNER_PERSON = NodeView(
    "BusinessUser",
    {
        "id": lambda ctx, p: p.id,
        "name": lambda ctx, p: p.name,
        "business": _partner_ref,
        "email": lambda ctx, p: p.email,
        "first_name": lambda ctx, p: p.name.partition(" ")[0],
        "last_name": lambda ctx, p: p.name.partition(" ")[2],
        "role": lambda ctx, p: p.role,
    },
)
PARTNER_SYSTEM_USER = NodeView(
    "SystemUser",
    {
        "id": lambda ctx, s: s.id,
        "name": lambda ctx, s: s.name,
        "role": lambda ctx, s: s.role,
        "created_time": lambda ctx, s: graph_time(s.created_time),
    },
)
PARTNER_ME_USER = NodeView("User", {"id": lambda ctx, p: p.id, "name": lambda ctx, p: p.name})
PARTNER_ASSIGNED_USER = NodeView(
    "AssignedUser",
    {
        "id": lambda ctx, h: h.id,
        "name": lambda ctx, h: ctx.state.partner_people[h.id].name,
        "user_type": lambda ctx, h: "BUSINESS_USER",
        "business": lambda ctx, h: _partner_ref(ctx, ctx.state.partner_people[h.id]),
        "tasks": lambda ctx, h: list(h.tasks),
        "permitted_tasks": lambda ctx, h: list(TASKS[h.asset_type]),
    },
)
check_views(
    SCHEMA,
    [PARTNER_NODE, PARTNER_PERSON, PARTNER_SYSTEM_USER, PARTNER_ME_USER, PARTNER_ASSIGNED_USER],
)


def is_partner_token(ctx: GraphContext) -> bool:
    return ctx.token.business_id != ctx.state.business.id


def dispatch_as_partner(
    ctx: GraphContext, method: str, segments: list[str], query: Mapping[str, Any]
) -> Any:
    partner_id = ctx.token.business_id
    if partner_id not in ctx.state.partners:
        raise errors.invalid_token()  # the partnership, and the business behind it, is gone
    head, edge = segments[0], (segments[1] if len(segments) == 2 else None)
    if head == "me" and edge is None and method == "GET":
        user = ctx.state.partner_system_users.get(ctx.token.user_id)
        if user is not None:
            return _node(ctx, PARTNER_SYSTEM_USER, user, query)
        person = ctx.state.partner_people.get(ctx.token.user_id)
        if person is None:
            raise errors.unknown_object(head)
        # A person's token: /me is their User node (here the id their business knows them by).
        return _node(ctx, PARTNER_ME_USER, person, query)
    if head == partner_id and method == "GET":
        partner = ctx.state.partners[partner_id]
        if edge is None:
            return _node(ctx, PARTNER_NODE, partner, query)
        if edge == "business_users":
            people = [p for p in ctx.state.partner_people.values() if p.partner_id == partner_id]
            return _listing(ctx, PARTNER_NODE, PARTNER_PERSON, people, head, edge, query)
        if edge == "system_users":
            users = [
                s for s in ctx.state.partner_system_users.values() if s.partner_id == partner_id
            ]
            return _listing(ctx, PARTNER_NODE, PARTNER_SYSTEM_USER, users, head, edge, query)
    asset = ctx.state.assets.get(head)
    shared = asset is not None and partner_id in ctx.state.partner_access.get(head, {})
    if asset is not None and shared and edge == "assigned_users":
        _check_schema(head, TYPE_NAMES[asset.type], method, edge, query)
        if method == "GET":
            business = params.required_text(query, "business")
            if business != partner_id:
                raise errors.GraphError("(#200) Permissions error", 200)
            holders = ctx.state.partner_holders(asset.id, partner_id)
            items = [AssignedHolder(uid, tasks, asset.type) for uid, tasks in holders.items()]
            view = NodeView(TYPE_NAMES[asset.type], {})
            return _listing(ctx, view, PARTNER_ASSIGNED_USER, items, head, edge, query)
        if method == "DELETE":
            user_id = params.required_text(query, "user")
            person = ctx.state.partner_people.get(user_id)
            if not _own_person(person, partner_id):
                raise errors.GraphError("(#200) Permissions error", 200)
            ctx.state.partner_asset_users.get(asset.id, {}).pop(user_id, None)
            return {"success": True}
    raise errors.unknown_object(head, method.lower())


def _own_person(person: PartnerPersonRecord | None, partner_id: str) -> bool:
    return person is not None and person.partner_id == partner_id


def _check_schema(
    node_id: str, type_name: str, method: str, edge: str | None, query: Mapping[str, Any]
) -> None:
    fields = parse_fields(params.text(query, "fields") or "") if method == "GET" else ()
    found = SCHEMA.violations(type_name, method, edge=edge, params=query, fields=fields)
    if found:
        raise errors.schema_refusal(found[0], node_id)


def _node(ctx: GraphContext, view: NodeView, obj: Any, query: Mapping[str, Any]) -> Any:
    _check_schema(str(obj.id), view.type_name, "GET", None, query)
    return render_node(ctx, view, obj, parse_fields(params.text(query, "fields") or ""))


def _listing(
    ctx: GraphContext,
    parent: NodeView,
    view: NodeView,
    items: list[Any],
    node_id: str,
    edge: str,
    query: Mapping[str, Any],
) -> Any:
    _check_schema(node_id, parent.type_name, "GET", edge, query)
    return render_listing(
        ctx,
        items=items,
        view=view,
        specs=parse_fields(params.text(query, "fields") or ""),
        edge_name=edge,
        url_path=f"{node_id}/{edge}",
        url_params=query,
        limit_raw=query.get("limit"),
        after=params.text(query, "after"),
        before=params.text(query, "before"),
        summary=wants_summary(query.get("summary")),
        parent_type=parent.type_name,
    )
