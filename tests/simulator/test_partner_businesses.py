"""Partner businesses: their own people, system users and tokens, and what each token may read."""

from __future__ import annotations

from tests.simulator.simulator_support import Graph


def _agency(graph: Graph) -> str:
    return next(p for p, t in graph.sim.partner_tokens().items())


def _shared_asset(graph: Graph, partner_id: str) -> str:
    return next(
        asset_id
        for asset_id, by_partner in graph.sim.state.partner_access.items()
        if partner_id in by_partner
    )


def test_a_partners_token_lists_its_people_on_our_asset_and_ours_lists_nobody(
    graph: Graph,
) -> None:
    partner = _agency(graph)
    token = graph.sim.partner_tokens()[partner]
    asset = _shared_asset(graph, partner)
    listed = graph.get(
        f"{asset}/assigned_users", token=token, business=partner, fields="id,name,user_type,tasks"
    )
    assert listed.status_code == 200
    people = listed.json()["data"]
    expected = graph.sim.state.partner_holders(asset, partner)
    assert {p["id"]: tuple(p["tasks"]) for p in people} == expected and expected
    assert {p["user_type"] for p in people} == {"BUSINESS_USER"}
    ours = graph.get(f"{asset}/assigned_users", business=partner, fields="id")
    assert ours.status_code == 200 and ours.json()["data"] == []


def test_a_partners_token_reads_its_own_business_and_nothing_of_ours(graph: Graph) -> None:
    partner = _agency(graph)
    token = graph.sim.partner_tokens()[partner]
    me = graph.get("me", token=token, fields="id,name").json()
    users = graph.get(f"{partner}/system_users", token=token, fields="id,name,role").json()
    assert me["id"] in {u["id"] for u in users["data"]}
    people = graph.get(f"{partner}/business_users", token=token, fields="id,email").json()
    assert {p["id"] for p in people["data"]} == {
        p.id for p in graph.sim.state.partner_people.values() if p.partner_id == partner
    }
    business = graph.sim.business_id
    for path in (business, f"{business}/business_users"):
        refused = graph.get(path, token=token)
        assert refused.status_code == 400
        assert (refused.json()["error"]["code"], refused.json()["error"]["error_subcode"]) == (
            100,
            33,
        )
    asset = _shared_asset(graph, partner)
    other_business = graph.get(f"{asset}/assigned_users", token=token, business=business)
    assert other_business.json()["error"]["code"] == 200
    unknown_field = graph.get(f"{partner}/business_users", token=token, fields="id,nonsense")
    assert unknown_field.json()["error"]["code"] == 100


def test_a_partner_removes_its_own_persons_tasks_on_our_ad_account(graph: Graph) -> None:
    partner = _agency(graph)
    token = graph.sim.partner_tokens()[partner]
    state = graph.sim.state
    account = next(a.id for a in state.assets.values() if a.type == "ad_account")
    state.share_asset(account, partner, ["ADVERTISE", "ANALYZE"])
    person = next(p.id for p in state.partner_people.values() if p.partner_id == partner)
    graph.sim.assign_partner_person(asset_id=account, user_id=person, tasks=["ANALYZE"])
    ours = graph.delete(f"{account}/assigned_users", user=person)
    assert ours.status_code == 400  # our token cannot remove a partner's person
    assert person in state.partner_holders(account, partner)
    done = graph.delete(f"{account}/assigned_users", token=token, user=person)
    assert done.status_code == 200 and done.json() == {"success": True}
    assert person not in state.partner_holders(account, partner)
    # Meta's AdsPixel has no DELETE on assigned_users, for a partner's token too.
    pixel = next(
        asset_id
        for asset_id, by_partner in state.partner_access.items()
        if partner in by_partner and state.assets[asset_id].type == "pixel"
    )
    holder = next(iter(state.partner_holders(pixel, partner)))
    refused = graph.delete(f"{pixel}/assigned_users", token=token, user=holder)
    assert refused.json()["error"]["code"] == 100
    assert holder in state.partner_holders(pixel, partner)


def test_ending_the_partnership_ends_its_peoples_tasks_and_its_token(graph: Graph) -> None:
    partner = _agency(graph)
    token = graph.sim.partner_tokens()[partner]
    graph.sim.remove_partner(partner)
    assert not any(
        graph.sim.state.partner_people[u].partner_id == partner
        for holders in graph.sim.state.partner_asset_users.values()
        for u in holders
    )
    assert graph.get("me", token=token).json()["error"]["code"] == 190


def test_a_saved_scenario_keeps_the_partners_people_and_tokens(graph: Graph) -> None:
    snapshot = graph.sim.scenario_snapshot()
    assert snapshot.partner_people and snapshot.partner_assignments
    assert any(t.business_id != snapshot.business.id for t in snapshot.tokens)
