"""The import's *get* step: read a whole Business Manager in as few Graph operations as possible.

How few: every list edge is read with its largest page size; each asset list expands its
``assigned_users`` (and, for owned assets, its ``agencies``) inline instead of one call per asset
(reference §1, Field expansion); the rare assets whose inline page is full are followed up in
batches of 50; independent edges run concurrently under the client's bound. Any failure fails
the whole import, naming the edge, so nothing downstream mistakes "not fetched" for "gone".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bastion.connectors.base import AssetType, ConnectorError, Ownership, Snapshot
from bastion.connectors.meta.client import GraphCall, GraphClient, JSONObject
from bastion.connectors.meta.transform import FetchedAsset, FetchedBusiness, snapshot_from_graph

# Largest page sizes honoured per edge. Meta caps ``limit`` silently; the simulator publishes its
# caps (simulator.limits.EDGE_LIMIT_CAPS) and these match them.
LIST_PAGE_SIZE = 100
INVENTORY_PAGE_SIZE = 500
NESTED_PAGE_SIZE = 100

BUSINESS_FIELDS = "id,name,two_factor_type,verification_status"
PERSON_FIELDS = (
    "id,name,email,first_name,last_name,role,two_fac_status,finance_permission,ip_permission"
)
INVITATION_FIELDS = "id,email,role,status,expiration_time,created_time"
SYSTEM_USER_FIELDS = "id,name,role,finance_permission,ip_permission"
PARTNER_FIELDS = "id,name"
ASSIGNEE_FIELDS = "id,name,user_type,tasks"
AGENCY_FIELDS = "id,name,permitted_tasks"


@dataclass(frozen=True)
class AssetEdge:
    """One business edge listing assets of one type and ownership."""

    edge: str
    type: AssetType
    ownership: Ownership
    fields: str


ASSET_EDGES = (
    AssetEdge("owned_pages", "page", "owned", "id,name,owner_business{id,name}"),
    AssetEdge("client_pages", "page", "client", "id,name,owner_business{id,name}"),
    AssetEdge(
        "owned_ad_accounts", "ad_account", "owned", "id,name,account_id,owner_business{id,name}"
    ),
    AssetEdge(
        "client_ad_accounts", "ad_account", "client", "id,name,account_id,owner_business{id,name}"
    ),
    AssetEdge("owned_product_catalogs", "catalog", "owned", "id,name,owner_business{id,name}"),
    AssetEdge("client_product_catalogs", "catalog", "client", "id,name,owner_business{id,name}"),
    AssetEdge("owned_pixels", "pixel", "owned", "id,name,owner_business{id,name}"),
    AssetEdge("client_pixels", "pixel", "client", "id,name,owner_business{id,name}"),
    AssetEdge(
        "owned_instagram_assets",
        "instagram_asset",
        "owned",
        "id,name,ig_username,owner_business{id,name}",
    ),
    AssetEdge(
        "client_instagram_assets",
        "instagram_asset",
        "client",
        "id,name,ig_username,owner_business{id,name}",
    ),
)


async def fetch_snapshot(client: GraphClient, business_id: str) -> Snapshot:
    """Read everything, then transform; counts are the client's for this import only."""
    before_ops = client.counters.graph_operations
    before_http = client.counters.http_requests
    fetched = await fetch_business(client, business_id)
    return snapshot_from_graph(
        fetched,
        graph_operations=client.counters.graph_operations - before_ops,
        http_requests=client.counters.http_requests - before_http,
    )


async def fetch_business(client: GraphClient, business_id: str) -> FetchedBusiness:
    b = business_id
    lists = {
        "business_users": (PERSON_FIELDS, LIST_PAGE_SIZE),
        "pending_users": (INVITATION_FIELDS, LIST_PAGE_SIZE),
        "system_users": (SYSTEM_USER_FIELDS, LIST_PAGE_SIZE),
        "agencies": (PARTNER_FIELDS, LIST_PAGE_SIZE),
        "clients": (PARTNER_FIELDS, LIST_PAGE_SIZE),
    }
    tasks: list[asyncio.Task[Any]] = []
    async with asyncio.TaskGroup() as group:
        node = group.create_task(_step("business", client.get(b, {"fields": BUSINESS_FIELDS})))
        listed = {
            edge: group.create_task(
                _step(edge, client.get_all(f"{b}/{edge}", {"fields": f, "limit": str(n)}))
            )
            for edge, (f, n) in lists.items()
        }
        assets = [
            group.create_task(_step(e.edge, _fetch_assets(client, b, e))) for e in ASSET_EDGES
        ]
        tasks = [node, *listed.values(), *assets]
    del tasks
    return FetchedBusiness(
        business=node.result(),
        people=tuple(listed["business_users"].result()),
        invitations=tuple(listed["pending_users"].result()),
        system_users=tuple(listed["system_users"].result()),
        assets=tuple(asset for task in assets for asset in task.result()),
        agencies=tuple(listed["agencies"].result()),
        clients=tuple(listed["clients"].result()),
    )


async def _step(name: str, work: Any) -> Any:
    """Run one edge's read; a failure names the edge so the import's error says what broke."""
    try:
        return await work
    except ConnectorError as exc:
        raise exc.during(f"Reading {name}") from exc


def _asset_fields(business_id: str, edge: AssetEdge) -> str:
    nested = [
        f"assigned_users.business({business_id}).limit({NESTED_PAGE_SIZE}){{{ASSIGNEE_FIELDS}}}"
    ]
    if edge.ownership == "owned":
        nested.append(f"agencies.limit({NESTED_PAGE_SIZE}){{{AGENCY_FIELDS}}}")
    return ",".join([edge.fields, *nested])


async def _fetch_assets(
    client: GraphClient, business_id: str, edge: AssetEdge
) -> list[FetchedAsset]:
    params = {"fields": _asset_fields(business_id, edge), "limit": str(INVENTORY_PAGE_SIZE)}
    nodes = await client.get_all(f"{business_id}/{edge.edge}", params)
    assignees = await _complete_nested(client, nodes, "assigned_users")
    agencies = (
        await _complete_nested(client, nodes, "agencies") if edge.ownership == "owned" else {}
    )
    return [
        FetchedAsset(
            type=edge.type,
            ownership=edge.ownership,
            node={k: v for k, v in node.items() if k not in ("assigned_users", "agencies")},
            assignees=tuple(assignees.get(str(node.get("id")), ())),
            agencies=tuple(agencies.get(str(node.get("id")), ())),
        )
        for node in nodes
    ]


async def _complete_nested(
    client: GraphClient, nodes: Sequence[Mapping[str, Any]], edge: str
) -> dict[str, list[JSONObject]]:
    """Every item of an expanded edge per node: the inline page, then batched follow-ups for
    the nodes whose inline page has a ``next`` (a missing key means no items, reference §1)."""
    items: dict[str, list[JSONObject]] = {}
    pending: list[tuple[str, GraphCall]] = []
    for node in nodes:
        node_id = str(node.get("id"))
        inline = node.get(edge)
        page = inline if isinstance(inline, Mapping) else {}
        items[node_id] = _items(page)
        follow = client.next_page(page)
        if follow is not None:
            pending.append((node_id, follow))
    while pending:
        answers = await client.batch_get([call for _, call in pending])
        next_round: list[tuple[str, GraphCall]] = []
        for (node_id, _), answer in zip(pending, answers, strict=True):
            if isinstance(answer, ConnectorError):
                raise answer.during(f"Following {edge} of {node_id}")
            items[node_id].extend(_items(answer))
            follow = client.next_page(answer)
            if follow is not None:
                next_round.append((node_id, follow))
        pending = next_round
    return items


def _items(page: Mapping[str, Any]) -> list[JSONObject]:
    data = page.get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
