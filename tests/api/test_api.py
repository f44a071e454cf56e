"""The REST API as scripts use it: tokens, filters, errors, idempotency, tenants, exports."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import func, select

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.actions.users import create_admin
from bastion.storage.models import Account, AuditEvent, Operation
from bastion.storage.models.enums import AccountState, TokenKind
from tests.api.api_harness import Api
from tests.checks.conftest import World
from tests.factories import make_workspace
from tests.members.member_world import Cast, accounts
from tests.one_business import free_the_business


def rows(world: World, model: type) -> int:
    with world.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_without_credentials_the_api_answers_401_in_the_error_shape(api: Api, world: World) -> None:
    response = api.client.get("/api/v1/apps")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"
    bad = api.client.get("/api/v1/apps", headers={"Authorization": "Bearer bst_api_nope"})
    assert bad.status_code == 401


def test_accounts_page_through_with_a_cursor_and_filter_by_state(api: Api, world: World) -> None:
    url = f"/api/v1/apps/{world.app_id}/accounts"
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 7, "sort": "-name"}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get(url, params=params, headers=api.as_("owner")).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [a.id for a in accounts(world)]
    assert len(seen) == len(set(seen))
    unmatched = api.client.get(url, params={"state": "unmatched"}, headers=api.as_("admin")).json()
    assert {i["state"] for i in unmatched["items"]} == {"unmatched"}
    some = accounts(world)[0]
    found = api.client.get(url, params={"q": some.name[:5].upper()}, headers=api.as_("admin"))
    assert some.id in [i["id"] for i in found.json()["items"]]


def test_a_member_sees_only_their_own_accounts(api: Api, world: World, cast: Cast) -> None:
    url = f"/api/v1/apps/{world.app_id}/accounts"
    mine = api.client.get(url, headers=api.as_("member")).json()["items"]
    assert [i["matched_user_id"] for i in mine] == [cast.member] * len(mine)
    assert cast.member_account in [i["id"] for i in mine]
    assert api.client.get(url, headers=api.as_("guest")).status_code == 403


def test_csv_export_lists_the_filtered_accounts(api: Api, world: World) -> None:
    response = api.client.get(
        f"/api/v1/apps/{world.app_id}/accounts/export.csv",
        params={"state": "unmatched"},
        headers=api.as_("admin"),
    )
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert {int(r["id"]) for r in table} == {
        a.id for a in accounts(world, state=AccountState.UNMATCHED)
    }


def test_bad_input_is_422_naming_the_field_and_writes_nothing(api: Api, world: World) -> None:
    target = accounts(world, state=AccountState.UNMATCHED)[0]
    events = rows(world, AuditEvent)
    empty = api.client.post(
        f"/api/v1/accounts/{target.id}/exemption", json={"reason": ""}, headers=api.as_("admin")
    )
    assert empty.status_code == 422
    assert empty.json()["error"]["field"] == "reason"
    role = api.client.post(
        f"/api/v1/accounts/{target.id}/match",
        json={"user_id": 1, "role": "emperor"},
        headers=api.as_("admin"),
    )
    assert (role.status_code, role.json()["error"]["field"]) == (422, "role")
    malformed = api.client.post(
        f"/api/v1/accounts/{target.id}/exemption",
        content=b"{not json",
        headers={**api.as_("admin"), "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert rows(world, AuditEvent) == events
    assert accounts(world, id=target.id)[0].state == AccountState.UNMATCHED


def test_a_retried_removal_with_the_same_key_queues_one_operation(api: Api, world: World) -> None:
    target = accounts(world, state=AccountState.UNMATCHED)[0]
    answers = [
        api.client.post(
            f"/api/v1/accounts/{target.id}/removal",
            json={"force": True},
            headers={**api.as_("owner"), "Idempotency-Key": "k-123"},
        )
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert len({a.json()["id"] for a in answers}) == 1
    assert rows(world, Operation) == 1
    with world.runtime.sessions() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("account.removal_requested") == 1


def test_a_collaborator_is_refused_with_the_role_needed(api: Api, world: World) -> None:
    target = accounts(world, state=AccountState.UNMATCHED)[0]
    response = api.client.post(
        f"/api/v1/accounts/{target.id}/removal", json={}, headers=api.as_("collaborator")
    )
    assert response.status_code == 403
    assert "app owner role" in response.json()["error"]["message"]
    assert rows(world, Operation) == 0


def test_another_workspace_sees_nothing_of_this_one(api: Api, world: World) -> None:
    with world.runtime.sessions.begin() as session:
        other = make_workspace(session, "contoso")
        admin, _ = create_admin(
            session,
            workspace_id=other.id,
            email="admin@contoso.test",
            name="Other Admin",
            actor=Actor.system("tests"),
        )
        token = create_token(
            session,
            workspace_id=other.id,
            kind=TokenKind.API,
            name="other",
            actor=Actor.system("tests"),
            user_id=admin.id,
        ).token
    outsider = {"Authorization": f"Bearer {token}"}
    account = accounts(world)[0]
    assert api.client.get("/api/v1/apps", headers=outsider).json() == []
    assert api.client.get(f"/api/v1/apps/{world.app_id}", headers=outsider).status_code == 404
    assert api.client.get(f"/api/v1/accounts/{account.id}", headers=outsider).status_code == 404
    removal = api.client.post(
        f"/api/v1/accounts/{account.id}/removal", json={"force": True}, headers=outsider
    )
    assert removal.status_code == 404
    assert rows(world, Operation) == 0


def test_every_write_is_in_the_audit_log_and_exports_as_jsonl_and_csv(
    api: Api, world: World
) -> None:
    target = accounts(world, state=AccountState.UNMATCHED)[0]
    api.client.post(
        f"/api/v1/accounts/{target.id}/exemption",
        json={"reason": "Break-glass account"},
        headers=api.as_("owner"),
    )
    exported = api.client.get(
        "/api/v1/audit-events/export",
        params={"action": "account.exempted"},
        headers=api.as_("admin"),
    )
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [e["target"] for e in lines] == [f"account:{target.id}"]
    assert lines[0]["details"]["reason"] == "Break-glass account"
    as_csv = api.client.get(
        "/api/v1/audit-events/export", params={"format": "csv"}, headers=api.as_("admin")
    )
    assert "account.exempted" in as_csv.text
    page = api.client.get("/api/v1/audit-events", params={"limit": 2}, headers=api.as_("admin"))
    assert len(page.json()["items"]) == 2 and page.json()["next_cursor"]
    assert api.client.get("/api/v1/audit-events", headers=api.as_("owner")).status_code == 403


def test_connecting_with_a_bad_token_is_refused_with_the_checks(api: Api, world: World) -> None:
    free_the_business(world)
    response = api.client.post(
        "/api/v1/apps",
        json={
            "label": "Second",
            "token": "not-a-real-token",
            "business_id": world.sim.business_id,
            "app_id": world.sim.app_id,
            "login_method": "sso",
        },
        headers=api.as_("admin"),
    )
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "connection_refused"
    assert body["checks"][0]["name"] == "token"
    assert "not-a-real-token" not in response.text


def test_owner_edits_settings_and_disconnects_the_app(api: Api, world: World) -> None:
    url = f"/api/v1/apps/{world.app_id}"
    edited = api.client.patch(
        url, json={"label": "Renamed", "safeguard_threshold_percent": 5}, headers=api.as_("owner")
    )
    assert edited.json()["label"] == "Renamed"
    assert edited.json()["safeguard_threshold_percent"] == 5
    assert api.client.patch(url, json={"label": "x"}, headers=api.as_("member")).status_code == 403
    gone = api.client.delete(url, headers=api.as_("owner"))
    assert gone.json()["disconnected_at"] is not None
    assert rows(world, Account) > 0  # history is kept


def test_nul_characters_are_refused_naming_the_field_on_every_database(
    api: Api, world: World
) -> None:
    search = api.client.get(
        f"/api/v1/apps/{world.app_id}/accounts", params={"q": "a\x00b"}, headers=api.as_("admin")
    )
    assert (search.status_code, search.json()["error"]["field"]) == (422, "q")
    target = accounts(world, state=AccountState.UNMATCHED)[0]
    body = api.client.post(
        f"/api/v1/accounts/{target.id}/exemption",
        json={"reason": "bad\x00reason"},
        headers=api.as_("admin"),
    )
    assert (body.status_code, body.json()["error"]["field"]) == (422, "body")
