"""The ``fields`` mini-language and cursor paging, on their own."""

from __future__ import annotations

import pytest
from simulator_support import Graph

from bastion.connectors.meta.simulator import Simulator
from bastion.connectors.meta.simulator.errors import GraphError
from bastion.connectors.meta.simulator.fields import format_fields, parse_fields
from bastion.connectors.meta.simulator.paging import paginate


def test_fields_parse_nested_modifiers_and_round_trip() -> None:
    text = "id,name,assigned_users.business(123).limit(5){id,tasks},owner_business{id}"
    specs = parse_fields(text)
    assert [s.name for s in specs] == ["id", "name", "assigned_users", "owner_business"]
    assert specs[2].modifiers == {"business": "123", "limit": "5"}
    assert format_fields(specs) == text
    assert parse_fields(" id , name ,") == parse_fields("id,name")


@pytest.mark.parametrize("text", ["id,{name", "id}", "a.limit(5", "a{b"])
def test_fields_syntax_errors(text: str) -> None:
    with pytest.raises(GraphError) as raised:
        parse_fields(text)
    assert raised.value.code == 2500


def test_paging_survives_an_insert_before_the_cursor() -> None:
    items = [str(n) for n in range(10)]
    first = paginate(items, str, limit=4)
    assert first.after is not None
    second = paginate(["new", *items], str, limit=4, after=first.after)
    assert list(second.items) == ["4", "5", "6", "7"]


def test_nested_summary_and_zero_limit(graph: Graph, sim: Simulator) -> None:
    asset_id = next(iter(sim.state.asset_users))
    body = graph.get(
        asset_id,
        fields=f"assigned_users.business({sim.business_id}).summary(total_count).limit(1){{id}}",
    ).json()
    assert body["assigned_users"]["summary"]["total_count"] == len(sim.state.asset_users[asset_id])
    empty = graph.get(f"{sim.business_id}/business_users", limit=0, summary="true").json()
    assert empty["data"] == [] and empty["summary"]["total_count"] == 40
