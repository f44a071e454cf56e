"""What setting an account's tasks on an asset takes: the tasks it holds, the steps to the wanted.

A grant only adds (Meta keeps the union of what is held and what is posted, see
connectors/meta/operations.py), so tasks given up are revoked in an operation of their own; the
two reach the same end in either order.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.storage.models import Account, Asset, Grant
from bastion.storage.models.enums import OperationKind


def held_tasks(session: Session, account: Account, asset: Asset) -> set[str]:
    """The tasks the account held on the asset at the last check."""
    tasks = session.scalar(
        select(Grant.tasks).where(
            Grant.account_id == account.id, Grant.asset_id == asset.id, Grant.present.is_(True)
        )
    )
    return set(tasks or ())


def task_steps(held: set[str], wanted: list[str]) -> list[tuple[OperationKind, list[str]]]:
    """The operations that take ``held`` to ``wanted`` on one asset (no tasks: revoke all)."""
    if not wanted:
        return [(OperationKind.REVOKE_TASKS, [])]
    given_up = sorted(held - set(wanted))
    steps: list[tuple[OperationKind, list[str]]] = []
    if set(wanted) - held or not given_up:
        steps.append((OperationKind.GRANT_TASKS, wanted))
    if given_up:
        steps.append((OperationKind.REVOKE_TASKS, given_up))
    return steps
