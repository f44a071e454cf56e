"""Rendering nodes and edges the way Graph does: requested fields, nested expansion, paging.

A ``NodeView`` names a node type's fields (each a function of the object), its default fields and
its edges. Fields whose value is another node (``business``, ``owner_business``) return
``Related`` and render with their own defaults or the requested sub-fields. Edges render as
``{"data", "paging", "summary"?}`` both at the top level and nested in ``fields``; a nested edge
with no items is left out (observed for ``assigned_users``). Unknown fields fail with code 100, and
``id`` is always included, as Graph does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bastion.connectors.meta.simulator.context import GraphContext
from bastion.connectors.meta.simulator.errors import nonexisting_field
from bastion.connectors.meta.simulator.fields import FieldSpec, format_fields
from bastion.connectors.meta.simulator.limits import edge_limit
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


@dataclass(slots=True)
class NodeView:
    type_name: str
    defaults: tuple[str, ...]
    fields: dict[str, FieldFn]
    edges: dict[str, EdgeDef] = field(default_factory=dict)
    key: Callable[[Any], str] = _object_id


def render_node(
    ctx: GraphContext, view: NodeView, obj: Any, specs: tuple[FieldSpec, ...]
) -> dict[str, Any]:
    chosen = specs or tuple(FieldSpec(name) for name in view.defaults)
    out: dict[str, Any] = {}
    for spec in chosen:
        getter = view.fields.get(spec.name)
        if getter is not None:
            value = getter(ctx, obj)
            if isinstance(value, Related):
                out[spec.name] = render_node(ctx, value.view, value.obj, spec.children or ())
            elif value is not None:
                out[spec.name] = value
            continue
        edge = view.edges.get(spec.name)
        if edge is None:
            raise nonexisting_field(spec.name, view.type_name)
        nested = _nested_edge(ctx, view, obj, spec, edge)
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
) -> dict[str, Any]:
    """One page of an edge, with cursors, ``next``/``previous`` URLs and an optional summary."""
    limit = parse_limit(limit_raw, edge_limit(edge_name))
    page = paginate(items, view.key, limit=limit, after=after, before=before)
    body: dict[str, Any] = {"data": [render_node(ctx, view, item, specs) for item in page.items]}
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
    )
