"""Changing people, invitations and asset tasks, with Meta's rules and refusals."""

from __future__ import annotations

import json

import pytest
from simulator_support import Graph, business_state, error_of

from bastion.connectors.meta.simulator import Simulator


def admins(sim: Simulator) -> list[str]:
    return [p.id for p in sim.state.people.values() if p.role == "ADMIN"]


def test_invite_creates_a_pending_invitation_not_a_person(graph: Graph, sim: Simulator) -> None:
    before = len(sim.state.people)
    response = graph.post(
        f"{sim.business_id}/business_users",
        email="new.hire@example.com",
        role="EMPLOYEE",
        invited_user_type='["FB"]',
    )
    invitation_id = response.json()["id"]
    assert len(sim.state.people) == before
    pending = graph.get(f"{sim.business_id}/pending_users", email="new.hire@example.com").json()
    assert [item["id"] for item in pending["data"]] == [invitation_id]
    assert pending["data"][0]["status"] == "PENDING"
    person_id = sim.accept_invitation(invitation_id)
    assert graph.get(person_id, fields="email,role").json()["email"] == "new.hire@example.com"
    assert (
        graph.get(f"{sim.business_id}/pending_users", email="new.hire@example.com").json()["data"]
        == []
    )


def test_inviting_twice_returns_the_same_invitation(graph: Graph, sim: Simulator) -> None:
    first = graph.post(f"{sim.business_id}/business_users", email="twice@example.com").json()
    second = graph.post(f"{sim.business_id}/business_users", email="twice@example.com").json()
    assert first == second


@pytest.mark.parametrize(
    "params",
    [
        {"email": "x@example.com", "role": "SUPREME_LEADER"},
        {"email": "not-an-email", "role": "EMPLOYEE"},
        {"role": "EMPLOYEE"},
        {"email": "x@example.com", "invited_user_type": '["BOT"]'},
        {"email": "x@example.com", "tasks": '["NOPE"]'},
    ],
)
def test_bad_invites_are_100_and_change_nothing(
    graph: Graph, sim: Simulator, params: dict[str, str]
) -> None:
    before = business_state(sim)
    error = error_of(graph.post(f"{sim.business_id}/business_users", **params))
    assert error["code"] == 100
    assert business_state(sim) == before


def test_enum_error_lists_accepted_values(graph: Graph, sim: Simulator) -> None:
    error = error_of(graph.post(f"{sim.business_id}/business_users", email="a@b.co", role="BOSS"))
    assert "FINANCE_ANALYST" in error["message"]


def test_invite_with_json_body_and_real_arrays(graph: Graph, sim: Simulator) -> None:
    body = {"email": "json@example.com", "role": "ADMIN", "invited_user_type": ["FB", "MWA"]}
    response = graph.post(f"{sim.business_id}/business_users", json_body=body)
    invitation = sim.state.invitations[response.json()["id"]]
    assert invitation.invited_user_type == ["FB", "MWA"]


def test_cancel_and_decline_invitation(graph: Graph, sim: Simulator) -> None:
    invitation_id = next(iter(sim.state.listed_invitations(sim.now())), None)
    assert invitation_id is not None
    assert graph.delete(invitation_id.id).json() == {"success": True}
    assert graph.get(invitation_id.id, fields="status").json()["status"] == "CANCELED"
    assert error_of(graph.delete(invitation_id.id))["code"] == 100
    other = graph.post(f"{sim.business_id}/business_users", email="decline@example.com").json()
    sim.decline_invitation(other["id"])
    assert graph.get(other["id"], fields="status").json()["status"] == "DECLINED"


def test_change_invited_role(graph: Graph, sim: Simulator) -> None:
    invitation = graph.post(f"{sim.business_id}/business_users", email="r@example.com").json()
    assert graph.post(invitation["id"], role="ADMIN").json() == {"id": invitation["id"]}
    assert graph.get(invitation["id"], fields="role").json()["role"] == "ADMIN"


def test_invitations_expire(graph: Graph, sim: Simulator) -> None:
    invitation = graph.post(f"{sim.business_id}/business_users", email="late@example.com").json()
    sim.advance_clock(31 * 86_400)
    body = graph.get(invitation["id"], fields="status,expiration_time").json()
    assert body["status"] == "EXPIRED"
    with pytest.raises(Exception, match="expired"):
        sim.accept_invitation(invitation["id"])


def test_update_person_role_and_name(graph: Graph, sim: Simulator) -> None:
    person = next(p for p in sim.state.people.values() if p.role == "EMPLOYEE")
    assert graph.post(person.id, role="ADMIN", first_name="Renamed").json() == {"success": True}
    body = graph.get(person.id, fields="role,first_name,name").json()
    assert body["role"] == "ADMIN" and body["name"].startswith("Renamed")


def test_removing_a_person_removes_their_tasks(graph: Graph, sim: Simulator) -> None:
    person_id = next(
        uid
        for uid in sim.state.user_assets
        if uid in sim.state.people and sim.state.people[uid].role != "ADMIN"
    )
    asset_id = next(iter(sim.state.user_assets[person_id]))
    assert graph.delete(person_id).json() == {"success": True}
    assert person_id not in sim.state.people
    holders = graph.get(f"{asset_id}/assigned_users", business=sim.business_id).json()["data"]
    assert person_id not in {h["id"] for h in holders}
    assert error_of(graph.get(person_id))["code"] == 100


def test_last_admin_cannot_be_removed_or_demoted(graph: Graph, sim: Simulator) -> None:
    *others, last = admins(sim)
    for admin in others:
        sim.set_role(admin, "EMPLOYEE")
    before = business_state(sim)
    assert error_of(graph.delete(last))["code"] == 3914
    assert error_of(graph.post(last, role="EMPLOYEE"))["code"] == 3914
    assert business_state(sim) == before


def test_new_system_user_restricts_people_changes(graph: Graph, sim: Simulator) -> None:
    created = graph.post(f"{sim.business_id}/system_users", name="Fresh Bot", role="EMPLOYEE")
    assert "id" in created.json()
    person = next(p for p in sim.state.people.values() if p.role == "EMPLOYEE")
    for response in (
        graph.post(f"{sim.business_id}/business_users", email="blocked@example.com"),
        graph.delete(person.id),
        graph.post(person.id, role="ADMIN"),
    ):
        error = error_of(response)
        assert error["code"] == 368
        assert "until" in error["error_user_msg"]
    assert graph.post(person.id, title="Still allowed").json() == {"success": True}
    sim.advance_clock(7 * 86_400 + 1)
    assert "id" in graph.post(f"{sim.business_id}/business_users", email="ok@example.com").json()


def test_restricted_window_is_a_scenario_setting(graph: Graph, sim: Simulator) -> None:
    sim.update_settings(restricted_window_days=1)
    graph.post(f"{sim.business_id}/system_users", name="Bot")
    sim.advance_clock(86_401)
    assert "id" in graph.post(f"{sim.business_id}/business_users", email="x@example.com").json()


def test_two_factor_required_for_configured_actions(graph: Graph, sim: Simulator) -> None:
    sim.update_settings(two_factor_required_for=["invite", "remove_user", "catalog_grant"])
    assert (
        error_of(graph.post(f"{sim.business_id}/business_users", email="t@example.com"))["code"]
        == 415
    )
    catalog = next(a for a in sim.state.assets.values() if a.type == "catalog")
    person = next(iter(sim.state.people))
    response = graph.post(f"{catalog.id}/assigned_users", user=person, tasks='["MANAGE"]')
    assert error_of(response)["code"] == 415
    graph.post(sim.business_id, two_factor_type="none")
    assert "id" in graph.post(f"{sim.business_id}/business_users", email="t@example.com").json()


def test_assign_tasks_replaces_and_is_idempotent(graph: Graph, sim: Simulator) -> None:
    account = next(a for a in sim.state.assets.values() if a.type == "ad_account")
    person = next(iter(sim.state.people))
    for _ in range(2):
        response = graph.post(f"{account.id}/assigned_users", user=person, tasks='["MANAGE"]')
        assert response.json() == {"success": True}
    assert sim.state.asset_users[account.id][person] == ("DRAFT", "ANALYZE", "ADVERTISE", "MANAGE")
    graph.post(f"{account.id}/assigned_users", user=person, tasks="ANALYZE")
    holders = graph.get(f"{account.id}/assigned_users", business=sim.business_id).json()["data"]
    assert next(h for h in holders if h["id"] == person)["tasks"] == ["ANALYZE"]


@pytest.mark.parametrize(
    ("asset_type", "tasks"),
    [
        ("page", ["MANAGE"]),
        ("catalog", ["MANAGE"]),
        ("pixel", ["EDIT"]),
        ("instagram", ["ADVERTISE"]),
    ],
)
def test_assign_every_asset_type(
    graph: Graph, sim: Simulator, asset_type: str, tasks: list[str]
) -> None:
    asset = next(a for a in sim.state.assets.values() if a.type == asset_type)
    person = next(iter(sim.state.people))
    body = {"user": person, "tasks": tasks}
    assert graph.post(f"{asset.id}/assigned_users", json_body=body).json() == {"success": True}
    assert set(tasks) <= set(sim.state.asset_users[asset.id][person])
    deleted = graph.delete(f"{asset.id}/assigned_users", user=person)
    if asset_type == "pixel":
        # Meta's AdsPixel has GET and POST on assigned_users, no DELETE.
        error = error_of(deleted)
        assert (error["code"], error["error_subcode"]) == (100, 33)
        assert "Unsupported delete request" in error["message"]
        assert person in sim.state.asset_users[asset.id]
        return
    assert deleted.json() == {"success": True}
    assert person not in sim.state.asset_users.get(asset.id, {})


def test_parameters_meta_lacks_are_refused(graph: Graph, sim: Simulator) -> None:
    page = next(a for a in sim.state.assets.values() if a.type == "page")
    person = next(iter(sim.state.people))
    body = {"user": person, "tasks": ["ANALYZE"], "business": sim.business_id}
    error = error_of(graph.post(f"{page.id}/assigned_users", json_body=body))
    assert error["code"] == 100 and "business" in error["message"]
    assert person not in sim.state.asset_users.get(page.id, {})


def test_writes_to_edges_meta_lacks_are_unknown_paths(graph: Graph, sim: Simulator) -> None:
    person = next(iter(sim.state.people))
    assert error_of(graph.post(f"{person}/assigned_pages", pages="1"))["code"] in (100, 2500)
    assert error_of(graph.delete(f"{sim.business_id}/business_users", user=person))["code"] == 100
    assert error_of(graph.post(f"{sim.business_id}/made_up_edge", name="x"))["code"] == 2500


def test_instagram_advertise_expands_to_five_tasks(graph: Graph, sim: Simulator) -> None:
    asset = next(a for a in sim.state.assets.values() if a.type == "instagram")
    person = next(iter(sim.state.people))
    graph.post(f"{asset.id}/assigned_users", user=person, tasks='["ADVERTISE"]')
    assert len(sim.state.asset_users[asset.id][person]) == 5


def test_assign_with_indexed_form_arrays(graph: Graph, sim: Simulator) -> None:
    asset = next(a for a in sim.state.assets.values() if a.type == "instagram")
    person = next(iter(sim.state.people))
    response = graph.client.post(
        f"/v25.0/{asset.id}/assigned_users",
        data={
            "access_token": sim.token,
            "user": person,
            "tasks[0]": "ANALYZE",
            "tasks[1]": "CONTENT",
        },
    )
    assert response.json() == {"success": True}
    assert {"ANALYZE", "CONTENT"} <= set(sim.state.asset_users[asset.id][person])


def test_page_assignment_takes_user_and_tasks(graph: Graph, sim: Simulator) -> None:
    page = next(a for a in sim.state.assets.values() if a.type == "page")
    person = next(iter(sim.state.people))
    answer = graph.post(f"{page.id}/assigned_users", user=person, tasks="ANALYZE")
    assert answer.json() == {"success": True}
    assert error_of(graph.post(f"{page.id}/assigned_users", user=person))["code"] == 100


def test_global_user_id_is_not_business_scoped(graph: Graph, sim: Simulator) -> None:
    account = next(a for a in sim.state.assets.values() if a.type == "ad_account")
    person = next(iter(sim.state.people.values()))
    before = business_state(sim)
    error = error_of(
        graph.post(f"{account.id}/assigned_users", user=person.global_id, tasks='["ANALYZE"]')
    )
    assert (error["code"], error["error_subcode"]) == (100, 1752100)
    assert business_state(sim) == before


@pytest.mark.parametrize(
    ("tasks", "subcode"),
    [('["MANAGE","AA_ANALYZE"]', 1752129), ('["FLY"]', None), ("[]", None)],
)
def test_bad_task_sets_are_refused(
    graph: Graph, sim: Simulator, tasks: str, subcode: int | None
) -> None:
    account = next(a for a in sim.state.assets.values() if a.type == "ad_account")
    person = next(iter(sim.state.people))
    before = business_state(sim)
    error = error_of(graph.post(f"{account.id}/assigned_users", user=person, tasks=tasks))
    assert error["code"] == 100
    assert error.get("error_subcode") == subcode
    assert business_state(sim) == before


def test_write_permissions(graph: Graph, sim: Simulator) -> None:
    catalog = next(a for a in sim.state.assets.values() if a.type == "catalog")
    person = next(iter(sim.state.people))
    read_only = sim.make_token(scopes=["business_management", "ads_management"])
    response = graph.post(
        f"{catalog.id}/assigned_users", token=read_only, user=person, tasks="MANAGE"
    )
    assert error_of(response)["code"] == 200
    no_business = sim.make_token(scopes=["ads_management"])
    response = graph.post(f"{sim.business_id}/business_users", token=no_business, email="a@b.co")
    assert error_of(response)["code"] == 200


def test_share_and_unshare_with_agency(graph: Graph, sim: Simulator) -> None:
    agency = next(p for p in sim.state.partners.values() if p.relation == "agency")
    page = next(a for a in sim.state.assets.values() if a.type == "page")
    shared = graph.post(
        f"{page.id}/agencies", business=agency.id, permitted_tasks=json.dumps(["ANALYZE"])
    )
    assert shared.json() == {"success": True}
    ids = {a["id"] for a in graph.get(f"{page.id}/agencies").json()["data"]}
    assert agency.id in ids
    graph.delete(f"{page.id}/agencies", business=agency.id)
    assert agency.id not in {a["id"] for a in graph.get(f"{page.id}/agencies").json()["data"]}


def test_system_user_tokens(graph: Graph, sim: Simulator) -> None:
    created = graph.post(
        f"{sim.business_id}/system_user_access_tokens",
        system_user_id=sim.admin_system_user_id,
        scope="business_management",
        set_token_expires_in_60_days="true",
    ).json()
    data = graph.get(
        "debug_token", token=sim.app_token, input_token=created["access_token"]
    ).json()["data"]
    assert data["scopes"] == ["business_management"]
    assert data["expires_at"] > sim.now()
    bad = graph.post(
        f"{sim.business_id}/system_user_access_tokens",
        system_user_id=sim.admin_system_user_id,
        scope="read_minds",
    )
    assert error_of(bad)["code"] == 3962
