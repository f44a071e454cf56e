"""Rendering nodes and edges the way Graph does: requested fields, nested expansion, paging.

A ``NodeView`` gives, for one of Meta's node types, the value of each field it can compute and
the edges it holds items for. Which fields exist and which are default come from Meta's schema:
a field the schema has but the view cannot compute is left out (Graph omits unset fields), an
edge the schema has but the simulator does not model reads as empty. Fields whose value is
another node (``business``, ``owner_business``) return ``Related`` and render with their own
defaults or the requested sub-fields. Edges render as ``{"data", "paging", "summary"?}`` both at
the top level and nested in ``fields``; a nested edge with no items is left out (observed for
``assigned_users``). ``id`` is always included, as Graph does. Requests are checked against the
schema before anything renders (``graph_routes``), so rendering never meets an unknown field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bastion.connectors.meta.schema import GraphSchema, load_schema
from bastion.connectors.meta.simulator.context import GraphContext
from bastion.connectors.meta.simulator.errors import nonexisting_field
from bastion.connectors.meta.simulator.fields import FieldSpec, format_fields
from bastion.connectors.meta.simulator.paging import paginate, parse_limit
from bastion.connectors.meta.simulator.permissions import Need

FieldFn = Callable[[GraphContext, Any], Any]
ItemsFn = Callable[[GraphContext, Any, Mapping[str, Any]], Sequence[Any]]


def _object_id(obj: Any) -> str:
    return str(obj.id)


@dataclass(frozen=True, slots=True)
class Related:
    view: NodeView
    obj: Any


@dataclass(slots=True)
class EdgeDef:
    items: ItemsFn
    view: NodeView
    need: Need | None = None
    need_for: Callable[[Any], Need] | None = None

    def check(self, ctx: GraphContext, parent: Any) -> None:
        if self.need is not None:
            self.need.check(ctx.token)
        if self.need_for is not None:
            self.need_for(parent).check(ctx.token)


SCHEMA = load_schema()
Via = tuple[str, str] | None  # (parent node type, edge) when a node is an edge's item


@dataclass(slots=True)
class NodeView:
    """How the simulator computes the fields of one of Meta's node types."""

    type_name: str
    fields: dict[str, FieldFn]
    edges: dict[str, EdgeDef] = field(default_factory=dict)
    key: Callable[[Any], str] = _object_id


def check_views(schema: GraphSchema, views: Sequence[NodeView]) -> None:
    """Refuse, at import, a view computing a field or holding an edge Meta's type lacks."""
    for view in views:
        node = schema.node(view.type_name)
        allowed = set(node.fields)
        for (parent, edge), extra in schema.edge_fields.items():
            if schema.get_target(parent, edge) == view.type_name:
                allowed |= set(extra)
        unknown = sorted(set(view.fields) - allowed)
        edges = sorted(name for name in view.edges if "GET" not in node.edges.get(name, {}))
        if unknown or edges:
            raise RuntimeError(
                f"The simulator's {view.type_name} serves what Meta's schema lacks: "
                f"fields {unknown}, edges {edges}"
            )


def render_node(
    ctx: GraphContext,
    view: NodeView,
    obj: Any,
    specs: tuple[FieldSpec, ...],
    via: Via = None,
) -> dict[str, Any]:
    node = SCHEMA.node(view.type_name)
    if via is not None:
        known = SCHEMA.item_fields(via[0], via[1], view.type_name)
        defaults = SCHEMA.item_defaults(via[0], via[1], view.type_name)
    else:
        known, defaults = dict(node.fields), node.defaults
    chosen = specs or tuple(FieldSpec(name) for name in defaults)
    out: dict[str, Any] = {}
    for spec in chosen:
        if spec.name in known:
            getter = view.fields.get(spec.name)
            value = getter(ctx, obj) if getter is not None else None
            if isinstance(value, Related):
                out[spec.name] = render_node(ctx, value.view, value.obj, spec.children or ())
            elif value is not None:
                out[spec.name] = value
            continue
        if "GET" not in node.edges.get(spec.name, {}):
            raise nonexisting_field(spec.name, view.type_name)
        edge = view.edges.get(spec.name)
        nested = _nested_edge(ctx, view, obj, spec, edge) if edge is not None else None
        if nested is not None:
            out[spec.name] = nested
    if "id" not in out and "id" in view.fields:
        out["id"] = view.fields["id"](ctx, obj)
    return out


def wants_summary(value: object) -> bool:
    text = str(value or "").lower()
    return "total_count" in text or text in ("true", "1")


def render_listing(
    ctx: GraphContext,
    *,
    items: Sequence[Any],
    view: NodeView,
    specs: tuple[FieldSpec, ...],
    edge_name: str,
    url_path: str,
    url_params: Mapping[str, Any],
    limit_raw: object,
    after: str | None,
    before: str | None,
    summary: bool,
    parent_type: str,
) -> dict[str, Any]:
    """One page of an edge, with cursors, ``next``/``previous`` URLs and an optional summary."""
    limit = parse_limit(limit_raw, ctx.state.settings.max_page_size)
    page = paginate(items, view.key, limit=limit, after=after, before=before)
    via = (parent_type, edge_name)
    body: dict[str, Any] = {
        "data": [render_node(ctx, view, item, specs, via) for item in page.items]
    }
    if page.items:
        paging: dict[str, Any] = {"cursors": {"before": page.before, "after": page.after}}
        base = {key: value for key, value in url_params.items() if key not in ("after", "before")}
        base["limit"] = limit
        url = f"{ctx.base_url}/{ctx.version}/{url_path}?"
        if page.has_previous:
            paging["previous"] = url + urlencode({**base, "before": page.before})
        if page.has_next:
            paging["next"] = url + urlencode({**base, "after": page.after})
        body["paging"] = paging
    if summary:
        body["summary"] = {"total_count": len(items)}
    return body


def _nested_edge(
    ctx: GraphContext, view: NodeView, parent: Any, spec: FieldSpec, edge: EdgeDef
) -> dict[str, Any] | None:
    edge.check(ctx, parent)
    items = edge.items(ctx, parent, spec.modifiers)
    summary = wants_summary(spec.modifiers.get("summary"))
    if not items and not summary:
        return None
    url_params: dict[str, Any] = {
        key: value for key, value in spec.modifiers.items() if key not in ("limit", "summary")
    }
    if spec.children:
        url_params["fields"] = format_fields(spec.children)
    if ctx.token_in_params:
        url_params["access_token"] = ctx.token.token
    return render_listing(
        ctx,
        items=items,
        view=edge.view,
        specs=spec.children or (),
        edge_name=spec.name,
        url_path=f"{view.key(parent)}/{spec.name}",
        url_params=url_params,
        limit_raw=spec.modifiers.get("limit"),
        after=None,
        before=None,
        summary=summary,
        parent_type=view.type_name,
    )
