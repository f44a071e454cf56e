"""Check for updates, the workflow: fetch → safeguard → load → match and classify → report.

The steps themselves are the modules of ``bastion.checks``; this one runs them in order.

A run takes the app's lock (at most one running CheckRun per app, enforced by a unique index),
keeps a heartbeat while it works, and changes nothing unless the whole fetch succeeded. All
writes of a successful run land in one transaction, so a crash leaves either the old state or
the new one, never half of it.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from contextlib import closing, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.apps import connector_for
from bastion.actions.invitations import cancel_invitations_past_limit
from bastion.actions.operations import confirm_manual_operations
from bastion.actions.partner_people import (
    PartnerRead,
    read_partner_people,
    record_partner_reads,
    with_partner_people,
)
from bastion.actions.partner_tokens import partner_tokens
from bastion.actions.restrictions import settle_restriction
from bastion.actions.reviews import open_reviews
from bastion.audit import AuditAction, record
from bastion.checks.classify import Classifier, classify_accounts
from bastion.checks.early import EarlyWrites
from bastion.checks.load import SnapshotLoader, explanations_since
from bastion.checks.reports import email_new_items, owner_emails, update_deprovisioning_report
from bastion.checks.safeguard import evaluate
from bastion.checks.stored import StoredRead
from bastion.concurrency import run_sync
from bastion.connectors.base import (
    ConnectorError,
    PermissionMissing,
    RateLimited,
    Restricted,
    Snapshot,
    TokenInvalid,
)
from bastion.email_templates import render_email
from bastion.errors import Conflict
from bastion.garbage import fewer_collections
from bastion.logs import get_logger
from bastion.matching import MatchingOptions
from bastion.notify import queue_email
from bastion.runtime import Runtime
from bastion.storage.models import App, CheckRun, utcnow
from bastion.storage.models.enums import AppStatus, RunState, RunTrigger
from bastion.storage.tenancy import Tenant
from bastion.webhook_events import emit_check_finished

log = get_logger(__name__)
HEARTBEAT_SECONDS = 15.0
# A running check whose heartbeat is older than this belongs to a dead worker.
DEAD_AFTER = timedelta(minutes=3)
RETRY_FAILED_CHECK_AFTER = timedelta(hours=1)
# A due check queued by the minute tick is leased this long (see claim_due_checks).
CHECK_LEASE = timedelta(minutes=30)


def next_daily_check(app: App, after: datetime) -> datetime | None:
    """The next daily check time: the app's minute of the UTC day plus a stable jitter."""
    if app.daily_check_minute is None:
        return None
    jitter = timedelta(seconds=zlib.crc32(f"app:{app.id}".encode()) % 900)
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    candidate = day + timedelta(minutes=app.daily_check_minute) + jitter
    return candidate if candidate > after else candidate + timedelta(days=1)


def reap_dead_runs(session: Session, *, app_id: int | None = None) -> int:
    """Mark running checks whose worker stopped beating as failed, freeing the app's lock."""
    cutoff = utcnow() - DEAD_AFTER
    query = (
        update(CheckRun)
        .where(CheckRun.state == RunState.RUNNING, CheckRun.heartbeat_at < cutoff)
        .values(
            state=RunState.FAILED,
            finished_at=utcnow(),
            error="The worker running this check stopped; the check was abandoned.",
        )
        .execution_options(synchronize_session=False)
    )
    if app_id is not None:
        query = query.where(CheckRun.app_id == app_id)
    return session.execute(query).rowcount  # type: ignore[attr-defined, no-any-return]


def start_check(
    session: Session,
    *,
    workspace_id: int,
    app_id: int,
    trigger: RunTrigger,
    actor: Actor,
    override_safeguard: bool = False,
) -> CheckRun:
    """Take the app's lock by creating its running CheckRun; Conflict if one is running."""
    app = Tenant(session, workspace_id).get(App, app_id)
    if app.disconnected_at is not None:
        raise Conflict(f"app {app.label!r} is disconnected")
    reap_dead_runs(session, app_id=app.id)
    run = CheckRun(
        workspace_id=workspace_id,
        app_id=app.id,
        trigger=trigger,
        requested_by_id=actor.user_id,
        safeguard_overridden=override_safeguard,
    )
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        raise Conflict(f"a check of {app.label!r} is already running") from None
    # On PostgreSQL the insert may have waited for a finishing run to commit: the run starts
    # now, when it holds the lock, not when the row was first built.
    run.started_at = run.heartbeat_at = utcnow()
    return run


class _Heartbeat:
    """Refreshes the run's heartbeat from its own thread and session while the check works."""

    def __init__(self, runtime: Runtime, run_id: int) -> None:
        self._runtime, self._run_id = runtime, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with self._runtime.sessions.begin() as session:
                    session.execute(
                        update(CheckRun)
                        .where(CheckRun.id == self._run_id, CheckRun.state == RunState.RUNNING)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception as exc:
                log.warning("heartbeat failed", run_id=self._run_id, error=type(exc).__name__)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


Progress = Callable[[str], None]


def _silent(_step: str) -> None:
    return None


def execute_check(runtime: Runtime, run_id: int, progress: Progress = _silent) -> CheckRun:
    """Do the work of a started run. Returns the finished run."""
    ring = runtime.require_key_ring()
    with runtime.sessions.begin() as session:
        run = session.get_one(CheckRun, run_id)
        app = session.get_one(App, run.app_id)
        connector = connector_for(session, ring, runtime.connector_options, app)
        learn_identity = app.token_identity is None
        tokens, app_row_id = partner_tokens(session, ring, app), app.id
        workspace_id = app.workspace_id
    # Read while the fetch waits for the app's pages, where the database can say whether it
    # is still current when the load begins (SQLite: bastion/checks/stored.py); or, on an
    # app's first check on PostgreSQL, write its assets and grants meanwhile (early.py).
    stored: StoredRead | EarlyWrites | None = StoredRead.open(
        runtime.engine, workspace_id=workspace_id, app_id=app_row_id, options=_matching(runtime)
    ) or EarlyWrites.open(
        runtime.engine,
        workspace_id=workspace_id,
        app_id=app_row_id,
        run_id=run_id,
        options=_matching(runtime),
    )

    async def fetch() -> tuple[Snapshot, str | None, list[PartnerRead]]:
        try:
            snapshot = await connector.fetch_snapshot(stored.work if stored else None)
            # Apps connected before Bastion kept its token's identity learn it once.
            identity = await connector.token_identity() if learn_identity else None
            # Native partners' people, each with its partner's token (never failing the check).
            return snapshot, identity, await read_partner_people(connector, snapshot, tokens)
        finally:
            await connector.aclose()

    with (
        _Heartbeat(runtime, run_id),
        fewer_collections(),
        closing(stored) if stored else nullcontext(),
    ):
        progress("fetching")
        try:
            snapshot, identity, partner_reads = run_sync(fetch())
        except ConnectorError as exc:
            return _fail(runtime, run_id, exc)
        try:
            if stored is not None:
                stored.finish()
            with (
                stored.session(runtime.sessions) if stored else runtime.sessions() as session,
                session.begin(),
            ):
                _lock_app(session, app_row_id)
                snapshot = with_partner_people(session, app_row_id, snapshot, partner_reads)
                finished = _apply(runtime, session, run_id, snapshot, progress, identity, stored)
                record_partner_reads(session, app_row_id, partner_reads)
                # Let the check's records go before the collector's thresholds come back
                # (bastion/garbage.py), so that its collection then walks only what is left.
                del snapshot, partner_reads
                return finished
        except Exception as exc:
            # Nothing of the load was committed; free the app's lock with the reason at once
            # instead of leaving the run to expire.
            _fail(runtime, run_id, ConnectorError(f"Bastion failed to apply the check: {exc!r}"))
            raise


def _lock_app(session: Session, app_id: int) -> None:
    """Lock the app's row for the rest of the load, before the directory is read: a person
    deprovisioned meanwhile (``request_app_checks``, which locks the row too) is then either
    seen by this check or asks for the next one after it, never lost under the time this check
    sets. SQLite has one writer at a time: the statement is a plain read there."""
    session.execute(select(App.id).where(App.id == app_id).with_for_update())


def _matching(runtime: Runtime) -> MatchingOptions:
    return MatchingOptions(
        strip_plus_addressing=runtime.settings.match_strip_plus_addressing,
        fold_googlemail=runtime.settings.match_fold_googlemail,
    )


def _fail(runtime: Runtime, run_id: int, exc: ConnectorError) -> CheckRun:
    now = utcnow()
    with runtime.sessions.begin() as session:
        run = session.get_one(CheckRun, run_id)
        app = session.get_one(App, run.app_id)
        run.state, run.finished_at, run.error = RunState.FAILED, now, exc.message
        app.status_reason = exc.message
        # Nothing is changed; only when the next attempt is due depends on the cause.
        if isinstance(exc, TokenInvalid | PermissionMissing):
            app.status = AppStatus.REVIEW_CONFIGURATION
            app.next_check_at = next_daily_check(app, now)
        elif isinstance(exc, Restricted):
            app.status, app.restricted_until = AppStatus.RESTRICTED, exc.until
            app.next_check_at = exc.until or now + RETRY_FAILED_CHECK_AFTER
        elif isinstance(exc, RateLimited):
            # The connector sleeps only through short waits; a longer one ends the run, so no
            # worker is held, and the next check is moved to when Meta allows it again.
            app.next_check_at = now + timedelta(seconds=exc.retry_after_seconds)
            run.error = app.status_reason = (
                f"Rate limited until {app.next_check_at:%Y-%m-%d %H:%M} UTC; the check runs "
                f"again then. {exc.message}"
            )
        else:
            app.status = AppStatus.ERROR
            app.next_check_at = now + RETRY_FAILED_CHECK_AFTER
        _audit_finished(session, run)
        log.warning("check failed", run_id=run_id, app_id=app.id, error=exc.code)
        return run


def _apply(
    runtime: Runtime,
    session: Session,
    run_id: int,
    snapshot: Snapshot,
    progress: Progress,
    token_identity: str | None,
    stored: StoredRead | EarlyWrites | None = None,
) -> CheckRun:
    run = session.get_one(CheckRun, run_id)
    app = session.get_one(App, run.app_id)
    if token_identity is not None:
        app.token_identity = token_identity
    now = utcnow()
    run.graph_operations, run.http_requests = snapshot.graph_operations, snapshot.http_requests
    previous_start = session.scalar(
        select(CheckRun.started_at)
        .where(
            CheckRun.app_id == app.id,
            CheckRun.state == RunState.SUCCEEDED,
            CheckRun.id != run.id,
        )
        .order_by(CheckRun.started_at.desc())
        .limit(1)
    )
    baseline = not session.scalar(
        select(exists().where(CheckRun.app_id == app.id, CheckRun.state == RunState.SUCCEEDED))
    )
    # What was read during the fetch, if it is still what this transaction sees (the flush
    # writes the run's figures, which on SQLite takes the write lock); else it is read now.
    session.flush()
    read = stored.current(session) if stored else None
    if not baseline and not run.safeguard_overridden:
        verdict = evaluate(
            session,
            app.id,
            snapshot,
            app.safeguard_threshold_percent,
            stored=read.rows if read else None,
        )
        if verdict.tripped:
            run.state, run.finished_at, run.error = (
                RunState.STOPPED_BY_SAFEGUARD,
                now,
                verdict.explanation,
            )
            app.status, app.status_reason = AppStatus.REQUIRES_CHECK, verdict.explanation
            body = render_email("safeguard_stopped", explanation=verdict.explanation)
            queue_email(
                session,
                workspace_id=app.workspace_id,
                kind=f"safeguard:{run.id}",
                recipients=owner_emails(session, app),
                subject=f"[Bastion] {app.label}: the check was stopped by the safeguard",
                text=body.text,
                html=body.html,
            )
            _audit_finished(session, run)
            return run
    progress("loading")
    classifier = read.classifier if read else Classifier.read(session, app, _matching(runtime))
    loader = SnapshotLoader(
        session,
        app,
        run,
        baseline=baseline,
        explanations=explanations_since(session, app.id, previous_start),
        classifier=classifier,
        stored=read.rows if read else None,
        early=read.early if read else None,
    )
    loaded = loader.load(snapshot)
    progress("matching")
    classified = classify_accounts(
        session,
        app,
        classifier,
        base_url=runtime.settings.base_url,
        written=loader.accounts_written,
    )
    confirmed = confirm_manual_operations(session, app)
    cancelled = cancel_invitations_past_limit(session, app, actor=Actor.system("check"))
    progress("reporting")
    new_items = update_deprovisioning_report(session, app)
    if new_items:
        email_new_items(session, app, new_items, runtime.settings)
    if classified.expired_exemptions:
        body = render_email("exemptions_expired", names=classified.expired_exemptions)
        queue_email(
            session,
            workspace_id=app.workspace_id,
            kind=f"exemptions-expired:{run.id}",
            recipients=owner_emails(session, app),
            subject=f"[Bastion] {app.label}: exemptions expired",
            text=body.text,
            html=body.html,
        )
    run.counts = {
        **loaded.counts,
        **{f"state_{k}": v for k, v in classified.states.items()},
        "changes": loaded.changes,
        "report_items_added": len(new_items),
        "manual_operations_confirmed": confirmed,
        "stale_invitations_cancelled": len(cancelled),
        "unresolved_grants": loaded.unresolved_grants,
        "baseline": int(baseline),
    }
    run.state, run.finished_at = RunState.SUCCEEDED, utcnow()
    open_reviews(session, app, run, base_url=runtime.settings.base_url)
    settle_restriction(session, app, run.finished_at)
    if snapshot.business.verification_status:
        app.business_verification_status = snapshot.business.verification_status
    app.last_check_at = run.finished_at
    app.next_check_at = next_daily_check(app, run.finished_at)
    _audit_finished(session, run)
    return run


def _audit_finished(session: Session, run: CheckRun) -> None:
    record(
        session,
        workspace_id=run.workspace_id,
        actor="system:check",
        action=AuditAction.CHECK_FINISHED,
        target=f"app:{run.app_id}",
        details={
            "run_id": run.id,
            "state": run.state.value,
            "trigger": run.trigger.value,
            "counts": run.counts,
            "error": run.error,
        },
    )
    emit_check_finished(session, run)


def run_check(
    runtime: Runtime,
    *,
    workspace_id: int,
    app_id: int,
    trigger: RunTrigger,
    actor: Actor,
    override_safeguard: bool = False,
    progress: Progress = _silent,
) -> CheckRun:
    """Start and finish a check in this process (the job and ``bastion check --wait`` use it)."""
    with runtime.sessions.begin() as session:
        run = start_check(
            session,
            workspace_id=workspace_id,
            app_id=app_id,
            trigger=trigger,
            actor=actor,
            override_safeguard=override_safeguard,
        )
    return execute_check(runtime, run.id, progress)


@dataclass(frozen=True)
class DueCheck:
    workspace_id: int
    app_id: int
    trigger: RunTrigger


def claim_due_checks(session: Session, now: datetime) -> list[DueCheck]:
    """The connected apps whose next check has come, each leased for CHECK_LEASE.

    The lease keeps the minute tick from queueing a check again while it waits for a worker; the
    finished (or failed) check sets the real next time. A never-checked app gets the ``connect``
    trigger; one that asked for a check because of a deprovisioning, ``directory``.
    """
    apps = session.scalars(
        select(App)
        .where(
            App.disconnected_at.is_(None),
            App.next_check_at.is_not(None),
            App.next_check_at <= now,
        )
        .order_by(App.next_check_at)
    ).all()
    due = []
    for app in apps:
        app.next_check_at = now + CHECK_LEASE
        if app.last_check_at is None:
            trigger = RunTrigger.CONNECT
        elif app.status == AppStatus.REQUIRES_CHECK:
            trigger = RunTrigger.DIRECTORY
        else:
            trigger = RunTrigger.SCHEDULED
        due.append(DueCheck(app.workspace_id, app.id, trigger))
    return due
