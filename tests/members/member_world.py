"""A checked app with one person per role, for the member-action and API tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.directory import create_person
from bastion.actions.guests import invite_guest
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.storage.models import Account, AppMember, User
from bastion.storage.models.enums import AccountKind, AppRole, UserSource
from tests.checks.conftest import World


@dataclass
class Cast:
    admin: int
    owner: int
    collaborator: int
    member: int
    guest: int
    member_account: int  # an account matched to ``member``


def _person(world: World, email: str, name: str) -> int:
    with world.runtime.sessions.begin() as session:
        user = create_person(
            session,
            workspace_id=world.workspace_id,
            person=PersonRecord(
                user_name=email, display_name=name, emails=(EmailRecord(email, "work", True),)
            ),
            source=UserSource.LOCAL,
            actor=Actor.system("tests"),
            check_delay=timedelta(minutes=5),
        )
        return user.id


def cast_roles(world: World) -> Cast:
    """Check the app, then give people each role; the member holds a matched account."""
    world.check()
    owner = _person(world, "owner2@northwind.test", "Owen Owner")
    collaborator = _person(world, "collab@northwind.test", "Cora Collaborator")
    with world.runtime.sessions.begin() as session:
        for user_id, role in ((owner, AppRole.OWNER), (collaborator, AppRole.COLLABORATOR)):
            session.add(
                AppMember(
                    workspace_id=world.workspace_id, app_id=world.app_id, user_id=user_id, role=role
                )
            )
        account = session.scalars(
            select(Account)
            .where(
                Account.app_id == world.app_id,
                Account.matched_user_id.is_not(None),
                Account.kind == AccountKind.PERSON,
                Account.present.is_(True),
            )
            .order_by(Account.id)
        ).first()
        assert account is not None and account.matched_user_id is not None
        member = session.get_one(User, account.matched_user_id).id
        guest = invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="guest@outside.test",
            name="Gus Guest",
            actor=Actor.user(world.admin_id),
        ).user.id
        return Cast(world.admin_id, owner, collaborator, member, guest, account.id)


def accounts(world: World, **where: object) -> list[Account]:
    with world.runtime.sessions() as session:
        query = select(Account).where(Account.app_id == world.app_id, Account.present.is_(True))
        for name, value in where.items():
            query = query.where(getattr(Account, name) == value)
        return list(session.scalars(query.order_by(Account.id)))
