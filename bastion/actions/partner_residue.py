"""What a partner leaves behind: the residue gathered before it is removed.

A partner business brings people with it. Some reach our assets through the partnership and go
with it; others were added to our business one by one and would stay once the partner is gone.
Those are the residue: present people whose e-mail is at the partner's domain or who are matched
to a guest of the local partner the owner links to it, the asset tasks they hold, and pending
invitations to that domain. The partner's domains are those of its own people (partner_person
accounts) and of the local partner's guests, plus any the owner names; a domain our own directory
uses (people who are neither guests nor partners) is never one of them, so a shared mail provider
cannot sweep up employees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.account_steps import account_label
from bastion.errors import InvalidInput
from bastion.storage.models import (
    Account,
    App,
    Asset,
    LocalPartner,
    LocalPartnerMember,
    Partner,
    PartnerGrant,
    User,
    UserEmail,
)
from bastion.storage.models.enums import (
    AccountKind,
    AccountState,
    PartnerRelation,
    PartnerRemovalItemKind,
    UserSource,
)

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_DOMAINS = 20


@dataclass(frozen=True)
class ResidueItem:
    """One thing the batch would remove, before it is stored."""

    kind: PartnerRemovalItemKind
    target_external_id: str
    label: str
    reason: str
    account_id: int | None = None
    asset_id: int | None = None


def domain_of(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


def clean_domains(domains: Iterable[str]) -> list[str]:
    """Domains as the owner typed them (``agency.example`` or ``@agency.example``)."""
    cleaned: list[str] = []
    for raw in domains:
        domain = str(raw).strip().lower().removeprefix("@")
        if not domain:
            continue
        if not _DOMAIN.match(domain):
            raise InvalidInput("domains", f"{raw!r} is not an e-mail domain (e.g. agency.example)")
        if domain not in cleaned:
            cleaned.append(domain)
    if len(cleaned) > MAX_DOMAINS:
        raise InvalidInput("domains", f"name at most {MAX_DOMAINS} domains")
    return cleaned


def own_domains(session: Session, workspace_id: int) -> set[str]:
    """Domains of the directory's own people (not guests, not partners)."""
    ours = (UserSource.SCIM, UserSource.CSV, UserSource.LOCAL)
    rows = session.scalars(
        select(User.email).where(User.workspace_id == workspace_id, User.source.in_(ours))
    ).all()
    extra = session.scalars(
        select(UserEmail.email)
        .join(User, User.id == UserEmail.user_id)
        .where(User.workspace_id == workspace_id, User.source.in_(ours))
    ).all()
    return {d for d in map(domain_of, [*rows, *extra]) if d}


def guest_ids(session: Session, local_partner: LocalPartner | None) -> dict[int, str]:
    """The local partner's guests: user id → name or e-mail."""
    if local_partner is None:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.email)
        .join(LocalPartnerMember, LocalPartnerMember.user_id == User.id)
        .where(LocalPartnerMember.partner_id == local_partner.id)
    ).all()
    return {user_id: name or email or f"user {user_id}" for user_id, name, email in rows}


def partner_domains(
    session: Session,
    partner: Partner,
    local_partner: LocalPartner | None,
    named: Iterable[str],
) -> list[str]:
    """The partner's e-mail domains, our own directory's left out."""
    found = list(named)
    for account in session.scalars(
        select(Account).where(
            Account.app_id == partner.app_id,
            Account.kind == AccountKind.PARTNER_PERSON,
        )
    ):
        if str(account.details.get("partner_external_id") or "") == partner.external_id:
            found.append(domain_of(account.email) or "")
    if local_partner is not None:
        emails = session.scalars(
            select(User.email)
            .join(LocalPartnerMember, LocalPartnerMember.user_id == User.id)
            .where(LocalPartnerMember.partner_id == local_partner.id)
        ).all()
        found.extend(domain_of(e) or "" for e in emails)
    ours = own_domains(session, partner.workspace_id)
    return [d for d in dict.fromkeys(found) if d and d not in ours]


def gather_residue(
    session: Session,
    app: App,
    partner: Partner,
    *,
    domains: list[str],
    guests: dict[int, str],
) -> list[ResidueItem]:
    """The batch's items in the order they are carried out: the partner's access to each of
    our assets, the people, the invitations, and the partnership itself last."""
    items: list[ResidueItem] = []
    if partner.relation == PartnerRelation.AGENCY:
        for asset, tasks in session.execute(
            select(Asset, PartnerGrant.tasks)
            .join(PartnerGrant, PartnerGrant.asset_id == Asset.id)
            .where(
                PartnerGrant.partner_id == partner.id,
                PartnerGrant.present.is_(True),
                Asset.present.is_(True),
            )
            .order_by(Asset.name, Asset.id)
        ).all():
            items.append(
                ResidueItem(
                    PartnerRemovalItemKind.PARTNER_ACCESS,
                    asset.external_id,
                    asset.name or asset.external_id,
                    f"shared with {partner.name or partner.external_id}"
                    + (f": {', '.join(tasks)}" if tasks else ""),
                    asset_id=asset.id,
                )
            )
    accounts = session.scalars(
        select(Account)
        .where(
            Account.app_id == app.id,
            Account.present.is_(True),
            Account.kind.in_([AccountKind.PERSON, AccountKind.INVITATION]),
        )
        .order_by(Account.kind, Account.name, Account.id)
    ).all()
    wanted = set(domains)
    people = [a for a in accounts if a.kind == AccountKind.PERSON]
    invitations = [a for a in accounts if a.kind == AccountKind.INVITATION]
    for account in [*people, *invitations]:
        reason = _why(account, wanted, guests)
        if reason is None:
            continue
        if account.state == AccountState.EXEMPTED:
            # Kept on purpose once: the owner sees why before leaving it ticked.
            reason += f"; exempted: {account.exemption_reason or 'no reason given'}"
        kind = (
            PartnerRemovalItemKind.PERSON
            if account.kind == AccountKind.PERSON
            else PartnerRemovalItemKind.INVITATION
        )
        items.append(
            ResidueItem(
                kind,
                account.external_id,
                account_label(account),
                reason,
                account_id=account.id,
            )
        )
    items.append(
        ResidueItem(
            PartnerRemovalItemKind.PARTNER,
            partner.external_id,
            partner.name or partner.external_id,
            "ends the partnership"
            + (" and every access it gives" if partner.relation == PartnerRelation.AGENCY else ""),
        )
    )
    return items


def _why(account: Account, domains: set[str], guests: dict[int, str]) -> str | None:
    if account.matched_user_id is not None and account.matched_user_id in guests:
        return f"matched to {guests[account.matched_user_id]}, a guest of the linked local partner"
    domain = domain_of(account.email)
    if domain is not None and domain in domains:
        what = "invited at" if account.kind == AccountKind.INVITATION else "e-mail at"
        return f"{what} {domain}"
    return None
