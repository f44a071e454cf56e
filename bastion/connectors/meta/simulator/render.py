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
from functools import cache
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
    return _NodePlan(view, specs, via).render(ctx, obj)


@cache
def _known_fields(type_name: str, via: Via) -> tuple[Mapping[str, str], tuple[str, ...]]:
    """The fields a node may have and its default ones: its type's, or an edge's items'."""
    if via is None:
        node = SCHEMA.node(type_name)
        return node.fields, node.defaults
    return (
        SCHEMA.item_fields(via[0], via[1], type_name),
        SCHEMA.item_defaults(via[0], via[1], type_name),
    )


_FIELD, _EDGE, _MISSING = 0, 1, 2
_Step = tuple[int, str, Any, Any]


class _NodePlan:
    """What to compute for every node of one kind in one request: the schema look-ups, the
    default fields and the nested edges' constant parts are worked out once, on the first node
    rendered, instead of once per node (a listing of 500 assets renders tens of thousands)."""

    __slots__ = ("_id", "_specs", "_steps", "_via", "view")

    def __init__(self, view: NodeView, specs: tuple[FieldSpec, ...], via: Via) -> None:
        self.view = view
        self._specs = specs
        self._via = via
        self._steps: tuple[_Step, ...] | None = None
        self._id: FieldFn | None = None

    def _compile(self) -> tuple[_Step, ...]:
        view = self.view
        node = SCHEMA.node(view.type_name)
        known, defaults = _known_fields(view.type_name, self._via)
        steps: list[_Step] = []
        for spec in self._specs or tuple(FieldSpec(name) for name in defaults):
            if spec.name in known:
                getter = view.fields.get(spec.name)
                if getter is not None:  # else Meta has the field, the simulator no value
                    steps.append((_FIELD, spec.name, getter, _RelatedPlans(spec.children or ())))
                continue
            if "GET" not in node.edges.get(spec.name, {}):
                # Raised when a node renders, as Meta does: an empty listing raises nothing.
                steps.append((_MISSING, spec.name, view.type_name, None))
                continue
            edge = view.edges.get(spec.name)
            if edge is not None:
                steps.append((_EDGE, spec.name, _EdgePlan(view, spec, edge), None))
        self._id = view.fields.get("id")
        self._steps = tuple(steps)
        return self._steps

    def render(self, ctx: GraphContext, obj: Any) -> dict[str, Any]:
        steps = self._steps if self._steps is not None else self._compile()
        out: dict[str, Any] = {}
        for kind, name, how, related in steps:
            if kind == _FIELD:
                value = how(ctx, obj)
                if isinstance(value, Related):
                    out[name] = related.of(value.view).render(ctx, value.obj)
                elif value is not None:
                    out[name] = value
            elif kind == _EDGE:
                nested = how.render(ctx, obj)
                if nested is not None:
                    out[name] = nested
            else:
                raise nonexisting_field(name, how)
        if "id" not in out and self._id is not None:
            out["id"] = self._id(ctx, obj)
        return out


class _RelatedPlans:
    """The plans for a field whose value is another node, one per view it turns out to have."""

    __slots__ = ("_plans", "_specs")

    def __init__(self, specs: tuple[FieldSpec, ...]) -> None:
        self._specs = specs
        self._plans: dict[int, _NodePlan] = {}

    def of(self, view: NodeView) -> _NodePlan:
        plan = self._plans.get(id(view))
        if plan is None:
            plan = self._plans[id(view)] = _NodePlan(view, self._specs, None)
        return plan


class _EdgePlan:
    """An edge expanded inside ``fields``, rendered for every parent node of a listing."""

    __slots__ = ("_edge", "_items", "_limit", "_name", "_params", "_parent", "_spec", "_summary")

    def __init__(self, parent: NodeView, spec: FieldSpec, edge: EdgeDef) -> None:
        self._parent = parent
        self._spec = spec
        self._edge = edge
        self._name = spec.name
        self._summary = wants_summary(spec.modifiers.get("summary"))
        params: dict[str, Any] = {
            key: value for key, value in spec.modifiers.items() if key not in ("limit", "summary")
        }
        if spec.children:
            params["fields"] = format_fields(spec.children)
        self._params = params
        self._limit = spec.modifiers.get("limit")
        self._items = _NodePlan(edge.view, spec.children or (), (parent.type_name, spec.name))

    def render(self, ctx: GraphContext, parent: Any) -> dict[str, Any] | None:
        edge = self._edge
        edge.check(ctx, parent)
        items = edge.items(ctx, parent, self._spec.modifiers)
        if not items and not self._summary:
            return None
        url_params = self._params
        if ctx.token_in_params:
            url_params = {**url_params, "access_token": ctx.token.token}
        return _listing(
            ctx,
            self._items,
            items=items,
            url_path=f"{self._parent.key(parent)}/{self._name}",
            url_params=url_params,
            limit_raw=self._limit,
            after=None,
            before=None,
            summary=self._summary,
        )


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
    return _listing(
        ctx,
        _NodePlan(view, specs, (parent_type, edge_name)),
        items=items,
        url_path=url_path,
        url_params=url_params,
        limit_raw=limit_raw,
        after=after,
        before=before,
        summary=summary,
    )


def _listing(
    ctx: GraphContext,
    plan: _NodePlan,
    *,
    items: Sequence[Any],
    url_path: str,
    url_params: Mapping[str, Any],
    limit_raw: object,
    after: str | None,
    before: str | None,
    summary: bool,
) -> dict[str, Any]:
    limit = parse_limit(limit_raw, ctx.state.settings.max_page_size)
    page = paginate(items, plan.view.key, limit=limit, after=after, before=before)
    render = plan.render
    body: dict[str, Any] = {"data": [render(ctx, item) for item in page.items]}
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
