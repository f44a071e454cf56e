"""The audit log: append-only, UTC, hash-chained per workspace.

Each event names an action from ``AuditAction`` and may carry only the detail keys allowed for
that action, so a careless caller cannot write a token or a whole request body into the log.
Each row stores the hash of the previous row of its workspace and a sequence number, so
``verify_chain`` finds an edited row (its hash no longer matches), a deleted row (a gap in the
sequence) and a re-ordered one (a broken link).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from bastion.errors import InvalidInput
from bastion.storage.models import AuditEvent, Workspace, table_of, utcnow

GENESIS_HASH = "0" * 64
_EVENT_COLUMNS = (
    "workspace_id",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "target",
    "details",
    "request_id",
    "prev_hash",
    "hash",
)
# Built once: these run for every audited change.
_workspaces = table_of(Workspace)
_TAKE_SEQS = (
    update(_workspaces)
    .where(_workspaces.c.id == bindparam("workspace"))
    .values(audit_seq=_workspaces.c.audit_seq + bindparam("count"))
    .returning(_workspaces.c.audit_seq, _workspaces.c.audit_head)
)
_SET_HEAD = (
    update(_workspaces)
    .where(_workspaces.c.id == bindparam("workspace"))
    .values(audit_head=bindparam("head"))
)
_APPEND = insert(table_of(AuditEvent))


class AuditAction(StrEnum):
    WORKSPACE_CREATED = "workspace.created"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_STATUS_CHANGED = "user.status_changed"
    USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105 - an action name
    USER_SIGNED_IN = "user.signed_in"
    USER_SIGN_IN_FAILED = "user.sign_in_failed"
    USER_SIGNED_OUT = "user.signed_out"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 - an action name
    TOKEN_CREATED = "token.created"  # noqa: S105 - an action name
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 - an action name
    SECRETS_ROTATED = "secrets.rotated"
    USER_REMOVED = "user.removed"
    TEAM_CREATED = "team.created"
    TEAM_UPDATED = "team.updated"
    TEAM_MEMBERS_CHANGED = "team.members_changed"
    TEAM_DELETED = "team.deleted"
    APP_CHECK_REQUESTED = "app.check_requested"
    DIRECTORY_IMPORTED = "directory.imported"
    APP_CONNECTED = "app.connected"
    APP_UPDATED = "app.updated"
    APP_DISCONNECTED = "app.disconnected"
    CHECK_FINISHED = "check.finished"
    OPERATION_QUEUED = "operation.queued"
    OPERATION_FINISHED = "operation.finished"
    OPERATION_RETRIED = "operation.retried"
    OPERATION_MANUAL_DONE = "operation.manual_done"
    REPORT_APPLIED = "report.applied"
    REPORT_ITEM_DISMISSED = "report.item_dismissed"
    PARTNER_REMOVAL_GATHERED = "partner.removal_gathered"
    PARTNER_REMOVAL_APPLIED = "partner.removal_applied"
    ACCOUNT_MATCHED = "account.matched"
    ACCOUNT_UNMATCHED = "account.unmatched"
    ACCOUNT_EXEMPTED = "account.exempted"
    ACCOUNT_UNEXEMPTED = "account.unexempted"
    ACCOUNT_REMOVAL_REQUESTED = "account.removal_requested"
    ACCOUNT_ROLE_CHANGE_REQUESTED = "account.role_change_requested"
    ACCOUNT_TASKS_CHANGE_REQUESTED = "account.tasks_change_requested"
    ACCOUNT_PROFILE_LINKED = "account.profile_linked"
    ACCOUNT_PROFILE_LINK_REFUSED = "account.profile_link_refused"
    PERSON_INVITED = "app.person_invited"
    INVITATION_CANCEL_REQUESTED = "app.invitation_cancel_requested"
    GUEST_INVITED = "guest.invited"
    GUEST_PASSWORD_SET = "guest.password_set"  # noqa: S105 - an action name
    LOCAL_PARTNER_CREATED = "partner.created"
    PARTNER_TOKEN_SET = "partner.token_set"  # noqa: S105 - an action name
    PARTNER_TOKEN_REMOVED = "partner.token_removed"  # noqa: S105 - an action name
    MEMBER_ONBOARDING_CHANGED = "member.onboarding_changed"
    SSO_CONFIGURED = "sso.configured"
    SSO_REMOVED = "sso.removed"
    USER_SSO_REFUSED = "user.sso_refused"
    SIGN_IN_LINK_SENT = "user.sign_in_link_sent"
    SIGN_IN_LINK_REFUSED = "user.sign_in_link_refused"
    EMAIL_RETRIED = "email.retried"
    CREDENTIAL_SAVED = "credential.saved"
    CREDENTIAL_SAVE_REFUSED = "credential.save_refused"
    CREDENTIAL_REVEALED = "credential.revealed"
    CREDENTIAL_COPIED = "credential.copied"
    CREDENTIAL_REVEAL_REFUSED = "credential.reveal_refused"
    CREDENTIAL_ROTATION_STARTED = "credential.rotation_started"
    CREDENTIAL_ROTATED = "credential.rotated"
    CREDENTIALS_DESTROYED = "credentials.destroyed"
    CREDENTIAL_POLICY_CHANGED = "app.credential_policy_changed"
    REVIEW_OPENED = "review.opened"
    REVIEW_KEPT = "review.kept"
    REVIEW_REVERTED = "review.reverted"
    REVIEW_ESCALATED = "review.escalated"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_REMOVED = "webhook.removed"
    WEBHOOK_ENABLED = "webhook.enabled"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_REDELIVERED = "webhook.redelivered"


_COMMON = frozenset({"reason"})
ALLOWED_DETAILS: dict[AuditAction, frozenset[str]] = {
    AuditAction.WORKSPACE_CREATED: frozenset({"name", "slug"}),
    AuditAction.USER_CREATED: frozenset({"email", "role", "source"}),
    AuditAction.USER_UPDATED: frozenset({"fields", "source"}),
    AuditAction.USER_STATUS_CHANGED: frozenset({"before", "after", "source"}),
    AuditAction.USER_PASSWORD_RESET: frozenset(),
    AuditAction.USER_SIGNED_IN: frozenset({"ip", "method"}),
    AuditAction.USER_SIGN_IN_FAILED: frozenset({"ip", "email"}),
    AuditAction.USER_SIGNED_OUT: frozenset(),
    AuditAction.USER_PASSWORD_CHANGED: frozenset(),
    AuditAction.TOKEN_CREATED: frozenset({"kind", "name", "prefix", "expires_at"}),
    AuditAction.TOKEN_REVOKED: frozenset({"kind", "name", "prefix"}),
    AuditAction.SECRETS_ROTATED: frozenset({"count", "key_id"}),
    AuditAction.USER_REMOVED: frozenset({"source", "linked_accounts"}),
    AuditAction.TEAM_CREATED: frozenset({"name", "source"}),
    AuditAction.TEAM_UPDATED: frozenset({"fields", "source"}),
    AuditAction.TEAM_MEMBERS_CHANGED: frozenset({"added", "removed", "source"}),
    AuditAction.TEAM_DELETED: frozenset({"name", "source"}),
    AuditAction.APP_CHECK_REQUESTED: frozenset({"user", "next_check_at"}),
    AuditAction.DIRECTORY_IMPORTED: frozenset(
        {"file", "created", "updated", "deprovisioned", "reactivated", "skipped"}
    ),
    AuditAction.APP_CONNECTED: frozenset(
        {"label", "kind", "business_id", "login_method", "app_secret_set"}
    ),
    AuditAction.APP_UPDATED: frozenset({"fields", "token_replaced", "app_secret_replaced"}),
    AuditAction.APP_DISCONNECTED: frozenset({"label"}),
    AuditAction.CHECK_FINISHED: frozenset({"run_id", "state", "counts", "error", "trigger"}),
    AuditAction.OPERATION_QUEUED: frozenset({"operation_id", "kind", "target", "parameters"}),
    AuditAction.OPERATION_FINISHED: frozenset({"operation_id", "kind", "state", "error"}),
    AuditAction.OPERATION_RETRIED: frozenset({"operation_id", "kind"}),
    AuditAction.OPERATION_MANUAL_DONE: frozenset({"operation_id", "kind"}),
    AuditAction.REPORT_APPLIED: frozenset({"report_id", "items", "operations"}),
    AuditAction.REPORT_ITEM_DISMISSED: frozenset({"report_id", "item_id", "account"}),
    AuditAction.PARTNER_REMOVAL_GATHERED: frozenset(
        {"removal_id", "partner", "local_partner_id", "domains", "items"}
    ),
    AuditAction.PARTNER_REMOVAL_APPLIED: frozenset(
        {"removal_id", "partner", "items", "trimmed", "operations", "forced", "orphaned_assets"}
    ),
    AuditAction.ACCOUNT_MATCHED: frozenset({"account", "user_id", "role", "rule"}),
    AuditAction.ACCOUNT_UNMATCHED: frozenset({"account", "user_id"}),
    AuditAction.ACCOUNT_EXEMPTED: frozenset({"account", "expires_at"}),
    AuditAction.ACCOUNT_UNEXEMPTED: frozenset({"account"}),
    AuditAction.ACCOUNT_REMOVAL_REQUESTED: frozenset(
        {"account", "operation_id", "forced", "orphaned_assets"}
    ),
    AuditAction.ACCOUNT_ROLE_CHANGE_REQUESTED: frozenset(
        {"account", "operation_id", "before", "after", "unvouched_confirmed"}
    ),
    AuditAction.ACCOUNT_TASKS_CHANGE_REQUESTED: frozenset(
        {"account", "operations", "assets", "forced", "orphaned_assets", "unvouched_confirmed"}
    ),
    AuditAction.ACCOUNT_PROFILE_LINKED: frozenset({"account", "user_id", "profile_name"}),
    AuditAction.ACCOUNT_PROFILE_LINK_REFUSED: frozenset(
        {"account", "problem", "profile_name", "other_account"}
    ),
    AuditAction.PERSON_INVITED: frozenset({"email", "role", "assets", "operation_id"}),
    AuditAction.INVITATION_CANCEL_REQUESTED: frozenset(
        {"account", "operation_id", "stale", "older_than_days"}
    ),
    AuditAction.GUEST_INVITED: frozenset({"email", "partner_id", "account", "invitation_id"}),
    AuditAction.GUEST_PASSWORD_SET: frozenset({"invitation_id"}),
    AuditAction.LOCAL_PARTNER_CREATED: frozenset({"name"}),
    AuditAction.PARTNER_TOKEN_SET: frozenset({"partner", "replaced", "identity"}),
    AuditAction.PARTNER_TOKEN_REMOVED: frozenset({"partner"}),
    AuditAction.MEMBER_ONBOARDING_CHANGED: frozenset({"app_id", "user_id", "before", "after"}),
    AuditAction.SSO_CONFIGURED: frozenset(
        {"display_name", "issuer", "client_id", "allowed_domains", "enabled", "secret_replaced"}
    ),
    AuditAction.SSO_REMOVED: frozenset({"issuer"}),
    AuditAction.USER_SSO_REFUSED: frozenset({"problem", "issuer", "email", "ip"}),
    AuditAction.SIGN_IN_LINK_SENT: frozenset({"link_id", "ip"}),
    AuditAction.SIGN_IN_LINK_REFUSED: frozenset({"problem", "ip"}),
    AuditAction.EMAIL_RETRIED: frozenset({"notification_id", "before"}),
    # Saved logins: which account and what happened, never a value (actions/credentials.py).
    AuditAction.CREDENTIAL_SAVED: frozenset(
        {"account", "two_factor", "two_factor_missing", "replaced"}
    ),
    AuditAction.CREDENTIAL_SAVE_REFUSED: frozenset({"account", "field"}),
    AuditAction.CREDENTIAL_REVEALED: frozenset({"account", "fields"}),
    AuditAction.CREDENTIAL_COPIED: frozenset({"account", "fields"}),
    AuditAction.CREDENTIAL_REVEAL_REFUSED: frozenset({"account", "fields", "problem"}),
    AuditAction.CREDENTIAL_ROTATION_STARTED: frozenset({"account", "again"}),
    AuditAction.CREDENTIAL_ROTATED: frozenset({"account"}),
    AuditAction.CREDENTIALS_DESTROYED: frozenset({"count", "accounts"}),
    AuditAction.CREDENTIAL_POLICY_CHANGED: frozenset({"before", "after"}),
    AuditAction.REVIEW_OPENED: frozenset({"review_id", "kind", "run_id", "outside_bastion"}),
    AuditAction.REVIEW_KEPT: frozenset({"review_id", "kind"}),
    AuditAction.REVIEW_REVERTED: frozenset({"review_id", "kind", "operations", "forced"}),
    AuditAction.REVIEW_ESCALATED: frozenset({"review_id", "age_days"}),
    # Webhooks: the endpoint and what it listens to, never its signing secret.
    AuditAction.WEBHOOK_CREATED: frozenset({"endpoint_id", "url", "events", "app_id"}),
    AuditAction.WEBHOOK_REMOVED: frozenset({"endpoint_id", "url"}),
    AuditAction.WEBHOOK_ENABLED: frozenset({"endpoint_id"}),
    AuditAction.WEBHOOK_DISABLED: frozenset({"endpoint_id"}),
    AuditAction.WEBHOOK_REDELIVERED: frozenset({"endpoint_id", "delivery_id", "before"}),
}


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        return f"audit event #{self.seq}: {self.problem}"


def _digest(event: AuditEvent) -> str:
    """The hash of an event's content and its link to the previous event."""
    return _digest_of({column: getattr(event, column) for column in _EVENT_COLUMNS})


def _digest_of(event: dict[str, Any]) -> str:
    """``_digest`` of an event's columns (``hash`` is not read)."""
    body = json.dumps(
        [
            event["workspace_id"],
            event["seq"],
            event["occurred_at"].isoformat(timespec="microseconds"),
            event["actor"],
            event["action"],
            event["target"],
            event["details"],
            event["request_id"],
            event["prev_hash"],
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One event of a ``record_many`` call."""

    action: AuditAction
    target: str | None = None
    details: dict[str, Any] | None = None


def record(
    session: Session,
    *,
    workspace_id: int,
    actor: str,
    action: AuditAction,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """Append one event to the workspace's chain, in the caller's transaction."""
    record_many(
        session,
        workspace_id=workspace_id,
        actor=actor,
        entries=(AuditEntry(action, target, details),),
        request_id=request_id,
    )


def record_many(
    session: Session,
    *,
    workspace_id: int,
    actor: str,
    entries: Sequence[AuditEntry],
    request_id: str | None = None,
) -> None:
    """Append events in order with one sequence update and one insert (a CSV import's batch)."""
    if not entries:
        return
    for entry in entries:
        unknown = sorted(set(entry.details or {}) - (ALLOWED_DETAILS[entry.action] | _COMMON))
        if unknown:
            action = entry.action.value
            raise InvalidInput("details", f"{action} does not log {', '.join(unknown)}")
    session.flush()  # the rows these events describe exist before the events do
    connection = session.connection()
    # The workspace row holds the chain's head. Taking the next numbers with an UPDATE locks the
    # row until the transaction ends, so writers of one workspace queue up (PostgreSQL takes a
    # FOR NO KEY UPDATE lock, which does not conflict with the KEY SHARE locks that foreign keys
    # of rows inserted elsewhere hold on it). The RETURNING head is the previous event's hash.
    last_seq, prev_hash = connection.execute(
        _TAKE_SEQS, {"workspace": workspace_id, "count": len(entries)}
    ).one()
    rows = []
    now = utcnow()
    for seq, entry in enumerate(entries, start=last_seq - len(entries) + 1):
        event = {
            "workspace_id": workspace_id,
            "seq": seq,
            "occurred_at": now,
            "actor": actor,
            "action": entry.action.value,
            "target": entry.target,
            # Round-trip through JSON so the hash covers exactly what the database will return.
            "details": json.loads(json.dumps(entry.details or {}, default=str)),
            "request_id": request_id,
            "prev_hash": prev_hash,
        }
        event["hash"] = prev_hash = _digest_of(event)
        rows.append(event)
    connection.execute(_APPEND, rows)
    connection.execute(_SET_HEAD, {"workspace": workspace_id, "head": prev_hash})
    # A Workspace the session already holds would otherwise show the old head.
    held = session.identity_map.get(session.identity_key(Workspace, workspace_id))
    if held is not None:
        session.expire(held, ["audit_seq", "audit_head"])


def verify_chain(session: Session, workspace_id: int) -> ChainProblem | None:
    """The first tampered, missing or out-of-place event of a workspace, or None if intact."""
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.workspace_id == workspace_id)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=1000)
    )
    try:
        problem, expected_seq, prev_hash = _walk(rows)
    finally:
        rows.close()  # a server-side cursor on PostgreSQL when we stop early
    if problem is not None:
        return problem
    head = session.get_one(Workspace, workspace_id)
    if head.audit_seq != expected_seq - 1 or head.audit_head != prev_hash:
        return ChainProblem(expected_seq, None, "missing (the newest events were deleted)")
    return None


def _walk(events: Iterable[AuditEvent]) -> tuple[ChainProblem | None, int, str]:
    """Check each event against the one before; return the first problem and where it ended."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for event in events:
        if event.seq != expected_seq:
            return ChainProblem(expected_seq, None, "missing (deleted from the database)"), 0, ""
        if event.prev_hash != prev_hash:
            return ChainProblem(event.seq, event.id, "does not follow the previous event"), 0, ""
        digest = _digest(event)
        if digest != event.hash:
            return ChainProblem(event.seq, event.id, "was changed after it was written"), 0, ""
        expected_seq, prev_hash = event.seq + 1, event.hash
    return None, expected_seq, prev_hash
