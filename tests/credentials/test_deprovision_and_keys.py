"""A person who leaves takes no saved login with them: deprovisioning (a SCIM deactivate, a CSV
line, the identity provider deleting them) destroys their credentials and the vault secrets
at once, audited. ``bastion keys rotate`` re-encrypts saved logins like every other secret."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.credentials import Reveal, reveal, save_credentials
from bastion.actions.directory import deprovision_user, remove_person, update_person
from bastion.actions.secrets import rotate_secrets
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.security.vault import KeyRing, new_key_entry
from bastion.storage.models import Secret
from bastion.storage.models.enums import UserSource
from tests.credentials.vault_world import CREDENTIAL_PURPOSES, PIA_LOGIN, PIA_PASSWORD, Vault

IDP = Actor.system("scim")


def both_saved(vault: Vault) -> None:
    with vault.world.runtime.sessions.begin() as session:
        for user_id, account_id in (
            (vault.pia, vault.pia_account),
            (vault.cora, vault.cora_account),
        ):
            save_credentials(
                session,
                vault.ring,
                account_id=account_id,
                actor=vault.actor(user_id),
                login=PIA_LOGIN,
                password=PIA_PASSWORD,
                totp=vault.pia_key,
                totp_code=vault.code(),
            )


def scim_deactivate(vault: Vault) -> None:
    with vault.world.runtime.sessions.begin() as session:
        update_person(
            session,
            workspace_id=vault.world.workspace_id,
            user_id=vault.pia,
            person=PersonRecord(
                user_name="pia.person@northwind.test",
                display_name="Pia Person",
                active=False,
                emails=(EmailRecord("pia.person@northwind.test", "work", True),),
            ),
            source=UserSource.SCIM,
            actor=IDP,
            check_delay=timedelta(minutes=5),
        )


def scim_delete(vault: Vault) -> None:
    with vault.world.runtime.sessions.begin() as session:
        remove_person(
            session,
            workspace_id=vault.world.workspace_id,
            user_id=vault.pia,
            source=UserSource.SCIM,
            actor=IDP,
            check_delay=timedelta(minutes=5),
        )


def csv_deprovision(vault: Vault) -> None:
    with vault.world.runtime.sessions.begin() as session:
        deprovision_user(
            session,
            workspace_id=vault.world.workspace_id,
            user_id=vault.pia,
            source=UserSource.CSV,
            actor=Actor.system("csv"),
            check_delay=timedelta(minutes=5),
        )


@pytest.mark.parametrize("leave", [scim_deactivate, scim_delete, csv_deprovision])
def test_a_person_who_leaves_takes_no_saved_login_along(vault: Vault, leave) -> None:  # type: ignore[no-untyped-def]
    both_saved(vault)
    assert vault.credentials() == 2 and vault.credential_secrets() == 6
    leave(vault)
    assert vault.credentials() == 1  # Cora's stays
    assert vault.credential_secrets() == 3
    (event,) = vault.events("credentials.destroyed")
    assert event.target == f"user:{vault.pia}"
    assert event.details == {"count": 1, "accounts": [vault.pia_account], "reason": "deprovisioned"}


def test_keys_rotate_re_encrypts_a_saved_login_which_still_opens(vault: Vault) -> None:
    both_saved(vault)
    runtime = vault.world.runtime
    old = vault.ring
    fresh = KeyRing.parse(new_key_entry("k2"))
    new = KeyRing((*fresh.keys, *old.keys))  # k2 first: it encrypts, k1 still decrypts
    with runtime.sessions.begin() as session:
        count = rotate_secrets(session, new, actor=Actor.cli())
    assert count >= 6
    with runtime.sessions() as session:
        keys = set(
            session.scalars(select(Secret.key_id).where(Secret.purpose.in_(CREDENTIAL_PURPOSES)))
        )
    assert keys == {"k2"}
    browser = vault.browser(vault.pia)
    with runtime.sessions() as session:
        found = reveal(
            session,
            fresh,  # the old key is no longer needed
            account_id=vault.pia_account,
            actor=vault.actor(vault.pia),
            web_session=browser,
            fields=Reveal.PASSWORD,
        )
    assert (found.login, found.password) == (PIA_LOGIN, PIA_PASSWORD)
    assert found.code is not None
    assert pyotp.TOTP(vault.pia_key).verify(found.code.code, valid_window=1)
