"""Checking a connection before Bastion stores it: is this token one we can govern with?

The connect-app form shows the answer line by line, so every check is made even when an earlier
one fails, except when the token itself is refused: then nothing else can be read, and one
sentence says so.

Meta describes a token (type, expiry, permissions) through ``debug_token`` only to the app
itself: the caller must be the app token ``{app_id}|{app_secret}`` or a developer of the app
(reference §2.8). A system-user token cannot inspect itself, and the SystemUser node has no
``permissions`` edge. So with the App secret Bastion asks ``debug_token``; without it, it reads
what a system-user token may read about itself (``/me``, the business, its system users) and
says what it could not verify.

A failure that says nothing about the token (Meta unreachable, timing out, rate-limiting or
restricting the app) is raised, not turned into a refusal: the caller answers "try again later"
rather than "this token is wrong".
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bastion.connectors.base import (
    BadRequest,
    ConnectionCheck,
    ConnectorError,
    NotFound,
    PermissionCheck,
    TokenInvalid,
)
from bastion.connectors.meta.client import GraphClient
from bastion.connectors.meta.graph_errors import REQUIRED_PERMISSIONS, TOKEN_SUBCODES

ADMIN_ROLES = frozenset({"ADMIN"})
SYSTEM_USER_TYPE = "SYSTEM_USER"
VERIFIED = "verified"
TWO_FACTOR_POLICIES = {
    "admin_required": "for admins",
    "all_required": "for everyone",
}
# The business's owned assets by type: business edge, the system user's own list of that type
# (SystemUser's ``assigned_*`` edges in Meta's schema; pixels and Instagram assets have none, so
# their ``assigned_users`` say), words for a person.
ASSIGNABLE: tuple[tuple[str, str | None, tuple[str, str]], ...] = (
    ("owned_pages", "assigned_pages", ("Page", "Pages")),
    ("owned_ad_accounts", "assigned_ad_accounts", ("ad account", "ad accounts")),
    ("owned_product_catalogs", "assigned_product_catalogs", ("catalog", "catalogs")),
    ("owned_pixels", None, ("pixel", "pixels")),
    ("owned_instagram_assets", None, ("Instagram asset", "Instagram assets")),
)
SYSTEM_USERS_PAGE = "Business settings > Users > System users"
_CALL_PREFIX = re.compile(r"^(?:GET|POST|DELETE) [^ ]*: ")


async def validate_connection(
    client: GraphClient, *, token: str, business_id: str, app_id: str
) -> ConnectionCheck:
    """Token, type, expiry and permissions (with the App secret), the business, admin rights
    and asset assignments."""
    try:
        me = await client.get("me", {"fields": "id,name"})
    except ConnectorError as exc:
        _raise_if_retry_later(exc)
        return _rejected(_first_call_problem(exc, has_secret=client.has_app_secret))
    info: Mapping[str, Any] | None = None
    if client.has_app_secret:
        try:
            debug = await client.get_as_app(app_id, "debug_token", {"input_token": token})
        except TokenInvalid:
            return _rejected(
                f"Meta did not accept App ID {app_id} together with this App secret; copy both "
                "again from the app's dashboard (App settings > Basic)."
            )
        except ConnectorError as exc:
            _raise_if_retry_later(exc)
            return _rejected(f"Bastion could not ask Meta about the token: {_plain(exc)}")
        data = debug.get("data")
        info = data if isinstance(data, Mapping) else {}
        if not info.get("is_valid"):
            return _rejected(_token_refused(_invalid_reason(info)))
    user_id = str((info or {}).get("user_id") or me.get("id") or "")
    reads = await asyncio.gather(
        _business(client, business_id),
        _system_users(client, business_id),
        *(
            _assignment(client, business_id, user_id, owned, assigned)
            for owned, assigned, _words in ASSIGNABLE
        ),
        return_exceptions=True,
    )
    for read in reads:
        if isinstance(read, BaseException):
            raise read
    business, system_users, *counts = reads
    node, business_problem = business
    users, users_problem = system_users
    warnings = [*_business_warnings(node), *(_assignment_warnings(counts) if node else [])]
    not_verified: list[str] = []
    if info is None:
        not_verified.insert(0, _unverified_without_secret(app_id))
        token_type, is_system_user = None, (None if users is None else user_id in users)
        permissions = tuple(PermissionCheck(p, None) for p in REQUIRED_PERMISSIONS)
        expires_at, token_problem = None, None
    else:
        token_type = str(info.get("type") or "") or None
        is_system_user = token_type == SYSTEM_USER_TYPE
        granted = _scopes(info)
        permissions = tuple(PermissionCheck(p, p in granted) for p in REQUIRED_PERMISSIONS)
        expires_at = _expiry(info.get("expires_at"))
        token_problem = _app_mismatch(info, app_id)
        if expires_at is not None:
            warnings.insert(0, _expiry_warning(expires_at))
    return ConnectionCheck(
        token_valid=True,
        token_problem=token_problem,
        token_type=token_type,
        is_system_user=is_system_user,
        expires_at=expires_at,
        permissions=permissions,
        business_name=str(node.get("name")) if node else None,
        business_problem=business_problem or (users_problem if node else None),
        can_manage_people=users is not None and users.get(user_id) in ADMIN_ROLES,
        token_details_verified=info is not None,
        token_identity=user_id or None,
        business_verification_status=_optional(node.get("verification_status")) if node else None,
        warnings=tuple(warnings),
        not_verified=tuple(not_verified),
    )


# --- the token ------------------------------------------------------------------------------


def _rejected(reason: str) -> ConnectionCheck:
    return ConnectionCheck(
        token_valid=False,
        token_problem=reason,
        token_type=None,
        is_system_user=None,
        expires_at=None,
        permissions=tuple(PermissionCheck(p, None) for p in REQUIRED_PERMISSIONS),
        business_name=None,
        business_problem=None,
        can_manage_people=False,
    )


def _token_refused(reason: str) -> str:
    return (
        f"Meta does not accept this access token ({reason}); generate a new one for the system "
        f"user in {SYSTEM_USERS_PAGE}."
    )


def _first_call_problem(error: ConnectorError, *, has_secret: bool) -> str:
    """One sentence for a token (or App secret) Meta refused on the very first call."""
    if isinstance(error, TokenInvalid):
        reason = next((r for r in TOKEN_SUBCODES.values() if r in error.message), None)
        return _token_refused(reason or "it is invalid, expired or revoked")
    if isinstance(error, BadRequest) and "appsecret_proof" in error.message:
        if has_secret:
            return (
                "Meta did not accept the App secret; copy it again from the app's dashboard "
                "(App settings > Basic)."
            )
        return (
            'The app has "Require App Secret" turned on, so Meta refuses calls without it; '
            "enter the App secret from the app's dashboard (App settings > Basic)."
        )
    return f"Bastion could not check the token with Meta: {_plain(error)}"


def _invalid_reason(info: Mapping[str, Any]) -> str:
    error = info.get("error")
    subcode = error.get("subcode") if isinstance(error, Mapping) else None
    reason = TOKEN_SUBCODES.get(subcode if isinstance(subcode, int) else 0)
    expiry = _expiry(info.get("expires_at"))
    if reason is None and expiry is not None and expiry <= datetime.now(tz=UTC):
        reason = "the token has expired"
    return reason or "it is revoked or malformed"


def _app_mismatch(info: Mapping[str, Any], app_id: str) -> str | None:
    if str(info.get("app_id") or app_id) == app_id:
        return None
    return (
        f"The token was made for app {info.get('app_id')}, not for app {app_id}; generate it "
        "from the app you entered."
    )


def _scopes(info: Mapping[str, Any]) -> frozenset[str]:
    """``debug_token`` lists the granted permissions; there is no other source for a system
    user (``/me/permissions`` exists only on User)."""
    scopes = info.get("scopes")
    return frozenset(str(s) for s in scopes) if isinstance(scopes, list) else frozenset()


def _expiry(value: object) -> datetime | None:
    """``expires_at`` 0 means the token never expires (reference §2.8)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def _expiry_warning(expires_at: datetime) -> str:
    days = max(0, (expires_at - datetime.now(tz=UTC)).days)
    return (
        f"The token expires on {expires_at:%Y-%m-%d} (in {days} days). Bastion e-mails the "
        "app's owners 14 and 3 days before it lapses; to avoid replacing it, generate a token "
        "whose expiration is Never."
    )


def _unverified_without_secret(app_id: str) -> str:
    return (
        "Without the App secret, Meta tells Bastion nothing about the token itself: its type, "
        f"its expiry, its permissions and that it was made for app {app_id} are not verified. "
        "If a permission is missing, the first check will fail and say so."
    )


# --- the business ---------------------------------------------------------------------------


async def _business(
    client: GraphClient, business_id: str
) -> tuple[Mapping[str, Any] | None, str | None]:
    try:
        node = await client.get(
            business_id, {"fields": "id,name,verification_status,two_factor_type"}
        )
    except NotFound:
        return None, (
            f"Business {business_id} cannot be reached with this token: check the Business "
            "Manager ID and that the system user belongs to it."
        )
    except ConnectorError as exc:
        _raise_if_retry_later(exc)
        return None, f"Bastion could not read business {business_id}: {_plain(exc)}"
    return node, None


async def _system_users(
    client: GraphClient, business_id: str
) -> tuple[dict[str, str] | None, str | None]:
    """The business's system users and their roles (``role`` is an edge field)."""
    try:
        users = await client.get_all(f"{business_id}/system_users", {"fields": "id,name,role"})
    except ConnectorError as exc:
        _raise_if_retry_later(exc)
        return None, f"Bastion could not list the business's system users: {_plain(exc)}"
    return {str(u.get("id")): str(u.get("role") or "").upper() for u in users}, None


def _business_warnings(node: Mapping[str, Any] | None) -> list[str]:
    if node is None:
        return []
    found: list[str] = []
    status = _optional(node.get("verification_status"))
    if status is not None and status != VERIFIED:
        found.append(
            f"Meta has not verified this business (its status is {status}). Meta gives full "
            "API access only to verified businesses; start the verification in Business "
            "settings > Security Center."
        )
    policy = TWO_FACTOR_POLICIES.get(str(node.get("two_factor_type") or ""))
    if policy:
        found.append(
            f"The business requires two-factor authentication {policy}; where Meta then refuses "
            "a change made through the API, Bastion shows it as a step to do by hand in "
            "Business Manager."
        )
    return found


# --- asset assignments ----------------------------------------------------------------------


async def _assignment(
    client: GraphClient, business_id: str, user_id: str, owned_edge: str, assigned_edge: str | None
) -> tuple[int, int] | str:
    """How many assets of one type the business owns, and how many of those the system user is
    assigned (ids compared, so assets of other businesses cannot hide a missing one), or why
    Bastion could not tell."""
    try:
        if assigned_edge is not None:
            owned, assigned = await asyncio.gather(
                _ids(client, f"{business_id}/{owned_edge}"),
                _ids(client, f"{user_id}/{assigned_edge}"),
            )
            return len(owned), len(owned & assigned)
        return await _assigned_by_assignees(client, business_id, user_id, owned_edge)
    except ConnectorError as exc:
        return _plain(exc)


async def _ids(client: GraphClient, path: str) -> set[str]:
    return {str(item.get("id")) for item in await client.get_all(path, {"fields": "id"})}


async def _assigned_by_assignees(
    client: GraphClient, business_id: str, user_id: str, owned_edge: str
) -> tuple[int, int]:
    """Pixels and Instagram assets: each asset's ``assigned_users`` lists who holds it."""
    nested = f"assigned_users.business({business_id}).limit(100){{id}}"
    assets = await client.get_all(f"{business_id}/{owned_edge}", {"fields": f"id,{nested}"})
    held = 0
    for asset in assets:
        page = asset.get("assigned_users")
        page = page if isinstance(page, Mapping) else {}
        data = page.get("data")
        ids = (
            {str(i.get("id")) for i in data if isinstance(i, Mapping)}
            if isinstance(data, list)
            else set()
        )
        next_call = client.next_page(page)
        if user_id not in ids and next_call is not None:
            rest = await client.get_all(next_call.path, next_call.params)
            ids |= {str(item.get("id")) for item in rest}
        held += user_id in ids
    return len(assets), held


def _assignment_warnings(counts: list[tuple[int, int] | str]) -> list[str]:
    short: list[str] = []
    unread: list[str] = []
    for (_owned, _assigned, (one, many)), count in zip(ASSIGNABLE, counts, strict=True):
        if isinstance(count, str):
            unread.append(
                f"Bastion could not compare the business's {many} with the system user's: {count}"
            )
        elif count[1] < count[0]:
            short.append(f"{count[1]} of its {count[0]} {one if count[0] == 1 else many}")
    found: list[str] = []
    if short:
        found.append(
            f"The system user is assigned only {_joined(short)}, so Bastion cannot see the "
            f"others. Assign them in {SYSTEM_USERS_PAGE} > Assign assets, with Full control."
        )
    return found + unread


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _optional(value: object) -> str | None:
    text = str(value or "").strip()
    return text or None


def _raise_if_retry_later(error: ConnectorError) -> None:
    if error.disposition == "retry_later":
        plain = copy.copy(error)
        plain.message = f"The connection could not be checked: {_plain(error)}"
        plain.args = (plain.message,)
        raise plain from None


def _plain(error: ConnectorError) -> str:
    """The error's message without the call it came from ("GET /me: …"): a person connecting
    an app needs the reason, not our request."""
    return _CALL_PREFIX.sub("", error.message)
