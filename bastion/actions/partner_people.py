"""A check's import of native partners' people: read with each partner's token, added to the
snapshot, and each partner's outcome kept on its row.

A partner whose people could not be read (no token, or the token failed) tells Bastion nothing
new: its people are unknown, not gone. So the people and grants the last check saw are carried
into the snapshot as they were, and only that partner is put in "review configuration" with the
reason; the rest of the check goes on. Its people go only when a read succeeds without them, or
when the partnership itself is gone from the business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.partner_tokens import PartnerToken
from bastion.connectors.base import (
    AccountRecord,
    ConnectorError,
    GrantRecord,
    PartnerPeople,
    Snapshot,
)
from bastion.connectors.registry import Connector
from bastion.storage.models import Account, Asset, Grant, Partner, utcnow
from bastion.storage.models.enums import AccountKind, PartnerPeopleStatus


@dataclass(frozen=True)
class PartnerRead:
    """One partner's people as its token read them, or why they could not be read."""

    partner_external_id: str
    people: PartnerPeople | None
    problem: str | None = None


async def read_partner_people(
    connector: Connector, snapshot: Snapshot, tokens: Sequence[PartnerToken]
) -> list[PartnerRead]:
    """Each agency with a token, on the assets the snapshot says it was given; one failing
    partner never fails the others or the check."""
    agencies = {p.external_id: p for p in snapshot.partners if p.relation == "agency"}
    reads: list[PartnerRead] = []
    for token in tokens:
        partner = agencies.get(token.partner_external_id)
        if partner is None:
            continue  # the partnership is gone: so are its people's tasks on our assets
        assets = tuple(sorted({item.asset_external_id for item in partner.asset_tasks}))
        try:
            people = await connector.fetch_partner_people(
                partner_external_id=partner.external_id,
                token=token.token,
                asset_external_ids=assets,
            )
        except ConnectorError as exc:
            reads.append(PartnerRead(partner.external_id, None, exc.message))
            continue
        reads.append(PartnerRead(partner.external_id, people))
    return reads


def with_partner_people(
    session: Session, app_id: int, snapshot: Snapshot, reads: Sequence[PartnerRead]
) -> Snapshot:
    """The snapshot with every partner's people: as read, or as the last check saw them."""
    read = {r.partner_external_id: r.people for r in reads if r.people is not None}
    accounts = list(snapshot.accounts)
    grants = list(snapshot.grants)
    for people in read.values():
        accounts += people.accounts
        grants += people.grants
    unread = {p.external_id for p in snapshot.partners if p.relation == "agency"} - set(read)
    kept_accounts, kept_grants = _last_seen(session, app_id, unread, snapshot)
    return replace(
        snapshot, accounts=tuple(accounts + kept_accounts), grants=tuple(grants + kept_grants)
    )


def _last_seen(
    session: Session, app_id: int, partners: set[str], snapshot: Snapshot
) -> tuple[list[AccountRecord], list[GrantRecord]]:
    if not partners:
        return [], []
    rows = session.scalars(
        select(Account).where(
            Account.app_id == app_id,
            Account.kind == AccountKind.PARTNER_PERSON,
            Account.present.is_(True),
        )
    ).all()
    kept = [a for a in rows if a.details.get("partner_external_id") in partners]
    accounts = [
        AccountRecord(
            kind="partner_person",
            external_id=a.external_id,
            name=a.name or None,
            email=a.email,
            role=a.app_role,
            first_name=a.details.get("first_name"),
            last_name=a.details.get("last_name"),
            partner_external_id=a.details.get("partner_external_id"),
        )
        for a in kept
    ]
    reachable = {asset.external_id for asset in snapshot.assets}
    external = {a.id: a.external_id for a in kept}
    held = session.execute(
        select(Grant.account_id, Asset.external_id, Grant.tasks)
        .join(Asset, Asset.id == Grant.asset_id)
        .where(Grant.account_id.in_(list(external)), Grant.present.is_(True))
    ).all()
    grants = [
        GrantRecord(external[account_id], asset_id, tuple(sorted(tasks)))
        for account_id, asset_id, tasks in held
        if asset_id in reachable
    ]
    return accounts, grants


def record_partner_reads(session: Session, app_id: int, reads: Sequence[PartnerRead]) -> None:
    """Each partner read: ok, or "review configuration" with the reason."""
    now: datetime = utcnow()
    partners = {
        p.external_id: p
        for p in session.scalars(
            select(Partner).where(Partner.app_id == app_id, Partner.present.is_(True))
        )
    }
    for read in reads:
        partner = partners.get(read.partner_external_id)
        if partner is None:
            continue
        partner.people_checked_at = now
        if read.problem is None:
            partner.people_status, partner.people_status_reason = PartnerPeopleStatus.OK, None
        else:
            partner.people_status = PartnerPeopleStatus.REVIEW_CONFIGURATION
            partner.people_status_reason = (
                f"Its people could not be read with its token: {read.problem} Its people are "
                "shown as the last check saw them; replace the token on the Partners tab."
            )[:1000]
