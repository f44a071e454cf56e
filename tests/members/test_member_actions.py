"""Member actions, as an admin, an owner and the roles that may not act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.actions.operations import run_due_operations
from bastion.actions.permissions import ACTIONS, ADMIN_ACTIONS, can
from bastion.errors import Conflict, InvalidInput, PermissionDenied
from bastion.security.passwords import verify_password
from bastion.storage.models import (
    Account,
    App,
    AppMember,
    Asset,
    AuditEvent,
    Grant,
    GuestInvitation,
    Notification,
    Operation,
    User,
)
from bastion.storage.models.enums import AccountKind, AccountState, AppRole, OperationKind
from tests.checks.conftest import World
from tests.members.member_world import Cast, accounts, cast_roles


@pytest.fixture
def cast(world: World) -> Cast:
    return cast_roles(world)


def audit_actions(world: World) -> list[str]:
    with world.runtime.sessions() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def count(world: World, model: type) -> int:
    with world.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_each_role_may_do_what_the_table_says(world: World, cast: Cast) -> None:
    with world.runtime.sessions() as session:
        app = session.get_one(App, world.app_id)
        allowed = {
            name: {
                a
                for a in ACTIONS
                if can(session, user=session.get_one(User, uid), app=app, action=a)
            }
            for name, uid in vars(cast).items()
            if name != "member_account"
        }
    assert allowed["admin"] == ACTIONS
    # The workspace's own actions (directory, e-mail) are the admins'.
    assert allowed["owner"] == ACTIONS - ADMIN_ACTIONS
    assert allowed["collaborator"] == {"view_app", "view_details"}
    # Holds an account in the app, so the check made them its collaborator.
    assert allowed["member"] == {"view_app", "view_details"}
    assert allowed["guest"] == set()


def test_admin_matches_an_unmatched_account_and_the_person_is_told(
    world: World, cast: Cast
) -> None:
    target = accounts(world, state=AccountState.UNMATCHED, kind=AccountKind.PERSON)[0]
    mails_before = count(world, Notification)
    with world.runtime.sessions.begin() as session:
        members.match_account(
            session,
            workspace_id=world.workspace_id,
            account_id=target.id,
            user_id=cast.collaborator,
            role=AppRole.OWNER,
            actor=Actor.user(cast.admin),
        )
    with world.runtime.sessions() as session:
        account = session.get_one(Account, target.id)
        member = session.scalars(
            select(AppMember).where(AppMember.user_id == cast.collaborator)
        ).one()
    assert (account.state, account.matched_user_id, account.match_rule) == (
        AccountState.ONBOARDED,
        cast.collaborator,
        "manual",
    )
    assert member.role == AppRole.OWNER
    assert count(world, Notification) == mails_before + 1
    assert audit_actions(world)[-1] == "account.matched"
    # The manual link survives the next check.
    world.check()
    assert accounts(world, id=target.id)[0].matched_user_id == cast.collaborator


@pytest.mark.parametrize("role", ["collaborator", "member", "guest"])
def test_roles_without_owner_rights_cannot_match_and_nothing_is_written(
    world: World, cast: Cast, role: str
) -> None:
    target = accounts(world, state=AccountState.UNMATCHED, kind=AccountKind.PERSON)[0]
    events = len(audit_actions(world))
    with world.runtime.sessions() as session, pytest.raises(PermissionDenied, match="owner role"):
        members.match_account(
            session,
            workspace_id=world.workspace_id,
            account_id=target.id,
            user_id=cast.member,
            role=AppRole.COLLABORATOR,
            actor=Actor.user(getattr(cast, role)),
        )
    assert accounts(world, id=target.id)[0].matched_user_id is None
    assert len(audit_actions(world)) == events


def test_owner_exempts_with_a_reason_and_expiry_then_unexempts(world: World, cast: Cast) -> None:
    target = accounts(world, state=AccountState.UNMATCHED)[0]
    expiry = datetime.now(UTC) + timedelta(days=30)
    with world.runtime.sessions.begin() as session:
        members.exempt_account(
            session,
            workspace_id=world.workspace_id,
            account_id=target.id,
            reason="Shared agency login",
            expires_at=expiry,
            actor=Actor.user(cast.owner),
        )
    exempted = accounts(world, id=target.id)[0]
    assert exempted.state == AccountState.EXEMPTED
    assert (exempted.exempted_by_id, exempted.exemption_reason) == (
        cast.owner,
        "Shared agency login",
    )
    with world.runtime.sessions.begin() as session:
        members.unexempt_account(
            session,
            workspace_id=world.workspace_id,
            account_id=target.id,
            actor=Actor.user(cast.owner),
        )
    assert accounts(world, id=target.id)[0].state == AccountState.UNMATCHED
    assert audit_actions(world)[-2:] == ["account.exempted", "account.unexempted"]


@pytest.mark.parametrize(
    ("reason", "expires_at"),
    [("", None), (" ", None), ("x" * 501, None), ("ok", datetime(2000, 1, 1, tzinfo=UTC))],
)
def test_a_bad_exemption_names_the_field(
    world: World, cast: Cast, reason: str, expires_at: datetime | None
) -> None:
    target = accounts(world, state=AccountState.UNMATCHED)[0]
    with world.runtime.sessions() as session, pytest.raises(InvalidInput) as refused:
        members.exempt_account(
            session,
            workspace_id=world.workspace_id,
            account_id=target.id,
            reason=reason,
            expires_at=expires_at,
            actor=Actor.user(cast.admin),
        )
    assert refused.value.field == ("expires_at" if expires_at else "reason")


def test_removal_is_queued_once_per_key_and_performed_in_the_app(world: World, cast: Cast) -> None:
    target = accounts(world, state=AccountState.UNMATCHED, kind=AccountKind.PERSON)[0]
    for _ in range(2):
        with world.runtime.sessions.begin() as session:
            members.remove_account(
                session,
                workspace_id=world.workspace_id,
                account_id=target.id,
                actor=Actor.user(cast.owner),
                force=True,
                idempotency_key="remove-once",
            )
    with world.runtime.sessions() as session:
        queued = session.scalars(select(Operation).where(Operation.account_id == target.id)).all()
    assert [o.kind for o in queued] == [OperationKind.REMOVE]
    assert audit_actions(world).count("account.removal_requested") == 1
    run_due_operations(world.runtime)
    assert target.external_id not in {a.external_id for a in world.check() and accounts(world)}


def test_the_last_admin_cannot_be_removed_and_orphaned_assets_need_force(
    world: World, cast: Cast
) -> None:
    admins = accounts(world, app_role="ADMIN")
    keep = next(a for a in admins if a.kind == AccountKind.PERSON)
    with world.runtime.sessions.begin() as session:
        # The business is down to one admin: the others left in the app.
        for account in admins:
            if account.id != keep.id:
                session.get_one(Account, account.id).present = False
    with world.runtime.sessions() as session:
        radius = members.blast_radius(session, workspace_id=world.workspace_id, account_id=keep.id)
        assert radius.is_last_admin
        with pytest.raises(Conflict, match="last admin"):
            members.remove_account(
                session,
                workspace_id=world.workspace_id,
                account_id=keep.id,
                actor=Actor.user(cast.admin),
                force=True,
            )
        with pytest.raises(Conflict, match="last admin"):
            members.change_role(
                session,
                workspace_id=world.workspace_id,
                account_id=keep.id,
                role="EMPLOYEE",
                actor=Actor.user(cast.admin),
            )
    assert count(world, Operation) == 0
    with world.runtime.sessions.begin() as session:
        session.get_one(Account, keep.id).present = False
        manager = _sole_manager(session)
    with world.runtime.sessions() as session:
        with pytest.raises(Conflict, match="nobody with full control"):
            members.remove_account(
                session,
                workspace_id=world.workspace_id,
                account_id=manager,
                actor=Actor.user(cast.admin),
            )
        forced = members.remove_account(
            session,
            workspace_id=world.workspace_id,
            account_id=manager,
            actor=Actor.user(cast.admin),
            force=True,
        )
        assert forced.kind == OperationKind.REMOVE


def _sole_manager(session: Session) -> int:
    """An account that is the only one holding MANAGE on some asset."""
    return _sole_managed_asset(session)[0]


def _person_managers(session: Session) -> dict[int, list[int]]:
    """Each asset's present people holding MANAGE on it (Bastion's own system user holds MANAGE
    on every asset the business owns too, and does not count)."""
    holders: dict[int, list[int]] = {}
    for grant in session.scalars(select(Grant).where(Grant.present.is_(True))):
        account = session.get_one(Account, grant.account_id)
        if "MANAGE" in grant.tasks and account.present and account.kind == AccountKind.PERSON:
            holders.setdefault(grant.asset_id, []).append(grant.account_id)
    return holders


def _sole_managed_asset(session: Session) -> tuple[int, int]:
    """(account, asset): the account is the only present person holding MANAGE on the asset."""
    holders = _person_managers(session)
    return next((ids[0], asset_id) for asset_id, ids in sorted(holders.items()) if len(ids) == 1)


def test_bulk_exempt_reports_each_account_and_one_failure_does_not_stop_the_rest(
    world: World, cast: Cast
) -> None:
    ids = [a.id for a in accounts(world, state=AccountState.UNMATCHED)[:2]]
    with world.runtime.sessions.begin() as session:
        results = members.bulk_exempt(
            session,
            workspace_id=world.workspace_id,
            account_ids=[ids[0], 999_999, ids[1]],
            reason="Vendor",
            expires_at=None,
            actor=Actor.user(cast.admin),
        )
    assert [(r.account_id, r.ok) for r in results] == [
        (ids[0], True),
        (999_999, False),
        (ids[1], True),
    ]
    assert results[1].code == "not_found"
    assert {a.state for a in accounts(world) if a.id in ids} == {AccountState.EXEMPTED}


def test_unmatch_returns_an_account_to_unmatched_and_claim_makes_the_admin_owner(
    world: World, cast: Cast
) -> None:
    with world.runtime.sessions.begin() as session:
        members.unmatch_account(
            session,
            workspace_id=world.workspace_id,
            account_id=cast.member_account,
            actor=Actor.user(cast.admin),
        )
    assert accounts(world, id=cast.member_account)[0].state == AccountState.UNMATCHED
    with world.runtime.sessions.begin() as session:
        members.claim_owner(
            session,
            workspace_id=world.workspace_id,
            account_id=cast.member_account,
            actor=Actor.user(cast.admin),
        )
    claimed = accounts(world, id=cast.member_account)[0]
    assert claimed.matched_user_id == cast.admin
    actions = [a for a in audit_actions(world) if a != "member.onboarding_changed"]
    assert actions[-2:] == ["account.unmatched", "account.matched"]


def test_roles_tasks_and_invitations_become_operations(world: World, cast: Cast) -> None:
    person = accounts(world, kind=AccountKind.PERSON, app_role="EMPLOYEE")[0]
    with world.runtime.sessions.begin() as session:
        asset_id = session.scalar(select(func.min(Asset.id)))
        assert asset_id is not None
        role = members.change_role(
            session,
            workspace_id=world.workspace_id,
            account_id=person.id,
            role="admin",
            actor=Actor.user(cast.owner),
        )
        tasks = members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=person.id,
            asset_tasks={asset_id: ["advertise", "ANALYZE"]},
            actor=Actor.user(cast.owner),
        )
        invite = members.invite_person(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            email="new.hire@northwind.test",
            role="EMPLOYEE",
            asset_tasks={asset_id: ["ANALYZE"]},
            actor=Actor.user(cast.owner),
        )
        stale = members.cancel_stale_invitations(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            older_than_days=0,
            actor=Actor.user(cast.owner),
        )
    assert role.parameters == {"role": "ADMIN"}
    assert tasks[0].kind == OperationKind.GRANT_TASKS
    assert tasks[0].parameters["tasks"] == ["ADVERTISE", "ANALYZE"]
    assert invite.parameters["email"] == "new.hire@northwind.test"
    invitations = accounts(world, kind=AccountKind.INVITATION)
    assert {r.account_id for r in stale if r.ok} == {a.id for a in invitations}
    with world.runtime.sessions() as session, pytest.raises(InvalidInput) as refused:
        members.change_role(
            session,
            workspace_id=world.workspace_id,
            account_id=person.id,
            role="OVERLORD",
            actor=Actor.user(cast.owner),
        )
    assert refused.value.field == "role"


def test_a_guest_sets_a_password_once_through_the_emailed_link(world: World, cast: Cast) -> None:
    target = accounts(world, state=AccountState.UNMATCHED, kind=AccountKind.PERSON)[0]
    with world.runtime.sessions.begin() as session:
        invite = members.invite_guest(
            session,
            workspace_id=world.workspace_id,
            email="freelancer@outside.test",
            name="Fay Freelancer",
            actor=Actor.user(cast.owner),
            account_id=target.id,
            base_url="https://bastion.test",
        )
        link = invite.link
        mail = session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert mail is not None and link in mail.body_text
    token = link.split("token=", 1)[1]
    with world.runtime.sessions() as session:
        stored = session.scalars(select(GuestInvitation.token_hash)).all()
    assert token not in stored and len(stored) == 2
    assert accounts(world, id=target.id)[0].state == AccountState.GUEST
    with world.runtime.sessions.begin() as session:
        user = members.redeem_guest_invite(session, token=token, password="a long passphrase")
        assert user.password_hash and verify_password(user.password_hash, "a long passphrase")
    with world.runtime.sessions() as session, pytest.raises(Exception, match="used or expired"):
        members.redeem_guest_invite(session, token=token, password="another passphrase")


def test_local_partner_admins_invite_their_own_guests(world: World, cast: Cast) -> None:
    with world.runtime.sessions.begin() as session:
        partner = members.create_local_partner(
            session,
            workspace_id=world.workspace_id,
            name="Agency One",
            actor=Actor.user(cast.admin),
        )
        boss = members.invite_partner_guest(
            session,
            workspace_id=world.workspace_id,
            partner_id=partner.id,
            email="boss@agency.test",
            name="Agency Boss",
            actor=Actor.user(cast.admin),
            partner_admin=True,
        ).user.id
        members.invite_partner_guest(
            session,
            workspace_id=world.workspace_id,
            partner_id=partner.id,
            email="staff@agency.test",
            name="Agency Staff",
            actor=Actor.user(boss),
        )
        with pytest.raises(PermissionDenied, match="partner's admin"):
            members.invite_partner_guest(
                session,
                workspace_id=world.workspace_id,
                partner_id=partner.id,
                email="x@agency.test",
                name="",
                actor=Actor.user(cast.member),
            )
        with pytest.raises(PermissionDenied, match="workspace admin"):
            members.create_local_partner(
                session, workspace_id=world.workspace_id, name="Rogue", actor=Actor.user(cast.owner)
            )


def test_taking_manage_away_from_the_sole_manager_needs_force(world: World, cast: Cast) -> None:
    with world.runtime.sessions() as session:
        # The business admins stay: the role is not control of the asset.
        manager, asset_id = _sole_managed_asset(session)
    with world.runtime.sessions() as session:
        with pytest.raises(Conflict, match="leaves nobody with full control"):
            members.set_asset_tasks(
                session,
                workspace_id=world.workspace_id,
                account_id=manager,
                asset_tasks={asset_id: ["ADVERTISE"]},
                actor=Actor.user(cast.admin),
            )
        # Keeping MANAGE is no loss of control, whatever else changes.
        kept = members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=manager,
            asset_tasks={asset_id: ["MANAGE", "ADVERTISE"]},
            actor=Actor.user(cast.admin),
        )
        assert kept[0].kind == OperationKind.GRANT_TASKS
        session.rollback()
    assert count(world, Operation) == 0
    with world.runtime.sessions.begin() as session:
        forced = members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=manager,
            asset_tasks={asset_id: []},
            actor=Actor.user(cast.admin),
            force=True,
        )
    assert [o.kind for o in forced] == [OperationKind.REVOKE_TASKS]
    with world.runtime.sessions() as session:
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "account.tasks_change_requested")
            .order_by(AuditEvent.seq.desc())
        ).first()
        assert event is not None
        assert event.details["forced"] is True
        assert len(event.details["orphaned_assets"]) == 1


def test_taking_manage_away_is_free_while_another_person_manages_the_asset(
    world: World, cast: Cast
) -> None:
    with world.runtime.sessions() as session:
        manager, asset_id = next(
            (ids[0], asset_id)
            for asset_id, ids in sorted(_person_managers(session).items())
            if len(ids) > 1
        )
        operations = members.set_asset_tasks(
            session,
            workspace_id=world.workspace_id,
            account_id=manager,
            asset_tasks={asset_id: ["ANALYZE"]},
            actor=Actor.user(cast.admin),
        )
    assert operations
