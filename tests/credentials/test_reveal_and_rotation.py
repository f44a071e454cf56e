"""Revealing a saved login (a fresh sign-in of the person's own session, nobody else, every
reveal and copy audited), the app's policy (owners only), rotation due by days and after a
reveal, starting and confirming one, and the overdue e-mails, each once."""

from __future__ import annotations

import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import update

from bastion.actions.credential_rotation import (
    confirm_rotation,
    remind_overdue_rotations,
    start_rotation,
)
from bastion.actions.credentials import (
    ReauthenticationRequired,
    Reveal,
    RevealedCredential,
    reveal,
    save_credentials,
    set_credential_policy,
)
from bastion.credential_status import RotationState, credential_statuses
from bastion.email_delivery import send_due_notifications
from bastion.errors import Conflict, PermissionDenied
from bastion.storage.models import App, Credential, WebSession, utcnow
from tests.credentials.vault_world import PIA_LOGIN, PIA_PASSWORD, Vault


def saved(vault: Vault, *, totp: bool = True) -> None:
    with vault.world.runtime.sessions.begin() as session:
        save_credentials(
            session,
            vault.ring,
            account_id=vault.pia_account,
            actor=vault.actor(vault.pia),
            login=PIA_LOGIN,
            password=PIA_PASSWORD,
            totp=vault.pia_key if totp else None,
            totp_code=vault.code() if totp else None,
        )


def shown(
    vault: Vault,
    browser: WebSession | None,
    *,
    user_id: int | None = None,
    fields: Reveal = Reveal.PASSWORD,
    copied: bool = False,
) -> RevealedCredential:
    with vault.world.runtime.sessions() as session:
        try:
            return reveal(
                session,
                vault.ring,
                account_id=vault.pia_account,
                actor=vault.actor(user_id or vault.pia),
                web_session=browser,
                fields=fields,
                copied=copied,
            )
        finally:
            session.commit()


def policy(vault: Vault, user_id: int | None = None, **values: object) -> App:
    settings = {"require_two_factor": True, "rotation_days": None, "rotate_after_reveal": False}
    settings.update(values)
    with vault.world.runtime.sessions.begin() as session:
        app = set_credential_policy(
            session,
            app_id=vault.world.app_id,
            actor=vault.actor(user_id or vault.owner),
            workspace_id=vault.world.workspace_id,
            **settings,  # type: ignore[arg-type]
        )
        session.expunge(app)
        return app


def rotation(vault: Vault) -> RotationState:
    with vault.world.runtime.sessions() as session:
        app = session.get_one(App, vault.world.app_id)
        found = credential_statuses(session, actor=vault.actor(vault.owner), app=app)
        return found[vault.pia_account].rotation


def backdate(vault: Vault, **columns: object) -> None:
    with vault.world.runtime.sessions.begin() as session:
        session.execute(update(Credential).values(**columns))


def test_a_fresh_sign_in_reveals_the_login_the_password_and_the_current_code(
    vault: Vault,
) -> None:
    saved(vault)
    before = time.time()
    found = shown(vault, vault.browser(vault.pia, signed_in_ago=timedelta(minutes=4)))
    after = time.time()
    assert found.login == PIA_LOGIN and found.password == PIA_PASSWORD
    assert found.code is not None
    totp = pyotp.TOTP(vault.pia_key)
    assert found.code.code in {totp.at(before), totp.at(after)}
    assert 1 <= found.code.seconds_left <= 30 and found.code.interval == 30
    (event,) = vault.events("credential.revealed")
    assert event.details == {"account": vault.pia_account, "fields": "password"}
    assert event.actor == f"user:{vault.pia}"


def test_a_sign_in_older_than_five_minutes_must_be_made_again(vault: Vault) -> None:
    saved(vault)
    stale = vault.browser(vault.pia, signed_in_ago=timedelta(minutes=6))
    with pytest.raises(ReauthenticationRequired) as refused:
        shown(vault, stale)
    assert "Sign in again" in refused.value.message
    (event,) = vault.events("credential.reveal_refused")
    assert event.details["problem"] == "stale_sign_in"
    assert vault.events("credential.revealed") == []
    with pytest.raises(ReauthenticationRequired):
        shown(vault, None)  # no browser session at all (an API token)
    with pytest.raises(ReauthenticationRequired):
        shown(vault, vault.browser(vault.cora))  # someone else's fresh session


@pytest.mark.parametrize("who", ["cora", "owner", "admin"])
def test_only_the_person_reads_their_login_not_a_collaborator_an_owner_or_an_admin(
    vault: Vault, who: str
) -> None:
    saved(vault)
    user_id = getattr(vault, who)
    with pytest.raises(PermissionDenied) as refused:
        shown(vault, vault.browser(user_id), user_id=user_id)
    assert not isinstance(refused.value, ReauthenticationRequired)
    assert vault.events("credential.revealed") == vault.events("credential.copied") == []


def test_the_login_view_holds_no_password_and_a_copy_is_audited_as_a_copy(vault: Vault) -> None:
    saved(vault)
    browser = vault.browser(vault.pia)
    view = shown(vault, browser, fields=Reveal.LOGIN)
    assert view.password is None and view.login == PIA_LOGIN
    copy = shown(vault, browser, copied=True)
    assert copy.password == PIA_PASSWORD
    (viewed,) = vault.events("credential.revealed")
    (copied,) = vault.events("credential.copied")
    assert viewed.details["fields"] == "login" and copied.details["fields"] == "password"


def test_a_rotation_is_due_after_the_days_the_policy_gives(vault: Vault) -> None:
    saved(vault)
    assert rotation(vault) == RotationState.NOT_SCHEDULED
    policy(vault, rotation_days=30)
    assert rotation(vault) == RotationState.SCHEDULED
    backdate(vault, password_set_at=utcnow() - timedelta(days=30.5))
    policy(vault, rotation_days=30, require_two_factor=False)  # recomputes the due date
    assert rotation(vault) == RotationState.DUE
    backdate(vault, password_set_at=utcnow() - timedelta(days=32))
    policy(vault, rotation_days=30)
    assert rotation(vault) == RotationState.OVERDUE


def test_a_rotation_is_due_after_a_reveal_where_the_app_rotates_after_reveals(
    vault: Vault,
) -> None:
    saved(vault)
    policy(vault, rotate_after_reveal=True)
    browser = vault.browser(vault.pia)
    shown(vault, browser, fields=Reveal.LOGIN)  # the login name and code alone: no password
    assert rotation(vault) == RotationState.NOT_SCHEDULED
    shown(vault, browser, copied=True)
    assert rotation(vault) == RotationState.DUE


def test_starting_a_rotation_makes_a_strong_password_and_confirming_saves_it(
    vault: Vault,
) -> None:
    saved(vault)
    with vault.world.runtime.sessions() as session, pytest.raises(Conflict):
        start_rotation(
            session, vault.ring, account_id=vault.pia_account, actor=vault.actor(vault.pia)
        )
    policy(vault, rotate_after_reveal=True)
    browser = vault.browser(vault.pia)
    shown(vault, browser)
    secrets_before = vault.credential_secrets()
    with vault.world.runtime.sessions.begin() as session:
        start_rotation(
            session, vault.ring, account_id=vault.pia_account, actor=vault.actor(vault.pia)
        )
    with vault.world.runtime.sessions.begin() as session:
        start_rotation(
            session, vault.ring, account_id=vault.pia_account, actor=vault.actor(vault.pia)
        )
    assert vault.credential_secrets() == secrets_before + 1  # the second start replaced the first
    assert rotation(vault) == RotationState.STARTED
    new = shown(vault, browser, fields=Reveal.NEW_PASSWORD, copied=True).password
    assert new is not None and new != PIA_PASSWORD and len(new) >= 20
    assert any(c.isupper() for c in new) and any(c.isdigit() for c in new)
    assert shown(vault, browser).password == PIA_PASSWORD  # kept until confirmed
    with vault.world.runtime.sessions.begin() as session:
        confirm_rotation(session, account_id=vault.pia_account, actor=vault.actor(vault.pia))
    assert shown(vault, browser, copied=True).password == new
    assert vault.credential_secrets() == secrets_before
    assert len(vault.events("credential.rotated")) == 1
    assert [e.details["again"] for e in vault.events("credential.rotation_started")] == [
        False,
        True,
    ]


def test_overdue_rotations_e_mail_the_person_then_the_owners_each_once(vault: Vault) -> None:
    saved(vault)
    policy(vault, rotation_days=30)
    backdate(vault, password_set_at=utcnow() - timedelta(days=40))
    policy(vault, rotation_days=30, require_two_factor=False)
    runtime = vault.world.runtime

    def remind(days_later: float) -> int:
        with runtime.sessions.begin() as session:
            return remind_overdue_rotations(
                session, now=utcnow() + timedelta(days=days_later), base_url="http://bastion.test"
            )

    assert remind(0) == 1
    assert remind(0) == 0
    assert remind(1) == 0  # the owners hear of it three days after the person
    assert remind(3.1) == 1
    assert remind(10) == 0
    send_due_notifications(runtime.sessions, runtime.settings)
    messages = [m for m in vault.world.mailbox.messages if "password" in str(m["Subject"])]
    recipients = sorted(str(m["To"]) for m in messages)
    assert recipients == [
        "otto.owner@northwind.test, owner@northwind.test",
        "pia.person@northwind.test",
    ]
    for message in messages:
        body = message.as_string()
        assert PIA_PASSWORD not in body and PIA_LOGIN not in body and vault.pia_key not in body
    assert "/me/accounts/" in messages[0].as_string()


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_owners_and_admins_set_the_policy_and_it_is_audited(vault: Vault, who: str) -> None:
    app = policy(vault, getattr(vault, who), rotation_days=90, rotate_after_reveal=True)
    assert (app.rotation_days, app.rotate_after_reveal) == (90, True)
    (event,) = vault.events("app.credential_policy_changed")
    assert event.details["after"] == {
        "require_two_factor": True,
        "rotation_days": 90,
        "rotate_after_reveal": True,
    }


@pytest.mark.parametrize("who", ["pia", "cora", "guest"])
def test_nobody_else_sets_the_policy(vault: Vault, who: str) -> None:
    with pytest.raises(PermissionDenied):
        policy(vault, getattr(vault, who), rotation_days=90)
    assert vault.events("app.credential_policy_changed") == []


def test_a_rotation_of_more_than_a_year_is_refused(vault: Vault) -> None:
    from bastion.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        policy(vault, rotation_days=366)
    assert refused.value.field == "rotation_days"
