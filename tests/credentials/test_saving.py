"""Saving a login: only the account's own person, each field checked (the two-factor key with a
real code from pyotp), a refusal audited and nothing stored, a replacement leaving no old
secret behind, two-factor flagged where the app requires it, and the account connected."""

from __future__ import annotations

import base64
import os

import pyotp
import pytest
from sqlalchemy import select

from bastion.actions.credentials import save_credentials
from bastion.actions.secrets import read_secret
from bastion.errors import Conflict, InvalidInput, PermissionDenied
from bastion.storage.models import AppMember, Credential
from bastion.storage.models.enums import OnboardingStatus
from tests.credentials.vault_world import PIA_LOGIN, PIA_PASSWORD, Vault


def save(vault: Vault, user_id: int | None = None, account_id: int | None = None, **fields: object):  # type: ignore[no-untyped-def]
    values = {"login": PIA_LOGIN, "password": PIA_PASSWORD, "totp": None, "totp_code": None}
    values.update(fields)
    with vault.world.runtime.sessions() as session:
        try:
            return save_credentials(
                session,
                vault.ring,
                account_id=account_id or vault.pia_account,
                actor=vault.actor(user_id or vault.pia),
                **values,  # type: ignore[arg-type]
            )
        finally:
            session.commit()  # what a caller commits after a refusal: its audit event alone


def spaced(key: str) -> str:
    """As Facebook shows a key: lower-case groups of four."""
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4)).lower()


REFUSALS = [
    ({"login": "  "}, "login", "is required"),
    ({"login": "not a login"}, "login", "e-mail address or a phone number"),
    ({"login": "12-34"}, "login", "e-mail address or a phone number"),
    ({"login": "a@b"}, "login", "not an e-mail address"),
    ({"login": "x" * 310 + "@example.test"}, "login", "at most 320"),
    ({"password": ""}, "password", "is required"),
    ({"password": "p" * 1001}, "password", "at most 1000"),
    ({"password": "pass\x00word"}, "password", "NUL"),
    ({"totp": "not base32!", "totp_code": "123456"}, "totp", "not a two-factor key"),
    (
        {"totp": "otpauth://hotp/Facebook?secret=" + pyotp.random_base32(), "totp_code": "1"},
        "totp",
        "otpauth://totp/",
    ),
    (
        {"totp": "otpauth://totp/Facebook?issuer=Facebook", "totp_code": "123456"},
        "totp",
        "not a valid otpauth",
    ),
    ({"totp": "", "totp_code": "123456"}, "totp", "is required with a code"),
]


@pytest.mark.parametrize(("fields", "field", "words"), REFUSALS)
def test_a_bad_field_is_named_audited_and_nothing_is_stored(
    vault: Vault, fields: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(vault, **fields)
    assert refused.value.field == field
    assert words in refused.value.message
    assert vault.credentials() == 0 and vault.credential_secrets() == 0
    (event,) = vault.events("credential.save_refused")
    assert event.details == {"account": vault.pia_account, "field": field}
    assert PIA_PASSWORD not in str(refused.value) and PIA_LOGIN not in str(refused.value)


def test_the_two_factor_key_is_checked_with_the_code_shown_now(vault: Vault) -> None:
    other = pyotp.random_base32()
    with pytest.raises(InvalidInput) as wrong:
        save(vault, totp=vault.pia_key, totp_code=vault.code(other))
    assert wrong.value.field == "totp_code" and "does not match" in wrong.value.message
    with pytest.raises(InvalidInput) as missing:
        save(vault, totp=vault.pia_key, totp_code="")
    assert missing.value.field == "totp_code"
    assert vault.credentials() == 0 and vault.credential_secrets() == 0
    assert len(vault.events("credential.save_refused")) == 2
    saved = save(vault, totp=spaced(vault.pia_key), totp_code=vault.code())
    assert saved.totp_secret_id is not None
    with vault.world.runtime.sessions() as session:
        stored = read_secret(
            session, vault.ring, workspace_id=saved.workspace_id, secret_id=saved.totp_secret_id
        )
    assert pyotp.parse_uri(stored).now() == vault.code()  # normalised: spaces and case gone
    assert "pia" not in stored.lower()


def test_an_otpauth_link_is_taken_as_facebook_s_qr_code_gives_it(vault: Vault) -> None:
    link = pyotp.TOTP(vault.pia_key).provisioning_uri(name=PIA_LOGIN, issuer_name="Facebook")
    saved = save(vault, totp=link, totp_code=vault.code())
    with vault.world.runtime.sessions() as session:
        stored = read_secret(
            session, vault.ring, workspace_id=saved.workspace_id, secret_id=saved.totp_secret_id
        )
    assert PIA_LOGIN not in stored  # the label's account name is not kept
    assert pyotp.parse_uri(stored).now() == vault.code()


def test_a_key_under_112_bits_is_refused_with_the_reason(vault: Vault) -> None:
    short = base64.b32encode(os.urandom(10)).decode()  # 80 bits, 16 characters
    with pytest.raises(InvalidInput) as refused:
        save(vault, totp=short, totp_code="123456")
    assert refused.value.field == "totp" and "112 bits" in refused.value.message
    assert vault.credentials() == 0


def test_a_phone_number_is_a_login_too(vault: Vault) -> None:
    save(vault, login="+1 (555) 010-4477")
    assert vault.credentials() == 1


def test_saving_again_replaces_the_login_and_destroys_the_old_secrets(vault: Vault) -> None:
    first = save(vault, totp=vault.pia_key, totp_code=vault.code())
    assert vault.credential_secrets() == 3
    second = save(vault, password="a new one")
    assert vault.credentials() == 1 and vault.credential_secrets() == 2
    assert {first.login_secret_id, first.password_secret_id} & {
        second.login_secret_id,
        second.password_secret_id,
    } == set()
    saved = vault.events("credential.saved")
    assert [e.details["replaced"] for e in saved] == [False, True]


def test_without_two_factor_a_login_is_saved_but_flagged_where_the_app_requires_it(
    vault: Vault,
) -> None:
    save(vault)
    (event,) = vault.events("credential.saved")
    assert event.details == {
        "account": vault.pia_account,
        "two_factor": False,
        "two_factor_missing": True,
        "replaced": False,
    }


def test_saving_connects_the_account_once(vault: Vault) -> None:
    save(vault)
    save(vault)
    with vault.world.runtime.sessions() as session:
        member = session.scalars(select(AppMember).where(AppMember.user_id == vault.pia)).one()
        assert member.onboarding_status == OnboardingStatus.ONBOARDED
        assert member.connected_at is not None
    changes = [
        e for e in vault.events("member.onboarding_changed") if e.details["user_id"] == vault.pia
    ]
    assert [e.details["after"] for e in changes] == ["onboarded"]


def test_a_guest_saves_their_own_login_too(vault: Vault) -> None:
    save(vault, user_id=vault.guest, account_id=vault.guest_account)
    assert vault.credentials() == 1


@pytest.mark.parametrize("who", ["owner", "admin", "cora"])
def test_nobody_but_the_account_s_person_may_save_its_login(vault: Vault, who: str) -> None:
    with pytest.raises(PermissionDenied):
        save(vault, user_id=getattr(vault, who))
    assert vault.credentials() == 0
    assert vault.events("credential.save_refused") == []


def test_an_app_signed_in_to_with_single_sign_on_has_no_login_to_save(vault: Vault) -> None:
    from bastion.actions.apps import AppChanges, update_app

    runtime = vault.world.runtime
    with runtime.sessions.begin() as session:
        update_app(
            session,
            vault.ring,
            runtime.connector_options,
            workspace_id=vault.world.workspace_id,
            app_id=vault.world.app_id,
            changes=AppChanges(login_method="sso"),
            actor=vault.actor(vault.admin),
        )
    with pytest.raises(Conflict):
        save(vault)
    with runtime.sessions() as session:
        assert session.scalars(select(Credential)).first() is None
