"""The tasks each kind of asset takes, per app kind: what the asset-tasks dialog offers.

The one place outside a connector's folder that knows which connector describes an app kind's
tasks (as ``registry.py`` is for opening a connector).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class TaskChoices:
    """The tasks offered first (the app's usual presets), and the rest."""

    usual: tuple[str, ...]
    more: tuple[str, ...]

    def __contains__(self, task: object) -> bool:
        return task in self.usual or task in self.more


@cache
def _by_kind(kind: str) -> dict[str, TaskChoices]:
    if kind == "meta_business":
        from bastion.connectors.meta.asset_tasks import meta_asset_tasks

        return {t: TaskChoices(usual, more) for t, (usual, more) in meta_asset_tasks().items()}
    return {}


def task_choices(kind: str, asset_type: str) -> TaskChoices:
    """The tasks an asset of this type takes in this kind of app (none when unknown)."""
    return _by_kind(kind).get(asset_type, TaskChoices((), ()))
