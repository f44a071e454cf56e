"""Background work on huey 3: checks, operations, e-mail (token-expiry and overdue-rotation
reminders too), and the minute tick that drives them.

Queues:
    embedded   ``SqliteHuey`` in the data directory; ``bastion serve`` runs consumer threads.
    scale-out  ``BASTION_QUEUE_URL=redis://…`` (``RedisHuey``) or ``postgresql://…``
               (``PostgresHuey``); ``bastion worker`` runs consumers on any number of machines
               and ``bastion serve --no-worker`` serves the web only.

Every consumer schedules the minute tick, and the tick takes a lock in the queue's storage, so
exactly one tick's work runs per minute however many consumers there are. Checks never overlap
for one app because the database allows one running CheckRun per app; operations are claimed
with a compare-and-set, so a task delivered twice performs nothing twice. Every consumer also
runs a ``LeaseWatch``, which resumes an operation whose worker died as soon as its lease runs
out, within seconds instead of at the next tick, and a ``WebhookSender``, which sends due
webhook deliveries every couple of seconds (the first retry is due 5 s after a failure); each
delivery is claimed with a lease, so several senders never send one twice at once.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey, crontab
from huey.exceptions import TaskLockedException

from bastion.actions.actors import Actor
from bastion.actions.checks import claim_due_checks, reap_dead_runs, run_check
from bastion.actions.credential_rotation import remind_overdue_rotations
from bastion.actions.operation_leases import heartbeat_interval, orphaned_operation_ids
from bastion.actions.operations import due_operation_ids, execute_operation
from bastion.actions.reviews import escalate_overdue_reviews
from bastion.actions.token_reminders import remind_expiring_tokens
from bastion.email_delivery import send_due_notifications
from bastion.errors import BastionError
from bastion.logs import get_logger
from bastion.runtime import Runtime
from bastion.storage.models import utcnow
from bastion.storage.models.enums import RunTrigger
from bastion.webhook_delivery import deliver_due_webhooks

log = get_logger(__name__)


def make_huey(runtime: Runtime, *, immediate: bool = False) -> Huey:
    settings = runtime.settings
    url = settings.queue_url.get_secret_value() if settings.queue_url else None
    if url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(
            "bastion", filename=str(settings.data_dir / "queue.db"), immediate=immediate
        )
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey("bastion", url=url, immediate=immediate)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresHuey("bastion", dsn=url, immediate=immediate)
    raise BastionError("BASTION_QUEUE_URL: use redis://… or postgresql://…")


class Jobs:
    """The queue and its tasks, bound to one Runtime."""

    def __init__(self, runtime: Runtime, *, immediate: bool = False) -> None:
        self.runtime = runtime
        self.huey = make_huey(runtime, immediate=immediate)
        huey = self.huey

        def run_check_task(
            workspace_id: int, app_id: int, trigger: str, user_id: int | None = None
        ) -> str:
            actor = Actor.user(user_id) if user_id else Actor.system("scheduler")
            try:
                run = run_check(
                    runtime,
                    workspace_id=workspace_id,
                    app_id=app_id,
                    trigger=RunTrigger(trigger),
                    actor=actor,
                )
            except BastionError as exc:
                log.info("check not run", app_id=app_id, reason=exc.message)
                return "skipped"
            return run.state.value

        def run_operation_task(operation_id: int) -> str | None:
            operation = execute_operation(runtime, operation_id)
            return operation.state.value if operation else None

        def tick() -> None:
            try:
                with huey.lock_task("bastion.tick"):
                    self.tick()
            except TaskLockedException:
                log.debug("tick already running elsewhere")

        # huey's decorators are untyped; registering by call keeps these functions typed.
        self.run_check_task: Any = huey.task(name="bastion.run_check")(run_check_task)
        self.run_operation_task: Any = huey.task(name="bastion.run_operation")(run_operation_task)
        self.tick_task: Any = huey.periodic_task(crontab(minute="*"), name="bastion.tick")(tick)

    def tick(self) -> dict[str, int]:
        """Queue due checks, operations, token-expiry and overdue-rotation reminders and review
        escalations, send due e-mail, free dead checks' locks."""
        with self.runtime.sessions.begin() as session:
            reaped = reap_dead_runs(session)
            due = claim_due_checks(session, utcnow())
            operations = due_operation_ids(session)
            reminders = remind_expiring_tokens(
                session, now=utcnow(), base_url=self.runtime.settings.base_url
            )
            rotations = remind_overdue_rotations(
                session, now=utcnow(), base_url=self.runtime.settings.base_url
            )
            escalations = escalate_overdue_reviews(
                session,
                now=utcnow(),
                after=timedelta(days=self.runtime.settings.review_escalation_days),
                base_url=self.runtime.settings.base_url,
            )
        for check in due:
            self.run_check_task(check.workspace_id, check.app_id, check.trigger.value)
        for operation_id in operations:
            self.run_operation_task(operation_id)
        sent = send_due_notifications(self.runtime.sessions, self.runtime.settings)
        webhooks = deliver_due_webhooks(self.runtime)
        return {
            "checks": len(due),
            "operations": len(operations),
            "token_reminders": reminders,
            "rotation_reminders": rotations,
            "review_escalations": escalations,
            "emails": sent,
            "webhooks": webhooks,
            "reaped": reaped,
        }

    def enqueue_check(
        self, *, workspace_id: int, app_id: int, trigger: RunTrigger, user_id: int | None
    ) -> Any:
        return self.run_check_task(workspace_id, app_id, trigger.value, user_id)

    def enqueue_operation(self, operation_id: int) -> Any:
        return self.run_operation_task(operation_id)

    def close(self) -> None:
        """Close the queue's storage connection (a PostgreSQL or Redis client holds one)."""
        self.huey.storage.close()

    def __enter__(self) -> Jobs:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class LeaseWatch:
    """Resumes, from its own thread, the running operations whose lease ran out (their worker
    died), looking every heartbeat interval; the claim's compare-and-set lets only one of the
    consumers' watches (or the minute tick's task) take each."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._interval = heartbeat_interval(runtime)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="lease-watch", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._runtime.sessions() as session:
                    orphaned = orphaned_operation_ids(session)
                for operation_id in orphaned:
                    if self._stop.is_set():
                        return
                    log.info(
                        "resuming an operation whose worker stopped", operation_id=operation_id
                    )
                    execute_operation(self._runtime, operation_id)
            except Exception as exc:
                log.warning("lease watch failed", error=type(exc).__name__)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> LeaseWatch:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class WebhookSender:
    """Sends due webhook deliveries from its own thread, looking every ``interval`` seconds."""

    def __init__(self, runtime: Runtime, *, interval: float = 2.0) -> None:
        self._runtime = runtime
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, name="webhook-sender", daemon=True)

    def _send(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                deliver_due_webhooks(self._runtime)
            except Exception as exc:
                log.warning("webhook sender failed", error=type(exc).__name__)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> WebhookSender:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class EmbeddedConsumer:
    """Consumer threads inside ``bastion serve`` (no signal handlers: the web server owns them)."""

    def __init__(self, jobs: Jobs, workers: int = 2) -> None:
        self._consumer = jobs.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=True, check_worker_health=False
        )
        self._lease_watch = LeaseWatch(jobs.runtime)
        self._webhook_sender = WebhookSender(jobs.runtime)
        self._started = threading.Event()

    def start(self) -> None:
        self._consumer.scheduler.start()
        for _worker, thread in self._consumer.worker_threads:
            thread.start()
        self._lease_watch.start()
        self._webhook_sender.start()
        self._started.set()

    def stop(self) -> None:
        if self._started.is_set():
            self._lease_watch.stop()
            self._webhook_sender.stop()
            self._consumer.stop(graceful=True)
