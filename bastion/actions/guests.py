"""Guests and local partners: outsiders whose Bastion identity Bastion itself manages.

A guest is a User of the workspace (role ``guest``) who sets a password through a one-time
link sent by e-mail; only the link token's hash is stored. A local partner is a named
organisation grouping guests, with its own admins who may invite the partner's other guests.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import (
    account_and_app,
    audit_event,
    require_person,
    require_present,
)
from bastion.actions.actors import Actor
from bastion.actions.permissions import MANAGE_DIRECTORY, MANAGE_MEMBERS, require
from bastion.actions.users import email_key, validate_email
from bastion.audit import AuditAction, record
from bastion.email_templates import render_email
from bastion.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bastion.matching import MatchRule
from bastion.notify import queue_email
from bastion.security.passwords import MIN_PASSWORD_LENGTH, hash_password
from bastion.security.tokens import hash_token
from bastion.storage.models import (
    Account,
    AppMember,
    GuestInvitation,
    LocalPartner,
    LocalPartnerMember,
    User,
    UserEmail,
    utcnow,
)
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    AppRole,
    OnboardingStatus,
    UserSource,
    UserStatus,
    WorkspaceRole,
)
from bastion.storage.tenancy import Tenant

LINK_VALID_FOR = timedelta(days=7)
SET_PASSWORD_PATH = "/guest/set-password"  # noqa: S105 - a URL path


@dataclass(frozen=True)
class GuestInvite:
    invitation: GuestInvitation
    user: User
    # The one-time link, e-mailed to the guest; never stored, never logged.
    link: str


def _clean_name(name: str, email: str) -> str:
    name = (name or "").strip()
    if len(name) > 200:
        raise InvalidInput("name", "must be at most 200 characters")
    # Without a name the e-mail stands in, cut to what a name holds (an e-mail may be 320).
    return name or email[:200]


def _new_guest(
    session: Session,
    tenant: Tenant,
    *,
    email: str,
    name: str,
    source: UserSource,
    actor: Actor,
) -> User:
    if tenant.find(User, User.user_name_key == email_key(email)) is not None:
        raise Conflict(f"a user with e-mail {email} exists already")
    now = utcnow()
    user = tenant.add(
        User(
            user_name=email,
            user_name_key=email_key(email),
            email=email,
            email_key=email_key(email),
            display_name=name,
            source=source,
            status=UserStatus.ACTIVE,
            status_changed_at=now,
            role=WorkspaceRole.GUEST,
            must_change_password=True,
            scim_attributes={},
        )
    )
    user.emails.append(
        UserEmail(
            workspace_id=tenant.workspace_id,
            email=email,
            email_key=email_key(email),
            type="work",
            primary=True,
        )
    )
    session.flush()
    record(
        session,
        workspace_id=tenant.workspace_id,
        actor=actor.label,
        action=AuditAction.USER_CREATED,
        target=f"user:{user.id}",
        details={"email": email, "role": WorkspaceRole.GUEST.value, "source": source.value},
        request_id=actor.request_id,
    )
    return user


def _link_account(session: Session, tenant: Tenant, account: Account, user: User) -> AppMember:
    """The guest vouches for the account: a manual match, shown in the Guest tab.

    Their set-password e-mail is their invitation: it moves the member to "Invite sent" once it
    goes out (bastion/onboarding.py).
    """
    account.matched_user_id, account.match_rule = user.id, MatchRule.MANUAL.value
    account.match_confidence, account.matched_at = 1.0, utcnow()
    account.state = AccountState.GUEST
    return tenant.add(
        AppMember(
            app_id=account.app_id,
            user_id=user.id,
            role=AppRole.COLLABORATOR,
            onboarding_status=OnboardingStatus.PENDING_ONBOARDING,
        )
    )


def _send_link(
    session: Session,
    tenant: Tenant,
    *,
    user: User,
    actor: Actor,
    base_url: str | None,
    partner: LocalPartner | None,
    account: Account | None,
    member: AppMember | None = None,
) -> GuestInvite:
    token = secrets.token_urlsafe(32)
    invitation = tenant.add(
        GuestInvitation(
            user_id=user.id,
            partner_id=partner.id if partner else None,
            account_id=account.id if account else None,
            token_hash=hash_token(token),
            invited_by_id=actor.user_id,
            expires_at=utcnow() + LINK_VALID_FOR,
        )
    )
    session.flush()
    link = f"{(base_url or '').rstrip('/')}{SET_PASSWORD_PATH}?token={token}"
    body = render_email(
        "guest_invitation",
        partner=partner.name if partner else None,
        link=link,
        days=LINK_VALID_FOR.days,
    )
    notification = queue_email(
        session,
        workspace_id=tenant.workspace_id,
        kind=f"guest-invite:{invitation.id}",
        recipients=[user.email or ""],
        subject="[Bastion] You are invited as a guest",
        text=body.text,
        html=body.html,
    )
    if notification is not None and member is not None:
        notification.app_member_id = member.id
    record(
        session,
        workspace_id=tenant.workspace_id,
        actor=actor.label,
        action=AuditAction.GUEST_INVITED,
        target=f"user:{user.id}",
        details={
            "email": user.email,
            "partner_id": partner.id if partner else None,
            "account": account.id if account else None,
            "invitation_id": invitation.id,
        },
        request_id=actor.request_id,
    )
    return GuestInvite(invitation, user, link)


def invite_guest(
    session: Session,
    *,
    workspace_id: int,
    email: str,
    name: str,
    actor: Actor,
    account_id: int | None = None,
    base_url: str | None = None,
) -> GuestInvite:
    """Create a guest user and e-mail them a set-password link; with ``account_id`` the guest
    vouches for that app account (it moves to the Guest tab)."""
    email = validate_email(email)
    name = _clean_name(name, email)
    tenant = Tenant(session, workspace_id)
    account = None
    if account_id is not None:
        account, app = account_and_app(tenant, account_id)
        require(session, actor=actor, app=app, action=MANAGE_MEMBERS)
        require_present(account)
        if account.kind == AccountKind.INVITATION:
            raise Conflict("an invitation cannot be matched to a guest")
        require_person(app, account, "invited as a guest")
    else:
        require(session, actor=actor, app=None, action=MANAGE_DIRECTORY)
    user = _new_guest(session, tenant, email=email, name=name, source=UserSource.GUEST, actor=actor)
    member = None
    if account is not None:
        member = _link_account(session, tenant, account, user)
        session.flush()
        audit_event(
            session,
            app,
            actor,
            AuditAction.ACCOUNT_MATCHED,
            f"account:{account.id}",
            {"account": account.id, "user_id": user.id, "role": "collaborator", "rule": "manual"},
        )
    return _send_link(
        session,
        tenant,
        user=user,
        actor=actor,
        base_url=base_url,
        partner=None,
        account=account,
        member=member,
    )


def create_local_partner(
    session: Session, *, workspace_id: int, name: str, actor: Actor
) -> LocalPartner:
    require(session, actor=actor, app=None, action=MANAGE_DIRECTORY)
    name = (name or "").strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    if len(name) > 200:
        raise InvalidInput("name", "must be at most 200 characters")
    tenant = Tenant(session, workspace_id)
    if tenant.find(LocalPartner, LocalPartner.name_key == name.lower()) is not None:
        raise Conflict(f"a local partner named {name!r} exists already")
    partner = tenant.add(
        LocalPartner(name=name, name_key=name.lower(), created_by_id=actor.user_id)
    )
    session.flush()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.LOCAL_PARTNER_CREATED,
        target=f"partner:{partner.id}",
        details={"name": name},
        request_id=actor.request_id,
    )
    return partner


def is_partner_admin(session: Session, *, partner_id: int, user_id: int | None) -> bool:
    if user_id is None:
        return False
    return bool(
        session.scalar(
            select(LocalPartnerMember.is_admin).where(
                LocalPartnerMember.partner_id == partner_id, LocalPartnerMember.user_id == user_id
            )
        )
    )


def require_partner_inviter(session: Session, *, actor: Actor, partner: LocalPartner) -> None:
    """Workspace admins and the partner's own admins invite the partner's guests."""
    if is_partner_admin(session, partner_id=partner.id, user_id=actor.user_id):
        return
    try:
        require(session, actor=actor, app=None, action=MANAGE_DIRECTORY)
    except PermissionDenied:
        raise PermissionDenied(
            f"Inviting guests to {partner.name} needs the workspace admin role or the "
            "partner's admin role"
        ) from None


def partners_led_by(session: Session, *, user_id: int) -> set[int]:
    """The local partners this person is an admin of."""
    return set(
        session.scalars(
            select(LocalPartnerMember.partner_id).where(
                LocalPartnerMember.user_id == user_id, LocalPartnerMember.is_admin.is_(True)
            )
        )
    )


def invite_partner_guest(
    session: Session,
    *,
    workspace_id: int,
    partner_id: int,
    email: str,
    name: str,
    actor: Actor,
    partner_admin: bool = False,
    base_url: str | None = None,
) -> GuestInvite:
    """Invite a guest into a local partner; workspace admins and the partner's admins may."""
    email = validate_email(email)
    name = _clean_name(name, email)
    tenant = Tenant(session, workspace_id)
    partner = tenant.get(LocalPartner, partner_id)
    require_partner_inviter(session, actor=actor, partner=partner)
    user = _new_guest(
        session, tenant, email=email, name=name, source=UserSource.PARTNER, actor=actor
    )
    tenant.add(LocalPartnerMember(partner_id=partner.id, user_id=user.id, is_admin=partner_admin))
    return _send_link(
        session, tenant, user=user, actor=actor, base_url=base_url, partner=partner, account=None
    )


def redeem_guest_invite(session: Session, *, token: str, password: str) -> User:
    """The guest sets their password with the link's token; the link works once."""
    invitation = session.scalars(
        select(GuestInvitation).where(GuestInvitation.token_hash == hash_token(token or ""))
    ).first()
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= utcnow():
        raise NotFound("this link is unknown, used or expired; ask for a new invitation")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    user = session.get_one(User, invitation.user_id)
    user.password_hash, user.must_change_password = hash_password(password), False
    invitation.used_at = utcnow()
    record(
        session,
        workspace_id=invitation.workspace_id,
        actor=f"user:{user.id}",
        action=AuditAction.GUEST_PASSWORD_SET,
        target=f"user:{user.id}",
        details={"invitation_id": invitation.id},
    )
    return user
