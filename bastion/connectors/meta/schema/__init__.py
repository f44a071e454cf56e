"""Meta's Graph schema, as Meta's own SDK publishes it, and the checks made against it.

``graph_schema.json`` is generated from the ``facebook-business`` SDK's ``adobjects`` by
``scripts/generate_graph_schema.py`` (``make graph-schema``) and committed; a test fails when it
differs from what the pinned SDK generates. ``edge_fields.py`` holds the few documented facts the
SDK's node lists do not carry (fields an edge adds, default fields), each citing Meta's page.

Two users: the simulator serves exactly this schema (a field, edge, method or parameter it lacks
is refused the way Meta refuses it), and a connector test checks every request Bastion sends
against it. ``violations`` is the one check both use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal, Protocol

from bastion.connectors.meta.schema.edge_fields import (
    EDGE_FIELDS,
    GLOBAL_PARAMS,
    NODE_DEFAULTS,
    ROOT_PATHS,
)

Method = Literal["GET", "POST", "DELETE"]
ViolationKind = Literal["node", "field", "edge", "method", "param", "modifier"]


@dataclass(frozen=True)
class MethodSpec:
    """One HTTP method on a node or an edge: its parameters and the node type it returns."""

    params: Mapping[str, str]
    target: str | None = None


@dataclass(frozen=True)
class NodeType:
    name: str
    fields: Mapping[str, str]
    methods: Mapping[str, MethodSpec]
    edges: Mapping[str, Mapping[str, MethodSpec]]
    enums: Mapping[str, tuple[str, ...]]
    defaults: tuple[str, ...]

    def enum(self, type_name: str) -> tuple[str, ...] | None:
        """The values of an enum type (``list<AdsPixel.Tasks>`` or ``AdsPixel.Tasks``)."""
        inner = type_name.removeprefix("list<").removesuffix(">")
        return self.enums.get(inner)


@dataclass(frozen=True)
class Violation:
    """One thing a request asks for that Meta's schema lacks."""

    kind: ViolationKind
    node_type: str
    name: str
    method: str = "GET"
    edge: str | None = None

    def __str__(self) -> str:
        where = f"{self.node_type}/{self.edge}" if self.edge else self.node_type
        labels = {
            "node": f"unknown node type {self.node_type}",
            "field": f"field {self.name!r} on {where}",
            "edge": f"edge {self.name!r} on {self.node_type}",
            "method": f"{self.method} on {where}",
            "param": f"parameter {self.name!r} of {self.method} {where}",
            "modifier": f"modifier .{self.name}() on {where}",
        }
        return labels[self.kind]


class FieldTree(Protocol):
    """A parsed ``fields`` item: ``name.modifier(arg){children}``."""

    @property
    def name(self) -> str: ...
    @property
    def modifiers(self) -> Mapping[str, str]: ...
    @property
    def children(self) -> Sequence[FieldTree] | None: ...


@dataclass(frozen=True)
class GraphSchema:
    sdk_version: str
    graph_version: str
    nodes: Mapping[str, NodeType]
    edge_fields: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    edge_defaults: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def node(self, name: str) -> NodeType:
        found = self.nodes.get(name)
        if found is None:
            raise KeyError(f"Node type {name} is not in the Graph schema")
        return found

    def item_fields(self, parent: str, edge: str, target: str) -> dict[str, str]:
        """Fields of the nodes an edge returns: the target type's own, plus what the edge adds."""
        own = dict(self.nodes[target].fields) if target in self.nodes else {}
        return own | dict(self.edge_fields.get((parent, edge), {}))

    def item_defaults(self, parent: str, edge: str, target: str) -> tuple[str, ...]:
        base = self.nodes[target].defaults if target in self.nodes else ("id",)
        extra = self.edge_defaults.get((parent, edge), ())
        return base + tuple(name for name in extra if name not in base)

    def get_target(self, node_type: str, edge: str) -> str | None:
        spec = self.nodes[node_type].edges.get(edge, {}).get("GET")
        return spec.target if spec else None

    # --- checks ---------------------------------------------------------------------------------

    def violations(
        self,
        node_type: str,
        method: str,
        *,
        edge: str | None = None,
        params: Mapping[str, object] = {},
        fields: Sequence[FieldTree] = (),
    ) -> list[Violation]:
        """Everything in one request on a node (or on one of its edges) that Meta lacks."""
        node = self.nodes.get(node_type)
        if node is None:
            return [Violation("node", node_type, node_type, method)]
        if edge is None:
            spec = node.methods.get(method)
            if spec is None:
                return [Violation("method", node_type, "", method)]
            found = self._param_violations(node_type, method, None, spec, params)
            if method == "GET":
                found += self.field_violations(node_type, fields)
            return found
        methods = node.edges.get(edge)
        if methods is None:
            return [Violation("edge", node_type, edge, method)]
        spec = methods.get(method)
        if spec is None:
            return [Violation("method", node_type, "", method, edge)]
        found = self._param_violations(node_type, method, edge, spec, params)
        if method == "GET" and spec.target is not None:
            found += self._item_violations(node_type, edge, spec.target, fields)
        return found

    def field_violations(self, node_type: str, fields: Sequence[FieldTree]) -> list[Violation]:
        """The fields of one node read (``GET /{id}?fields=…``), expansions included."""
        node = self.nodes.get(node_type)
        if node is None:
            return [Violation("node", node_type, node_type)]
        return self._tree_violations(node_type, dict(node.fields), None, fields)

    def _item_violations(
        self, parent: str, edge: str, target: str, fields: Sequence[FieldTree]
    ) -> list[Violation]:
        if target not in self.nodes:
            return []  # a type Bastion never renders: nothing to check inside it
        return self._tree_violations(
            target, self.item_fields(parent, edge, target), (parent, edge), fields
        )

    def _tree_violations(
        self,
        node_type: str,
        known: Mapping[str, str],
        via: tuple[str, str] | None,
        fields: Sequence[FieldTree],
    ) -> list[Violation]:
        found: list[Violation] = []
        node = self.nodes[node_type]
        where = via[1] if via else None
        owner = via[0] if via else node_type
        for spec in fields:
            if spec.name in known:
                type_name = known[spec.name]
                for modifier in spec.modifiers:
                    found.append(Violation("modifier", owner, modifier, edge=where))
                if spec.children is not None:
                    if type_name in self.nodes:
                        found += self.field_violations(type_name, spec.children)
                    elif _is_plain_value(type_name, node):
                        # Sub-fields of a string, number, date or enum: Meta has none.
                        found.append(Violation("field", node_type, spec.name, edge=where))
                    # Else a node type Bastion's schema does not carry: nothing to check.
                continue
            edge = node.edges.get(spec.name)
            get = edge.get("GET") if edge else None
            if get is None:
                found.append(Violation("field", node_type, spec.name, edge=where))
                continue
            for modifier, _ in spec.modifiers.items():
                if modifier not in GLOBAL_PARAMS and modifier not in get.params:
                    found.append(Violation("modifier", node_type, modifier, edge=spec.name))
            if spec.children is not None and get.target is not None:
                found += self._item_violations(node_type, spec.name, get.target, spec.children)
        return found

    def _param_violations(
        self,
        node_type: str,
        method: str,
        edge: str | None,
        spec: MethodSpec,
        params: Mapping[str, object],
    ) -> list[Violation]:
        return [
            Violation("param", node_type, name, method, edge)
            for name in params
            if name not in GLOBAL_PARAMS and name not in spec.params
        ]

    def root_violations(
        self, method: str, path: str, params: Mapping[str, object]
    ) -> list[Violation]:
        """A root operation (``/debug_token``, the batch ``POST /``)."""
        known = ROOT_PATHS.get((method, path))
        if known is None:
            return [Violation("edge", "root", path, method)]
        return [
            Violation("param", "root", name, method, path)
            for name in params
            if name not in GLOBAL_PARAMS and name not in known[0]
        ]


_PLAIN_TYPES = frozenset(
    {"string", "int", "unsigned int", "int32", "float", "bool", "datetime", "numeric string"}
)


def _is_plain_value(type_name: str, node: NodeType) -> bool:
    inner = type_name.removeprefix("list<").removesuffix(">")
    return inner in _PLAIN_TYPES or node.enum(inner) is not None


def _method_spec(raw: Mapping[str, object]) -> MethodSpec:
    params = raw.get("params")
    target = raw.get("target")
    return MethodSpec(
        params=dict(params) if isinstance(params, dict) else {},
        target=str(target) if isinstance(target, str) else None,
    )


def _defaults(name: str, fields: Mapping[str, str]) -> tuple[str, ...]:
    if name in NODE_DEFAULTS:
        return NODE_DEFAULTS[name][0]
    return ("id", "name") if "name" in fields else ("id",)


@cache
def load_schema() -> GraphSchema:
    """The committed schema with the hand-kept table folded in (read once per process)."""
    text = resources.files(__package__).joinpath("graph_schema.json").read_text(encoding="utf-8")
    raw = json.loads(text)
    nodes: dict[str, NodeType] = {}
    for name, node in raw["nodes"].items():
        fields = dict(node["fields"])
        nodes[name] = NodeType(
            name=name,
            fields=fields,
            methods={m: _method_spec(spec) for m, spec in node["methods"].items()},
            edges={
                edge: {m: _method_spec(spec) for m, spec in methods.items()}
                for edge, methods in node["edges"].items()
            },
            enums={key: tuple(values) for key, values in node["enums"].items()},
            defaults=_defaults(name, fields),
        )
    edge_fields: dict[tuple[str, str], dict[str, str]] = {}
    edge_defaults: dict[tuple[str, str], tuple[str, ...]] = {}
    for line in EDGE_FIELDS:
        edge_fields.setdefault((line.node, line.edge), {})[line.field] = line.type
        if line.default:
            key = (line.node, line.edge)
            edge_defaults[key] = (*edge_defaults.get(key, ()), line.field)
    return GraphSchema(
        sdk_version=str(raw["sdk_version"]),
        graph_version=str(raw["graph_version"]),
        nodes=nodes,
        edge_fields=edge_fields,
        edge_defaults=edge_defaults,
    )


__all__ = ["GraphSchema", "MethodSpec", "NodeType", "Violation", "load_schema"]
