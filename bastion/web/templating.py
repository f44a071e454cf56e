"""The Jinja2 environment of the pages: autoescaped templates and the filters they share.

Status words come from one table (``BADGES``) so every page names and colours a state the same
way, an account's states and kinds in the enums' own words (their ``label``); times are shown
relative ("3 min ago") with the exact UTC time in a tooltip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from bastion.storage.models.enums import AccountKind, AccountState, OnboardingStatus

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# state value → (label a person reads, colour class)
BADGES: dict[str, tuple[str, str]] = {
    "healthy": ("Healthy", "ok"),
    "validating": ("Under validation", "info"),
    "requires_check": ("Requires check", "warn"),
    "restricted": ("Restricted", "warn"),
    "review_configuration": ("Review configuration", "bad"),
    "error": ("Error", "bad"),
    "onboarded": (AccountState.ONBOARDED.label, "ok"),
    "unmatched": (AccountState.UNMATCHED.label, "warn"),
    "guest": (AccountState.GUEST.label, "info"),
    "exempted": (AccountState.EXEMPTED.label, "muted"),
    "system_user": (AccountState.SYSTEM_USER.label, "muted"),
    "pending_onboarding": (OnboardingStatus.PENDING_ONBOARDING.label, "info"),
    "invite_sent": (OnboardingStatus.INVITE_SENT.label, "info"),
    "invite_failed": (OnboardingStatus.INVITE_FAILED.label, "bad"),
    "bastion_only": (OnboardingStatus.BASTION_ONLY.label, "muted"),
    # An All accounts card's "sso" (the app's login method); a member's onboarding "sso" is
    # shown in its own words, OnboardingStatus.SSO.label (``badge`` prefers a member's label).
    "sso": ("Single sign-on", "ok"),
    "managed_outside": (OnboardingStatus.MANAGED_OUTSIDE.label, "muted"),
    # An All accounts card's status (bastion/account_cards.py); "sso" reads as above.
    "connect_account": ("Connect your account", "warn"),
    "connected": ("Connected", "ok"),
    "exempted_outside": ("Exempted (managed outside Bastion)", "muted"),
    "running": ("Running", "info"),
    "succeeded": ("Succeeded", "ok"),
    "failed": ("Failed", "bad"),
    "stopped_by_safeguard": ("Stopped by safeguard", "warn"),
    "queued": ("Queued", "info"),
    "deferred": ("Deferred", "warn"),
    "manual": ("Manual step", "warn"),
    "pending": ("Pending", "warn"),
    "sent": ("Sent", "ok"),
    # Webhook endpoints and deliveries.
    "enabled": ("Enabled", "ok"),
    "disabled": ("Disabled", "bad"),
    "delivering": ("Delivering", "info"),
    "delivered": ("Delivered", "ok"),
    "not_sent": ("Not sent", "muted"),
    "applying": ("Applying", "info"),
    "applied": ("Removed", "ok"),
    "dismissed": ("Dismissed", "muted"),
    "open": ("Open", "warn"),
    "closed": ("Closed", "muted"),
    "active": ("Active", "ok"),
    "suspended": ("Suspended", "warn"),
    "deprovisioned": ("Deprovisioned", "bad"),
    "revoked": ("Revoked", "muted"),
    "owner": ("Owner", "info"),
    "collaborator": ("Collaborator", "muted"),
}

KIND_LABELS = {
    **{kind.value: kind.label for kind in AccountKind},
    "page": "Page",
    "ad_account": "Ad account",
    "catalog": "Catalog",
    "pixel": "Pixel",
    "instagram_asset": "Instagram",
    "meta_business": "Meta Business Manager",
}

LOGIN_METHOD_LABELS = {"sso": "Single sign-on", "password": "Username and password"}

APP_ROLE_LABELS = {"ADMIN": "Full control", "EMPLOYEE": "Partial access"}

MATCH_RULE_LABELS = {
    "manual": "matched by hand",
    "primary_email": "same work e-mail",
    "secondary_email": "a secondary e-mail",
    "normalized_email": "same e-mail, normalised",
}


def badge(value: object) -> Markup:
    key = str(getattr(value, "value", value) or "")
    label, tone = BADGES.get(key, (key.replace("_", " ").capitalize(), "muted"))
    if isinstance(value, AccountKind | AccountState | OnboardingStatus):
        label = value.label
    return Markup('<span class="badge badge-{}">{}</span>').format(tone, label)


def _ago(delta_seconds: float) -> str:
    future = delta_seconds < 0
    seconds = abs(int(delta_seconds))
    if seconds < 45:
        text = "just now" if not future else "in a few seconds"
        return text
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "min")):
        if seconds >= size:
            count = round(seconds / size)
            label = f"{count} {unit}{'s' if count != 1 and unit != 'min' else ''}"
            return f"in {label}" if future else f"{label} ago"
    return "just now"


def when(value: datetime | None, empty: str = "—") -> Markup:
    if value is None:
        return Markup('<span class="muted">{}</span>').format(empty)
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    exact = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    relative = _ago((datetime.now(UTC) - value).total_seconds())
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.isoformat(), exact, relative
    )


def exact(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def kind_label(value: object) -> str:
    key = str(getattr(value, "value", value) or "")
    return KIND_LABELS.get(key, key.replace("_", " ").capitalize())


def role_label(value: str | None) -> str:
    if not value:
        return "—"
    return APP_ROLE_LABELS.get(value, value.replace("_", " ").capitalize())


def login_label(value: object) -> str:
    key = str(getattr(value, "value", value) or "")
    return LOGIN_METHOD_LABELS.get(key, key)


def rule_label(value: str | None) -> str:
    return MATCH_RULE_LABELS.get(value or "", value or "")


def breakable(value: str | None) -> Markup:
    """The text escaped, with a line break allowed after each ``@`` and before each ``.``: a
    long e-mail address then wraps where it reads well, and its column can narrow."""
    return escape(value or "").replace("@", Markup("@<wbr>")).replace(".", Markup("<wbr>."))


def csrf_field(request: Any) -> Markup:
    token = getattr(request.state, "csrf_token", "")
    return Markup('<input type="hidden" name="csrftoken" value="{}">').format(escape(token))


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters.update(
    badge=badge,
    when=when,
    exact=exact,
    kind_label=kind_label,
    role_label=role_label,
    login_label=login_label,
    rule_label=rule_label,
    breakable=breakable,
)
templates.env.globals.update(csrf_field=csrf_field, duration=duration)
