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
import sys
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from operator import is_
from typing import Any, NamedTuple

from sqlalchemy import Connection, Text, cast, delete, select, update
from sqlalchemy.orm import Session

from bastion.checks.classify import Classifier
from bastion.checks.steps import ROWS_PER_STEP, drained
from bastion.connectors.base import (
    AccountRecord,
    AssetRecord,
    AssetsRead,
    GrantRecord,
    Snapshot,
)
from bastion.matching import email_key
from bastion.storage.bulk import each_plain_row, insert_rows, plain_rows, update_rows
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
    table_of,
    utcnow,
)
from bastion.storage.models.enums import (
    AssetType,
    ChangeKind,
    OperationKind,
    OperationState,
    Ownership,
)


@dataclass
class LoadResult:
    counts: dict[str, int] = field(default_factory=dict)
    changes: int = 0
    unresolved_grants: int = 0

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount


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


class _StoredAccount(NamedTuple):
    """What the load compares of an account already stored."""

    id: int
    external_id: str
    kind: str
    name: str
    email: str | None
    app_role: str | None
    # The stored details as the values of ``DETAIL_KEYS`` (``_details_facts``), compared with a
    # record's in one step; or, where they hold anything else, their JSON text, compared by
    # ``_same_details`` (``facts`` None, ``details`` the text).
    facts: tuple[Any, ...] | None
    details: str
    present: bool

    def holds(self, record: AccountRecord) -> bool:
        """Whether this present account is stored exactly as the record would write it."""
        return (
            self.present
            and self.facts is not None
            and self.app_role == record.role
            and self.kind == record.kind
            and self.name == (record.name or "")
            and self.email == record.email
            and self.facts == _record_facts(record)
        )

    def same_details(self, record: AccountRecord, details: dict[str, Any]) -> bool:
        """Whether the stored details are the record's (``details``: as ``_account_details``
        makes them of it)."""
        if self.facts is not None:
            return self.facts == _record_facts(record)
        return _same_details(self.details, details)


class SnapshotLoader:
    def __init__(
        self,
        session: Session,
        app: App,
        run: CheckRun,
        *,
        baseline: bool,
        explanations: Explanations,
        classifier: Classifier,
        stored: StoredRows | None = None,
        early: EarlyRows | None = None,
    ) -> None:
        if early is not None and not (baseline and stored is not None and stored.empty):
            raise ValueError("rows are written before the load only by an app's first check")
        self.session = session
        self.app = app
        self.run = run
        self.baseline = baseline
        self.explanations = explanations
        # Accounts the load adds are written in their tab, matched (``Classifier.new_account``).
        self.classifier = classifier
        # The app's rows as ``read_stored`` read them already in this transaction's view
        # (``bastion/checks/stored.py``), or None: the load reads them.
        self.stored = stored
        # The assets and grants written before the load, in its transaction (``early.py``).
        self.early = early
        self.now = utcnow()
        self.result = LoadResult()
        self._changes: list[dict[str, Any]] = []
        # The accounts this load inserted or updated (``classify_accounts``'s ``written``).
        self.accounts_written: set[int] = set()

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
            "external_id": external_id,
            **first_seen(self.app.workspace_id, self.app.id, self.run.id, self.now),
        }

    def _insert(self, model: type[Any], rows: list[dict[str, Any]]) -> None:
        """Insert rows that all have the same keys; values every row shares are written once."""
        if not rows:
            return
        first = rows[0]
        shared = {k: v for k, v in first.items() if all(row[k] is v for row in rows)}
        columns = [k for k in first if k not in shared]
        insert_rows(
            self.session.connection(),
            table_of(model),
            columns,
            [[row[k] for k in columns] for row in rows],
            shared,
        )

    def _update(self, model: type[Any], updates: list[dict[str, Any]]) -> None:
        """Update rows by id, one statement per set of columns changed."""
        groups: dict[tuple[str, ...], list[list[Any]]] = {}
        for values in updates:
            columns = tuple(k for k in values if k != "id")
            groups.setdefault(columns, []).append([*(values[k] for k in columns), values["id"]])
        for columns, rows in groups.items():
            update_rows(self.session.connection(), table_of(model), columns, rows)

    def _external_ids(self, model: type[Account] | type[Asset]) -> dict[str, int]:
        rows = self.session.execute(
            select(model.external_id, model.id).where(model.app_id == self.app.id)
        )
        return {external_id: row_id for external_id, row_id in rows}

    # -- what is stored: read during the fetch (each taken once, so that it goes when its part of
    # the load is done, as a read of the load's own would), or else read now --------------------

    def _stored_accounts(self) -> dict[str, _StoredAccount]:
        if self.stored is None:
            return drained(read_stored_accounts(self.session.connection(), self.app.id))
        accounts, self.stored.accounts = self.stored.accounts, {}
        return accounts

    def _stored_assets(self) -> dict[str, StoredAsset]:
        if self.stored is None:
            return drained(read_stored_assets(self.session.connection(), self.app.id))
        assets, self.stored.assets = self.stored.assets, {}
        return assets

    def _stored_grants(self) -> StoredGrants:
        if self.stored is None:
            return drained(read_stored_grants(self.session.connection(), self.app.id))
        grants, self.stored.grants = self.stored.grants, StoredGrants()
        return grants

    def _grant_plan(self, records: Sequence[GrantRecord]) -> GrantPlan | None:
        """The plan made of these records' first ones, if there is one."""
        plan = self.stored.grant_plan if self.stored is not None else None
        return plan if plan is not None and _begins_with(records, plan.records) else None

    # -- the load -----------------------------------------------------------------------------

    def load(self, snapshot: Snapshot) -> LoadResult:
        account_ids = self._load_accounts(snapshot.accounts)
        asset_ids = self._load_assets(snapshot.assets)
        self._load_grants(snapshot.grants, account_ids, asset_ids)
        self._load_partners(snapshot, asset_ids)
        self._insert(Change, self._changes)
        self.result.changes = len(self._changes)
        # Accounts carry the last check that saw them (the Members page shows it); assets,
        # grants and partners the last check that wrote them (see SeenMixin).
        self.session.execute(
            update(Account)
            .where(
                Account.app_id == self.app.id,
                Account.present.is_(True),
                Account.last_seen_run_id.is_distinct_from(self.run.id),
            )
            .values(last_seen_run_id=self.run.id)
            .execution_options(synchronize_session=False)
        )
        return self.result

    def _load_accounts(self, records: Iterable[AccountRecord]) -> dict[str, int]:
        existing = self._stored_accounts()
        if not any(row.present for row in existing.values()):
            # No account was present (an app's first check): there is nothing to decide before
            # the load, and the accounts it adds are decided as written (``Classifier.added``).
            self.classifier.nothing_present()
        seen: dict[str, int] = {}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for record in records:
            old = existing.get(record.external_id)
            if old is not None and old.holds(record):
                # Unchanged, as most are on a check: nothing to write or to record.
                seen[record.external_id] = old.id
                continue
            details = _account_details(record)
            values = {
                "kind": record.kind,
                "name": record.name or "",
                "email": record.email,
                "email_key": email_key(record.email),
                "app_role": record.role,
                "details": details,
            }
            label = record.name or record.email or record.external_id
            if old is None:
                classified = self.classifier.new_account(
                    record.kind, record.email, record.name or "", self.now
                )
                inserts.append(self._new_row({**values, **classified}, record.external_id))
                continue
            seen[record.external_id] = old.id
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
            if (
                (old.name, old.email, old.app_role)
                != (
                    values["name"],
                    values["email"],
                    values["app_role"],
                )
                or old.kind != record.kind
                or not old.same_details(record, details)
            ):
                updates.append({"id": old.id, **values, "updated_at": self.now})
        if inserts:
            reserved = self.early.account_ids if self.early is not None else {}
            numbered = [
                {"id": reserved[row["external_id"]], **row}
                for row in inserts
                if row["external_id"] in reserved
            ]
            self._insert(Account, numbered)
            self._insert(Account, [row for row in inserts if row["external_id"] not in reserved])
            ids = self._external_ids(Account)
            for new in inserts:
                seen[new["external_id"]] = ids[new["external_id"]]
                self._change(
                    ChangeKind.ACCOUNT_ADDED,
                    f"{new['name'] or new['email'] or new['external_id']} added "
                    f"({new['kind']}, {new['app_role']})",
                    key=new["external_id"],
                    email=new["email"],
                    after={"role": new["app_role"], "kind": new["kind"]},
                    account_id=ids[new["external_id"]],
                )
        self.result.add("accounts", len(seen))
        gone = [row for ext, row in existing.items() if row.present and ext not in seen]
        for row in gone:
            updates.append({"id": row.id, "present": False, "gone_at": self.now})
            self._change(
                ChangeKind.ACCOUNT_REMOVED,
                f"{row.name or row.email or row.external_id} no longer has access",
                key=row.external_id,
                before={"role": row.app_role, "kind": row.kind},
                account_id=row.id,
            )
        if updates:
            self._update(Account, updates)
        self.accounts_written.update(row["id"] for row in updates)
        for new in inserts:
            # Written as classified; decided so too where the others were before the load.
            account_id = seen[new["external_id"]]
            if not self.classifier.added(account_id, new):
                self.accounts_written.add(account_id)
        return seen

    def _load_assets(self, records: Sequence[AssetRecord]) -> dict[str, int]:
        if self.early is not None and records is self.early.assets:
            # Written already, each as added (the first check records no change).
            self.result.add(ChangeKind.ASSET_ADDED.value, len(records))
            self.result.add("assets", len(self.early.asset_ids))
            return dict(self.early.asset_ids)
        existing = self._stored_assets()
        seen: dict[str, int] = {}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for record in records:
            old = existing.get(record.external_id)
            if old is not None:
                seen[record.external_id] = old.id
                stored = (old.name, old.type, old.ownership, old.owner_business_id)
                if old.present and stored == asset_facts(record):
                    continue  # unchanged, as most are on a check
            values = asset_columns(record)
            if old is None:
                inserts.append(self._new_row(values, record.external_id))
                continue
            if not old.present:
                updates.append(
                    {
                        "id": old.id,
                        **values,
                        "present": True,
                        "gone_at": None,
                        "last_seen_run_id": self.run.id,
                    }
                )
                self._change(
                    ChangeKind.ASSET_ADDED,
                    f"{record.type} {record.name or record.external_id} is back",
                    key=record.external_id,
                    asset_id=old.id,
                )
            else:
                updates.append(
                    {
                        "id": old.id,
                        **values,
                        "updated_at": self.now,
                        "last_seen_run_id": self.run.id,
                    }
                )
        if inserts:
            self._insert(Asset, inserts)
            ids = self._external_ids(Asset)
            for new in inserts:
                seen[new["external_id"]] = ids[new["external_id"]]
                self._change(
                    ChangeKind.ASSET_ADDED,
                    f"{new['type']} {new['name'] or new['external_id']} added",
                    key=new["external_id"],
                    asset_id=ids[new["external_id"]],
                )
        self.result.add("assets", len(seen))
        for ext, row in existing.items():
            if row.present and ext not in seen:
                updates.append({"id": row.id, "present": False, "gone_at": self.now})
                self._change(
                    ChangeKind.ASSET_REMOVED,
                    f"{row.type} {row.name or ext} is no longer reachable",
                    key=ext,
                    asset_id=row.id,
                )
        if updates:
            self._update(Asset, updates)
        return seen

    def _load_grants(
        self,
        records: Sequence[GrantRecord],
        account_ids: dict[str, int],
        asset_ids: dict[str, int],
    ) -> None:
        existing = self._stored_grants()
        texts: dict[tuple[str, ...], str] = {}
        # Records share one tuple per distinct task list: each is sorted once.
        sorted_tasks: dict[tuple[str, ...], tuple[str, ...]] = {}
        seen: set[int] = set()
        inserts: list[tuple[int, int, str]] = []
        updates: list[dict[str, Any]] = []
        added = 0
        # Grants written before the load (``early``), counted, not listed: none of the records
        # after them (partners' people's) can be of the same pair, their accounts being others.
        kept = 0
        plan = self._grant_plan(records)
        todo: Iterable[GrantRecord] = records
        early = self.early
        if early is not None and _begins_with(records, early.grants):
            # Written already: each holder's grants hold where the snapshot lists its account;
            # the others go, as the load would not have written them.
            orphans: list[int] = []
            for holder, count in early.pairs.items():
                if holder in account_ids:
                    kept += count
                    added += count
                else:
                    self.result.unresolved_grants += early.records_of[holder]
                    orphans.append(early.account_ids[holder])
            self.result.unresolved_grants += early.unresolved
            self._delete_grants_of(orphans)
            todo = records[len(early.grants) :]
        elif plan is not None:
            # What the plan settled holds where its account is in the snapshot; the rest, and
            # what came after the plan was made (partners' people), is compared here.
            for holder, keys in plan.unchanged.items():
                if holder in account_ids:
                    seen.update(keys)
                else:
                    self.result.unresolved_grants += plan.records_of[holder]
            todo = chain((plan.records[index] for index in plan.rest), records[len(plan.records) :])
        if self.baseline and not existing:
            # An app's first check: every pair is new and none is a change to record.
            added += self._new_grants(todo, account_ids, asset_ids, seen, inserts)
            todo = ()
        for record in todo:
            account_id = account_ids.get(record.account_external_id)
            asset_id = asset_ids.get(record.asset_external_id)
            if account_id is None or asset_id is None:
                self.result.unresolved_grants += 1
                continue
            key = pair_key(account_id, asset_id)
            if key in seen:
                continue
            seen.add(key)
            ordered = sorted_tasks.get(record.tasks)
            if ordered is None:
                ordered = sorted_tasks[record.tasks] = tuple(sorted(record.tasks))
            old = existing.get(key)
            if old is not None and old[2] and old[1] == ordered:
                continue
            tasks = list(ordered)
            if old is None:
                text = texts.get(ordered)
                if text is None:
                    text = texts[ordered] = json.dumps(tasks)
                inserts.append((account_id, asset_id, text))
                if self.baseline:
                    added += 1
                    continue
                self._change(
                    ChangeKind.GRANT_ADDED,
                    f"{record.account_external_id} got {', '.join(tasks)} on "
                    f"{record.asset_external_id}",
                    key=f"{record.account_external_id}/{record.asset_external_id}",
                    after={"tasks": tasks},
                    account_id=account_id,
                    asset_id=asset_id,
                )
                continue
            old_id, old_ordered, old_present = old
            old_tasks = list(old_ordered)
            if not old_present or old_tasks != tasks:
                updates.append(
                    {
                        "id": old_id,
                        "tasks": tasks,
                        "present": True,
                        "gone_at": None,
                        "last_seen_run_id": self.run.id,
                    }
                )
                kind = ChangeKind.GRANT_ADDED if not old_present else ChangeKind.GRANT_CHANGED
                self._change(
                    kind,
                    f"{record.account_external_id} on {record.asset_external_id}: "
                    f"{', '.join(old_tasks) if old_present else 'nothing'} → {', '.join(tasks)}",
                    key=f"{record.account_external_id}/{record.asset_external_id}",
                    before={"tasks": old_tasks} if old_present else None,
                    after={"tasks": tasks},
                    account_id=account_id,
                    asset_id=asset_id,
                )
        if added:
            self.result.add(ChangeKind.GRANT_ADDED.value, added)
        insert_rows(
            self.session.connection(),
            table_of(Grant),
            GRANT_COLUMNS,
            inserts,
            first_seen(self.app.workspace_id, self.app.id, self.run.id, self.now),
            ready=("tasks",),
        )
        self.result.add("grants", kept + len(seen))
        gone = existing.present_except(seen)
        accounts_by_id = {v: k for k, v in account_ids.items()} if gone else {}
        assets_by_id = {v: k for k, v in asset_ids.items()} if gone else {}
        for key, grant_id, held in gone:
            held_by, held_on = key >> _PAIR_SHIFT, key & _PAIR_MASK
            updates.append({"id": grant_id, "present": False, "gone_at": self.now})
            account_ext = accounts_by_id.get(held_by, str(held_by))
            asset_ext = assets_by_id.get(held_on, str(held_on))
            old_tasks = list(held)
            self._change(
                ChangeKind.GRANT_REMOVED,
                f"{account_ext} lost {', '.join(old_tasks)} on {asset_ext}",
                key=f"{account_ext}/{asset_ext}",
                before={"tasks": old_tasks},
                account_id=held_by,
                asset_id=held_on,
            )
        if updates:
            self._update(Grant, updates)

    def _new_grants(
        self,
        records: Iterable[GrantRecord],
        account_ids: dict[str, int],
        asset_ids: dict[str, int],
        seen: set[int],
        inserts: list[tuple[int, int, str]],
    ) -> int:
        """The rows of grants none of which is stored, as the comparison in ``_load_grants``
        would make them (each pair once, its tasks sorted), without comparing: a first check's
        tens of thousands. Returns how many."""
        texts: dict[tuple[str, ...], str] = {}
        unresolved, before = 0, len(inserts)
        for record in records:
            account_id = account_ids.get(record.account_external_id)
            asset_id = asset_ids.get(record.asset_external_id)
            if account_id is None or asset_id is None:
                unresolved += 1
                continue
            key = account_id << _PAIR_SHIFT | asset_id  # pair_key, inline
            if key in seen:
                continue
            seen.add(key)
            text = texts.get(record.tasks)
            if text is None:
                text = texts[record.tasks] = json.dumps(sorted(record.tasks))
            inserts.append((account_id, asset_id, text))
        self.result.unresolved_grants += unresolved
        return len(inserts) - before

    def _delete_grants_of(self, account_ids: Sequence[int]) -> None:
        for start in range(0, len(account_ids), _IDS_PER_STATEMENT):
            chunk = account_ids[start : start + _IDS_PER_STATEMENT]
            self.session.execute(
                delete(Grant).where(Grant.app_id == self.app.id, Grant.account_id.in_(chunk))
            )

    def _load_partners(self, snapshot: Snapshot, asset_ids: dict[str, int]) -> None:
        existing = {
            (p.external_id, p.relation.value): p
            for p in self.session.scalars(select(Partner).where(Partner.app_id == self.app.id))
        }
        held = self._partner_grants()
        grant_inserts: list[tuple[int, int, str]] = []
        grant_updates: list[dict[str, Any]] = []
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
            partner.last_seen_run_id = self.run.id
            self._diff_partner_grants(
                partner.id,
                record.asset_tasks,
                asset_ids,
                held.get(partner.id, {}),
                grant_inserts,
                grant_updates,
            )
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
        insert_rows(
            self.session.connection(),
            table_of(PartnerGrant),
            ("partner_id", "asset_id", "tasks"),
            grant_inserts,
            {
                "workspace_id": self.app.workspace_id,
                "present": True,
                "first_seen_run_id": self.run.id,
                "last_seen_run_id": self.run.id,
            },
            ready=("tasks",),
        )
        self._update(PartnerGrant, grant_updates)

    def _partner_grants(self) -> dict[int, dict[int, tuple[int, tuple[str, ...], bool]]]:
        """Every partner's grants on our assets: partner → asset → (id, tasks, present)."""
        held: dict[int, dict[int, tuple[int, tuple[str, ...], bool]]] = {}
        for grant_id, partner_id, asset_id, tasks_text, present in plain_rows(
            self.session.connection(),
            select(
                PartnerGrant.id,
                PartnerGrant.partner_id,
                PartnerGrant.asset_id,
                cast(PartnerGrant.tasks, Text),
                PartnerGrant.present,
            )
            .join(Partner, Partner.id == PartnerGrant.partner_id)
            .where(Partner.app_id == self.app.id),
        ):
            held.setdefault(partner_id, {})[asset_id] = (
                grant_id,
                tuple(_tasks_of(tasks_text)),
                bool(present),
            )
        return held

    def _diff_partner_grants(
        self,
        partner_id: int,
        asset_tasks: Iterable[Any],
        asset_ids: dict[str, int],
        existing: dict[int, tuple[int, tuple[str, ...], bool]],
        inserts: list[tuple[int, int, str]],
        updates: list[dict[str, Any]],
    ) -> None:
        seen: set[int] = set()
        for item in asset_tasks:
            asset_id = asset_ids.get(item.asset_external_id)
            if asset_id is None or asset_id in seen:
                continue
            seen.add(asset_id)
            tasks = tuple(sorted(item.tasks))
            old = existing.get(asset_id)
            if old is None:
                inserts.append((partner_id, asset_id, json.dumps(list(tasks))))
            elif old[1] != tasks or not old[2]:
                updates.append(
                    {
                        "id": old[0],
                        "tasks": list(tasks),
                        "present": True,
                        "gone_at": None,
                        "last_seen_run_id": self.run.id,
                    }
                )
        for asset_id, (grant_id, _tasks, present) in existing.items():
            if present and asset_id not in seen:
                updates.append({"id": grant_id, "present": False, "gone_at": self.now})


_PAIR_SHIFT = 64
_PAIR_MASK = (1 << _PAIR_SHIFT) - 1


class StoredGrants:
    """The app's grants as the load compares them, by ``pair_key``: each one integer (its row id,
    the number of its task list, whether it is present), the task lists kept once apart. A
    large business has tens of thousands of grants and a few dozen task lists: a tuple and an
    id per grant would cost three times the memory."""

    __slots__ = ("_held", "_lists", "_numbers")

    def __init__(self) -> None:
        self._held: dict[int, int] = {}
        self._lists: list[tuple[str, ...]] = []
        self._numbers: dict[tuple[str, ...], int] = {}

    def add(self, key: int, grant_id: int, tasks: tuple[str, ...], present: bool) -> None:
        number = self._numbers.get(tasks)
        if number is None:
            number = self._numbers[tasks] = len(self._lists)
            self._lists.append(tasks)
        self._held[key] = (grant_id << _LIST_SHIFT | number) << 1 | present

    def get(self, key: int) -> tuple[int, tuple[str, ...], bool] | None:
        """The grant of this pair: (row id, tasks, present), or None."""
        value = self._held.get(key)
        return None if value is None else self._unpacked(value)

    def holds(self, key: int, tasks: tuple[str, ...]) -> bool:
        """Whether this pair's grant is present with exactly these tasks."""
        value = self._held.get(key)
        return (
            value is not None and bool(value & 1) and self._lists[value >> 1 & _LIST_MASK] == tasks
        )

    def present_except(self, keys: set[int]) -> list[tuple[int, int, tuple[str, ...]]]:
        """The present grants of every pair but these: (pair, row id, tasks). Only those are
        unpacked: an unchanged check's tens of thousands of pairs are each tested once."""
        held = self._held
        return [
            (key, *self._unpacked(held[key])[:2])
            for key in [key for key, value in held.items() if value & 1 and key not in keys]
        ]

    def items(self) -> Iterator[tuple[int, tuple[int, tuple[str, ...], bool]]]:
        for key, value in self._held.items():
            yield key, self._unpacked(value)

    def __len__(self) -> int:
        return len(self._held)

    def __eq__(self, other: object) -> bool:
        """The same grants, however their task lists are numbered."""
        if not isinstance(other, StoredGrants):
            return NotImplemented
        return dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def _unpacked(self, value: int) -> tuple[int, tuple[str, ...], bool]:
        return value >> (_LIST_SHIFT + 1), self._lists[value >> 1 & _LIST_MASK], bool(value & 1)


# Bits of a stored grant's integer for the number of its task list (``StoredGrants``).
_LIST_SHIFT = 20
_LIST_MASK = (1 << _LIST_SHIFT) - 1


class StoredAsset(NamedTuple):
    """What the load compares of an asset already stored (a plain tuple: a row's attributes
    take several times as long to read, on every asset of every check)."""

    id: int
    external_id: str
    name: str
    type: AssetType
    ownership: Ownership
    owner_business_id: str | None
    present: bool


@dataclass
class GrantPlan:
    """The fetched grants compared with the stored ones before the load (``plan_grants``):
    the pairs found unchanged, by the external id of the account holding them, and the indexes
    of the rest, which the load compares itself."""

    records: tuple[GrantRecord, ...]
    # Account external id -> the (account, asset) pairs of its grants found as stored.
    unchanged: dict[str, list[int]]
    # Account external id -> how many records those pairs are (an app may list one twice).
    records_of: dict[str, int]
    rest: list[int]


@dataclass(frozen=True)
class EarlyRows:
    """The assets and grants an app's first check wrote before its load, in the transaction the
    load goes on with (``bastion/checks/early.py``): the very records the snapshot carries, the
    ids they took, and the ids kept for the accounts holding the grants."""

    assets: tuple[AssetRecord, ...]
    asset_ids: dict[str, int]
    grants: tuple[GrantRecord, ...]
    # Account external id -> the id its account is written with.
    account_ids: dict[str, int]
    # Account external id -> how many (account, asset) pairs were written for it, and how many
    # records they are (an app may list a grant twice).
    pairs: dict[str, int]
    records_of: dict[str, int]
    # Records whose asset is not among the assets (not written).
    unresolved: int


@dataclass
class StoredRows:
    """What the load compares a snapshot with: the app's accounts, assets and grants. The load
    takes each (``SnapshotLoader``), leaving an empty one. ``grant_plan``: the fetched grants
    compared with these already (``plan_grants``), or None."""

    accounts: dict[str, _StoredAccount]
    assets: dict[str, StoredAsset]
    grants: StoredGrants
    grant_plan: GrantPlan | None = None

    @property
    def empty(self) -> bool:
        return not (self.accounts or self.assets or self.grants)


def plan_grants(stored: StoredRows, fetched: AssetsRead) -> Generator[None, None, GrantPlan]:
    """Compare the fetched grants with the stored ones where both ends are stored, a step every
    ``ROWS_PER_STEP`` records, as ``SnapshotLoader`` would: only a pair found present with the
    same tasks is settled here; every other record is left to the load, in order. A pair holds
    for the load only if its account is in the snapshot (the load checks: the people were not
    all read when this ran); its asset is (the assets were all read)."""
    account_ids = {external_id: row.id for external_id, row in stored.accounts.items()}
    fetched_assets = {asset.external_id for asset in fetched.assets}
    asset_ids = {ext: row.id for ext, row in stored.assets.items() if ext in fetched_assets}
    existing = stored.grants
    sorted_tasks: dict[tuple[str, ...], tuple[str, ...]] = {}
    plan = GrantPlan(fetched.grants, {}, {}, [])
    # Pairs left to the load: a later record of one (listed twice) is the load's too.
    left: set[int] = set()
    for index, record in enumerate(fetched.grants):
        if index % ROWS_PER_STEP == ROWS_PER_STEP - 1:
            yield
        account_id = account_ids.get(record.account_external_id)
        asset_id = asset_ids.get(record.asset_external_id)
        if account_id is None or asset_id is None:
            plan.rest.append(index)
            continue
        key = pair_key(account_id, asset_id)
        holder = record.account_external_id
        if key not in left:
            ordered = sorted_tasks.get(record.tasks)
            if ordered is None:
                ordered = sorted_tasks[record.tasks] = tuple(sorted(record.tasks))
            if existing.holds(key, ordered):
                plan.unchanged.setdefault(holder, []).append(key)
                plan.records_of[holder] = plan.records_of.get(holder, 0) + 1
                continue
            left.add(key)
        plan.rest.append(index)
    return plan


def read_stored(connection: Connection, app_id: int) -> Generator[None, None, StoredRows]:
    """The app's rows as the load reads them, a step every ``ROWS_PER_STEP`` rows."""
    accounts = yield from read_stored_accounts(connection, app_id)
    assets = yield from read_stored_assets(connection, app_id)
    grants = yield from read_stored_grants(connection, app_id)
    return StoredRows(accounts, assets, grants)


def read_stored_accounts(
    connection: Connection, app_id: int
) -> Generator[None, None, dict[str, _StoredAccount]]:
    """By external id. Plain rows: the kind is its stored value, the details their JSON text."""
    existing: dict[str, _StoredAccount] = {}
    rows = each_plain_row(
        connection,
        select(
            Account.id,
            Account.external_id,
            Account.kind,
            Account.name,
            Account.email,
            Account.app_role,
            cast(Account.details, Text),
            Account.present,
        ).where(Account.app_id == app_id),
    )
    for count, (row_id, external_id, kind, name, email, app_role, details, present) in enumerate(
        rows, start=1
    ):
        facts = _details_facts(details or "")
        existing[external_id] = _StoredAccount(
            row_id,
            external_id,
            kind,
            name,
            email,
            app_role,
            facts,
            "" if facts is not None else details or "",
            bool(present),
        )
        if count % ROWS_PER_STEP == 0:
            yield
    return existing


def read_stored_assets(
    connection: Connection, app_id: int
) -> Generator[None, None, dict[str, StoredAsset]]:
    """By external id."""
    existing: dict[str, StoredAsset] = {}
    result = connection.execute(
        select(
            Asset.id,
            Asset.external_id,
            Asset.name,
            Asset.type,
            Asset.ownership,
            Asset.owner_business_id,
            Asset.present,
        ).where(Asset.app_id == app_id)
    )
    for rows in result.partitions(ROWS_PER_STEP):
        existing.update((row.external_id, StoredAsset(*row)) for row in rows)
        yield
    return existing


def read_stored_grants(connection: Connection, app_id: int) -> Generator[None, None, StoredGrants]:
    """The app's grants as the load compares them, a step every ``ROWS_PER_STEP`` rows; run
    it whole with ``drained``.

    Keyed by one integer per (account, asset) pair (``pair_key``): a large business has tens of
    thousands of grants, and a tuple per key costs twice the memory of an integer. Tasks are
    read as their stored JSON text and decoded once per distinct text (a business has a few
    dozen task lists across tens of thousands of grants); rows are plain tuples.
    """
    decoded: dict[str | None, tuple[str, ...]] = {}
    existing = StoredGrants()
    for count, (grant_id, held_by, held_on, tasks_text, present) in enumerate(
        each_plain_row(
            connection,
            select(
                Grant.id, Grant.account_id, Grant.asset_id, cast(Grant.tasks, Text), Grant.present
            ).where(Grant.app_id == app_id),
        ),
        start=1,
    ):
        tasks = decoded.get(tasks_text)
        if tasks is None:
            tasks = decoded[tasks_text] = tuple(_tasks_of(tasks_text))
        existing.add(pair_key(held_by, held_on), grant_id, tasks, bool(present))
        if count % ROWS_PER_STEP == 0:
            yield
    return existing


# The columns a new grant is written with, besides ``first_seen``'s.
GRANT_COLUMNS = ("account_id", "asset_id", "tasks")
# Ids in one statement's IN list at most (SQLite binds up to 32,766 parameters).
_IDS_PER_STATEMENT = 500


def first_seen(workspace_id: int, app_id: int, run_id: int, now: datetime) -> dict[str, Any]:
    """The columns every row a check adds (account, asset, grant) starts with."""
    return {
        "workspace_id": workspace_id,
        "app_id": app_id,
        "present": True,
        "first_seen_run_id": run_id,
        "last_seen_run_id": run_id,
        "created_at": now,
        "updated_at": now,
    }


# The columns an asset's row holds of its record, in the order of ``asset_facts``.
ASSET_COLUMNS = ("name", "type", "ownership", "owner_business_id")


def asset_columns(record: AssetRecord) -> dict[str, Any]:
    """What an asset's row holds of its record (compared on every check: ``asset_facts``)."""
    return dict(zip(ASSET_COLUMNS, asset_facts(record), strict=True))


def asset_facts(record: AssetRecord) -> tuple[Any, ...]:
    """The values of ``ASSET_COLUMNS`` for this record."""
    return (record.name or "", record.type, record.ownership, record.owner_business_id)


def _begins_with(records: Sequence[GrantRecord], first: Sequence[GrantRecord]) -> bool:
    """Whether ``records`` start with the very records of ``first``."""
    return len(first) <= len(records) and all(map(is_, first, records))


def pair_key(account_id: int, asset_id: int) -> int:
    """One integer for an (account, asset) pair of row ids (both below 2**64)."""
    return account_id << _PAIR_SHIFT | asset_id


def _tasks_of(stored: str | None) -> list[str]:
    """A grant's tasks from their stored JSON text."""
    value = json.loads(stored) if stored else []
    return [str(task) for task in value] if isinstance(value, list) else []


def _same_details(stored: str, details: dict[str, Any]) -> bool:
    """Whether an account's stored details (their JSON text) are these: the text as they are
    written is compared first, the text decoded only where it differs."""
    if stored == json.dumps(details):
        return True
    return (json.loads(stored) if stored else {}) == details


# The details of an account, by the names its row holds them under, in the order
# ``_record_facts`` gives their values.
DETAIL_KEYS = (
    "first_name",
    "last_name",
    "two_factor_status",
    "finance_permission",
    "ads_rights_permission",
    "invitation_status",
    "invitation_expires_at",
    "partner_external_id",
    "created_at",
    "created_by_name",
    "created_by_email",
)
_DETAIL_KEY_SET = frozenset(DETAIL_KEYS)


def _record_facts(record: AccountRecord) -> tuple[Any, ...]:
    """A record's details as ``_account_details`` writes them, as the values of
    ``DETAIL_KEYS`` (None where it writes none)."""
    expires, created = record.invitation_expires_at, record.created_at
    return (
        record.first_name,
        record.last_name,
        record.two_factor_status,
        record.finance_permission,
        record.ads_rights_permission,
        record.invitation_status,
        expires.isoformat() if expires else None,
        record.partner_external_id,
        created.isoformat() if created else None,
        record.created_by_name,
        record.created_by_email,
    )


def _details_facts(stored: str) -> tuple[Any, ...] | None:
    """Stored details (their JSON text) as the values of ``DETAIL_KEYS``, as ``_record_facts``
    gives a record's; None where they are anything a record would not write (a key of none of
    its details, a null, what is not an object), which is then compared as a whole."""
    try:
        value = json.loads(stored) if stored else {}
    except ValueError:
        return None
    if not isinstance(value, dict) or not value.keys() <= _DETAIL_KEY_SET:
        return None
    if any(item is None for item in value.values()):
        return None
    return tuple(
        sys.intern(item) if key in _FEW_VALUES and isinstance(item, str) else item
        for key, item in ((key, value.get(key)) for key in DETAIL_KEYS)
    )


# Details with a handful of values across a business's accounts, each kept once in memory.
_FEW_VALUES = frozenset(
    {"two_factor_status", "finance_permission", "ads_rights_permission", "invitation_status"}
)


def _account_details(record: AccountRecord) -> dict[str, Any]:
    """The details an account's row holds of its record: those it has, by ``DETAIL_KEYS``."""
    return {
        key: value
        for key, value in zip(DETAIL_KEYS, _record_facts(record), strict=True)
        if value is not None
    }
