"""The import's *get* step: read a whole Business Manager in as few Graph operations as possible.

How few (reference §1, Field expansion and Pagination; §2.9, Batch):
1. one read of the business node expands every edge at its largest page size, and inside each
   asset list the asset's ``assigned_users.business(B)`` and ``agencies`` — the first page of
   everything in one Graph operation, never one call per asset;
2. then every page still to read (further pages of an edge, of an asset's assignees) is one
   operation. There are no rounds: each cursor chain moves on as soon as its page arrives. The
   pages known when a request slot frees go out together in batches of up to 50 under the
   client's concurrency bound, the people's and the other list edges' pages in a batch of their
   own, so the longest chain (the people) never waits behind a batch of 500-asset pages.
So the import costs one operation plus one per extra page, the lower bound for cursor paging.
If Meta refuses the expanded read as too large, each edge's first page is read on its own
instead (one operation more per edge).
Any failure fails the whole import, naming what was being read, so nothing downstream mistakes
"not fetched" for "gone".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bastion.connectors.base import AssetType, ConnectorError, Ownership, Snapshot, Transient
from bastion.connectors.meta.client import MAX_BATCH, GraphCall, GraphClient, JSONObject
from bastion.connectors.meta.transform import FetchedAsset, FetchedBusiness, SnapshotBuilder
from bastion.garbage import collector_paused

# Page sizes asked for. Meta publishes no caps, only that some edges cap ``limit`` and that a page
# may hold fewer items than asked (docs/graph-api/results); since every edge is followed through
# ``paging.next``, a cap only costs more pages, never items. UNCONFIRMED: that no edge refuses these
# sizes outright; 500 on the asset inventory keeps a large portfolio's asset lists to a page or two.
LIST_PAGE_SIZE = 100
INVENTORY_PAGE_SIZE = 500
NESTED_PAGE_SIZE = 100

BUSINESS_FIELDS = "id,name,two_factor_type,verification_status"
PERSON_FIELDS = (
    "id,name,email,first_name,last_name,role,two_fac_status,finance_permission,ip_permission"
)
INVITATION_FIELDS = "id,email,role,status,expiration_time,created_time"
# ``created_by`` is the User node of the person who created the system user (Meta's SystemUser).
SYSTEM_USER_FIELDS = (
    "id,name,role,finance_permission,ip_permission,created_time,created_by{id,name,email}"
)
PARTNER_FIELDS = "id,name"
# An agency's tasks on the business's Pages, ad accounts and catalogs, as the business's
# ``agencies`` edge adds them (reference/business/agencies); pixels and Instagram assets have no
# documented read of a partner's tasks.
AGENCY_PERMISSION_FIELDS = "adaccount_permissions,page_permissions,productcatalog_permissions"
ASSIGNEE_FIELDS = "id,name,user_type,tasks"
# What an agency holds on an asset is documented for ad accounts only (edge_fields.py); on the
# other asset types the agencies edge returns Business nodes and nothing more.
AGENCY_FIELDS = "id,name,permitted_tasks"
PLAIN_AGENCY_FIELDS = "id,name"


@dataclass(frozen=True)
class AssetEdge:
    """One business edge listing assets of one type and ownership."""

    edge: str
    type: AssetType
    ownership: Ownership
    fields: str
    agency_fields: str = PLAIN_AGENCY_FIELDS


ASSET_EDGES = (
    AssetEdge("owned_pages", "page", "owned", "id,name,owner_business{id,name}"),
    AssetEdge("client_pages", "page", "client", "id,name,owner_business{id,name}"),
    AssetEdge(
        "owned_ad_accounts",
        "ad_account",
        "owned",
        "id,name,account_id,owner_business{id,name}",
        AGENCY_FIELDS,
    ),
    AssetEdge(
        "client_ad_accounts",
        "ad_account",
        "client",
        "id,name,account_id,owner_business{id,name}",
        AGENCY_FIELDS,
    ),
    AssetEdge("owned_product_catalogs", "catalog", "owned", "id,name,owner_business{id,name}"),
    AssetEdge("client_product_catalogs", "catalog", "client", "id,name,owner_business{id,name}"),
    AssetEdge("owned_pixels", "pixel", "owned", "id,name,owner_business{id,name}"),
    AssetEdge("client_pixels", "pixel", "client", "id,name,owner_business{id,name}"),
    # Meta's InstagramBusinessAsset has only id, ig_user_id and ig_username: no name and no
    # owner (facebook-business 25.0.3 adobjects/instagrambusinessasset.py); which edge listed it
    # says whether the business owns it.
    AssetEdge("owned_instagram_assets", "instagram_asset", "owned", "id,ig_user_id,ig_username"),
    AssetEdge("client_instagram_assets", "instagram_asset", "client", "id,ig_user_id,ig_username"),
)


LIST_EDGES = {
    "business_users": (PERSON_FIELDS, LIST_PAGE_SIZE),
    "pending_users": (INVITATION_FIELDS, LIST_PAGE_SIZE),
    "system_users": (SYSTEM_USER_FIELDS, LIST_PAGE_SIZE),
    "agencies": (f"{PARTNER_FIELDS},{AGENCY_PERMISSION_FIELDS}", LIST_PAGE_SIZE),
    "clients": (PARTNER_FIELDS, LIST_PAGE_SIZE),
}
ASSET_EDGE_NAMES = frozenset(e.edge for e in ASSET_EDGES)
# The list edges whose records need nothing else read; every other read feeds assets, grants or
# partners, which are transformed as soon as the last of those reads is in.
ACCOUNT_EDGES = frozenset({"business_users", "pending_users", "system_users"})
NESTED_EDGES = ("assigned_users", "agencies")
ALL_EDGES = frozenset(LIST_EDGES) | ASSET_EDGE_NAMES


async def fetch_snapshot(client: GraphClient, business_id: str) -> Snapshot:
    """Read everything, transforming while the people still page; counts are the client's for
    this import only."""
    before_ops = client.counters.graph_operations
    before_http = client.counters.http_requests
    builder = SnapshotBuilder()
    with collector_paused():
        # Only the records are kept: each page is let go once the builder has what it holds, so
        # the decoded pages never all live at once and the collector never walks them.
        business = (await _fetch(client, business_id, _Collected(builder, keep=False))).business
        return builder.snapshot(
            business,
            graph_operations=client.counters.graph_operations - before_ops,
            http_requests=client.counters.http_requests - before_http,
        )


async def fetch_business(client: GraphClient, business_id: str) -> FetchedBusiness:
    """One read of the business node with every edge expanded, then every further page; every
    page's items are kept (``fetch_snapshot`` keeps only their records)."""
    return await _fetch(client, business_id, _Collected(SnapshotBuilder(), keep=True))


async def _fetch(client: GraphClient, business_id: str, collected: _Collected) -> FetchedBusiness:
    """Read the business: the collected builder is handed every account page as it arrives, and
    the assets, grants and partners as soon as every read they depend on is in."""
    edge_fields = {edge: f"{f}" for edge, (f, _) in LIST_EDGES.items()} | {
        e.edge: _asset_fields(business_id, e) for e in ASSET_EDGES
    }
    sizes = {edge: size for edge, (_, size) in LIST_EDGES.items()} | {
        e.edge: INVENTORY_PAGE_SIZE for e in ASSET_EDGES
    }
    expanded = ",".join(
        [BUSINESS_FIELDS, *(f"{e}.limit({sizes[e]}){{{f}}}" for e, f in edge_fields.items())]
    )
    pending: list[tuple[_Sink, GraphCall]] = []
    try:
        root = await client.get(business_id, {"fields": expanded})
    except Transient:
        # Meta may refuse a read this large ("reduce the amount of data", TooMuchData, handed
        # back without a retry) on a big portfolio, or keep failing it: then every edge's first
        # page is read on its own, batched: one more operation per edge, nothing else changes.
        try:
            root = await client.get(business_id, {"fields": BUSINESS_FIELDS})
        except ConnectorError as exc:
            raise exc.during("Reading the business") from exc
        pending = [
            (
                _Sink(edge),
                GraphCall("GET", f"{business_id}/{edge}", {"fields": f, "limit": str(sizes[edge])}),
            )
            for edge, f in edge_fields.items()
        ]
    except ConnectorError as exc:
        raise exc.during("Reading the business") from exc
    for edge in edge_fields:
        # Taken out of the root, which lives to the end: only the business's own fields stay.
        inline = root.pop(edge, None)
        page = inline if isinstance(inline, Mapping) else {}
        pending += collected.take(client, _Sink(edge), page)
    await _follow(client, collected, pending, root)
    return collected.result(root)


_Pending = list[tuple["_Sink", GraphCall]]


async def _follow(
    client: GraphClient, collected: _Collected, pending: _Pending, root: Mapping[str, Any]
) -> None:
    """Read every page still to read, each chain advancing as soon as its page arrives.

    Whenever a request slot is free, the pages known by then go out: the list edges' pages
    (people, invitations, system users, partners) in a batch of their own, the asset pages in
    batches of up to 50. Once no read of assets or partners is left, they are transformed in
    short steps between the people's pages. The first failure cancels what is still in flight
    and ends the import.
    """
    ready: _Pending = list(pending)
    in_flight: set[asyncio.Task[tuple[_Pending, list[JSONObject | ConnectorError]]]] = set()
    asset_reads = sum(1 for sink, _ in ready if sink.feeds_assets)
    transform: asyncio.Task[None] | None = None

    async def send(chunk: _Pending) -> tuple[_Pending, list[JSONObject | ConnectorError]]:
        return chunk, await client.batch_get([call for _, call in chunk])

    try:
        while True:
            if transform is None and asset_reads == 0:
                steps = collected.builder.asset_steps(collected.result(root))
                transform = asyncio.create_task(_run_in_steps(steps))
            elif transform is not None and transform.done() and not collected.keep:
                collected.release()
            if not (ready or in_flight):
                break
            while ready and len(in_flight) < client.concurrency:
                chunk = _next_chunk(ready)
                in_flight.add(asyncio.create_task(send(chunk)))
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                chunk, answers = task.result()
                for (sink, _), answer in zip(chunk, answers, strict=True):
                    if isinstance(answer, ConnectorError):
                        raise answer.during(f"Reading {sink.describe()}")
                    follow = collected.take(client, sink, answer)
                    asset_reads += sum(1 for s, _ in follow if s.feeds_assets) - sink.feeds_assets
                    ready += follow
        if transform is not None:
            await transform
    finally:
        running = [*in_flight, *([transform] if transform is not None else [])]
        for unfinished in running:
            unfinished.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


async def _run_in_steps(steps: Iterator[None]) -> None:
    """Run a transform a step at a time, letting the event loop serve arriving pages between
    steps, so the people's cursor is never held up by more than one step."""
    for _ in steps:
        await asyncio.sleep(0)


def _next_chunk(ready: _Pending) -> _Pending:
    """Take the next batch off ``ready``: the list edges' pages first, on their own."""
    lists = [item for item in ready if item[0].asset_id is None and item[0].edge in LIST_EDGES]
    chunk = lists[:MAX_BATCH] if lists else ready[:MAX_BATCH]
    taken = {id(item) for item in chunk}
    ready[:] = [item for item in ready if id(item) not in taken]
    return chunk


@dataclass(frozen=True)
class _Sink:
    """Where a page's items belong: a business edge, or an asset's nested edge."""

    edge: str
    asset_id: str | None = None

    def describe(self) -> str:
        return f"{self.edge} of asset {self.asset_id}" if self.asset_id else self.edge

    @property
    def feeds_assets(self) -> bool:
        """Whether the page feeds assets, grants or partners (not accounts only)."""
        return self.asset_id is not None or self.edge not in ACCOUNT_EDGES


class _Collected:
    """Items gathered so far, per business edge and per asset's nested edge."""

    def __init__(self, builder: SnapshotBuilder, *, keep: bool) -> None:
        self.builder = builder
        # Whether items stay once the builder has them (``fetch_business``); otherwise account
        # pages are never kept, and the asset lists' pages go once transformed (``release``).
        self.keep = keep
        self.edges: dict[str, list[JSONObject]] = {}
        self.nested: dict[_Sink, list[JSONObject]] = {}
        self._assets: tuple[FetchedAsset, ...] | None = None

    def take(
        self, client: GraphClient, sink: _Sink, page: Mapping[str, Any]
    ) -> list[tuple[_Sink, GraphCall]]:
        """Keep one page's items; return the calls for the pages still to read."""
        items = _items(page)
        follow: list[tuple[_Sink, GraphCall]] = []
        if sink.asset_id is None:
            if self.keep or sink.edge not in _ADD_ACCOUNTS:
                self.edges.setdefault(sink.edge, []).extend(items)
            if sink.edge in _ADD_ACCOUNTS:
                _ADD_ACCOUNTS[sink.edge](self.builder, items)
            elif sink.edge in ASSET_EDGE_NAMES:
                for node in items:
                    follow += self._take_nested(client, node)
        elif sink.edge == "assigned_users":
            # Turned into grants at once: a large business's assignees are most of what is read.
            self.builder.add_assignees(sink.asset_id, items)
            if self.keep:
                self.nested.setdefault(sink, []).extend(items)
        else:
            self.nested.setdefault(sink, []).extend(items)
        call = client.next_page(page)
        if call is not None:
            follow.append((sink, call))
        return follow

    def _take_nested(self, client: GraphClient, node: JSONObject) -> list[tuple[_Sink, GraphCall]]:
        follow: list[tuple[_Sink, GraphCall]] = []
        for nested in NESTED_EDGES:
            inline = node.pop(nested, None)
            # A missing key means no items (reference §1, Field expansion).
            page = inline if isinstance(inline, Mapping) else {}
            follow += self.take(client, _Sink(nested, _node_id(node)), page)
        return follow

    def release(self) -> None:
        """Let the transformed pages go: assets, their nested edges, agencies and clients."""
        self.edges.clear()
        self.nested.clear()
        self._assets = ()

    def result(self, root: Mapping[str, Any]) -> FetchedBusiness:
        """What was read so far; the assets are kept from the first call, made once every read
        of them is in."""
        if self._assets is None:
            self._assets = self._fetched_assets()
        return FetchedBusiness(
            business={k: v for k, v in root.items() if k not in self.edges and k not in ALL_EDGES},
            people=tuple(self.edges.get("business_users", ())),
            invitations=tuple(self.edges.get("pending_users", ())),
            system_users=tuple(self.edges.get("system_users", ())),
            assets=self._assets,
            agencies=tuple(self.edges.get("agencies", ())),
            clients=tuple(self.edges.get("clients", ())),
        )

    def _fetched_assets(self) -> tuple[FetchedAsset, ...]:
        return tuple(
            FetchedAsset(
                type=edge.type,
                ownership=edge.ownership,
                node=node,
                assignees=tuple(self.nested.get(_Sink("assigned_users", _node_id(node)), ())),
                agencies=tuple(self.nested.get(_Sink("agencies", _node_id(node)), ())),
            )
            for edge in ASSET_EDGES
            for node in self.edges.get(edge.edge, [])
        )


_ADD_ACCOUNTS = {
    "business_users": SnapshotBuilder.add_people,
    "pending_users": SnapshotBuilder.add_invitations,
    "system_users": SnapshotBuilder.add_system_users,
}


def _asset_fields(business_id: str, edge: AssetEdge) -> str:
    return ",".join(
        [
            edge.fields,
            f"assigned_users.business({business_id}).limit({NESTED_PAGE_SIZE}){{{ASSIGNEE_FIELDS}}}",
            f"agencies.limit({NESTED_PAGE_SIZE}){{{edge.agency_fields}}}",
        ]
    )


def _node_id(node: Mapping[str, Any]) -> str:
    """An asset's id as its records carry it (``transform``): a missing one is empty."""
    value = node.get("id")
    return "" if value is None else str(value)


def _items(page: Mapping[str, Any]) -> list[JSONObject]:
    data = page.get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
