"""The import's *get* step: read a whole Business Manager in as few Graph operations as possible.

How few (reference §1, Field expansion and Pagination; §2.9, Batch):
1. one read of the business node expands every edge at its largest page size, and inside each
   asset list the asset's ``assigned_users.business(B)`` and ``agencies`` — the first page of
   everything in one Graph operation, never one call per asset;
2. then every page still to read (further pages of an edge, of an asset's assignees) is one
   operation. There are no rounds: each cursor chain moves on as soon as its page arrives. The
   list edges' next pages (people, invitations, system users, partners) go out together, in a
   request slot kept for them; the asset pages in batches of up to 50 in the client's other
   slots, their answers taken a few at a time, so the longest chain (the people) never waits
   behind a batch of 500-asset pages.
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

from bastion.connectors.base import (
    AssetsRead,
    AssetType,
    ConnectorError,
    IdleWork,
    Ownership,
    Snapshot,
    Transient,
)
from bastion.connectors.meta.client import MAX_BATCH, GraphCall, GraphClient, JSONObject
from bastion.connectors.meta.transform import FetchedAsset, FetchedBusiness, SnapshotBuilder
from bastion.garbage import collect_young, collector_paused

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


async def fetch_snapshot(
    client: GraphClient, business_id: str, idle: IdleWork | None = None
) -> Snapshot:
    """Read everything, transforming while the people still page; counts are the client's for
    this import only. ``idle``: the caller's work, handed the assets and grants once they are
    transformed and advanced a step at a time while the pages are awaited (``_Follower``);
    whatever is left of it when the last page is in stays for the caller."""
    before_ops = client.counters.graph_operations
    before_http = client.counters.http_requests
    builder = SnapshotBuilder()
    with collector_paused():
        # Only the records are kept: each page is let go once the builder has what it holds, so
        # the decoded pages never all live at once and the collector never walks them.
        business = (
            await _fetch(client, business_id, _Collected(builder, keep=False), idle)
        ).business
        return builder.snapshot(
            business,
            graph_operations=client.counters.graph_operations - before_ops,
            http_requests=client.counters.http_requests - before_http,
        )


async def fetch_business(client: GraphClient, business_id: str) -> FetchedBusiness:
    """One read of the business node with every edge expanded, then every further page; every
    page's items are kept (``fetch_snapshot`` keeps only their records)."""
    return await _fetch(client, business_id, _Collected(SnapshotBuilder(), keep=True))


async def _fetch(
    client: GraphClient,
    business_id: str,
    collected: _Collected,
    idle: IdleWork | None = None,
) -> FetchedBusiness:
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
    backlog: list[tuple[_Sink, Mapping[str, Any]]] = []
    for edge in edge_fields:
        # Taken out of the root, which lives to the end: only the business's own fields stay.
        inline = root.pop(edge, None)
        page = inline if isinstance(inline, Mapping) else {}
        if edge in LIST_EDGES:
            pending += collected.take(client, _Sink(edge), page)
        else:
            backlog.append((_Sink(edge), page))
    # The business read's asset pages are most of its 4 MB: each goes once it is taken (from the
    # backlog, emptied as it is taken), not when the fetch ends.
    del inline, page
    await _follow(client, collected, pending, root, backlog, idle)
    return collected.result(root)


_Pending = list[tuple["_Sink", GraphCall]]
# How many answers of an asset batch are taken between two looks at the list chains, and how
# many assets of an asset list's page (each with its first hundred assignees): an arriving
# people page waits for one such step at most each time the event loop comes round.
ANSWERS_PER_STEP = 5
NODES_PER_STEP = 10


async def _follow(
    client: GraphClient,
    collected: _Collected,
    pending: _Pending,
    root: Mapping[str, Any],
    backlog: list[tuple[_Sink, Mapping[str, Any]]],
    idle: IdleWork | None = None,
) -> None:
    """Read every page still to read, each chain advancing as soon as its page arrives.

    The list edges (people, invitations, system users, partners) and the asset pages are
    followed apart. The list chains' next pages go out together the moment their pages are in,
    with a request slot kept free for them; the asset pages go in batches of up to 50 in the
    other slots, and their answers are taken a few at a time, so an arriving people page waits
    for a few answers at most, never for a whole batch. ``backlog`` holds the business read's own
    asset pages, taken once the list chains' next pages are on their way. Once no read of
    assets or partners is left, they are transformed in short steps between the people's pages.
    Then ``idle`` is advanced in the list pages' round trips (``_run_while_idle``). The first
    failure cancels what is still in flight and ends the import.
    """
    follower = _Follower(client, collected, root, pending, backlog, idle)
    chains = [asyncio.create_task(follower.lists()), asyncio.create_task(follower.assets())]
    try:
        done, _ = await asyncio.wait(chains, return_when=asyncio.FIRST_EXCEPTION)
        for chain in done:
            chain.result()
        if follower.transform is not None:
            await follower.transform
    finally:
        # The idle work stops between two steps: what is left of it is the caller's.
        running = [
            *chains,
            *(task for task in (follower.transform, follower.idle) if task is not None),
        ]
        for unfinished in running:
            unfinished.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        # A cancelled task keeps its exception, whose traceback holds the frames it stopped in
        # and so the follower: unless the follower lets go of its tasks, the records it leads
        # to would wait for a full collection instead of going with the snapshot.
        follower.transform = follower.idle = None


class _Follower:
    """The two sides of ``_follow`` and what they share: the pages still to read, and how many
    reads of assets or partners are left before those can be transformed."""

    def __init__(
        self,
        client: GraphClient,
        collected: _Collected,
        root: Mapping[str, Any],
        pending: _Pending,
        backlog: list[tuple[_Sink, Mapping[str, Any]]],
        idle: IdleWork | None = None,
    ) -> None:
        self.client, self.collected, self.root = client, collected, root
        self._idle_work = idle
        self._list_page_asked = asyncio.Event()
        self.list_pages: _Pending = [item for item in pending if item[0].is_list]
        self.asset_pages: _Pending = [item for item in pending if not item[0].is_list]
        self.backlog = backlog
        # The backlog counts as one read until it is taken.
        self.asset_reads = sum(1 for sink, _ in pending if sink.feeds_assets) + bool(backlog)
        self.transform: asyncio.Task[None] | None = None
        # The caller's steps, once the assets and grants are transformed.
        self._steps: Iterator[None] | None = None
        self.idle: asyncio.Task[None] | None = asyncio.create_task(self._run_while_idle())
        self._start_transform()

    async def lists(self) -> None:
        while self.list_pages:
            chunk, self.list_pages = self.list_pages[:MAX_BATCH], self.list_pages[MAX_BATCH:]
            # The idle work starts once this request is on its way (IDLE_AFTER_SEND_SECONDS).
            self._list_page_asked.set()
            answers = await self.client.batch_get([call for _, call in chunk])
            for (sink, _), answer in zip(chunk, answers, strict=True):
                self._take(sink, answer)

    async def assets(self) -> None:
        in_flight: set[asyncio.Task[tuple[_Pending, list[JSONObject | ConnectorError]]]] = set()
        # One request slot stays free for the list chains.
        slots = max(1, self.client.concurrency - 1)

        async def send(chunk: _Pending) -> tuple[_Pending, list[JSONObject | ConnectorError]]:
            return chunk, await self.client.batch_get([call for _, call in chunk])

        def dispatch() -> None:
            while self.asset_pages and len(in_flight) < slots:
                chunk = self.asset_pages[:MAX_BATCH]
                del self.asset_pages[:MAX_BATCH]
                in_flight.add(asyncio.create_task(send(chunk)))

        try:
            if self.backlog:
                await asyncio.sleep(0)  # the list chains' next pages go out first
                backlog, self.backlog = self.backlog, []
                while backlog:
                    for _ in self._taking(*backlog.pop(0), answered=False):
                        await asyncio.sleep(0)
                    await asyncio.sleep(0)
                self.asset_reads -= 1
                self._start_transform()
            dispatch()
            while in_flight:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    chunk, answers = task.result()
                    for count, ((sink, _), answer) in enumerate(zip(chunk, answers, strict=True)):
                        for _ in self._taking(sink, answer):
                            await asyncio.sleep(0)
                        if count % ANSWERS_PER_STEP == ANSWERS_PER_STEP - 1:
                            dispatch()
                            await asyncio.sleep(0)
                dispatch()
        finally:
            for unfinished in in_flight:
                unfinished.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    def _take(
        self, sink: _Sink, answer: Mapping[str, Any] | ConnectorError, *, answered: bool = True
    ) -> None:
        """Keep one page, queue the pages it leads to; ``answered``: it was a read of its own."""
        for _ in self._taking(sink, answer, answered=answered):
            pass

    def _taking(
        self, sink: _Sink, answer: Mapping[str, Any] | ConnectorError, *, answered: bool = True
    ) -> Iterator[None]:
        """``_take`` in the steps of ``_Collected.take_steps``."""
        if isinstance(answer, ConnectorError):
            raise answer.during(f"Reading {sink.describe()}")
        follow: _Pending = []
        yield from self.collected.take_steps(self.client, sink, answer, follow)
        for item in follow:
            (self.list_pages if item[0].is_list else self.asset_pages).append(item)
        self.asset_reads += sum(1 for s, _ in follow if s.feeds_assets)
        if answered and sink.feeds_assets:
            self.asset_reads -= 1
        self._start_transform()

    def _start_transform(self) -> None:
        if self.transform is None and self.asset_reads == 0:
            steps = self.collected.builder.asset_steps(self.collected.result(self.root))
            self.transform = asyncio.create_task(self._transformed(steps))

    async def _transformed(self, steps: Iterator[None]) -> None:
        await _run_in_steps(steps)
        if not self.collected.keep:
            self.collected.release()
        builder = self.collected.builder
        work = self._idle_work
        if work is not None:
            self._steps = work(AssetsRead(builder.assets, builder.grants))

    async def _run_while_idle(self) -> None:
        """In each list page's round trip, from the first: the collector's look at what the
        import allocated since the last one (``collect_young``), so that no look walks more than
        a round trip's pages and records; then, once the assets are transformed, the caller's
        steps for what is left of ``IDLE_BUDGET_SECONDS``."""
        loop = asyncio.get_running_loop()
        while True:
            await self._list_page_asked.wait()
            self._list_page_asked.clear()
            await asyncio.sleep(IDLE_AFTER_SEND_SECONDS)
            deadline = loop.time() + IDLE_BUDGET_SECONDS
            collect_young()
            if self._steps is None:
                continue
            for _ in self._steps:
                if loop.time() >= deadline:
                    break
            else:
                self._steps = None


async def _run_in_steps(steps: Iterator[None]) -> None:
    """Run a transform a step at a time, letting the event loop serve arriving pages between
    steps, so the people's cursor is never held up by more than one step."""
    for _ in steps:
        await asyncio.sleep(0)


# The caller's idle work runs in the round trip of a list page: from a moment after the page is
# asked for (the request is on its way by then) for at most this long, well within Meta's
# answer, so that no arriving page waits for it; a step (a thousand rows read) takes a few ms.
IDLE_AFTER_SEND_SECONDS = 0.002
IDLE_BUDGET_SECONDS = 0.02


@dataclass(frozen=True)
class _Sink:
    """Where a page's items belong: a business edge, or an asset's nested edge."""

    edge: str
    asset_id: str | None = None

    def describe(self) -> str:
        return f"{self.edge} of asset {self.asset_id}" if self.asset_id else self.edge

    @property
    def is_list(self) -> bool:
        """A page of a list edge (people, invitations, system users, partners)."""
        return self.asset_id is None and self.edge in LIST_EDGES

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
        follow: list[tuple[_Sink, GraphCall]] = []
        for _ in self.take_steps(client, sink, page, follow):
            pass
        return follow

    def take_steps(
        self,
        client: GraphClient,
        sink: _Sink,
        page: Mapping[str, Any],
        follow: list[tuple[_Sink, GraphCall]],
    ) -> Iterator[None]:
        """``take`` in steps: pauses (yields) every ``NODES_PER_STEP`` assets of an asset
        list's page, whose nested assignees become grants as they are taken; the calls for the
        pages still to read are added to ``follow``."""
        items = _items(page)
        if sink.asset_id is None:
            if self.keep or sink.edge not in _ADD_ACCOUNTS:
                self.edges.setdefault(sink.edge, []).extend(items)
            if sink.edge in _ADD_ACCOUNTS:
                _ADD_ACCOUNTS[sink.edge](self.builder, items)
            elif sink.edge in ASSET_EDGE_NAMES:
                for count, node in enumerate(items, 1):
                    follow += self._take_nested(client, node)
                    if count % NODES_PER_STEP == 0:
                        yield
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
