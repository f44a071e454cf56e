"""``GET /metrics``: Prometheus' text format, for a scraper holding ``BASTION_METRICS_TOKEN``.

Without that setting the route answers 404 (metrics are off); without the token, or with
another, 401. One scrape is the in-process instruments (``bastion.metrics``: HTTP latency, SCIM
requests, Graph requests and rate-limit waits of this process) and gauges read from the
database at that moment, which hold across every web and worker process:

    bastion_operations{state}                           operations in each state
    bastion_outbox_due{outbox}                          operations, e-mail, webhooks due now
    bastion_queue_depth                                 tasks waiting in the job queue
    bastion_emails{state}, bastion_webhook_deliveries{state}
    bastion_webhook_endpoints{enabled}
    bastion_check_runs{app_id, app, state}              check runs kept, by outcome
    bastion_check_last_success_timestamp_seconds{app_id, app}
    bastion_check_last_duration_seconds{app_id, app, state}
    bastion_check_last_graph_requests{app_id, app}      HTTP requests the last check made
    bastion_check_running{app_id, app}                  1 while a check runs
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bastion.jobs import Jobs
from bastion.logs import get_logger
from bastion.metrics import HTTP_REQUEST_SECONDS, REGISTRY, SCIM_REQUESTS
from bastion.runtime import Runtime
from bastion.storage.models import (
    App,
    CheckRun,
    Notification,
    Operation,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from bastion.storage.models.enums import (
    NotificationState,
    OperationState,
    RunState,
    WebhookDeliveryState,
)

log = get_logger(__name__)
METRICS_PATH = "/metrics"


class DatabaseGauges(Collector):
    """Gauges computed from the database at scrape time, right across processes."""

    def __init__(self, session: Session, *, queue_depth: int | None) -> None:
        self._session = session
        self._queue_depth = queue_depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        session, now = self._session, utcnow()
        yield _by_state(
            "bastion_operations",
            "Operations (changes sent to apps) in each state",
            session.execute(select(Operation.state, func.count()).group_by(Operation.state)),
            OperationState,
        )
        yield _by_state(
            "bastion_emails",
            "E-mail in the outbox, by state",
            session.execute(select(Notification.state, func.count()).group_by(Notification.state)),
            NotificationState,
        )
        yield _by_state(
            "bastion_webhook_deliveries",
            "Webhook deliveries, by state",
            session.execute(
                select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
            ),
            WebhookDeliveryState,
        )
        endpoints = GaugeMetricFamily(
            "bastion_webhook_endpoints", "Webhook endpoints, enabled or not", labels=["enabled"]
        )
        counts = dict(
            session.execute(
                select(WebhookEndpoint.enabled, func.count()).group_by(WebhookEndpoint.enabled)
            ).all()
        )
        for enabled in (True, False):
            endpoints.add_metric([str(enabled).lower()], counts.get(enabled, 0))
        yield endpoints
        yield self._outbox_due(session, now)
        if self._queue_depth is not None:
            yield GaugeMetricFamily(
                "bastion_queue_depth", "Tasks waiting in the job queue", value=self._queue_depth
            )
        yield from _check_gauges(session)

    def _outbox_due(self, session: Session, now: datetime) -> GaugeMetricFamily:
        due = GaugeMetricFamily(
            "bastion_outbox_due", "Outbox rows due to be sent now", labels=["outbox"]
        )
        operations = session.scalar(
            select(func.count()).where(
                Operation.state.in_([OperationState.QUEUED, OperationState.DEFERRED]),
                or_(Operation.next_attempt_at.is_(None), Operation.next_attempt_at <= now),
            )
        )
        emails = session.scalar(
            select(func.count()).where(
                Notification.state == NotificationState.PENDING,
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
            )
        )
        webhooks = session.scalar(
            select(func.count()).where(
                WebhookDelivery.state == WebhookDeliveryState.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
        )
        due.add_metric(["operations"], operations or 0)
        due.add_metric(["emails"], emails or 0)
        due.add_metric(["webhooks"], webhooks or 0)
        return due


def _by_state(name: str, doc: str, rows: Iterable[Any], states: type[StrEnum]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["state"])
    counts = {state.value: int(count) for state, count in rows}
    for state in states:
        family.add_metric([state.value], counts.get(state.value, 0))
    return family


def _check_gauges(session: Session) -> Iterator[GaugeMetricFamily]:
    labels = ["app_id", "app"]
    apps = {
        a.id: a.label
        for a in session.scalars(select(App).where(App.disconnected_at.is_(None)).order_by(App.id))
    }
    runs = GaugeMetricFamily(
        "bastion_check_runs", "Check runs kept, by app and outcome", labels=[*labels, "state"]
    )
    for app_id, state, count in session.execute(
        select(CheckRun.app_id, CheckRun.state, func.count())
        .where(CheckRun.app_id.in_(apps))
        .group_by(CheckRun.app_id, CheckRun.state)
        .order_by(CheckRun.app_id)
    ):
        runs.add_metric([str(app_id), apps[app_id], state.value], count)
    yield runs
    succeeded = GaugeMetricFamily(
        "bastion_check_last_success_timestamp_seconds",
        "When the app's last successful check finished (Unix time)",
        labels=labels,
    )
    for app_id, finished in session.execute(
        select(CheckRun.app_id, func.max(CheckRun.finished_at))
        .where(CheckRun.app_id.in_(apps), CheckRun.state == RunState.SUCCEEDED)
        .group_by(CheckRun.app_id)
        .order_by(CheckRun.app_id)
    ):
        if finished is not None:
            stamp = finished if finished.tzinfo else finished.replace(tzinfo=utcnow().tzinfo)
            succeeded.add_metric([str(app_id), apps[app_id]], stamp.timestamp())
    yield succeeded
    duration = GaugeMetricFamily(
        "bastion_check_last_duration_seconds",
        "How long the app's last finished check took, and how it ended",
        labels=[*labels, "state"],
    )
    graph = GaugeMetricFamily(
        "bastion_check_last_graph_requests",
        "HTTP requests the app's last finished check made to the app's API",
        labels=labels,
    )
    running = GaugeMetricFamily(
        "bastion_check_running", "1 while a check of the app runs", labels=labels
    )
    latest = (
        select(CheckRun.app_id, func.max(CheckRun.id).label("run_id"))
        .where(CheckRun.app_id.in_(apps), CheckRun.finished_at.is_not(None))
        .group_by(CheckRun.app_id)
        .subquery()
    )
    for run in session.scalars(
        select(CheckRun)
        .join(latest, and_(CheckRun.app_id == latest.c.app_id, CheckRun.id == latest.c.run_id))
        .order_by(CheckRun.app_id)
    ):
        if run.finished_at is not None:
            seconds = max((run.finished_at - run.started_at).total_seconds(), 0.0)
            duration.add_metric([str(run.app_id), apps[run.app_id], run.state.value], seconds)
        graph.add_metric([str(run.app_id), apps[run.app_id]], run.http_requests or 0)
    active = set(
        session.scalars(
            select(CheckRun.app_id).where(
                CheckRun.app_id.in_(apps), CheckRun.state == RunState.RUNNING
            )
        )
    )
    for app_id, label in apps.items():
        running.add_metric([str(app_id), label], 1 if app_id in active else 0)
    yield duration
    yield graph
    yield running


def scrape(runtime: Runtime, *, queue_depth: int | None) -> bytes:
    """One scrape: the in-process instruments, then the database's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    with runtime.sessions() as session:
        registry.register(DatabaseGauges(session, queue_depth=queue_depth))
        return generate_latest(REGISTRY) + generate_latest(registry)


def _queue_depth(request: Request, runtime: Runtime) -> int | None:
    """Tasks waiting in the queue the web process hands work to (opened on first use)."""
    try:
        jobs: Jobs | None = getattr(request.app.state, "jobs", None)
        if jobs is None:
            jobs = request.app.state.jobs = Jobs(runtime)
        return int(jobs.huey.pending_count())
    except Exception as exc:
        log.warning("queue depth unknown", error=type(exc).__name__)
        return None


def _interface(path: str) -> str:
    for prefix, name in (
        ("/api/", "api"),
        ("/scim/", "scim"),
        ("/static/", "static"),
        (METRICS_PATH, "metrics"),
        ("/healthz", "health"),
        ("/readyz", "health"),
    ):
        if path.startswith(prefix):
            return name
    return "web"


class HttpMetrics:
    """Times every HTTP request and counts SCIM's (plain ASGI, like ``RequestContext``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            interface, method = _interface(scope["path"]), str(scope["method"])
            HTTP_REQUEST_SECONDS.labels(interface, method, str(status)).observe(
                time.perf_counter() - started
            )
            if interface == "scim":
                SCIM_REQUESTS.labels(method, str(status)).inc()


def install_metrics(app: FastAPI, runtime: Runtime) -> None:
    """The ``/metrics`` route and the middleware timing every request."""
    app.add_middleware(HttpMetrics)

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics(request: Request) -> Response:
        token = runtime.settings.metrics_token
        if token is None:
            return JSONResponse(
                {
                    "error": {
                        "code": "not_found",
                        "message": "metrics are off: set BASTION_METRICS_TOKEN",
                        "field": None,
                    }
                },
                status_code=404,
            )
        offered = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not secrets.compare_digest(offered.encode(), expected.encode()):
            return JSONResponse(
                {
                    "error": {
                        "code": "unauthorized",
                        "message": "send the metrics token: Authorization: Bearer <token>",
                        "field": None,
                    }
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body = scrape(runtime, queue_depth=_queue_depth(request, runtime))
        return Response(body, media_type=CONTENT_TYPE_LATEST)
