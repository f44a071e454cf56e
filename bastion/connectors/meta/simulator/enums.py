"""Meta's enums for roles and asset tasks, and how Meta expands a task set.

Meta reads back more tasks than were granted (``MANAGE`` on an ad account reads back as
``DRAFT, ANALYZE, ADVERTISE, MANAGE``; one ``ADVERTISE`` on an Instagram asset reads back as five
tasks). We reproduce that with an implication table per asset type, modelled on Business
Manager's role presets (admin, editor, moderator, advertiser, analyst). Read-back order follows the
observed ad-account order: weakest task first.
"""

from __future__ import annotations

ROLES = (
    "ADMIN",
    "EMPLOYEE",
    "FINANCE_EDITOR",
    "FINANCE_ANALYST",
    "ADS_RIGHTS_REVIEWER",
    "DEVELOPER",
    "PARTNER_CENTER_ADMIN",
    "PARTNER_CENTER_ANALYST",
    "PARTNER_CENTER_OPERATIONS",
    "PARTNER_CENTER_MARKETING",
    "PARTNER_CENTER_EDUCATION",
    "MANAGE",
    "DEFAULT",
    "FINANCE_EDIT",
    "FINANCE_VIEW",
)
INVITED_USER_TYPES = ("FB", "MWA")
TWO_FACTOR_TYPES = ("admin_required", "all_required", "none")
ASSET_TYPES = ("page", "ad_account", "catalog", "pixel", "instagram")

_PROFILE_PLUS = (
    "FULL_CONTROL",
    "MANAGE",
    "FACEBOOK_ACCESS",
    "CREATE_CONTENT",
    "MODERATE",
    "MODERATE_DELEGATE_COMMUNITY",
    "MESSAGING",
    "ADVERTISE",
    "ANALYZE",
    "REVENUE",
    "MANAGE_LEADS",
    "GLOBAL_STRUCTURE_MANAGEMENT",
)

TASKS: dict[str, tuple[str, ...]] = {
    "page": (
        "ANALYZE",
        "ADVERTISE",
        "MESSAGING",
        "MODERATE",
        "CREATE_CONTENT",
        "MANAGE",
        "MODERATE_COMMUNITY",
        "MANAGE_JOBS",
        "MANAGE_LEADS",
        "PAGES_MESSAGING",
        "PAGES_MESSAGING_SUBSCRIPTIONS",
        "READ_PAGE_MAILBOXES",
        "VIEW_MONETIZATION_INSIGHTS",
        "CASHIER_ROLE",
        "GLOBAL_STRUCTURE_MANAGEMENT",
        *(f"PROFILE_PLUS_{name}" for name in _PROFILE_PLUS),
    ),
    "ad_account": ("DRAFT", "ANALYZE", "ADVERTISE", "MANAGE", "AA_ANALYZE"),
    "catalog": ("ADVERTISE", "MANAGE", "MANAGE_AR", "AA_ANALYZE"),
    "pixel": ("ANALYZE", "ADVERTISE", "UPLOAD", "EDIT", "AA_ANALYZE"),
    "instagram": (
        "ANALYZE",
        "ADVERTISE",
        "MESSAGES",
        "COMMUNITY_ACTIVITY",
        "CONTENT",
        "FULL_CONTROL",
        "CREATIVE_MANAGEMENT",
        "CREATOR_MANAGEMENT",
    ),
}

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
        "FULL_CONTROL": ("CONTENT", "COMMUNITY_ACTIVITY", "MESSAGES", "ADVERTISE", "ANALYZE"),
        "ADVERTISE": ("CONTENT", "COMMUNITY_ACTIVITY", "MESSAGES", "ANALYZE"),
    },
}

# Combinations Meta refuses with code 100 / subcode 1752129 ("Task Combination Is Not
# Supported"). Which combinations exactly is unconfirmed; we refuse the agency-analyst task
# mixed with any other task, which is the one combination that makes no sense in the UI.
EXCLUSIVE_TASKS: dict[str, str] = {"ad_account": "AA_ANALYZE", "catalog": "AA_ANALYZE"}

# Instagram assets return no ``permitted_tasks`` (observed).
HAS_PERMITTED_TASKS = {"page": True, "ad_account": True, "catalog": True, "pixel": True}

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
