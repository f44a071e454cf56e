"""The tasks a person may hold on each kind of Meta asset, from Meta's own schema.

They are the values of the ``tasks`` parameter of each asset's ``assigned_users`` POST in the
``facebook-business`` SDK's schema (``graph_schema.json``). Business Manager offers a handful of
them per asset (its role presets); the rest (``PROFILE_PLUS_…`` on Pages, ``AA_ANALYZE`` …) are
for special cases, so they are listed apart.
"""

from __future__ import annotations

from bastion.connectors.base import AssetType
from bastion.connectors.meta.schema import load_schema

# Bastion's asset types and the node types Meta's schema names them by.
NODE_TYPES: dict[AssetType, str] = {
    "page": "Page",
    "ad_account": "AdAccount",
    "catalog": "ProductCatalog",
    "pixel": "AdsPixel",
    "instagram_asset": "InstagramBusinessAsset",
}
# The tasks Business Manager's role presets give, weakest first; "full control" is MANAGE (EDIT
# on a pixel, which has no MANAGE).
PRESET_TASKS = (
    *("DRAFT", "ANALYZE", "ADVERTISE", "MESSAGING", "MESSAGES", "MODERATE"),
    *("COMMUNITY_ACTIVITY", "CONTENT", "CREATE_CONTENT", "UPLOAD", "EDIT", "MANAGE"),
)


def _tasks_of(node_type: str) -> tuple[str, ...]:
    node = load_schema().node(node_type)
    return node.enum(node.edges["assigned_users"]["POST"].params["tasks"]) or ()


def meta_asset_tasks() -> dict[AssetType, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per asset type: (the preset tasks in their order, every other task Meta takes)."""
    found: dict[AssetType, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for asset_type, node_type in NODE_TYPES.items():
        every = _tasks_of(node_type)
        presets = tuple(task for task in PRESET_TASKS if task in every)
        found[asset_type] = (presets, tuple(task for task in every if task not in presets))
    return found
