"""Graph payloads → Bastion's snapshot records. Pure: no I/O, no clock, no Graph client.

Field names follow /work/shared/reference/meta-graph-api.md §2; the fetch step (``sync``) asks
for exactly the fields read here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from bastion.connectors.base import (
    AccountRecord,
    AssetRecord,
    AssetType,
    BusinessInfo,
    GrantRecord,
    Ownership,
    PartnerAssetTasks,
    PartnerRecord,
    PartnerRelation,
    Snapshot,
)

JSONObject = Mapping[str, Any]


@dataclass(frozen=True)
class FetchedAsset:
    """One asset node as listed, with every assignee and agency after follow-up paging."""

    type: AssetType
    ownership: Ownership
    node: JSONObject
    assignees: tuple[JSONObject, ...]
    agencies: tuple[JSONObject, ...]


@dataclass(frozen=True)
class FetchedBusiness:
    """Everything the fetch step read, complete; the input of ``snapshot_from_graph``."""

    business: JSONObject
    people: tuple[JSONObject, ...]
    invitations: tuple[JSONObject, ...]
    system_users: tuple[JSONObject, ...]
    assets: tuple[FetchedAsset, ...]
    agencies: tuple[JSONObject, ...]
    clients: tuple[JSONObject, ...]


def snapshot_from_graph(
    fetched: FetchedBusiness, *, graph_operations: int = 0, http_requests: int = 0
) -> Snapshot:
    builder = SnapshotBuilder()
    builder.add_people(fetched.people)
    builder.add_invitations(fetched.invitations)
    builder.add_system_users(fetched.system_users)
    for asset in fetched.assets:
        builder.add_assignees(_text(asset.node.get("id")), asset.assignees)
    for _ in builder.asset_steps(fetched):
        pass
    return builder.snapshot(
        fetched.business, graph_operations=graph_operations, http_requests=http_requests
    )


class SnapshotBuilder:
    """The snapshot built while the fetch still reads: accounts and each asset's grants page by
    page as they arrive, assets and partners in short steps once every asset list is complete
    (long before the people's cursor ends), so that after the last page only the accounts' sort
    is left.

    The records and their order are exactly those of transforming the whole business at once.
    """

    ASSETS_PER_STEP = 10

    def __init__(self) -> None:
        self._people: list[AccountRecord] = []
        self._invitations: list[AccountRecord] = []
        self._system_users: list[AccountRecord] = []
        self._assets: tuple[AssetRecord, ...] = ()
        self._grants: tuple[GrantRecord, ...] = ()
        self._by_asset: dict[str, list[GrantRecord]] = {}
        self._partners: tuple[PartnerRecord, ...] = ()

    def add_people(self, nodes: Iterable[JSONObject]) -> None:
        self._people.extend(person_from_graph(node) for node in nodes)

    def add_invitations(self, nodes: Iterable[JSONObject]) -> None:
        self._invitations.extend(invitation_from_graph(node) for node in nodes)

    def add_system_users(self, nodes: Iterable[JSONObject]) -> None:
        self._system_users.extend(system_user_from_graph(node) for node in nodes)

    def add_assignees(self, asset_id: str, nodes: Iterable[JSONObject]) -> None:
        """One page of an asset's ``assigned_users``: its grants, kept in the order read."""
        grants = grants_from_assignees(asset_id, nodes)
        if grants:
            self._by_asset.setdefault(asset_id, []).extend(grants)

    def asset_steps(self, fetched: FetchedBusiness) -> Iterator[None]:
        """Assets and partners from ``fetched``, whose asset lists, agencies and clients are
        complete, and the grants of every asset's assignees added; pauses (yields) every
        ``ASSETS_PER_STEP`` assets, so that a page arriving meanwhile waits for a few ms at
        most each time the caller's event loop comes round.

        Grants are sorted per asset, and the assets by id: the same order as sorting all grants
        by (asset, account), ties kept in the order read.
        """
        business_id = _text(fetched.business.get("id")) or None
        assets: list[AssetRecord] = []
        by_asset = self._by_asset
        for count, asset in enumerate(fetched.assets, 1):
            assets.append(
                asset_from_graph(asset.node, asset.type, asset.ownership, business_id=business_id)
            )
            if count % self.ASSETS_PER_STEP == 0:
                yield
        self._assets = tuple(sorted(assets, key=lambda a: (a.type, a.external_id)))
        yield
        ordered: list[GrantRecord] = []
        for count, asset_id in enumerate(sorted(by_asset), 1):
            ordered.extend(sorted(by_asset[asset_id], key=lambda g: g.account_external_id))
            if count % self.ASSETS_PER_STEP == 0:
                yield
        self._grants = tuple(ordered)
        self._by_asset = {}
        yield
        self._partners = partners_from_graph(fetched)

    @property
    def assets(self) -> tuple[AssetRecord, ...]:
        """The assets, once ``asset_steps`` has run to its end."""
        return self._assets

    @property
    def grants(self) -> tuple[GrantRecord, ...]:
        """The grants, once ``asset_steps`` has run to its end."""
        return self._grants

    def snapshot(
        self, business: JSONObject, *, graph_operations: int, http_requests: int
    ) -> Snapshot:
        """The snapshot, once every page was read and ``asset_steps`` has run to its end."""
        accounts = (*self._people, *self._invitations, *self._system_users)
        return Snapshot(
            business=business_from_graph(business),
            accounts=tuple(sorted(accounts, key=lambda a: (a.kind, a.external_id))),
            assets=self._assets,
            grants=self._grants,
            partners=self._partners,
            graph_operations=graph_operations,
            http_requests=http_requests,
        )


def business_from_graph(node: JSONObject) -> BusinessInfo:
    return BusinessInfo(
        external_id=_text(node.get("id")),
        name=_text(node.get("name")),
        two_factor_policy=_optional(node.get("two_factor_type")),
        verification_status=_optional(node.get("verification_status")),
    )


def person_from_graph(node: JSONObject) -> AccountRecord:
    return AccountRecord(
        kind="person",
        external_id=_text(node.get("id")),
        name=_optional(node.get("name")),
        email=_optional(node.get("email")),
        role=_optional(node.get("role")),
        first_name=_optional(node.get("first_name")),
        last_name=_optional(node.get("last_name")),
        two_factor_status=_optional(node.get("two_fac_status")),
        finance_permission=_optional(node.get("finance_permission")),
        ads_rights_permission=_optional(node.get("ip_permission")),
    )


def invitation_from_graph(node: JSONObject) -> AccountRecord:
    return AccountRecord(
        kind="invitation",
        external_id=_text(node.get("id")),
        name=None,
        email=_optional(node.get("email")),
        role=_optional(node.get("role")),
        invitation_status=_optional(node.get("status")),
        invitation_expires_at=parse_graph_time(node.get("expiration_time")),
    )


def system_user_from_graph(node: JSONObject) -> AccountRecord:
    creator = node.get("created_by")
    creator = creator if isinstance(creator, Mapping) else {}
    return AccountRecord(
        kind="system_user",
        external_id=_text(node.get("id")),
        name=_optional(node.get("name")),
        email=None,
        role=_optional(node.get("role")),
        finance_permission=_optional(node.get("finance_permission")),
        ads_rights_permission=_optional(node.get("ip_permission")),
        created_at=parse_graph_time(node.get("created_time")),
        created_by_name=_optional(creator.get("name")),
        created_by_email=_optional(creator.get("email")),
    )


def asset_from_graph(
    node: JSONObject,
    asset_type: AssetType,
    ownership: Ownership,
    *,
    business_id: str | None = None,
) -> AssetRecord:
    """Where a node carries no owner (Meta's Instagram assets have none), the edge it was listed
    on says it: an ``owned_*`` asset belongs to the business, a ``client_*`` one to a client we
    cannot name."""
    owner = node.get("owner_business")
    owner_id = _optional(owner.get("id")) if isinstance(owner, Mapping) else None
    if owner_id is None and ownership == "owned":
        owner_id = business_id
    handle = node.get("ig_username")
    # An Instagram asset is known by its handle, written as Instagram and Business Manager do.
    name = node.get("name") or (f"@{handle}" if handle else None) or node.get("username")
    return AssetRecord(
        external_id=_text(node.get("id")),
        name=_optional(name),
        type=asset_type,
        ownership=ownership,
        owner_business_id=owner_id,
    )


def grants_from_assignees(asset_id: str, assignees: Iterable[JSONObject]) -> list[GrantRecord]:
    """One grant per assignee holding at least one task (Meta expands task sets; we keep what
    it reads back, sorted)."""
    grants = []
    for user in assignees:
        listed = tuple(user.get("tasks") or ())
        # Only lists of strings (Meta's shape) are shared: as keys 1, 1.0 and True are equal.
        shared = all(type(task) is str for task in listed)
        tasks = _task_set(listed) if shared else _task_tuple(listed)
        if tasks:
            grants.append(GrantRecord(_text(user.get("id")), asset_id, tasks))
    return grants


@lru_cache(maxsize=4096)
def _task_set(listed: tuple[Any, ...]) -> tuple[str, ...]:
    """A large business has tens of thousands of grants but a few dozen distinct task lists:
    each is sorted once, and the grants holding it share one tuple."""
    return _task_tuple(listed)


def _task_tuple(listed: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted({str(t) for t in listed}))


_PERMISSION_FIELDS = ("adaccount_permissions", "page_permissions", "productcatalog_permissions")


def _tasks(value: object) -> tuple[str, ...]:
    return tuple(sorted({str(t) for t in value})) if isinstance(value, list) else ()


def partners_from_graph(fetched: FetchedBusiness) -> tuple[PartnerRecord, ...]:
    """Agencies with the tasks they hold on each of our assets; clients with their assets
    shared into our business (our access is in the grants).

    Which agencies reach an asset comes from the asset's ``agencies``; their tasks from that edge
    where Meta adds them (ad accounts), else from the agency's ``*_permissions`` lists on the
    business's ``agencies`` edge (Pages, catalogs); pixels and Instagram assets show access
    without tasks."""
    listed: dict[str, dict[str, tuple[str, ...]]] = {}
    for agency in fetched.agencies:
        by_asset = listed.setdefault(_text(agency.get("id")), {})
        for key in _PERMISSION_FIELDS:
            entries = agency.get(key)
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, Mapping):
                    by_asset[_text(entry.get("id"))] = _tasks(entry.get("permitted_tasks"))
    agency_tasks: dict[str, list[PartnerAssetTasks]] = {}
    for asset in fetched.assets:
        asset_id = _text(asset.node.get("id"))
        for agency in asset.agencies:
            agency_id = _text(agency.get("id"))
            tasks = _tasks(agency.get("permitted_tasks")) or listed.get(agency_id, {}).get(
                asset_id, ()
            )
            agency_tasks.setdefault(agency_id, []).append(PartnerAssetTasks(asset_id, tasks))
    client_assets: dict[str, list[PartnerAssetTasks]] = {}
    for asset in fetched.assets:
        owner = asset.node.get("owner_business")
        if asset.ownership == "client" and isinstance(owner, Mapping):
            client_assets.setdefault(_text(owner.get("id")), []).append(
                PartnerAssetTasks(_text(asset.node.get("id")), ())
            )
    partners = [
        _partner(node, "agency", agency_tasks.get(_text(node.get("id")), []))
        for node in fetched.agencies
    ] + [
        _partner(node, "client", client_assets.get(_text(node.get("id")), []))
        for node in fetched.clients
    ]
    return tuple(sorted(partners, key=lambda p: (p.relation, p.external_id)))


def _partner(
    node: JSONObject, relation: PartnerRelation, access: list[PartnerAssetTasks]
) -> PartnerRecord:
    return PartnerRecord(
        external_id=_text(node.get("id")),
        name=_optional(node.get("name")),
        relation=relation,
        asset_tasks=tuple(sorted(access, key=lambda a: a.asset_external_id)),
    )


def parse_graph_time(value: object) -> datetime | None:
    """Graph datetimes come as ISO 8601 with a ``+0000`` offset, or as Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC) if value > 0 else None
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _optional(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
