"""Where the blast radius fires on the simulator's businesses, found from the imported grants."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.storage.models import Account, Grant
from bastion.storage.models.enums import AccountKind


def sole_person_manager(session: Session) -> tuple[int, int]:
    """(account, asset): the only person holding MANAGE on an asset Bastion's own system user
    holds MANAGE on too (the business assigned it every owned asset, as the setup guide asks)."""
    managers: dict[int, list[Account]] = {}
    for grant, account in session.execute(
        select(Grant, Account)
        .join(Account, Account.id == Grant.account_id)
        .where(Grant.present.is_(True), Account.present.is_(True))
        .order_by(Grant.asset_id, Account.id)
    ):
        if "MANAGE" in grant.tasks:
            managers.setdefault(grant.asset_id, []).append(account)
    return next(
        (people[0].id, asset_id)
        for asset_id, holders in managers.items()
        if len(people := [a for a in holders if a.kind == AccountKind.PERSON]) == 1
        and any(a.kind == AccountKind.SYSTEM_USER for a in holders)
    )
