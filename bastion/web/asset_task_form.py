"""The asset-task rows the tasks and invite dialogs share: which assets are listed, which tasks
are ticked, and the assets one may add a row for.

The form travels as ``asset`` (the listed asset ids) and ``task`` values ``<asset id>:<TASK>``,
so an unticked row still says "no tasks on this asset", and re-rendering the dialog to add an
asset keeps what was ticked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.connectors.asset_tasks import TaskChoices, task_choices
from bastion.storage.models import App, Asset, Grant

# An app may hold thousands of assets; the "add an asset" list shows this many.
ADDABLE_LIMIT = 300


@dataclass(frozen=True)
class AssetTaskRow:
    asset: Asset
    choices: TaskChoices
    ticked: frozenset[str]
    held: frozenset[str]

    @property
    def changed(self) -> bool:
        return self.ticked != self.held

    @property
    def extra(self) -> tuple[str, ...]:
        """Ticked or held tasks outside the offered ones (kept as they are, shown apart)."""
        return tuple(sorted((self.ticked | self.held) - set(self.choices.usual)))


@dataclass(frozen=True)
class AssetTaskForm:
    rows: list[AssetTaskRow]
    addable: list[Asset]

    def wanted(self, *, only_changed: bool) -> dict[int, list[str]]:
        return {
            row.asset.id: sorted(row.ticked) for row in self.rows if row.changed or not only_changed
        }


def parse_ticks(values: Iterable[str]) -> dict[int, set[str]]:
    """``["12:MANAGE", "12:ANALYZE"]`` → {12: {"MANAGE", "ANALYZE"}}; anything else is dropped."""
    ticks: dict[int, set[str]] = {}
    for value in values:
        asset, _, task = value.partition(":")
        if asset.isdigit() and task:
            ticks.setdefault(int(asset), set()).add(task.strip().upper())
    return ticks


def asset_ids(values: Iterable[str]) -> list[int]:
    return list(dict.fromkeys(int(v) for v in values if v.isdigit()))


def held_by(session: Session, account_id: int | None) -> dict[int, frozenset[str]]:
    if account_id is None:
        return {}
    return {
        asset_id: frozenset(tasks)
        for asset_id, tasks in session.execute(
            select(Grant.asset_id, Grant.tasks).where(
                Grant.account_id == account_id, Grant.present.is_(True)
            )
        )
    }


def build_form(
    session: Session,
    app: App,
    *,
    account_id: int | None,
    listed: Sequence[int] | None,
    ticks: dict[int, set[str]] | None,
    add: int | None = None,
) -> AssetTaskForm:
    """Rows for ``listed`` assets (default: those the account holds), ``add`` appended, ticked
    as the form said (default: as held)."""
    held = held_by(session, account_id)
    assets = {
        a.id: a
        for a in session.scalars(
            select(Asset)
            .where(Asset.app_id == app.id, Asset.present.is_(True))
            .order_by(Asset.type, Asset.name, Asset.id)
        )
    }
    shown = [i for i in (listed if listed is not None else list(held)) if i in assets]
    if add is not None and add in assets and add not in shown:
        shown.append(add)
    rows = [
        AssetTaskRow(
            asset=assets[i],
            choices=task_choices(app.kind.value, assets[i].type.value),
            ticked=frozenset(ticks.get(i, set()) if ticks is not None else held.get(i, ())),
            held=held.get(i, frozenset()),
        )
        for i in shown
    ]
    addable = [a for i, a in assets.items() if i not in shown][:ADDABLE_LIMIT]
    return AssetTaskForm(rows, addable)
