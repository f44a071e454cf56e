"""Every web page and API route, asked by every role: who is answered, and what they see.

Admins and owners see the app's people; a collaborator sees the app's assets, partners and
checks and their own account; a workspace member, a guest and a local partner's guest see only
their own accounts. Each route of the served app is in READS or WRITES below, or in NO_PERSON
with the reason it concerns no app and no other person; a new route in none of them fails
``test_every_route_is_in_the_matrix``, so it cannot be forgotten.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from bastion.actions.actors import Actor
from bastion.actions.partner_removal import gather_partner_removal
from bastion.actions.tokens import create_token
from bastion.actions.webhooks import create_endpoint
from bastion.app import create_app
from bastion.jobs import Jobs
from bastion.security.vault import KeyRing, new_key_entry
from bastion.storage.db import make_engine
from bastion.storage.models import (
    Account,
    AuditEvent,
    Notification,
    Partner,
    ReportItem,
    Review,
)
from bastion.storage.models.enums import AccountState, ReviewKind, TokenKind
from bastion.storage.schema import upgrade
from bastion.webhook_events import emit_event
from tests.conftest import postgres_url_or_skip, reset_postgres, serve_on_loopback
from tests.integration.role_world import (
    ROLES,
    SEES_DETAILS,
    SEES_PEOPLE,
    RoleWorld,
    api_tokens,
    build_world,
    cast_every_role,
    identities,
    signed_in,
)
from tests.web.web_support import csrf

ALL = frozenset(ROLES)
ADMIN = frozenset({"admin"})
READS_DIRECTORY = frozenset({"admin", "owner"})


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def rw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RoleWorld]:
    tmp_path = tmp_path_factory.mktemp(f"roles-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bastion.db'}"
    else:
        url = postgres_url_or_skip()
        engine = make_engine(url)
        reset_postgres(engine)
        engine.dispose()
    engine = make_engine(url)
    upgrade(engine)
    world = build_world(engine, tmp_path, KeyRing.parse(new_key_entry("k1")))
    people, ids = cast_every_role(world)
    with world.runtime.sessions.begin() as session:
        ids["scim_token"] = create_token(
            session,
            workspace_id=world.workspace_id,
            kind=TokenKind.SCIM,
            name="matrix idp",
            actor=Actor.system("tests"),
        ).row.id
        spare = session.scalars(
            select(Account)
            .where(Account.app_id == world.app_id, Account.state == AccountState.UNMATCHED)
            .where(Account.id != ids["other_account"])
            .order_by(Account.id.desc())
        ).first()
        assert spare is not None
        ids["spare"] = spare.id
        ids["item"] = (
            session.scalars(
                select(ReportItem.id).where(ReportItem.report_id == ids["report"])
            ).first()
            or 0
        )
        ids["email"] = (
            session.scalars(
                select(Notification.id).where(Notification.kind.startswith("guest-invite:"))
            ).first()
            or 0
        )
        # A Meta partner with its removal gathered: the batch page has someone to show.
        meta_partner = session.scalars(
            select(Partner).where(Partner.app_id == world.app_id).order_by(Partner.id)
        ).first()
        assert meta_partner is not None
        ids["meta_partner"] = meta_partner.id
        gather_partner_removal(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            partner_id=meta_partner.id,
            actor=Actor.user(world.admin_id),
            local_partner_id=ids["acme"],
        )
        # The app's own webhook endpoint (its owners manage it) with one delivery queued.
        ids["webhook"] = create_endpoint(
            session,
            world.runtime.require_key_ring(),
            workspace_id=world.workspace_id,
            url="https://hooks.example.test/matrix",
            events=["check.failed"],
            app_id=world.app_id,
            allow_loopback_http=False,
            actor=Actor.user(world.admin_id),
        ).endpoint.id
        [delivery] = emit_event(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            event_type="check.failed",
            data={"run_id": ids["run"]},
        )
        session.flush()
        ids["delivery"] = delivery.id
        review = Review(
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            kind=ReviewKind.FULL_CONTROL,
            subject_key="matrix",
            account_id=ids["other_account"],
            summary="A person was added with full control of the business (admin)",
            undo={"action": "remove"},
        )
        session.add(review)
        session.flush()
        ids["review"] = review.id
        # The agency whose own token the Partners tab adds (a native partner).
        from bastion.storage.models import Partner as MetaPartner

        ids["native_partner"] = session.scalars(
            select(MetaPartner.id).where(
                MetaPartner.app_id == world.app_id, MetaPartner.relation == "agency"
            )
        ).one()
    found = RoleWorld(world, people, api_tokens(world, people), ids, identities(world))
    jobs = Jobs(world.runtime)
    app = create_app(world.runtime, jobs=jobs)
    found.world.extra["app"] = app
    with serve_on_loopback(app) as base_url:
        found.web = {role: signed_in(base_url, world, p.email) for role, p in people.items()}
        found.world.extra["api"] = httpx.Client(base_url=base_url, timeout=60)
        yield found
        for client in [*found.web.values(), found.world.extra["api"]]:
            client.close()
    jobs.close()
    engine.dispose()


Check = Callable[[RoleWorld, str, httpx.Response], None]


@dataclass(frozen=True)
class Read:
    """A GET of ``path`` (its ids filled from the world): ``may`` are answered ``ok``, everyone
    else ``refused``. ``people``: the answer shows other people to admins and owners (so the leak
    check is not blind); ``own``: it shows the caller's own accounts."""

    path: str
    may: frozenset[str]
    query: str = ""
    account: str = "{account_id}"
    user: str = "{me}"
    dialog: str = ""
    refused: int = 403
    ok: int = 200
    people: bool = False
    own: bool = False
    check: Check | None = None
    htmx: bool = False
    partner: str = "{partner_id}"

    @property
    def url(self) -> str:
        path = self.path.replace("{account_id}", self.account).replace("{user_id}", self.user)
        path = path.replace("{partner_id}", self.partner)
        return path.replace("{dialog}", self.dialog) + self.query


@dataclass(frozen=True)
class Write:
    """A change: everyone outside ``may`` is refused with 403 and nothing is written."""

    method: str
    path: str
    may: frozenset[str]
    partner: str = "{partner_id}"
    account: str = "{account_id}"
    json: dict[str, Any] | None = None
    form: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        return self.path.replace("{partner_id}", self.partner).replace("{account_id}", self.account)


def _ids(response: httpx.Response) -> set[int]:
    body = response.json()
    return {item["id"] for item in (body["items"] if isinstance(body, dict) else body)}


def own_accounts_only(rw: RoleWorld, role: str, response: httpx.Response) -> None:
    if response.headers["content-type"].startswith("text/csv"):
        found = {int(row["id"]) for row in csv.DictReader(io.StringIO(response.text))}
    else:
        found = _ids(response)
    if role in SEES_PEOPLE:
        assert len(found) > 10
    else:
        assert found == rw.people[role].account_ids


def sees_the_app(rw: RoleWorld, role: str, response: httpx.Response) -> None:
    assert _ids(response) == {rw.app_id}


def own_local_partners(rw: RoleWorld, role: str, response: httpx.Response) -> None:
    names = {p["name"] for p in response.json()}
    expected = {
        "admin": {"Acme Agency", "Globex Partners"},
        "partner_guest": {"Acme Agency"},
    }.get(role, set())
    assert names == expected


def themselves(rw: RoleWorld, role: str, response: httpx.Response) -> None:
    assert response.json()["id"] == rw.people[role].user_id


A = "/api/v1"
OWNERS = SEES_PEOPLE
NATIVE_PARTNER = "{native_partner}"
DETAILS = SEES_DETAILS
DIRECTORY = frozenset({"admin", "owner"})
OTHER = "{other_account}"
META_PARTNER = "{meta_partner}"
REMOVAL = "/apps/{app_id}/partners/{partner_id}/removal"
MINE = "{own_account}"
HOLDERS = ALL - SEES_PEOPLE  # the world's admin and owner hold no account of their own
READS = [
    # --- web pages ----------------------------------------------------------------------------
    Read("/apps", ALL),
    Read("/apps/connect", ADMIN),
    Read("/apps/connect/meta_business", ADMIN),
    Read("/apps/{app_id}", ALL, ok=303),
    Read("/apps/{app_id}/settings", ALL),
    Read("/apps/{app_id}/progress", DETAILS, htmx=True),
    Read("/apps/{app_id}/members", ALL, "?tab={own_tab}", people=True, own=True),
    Read("/apps/{app_id}/members", ALL, "?tab=unmatched", people=True, htmx=True),
    Read("/apps/{app_id}/members/{account_id}/suggest", OWNERS, "?q=a", account=OTHER, htmx=True),
    *(
        Read("/apps/{app_id}/members/{account_id}/{dialog}", OWNERS, dialog=d, account=OTHER)
        for d in ("match", "exempt", "remove", "guest")
    ),
    Read("/apps/{app_id}/members/{account_id}/role", OWNERS, account=OTHER),
    Read("/apps/{app_id}/members/{account_id}/tasks", OWNERS, account=OTHER),
    Read("/apps/{app_id}/members/invite", OWNERS),
    Read("/apps/{app_id}/members/invitations", OWNERS, people=True),
    Read("/apps/{app_id}/assets", DETAILS),
    Read("/apps/{app_id}/assets/{asset_id}", OWNERS, people=True),
    Read("/apps/{app_id}/partners", DETAILS),
    Read("/apps/{app_id}/partners/{partner_id}/token", OWNERS, partner=NATIVE_PARTNER),
    Read(REMOVAL, OWNERS, partner=META_PARTNER, people=True),
    Read("/apps/{app_id}/history", DETAILS),
    Read("/apps/{app_id}/history/{run_id}", OWNERS, people=True),
    Read("/apps/{app_id}/report", OWNERS, people=True),
    Read("/apps/{app_id}/operations", OWNERS, people=True),
    Read("/apps/{app_id}/reviews", OWNERS),
    Read("/apps/{app_id}/reviews/{review_id}", OWNERS),
    # Every signed-in person; each sees the lines of the apps whose people they see.
    Read("/overview", ALL),
    Read("/directory", DIRECTORY, people=True),
    Read("/directory/people/{user_id}", ALL, own=True),
    Read("/directory/people/{user_id}", DIRECTORY, user="{stranger}", people=True),
    Read("/directory/teams", DIRECTORY),
    Read("/directory/tokens", ADMIN),
    Read("/directory/import", ADMIN),
    Read("/directory/sign-in", ADMIN),
    Read("/directory/partners", ADMIN | {"partner_guest"}, people=True),
    Read("/directory/partners/new", ADMIN),
    Read("/directory/partners/{partner_id}/invite", ADMIN | {"partner_guest"}),
    Read("/directory/guests/invite", ADMIN),
    Read("/directory/people/{user_id}/link", DIRECTORY, user="{guest_user}", people=True),
    Read("/activity", ADMIN, people=True),
    Read("/activity.csv", ADMIN, people=True),
    Read("/emails", ADMIN, people=True),
    Read("/emails/{email_id}", ADMIN, people=True),
    Read("/webhooks", READS_DIRECTORY),
    Read("/webhooks/{endpoint_id}", OWNERS),
    Read("/webhooks/deliveries/{delivery_id}", OWNERS),
    # A password app's saved login; the world's app signs in with SSO, so there is none to save.
    Read("/me/accounts/{account_id}/credentials", HOLDERS, account=MINE, own=True, refused=404),
    Read("/me/sign-in-again", ALL, "?next=/me/accounts"),
    Read("/me/accounts", ALL, own=True),
    Read("/me/accounts/{account_id}/connect", HOLDERS, account=MINE, own=True, refused=404),
    # The world's app holds no App secret, so a holder is told connecting needs it (400).
    Read("/me/accounts/{account_id}/connect/start", HOLDERS, account=MINE, ok=400, refused=404),
    # No attempt was started: every signed-in person is told so, and nothing is written.
    Read("/me/accounts/connect/callback", ALL, "?code=c&state=s", ok=400),
    Read("/account/password", ALL),
    # --- REST API -----------------------------------------------------------------------------
    Read(f"{A}/apps", ALL, check=sees_the_app),
    Read(f"{A}/apps/{{app_id}}", ALL),
    Read(f"{A}/apps/{{app_id}}/runs", DETAILS),
    Read(f"{A}/apps/{{app_id}}/changes", OWNERS, people=True),
    Read(f"{A}/apps/{{app_id}}/accounts", ALL, "?limit=500", own=True, check=own_accounts_only),
    Read(f"{A}/apps/{{app_id}}/accounts/export.csv", ALL, own=True, check=own_accounts_only),
    Read(f"{A}/accounts/{{account_id}}", ALL, account="{own_account}", own=True),
    Read(f"{A}/accounts/{{account_id}}", OWNERS, account=OTHER, refused=404, people=True),
    Read(f"{A}/accounts/{{account_id}}/blast-radius", OWNERS, account=OTHER),
    Read(f"{A}/apps/{{app_id}}/assets", DETAILS),
    Read(f"{A}/assets/{{asset_id}}/holders", OWNERS, people=True),
    Read(f"{A}/apps/{{app_id}}/partners", DETAILS),
    Read(f"{A}{REMOVAL}", OWNERS, partner=META_PARTNER, people=True),
    Read(f"{A}/local-partners", ALL, check=own_local_partners),
    Read(f"{A}/apps/{{app_id}}/reports", OWNERS),
    Read(f"{A}/reports/{{report_id}}", OWNERS, people=True),
    Read(f"{A}/apps/{{app_id}}/operations", OWNERS),
    Read(f"{A}/operations/{{operation_id}}", OWNERS),
    Read(f"{A}/apps/{{app_id}}/reviews", OWNERS),
    Read(f"{A}/reviews/{{review_id}}", OWNERS),
    Read(f"{A}/overview", ALL),
    Read(f"{A}/me", ALL, check=themselves),
    Read(f"{A}/me/accounts", ALL, own=True),
    Read(f"{A}/apps/{{app_id}}/credentials", OWNERS),
    Read(f"{A}/sso", ADMIN, ok=404),
    Read(f"{A}/directory/users", DIRECTORY, "?limit=500", people=True),
    Read(f"{A}/directory/users/{{user_id}}", ALL),
    Read(f"{A}/directory/users/{{user_id}}", DIRECTORY, user="{stranger}", people=True),
    Read(f"{A}/directory/users/{{user_id}}/accounts", ALL, own=True),
    Read(f"{A}/directory/users/{{user_id}}/accounts", DIRECTORY, user="{stranger}", people=True),
    Read(f"{A}/directory/teams", DIRECTORY),
    Read(f"{A}/audit-events", ADMIN, "?limit=1000", people=True),
    Read(f"{A}/audit-events/export", ADMIN, people=True),
    Read(f"{A}/emails", ADMIN, people=True),
    Read(f"{A}/emails/{{email_id}}", ADMIN, people=True),
    Read(f"{A}/webhooks", READS_DIRECTORY),
    Read(f"{A}/webhook-events", ALL),
    Read(f"{A}/webhooks/{{endpoint_id}}", OWNERS),
    Read(f"{A}/webhooks/{{endpoint_id}}/deliveries", OWNERS),
    Read(f"{A}/webhooks/deliveries/{{delivery_id}}", OWNERS),
]

NEW_CSV = ("people.csv", b"email,name\nnew@northwind.test,New Person\n", "text/csv")
TASKS = {"{asset_id}": ["ANALYZE"]}
# Nothing listens on port 9: the admin's save is refused naming the issuer, after the check.
SSO = {
    "display_name": "Okta",
    "issuer": "http://127.0.0.1:9",
    "client_id": "c",
    "client_secret": "s",
}
WRITES = [
    # --- web forms (each with the CSRF token) -------------------------------------------------
    Write("POST", "/apps/connect/meta_business", ADMIN),
    Write("POST", "/apps/{app_id}/settings", OWNERS, form={"label": "Northwind Meta"}),
    # A token Meta refuses (400 in the dialog), and no token to remove (400).
    Write(
        "POST",
        "/apps/{app_id}/partners/{partner_id}/token",
        OWNERS,
        partner=NATIVE_PARTNER,
        form={"token": "not-a-token"},
    ),
    Write(
        "POST", "/apps/{app_id}/partners/{partner_id}/token/remove", OWNERS, partner=NATIVE_PARTNER
    ),
    Write("POST", "/apps/{app_id}/check", OWNERS),
    Write("POST", "/apps/{app_id}/report/confirm", OWNERS, form={"report_id": "{report_id}"}),
    Write("POST", REMOVAL, OWNERS, partner=META_PARTNER),
    Write("POST", f"{REMOVAL}/confirm", OWNERS, partner=META_PARTNER),
    Write("POST", f"{REMOVAL}/apply", OWNERS, partner=META_PARTNER),
    Write("POST", "/apps/{app_id}/report/apply", OWNERS, form={"report_id": "{report_id}"}),
    Write(
        "POST",
        "/apps/{app_id}/report/dismiss",
        OWNERS,
        form={"report_id": "{report_id}", "item_id": "{item}", "reason": "matrix"},
    ),
    Write("POST", "/apps/{app_id}/operations/{operation_id}/retry", OWNERS),
    Write(
        "POST",
        "/apps/{app_id}/members/{account_id}/match",
        OWNERS,
        form={"user_id": "{collaborator}"},
    ),
    Write("POST", "/apps/{app_id}/members/{account_id}/reassign", OWNERS),
    Write("POST", "/apps/{app_id}/members/{account_id}/exempt", OWNERS, form={"reason": "matrix"}),
    Write("POST", "/apps/{app_id}/members/{account_id}/unexempt", OWNERS),
    Write(
        "POST",
        "/apps/{app_id}/members/{account_id}/guest",
        OWNERS,
        form={"email": "{role}.w@x.test"},
    ),
    Write("POST", "/apps/{app_id}/members/{account_id}/remove", OWNERS, form={"force": "yes"}),
    Write("POST", "/apps/{app_id}/members/{account_id}/role", OWNERS, form={"role": "EMPLOYEE"}),
    Write(
        "POST",
        "/apps/{app_id}/members/{account_id}/tasks",
        OWNERS,
        form={"asset": "{asset_id}", "task": "{asset_id}:ANALYZE"},
    ),
    Write("POST", "/apps/{app_id}/members/{account_id}/claim", OWNERS),
    Write("POST", "/apps/{app_id}/members/invite", OWNERS, form={"email": "{role}.wi@x.test"}),
    Write(
        "POST",
        "/apps/{app_id}/members/invitations/cancel-stale",
        OWNERS,
        form={"older_than_days": "3650"},
    ),
    Write("POST", "/directory/partners", ADMIN, form={"name": "Initech web {role}"}),
    Write(
        "POST",
        "/directory/partners/{partner_id}/invite",
        ADMIN | {"partner_guest"},
        form={"email": "{role}.wacme@acme.test"},
    ),
    Write(
        "POST",
        "/directory/partners/{partner_id}/invite",
        ADMIN,
        partner="{globex}",
        form={"email": "{role}.wglobex@globex.test"},
    ),
    Write("POST", "/directory/guests/invite", ADMIN, form={"email": "{role}.wg@outside.test"}),
    Write(
        "POST",
        "/directory/people/{user_id}/link",
        OWNERS,
        form={"account_id": "{account_id}"},
    ),
    Write(
        "POST",
        "/apps/{app_id}/members/bulk/confirm",
        OWNERS,
        form={"action": "exempt", "account_id": "{account_id}"},
    ),
    Write(
        "POST",
        "/apps/{app_id}/members/bulk",
        OWNERS,
        form={"action": "exempt", "account_id": "{account_id}", "reason": "matrix"},
    ),
    Write("POST", "/directory/tokens", ADMIN, form={"name": "matrix {role}"}),
    Write("POST", "/directory/tokens/{token_id}/revoke", ADMIN),
    Write("POST", "/directory/import", ADMIN, files={"file": NEW_CSV}),
    Write("POST", "/directory/import/apply", ADMIN, form={"csv_text": "email,name\n"}),
    Write("POST", "/directory/sign-in", ADMIN, form=SSO),
    Write("POST", "/directory/sign-in/remove", ADMIN),
    Write("PUT", f"{A}/sso", ADMIN, json=SSO),
    Write("DELETE", f"{A}/sso", ADMIN),
    Write("POST", "/emails/{email_id}/retry", ADMIN),
    Write(
        "POST",
        "/webhooks",
        OWNERS,
        form={
            "url": "https://hooks.example.test/{role}",
            "events": "check.failed",
            "app_id": "{app_id}",
        },
    ),
    Write("POST", "/webhooks/{endpoint_id}/disable", OWNERS),
    Write("POST", "/webhooks/{endpoint_id}/enable", OWNERS),
    Write("POST", "/webhooks/deliveries/{delivery_id}/redeliver", OWNERS),
    Write("POST", "/account/password", ALL, form={"current_password": "wrong"}),
    # Saved logins are their person's alone: owners and admins are refused too. The world's app
    # signs in with SSO (saving is 409) and nobody saved one (the rest are 404).
    *(
        Write("POST", f"/me/accounts/{{account_id}}/credentials{sub}", HOLDERS, account=MINE)
        for sub in ("", "/show", "/password", "/rotation", "/rotation/confirm")
    ),
    Write("POST", "/apps/{app_id}/credential-policy", OWNERS, form={"rotation_days": "90"}),
    # --- REST API -----------------------------------------------------------------------------
    Write(
        "POST",
        f"{A}/apps",
        ADMIN,
        json={
            "label": "Other",
            "token": "EAAno",
            "business_id": "1",
            "app_id": "2",
            "login_method": "sso",
        },
    ),
    Write("PATCH", f"{A}/apps/{{app_id}}", OWNERS, json={"label": "Northwind Meta"}),
    Write(
        "PUT",
        f"{A}/apps/{{app_id}}/partners/{{partner_id}}/token",
        OWNERS,
        partner=NATIVE_PARTNER,
        json={"token": "not-a-token"},
    ),
    Write(
        "DELETE",
        f"{A}/apps/{{app_id}}/partners/{{partner_id}}/token",
        OWNERS,
        partner=NATIVE_PARTNER,
    ),
    Write("POST", f"{A}/apps/{{app_id}}/checks", OWNERS),
    Write("POST", f"{A}/accounts/{{account_id}}/match", OWNERS, json={"user_id": "{collaborator}"}),
    Write("POST", f"{A}/accounts/{{account_id}}/unmatch", OWNERS),
    Write("POST", f"{A}/accounts/{{account_id}}/claim", OWNERS),
    Write("POST", f"{A}/accounts/{{account_id}}/exemption", OWNERS, json={"reason": "matrix"}),
    Write("DELETE", f"{A}/accounts/{{account_id}}/exemption", OWNERS),
    Write("POST", f"{A}/accounts/{{account_id}}/role", OWNERS, json={"role": "EMPLOYEE"}),
    Write("PUT", f"{A}/accounts/{{account_id}}/asset-tasks", OWNERS, json={"asset_tasks": TASKS}),
    Write("POST", f"{A}/accounts/{{account_id}}/guest", OWNERS, json={"email": "{role}.a@x.test"}),
    Write("POST", f"{A}/accounts/{{account_id}}/cancel-invitation", OWNERS),
    Write("POST", f"{A}/accounts/{{account_id}}/removal", OWNERS, json={"force": True}),
    Write("POST", f"{A}/apps/{{app_id}}/invitations", OWNERS, json={"email": "{role}.i@x.test"}),
    Write(
        "POST",
        f"{A}/apps/{{app_id}}/invitations/cancel-stale",
        OWNERS,
        json={"older_than_days": 3650},
    ),
    Write(
        "POST",
        f"{A}/apps/{{app_id}}/accounts/bulk",
        OWNERS,
        json={"action": "exempt", "account_ids": ["{account_id}"], "reason": "matrix"},
    ),
    Write("POST", f"{A}/local-partners", ADMIN, json={"name": "Initech {role}"}),
    Write(
        "POST",
        f"{A}/local-partners/{{partner_id}}/guests",
        ADMIN | {"partner_guest"},
        json={"email": "{role}.acme@acme.test"},
    ),
    Write(
        "POST",
        f"{A}/local-partners/{{partner_id}}/guests",
        ADMIN,
        partner="{globex}",
        json={"email": "{role}.globex@globex.test"},
    ),
    Write("POST", f"{A}/guests", ADMIN, json={"email": "{role}.g@outside.test"}),
    Write("POST", f"{A}/reports/{{report_id}}/apply", OWNERS, json={"item_ids": ["{item}"]}),
    Write("POST", f"{A}{REMOVAL}", OWNERS, partner=META_PARTNER, json={}),
    # Nothing kept: the batch closes without a change in the app.
    Write("POST", f"{A}{REMOVAL}/apply", OWNERS, partner=META_PARTNER, json={"item_ids": []}),
    Write(
        "POST",
        f"{A}/reports/{{report_id}}/dismiss",
        OWNERS,
        json={"item_ids": ["{item}"], "reason": "matrix"},
    ),
    # The first role allowed keeps the review; the others are told it is decided (not 403).
    Write("POST", "/apps/{app_id}/reviews/{review_id}/keep", OWNERS, form={"reason": "matrix"}),
    Write("POST", "/apps/{app_id}/reviews/{review_id}/revert", OWNERS),
    Write(
        "POST",
        f"{A}/reviews/{{review_id}}/decision",
        OWNERS,
        json={"decision": "keep", "reason": "matrix"},
    ),
    Write("POST", f"{A}/operations/{{operation_id}}/retry", OWNERS),
    Write("POST", f"{A}/operations/{{operation_id}}/done", OWNERS),
    Write("POST", f"{A}/emails/{{email_id}}/retry", ADMIN),
    Write(
        "POST",
        f"{A}/webhooks",
        OWNERS,
        json={
            "url": "https://hooks.example.test/{role}",
            "events": ["check.failed"],
            "app_id": "{app_id}",
        },
    ),
    Write("PATCH", f"{A}/webhooks/{{endpoint_id}}", OWNERS, json={"enabled": True}),
    Write("POST", f"{A}/webhooks/deliveries/{{delivery_id}}/redeliver", OWNERS),
    # Removed last of the webhook writes: the endpoint is gone for the rest (404).
    Write("POST", "/webhooks/{endpoint_id}/remove", OWNERS),
    Write("DELETE", f"{A}/webhooks/{{endpoint_id}}", OWNERS),
    Write(
        "PUT",
        f"{A}/accounts/{{account_id}}/credentials",
        HOLDERS,
        account=MINE,
        json={"login": "me@x.test", "password": "p"},
    ),
    # Nobody reveals with an API token: only a browser session signed in minutes ago.
    Write("POST", f"{A}/accounts/{{account_id}}/credentials/reveal", frozenset(), account=MINE),
    Write(
        "PUT",
        f"{A}/apps/{{app_id}}/credential-policy",
        OWNERS,
        json={"require_two_factor": True, "rotation_days": 90, "rotate_after_reveal": False},
    ),
    # Last: disconnecting ends every other write.
    Write("POST", "/apps/{app_id}/disconnect", OWNERS),
    Write("DELETE", f"{A}/apps/{{app_id}}", OWNERS),
]

# Routes about no app and no other person, with the reason.
NO_PERSON = {
    ("GET", "/healthz"): "process probe",
    ("GET", "/readyz"): "database probe",
    ("GET", "/openapi.json"): "the API's schema",
    ("GET", "/api/docs"): "the API's schema, browsable",
    ("GET", "/docs/oauth2-redirect"): "FastAPI's docs helper",
    ("MOUNT", "/static"): "stylesheet, script, icons",
    ("MOUNT", "/scim/v2"): "identity providers with a SCIM token, no person (tests/directory)",
    ("GET", "/"): "a redirect to /apps",
    ("GET", "/signin"): "the sign-in form",
    ("POST", "/signin"): "signing in",
    ("POST", "/signout"): "ends the caller's own session",
    ("GET", "/guest/set-password"): "the form behind a guest's e-mailed link",
    ("POST", "/guest/set-password"): "a guest's link sets their own password",
    ("GET", "/signin/sso/{workspace}"): "starts a sign-in at the workspace's identity provider",
    ("GET", "/signin/sso/callback"): "the identity provider's answer to a sign-in",
    ("POST", "/signin/email-link"): "asks for a sign-in link (the answer names nobody)",
    ("GET", "/signin/email-link"): "the page behind an e-mailed sign-in link",
    ("POST", "/signin/email-link/use"): "a sign-in link opens its own person's session",
    ("GET", "/metrics"): "Prometheus with BASTION_METRICS_TOKEN; counts, no person (tests/metrics)",
}


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, nested routers flattened."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.165 keeps included routes flat
        contexts: Any = app.routes
    else:
        contexts = iter_route_contexts(app.routes)
    found = set()
    for route in contexts:
        methods = getattr(route, "methods", None)
        if not methods:
            found.add(("MOUNT", route.path))
            continue
        found |= {(m, route.path) for m in methods if m != "HEAD"}
    return found


def fill(rw: RoleWorld, role: str, text: str) -> str:
    """Put the world's ids into a route's placeholders, as the caller ``role`` would."""
    person, ids = rw.people[role], rw.ids
    values = {
        "app_id": rw.app_id,
        "asset_id": ids["asset"],
        "run_id": ids["run"],
        "report_id": ids["report"],
        "operation_id": ids["operation"],
        "token_id": ids["scim_token"],
        "partner_id": ids["acme"],
        "native_partner": ids["native_partner"],
        "meta_partner": ids["meta_partner"],
        "account_id": ids["spare"],
        "other_account": ids["other_account"],
        "own_account": min(person.account_ids, default=ids["other_account"]),
        "own_tab": person.tab,
        "item": ids["item"],
        "review_id": ids["review"],
        "email_id": ids["email"],
        "endpoint_id": ids["webhook"],
        "delivery_id": ids["delivery"],
        "globex": ids["globex"],
        "stranger": ids["stranger"],
        "me": person.user_id,
        "collaborator": rw.people["collaborator"].user_id,
        "guest_user": rw.people["guest"].user_id,
        "user_id": rw.people["guest"].user_id,
        "role": role,
    }
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    assert "{" not in text, f"no value for a placeholder in {text}"
    return text


def filled(rw: RoleWorld, role: str, value: Any) -> Any:
    if isinstance(value, str):
        text = fill(rw, role, value)
        return int(text) if text.isdigit() and value.startswith("{") else text
    if isinstance(value, dict):
        return {fill(rw, role, k): filled(rw, role, v) for k, v in value.items()}
    if isinstance(value, list):
        return [filled(rw, role, v) for v in value]
    return value


def ask(
    rw: RoleWorld, role: str, url: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    if url.startswith(A):
        client: httpx.Client = rw.world.extra["api"]
        return client.get(url, headers={**rw.api_headers(role), **(headers or {})})
    return rw.web[role].get(url, headers=headers or {})


def send(rw: RoleWorld, role: str, write: Write) -> httpx.Response:
    url = fill(rw, role, write.url)
    if url.startswith(A):
        client: httpx.Client = rw.world.extra["api"]
        return client.request(
            write.method, url, json=filled(rw, role, write.json), headers=rw.api_headers(role)
        )
    client = rw.web[role]
    form = {k: fill(rw, role, str(v)) for k, v in write.form.items()}
    return client.request(
        write.method, url, data={**form, "csrftoken": csrf(client)}, files=write.files
    )


def audit_rows(rw: RoleWorld) -> int:
    with rw.world.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _matrix_of(rw: RoleWorld, entries: list[Read]) -> list[str]:
    """Every disagreement between the matrix and the app, as lines of a report."""
    wrong = []
    for read in entries:
        for role in ROLES:
            url = fill(rw, role, read.url)
            response = ask(rw, role, url)
            expected = read.ok if role in read.may else read.refused
            if response.status_code != expected:
                wrong.append(f"{role} GET {url}: {response.status_code}, expected {expected}")
                continue
            leaked = rw.leaked(role, response.text)
            if role not in SEES_PEOPLE and leaked:
                wrong.append(f"{role} GET {url} shows other people: {sorted(leaked)[:5]}")
            if read.people and role in read.may and role in SEES_PEOPLE and not leaked:
                wrong.append(f"{role} GET {url} shows nobody (is the leak check blind?)")
            if read.own and role in read.may and role not in SEES_PEOPLE:
                text = html.unescape(response.text)
                if not any(n in text for n in _account_names(rw, rw.people[role].account_ids)):
                    wrong.append(f"{role} GET {url} does not show their own account")
            if role in read.may and read.check is not None:
                try:
                    read.check(rw, role, response)
                except AssertionError as exc:
                    wrong.append(f"{role} GET {url}: {exc!r}")
            refused = role not in read.may and url.startswith(A) and expected == 403
            if refused and response.json()["error"]["code"] != "permission_denied":
                wrong.append(f"{role} GET {url}: not the API's error body")
    return wrong


def _account_names(rw: RoleWorld, account_ids: set[int]) -> set[str]:
    with rw.world.runtime.sessions() as session:
        rows = session.scalars(select(Account).where(Account.id.in_(account_ids)))
        return {text for a in rows for text in (a.name, a.email or "") if text}


def test_every_route_is_in_the_matrix(rw: RoleWorld) -> None:
    served = served_routes(rw.world.extra["app"])
    listed = {("GET", r.path) for r in READS} | {(w.method, w.path) for w in WRITES}
    assert not listed & set(NO_PERSON)
    assert served - listed - set(NO_PERSON) == set(), "routes nobody asked about"
    assert (listed | set(NO_PERSON)) - served == set(), "matrix entries for routes that are gone"


def test_each_role_reads_exactly_what_it_may_on_every_page(rw: RoleWorld) -> None:
    wrong = _matrix_of(rw, [r for r in READS if not r.path.startswith(A)])
    assert wrong == [], "\n".join(wrong)


def test_each_role_reads_exactly_what_it_may_through_the_api(rw: RoleWorld) -> None:
    wrong = _matrix_of(rw, [r for r in READS if r.path.startswith(A)])
    assert wrong == [], "\n".join(wrong)


def test_a_refused_htmx_partial_is_a_notice_and_shows_nobody(rw: RoleWorld) -> None:
    for read in (r for r in READS if r.htmx):
        for role in ROLES:
            url = fill(rw, role, read.url)
            response = ask(rw, role, url, {"HX-Request": "true", "HX-Target": "members-table"})
            assert response.status_code == 200, (role, url)
            assert not (role not in SEES_PEOPLE and rw.leaked(role, response.text)), (role, url)
            if role not in read.may:
                assert response.headers["hx-retarget"] == "#flash", (role, url)
                assert "needs" in response.text, (role, url)


def test_every_write_is_refused_to_the_roles_that_may_not_and_changes_nothing(
    rw: RoleWorld,
) -> None:
    before = audit_rows(rw)
    wrong = []
    for write in WRITES:
        for role in ROLES:
            if role in write.may:
                continue
            response = send(rw, role, write)
            if response.status_code != 403:
                wrong.append(f"{role} {write.method} {write.url}: {response.status_code}")
            elif (
                write.url.startswith(A) and response.json()["error"]["code"] != "permission_denied"
            ):
                wrong.append(f"{role} {write.method} {write.url}: not the API's error body")
    assert wrong == [], "\n".join(wrong)
    assert audit_rows(rw) == before


def test_every_write_passes_the_permission_check_for_the_roles_that_may(rw: RoleWorld) -> None:
    """Last in the module: these change the world (the final two disconnect the app)."""
    wrong = []
    for write in WRITES:
        for role in sorted(write.may, key=lambda r: r == "admin"):
            response = send(rw, role, write)
            if response.status_code == 403 or response.status_code >= 500:
                wrong.append(f"{role} {write.method} {write.url}: {response.status_code}")
    assert wrong == [], "\n".join(wrong)
