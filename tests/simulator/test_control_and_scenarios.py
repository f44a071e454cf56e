"""The /_sim/ control API, the generator, scenario files and the directory export."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
from simulator_support import Graph
from typer.testing import CliRunner

from bastion.connectors.meta.simulator import (
    Simulator,
    generate_scenario,
    load_scenario,
)
from bastion.connectors.meta.simulator.cli import simulate_app
from bastion.connectors.meta.simulator.scenario import Scenario


def test_info_reset_and_state(graph: Graph, sim: Simulator) -> None:
    info = graph.client.get("/_sim/info").json()
    assert info["business_id"] == sim.business_id
    assert info["token"].startswith("EAA")
    graph.post(f"{sim.business_id}/business_users", email="temp@example.com")
    state = graph.client.get("/_sim/state").json()
    assert any(i["email"] == "temp@example.com" for i in state["invitations"])
    assert set(state["assets"]) == {
        "pages",
        "ad_accounts",
        "product_catalogs",
        "pixels",
        "instagram_assets",
    }
    assert graph.client.post("/_sim/reset").json() == {"success": True}
    state = graph.client.get("/_sim/state").json()
    assert not any(i["email"] == "temp@example.com" for i in state["invitations"])


def test_load_scenario_by_preset_and_by_file(graph: Graph, sim: Simulator) -> None:
    loaded = graph.client.post("/_sim/scenario", json={"preset": "small", "seed": 7}).json()
    assert loaded["business_id"] == sim.business_id != generate_scenario(seed=42).business.id
    snapshot = graph.client.get("/_sim/scenario").json()
    reloaded = graph.client.post("/_sim/scenario", json=snapshot).json()
    assert reloaded["business_id"] == loaded["business_id"]
    assert graph.client.post("/_sim/scenario", json={"preset": "huge"}).status_code == 400


def test_clock_latency_settings_and_tokens(graph: Graph, sim: Simulator) -> None:
    start = graph.client.get("/_sim/clock").json()["now"]
    after = graph.client.post("/_sim/clock/advance", json={"days": 2}).json()["now"]
    assert after - start >= 2 * 86_400
    assert graph.client.post("/_sim/latency", json={"ms": 1}).status_code == 200
    assert sim.latency_ms == 1
    assert graph.client.post("/_sim/settings", json={"rate_window_seconds": 60}).status_code == 200
    assert graph.client.post("/_sim/settings", json={"nonsense": 1}).status_code == 400
    token = graph.client.post(
        "/_sim/tokens", json={"scopes": ["business_management"], "user_type": "USER"}
    ).json()
    assert graph.get("me/permissions", token=token["token"]).json()["data"] == [
        {"permission": "business_management", "status": "granted"}
    ]


def test_faults_endpoint(graph: Graph, sim: Simulator) -> None:
    response = graph.client.post("/_sim/faults", json={"kind": "http_500", "count": 1})
    assert response.json()["faults"][0]["remaining"] == 1
    assert graph.get(sim.business_id).status_code == 500
    assert graph.client.get("/_sim/faults").json() == {"faults": []}
    assert graph.client.post("/_sim/faults", json={"kind": "meteor"}).status_code == 400
    graph.client.post("/_sim/faults", json={"kind": "http_500"})
    graph.client.delete("/_sim/faults")
    assert graph.get(sim.business_id).status_code == 200


def test_out_of_band_changes(graph: Graph, sim: Simulator) -> None:
    def oob(change: str, **body: object) -> dict[str, object]:
        response = graph.client.post(f"/_sim/oob/{change}", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result

    person = str(
        oob("add_person", name="Hand Made", email="hand@example.com", role="EMPLOYEE")["id"]
    )
    assert graph.get(person, fields="email").json()["email"] == "hand@example.com"
    oob("set_role", user_id=person, role="ADMIN")
    asset = str(oob("add_asset", asset_type="ad_account", name="Manual account")["id"])
    assert asset.startswith("act_")
    tasks = oob("grant_tasks", asset_id=asset, user_id=person, tasks=["ADVERTISE"])["tasks"]
    assert tasks == ["DRAFT", "ANALYZE", "ADVERTISE"]
    assert graph.get(f"{person}/assigned_ad_accounts").json()["data"][0]["id"] == asset
    oob("revoke_tasks", asset_id=asset, user_id=person)
    assert graph.get(f"{person}/assigned_ad_accounts").json()["data"] == []
    partner = str(oob("add_partner", name="New Agency", relation="agency")["id"])
    assert partner in {a["id"] for a in graph.get(f"{sim.business_id}/agencies").json()["data"]}
    oob("remove_asset", asset_id=asset)
    oob("remove_person", user_id=person)
    assert graph.client.post("/_sim/oob/remove_person", json={"user_id": "1"}).status_code == 404
    assert graph.client.post("/_sim/oob/teleport", json={}).status_code == 404


def test_accept_and_decline_over_control_api(graph: Graph, sim: Simulator) -> None:
    invitation = graph.post(f"{sim.business_id}/business_users", email="yes@example.com").json()
    person = graph.client.post(
        f"/_sim/invitations/{invitation['id']}/accept", json={"name": "Yes Person"}
    ).json()["id"]
    assert graph.get(person).json()["name"] == "Yes Person"
    other = graph.post(f"{sim.business_id}/business_users", email="no@example.com").json()
    assert graph.client.post(f"/_sim/invitations/{other['id']}/decline").status_code == 200
    again = graph.client.post(f"/_sim/invitations/{other['id']}/accept")
    assert again.status_code == 400


def test_request_log(graph: Graph, sim: Simulator) -> None:
    graph.client.delete("/_sim/requests")
    graph.get(f"{sim.business_id}/business_users")
    graph.get(f"{sim.business_id}/business_users")
    log = graph.client.get("/_sim/requests", params={"entries": 5}).json()
    assert log["by_path"][f"GET /{sim.business_id}/business_users"] == 2
    assert log["by_route"]["GET /{business_id}/business_users"] == 2
    assert len(log["entries"]) == 2


def test_generator_is_deterministic() -> None:
    pinned = 1_800_000_000
    assert (
        generate_scenario("small", seed=3, clock_start=pinned).to_json()
        == generate_scenario("small", seed=3, clock_start=pinned).to_json()
    )
    assert generate_scenario("small", seed=3).token != generate_scenario("small", seed=4).token


def test_the_clock_runs_at_real_time_unless_the_scenario_pins_it() -> None:
    before = time.time()
    assert before - 1 <= Simulator(generate_scenario("small", seed=3)).now() <= time.time() + 1
    pinned = Simulator(generate_scenario("small", seed=3, clock_start=1_800_000_000))
    assert 1_800_000_000 <= pinned.now() < 1_800_000_000 + 60


def test_only_the_origin_of_a_seeded_scenarios_dates_moves_with_the_clock() -> None:
    day = 86_400
    early, late = (
        generate_scenario("small", seed=3, clock_start=start)
        for start in (1_800_000_000, 1_800_000_000 + day)
    )
    assert [(p.id, p.email, p.role) for p in early.people] == [
        (p.id, p.email, p.role) for p in late.people
    ]
    assert early.token == late.token
    assert [p.created_time + day for p in early.people] == [p.created_time for p in late.people]
    assert [i.expiration_time + day for i in early.invitations] == [
        i.expiration_time for i in late.invitations
    ]


def test_generator_size_overrides_and_validation() -> None:
    scenario = generate_scenario("small", people=12, pages=1, assignments=5)
    assert len(scenario.people) == 12
    assert len([a for a in scenario.assets if a.type == "page"]) == 1
    bastion = scenario.admin_system_user_id
    assert len([a for a in scenario.assignments if a.user_id != bastion]) == 5
    # As Meta's set-up guide asks, Bastion's system user holds every owned asset.
    owned = {a.id for a in scenario.assets if a.ownership == "owned"}
    assert {a.asset_id for a in scenario.assignments if a.user_id == bastion} == owned
    with pytest.raises(ValueError, match="unknown size"):
        generate_scenario("small", elephants=3)
    with pytest.raises(ValueError, match="unknown preset"):
        generate_scenario("medium")


def test_small_preset_looks_like_a_real_business(small_scenario: Scenario) -> None:
    emails = [p.email for p in small_scenario.people]
    assert len(emails) == 40
    domain = small_scenario.people[0].email.split("@")[1].lower()
    assert sum(e.lower().endswith(domain) for e in emails) > 25
    assert (
        sum(e.endswith(("gmail.com", "outlook.com", "hotmail.com", "yahoo.com")) for e in emails)
        >= 2
    )
    assert any(e != e.lower() for e in emails)
    assert len(small_scenario.partners) == 2
    assert sum(p.role == "ADMIN" for p in small_scenario.people) >= 2
    assert all(t.startswith("EAA") for t in (small_scenario.token,))


def test_large_preset_shape_with_reduced_sizes() -> None:
    scenario = generate_scenario("large", people=500, assignments=5000, pages=200, ad_accounts=150)
    assert len(scenario.invitations) == 300
    assert len(scenario.system_users) == 50
    assert len(scenario.partners) == 30
    bastion = scenario.admin_system_user_id
    assert len([a for a in scenario.assignments if a.user_id != bastion]) == 5000
    names = [p.name for p in scenario.people]
    assert len(set(names)) < len(names)  # a few duplicates by name, on purpose


def test_directory_overlaps_about_ninety_percent(small_scenario: Scenario) -> None:
    scenario = generate_scenario("large", people=1000, assignments=0, directory_extra=100)
    directory = scenario.directory_users()
    known = {u.email for u in directory} | {e for u in directory for e in u.secondary_emails}
    matched = sum(p.email.lower() in known for p in scenario.people)
    assert 0.7 < matched / len(scenario.people) < 0.95
    assert any(u.status == "deprovisioned" for u in directory)
    assert any(u.secondary_emails for u in directory)


def test_write_directory_csv_and_scim(small_scenario: Scenario, tmp_path: Path) -> None:
    csv_path, scim_path = small_scenario.write_directory(tmp_path)
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["email", "name", "external_id", "status", "secondary_emails", "groups"]
    assert len(rows) == len(small_scenario.directory_users())
    resources = json.loads(scim_path.read_text())
    assert resources[0]["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]
    assert resources[0]["userName"] == rows[0]["email"]
    assert {r["active"] for r in resources} == {True, False} or all(r["active"] for r in resources)


def test_scenario_save_and_load(small_scenario: Scenario, tmp_path: Path) -> None:
    path = small_scenario.save(tmp_path / "scenario.json")
    assert load_scenario(path).to_json() == small_scenario.to_json()
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="format"):
        load_scenario(tmp_path / "bad.json")


def test_cli_refuses_unknown_scenario(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate_app, ["meta", "--scenario", str(tmp_path / "missing.json")]
    )
    assert result.exit_code == 2
