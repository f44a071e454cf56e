"""The admin dialogs of the web: business role (with its confirm step), asset tasks, inviting a
person, pending invitations, claiming one's account, local partners, the report's confirmation,
the Settings tab's auto-cancel and connecting a business twice. Jobs run at once, so what a
dialog queues has reached the simulator when the answer comes."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from bastion.storage.models import (
    Account,
    App,
    Asset,
    Grant,
    LocalPartner,
    Operation,
    Report,
    ReportItem,
    User,
    utcnow,
)
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AssetType,
    OperationKind,
    OperationState,
    ReportItemState,
    ReportState,
)
from tests.checks.conftest import World
from tests.members.member_world import accounts
from tests.web.web_support import post

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def checked(world: World) -> None:
    world.check()


def text(response: httpx.Response) -> str:
    return html.unescape(response.text)


def members_url(world: World, rest: str = "") -> str:
    return f"/apps/{world.app_id}/members{rest}"


def unmatched_employee(world: World) -> Account:
    return next(
        a
        for a in accounts(world, state=AccountState.UNMATCHED, kind=AccountKind.PERSON)
        if a.app_role == "EMPLOYEE"
    )


def role_in_meta(world: World, external_id: str) -> str:
    return next(p["role"] for p in world.sim.dump()["people"] if p["id"] == external_id)


def test_the_role_dialog_asks_before_giving_full_control_to_an_unmatched_account(
    admin: httpx.Client, world: World
) -> None:
    stranger = unmatched_employee(world)
    url = members_url(world, f"/{stranger.id}/role")
    opened = admin.get(url, headers=HTMX)
    assert opened.status_code == 200 and 'value="ADMIN"' in opened.text
    assert "Nobody in your directory vouches for this account" in text(opened)
    as_page = admin.get(url)
    assert as_page.status_code == 200 and "<html" in as_page.text

    asked = post(admin, url, {"role": "ADMIN"})
    assert asked.status_code == 409
    page = text(asked)
    assert "Confirm full control." in page and "it is unmatched" in page
    assert 'name="confirm_unvouched"' in page and "Give full control" in page
    assert role_in_meta(world, stranger.external_id) == "EMPLOYEE"

    done = post(admin, url, {"role": "ADMIN", "confirm_unvouched": "yes"})
    assert done.status_code == 303
    assert role_in_meta(world, stranger.external_id) == "ADMIN"


def test_the_role_dialog_in_htmx_keeps_its_confirm_step_inside_the_dialog(
    admin: httpx.Client, world: World
) -> None:
    stranger = unmatched_employee(world)
    asked = admin.post(
        members_url(world, f"/{stranger.id}/role"),
        data={"role": "ADMIN", "csrftoken": admin.cookies["bastion_csrf"]},
        headers=HTMX,
    )
    assert asked.status_code == 200  # htmx swaps 2xx only
    assert "data-confirm-step" in asked.text and "<html" not in asked.text


def _account_with_ad_account_grant(world: World) -> tuple[Account, Grant]:
    with world.runtime.sessions() as session:
        return next(
            (a, g)
            for a, g, t in session.execute(
                select(Account, Grant, Asset.type)
                .join(Grant, Grant.account_id == Account.id)
                .join(Asset, Asset.id == Grant.asset_id)
                .where(Account.app_id == world.app_id, Grant.present.is_(True))
                .where(Account.state == AccountState.ONBOARDED)
                .order_by(Grant.id)
            )
            if t == AssetType.AD_ACCOUNT and "ADVERTISE" in g.tasks
        )


def test_the_tasks_dialog_lists_the_assets_and_sets_exactly_the_ticked_tasks(
    admin: httpx.Client, world: World
) -> None:
    account, grant = _account_with_ad_account_grant(world)
    url = members_url(world, f"/{account.id}/tasks")
    opened = admin.get(url, headers=HTMX)
    assert opened.status_code == 200
    assert f'value="{grant.asset_id}:ADVERTISE" checked' in opened.text
    assert "(full control)" in opened.text and "Add an asset" in opened.text

    with world.runtime.sessions() as session:
        other = session.scalars(
            select(Asset)
            .where(Asset.app_id == world.app_id, Asset.type == AssetType.CATALOG)
            .order_by(Asset.id)
        ).first()
    assert other is not None
    added = admin.get(
        url,
        params=[
            ("asset", str(grant.asset_id)),
            ("task", f"{grant.asset_id}:ANALYZE"),
            ("add", str(other.id)),
        ],
        headers=HTMX,
    )
    assert f'name="asset" value="{other.id}"' in added.text
    assert f'value="{grant.asset_id}:ANALYZE" checked' in added.text
    assert f'value="{grant.asset_id}:ADVERTISE" checked' not in added.text

    unchanged = post(
        admin,
        url,
        {"asset": [str(grant.asset_id)], "task": [f"{grant.asset_id}:{t}" for t in grant.tasks]},
    )
    assert unchanged.status_code == 400 and "nothing changed" in text(unchanged)

    saved = post(
        admin,
        url,
        {
            "asset": [str(grant.asset_id), str(other.id)],
            "task": [f"{grant.asset_id}:ANALYZE", f"{other.id}:ADVERTISE"],
            "force": "yes",
        },
    )
    assert saved.status_code == 303, text(saved)
    world.check()
    with world.runtime.sessions() as session:
        held = dict(
            session.execute(
                select(Grant.asset_id, Grant.tasks).where(
                    Grant.account_id == account.id, Grant.present.is_(True)
                )
            ).all()
        )
    assert held[grant.asset_id] == ["ANALYZE"]
    assert "ADVERTISE" in held[other.id]


def test_the_tasks_dialog_asks_before_giving_manage_to_an_unmatched_account(
    admin: httpx.Client, world: World
) -> None:
    stranger = unmatched_employee(world)
    with world.runtime.sessions() as session:
        asset = session.scalars(
            select(Asset).where(Asset.app_id == world.app_id, Asset.type == AssetType.PAGE)
        ).first()
    assert asset is not None
    url = members_url(world, f"/{stranger.id}/tasks")
    form = {"asset": [str(asset.id)], "task": [f"{asset.id}:MANAGE"]}
    asked = post(admin, url, form)
    assert asked.status_code == 409
    assert "Confirm full control." in text(asked) and f"MANAGE on {asset.name}" in text(asked)
    with world.runtime.sessions() as session:
        assert session.scalar(select(Operation.id).limit(1)) is None
    assert post(admin, url, {**form, "confirm_unvouched": "yes"}).status_code == 303
    with world.runtime.sessions() as session:
        kinds = list(session.scalars(select(Operation.kind)))
    assert kinds == [OperationKind.GRANT_TASKS]


def test_an_admin_invites_a_person_with_a_role_and_tasks(admin: httpx.Client, world: World) -> None:
    url = members_url(world, "/invite")
    opened = admin.get(url, headers=HTMX)
    assert opened.status_code == 200 and 'name="email"' in opened.text
    with world.runtime.sessions() as session:
        asset = session.scalars(
            select(Asset).where(Asset.app_id == world.app_id, Asset.type == AssetType.AD_ACCOUNT)
        ).first()
    assert asset is not None
    with_asset = admin.get(url, params={"email": "new.hire@northwind.test", "add": asset.id})
    assert 'value="new.hire@northwind.test"' in with_asset.text
    assert f'value="{asset.id}:ANALYZE"' in with_asset.text

    bad = post(admin, url, {"email": "not an e-mail", "role": "EMPLOYEE"})
    assert bad.status_code == 400 and "email" in text(bad)
    sent = post(
        admin,
        url,
        {
            "email": "new.hire@northwind.test",
            "role": "EMPLOYEE",
            "asset": [str(asset.id)],
            "task": [f"{asset.id}:ANALYZE"],
        },
    )
    assert sent.status_code == 303
    invited = [
        i for i in world.sim.dump()["invitations"] if i["email"] == "new.hire@northwind.test"
    ]
    assert len(invited) == 1 and invited[0]["role"] == "EMPLOYEE"
    world.check()
    again = post(admin, url, {"email": "new.hire@northwind.test", "role": "EMPLOYEE"})
    assert again.status_code == 400 and "already has a seat or an invitation" in text(again)


def test_pending_invitations_show_their_age_and_the_old_ones_are_cancelled(
    admin: httpx.Client, world: World
) -> None:
    invitations = accounts(world, kind=AccountKind.INVITATION)
    old = invitations[0]
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(Account)
            .where(Account.id == old.id)
            .values(created_at=utcnow() - timedelta(days=45))
        )
    url = members_url(world, "/invitations")
    opened = text(admin.get(url, params={"older_than_days": "30"}, headers=HTMX))
    assert "45 days" in opened and opened.count("Will be cancelled") == 1
    assert "Cancel 1 invitation in Meta" in opened
    assert "cancelled only from here" in opened
    everything = text(admin.get(url, params={"older_than_days": "0"}, headers=HTMX))
    assert f"Cancel {len(invitations)} invitations in Meta" in everything

    done = post(admin, members_url(world, "/invitations/cancel-stale"), {"older_than_days": "30"})
    assert done.status_code == 303
    statuses = {i["id"]: i["status"] for i in world.sim.dump()["invitations"]}
    assert statuses.pop(old.external_id) == "CANCELED"
    assert "CANCELED" not in statuses.values()
    bad = post(admin, members_url(world, "/invitations/cancel-stale"), {"older_than_days": "soon"})
    assert bad.status_code == 400 and "whole number" in text(bad)


def test_the_settings_tab_sets_the_age_past_which_checks_cancel_invitations(
    admin: httpx.Client, world: World
) -> None:
    settings = f"/apps/{world.app_id}/settings"
    assert 'name="auto_cancel_invitations_days"' in admin.get(settings).text
    form = {
        "label": "Northwind Meta",
        "schedule": "daily",
        "check_time": "06:00",
        "safeguard_threshold_percent": "20",
        "login_method": "sso",
    }
    assert post(admin, settings, {**form, "auto_cancel_invitations_days": "14"}).status_code == 303
    assert world.app().auto_cancel_invitations_days == 14
    refused = post(admin, settings, {**form, "auto_cancel_invitations_days": "0"})
    assert refused.status_code == 400 and "between 1 and 3650" in text(refused)
    assert post(admin, settings, {**form, "auto_cancel_invitations_days": ""}).status_code == 303
    assert world.app().auto_cancel_invitations_days is None


def test_an_admin_claims_their_own_account_from_the_match_dialog(
    admin: httpx.Client, world: World
) -> None:
    target = unmatched_employee(world)
    opened = admin.get(members_url(world, f"/{target.id}/match"), headers=HTMX)
    assert "claim as Owner" in opened.text
    claimed = post(admin, members_url(world, f"/{target.id}/claim"))
    assert claimed.status_code == 303
    account = accounts(world, id=target.id)[0]
    assert account.matched_user_id == world.admin_id and account.state == AccountState.ONBOARDED


def test_local_partners_are_created_their_guests_invited_and_linked(
    admin: httpx.Client, world: World
) -> None:
    page = admin.get("/directory/partners")
    assert page.status_code == 200 and "No local partners" in page.text
    assert admin.get("/directory/partners/new", headers=HTMX).status_code == 200
    assert post(admin, "/directory/partners", {"name": " "}).status_code == 400
    assert post(admin, "/directory/partners", {"name": "Acme Agency"}).status_code == 303
    with world.runtime.sessions() as session:
        partner = session.scalars(select(LocalPartner)).one()
    invite_url = f"/directory/partners/{partner.id}/invite"
    assert "Partner admin" in admin.get(invite_url, headers=HTMX).text
    invited = post(
        admin, invite_url, {"email": "pat@acme.test", "name": "Pat Partner", "partner_admin": "yes"}
    )
    assert invited.status_code == 303
    assert post(admin, "/directory/guests/invite", {"email": "fay@outside.test"}).status_code == 303
    listed = text(admin.get("/directory/partners"))
    assert "Acme Agency" in listed and "pat@acme.test" in listed and "Partner admin" in listed
    assert "Guest users of no partner" in listed and "fay@outside.test" in listed

    with world.runtime.sessions() as session:
        pat = session.scalars(select(User).where(User.email_key == "pat@acme.test")).one()
    target = unmatched_employee(world)
    link_url = f"/directory/people/{pat.id}/link"
    dialog = admin.get(link_url, headers=HTMX)
    assert f'<option value="{target.id}">' in dialog.text and "Northwind Meta" in dialog.text
    assert post(admin, link_url, {}).status_code == 400
    assert post(admin, link_url, {"account_id": str(target.id)}).status_code == 303
    account = accounts(world, id=target.id)[0]
    assert account.state == AccountState.GUEST and account.matched_user_id == pat.id
    assert (target.name or target.email or "") in text(admin.get("/directory/partners"))
    assert admin.get(f"/directory/people/{world.admin_id}/link").status_code == 404


def _open_report(world: World) -> Report:
    with world.runtime.sessions() as session:
        return session.scalars(select(Report).where(Report.state == ReportState.OPEN)).one()


def test_applying_the_report_says_how_many_people_and_seats_it_removes_first(
    admin: httpx.Client, world: World
) -> None:
    report = _open_report(world)
    with world.runtime.sessions() as session:
        items = list(session.scalars(select(ReportItem).where(ReportItem.report_id == report.id)))
    page = text(admin.get(f"/apps/{world.app_id}/report"))
    assert f"/apps/{world.app_id}/report/confirm" in page

    confirm = admin.post(
        f"/apps/{world.app_id}/report/confirm",
        data={"report_id": report.id, "scope": "all", "csrftoken": admin.cookies["bastion_csrf"]},
        headers=HTMX,
    )
    shown = text(confirm)
    assert confirm.status_code == 200 and "data-apply-counts" in shown
    seats = len(items)
    people = len({i.user_id for i in items})
    assert re.search(rf"{people} (person|people): {seats} seats?", shown), shown
    token = re.search(r'name="confirmed" value="([^"]*)"', confirm.text)
    assert token is not None

    # Without the confirmation (an old tab, a plain form), the counts are shown, nothing applied.
    unconfirmed = post(admin, f"/apps/{world.app_id}/report/apply", {"report_id": report.id})
    assert unconfirmed.status_code == 200 and "data-apply-counts" in unconfirmed.text
    with world.runtime.sessions() as session:
        assert session.scalar(select(Operation.id).limit(1)) is None

    applied = post(
        admin,
        f"/apps/{world.app_id}/report/apply",
        {
            "report_id": report.id,
            "scope": "selected",
            "item_id": [str(i.id) for i in items],
            "confirmed": token.group(1),
        },
    )
    assert applied.status_code == 303
    with world.runtime.sessions() as session:
        states = set(
            session.scalars(select(ReportItem.state).where(ReportItem.report_id == report.id))
        )
        ops = list(session.scalars(select(Operation.state)))
    assert states <= {ReportItemState.APPLYING, ReportItemState.APPLIED}
    assert len(ops) == seats and set(ops) == {OperationState.SUCCEEDED}


def test_connecting_a_business_already_connected_names_the_app_holding_it(
    admin: httpx.Client, world: World
) -> None:
    answer = post(
        admin,
        "/apps/connect/meta_business",
        {
            "label": "Northwind twice",
            "token": world.sim.token,
            "business_id": world.sim.business_id,
            "app_id": world.sim.app_id,
            "login_method": "sso",
        },
    )
    assert answer.status_code == 409
    page = text(answer)
    assert "already connected as the app 'Northwind Meta'" in page
    assert world.sim.token not in answer.text
    with world.runtime.sessions() as session:
        assert len(session.scalars(select(App)).all()) == 1
