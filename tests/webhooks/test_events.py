"""The events of a check's story as a receiver gets them, each verified with its signature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from standardwebhooks import Webhook

from bastion.actions.actors import Actor
from bastion.actions.operations import run_due_operations
from bastion.actions.reports import apply_report
from bastion.actions.token_reminders import remind_expiring_tokens
from bastion.storage.models import App, ReportItem, utcnow
from bastion.webhook_delivery import deliver_due_webhooks
from bastion.webhook_events import EVENT_TYPES, emit_event, emit_events
from tests.checks.conftest import World
from tests.webhooks.conftest import Receiver, register


def received(world: World, receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Send what is due; every payload the receiver verified, in order."""
    deliver_due_webhooks(world.runtime)
    events = [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]
    receiver.requests.clear()
    return events


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == event_type]


def test_a_check_tells_its_outcome_the_leavers_and_the_changes_made_by_hand(
    hooks_world: World, receiver: Receiver
) -> None:
    world = hooks_world
    made = register(world, receiver.url, sorted(EVENT_TYPES))
    first = world.check()
    events = received(world, receiver, made.secret)
    [succeeded] = of_type(events, "check.succeeded")
    assert succeeded["run_id"] == first.id and succeeded["app_id"] == world.app_id
    [opened] = of_type(events, "report.opened")
    seated = of_type(events, "account.deprovisioned_still_seated")
    assert len(seated) == first.counts["report_items_added"] >= 1
    assert len({s["report_item_id"] for s in seated}) == len(seated)  # one event per item
    assert {s["report_id"] for s in seated} == {opened["report_id"]}
    assert of_type(events, "change.outside_bastion") == []  # the first check is a baseline

    victim = next(p for p in world.sim.dump()["people"] if p["role"] == "EMPLOYEE")
    world.sim.remove_person(victim["id"])
    world.check()
    [outside] = of_type(received(world, receiver, made.secret), "change.outside_bastion")
    assert outside["count"] >= 1
    assert "account_removed" in {c["kind"] for c in outside["changes"]}

    with world.runtime.sessions.begin() as session:
        item = session.get_one(ReportItem, seated[0]["report_item_id"])
        applied = apply_report(
            session,
            workspace_id=world.workspace_id,
            report_id=item.report_id,
            actor=Actor.user(world.admin_id),
            item_ids=[item.id],
        )
        operation_id = applied[0].operation_id
    [report_applied] = of_type(received(world, receiver, made.secret), "report.applied")
    assert report_applied["items"][0]["operation_id"] == operation_id

    world.sim.inject_fault("two_factor", method="DELETE")
    assert run_due_operations(world.runtime) == {"manual": 1}
    [manual] = of_type(received(world, receiver, made.secret), "operation.manual")
    assert manual["operation_id"] == operation_id and manual["manual_steps"]

    world.sim.revoke_token(world.sim.token)
    failed_run = world.check()
    events = received(world, receiver, made.secret)
    [failed] = of_type(events, "check.failed")
    assert failed["run_id"] == failed_run.id and failed["error"]
    # Payloads name ids and what changed, never the app's token or the signing secret.
    everything = b"".join(r.body for r in receiver.requests)
    assert world.sim.token.encode() not in everything
    assert made.secret.encode() not in everything


def test_an_app_s_endpoint_hears_only_that_app(hooks_world: World, receiver: Receiver) -> None:
    world = hooks_world
    register(world, receiver.url, ["token.expiring"], app_id=world.app_id)
    with world.runtime.sessions.begin() as session:
        for app_id in (world.app_id, world.app_id + 1000):
            emit_event(
                session,
                workspace_id=world.workspace_id,
                app_id=app_id,
                event_type="token.expiring",
                data={},
            )
    deliver_due_webhooks(world.runtime)
    assert [r.json()["data"]["app_id"] for r in receiver.requests] == [world.app_id]


def test_a_token_reminder_is_also_an_event_once(hooks_world: World, receiver: Receiver) -> None:
    world = hooks_world
    made = register(world, receiver.url, ["token.expiring"])
    now = utcnow()
    expires = now + timedelta(days=10)
    with world.runtime.sessions.begin() as session:
        session.get_one(App, world.app_id).token_expires_at = expires
    for _tick in range(2):
        with world.runtime.sessions.begin() as session:
            remind_expiring_tokens(session, now=now, base_url="http://bastion.test")
    [event] = of_type(received(world, receiver, made.secret), "token.expiring")
    assert event["reminder_days"] == 14
    assert event["expires_at"] == expires.isoformat()


def test_events_emitted_together_reach_each_subscribed_endpoint_in_order(
    hooks_world: World, receiver: Receiver
) -> None:
    world = hooks_world
    everywhere = register(world, receiver.url, ["token.expiring"])
    this_app = register(world, receiver.url, ["token.expiring"], app_id=world.app_id)
    register(world, receiver.url, ["report.opened"])  # not subscribed to this type
    with world.runtime.sessions.begin() as session:
        deliveries = emit_events(
            session,
            workspace_id=world.workspace_id,
            app_id=world.app_id,
            event_type="token.expiring",
            data=[{"n": 1}, {"n": 2}, {"n": 3}],
        )
        assert [d.payload["data"]["n"] for d in deliveries] == [1, 1, 2, 2, 3, 3]
        assert {d.endpoint_id for d in deliveries} == {everywhere.endpoint.id, this_app.endpoint.id}
        assert len({d.message_id for d in deliveries}) == 6
        assert (
            emit_events(
                session,
                workspace_id=world.workspace_id,
                app_id=world.app_id,
                event_type="token.expiring",
                data=[],
            )
            == []
        )
