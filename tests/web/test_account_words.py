"""An account's status in words a person understands, the same on the Members tab, in the CSV
export and from `bastion members list`: why an unmatched account is unmatched, "System user" for
a system user; and a tab that does not exist is a page that says so."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import httpx
from typer.testing import CliRunner

from bastion.account_status import unmatched_reason
from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.cli import app as cli
from bastion.storage.models import Account, User
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    OnboardingStatus,
    TokenKind,
    UserStatus,
)
from tests.checks.conftest import World, worker_env
from tests.members.member_world import accounts


def page_reasons(page: str) -> dict[str, str]:
    rows = re.findall(r'<tr id="account-\d+" data-account="([^"]+)">(.*?)</tr>', page, re.S)
    found = {}
    for external_id, row in rows:
        # The words as a reader sees them: the <wbr> break hints read as nothing.
        why = re.search(r"data-why>(.*?)</span>", row, re.S)
        found[external_id] = html.unescape(why.group(1).replace("<wbr>", "")) if why else ""
    return found


def test_unmatched_accounts_say_why_alike_on_the_page_in_the_csv_and_from_the_cli(
    admin: httpx.Client, world: World, key_entry: str
) -> None:
    world.check()
    unmatched = accounts(world, state=AccountState.UNMATCHED)
    kinds = {a.kind for a in unmatched}
    assert {AccountKind.PERSON, AccountKind.INVITATION} <= kinds
    expected = {
        a.external_id: "invitation not accepted yet"
        if a.kind == AccountKind.INVITATION
        else f"no directory match for {a.email}"
        for a in unmatched
        if a.email
    }

    page = admin.get(f"/apps/{world.app_id}/members?tab=unmatched").text
    shown = page_reasons(page)
    assert {k: shown[k] for k in expected} == expected
    assert "External enrollee" not in page

    with world.runtime.sessions.begin() as session:
        token = create_token(
            session,
            workspace_id=world.workspace_id,
            kind=TokenKind.API,
            name="export",
            actor=Actor.system("tests"),
            user_id=world.admin_id,
        ).token
    exported = admin.get(
        f"/api/v1/apps/{world.app_id}/accounts/export.csv",
        params={"state": "unmatched"},
        headers={"Authorization": f"Bearer {token}"},
    )
    by_id = {a.id: a.external_id for a in unmatched}
    in_csv = {by_id[int(r["id"])]: r["status"] for r in csv.DictReader(io.StringIO(exported.text))}
    assert {k: in_csv[k] for k in expected} == {k: f"Unmatched: {v}" for k, v in expected.items()}

    env = worker_env(world, "http://graph.invalid", key_entry)
    args = ["members", "list", "1", "--state", "unmatched", "--format", "json"]
    listed = CliRunner().invoke(cli, [*args, "--workspace", "northwind"], env=env)
    assert listed.exit_code == 0, listed.output
    from_cli = {by_id[r["id"]]: r["status"] for r in json.loads(listed.output)}
    assert from_cli == in_csv

    systems = admin.get(
        f"/api/v1/apps/{world.app_id}/accounts/export.csv",
        params={"state": "system_user"},
        headers={"Authorization": f"Bearer {token}"},
    )
    statuses = [r["status"] for r in csv.DictReader(io.StringIO(systems.text))]
    assert statuses and set(statuses) == {"System user"}
    system_page = admin.get(f"/apps/{world.app_id}/members?tab=system_user").text
    assert "System user" in system_page
    # Onboarded accounts read their member's onboarding, a status, never the login method.
    onboarded = admin.get(
        f"/api/v1/apps/{world.app_id}/accounts/export.csv",
        params={"state": "onboarded"},
        headers={"Authorization": f"Bearer {token}"},
    )
    words = {r["status"] for r in csv.DictReader(io.StringIO(onboarded.text))}
    assert words and words <= {status.label for status in OnboardingStatus}
    assert "Single sign-on" not in words


def test_the_reason_names_a_directory_person_who_cannot_vouch() -> None:
    account = Account(kind=AccountKind.PERSON, email="sam@agency.com", email_key="sam@agency.com")
    gone = User(status=UserStatus.DEPROVISIONED, email="sam@agency.com")
    away = User(status=UserStatus.SUSPENDED, email="sam@agency.com")
    assert unmatched_reason(account, [gone]) == "directory person deprovisioned"
    assert unmatched_reason(account, [away, gone]) == "directory person deprovisioned"
    assert unmatched_reason(account, [away]) == "directory person suspended"
    assert unmatched_reason(account, []) == "no directory match for sam@agency.com"
    twins = [User(status=UserStatus.ACTIVE), User(status=UserStatus.ACTIVE)]
    assert unmatched_reason(account, twins) == "2 directory people have sam@agency.com"
    nobody = Account(kind=AccountKind.PERSON, email=None)
    assert unmatched_reason(nobody, []) == "no e-mail to match on"


def test_an_unknown_members_tab_is_a_not_found_page(admin: httpx.Client, world: World) -> None:
    answer = admin.get(f"/apps/{world.app_id}/members?tab=guests", headers={"Accept": "text/html"})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Members has no tab &#39;guests&#39;" in answer.text
    assert admin.get(f"/apps/{world.app_id}/members?tab=guest").status_code == 200
