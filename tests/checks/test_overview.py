"""The security overview and the reviews from every interface: the API, the command line and
the pages, each role seeing only its apps."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from typer.testing import CliRunner

from bastion.app import create_app
from bastion.cli import app as cli
from bastion.overview import KINDS
from bastion.storage.models import (
    Account,
    App,
    AuditEvent,
    Operation,
    Report,
    ReportItem,
    Review,
    utcnow,
)
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AppStatus,
    OperationKind,
    OperationState,
    ReviewState,
)
from tests.api.api_harness import role_tokens
from tests.checks.conftest import World, worker_env
from tests.checks.test_reviews import _by_hand, _deletes
from tests.conftest import serve_on_loopback
from tests.members.member_world import cast_roles
from tests.web.web_support import post, sign_in, sign_in_admin

A = "/api/v1"
runner = CliRunner()


def _something_of_every_kind(world: World) -> dict[str, Any]:
    """A check, then by hand in Business Manager a new admin and a new Page nobody manages, a
    second check, and what time does to the rest (a report, a failed operation, an old
    unmatched account, a stale invitation, a restricted app whose token expires soon)."""
    world.check()
    _by_hand(world, "add_person", name="Mallory Hand", email="mallory@elsewhere.test", role="ADMIN")
    _by_hand(world, "add_asset", asset_type="page", name="Orphan Page")
    world.check()
    now = utcnow()
    with world.runtime.sessions.begin() as session:
        app = session.get_one(App, world.app_id)
        app.status, app.restricted_until = AppStatus.RESTRICTED, now + timedelta(days=2)
        app.token_expires_at = now + timedelta(days=10)
        accounts = session.scalars(
            select(Account).where(Account.app_id == app.id, Account.present.is_(True))
        ).all()
        unmatched = next(
            a for a in accounts if a.state == AccountState.UNMATCHED and a.kind == "person"
        )
        invitation = next(a for a in accounts if a.kind == AccountKind.INVITATION)
        session.execute(
            update(Account)
            .where(Account.id.in_([unmatched.id, invitation.id]))
            .values(created_at=now - timedelta(days=40))
        )
        # The scenario's leavers open a report at the check; make one if it had none.
        if session.scalars(select(Report).where(Report.app_id == app.id)).first() is None:
            report = Report(workspace_id=app.workspace_id, app_id=app.id)
            session.add(report)
            session.flush()
            session.add(
                ReportItem(
                    workspace_id=app.workspace_id,
                    report_id=report.id,
                    account_id=unmatched.id,
                    reason="left the company",
                )
            )
        session.add(
            Operation(
                workspace_id=app.workspace_id,
                app_id=app.id,
                kind=OperationKind.REMOVE,
                state=OperationState.FAILED,
                target_external_id=unmatched.external_id,
                last_error="the app refused it",
            )
        )
        review = session.scalars(select(Review)).one()
        return {"review_id": review.id, "unmatched": unmatched.name or unmatched.email}


def test_the_overview_lists_each_kind_of_item_with_where_it_is_fixed(world: World) -> None:
    made = _something_of_every_kind(world)
    cast = cast_roles(world)
    tokens = role_tokens(world, cast)
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        answer = client.get(f"{A}/overview", headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        for role in ("collaborator", "member", "guest"):
            theirs = client.get(
                f"{A}/overview", headers={"Authorization": f"Bearer {tokens[role]}"}
            ).json()
            assert theirs["items"] == [], role
        owner = client.get(
            f"{A}/overview", headers={"Authorization": f"Bearer {tokens['owner']}"}
        ).json()
    assert {kind for kind, count in body["counts"].items() if count} == set(KINDS)
    assert owner["counts"] == body["counts"]
    links = {(i["kind"], i["link"]) for i in body["items"]}
    app = world.app_id
    assert ("review", f"/apps/{app}/reviews/{made['review_id']}") in links
    assert ("report", f"/apps/{app}/report") in links
    assert ("operation", f"/apps/{app}/operations") in links
    assert ("app_status", f"/apps/{app}/settings") in links
    assert ("token_expiring", f"/apps/{app}/settings") in links
    assert ("stale_invitation", f"/apps/{app}/members/invitations") in links
    orphan = next(i for i in body["items"] if i["kind"] == "asset_uncontrolled")
    assert re.fullmatch(rf"/apps/{app}/assets/\d+", orphan["link"])
    assert any(
        i["title"] == "page Orphan Page" for i in body["items"] if i["kind"] == "asset_uncontrolled"
    )
    unmatched = [i for i in body["items"] if i["kind"] == "unmatched_account"]
    assert [i["title"] for i in unmatched] == [made["unmatched"]]
    assert unmatched[0]["link"].startswith(f"/apps/{app}/members?tab=unmatched&q=")
    two_factor = [i for i in body["items"] if i["kind"] == "two_factor_off"]
    not_enabled = [p for p in world.sim.dump()["people"] if p["two_fac_status"] != "enabled"]
    assert len(two_factor) == len(not_enabled)


def test_reviews_through_the_api_keep_with_a_reason_and_revert_once(world: World) -> None:
    made = _something_of_every_kind(world)
    cast = cast_roles(world)
    tokens = role_tokens(world, cast)
    review_id = made["review_id"]
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):

        def as_(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}"}

        listed = client.get(f"{A}/apps/{world.app_id}/reviews?state=open", headers=as_("owner"))
        assert [r["id"] for r in listed.json()] == [review_id]
        assert listed.json()[0]["revert_does"] == "Remove the person from the business"
        assert (
            client.get(f"{A}/reviews/{review_id}", headers=as_("collaborator")).status_code == 403
        )
        refused = client.post(
            f"{A}/reviews/{review_id}/decision", json={"decision": "keep"}, headers=as_("owner")
        )
        assert refused.status_code == 422
        assert "reason" in refused.text
        bad = client.post(
            f"{A}/reviews/{review_id}/decision", json={"decision": "ignore"}, headers=as_("owner")
        )
        assert bad.status_code == 422
        deletes = _deletes(world)
        reverted = client.post(
            f"{A}/reviews/{review_id}/decision", json={"decision": "revert"}, headers=as_("owner")
        )
        assert reverted.status_code == 200, reverted.text
        assert reverted.json()["state"] == "reverted"
        again = client.post(
            f"{A}/reviews/{review_id}/decision",
            json={"decision": "keep", "reason": "changed my mind"},
            headers=as_("admin"),
        )
        assert again.status_code == 409
        assert "already decided" in again.text
    from bastion.actions.operations import run_due_operations

    run_due_operations(world.runtime)
    assert _deletes(world) - deletes == 1
    assert "mallory@elsewhere.test" not in {p["email"] for p in world.sim.dump()["people"]}


def test_reviews_and_the_overview_from_the_command_line(world: World, key_entry: str) -> None:
    made = _something_of_every_kind(world)
    env = worker_env(world, "http://127.0.0.1:1", key_entry) | {"COLUMNS": "250"}

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--workspace", "northwind"], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    review_id = str(made["review_id"])
    assert "Mallory Hand" in run("reviews", "list", str(world.app_id))
    shown = run("reviews", "show", review_id)
    assert "revert: Remove the person from the business" in shown
    assert "outside Bastion" in shown
    overview = run("overview")
    for title in KINDS.values():
        assert title in overview
    missing = runner.invoke(
        cli, ["reviews", "keep", review_id, "--reason", " ", "--workspace", "northwind"], env=env
    )
    assert missing.exit_code != 0
    assert "reason" in missing.output
    assert "kept" in run("reviews", "keep", review_id, "--reason", "Our agency lead")
    assert "by cli" in run("reviews", "show", review_id)
    second = runner.invoke(
        cli, ["reviews", "revert", review_id, "--workspace", "northwind"], env=env
    )
    assert second.exit_code != 0
    assert "already decided" in second.output
    with world.runtime.sessions() as session:
        review = session.get_one(Review, made["review_id"])
        audited = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "review.kept")
        ).all()
    assert review.state == ReviewState.KEPT
    assert review.reason == "Our agency lead"
    assert audited == ["cli"]


def test_the_pages_list_reviews_decide_them_and_show_the_overview(world: World) -> None:
    made = _something_of_every_kind(world)
    cast_roles(world)
    review_id = made["review_id"]
    page = f"/apps/{world.app_id}/reviews/{review_id}"
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
        httpx.Client(base_url=url, timeout=60) as collaborator,
    ):
        sign_in_admin(client, world)
        overview = client.get("/overview")
        assert overview.status_code == 200
        assert 'href="/overview"' in overview.text
        for title in KINDS.values():
            assert title in overview.text
        assert f'href="{page}"' in overview.text
        tab = client.get(f"/apps/{world.app_id}/reviews")
        assert "Mallory Hand" in tab.text and f'href="{page}"' in tab.text
        assert 'data-two-factor="not_enabled"' in client.get(
            f"/apps/{world.app_id}/members?tab=unmatched"
        ).text + "".join(
            client.get(f"/apps/{world.app_id}/members?tab={t}").text
            for t in ("onboarded", "guest", "exempted")
        )
        shown = client.get(page)
        assert "Remove the person from the business" in shown.text
        empty = post(client, f"{page}/keep", {"reason": ""})
        assert empty.status_code == 303
        assert "say why" in client.get(page).text
        kept = post(client, f"{page}/keep", {"reason": "Our new agency lead"})
        assert kept.status_code == 303
        decided = client.get(page).text
        assert "Our new agency lead" in decided and "Revert" not in decided.split("Decision")[-1]

        sign_in(collaborator, world, "collab@northwind.test")
        assert collaborator.get(page).status_code == 403
        assert "Mallory" not in collaborator.get("/overview").text
    with world.runtime.sessions() as session:
        assert session.get_one(Review, review_id).state == ReviewState.KEPT
