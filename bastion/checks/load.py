"""Load a snapshot into the app's tables and record every difference as a Change.

The load is an idempotent upsert by external id. What the snapshot lacks is marked gone; that is
safe because a Snapshot only exists when every read of the import succeeded. Rows are compared
as plain tuples and written with bulk statements, so an unchanged re-check of a large business
touches one UPDATE per table (the run stamp) and writes no Change.

The first check of an app is a baseline: it imports everything and counts it, but writes no
Change rows (every row would read "added", which tells nobody anything).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, cast, insert, select, update
from sqlalchemy.orm import Session

from bastion.connectors.base import AccountRecord, AssetRecord, GrantRecord, Snapshot
from bastion.matching import email_key
from bastion.storage.models import (
    Account,
    App,
    Asset,
    Change,
    CheckRun,
    Grant,
    Operation,
    Partner,
    PartnerGrant,
    utcnow,
)
from bastion.storage.models.enums import ChangeKind, OperationKind, OperationState


@dataclass
class LoadResult:
    counts: dict[str, int] = field(default_factory=dict)
    changes: int = 0
    unresolved_grants: int = 0

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount


# The order in which a load records the kinds of change: accounts, assets, grants, partners.
_PHASES: dict[ChangeKind, int] = {
    ChangeKind.ACCOUNT_ADDED: 0,
    ChangeKind.ROLE_CHANGED: 0,
    ChangeKind.ACCOUNT_REMOVED: 0,
    ChangeKind.ASSET_ADDED: 1,
    ChangeKind.ASSET_REMOVED: 1,
    ChangeKind.GRANT_ADDED: 2,
    ChangeKind.GRANT_CHANGED: 2,
    ChangeKind.GRANT_REMOVED: 2,
}

# Which of Bastion's operations can cause each kind of change.
EXPLAINED_BY: dict[ChangeKind, tuple[OperationKind, ...]] = {
    ChangeKind.ACCOUNT_REMOVED: (OperationKind.REMOVE, OperationKind.CANCEL_INVITATION),
    ChangeKind.ROLE_CHANGED: (OperationKind.SET_ROLE,),
    ChangeKind.GRANT_ADDED: (OperationKind.GRANT_TASKS,),
    ChangeKind.GRANT_CHANGED: (OperationKind.GRANT_TASKS, OperationKind.REVOKE_TASKS),
    ChangeKind.GRANT_REMOVED: (OperationKind.REVOKE_TASKS, OperationKind.REMOVE),
}


@dataclass(frozen=True)
class Explanations:
    """Which differences Bastion's own operations since the last check account for."""

    by_target: dict[tuple[OperationKind, str], int]
    invites_by_email: dict[str, int]

    def find(self, kind: ChangeKind, external_id: str, email: str | None = None) -> int | None:
        for op_kind in EXPLAINED_BY.get(kind, ()):
            found = self.by_target.get((op_kind, external_id))
            if found is not None:
                return found
        if kind == ChangeKind.GRANT_REMOVED and "/" in external_id:
            # Removing a person takes their asset tasks with them.
            found = self.by_target.get((OperationKind.REMOVE, external_id.split("/", 1)[0]))
            if found is not None:
                return found
        if kind == ChangeKind.ACCOUNT_ADDED and email:
            return self.invites_by_email.get(email_key(email) or "")
        return None


def explanations_since(session: Session, app_id: int, since: datetime | None) -> Explanations:
    query = select(Operation).where(
        Operation.app_id == app_id, Operation.state == OperationState.SUCCEEDED
    )
    if since is not None:
        query = query.where(Operation.finished_at >= since)
    by_target: dict[tuple[OperationKind, str], int] = {}
    invites: dict[str, int] = {}
    for op in session.scalars(query):
        if op.target_external_id:
            by_target[(op.kind, op.target_external_id)] = op.id
            asset = op.parameters.get("asset_external_id")
            if asset:
                by_target[(op.kind, f"{op.target_external_id}/{asset}")] = op.id
        if op.kind == OperationKind.INVITE and op.parameters.get("email"):
            invites[email_key(op.parameters["email"]) or ""] = op.id
    return Explanations(by_target, invites)


class SnapshotLoader:
    def __init__(
        self,
        session: Session,
        app: App,
        run: CheckRun,
        *,
        baseline: bool,
        explanations: Explanations,
    ) -> None:
        self.session = session
        self.app = app
        self.run = run
        self.baseline = baseline
        self.explanations = explanations
        self.now = utcnow()
        self.result = LoadResult()
        self._changes: list[dict[str, Any]] = []
        self._prepared = False
        # What the app held before this load, by external id (grants by row ids).
        self._accounts: dict[str, Any] = {}
        self._assets: dict[str, Any] = {}
        self._grants: dict[tuple[int, int], Any] = {}
        # What this load has seen so far: row ids by external id, and records taken.
        self._account_ids: dict[str, int] = {}
        self._asset_ids: dict[str, int] = {}
        self._grants_seen: set[tuple[int, int]] = set()
        self._taken: set[str] = set()
        self._taken_assets: set[str] = set()
        self._grant_pairs: set[tuple[str, str]] = set()
        # Grants whose account (or asset) is not in yet, by the account's external id.
        self._waiting: dict[str, list[GrantRecord]] = {}

    # -- changes ------------------------------------------------------------------------------

    def _change(
        self,
        kind: ChangeKind,
        summary: str,
        *,
        key: str,
        email: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        account_id: int | None = None,
        asset_id: int | None = None,
        partner_id: int | None = None,
    ) -> None:
        self.result.add(kind.value)
        if self.baseline:
            return
        operation_id = self.explanations.find(kind, key, email)
        self._changes.append(
            {
                "workspace_id": self.app.workspace_id,
                "app_id": self.app.id,
                "run_id": self.run.id,
                "kind": kind,
                "summary": summary[:500],
                "before": before,
                "after": after,
                "account_id": account_id,
                "asset_id": asset_id,
                "partner_id": partner_id,
                "outside_bastion": operation_id is None,
                "operation_id": operation_id,
                "created_at": self.now,
            }
        )

    def _new_row(self, values: dict[str, Any], external_id: str) -> dict[str, Any]:
        return {
            **values,
            "workspace_id": self.app.workspace_id,
            "app_id": self.app.id,
            "external_id": external_id,
            "present": True,
            "first_seen_run_id": self.run.id,
            "created_at": self.now,
            "updated_at": self.now,
        }

    # -- the load -----------------------------------------------------------------------------

    def take(self, part: Snapshot) -> None:
        """Upsert a part of the business while the fetch goes on (people page by page).

        Only what is present is written: nothing is marked gone and no Change is written before
        ``load`` has the whole Snapshot, and all of it is in the caller's transaction, so a fetch
        that fails later rolls it back. A record already taken is skipped, so ``load`` may be
        given the whole Snapshot afterwards. Grants wait until their account and asset are in.
        """
        self._prepare()
        self._upsert_accounts(part.accounts)
        self._upsert_assets(part.assets)
        for record in part.grants:
            pair = (record.account_external_id, record.asset_external_id)
            if pair not in self._grant_pairs:
                self._grant_pairs.add(pair)
                self._waiting.setdefault(record.account_external_id, []).append(record)
        self._upsert_grants()

    def load(self, snapshot: Snapshot) -> LoadResult:
        """The whole Snapshot: what was not taken yet, then what is gone, partners and Changes."""
        self.take(snapshot)
        self.result.unresolved_grants += sum(len(waiting) for waiting in self._waiting.values())
        self._waiting.clear()
        self._accounts_gone()
        self._assets_gone()
        self._grants_gone()
        self.result.add("accounts", len(self._account_ids))
        self.result.add("assets", len(self._asset_ids))
        self.result.add("grants", len(self._grants_seen))
        self._load_partners(snapshot, self._asset_ids)
        # In the order a load of the whole Snapshot at once records them.
        self._changes.sort(key=lambda change: _PHASES.get(change["kind"], 3))
        if self._changes:
            self.session.execute(insert(_table(Change)), self._changes)
        self.result.changes = len(self._changes)
        for model in (Account, Asset, Grant, Partner):
            self.session.execute(
                update(model)
                .where(model.app_id == self.app.id, model.present.is_(True))
                .values(last_seen_run_id=self.run.id)
                .execution_options(synchronize_session=False)
            )
        return self.result

    def present_before(self) -> tuple[set[str], set[str]]:
        """The external ids of the accounts and assets present before this load touched them."""
        self._prepare()
        return (
            {ext for ext, row in self._accounts.items() if row.present},
            {ext for ext, row in self._assets.items() if row.present},
        )

    def _prepare(self) -> None:
        if self._prepared:
            return
        self._prepared = True
        self._accounts = {
            row.external_id: row
            for row in self.session.execute(
                select(
                    Account.id,
                    Account.external_id,
                    Account.kind,
                    Account.name,
                    Account.email,
                    Account.app_role,
                    Account.details,
                    Account.present,
                ).where(Account.app_id == self.app.id)
            )
        }
        self._assets = {
            row.external_id: row
            for row in self.session.execute(
                select(
                    Asset.id,
                    Asset.external_id,
                    Asset.name,
                    Asset.type,
                    Asset.ownership,
                    Asset.owner_business_id,
                    Asset.present,
                ).where(Asset.app_id == self.app.id)
            )
        }
        # Tasks are read as their stored JSON text and compared as text first: decoding tens of
        # thousands of small lists costs more than the rest of an unchanged grant's comparison.
        self._grants = {
            (row.account_id, row.asset_id): row
            for row in self.session.execute(
                select(
                    Grant.id,
                    Grant.account_id,
                    Grant.asset_id,
                    cast(Grant.tasks, Text).label("tasks_text"),
                    Grant.present,
                ).where(Grant.app_id == self.app.id)
            )
        }

    def _insert_returning_ids(
        self, model: type[Account] | type[Asset], rows: list[dict[str, Any]]
    ) -> dict[str, int]:
        table = _table(model)
        statement = insert(table).returning(
            table.c.external_id, table.c.id, sort_by_parameter_order=True
        )
        return {ext: row_id for ext, row_id in self.session.execute(statement, rows)}

    def _upsert_accounts(self, records: Iterable[AccountRecord]) -> None:
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for record in records:
            if record.external_id in self._account_ids or record.external_id in self._taken:
                continue
            self._taken.add(record.external_id)
            details = _account_details(record)
            values = {
                "kind": record.kind,
                "name": record.name or "",
                "email": record.email,
                "email_key": email_key(record.email),
                "app_role": record.role,
                "details": details,
            }
            old = self._accounts.get(record.external_id)
            label = record.name or record.email or record.external_id
            if old is None:
                inserts.append(self._new_row(values, record.external_id))
                continue
            self._account_ids[record.external_id] = old.id
            if not old.present:
                updates.append({"id": old.id, **values, "present": True, "gone_at": None})
                self._change(
                    ChangeKind.ACCOUNT_ADDED,
                    f"{label} is back ({record.kind}, {record.role})",
                    key=record.external_id,
                    email=record.email,
                    after={"role": record.role},
                    account_id=old.id,
                )
                continue
            if old.app_role != record.role:
                self._change(
                    ChangeKind.ROLE_CHANGED,
                    f"{label}: role {old.app_role} → {record.role}",
                    key=record.external_id,
                    before={"role": old.app_role},
                    after={"role": record.role},
                    account_id=old.id,
                )
            if (old.name, old.email, old.app_role, old.details) != (
                values["name"],
                values["email"],
                values["app_role"],
                details,
            ) or old.kind != record.kind:
                updates.append({"id": old.id, **values, "updated_at": self.now})
        if inserts:
            ids = self._insert_returning_ids(Account, inserts)
            for new in inserts:
                self._account_ids[new["external_id"]] = ids[new["external_id"]]
                self._change(
                    ChangeKind.ACCOUNT_ADDED,
                    f"{new['name'] or new['email'] or new['external_id']} added "
                    f"({new['kind']}, {new['app_role']})",
                    key=new["external_id"],
                    email=new["email"],
                    after={"role": new["app_role"], "kind": new["kind"]},
                    account_id=ids[new["external_id"]],
                )
        if updates:
            self.session.execute(update(Account), updates)

    def _accounts_gone(self) -> None:
        updates: list[dict[str, Any]] = []
        for ext, row in self._accounts.items():
            if row.present and ext not in self._account_ids:
                updates.append({"id": row.id, "present": False, "gone_at": self.now})
                self._change(
                    ChangeKind.ACCOUNT_REMOVED,
                    f"{row.name or row.email or row.external_id} no longer has access",
                    key=row.external_id,
                    before={"role": row.app_role, "kind": row.kind},
                    account_id=row.id,
                )
        if updates:
            self.session.execute(update(Account), updates)

    def _upsert_assets(self, records: Iterable[AssetRecord]) -> None:
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for record in records:
            if record.external_id in self._asset_ids or record.external_id in self._taken_assets:
                continue
            self._taken_assets.add(record.external_id)
            values = {
                "name": record.name or "",
                "type": record.type,
                "ownership": record.ownership,
                "owner_business_id": record.owner_business_id,
            }
            old = self._assets.get(record.external_id)
            if old is None:
                inserts.append(self._new_row(values, record.external_id))
                continue
            self._asset_ids[record.external_id] = old.id
            if not old.present:
                updates.append({"id": old.id, **values, "present": True, "gone_at": None})
                self._change(
                    ChangeKind.ASSET_ADDED,
                    f"{record.type} {record.name or record.external_id} is back",
                    key=record.external_id,
                    asset_id=old.id,
                )
            elif (old.name, old.type, old.ownership, old.owner_business_id) != tuple(
                values.values()
            ):
                updates.append({"id": old.id, **values, "updated_at": self.now})
        if inserts:
            ids = self._insert_returning_ids(Asset, inserts)
            for new in inserts:
                self._asset_ids[new["external_id"]] = ids[new["external_id"]]
                self._change(
                    ChangeKind.ASSET_ADDED,
                    f"{new['type']} {new['name'] or new['external_id']} added",
                    key=new["external_id"],
                    asset_id=ids[new["external_id"]],
                )
        if updates:
            self.session.execute(update(Asset), updates)

    def _assets_gone(self) -> None:
        updates: list[dict[str, Any]] = []
        for ext, row in self._assets.items():
            if row.present and ext not in self._asset_ids:
                updates.append({"id": row.id, "present": False, "gone_at": self.now})
                self._change(
                    ChangeKind.ASSET_REMOVED,
                    f"{row.type} {row.name or ext} is no longer reachable",
                    key=ext,
                    asset_id=row.id,
                )
        if updates:
            self.session.execute(update(Asset), updates)

    def _upsert_grants(self) -> None:
        """The waiting grants whose account and asset are in by now."""
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for account_external_id in [a for a in self._waiting if a in self._account_ids]:
            account_id = self._account_ids[account_external_id]
            still: list[GrantRecord] = []
            for record in self._waiting.pop(account_external_id):
                asset_id = self._asset_ids.get(record.asset_external_id)
                if asset_id is None:
                    still.append(record)
                    continue
                self._upsert_grant(record, account_id, asset_id, inserts, updates)
            if still:
                self._waiting[account_external_id] = still
        if inserts:
            self.session.execute(insert(_table(Grant)), inserts)
        if updates:
            self.session.execute(update(Grant), updates)

    def _upsert_grant(
        self,
        record: GrantRecord,
        account_id: int,
        asset_id: int,
        inserts: list[dict[str, Any]],
        updates: list[dict[str, Any]],
    ) -> None:
        key = (account_id, asset_id)
        if key in self._grants_seen:
            return
        self._grants_seen.add(key)
        tasks = sorted(record.tasks)
        change_key = f"{record.account_external_id}/{record.asset_external_id}"
        old = self._grants.get(key)
        if old is not None and old.present and old.tasks_text == json.dumps(tasks):
            return
        if old is None:
            inserts.append(
                {
                    "workspace_id": self.app.workspace_id,
                    "app_id": self.app.id,
                    "account_id": account_id,
                    "asset_id": asset_id,
                    "tasks": tasks,
                    "present": True,
                    "first_seen_run_id": self.run.id,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            )
            self._change(
                ChangeKind.GRANT_ADDED,
                f"{record.account_external_id} got {', '.join(tasks)} on "
                f"{record.asset_external_id}",
                key=change_key,
                after={"tasks": tasks},
                account_id=account_id,
                asset_id=asset_id,
            )
            return
        old_tasks = _tasks_of(old.tasks_text)
        if not old.present or old_tasks != tasks:
            updates.append({"id": old.id, "tasks": tasks, "present": True, "gone_at": None})
            kind = ChangeKind.GRANT_ADDED if not old.present else ChangeKind.GRANT_CHANGED
            self._change(
                kind,
                f"{record.account_external_id} on {record.asset_external_id}: "
                f"{', '.join(old_tasks) if old.present else 'nothing'} → {', '.join(tasks)}",
                key=change_key,
                before={"tasks": old_tasks} if old.present else None,
                after={"tasks": tasks},
                account_id=account_id,
                asset_id=asset_id,
            )

    def _grants_gone(self) -> None:
        accounts_by_id = {v: k for k, v in self._account_ids.items()}
        assets_by_id = {v: k for k, v in self._asset_ids.items()}
        updates: list[dict[str, Any]] = []
        for key, row in self._grants.items():
            if row.present and key not in self._grants_seen:
                updates.append({"id": row.id, "present": False, "gone_at": self.now})
                account_ext = accounts_by_id.get(row.account_id, str(row.account_id))
                asset_ext = assets_by_id.get(row.asset_id, str(row.asset_id))
                old_tasks = _tasks_of(row.tasks_text)
                self._change(
                    ChangeKind.GRANT_REMOVED,
                    f"{account_ext} lost {', '.join(old_tasks)} on {asset_ext}",
                    key=f"{account_ext}/{asset_ext}",
                    before={"tasks": old_tasks},
                    account_id=row.account_id,
                    asset_id=row.asset_id,
                )
        if updates:
            self.session.execute(update(Grant), updates)

    def _load_partners(self, snapshot: Snapshot, asset_ids: dict[str, int]) -> None:
        existing = {
            (p.external_id, p.relation.value): p
            for p in self.session.scalars(select(Partner).where(Partner.app_id == self.app.id))
        }
        seen: set[tuple[str, str]] = set()
        for record in snapshot.partners:
            key: tuple[str, str] = (record.external_id, record.relation)
            seen.add(key)
            partner = existing.get(key)
            if partner is None:
                partner = Partner(
                    workspace_id=self.app.workspace_id,
                    app_id=self.app.id,
                    external_id=record.external_id,
                    name=record.name or "",
                    relation=record.relation,
                    first_seen_run_id=self.run.id,
                )
                self.session.add(partner)
                self.session.flush()
                self._change(
                    ChangeKind.PARTNER_ADDED,
                    f"{record.relation} {record.name or record.external_id} added",
                    key=record.external_id,
                    partner_id=partner.id,
                )
            elif not partner.present:
                partner.present, partner.gone_at = True, None
                self._change(
                    ChangeKind.PARTNER_ADDED,
                    f"{record.relation} {record.name or record.external_id} is back",
                    key=record.external_id,
                    partner_id=partner.id,
                )
            if record.name and partner.name != record.name:
                partner.name = record.name
            self._load_partner_grants(partner, record.asset_tasks, asset_ids)
        self.result.add("partners", len(seen))
        for key, partner in existing.items():
            if partner.present and key not in seen:
                partner.present, partner.gone_at = False, self.now
                self._change(
                    ChangeKind.PARTNER_REMOVED,
                    f"{partner.relation.value} {partner.name or partner.external_id} removed",
                    key=partner.external_id,
                    partner_id=partner.id,
                )
        self.session.flush()

    def _load_partner_grants(
        self, partner: Partner, asset_tasks: Iterable[Any], asset_ids: dict[str, int]
    ) -> None:
        existing = {
            g.asset_id: g
            for g in self.session.scalars(
                select(PartnerGrant).where(PartnerGrant.partner_id == partner.id)
            )
        }
        seen: set[int] = set()
        for item in asset_tasks:
            asset_id = asset_ids.get(item.asset_external_id)
            if asset_id is None:
                continue
            seen.add(asset_id)
            tasks = sorted(item.tasks)
            grant = existing.get(asset_id)
            if grant is None:
                self.session.add(
                    PartnerGrant(
                        workspace_id=self.app.workspace_id,
                        partner_id=partner.id,
                        asset_id=asset_id,
                        tasks=tasks,
                        first_seen_run_id=self.run.id,
                        last_seen_run_id=self.run.id,
                    )
                )
            else:
                if list(grant.tasks) != tasks or not grant.present:
                    grant.tasks, grant.present, grant.gone_at = tasks, True, None
                grant.last_seen_run_id = self.run.id
        for asset_id, grant in existing.items():
            if grant.present and asset_id not in seen:
                grant.present, grant.gone_at = False, self.now


def _table(model: type[Any]) -> Table:
    """A model's table, for Core bulk statements (the ORM's bulk path costs several times more
    per row than the insert itself)."""
    return typing.cast(Table, model.__table__)


def _tasks_of(stored: str | None) -> list[str]:
    """A grant's tasks from their stored JSON text."""
    value = json.loads(stored) if stored else []
    return [str(task) for task in value] if isinstance(value, list) else []


def _account_details(record: AccountRecord) -> dict[str, Any]:
    details: dict[str, Any] = {
        "first_name": record.first_name,
        "last_name": record.last_name,
        "two_factor_status": record.two_factor_status,
        "finance_permission": record.finance_permission,
        "ads_rights_permission": record.ads_rights_permission,
        "invitation_status": record.invitation_status,
        "invitation_expires_at": (
            record.invitation_expires_at.isoformat() if record.invitation_expires_at else None
        ),
        "partner_external_id": record.partner_external_id,
        "created_at": record.created_at.isoformat() if record.created_at else None,
        "created_by_name": record.created_by_name,
        "created_by_email": record.created_by_email,
    }
    return {k: v for k, v in details.items() if v is not None}
