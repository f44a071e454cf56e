"""The checks' world with its app logged in to by username and password, and a person per role:
Pia and Cora hold an account each (collaborators), Gus is a guest vouching for one, Otto owns
the app, Olga is the workspace admin (and holds no account)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pyotp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.apps import AppChanges, update_app
from bastion.actions.directory import create_person
from bastion.actions.guests import invite_guest
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.security.web_sessions import create_web_session
from bastion.storage.models import (
    Account,
    AppMember,
    AuditEvent,
    Credential,
    Secret,
    User,
    WebSession,
    utcnow,
)
from bastion.storage.models.enums import AccountKind, AccountState, AppRole, UserSource
from tests.checks.conftest import World

SYSTEM = Actor.system("tests")
# What Pia saves: distinct from everything else on the pages, so a leak cannot hide.
PIA_LOGIN = "pia.facebook.login@vault-secret.test"
PIA_PASSWORD = "Tr0ub4dor&3-horse-staple-VAULT"
CREDENTIAL_PURPOSES = (
    "credential_login",
    "credential_password",
    "credential_totp",
    "credential_pending_password",
)


@dataclass
class Vault:
    world: World
    admin: int
    owner: int
    pia: int
    cora: int
    guest: int
    pia_account: int
    cora_account: int
    guest_account: int
    # Pia's two-factor key as Facebook shows it (32 base32 characters).
    pia_key: str

    @property
    def ring(self):  # type: ignore[no-untyped-def]
        return self.world.runtime.require_key_ring()

    def actor(self, user_id: int) -> Actor:
        return Actor.user(user_id)

    def code(self, key: str | None = None) -> str:
        return pyotp.TOTP(key or self.pia_key).now()

    def browser(self, user_id: int, *, signed_in_ago: timedelta = timedelta(0)) -> WebSession:
        """A browser session of the person, signed in ``signed_in_ago``."""
        with self.world.runtime.sessions.begin() as session:
            row = create_web_session(session, user=session.get_one(User, user_id)).row
            row.authenticated_at = utcnow() - signed_in_ago
            session.flush()
            session.expunge(row)
            return row

    def count(self, model: type, *where: object) -> int:
        with self.world.runtime.sessions() as session:
            query = select(func.count()).select_from(model)
            for condition in where:
                query = query.where(condition)  # type: ignore[arg-type]
            return int(session.scalar(query) or 0)

    def credential_secrets(self) -> int:
        return self.count(Secret, Secret.purpose.in_(CREDENTIAL_PURPOSES))

    def credentials(self) -> int:
        return self.count(Credential)

    def events(self, action: str) -> list[AuditEvent]:
        with self.world.runtime.sessions() as session:
            rows = session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            ).all()
            for row in rows:
                session.expunge(row)
            return list(rows)

    def age_sessions(self, user_id: int, by: timedelta) -> None:
        """Move the person's sign-ins back in time (a session left open)."""
        with self.world.runtime.sessions.begin() as session:
            session.execute(
                update(WebSession)
                .where(WebSession.user_id == user_id)
                .values(authenticated_at=utcnow() - by)
            )


def _person(session: Session, world: World, email: str, name: str) -> int:
    return create_person(
        session,
        workspace_id=world.workspace_id,
        person=PersonRecord(
            user_name=email, display_name=name, emails=(EmailRecord(email, "work", True),)
        ),
        source=UserSource.LOCAL,
        actor=SYSTEM,
        check_delay=timedelta(minutes=5),
    ).id


def _account(
    session: Session, world: World, name: str, user_id: int | None, external_id: str
) -> Account:
    key = name.split()[0].lower()
    account = Account(
        workspace_id=world.workspace_id,
        app_id=world.app_id,
        kind=AccountKind.PERSON,
        external_id=external_id,
        name=name,
        email=f"{key}@meta-seat.test",
        email_key=f"{key}@meta-seat.test",
        app_role="EMPLOYEE",
        state=AccountState.ONBOARDED if user_id else AccountState.UNMATCHED,
        matched_user_id=user_id,
        details={},
        present=True,
    )
    session.add(account)
    session.flush()
    if user_id is not None:
        session.add(
            AppMember(
                workspace_id=world.workspace_id,
                app_id=world.app_id,
                user_id=user_id,
                role=AppRole.COLLABORATOR,
            )
        )
    return account


def seat_vault(world: World) -> Vault:
    runtime = world.runtime
    with runtime.sessions.begin() as session:
        update_app(
            session,
            runtime.require_key_ring(),
            runtime.connector_options,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            changes=AppChanges(login_method="password"),
            actor=Actor.user(world.admin_id),
        )
        owner = _person(session, world, "otto.owner@northwind.test", "Otto Owner")
        session.add(
            AppMember(
                workspace_id=world.workspace_id,
                app_id=world.app_id,
                user_id=owner,
                role=AppRole.OWNER,
            )
        )
        pia = _person(session, world, "pia.person@northwind.test", "Pia Person")
        cora = _person(session, world, "cora.collab@northwind.test", "Cora Collaborator")
        pia_account = _account(session, world, "Pia Seat", pia, "9001").id
        cora_account = _account(session, world, "Cora Seat", cora, "9002").id
        vouched = _account(session, world, "Gus Seat", None, "9003").id
        guest = invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="gus.guest@outside.test",
            name="Gus Guest",
            actor=Actor.user(world.admin_id),
            account_id=vouched,
        ).user.id
    return Vault(
        world,
        world.admin_id,
        owner,
        pia,
        cora,
        guest,
        pia_account,
        cora_account,
        vouched,
        pyotp.random_base32(),
    )
