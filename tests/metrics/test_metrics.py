"""`/metrics` as Prometheus scrapes it: refused without the token, parsed by prometheus_client's
own parser, and its gauges agree with the database whichever process did the work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select

from bastion.app import create_app
from bastion.runtime import Runtime
from bastion.storage.models import Operation
from bastion.webhook_events import emit_event
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback
from tests.webhooks.conftest import register

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def scraped(world: World) -> Iterator[tuple[World, httpx.Client]]:
    old = world.runtime
    settings = old.settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    world.runtime = Runtime(settings, old.engine, old.sessions, old.key_ring, old.connector_options)
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield world, client


def samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_metrics_are_refused_without_the_token(scraped: tuple[World, httpx.Client]) -> None:
    _world, client = scraped
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401
    assert TOKEN not in wrong.text and wrong.json()["error"]["code"] == "unauthorized"


def test_metrics_are_off_without_a_token_setting(world: World) -> None:
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        off = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert off.status_code == 404
    assert "BASTION_METRICS_TOKEN" in off.json()["error"]["message"]


def test_a_scrape_tells_checks_operations_queues_deliveries_and_requests(
    scraped: tuple[World, httpx.Client],
) -> None:
    world, client = scraped
    run = world.check()
    register(world, "https://hooks.example.test/x", ["check.failed"])
    with world.runtime.sessions.begin() as session:
        emit_event(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            event_type="check.failed",
            data={"run_id": run.id},
        )
        queued = session.scalar(select(func.count()).select_from(Operation)) or 0
    client.get("/api/v1/apps")  # unauthenticated: an API answer all the same
    client.get("/scim/v2/Users")  # no SCIM token: refused, and counted

    found = samples(client)
    app = {"app_id": str(world.app_id), "app": "Northwind Meta"}
    assert value(found, "bastion_check_runs", **app, state="succeeded") == 1
    assert run.finished_at is not None
    assert value(found, "bastion_check_last_success_timestamp_seconds", **app) == pytest.approx(
        run.finished_at.timestamp()
    )
    assert value(found, "bastion_check_last_duration_seconds", **app, state="succeeded") >= 0
    assert value(found, "bastion_check_last_graph_requests", **app) == run.http_requests > 0
    assert value(found, "bastion_check_running", **app) == 0
    operations = sum(v for (n, _l), v in found.items() if n == "bastion_operations")
    assert operations == queued
    assert value(found, "bastion_webhook_deliveries", state="pending") == 1
    assert value(found, "bastion_outbox_due", outbox="webhooks") == 1
    assert value(found, "bastion_webhook_endpoints", enabled="true") == 1
    invitations = value(found, "bastion_emails", state="pending")
    assert invitations >= 1  # the first check invites the matched people
    assert ("bastion_queue_depth", ()) in found
    graph = sum(v for (n, _l), v in found.items() if n == "bastion_graph_requests_total")
    assert graph >= run.http_requests
    assert value(found, "bastion_scim_requests_total", method="GET", status="401") >= 1
    latency = value(
        found,
        "bastion_http_request_duration_seconds_count",
        interface="api",
        method="GET",
        status="401",
    )
    assert latency >= 1


def test_a_rate_limit_from_meta_is_counted(scraped: tuple[World, httpx.Client]) -> None:
    world, client = scraped
    world.check()
    before = samples(client).get(("bastion_graph_rate_limited_total", ()), 0.0)
    world.sim.inject_fault("rate_limit", method="GET", path=f"/{world.sim.business_id}")
    world.check()
    assert samples(client)[("bastion_graph_rate_limited_total", ())] == before + 1
