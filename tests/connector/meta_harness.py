"""Helpers the connector tests share: run connector work, and compare an import with the
simulator's own state. (Fixtures live in ``conftest.py``; helpers live here because several
test folders have a ``conftest`` module, so importing from one by name is ambiguous.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bastion.connectors.base import OperationRequest, OperationResult, Snapshot
from bastion.connectors.meta import MetaConnector

BASE_URL = "http://graph.simulator"


class Waits(list[float]):
    """The waits the client asked for, slept instantly."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


ConnectorFactory = Callable[..., MetaConnector]


def run(meta: MetaConnector, work: Callable[[MetaConnector], Awaitable[Any]]) -> Any:
    """Run one piece of connector work to completion, closing the connector after it."""

    async def scoped() -> Any:
        async with meta:
            return await work(meta)

    return asyncio.run(scoped())


def import_business(meta: MetaConnector) -> Snapshot:
    return run(meta, lambda m: m.fetch_snapshot())  # type: ignore[no-any-return]


def perform(meta: MetaConnector, request: OperationRequest) -> OperationResult:
    return run(meta, lambda m: m.perform(request))  # type: ignore[no-any-return]


def expected_snapshot(dump: dict[str, Any]) -> dict[str, Any]:
    """What an import must hold, read straight from the simulator's state dump."""
    listed = [i for i in dump["invitations"] if i["status"] in ("PENDING", "EXPIRED")]
    assets = [a for group in dump["assets"].values() for a in group]
    agencies: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
    for asset in assets:
        for access in asset["agencies"]:
            # Meta documents no read of a partner's tasks on a pixel or an Instagram asset.
            readable = asset["type"] not in ("pixel", "instagram")
            tasks = tuple(sorted(access["permitted_tasks"])) if readable else ()
            agencies.setdefault(access["business_id"], set()).add((asset["id"], tasks))
    return {
        "business": (dump["business"]["id"], dump["business"]["name"]),
        "people": {
            (
                p["id"],
                p["email"],
                p["role"],
                p["name"],
                p["two_fac_status"],
                p["finance_permission"],
                p["ip_permission"],
            )
            for p in dump["people"]
        },
        "invitations": {
            (i["id"], i["email"], i["role"], i["status"], i["expiration_time"]) for i in listed
        },
        "system_users": {(s["id"], s["name"], s["role"]) for s in dump["system_users"]},
        "assets": {
            (a["id"], a["name"], TYPES[a["type"]], a["ownership"], _owner_seen(a)) for a in assets
        },
        "grants": {
            (holder["user_id"], a["id"], tuple(sorted(holder["tasks"])))
            for a in assets
            for holder in a["assigned_users"]
        },
        "partners": {(p["id"], p["name"], p["relation"]) for p in dump["partners"]},
        "agency_tasks": agencies,
    }


def _owner_seen(asset: dict[str, Any]) -> str | None:
    """Meta's Instagram assets carry no owner: an import knows only that the owned ones are ours."""
    if asset["type"] == "instagram" and asset["ownership"] == "client":
        return None
    return str(asset["owner_business_id"])


def observed_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    """The same view of an imported snapshot."""
    accounts = snapshot.accounts
    agencies: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
    for partner in snapshot.partners:
        if partner.relation == "agency" and partner.asset_tasks:
            agencies[partner.external_id] = {
                (a.asset_external_id, a.tasks) for a in partner.asset_tasks
            }
    return {
        "business": (snapshot.business.external_id, snapshot.business.name),
        "people": {
            (
                a.external_id,
                a.email,
                a.role,
                a.name,
                a.two_factor_status,
                a.finance_permission,
                a.ads_rights_permission,
            )
            for a in accounts
            if a.kind == "person"
        },
        "invitations": {
            (
                a.external_id,
                a.email,
                a.role,
                a.invitation_status,
                int(a.invitation_expires_at.timestamp()) if a.invitation_expires_at else None,
            )
            for a in accounts
            if a.kind == "invitation"
        },
        "system_users": {
            (a.external_id, a.name, a.role) for a in accounts if a.kind == "system_user"
        },
        "assets": {
            (a.external_id, a.name, a.type, a.ownership, a.owner_business_id)
            for a in snapshot.assets
        },
        "grants": {(g.account_external_id, g.asset_external_id, g.tasks) for g in snapshot.grants},
        "partners": {(p.external_id, p.name, p.relation) for p in snapshot.partners},
        "agency_tasks": agencies,
    }


TYPES = {
    "page": "page",
    "ad_account": "ad_account",
    "catalog": "catalog",
    "pixel": "pixel",
    "instagram": "instagram_asset",
}


class DetachedASGITransport(httpx.AsyncBaseTransport):
    """The simulator in-process, but with a socket's behaviour on timeouts: the server finishes
    a request even after the client stopped waiting for the answer (``ASGITransport`` alone
    cancels the server's work together with the client's wait)."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._running: set[asyncio.Task[httpx.Response]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        task = asyncio.ensure_future(self._inner.handle_async_request(request))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)
