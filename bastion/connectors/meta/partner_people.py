"""A native partner's people on our assets, read with the partner business's own token.

Our token does not list another business's people: ``assigned_users`` takes the ``business``
whose users it lists (facebook-business 25.0.3 adobjects/adaccount.py ``get_assigned_users``,
param ``business``; page.py, productcatalog.py, adspixel.py, instagrambusinessasset.py alike), and
a partner's users are visible only to that partner (reference §2.7, UNCONFIRMED; Cerby has the
partner generate a token in their own business). So a partner's system-user token reads:

1. ``/me`` and ``/{partner}/system_users``: the token is a system user *of that partner*
   (business.py ``get_system_users``; ``role`` is an edge field), as our own validation reads ours
   without the App secret; a partner's token is for its own app, so ``debug_token`` with our app's
   token cannot inspect it;
2. ``/{partner}/business_users``: names and e-mails of its people (business.py
   ``get_business_users``);
3. ``/{asset}/assigned_users?business={partner}`` on each of our assets shared with it: who of
   its people holds which tasks there. Only people with a task on one of our assets are imported.
"""

from __future__ import annotations

import asyncio

from bastion.connectors.base import (
    AccountRecord,
    ConnectorError,
    GrantRecord,
    NotFound,
    PartnerPeople,
    PartnerTokenCheck,
    PermissionMissing,
    TokenInvalid,
)
from bastion.connectors.meta.client import GraphClient
from bastion.connectors.meta.graph_errors import TOKEN_SUBCODES

PERSON_FIELDS = "id,name,email,first_name,last_name,role"
ASSIGNEE_FIELDS = "id,name,user_type,tasks"
SYSTEM_USERS_PAGE = "Business settings > Users > System users"


async def check_partner_token(
    client: GraphClient, *, partner_id: str, partner_name: str
) -> PartnerTokenCheck:
    """Refuse a token that Meta refuses, that is not a system user's, or that belongs to
    another business than the partner. A failure saying nothing about the token (rate limit,
    outage) is raised."""
    label = f"{partner_name} ({partner_id})" if partner_name else partner_id
    try:
        me = await client.get("me", {"fields": "id,name"})
    except TokenInvalid as exc:
        reason = next((r for r in TOKEN_SUBCODES.values() if r in exc.message), None)
        return PartnerTokenCheck(
            f"Meta does not accept this token ({reason or 'it is invalid, expired or revoked'}); "
            f"ask {label} for a new one from {SYSTEM_USERS_PAGE}."
        )
    except ConnectorError as exc:
        if exc.disposition == "retry_later":
            raise
        return PartnerTokenCheck(f"Meta refused the token: {exc.message}")
    identity = str(me.get("id") or "")
    name = str(me.get("name") or "") or None
    try:
        users = await client.get_all(f"{partner_id}/system_users", {"fields": "id,name,role"})
    except (NotFound, PermissionMissing, TokenInvalid):
        return PartnerTokenCheck(
            f"The token does not belong to partner business {label}: it cannot read that "
            f"business. Ask {label} for a token of one of its own system users "
            f"({SYSTEM_USERS_PAGE}).",
            identity,
            name,
        )
    except ConnectorError as exc:
        if exc.disposition == "retry_later":
            raise
        return PartnerTokenCheck(f"Bastion could not read {label} with the token: {exc.message}")
    if identity not in {str(u.get("id")) for u in users}:
        return PartnerTokenCheck(
            f"The token belongs to {name or identity}, who is not one of {label}'s system users "
            f"(a person's token, or another business's); ask {label} for a system user's token "
            f"from {SYSTEM_USERS_PAGE}.",
            identity,
            name,
        )
    return PartnerTokenCheck(None, identity, name)


async def fetch_partner_people(
    client: GraphClient, *, partner_id: str, asset_ids: tuple[str, ...]
) -> PartnerPeople:
    """Every read must succeed, or the error is raised (the caller then knows nothing new
    about this partner's people, which is not the same as them being gone)."""
    people = await client.get_all(f"{partner_id}/business_users", {"fields": PERSON_FIELDS})
    by_id = {str(p.get("id")): p for p in people}
    assignees = await asyncio.gather(
        *(
            client.get_all(
                f"{asset_id}/assigned_users", {"business": partner_id, "fields": ASSIGNEE_FIELDS}
            )
            for asset_id in asset_ids
        )
    )
    grants: list[GrantRecord] = []
    holders: dict[str, dict[str, object]] = {}
    for asset_id, rows in zip(asset_ids, assignees, strict=True):
        for row in rows:
            user_id = str(row.get("id") or "")
            if not user_id or str(row.get("user_type") or "BUSINESS_USER") != "BUSINESS_USER":
                continue  # a partner's system user is the partner's tooling, not a person
            tasks = row.get("tasks")
            names = tuple(sorted(str(t) for t in tasks)) if isinstance(tasks, list) else ()
            grants.append(GrantRecord(user_id, asset_id, names))
            holders.setdefault(user_id, by_id.get(user_id) or dict(row))
    accounts = tuple(
        AccountRecord(
            kind="partner_person",
            external_id=user_id,
            name=_text(node.get("name")),
            email=_text(node.get("email")),
            role=_text(node.get("role")),
            first_name=_text(node.get("first_name")),
            last_name=_text(node.get("last_name")),
            partner_external_id=partner_id,
        )
        for user_id, node in holders.items()
    )
    return PartnerPeople(partner_id, accounts, tuple(grants))


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
