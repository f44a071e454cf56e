"""Meta's enums for roles and asset tasks (from its schema), and how Meta expands a task set.

Meta reads back more tasks than were granted (``MANAGE`` on an ad account reads back as
``DRAFT, ANALYZE, ADVERTISE, MANAGE``; one ``ADVERTISE`` on an Instagram asset reads back as five
tasks). We reproduce that with an implication table per asset type, modelled on Business
Manager's role presets (admin, editor, moderator, advertiser, analyst). Read-back order follows the
observed ad-account order: weakest task first.
"""

from __future__ import annotations

from bastion.connectors.meta.schema import load_schema

_SCHEMA = load_schema()
TYPE_NAMES = {
    "page": "Page",
    "ad_account": "AdAccount",
    "catalog": "ProductCatalog",
    "pixel": "AdsPixel",
    "instagram": "InstagramBusinessAsset",
}
_INVITE = _SCHEMA.node("Business").edges["business_users"]["POST"].params

# Meta's enums, from its schema: the roles an invite takes, and the tasks each asset's
# ``assigned_users`` POST takes.
ROLES: tuple[str, ...] = _SCHEMA.node("Business").enum(_INVITE["role"]) or ()
INVITED_USER_TYPES: tuple[str, ...] = (
    _SCHEMA.node("Business").enum(_INVITE["invited_user_type"]) or ()
)
TWO_FACTOR_TYPES: tuple[str, ...] = _SCHEMA.node("Business").enums["Business.TwoFactorType"]
ASSET_TYPES = tuple(TYPE_NAMES)

# Read-back order: weakest task first, as observed on ad accounts (``DRAFT, ANALYZE, ADVERTISE,
# MANAGE``); tasks not listed here follow in Meta's enum order.
_READ_ORDER: tuple[str, ...] = (
    *("DRAFT", "ANALYZE", "ADVERTISE", "MESSAGING", "MESSAGES", "MODERATE"),
    *("COMMUNITY_ACTIVITY", "CONTENT", "CREATE_CONTENT", "UPLOAD", "EDIT", "MANAGE"),
)


def _schema_tasks(kind: str) -> tuple[str, ...]:
    node = _SCHEMA.node(TYPE_NAMES[kind])
    values = node.enum(node.edges["assigned_users"]["POST"].params["tasks"]) or ()
    known = [task for task in _READ_ORDER if task in values]
    return (*known, *(task for task in values if task not in known))


TASKS: dict[str, tuple[str, ...]] = {kind: _schema_tasks(kind) for kind in TYPE_NAMES}

_IMPLIES: dict[str, dict[str, tuple[str, ...]]] = {
    "page": {
        "MANAGE": ("CREATE_CONTENT", "MODERATE", "MESSAGING", "ADVERTISE", "ANALYZE"),
        "CREATE_CONTENT": ("MODERATE", "MESSAGING", "ADVERTISE", "ANALYZE"),
        "MODERATE": ("MESSAGING", "ADVERTISE", "ANALYZE"),
        "ADVERTISE": ("ANALYZE",),
    },
    "ad_account": {
        "MANAGE": ("ADVERTISE", "ANALYZE", "DRAFT"),
        "ADVERTISE": ("ANALYZE", "DRAFT"),
    },
    "catalog": {"MANAGE": ("ADVERTISE",)},
    "pixel": {"EDIT": ("UPLOAD", "ADVERTISE", "ANALYZE")},
    "instagram": {
        "ADVERTISE": ("CONTENT", "COMMUNITY_ACTIVITY", "MESSAGES", "ANALYZE"),
    },
}

# Combinations Meta refuses with code 100 / subcode 1752129 ("Task Combination Is Not
# Supported"). Which combinations exactly is unconfirmed; we refuse the agency-analyst task
# mixed with any other task, which is the one combination that makes no sense in the UI.
EXCLUSIVE_TASKS: dict[str, str] = {"ad_account": "AA_ANALYZE", "catalog": "AA_ANALYZE"}

_ORDER = {kind: {task: i for i, task in enumerate(tasks)} for kind, tasks in TASKS.items()}
_EXPANSION_CACHE: dict[tuple[str, frozenset[str]], tuple[str, ...]] = {}


def expand_tasks(asset_type: str, tasks: frozenset[str] | set[str]) -> tuple[str, ...]:
    """The task set Meta reads back after granting ``tasks``, in Meta's order.

    Results are cached and shared: the ``large`` scenario holds 50,000 assignments built from a
    handful of distinct task sets, so sharing the tuples keeps memory flat.
    """
    key = (asset_type, frozenset(tasks))
    cached = _EXPANSION_CACHE.get(key)
    if cached is not None:
        return cached
    implied = _IMPLIES.get(asset_type, {})
    result: set[str] = set()
    pending = list(tasks)
    while pending:
        task = pending.pop()
        if task in result:
            continue
        result.add(task)
        pending.extend(implied.get(task, ()))
    order = _ORDER[asset_type]
    expanded = tuple(sorted(result, key=lambda task: order.get(task, len(order))))
    _EXPANSION_CACHE[key] = expanded
    return expanded
