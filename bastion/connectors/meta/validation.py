"""Checking a connection before Bastion stores it: is this token one we can govern with?

The connect-app form and wizard show the answer line by line, so every check is made even when
an earlier one fails (except when the token itself is rejected: then nothing else can be read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bastion.connectors.base import (
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


async def validate_connection(
    client: GraphClient, *, token: str, business_id: str, app_id: str
) -> ConnectionCheck:
    """Token validity, type, expiry, the six permissions, the business and admin rights."""
    try:
        debug = await client.get("debug_token", {"input_token": token})
    except TokenInvalid as exc:
        return _rejected(exc.message)
    info = debug.get("data")
    info = info if isinstance(info, Mapping) else {}
    if not info.get("is_valid"):
        return _rejected(_invalid_reason(info))
    token_type = str(info.get("type") or "") or None
    problem = None
    if str(info.get("app_id") or app_id) != app_id:
        problem = (
            f"The token was made for app {info.get('app_id')}, not for app {app_id}; generate "
            "it from the app you entered."
        )
    granted = await _granted_scopes(client, info)
    business, business_problem = await _business(client, business_id)
    can_manage = False
    if business is not None:
        can_manage = await _is_admin(client, business_id, str(info.get("user_id") or ""))
    return ConnectionCheck(
        token_valid=True,
        token_problem=problem,
        token_type=token_type,
        is_system_user=token_type == SYSTEM_USER_TYPE,
        expires_at=_expiry(info.get("expires_at")),
        permissions=tuple(PermissionCheck(p, p in granted) for p in REQUIRED_PERMISSIONS),
        business_name=str(business.get("name")) if business else None,
        business_problem=business_problem,
        can_manage_people=can_manage,
    )


def _rejected(reason: str) -> ConnectionCheck:
    return ConnectionCheck(
        token_valid=False,
        token_problem=reason,
        token_type=None,
        is_system_user=False,
        expires_at=None,
        permissions=tuple(PermissionCheck(p, False) for p in REQUIRED_PERMISSIONS),
        business_name=None,
        business_problem=None,
        can_manage_people=False,
    )


def _invalid_reason(info: Mapping[str, Any]) -> str:
    error = info.get("error")
    subcode = error.get("subcode") if isinstance(error, Mapping) else None
    reason = TOKEN_SUBCODES.get(subcode if isinstance(subcode, int) else 0)
    if reason is None and _expiry(info.get("expires_at")) is not None:
        expiry = _expiry(info.get("expires_at"))
        if expiry is not None and expiry <= datetime.now(tz=UTC):
            reason = "the token has expired"
    return (
        f"Meta says the token is not valid ({reason or 'revoked or malformed'}). Generate a "
        "new never-expiring token for the system user."
    )


def _expiry(value: object) -> datetime | None:
    """``expires_at`` 0 means the token never expires (reference §2.8)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    return None


async def _granted_scopes(client: GraphClient, info: Mapping[str, Any]) -> frozenset[str]:
    scopes = info.get("scopes")
    if isinstance(scopes, list) and scopes:
        return frozenset(str(s) for s in scopes)
    try:
        page = await client.get("me/permissions")
    except ConnectorError:
        return frozenset()
    data = page.get("data")
    return frozenset(
        str(item.get("permission"))
        for item in (data if isinstance(data, list) else [])
        if isinstance(item, Mapping) and item.get("status") == "granted"
    )


async def _business(
    client: GraphClient, business_id: str
) -> tuple[Mapping[str, Any] | None, str | None]:
    try:
        return await client.get(business_id, {"fields": "id,name"}), None
    except NotFound:
        return None, (
            f"Business {business_id} cannot be reached with this token: check the Business "
            "Manager ID and that the system user belongs to it."
        )
    except ConnectorError as exc:
        return None, exc.message


async def _is_admin(client: GraphClient, business_id: str, user_id: str) -> bool:
    """Whether the token's system user holds Full control, the role needed to manage people."""
    me, system_users = await asyncio.gather(
        client.get("me", {"fields": "id,name"}),
        client.get_all(f"{business_id}/system_users", {"fields": "id,name,role"}),
        return_exceptions=True,
    )
    ids = {user_id} - {""}
    if isinstance(me, dict) and me.get("id"):
        ids.add(str(me["id"]))
    if isinstance(system_users, BaseException):
        return False
    return any(
        str(u.get("id")) in ids and str(u.get("role") or "").upper() in ADMIN_ROLES
        for u in system_users
    )
