"""Deliveries as a receiver sees them: signed by the Standard Webhooks spec, retried with
backoff, never sent twice at once, refused to plain http and never redirected."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from bastion.actions.actors import Actor
from bastion.actions.webhooks import create_endpoint, get_delivery, redeliver
from bastion.errors import InvalidInput
from bastion.storage.models import Notification, WebhookDelivery, WebhookEndpoint, utcnow
from bastion.storage.models.enums import WebhookDeliveryState
from bastion.webhook_delivery import (
    BACKOFF_SECONDS,
    LOST_ATTEMPT,
    Answer,
    claim_delivery,
    deliver_due_webhooks,
    record_answer,
)
from bastion.webhook_events import emit_event
from tests.checks.conftest import World
from tests.webhooks.conftest import Receiver, register


def emit(world: World, event_type: str = "token.expiring", **data: object) -> list[int]:
    with world.runtime.sessions.begin() as session:
        deliveries = emit_event(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            event_type=event_type,
            data=data or {"expires_at": "2027-01-01T00:00:00+00:00"},
        )
        session.flush()
        return [d.id for d in deliveries]


def delivery(world: World, delivery_id: int) -> WebhookDelivery:
    with world.runtime.sessions() as session:
        return session.get_one(WebhookDelivery, delivery_id)


def test_a_receiver_verifies_the_signature_with_the_standard_webhooks_package(
    hooks_world: World, receiver: Receiver
) -> None:
    made = register(hooks_world, receiver.url, ["token.expiring"])
    [delivery_id] = emit(hooks_world)
    assert deliver_due_webhooks(hooks_world.runtime) == 1
    [got] = receiver.requests
    payload = Webhook(made.secret).verify(got.body, got.headers)
    assert payload["type"] == "token.expiring"
    assert payload["data"]["app_id"] == hooks_world.app_id
    assert got.webhook_id == delivery(hooks_world, delivery_id).message_id
    with pytest.raises(Exception, match="signature"):
        Webhook(made.secret).verify(got.body.replace(b"2027", b"2028"), got.headers)
    done = delivery(hooks_world, delivery_id)
    assert done.state == WebhookDeliveryState.DELIVERED
    assert done.last_status_code == 200


def test_an_endpoint_gets_only_the_events_it_chose(hooks_world: World, receiver: Receiver) -> None:
    register(hooks_world, receiver.url, ["check.failed"])
    assert emit(hooks_world, "token.expiring") == []
    assert len(emit(hooks_world, "check.failed", run_id=1)) == 1


def test_failures_are_retried_after_5s_1min_10min_1h_6h_then_fail(
    hooks_world: World, receiver: Receiver
) -> None:
    receiver.status = 500
    register(hooks_world, receiver.url, ["token.expiring"])
    [delivery_id] = emit(hooks_world)
    now = utcnow()
    for number, wait in enumerate(BACKOFF_SECONDS, start=1):
        assert deliver_due_webhooks(hooks_world.runtime, clock=lambda n=now: n) == 1
        assert len(receiver.requests) == number
        pending = delivery(hooks_world, delivery_id)
        assert pending.state == WebhookDeliveryState.PENDING
        assert pending.next_attempt_at == now + timedelta(seconds=wait)
        # Not due a second early.
        early = now + timedelta(seconds=wait - 1)
        assert deliver_due_webhooks(hooks_world.runtime, clock=lambda e=early: e) == 0
        now += timedelta(seconds=wait)
    assert deliver_due_webhooks(hooks_world.runtime, clock=lambda: now) == 1
    failed = delivery(hooks_world, delivery_id)
    assert failed.state == WebhookDeliveryState.FAILED
    assert failed.last_status_code == 500
    assert len(receiver.distinct_ids()) == 1
    with hooks_world.runtime.sessions() as session:
        _d, attempts = get_delivery(
            session,
            workspace_id=hooks_world.workspace_id,
            delivery_id=delivery_id,
            actor=Actor.user(hooks_world.admin_id),
        )
    assert [a.status_code for a in attempts] == [500] * 6


def test_an_endpoint_failing_for_a_day_is_disabled_and_its_owner_emailed(
    hooks_world: World, receiver: Receiver
) -> None:
    receiver.status = 503
    made = register(hooks_world, receiver.url, ["token.expiring"])
    emit(hooks_world)
    now = utcnow()
    deliver_due_webhooks(hooks_world.runtime, clock=lambda: now)
    later = now + timedelta(days=1, seconds=1)
    [waiting] = emit(hooks_world)
    deliver_due_webhooks(hooks_world.runtime, clock=lambda: later)
    with hooks_world.runtime.sessions() as session:
        endpoint = session.get_one(WebhookEndpoint, made.endpoint.id)
        assert not endpoint.enabled
        assert endpoint.disabled_reason == "every delivery failed for a day"
        mail = session.scalars(
            select(Notification).where(Notification.kind == f"webhook-disabled:{endpoint.id}")
        ).one()
        assert mail.recipients == ["owner@northwind.test"]
    assert delivery(hooks_world, waiting).state == WebhookDeliveryState.FAILED
    # A disabled endpoint gets no new events.
    assert emit(hooks_world) == []


def test_a_redelivery_keeps_the_webhook_id(hooks_world: World, receiver: Receiver) -> None:
    register(hooks_world, receiver.url, ["token.expiring"])
    [delivery_id] = emit(hooks_world)
    deliver_due_webhooks(hooks_world.runtime)
    with hooks_world.runtime.sessions.begin() as session:
        redeliver(
            session,
            workspace_id=hooks_world.workspace_id,
            delivery_id=delivery_id,
            actor=Actor.user(hooks_world.admin_id),
        )
    deliver_due_webhooks(hooks_world.runtime)
    assert len(receiver.requests) == 2
    assert len(receiver.distinct_ids()) == 1


def test_a_redirect_is_never_followed(hooks_world: World, receiver: Receiver) -> None:
    receiver.status, receiver.location = 307, "https://elsewhere.example/hooks"
    register(hooks_world, receiver.url, ["token.expiring"])
    [delivery_id] = emit(hooks_world)
    deliver_due_webhooks(hooks_world.runtime)
    assert len(receiver.requests) == 1
    after = delivery(hooks_world, delivery_id)
    assert after.state == WebhookDeliveryState.PENDING
    assert after.last_status_code == 307
    assert after.last_error == "redirected to elsewhere.example; Bastion does not follow redirects"


@pytest.mark.parametrize(
    ("url", "allowed", "problem"),
    [
        ("http://127.0.0.1:9/hooks", False, "needs BASTION_WEBHOOK_ALLOW_LOOPBACK_HTTP"),
        ("http://hooks.example.com/x", True, "url: must use https://"),
        ("ftp://hooks.example.com/x", True, "url: must use https://"),
        ("https://user:pw@hooks.example.com/", False, "must not hold a user name or password"),
        ("https:///nohost", False, "must name a host"),
    ],
)
def test_only_https_urls_are_registered(
    world: World, url: str, allowed: bool, problem: str
) -> None:
    with world.runtime.sessions() as session, pytest.raises(InvalidInput, match=problem):
        create_endpoint(
            session,
            world.runtime.require_key_ring(),
            workspace_id=world.workspace_id,
            url=url,
            events=["check.failed"],
            allow_loopback_http=allowed,
            actor=Actor.user(world.admin_id),
        )


def test_an_http_endpoint_is_not_sent_to_once_loopback_is_no_longer_allowed(
    hooks_world: World, world: World, receiver: Receiver
) -> None:
    register(hooks_world, receiver.url, ["token.expiring"])
    [delivery_id] = emit(hooks_world)
    strict = hooks_world.runtime.settings.model_copy(update={"webhook_allow_loopback_http": False})
    hooks_world.runtime.settings = strict
    deliver_due_webhooks(hooks_world.runtime)
    assert receiver.requests == []
    refused = delivery(hooks_world, delivery_id)
    assert refused.state == WebhookDeliveryState.FAILED
    assert "must use https://" in (refused.last_error or "")


WORKER = """
from bastion.runtime import Runtime
from bastion.settings import load_settings
from bastion.webhook_delivery import deliver_due_webhooks
runtime = Runtime.from_settings(load_settings())
deliver_due_webhooks(runtime)
"""


def test_nothing_is_delivered_twice_after_a_worker_is_killed_mid_delivery(
    hooks_world: World, receiver: Receiver, key_entry: str
) -> None:
    register(hooks_world, receiver.url, ["token.expiring"])
    [delivery_id] = emit(hooks_world)
    receiver.hold = True
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env |= {
        "BASTION_DATA_DIR": str(hooks_world.runtime.settings.data_dir),
        "BASTION_DATABASE_URL": hooks_world.runtime.engine.url.render_as_string(
            hide_password=False
        ),
        "BASTION_SECRET_KEYS": key_entry,
        "BASTION_WEBHOOK_ALLOW_LOOPBACK_HTTP": "1",
        "BASTION_LOG_LEVEL": "warning",
    }
    worker = subprocess.Popen([sys.executable, "-c", WORKER], env=env)
    try:
        assert receiver.got_one.wait(60), "the worker never sent the delivery"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(60)
    receiver.hold = False
    receiver.release.set()
    claimed = delivery(hooks_world, delivery_id)
    assert claimed.state == WebhookDeliveryState.DELIVERING
    # While the dead worker's lease holds, no other worker sends it.
    assert deliver_due_webhooks(hooks_world.runtime) == 0
    assert len(receiver.requests) == 1
    # Once it has run out, the next worker sends it again under the same webhook-id.
    after_lease = (claimed.lease_expires_at or utcnow()) + timedelta(seconds=1)
    assert deliver_due_webhooks(hooks_world.runtime, clock=lambda: after_lease) == 1
    assert len(receiver.requests) == 2
    assert len(receiver.distinct_ids()) == 1
    done = delivery(hooks_world, delivery_id)
    assert done.state == WebhookDeliveryState.DELIVERED
    with hooks_world.runtime.sessions() as session:
        _d, attempts = get_delivery(
            session,
            workspace_id=hooks_world.workspace_id,
            delivery_id=delivery_id,
            actor=Actor.user(hooks_world.admin_id),
        )
    assert [(a.status_code, a.error) for a in attempts] == [(None, LOST_ATTEMPT), (200, None)]


def test_a_worker_that_lost_its_claim_records_nothing(
    hooks_world: World, receiver: Receiver
) -> None:
    register(hooks_world, receiver.url, ["token.expiring"])
    [delivery_id] = emit(hooks_world)
    now = utcnow()
    slow = claim_delivery(hooks_world.runtime, delivery_id, now)
    assert slow is not None
    # Held: nobody else may take it.
    assert claim_delivery(hooks_world.runtime, delivery_id, now) is None
    later = now + timedelta(seconds=hooks_world.runtime.settings.webhook_lease_seconds + 1)
    taken = claim_delivery(hooks_world.runtime, delivery_id, later)
    assert taken is not None and taken.message_id == slow.message_id
    assert not record_answer(hooks_world.runtime, slow, Answer(500, "late", 1), later)
    assert record_answer(hooks_world.runtime, taken, Answer(200, None, 1), later)
    done = delivery(hooks_world, delivery_id)
    assert done.state == WebhookDeliveryState.DELIVERED and done.last_status_code == 200
