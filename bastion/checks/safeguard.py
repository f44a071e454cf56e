"""The safeguard: a check that would mark too much as gone stops before changing anything.

A sudden loss of many accounts or assets is far more often a broken token scope, a Meta outage
returning partial data, or a wrong business id than a real mass departure. Stopping costs one
owner's look; applying would flood the history and the reports with false removals.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.checks.load import StoredRows
from bastion.connectors.base import Snapshot
from bastion.storage.models import Account, Asset


@dataclass(frozen=True)
class SafeguardVerdict:
    accounts_before: int
    accounts_gone: int
    assets_before: int
    assets_gone: int
    threshold_percent: int

    @staticmethod
    def _share(gone: int, before: int) -> float:
        return 100.0 * gone / before if before else 0.0

    @property
    def tripped(self) -> bool:
        return (
            self._share(self.accounts_gone, self.accounts_before) > self.threshold_percent
            or self._share(self.assets_gone, self.assets_before) > self.threshold_percent
        )

    @property
    def explanation(self) -> str:
        return (
            f"The check would remove {self.accounts_gone} of {self.accounts_before} accounts "
            f"({self._share(self.accounts_gone, self.accounts_before):.0f}%) and "
            f"{self.assets_gone} of {self.assets_before} assets "
            f"({self._share(self.assets_gone, self.assets_before):.0f}%), more than the "
            f"safeguard's {self.threshold_percent}%. Nothing was changed. If this is real, an "
            "owner can run the check again with the safeguard overridden once."
        )


def evaluate(
    session: Session,
    app_id: int,
    snapshot: Snapshot,
    threshold: int,
    stored: StoredRows | None = None,
) -> SafeguardVerdict:
    """The verdict on what the snapshot would mark gone; ``stored``: the app's rows as the
    session's transaction sees them, read already (``bastion/checks/stored.py``)."""
    if stored is not None:
        present_accounts = {ext for ext, row in stored.accounts.items() if row.present}
        present_assets = {ext for ext, row in stored.assets.items() if row.present}
    else:
        present_accounts = set(
            session.scalars(
                select(Account.external_id).where(
                    Account.app_id == app_id, Account.present.is_(True)
                )
            )
        )
        present_assets = set(
            session.scalars(
                select(Asset.external_id).where(Asset.app_id == app_id, Asset.present.is_(True))
            )
        )
    seen_accounts = {a.external_id for a in snapshot.accounts}
    seen_assets = {a.external_id for a in snapshot.assets}
    return SafeguardVerdict(
        accounts_before=len(present_accounts),
        accounts_gone=len(present_accounts - seen_accounts),
        assets_before=len(present_assets),
        assets_gone=len(present_assets - seen_assets),
        threshold_percent=threshold,
    )
