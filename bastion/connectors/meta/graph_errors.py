"""The one place that turns a Graph API failure into Bastion's connector taxonomy.

Codes and subcodes come from /work/shared/reference/meta-graph-api.md §1 (envelope), §3 (rate
limits, auth errors) and §4 (restrictions). Everything else in Bastion sees only the classes in
``bastion.connectors.base``. Meta's own message is kept where it helps a person (bad request),
always with our secrets scrubbed out of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bastion.connectors.base import (
    BadRequest,
    ConnectorError,
    LastAdmin,
    NotFound,
    PermissionMissing,
    RateLimited,
    Restricted,
    TokenInvalid,
    TooMuchData,
    Transient,
    TwoFactorRequired,
)
from bastion.connectors.meta.usage import regain_access_seconds

REQUIRED_PERMISSIONS = (
    "business_management",
    "pages_show_list",
    "catalog_management",
    "pages_read_engagement",
    "pages_manage_metadata",
    "ads_management",
)
_KNOWN_PERMISSIONS = (*REQUIRED_PERMISSIONS, "ads_read", "instagram_basic", "pages_manage_posts")

TOKEN_SUBCODES = {
    458: "the app is not installed for the token's user",
    459: "the user's account is checkpointed (they must log in to Facebook and clear it)",
    460: "the user changed their password",
    463: "the token has expired",
    464: "the user is unconfirmed",
    467: "the token is invalid (revoked or logged out)",
}
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613}) | frozenset(range(80000, 80015))
TRANSIENT_CODES = frozenset({1, 2})
NOT_FOUND_SUBCODES = frozenset({33})
DEFAULT_RATE_LIMIT_WAIT_SECONDS = 60.0
TWO_FACTOR_STEP = (
    "Meta requires two-factor authentication for this change, which an API token cannot "
    "provide. An admin must make it by hand in Business Manager (Business settings), then run "
    "a check so Bastion confirms it."
)


@dataclass(frozen=True)
class GraphErrorBody:
    """The ``error`` object of a Graph response, with the fields we act on."""

    message: str
    code: int | None
    subcode: int | None
    is_transient: bool
    error_data: Mapping[str, Any]
    user_message: str

    @classmethod
    def parse(cls, body: object) -> GraphErrorBody | None:
        if not isinstance(body, Mapping) or not isinstance(body.get("error"), Mapping):
            return None
        error = body["error"]
        data = error.get("error_data")
        return cls(
            message=str(error.get("message") or ""),
            code=_as_int(error.get("code")),
            subcode=_as_int(error.get("error_subcode")),
            is_transient=bool(error.get("is_transient")),
            error_data=data if isinstance(data, Mapping) else {},
            user_message=str(error.get("error_user_msg") or ""),
        )


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret (token, app secret, proof) from text that came from outside."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def error_from_response(
    *,
    status: int,
    body: object,
    headers: Mapping[str, str],
    secrets: Iterable[str],
    what: str,
    permission_hint: str | None = None,
) -> ConnectorError:
    """Map one failed Graph response (or batch sub-response) to a ConnectorError.

    ``what`` names the object or step for the message ("GET business_users"); never a URL
    with a query, which could hold a token.
    """
    error = GraphErrorBody.parse(body)
    if error is None:
        if status == 404:
            return NotFound(f"{what}: the object does not exist (HTTP 404).")
        if status >= 500 or status in (408, 429):
            return Transient(f"{what}: Meta answered HTTP {status}; it will be retried.")
        return BadRequest(f"{what}: Meta answered HTTP {status} without an error description.")
    meta_message = scrub(error.message, secrets)
    return _classify(error, meta_message, status, headers, what, permission_hint)


def _classify(
    error: GraphErrorBody,
    meta_message: str,
    status: int,
    headers: Mapping[str, str],
    what: str,
    permission_hint: str | None,
) -> ConnectorError:
    code, subcode = error.code, error.subcode
    if code in (102, 104, 190):
        reason = TOKEN_SUBCODES.get(subcode or 0, "the token is invalid or expired")
        return TokenInvalid(
            f"{what}: Meta rejected the access token: {reason}. Generate a new system-user "
            "token in Business settings and update the app's connection."
        )
    if code is not None and (code == 10 or 200 <= code <= 299):
        permission = _permission_named(meta_message) or permission_hint
        named = permission or "a permission this call needs"
        return PermissionMissing(
            f"{what}: the token lacks {named}. Generate the system-user token again with "
            f"that permission granted (Meta says: {meta_message}).",
            permission=permission,
        )
    if code in RATE_LIMIT_CODES:
        wait = regain_access_seconds(headers, error.error_data)
        retry_after = wait if wait is not None else DEFAULT_RATE_LIMIT_WAIT_SECONDS
        return RateLimited(
            f"{what}: Meta rate-limited the app (code {code}); try again in about "
            f"{_human_seconds(retry_after)}.",
            retry_after_seconds=retry_after,
            estimated=wait is not None,
        )
    if code == 368:
        until = _restricted_until(error.error_data) or _timestamp_in(error.user_message)
        when = f"until {until.isoformat()}" if until else "for a while (Meta gave no end time)"
        return Restricted(
            f"{what}: Meta has temporarily blocked this business from this action {when}. "
            "Bastion will retry after that.",
            until=until,
        )
    if code == 3914:
        return LastAdmin(
            f"{what}: this would leave the business without an admin. Make someone else an "
            "admin first."
        )
    if code == 415:
        return TwoFactorRequired(
            f"{what}: two-factor authentication required.", manual_step=TWO_FACTOR_STEP
        )
    if status == 404 or code == 803 or (code == 100 and subcode in NOT_FOUND_SUBCODES):
        return NotFound(f"{what}: the object does not exist or the token cannot see it.")
    if code == 1 and "reduce the amount of data" in (meta_message).lower():
        # docs/graph-api/guides/error-handling: code 1 "Please reduce the amount of data you're
        # asking for, then retry your request".
        return TooMuchData(f"{what}: Meta asks for a smaller read ({meta_message}).")
    if code in TRANSIENT_CODES or error.is_transient or status >= 500:
        return Transient(f"{what}: Meta had a temporary problem ({meta_message or status}).")
    return BadRequest(f"{what}: Meta refused the request: {meta_message or 'no reason given'}")


def _permission_named(message: str) -> str | None:
    for name in _KNOWN_PERMISSIONS:
        if re.search(rf"\b{re.escape(name)}\b", message):
            return name
    return None


def _restricted_until(error_data: Mapping[str, Any]) -> datetime | None:
    for key in ("blocked_until", "restricted_until", "until", "end_time"):
        value = error_data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?")


def _timestamp_in(text: str) -> datetime | None:
    """Meta sometimes only says "until <time>" in its user-facing message."""
    match = _TIMESTAMP.search(text)
    if match is None:
        return None
    raw = match.group(0).replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", raw):
        raw = f"{raw[:-2]}:{raw[-2:]}"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _human_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"
