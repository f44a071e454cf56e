"""Bastion's Graph schema is Meta's: generated from the pinned SDK, and the hand-kept table cites
Meta's pages for every line."""

from __future__ import annotations

import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from bastion.connectors.meta.client import DEFAULT_API_VERSION
from bastion.connectors.meta.schema import load_schema
from bastion.connectors.meta.schema.edge_fields import EDGE_FIELDS, NODE_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_graph_schema", ROOT / "scripts" / "generate_graph_schema.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_schema_is_what_the_pinned_sdk_generates() -> None:
    generator = _generator()
    committed = generator.OUTPUT.read_text(encoding="utf-8")
    assert committed == generator.render(generator.generate()), (
        "graph_schema.json differs from what the installed facebook-business generates: "
        "run make graph-schema"
    )


def test_schema_matches_the_graph_version_bastion_pins() -> None:
    schema = load_schema()
    assert schema.graph_version == DEFAULT_API_VERSION
    assert schema.sdk_version == metadata.version("facebook-business")


def test_every_hand_kept_line_names_a_real_edge_and_cites_a_page() -> None:
    schema = load_schema()
    for line in EDGE_FIELDS:
        assert line.source, line
        assert "GET" in schema.node(line.node).edges[line.edge], line
        target = schema.get_target(line.node, line.edge)
        assert target is not None
        # A field the SDK already lists belongs here only to say the edge returns it by default.
        assert line.default or line.field not in schema.node(target).fields, (
            f"{line.node}/{line.edge} {line.field}: the SDK already lists it; drop the line"
        )
    for name, (defaults, source) in NODE_DEFAULTS.items():
        assert source
        assert set(defaults) <= set(schema.node(name).fields), name


@pytest.mark.parametrize(
    ("node", "fields", "expected"),
    [
        ("InstagramBusinessAsset", "id,name", ["field 'name' on InstagramBusinessAsset"]),
        ("Business", "id,owned_instagram_assets{id,ig_username}", []),
        (
            "Business",
            "owned_instagram_assets.limit(5){id,owner_business{id}}",
            ["field 'owner_business' on InstagramBusinessAsset/owned_instagram_assets"],
        ),
        (
            "Business",
            "business_users{id,role,created_time}",
            ["field 'created_time' on BusinessUser/business_users"],
        ),
        ("Business", "owned_pages{assigned_users.business(1).limit(5){id,tasks}}", []),
        # A node type the schema does not carry (IGUser) is not checked inside; a plain value has
        # no sub-fields.
        ("Page", "id,instagram_business_account{id,username}", []),
        ("Page", "id,name{first}", ["field 'name' on Page"]),
        ("SystemUser", "role{x}", ["field 'role' on SystemUser"]),
        (
            "Business",
            "owned_pages{assigned_users.bogus(1){id}}",
            ["modifier .bogus() on Page/assigned_users"],
        ),
    ],
)
def test_violations_name_what_meta_lacks(node: str, fields: str, expected: list[str]) -> None:
    from bastion.connectors.meta.simulator.fields import parse_fields

    found = load_schema().field_violations(node, parse_fields(fields))
    assert [str(v) for v in found] == expected


def test_methods_and_parameters_come_from_the_schema() -> None:
    schema = load_schema()
    assert [str(v) for v in schema.violations("AdsPixel", "DELETE", edge="assigned_users")] == [
        "DELETE on AdsPixel/assigned_users"
    ]
    assert schema.violations("Page", "DELETE", edge="assigned_users", params={"user": "1"}) == []
    found = schema.violations(
        "Page", "POST", edge="assigned_users", params={"user": "1", "tasks": "[]", "business": "2"}
    )
    assert [str(v) for v in found] == ["parameter 'business' of POST Page/assigned_users"]
