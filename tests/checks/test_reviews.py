"""Reviews: a risky change made by hand in Business Manager opens a review for the app's owners,
who keep it (with a reason) or revert it (an operation, performed once); an open review waits
three days, then the workspace admins are told, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from bastion.actions.actors import Actor
from bastion.actions.directory import create_person
from bastion.actions.operations import run_due_operations
from bastion.actions.review_decisions import keep_review, revert_review
from bastion.actions.webhooks import create_endpoint
from bastion.connectors.meta.simulator import create_simulator_app
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.email_delivery import send_due_notifications
from bastion.errors import Conflict, InvalidInput, PermissionDenied
from bastion.jobs import Jobs
from bastion.storage.models import (
    AuditEvent,
    Notification,
    Operation,
    Review,
    WebhookDelivery,
    utcnow,
)
from bastion.storage.models.enums import OperationKind, ReviewKind, ReviewState, UserSource
from tests.checks.conftest import World


def _by_hand(world: World, change: str, **body: Any) -> Any:
    """An out-of-band change, as someone makes it in Business Manager itself."""

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_simulator_app(world.sim))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
            return await client.post(f"/_sim/oob/{change}", json=body)

    response = asyncio.run(post())
    assert response.status_code == 200, response.text
    return response.json()


def _deletes(world: World) -> int:
    routes = world.sim.request_log.summary()["by_route"]
    return sum(count for route, count in routes.items() if route.startswith("DELETE"))


def _reviews(world: World) -> list[Review]:
    with world.runtime.sessions() as session:
        return list(session.scalars(select(Review).order_by(Review.id)))


def _keep(world: World, review_id: int, reason: str) -> None:
    """The admin keeps the review, with the reason."""
    with world.runtime.sessions.begin() as session:
        keep_review(
            session,
            workspace_id=world.workspace_id,
            review_id=review_id,
            reason=reason,
            actor=Actor.user(world.admin_id),
        )


def _revert(world: World, review_id: int) -> list[Operation]:
    """The admin reverts the review: the operations that undo it, queued."""
    with world.runtime.sessions.begin() as session:
        return revert_review(
            session,
            workspace_id=world.workspace_id,
            review_id=review_id,
            actor=Actor.user(world.admin_id),
        )


def _hand_made_admin(world: World) -> Review:
    world.check()
    added = _by_hand(
        world, "add_person", name="Mallory Hand", email="mallory@elsewhere.test", role="ADMIN"
    )
    world.extra["mallory"] = added["id"]
    world.check()
    [review] = _reviews(world)
    return review


def test_a_full_control_admin_added_by_hand_opens_a_review_and_reverting_removes_them_once(
    world: World,
) -> None:
    review = _hand_made_admin(world)
    assert review.kind == ReviewKind.FULL_CONTROL
    assert review.state == ReviewState.OPEN
    assert review.outside_bastion
    assert "Mallory Hand" in review.summary

    # The owners are e-mailed, with a link to the review.
    world.mailbox.messages.clear()
    send_due_notifications(world.runtime.sessions, world.runtime.settings)
    [mail] = [m for m in world.mailbox.messages if "to review" in m["Subject"]]
    assert mail["To"] == "owner@northwind.test"
    body = mail.get_payload()[0].get_payload(decode=True).decode()
    assert f"/apps/{world.app_id}/reviews/{review.id}" in body

    deletes_before = _deletes(world)
    [operation] = _revert(world, review.id)
    # A second revert, from another tab or a retry, queues nothing more.
    with world.runtime.sessions.begin() as session, pytest.raises(Conflict, match="already"):
        revert_review(
            session,
            workspace_id=world.workspace_id,
            review_id=review.id,
            actor=Actor.user(world.admin_id),
        )
    assert run_due_operations(world.runtime) == {"succeeded": 1}
    assert run_due_operations(world.runtime) == {}
    assert _deletes(world) - deletes_before == 1
    assert world.extra["mallory"] not in {p["id"] for p in world.sim.dump()["people"]}

    [after] = _reviews(world)
    assert after.state == ReviewState.REVERTED
    assert after.operation_ids == [operation.id]
    # The next check finds Bastion's own removal, and opens nothing.
    world.check()
    assert len(_reviews(world)) == 1


def test_keeping_a_review_records_the_reason_in_the_review_and_the_audit_log(
    world: World,
) -> None:
    review = _hand_made_admin(world)
    with world.runtime.sessions.begin() as session, pytest.raises(InvalidInput, match="reason"):
        keep_review(
            session,
            workspace_id=world.workspace_id,
            review_id=review.id,
            reason="  ",
            actor=Actor.user(world.admin_id),
        )
    _keep(world, review.id, "Our new agency lead, agreed with IT")
    with world.runtime.sessions() as session:
        kept = session.get_one(Review, review.id)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "review.kept")).one()
        operations = session.scalars(select(Operation)).all()
    assert kept.state == ReviewState.KEPT
    assert kept.reason == "Our new agency lead, agreed with IT"
    assert kept.decided_by_id == world.admin_id
    assert event.details["reason"] == "Our new agency lead, agreed with IT"
    assert operations == []
    assert world.extra["mallory"] in {p["id"] for p in world.sim.dump()["people"]}


def test_only_owners_decide_a_review(world: World) -> None:
    review = _hand_made_admin(world)
    with world.runtime.sessions.begin() as session:
        member = create_person(
            session,
            workspace_id=world.workspace_id,
            person=PersonRecord(
                user_name="nobody@northwind.test",
                display_name="No Body",
                external_id="nobody",
                active=True,
                emails=(EmailRecord("nobody@northwind.test", "work", True),),
            ),
            source=UserSource.CSV,
            actor=Actor.system("tests"),
            check_delay=timedelta(minutes=5),
        )
        member_id = member.id
    with world.runtime.sessions.begin() as session, pytest.raises(PermissionDenied):
        keep_review(
            session,
            workspace_id=world.workspace_id,
            review_id=review.id,
            reason="fine by me",
            actor=Actor.user(member_id),
        )
    assert _reviews(world)[0].state == ReviewState.OPEN


def test_a_new_partner_a_shared_asset_and_a_grant_of_manage_each_open_one(
    world: World,
) -> None:
    world.check()
    dump = world.sim.dump()
    page = dump["assets"]["pages"][0]
    holders = {u["user_id"] for u in page["assigned_users"]}
    employee = next(p for p in dump["people"] if p["role"] == "EMPLOYEE" and p["id"] not in holders)
    agency = next(p for p in dump["partners"] if p["relation"] == "agency")
    assert agency["id"] not in {a["business_id"] for a in page["agencies"]}
    _by_hand(world, "grant_tasks", asset_id=page["id"], user_id=employee["id"], tasks=["MANAGE"])
    _by_hand(world, "add_partner", name="Shady Agency", relation="agency")
    # Business Manager > Accounts > Pages > Assign partners (the control API has no such call).
    world.sim.state.share_asset(page["id"], agency["id"], ["ANALYZE"])
    world.check()
    kinds = sorted(r.kind.value for r in _reviews(world))
    assert kinds == ["full_control", "partner", "partner_asset"]
    grant = next(r for r in _reviews(world) if r.kind == ReviewKind.FULL_CONTROL)
    assert "MANAGE" in grant.summary
    assert grant.undo["action"] == "tasks"

    # Reverting the grant sets the person's tasks on the Page back to what they were.
    operations = _revert(world, grant.id)
    assert operations
    assert run_due_operations(world.runtime).get("succeeded") == len(operations)
    holders = {
        u.get("user_id", u.get("id")): u.get("tasks")
        for a in world.sim.dump()["assets"]["pages"]
        if a["id"] == page["id"]
        for u in a.get("assigned_users", [])
    }
    assert "MANAGE" not in (holders.get(employee["id"]) or [])

    # Reverting the share takes the Page back from the agency.
    share = next(r for r in _reviews(world) if r.kind == ReviewKind.PARTNER_ASSET)
    [unshare] = _revert(world, share.id)
    assert unshare.kind == OperationKind.REMOVE_PARTNER_ACCESS
    assert run_due_operations(world.runtime) == {"succeeded": 1}
    [after] = [a for a in world.sim.dump()["assets"]["pages"] if a["id"] == page["id"]]
    assert agency["id"] not in {a["business_id"] for a in after["agencies"]}


def test_an_open_review_is_escalated_to_the_admins_once_after_three_days(world: World) -> None:
    review = _hand_made_admin(world)
    jobs = Jobs(world.runtime, immediate=True)
    try:
        assert jobs.tick()["review_escalations"] == 0
        # Three days pass (the review's clock is its creation time).
        with world.runtime.sessions.begin() as session:
            session.execute(
                update(Review)
                .where(Review.id == review.id)
                .values(created_at=utcnow() - timedelta(days=3, minutes=1))
            )
        assert jobs.tick()["review_escalations"] == 1
        assert jobs.tick()["review_escalations"] == 0
    finally:
        jobs.close()
    with world.runtime.sessions() as session:
        escalations = session.scalars(
            select(Notification).where(Notification.kind == f"review-escalated:{review.id}")
        ).all()
        escalated = session.get_one(Review, review.id)
    assert len(escalations) == 1
    assert escalations[0].recipients == ["owner@northwind.test"]
    assert "3 days" in escalations[0].subject
    assert escalated.escalated_at is not None


def test_a_decided_review_is_not_escalated(world: World) -> None:
    review = _hand_made_admin(world)
    with world.runtime.sessions.begin() as session:
        keep_review(
            session,
            workspace_id=world.workspace_id,
            review_id=review.id,
            reason="known",
            actor=Actor.user(world.admin_id),
        )
        session.execute(
            update(Review)
            .where(Review.id == review.id)
            .values(created_at=utcnow() - timedelta(days=30))
        )
    jobs = Jobs(world.runtime, immediate=True)
    try:
        assert jobs.tick()["review_escalations"] == 0
    finally:
        jobs.close()


def test_the_first_check_opens_no_review(world: World) -> None:
    world.check()
    assert _reviews(world) == []


def test_a_review_opened_and_decided_is_sent_to_a_subscribed_webhook(world: World) -> None:
    world.check()
    with world.runtime.sessions.begin() as session:
        create_endpoint(
            session,
            world.runtime.require_key_ring(),
            workspace_id=world.workspace_id,
            url="https://hooks.northwind.test/bastion",
            events=["review.opened", "review.decided"],
            allow_loopback_http=False,
            actor=Actor.user(world.admin_id),
        )
    _by_hand(world, "add_person", name="Mallory Hand", email="mallory@elsewhere.test", role="ADMIN")
    world.check()
    [review] = _reviews(world)
    _keep(world, review.id, "known")
    with world.runtime.sessions() as session:
        sent = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [d.event_type for d in sent] == ["review.opened", "review.decided"]
    opened, decided = (d.payload["data"] for d in sent)
    assert opened["review_id"] == decided["review_id"] == review.id
    assert (opened["state"], decided["state"]) == ("open", "kept")
    assert opened["kind"] == "full_control" and opened["outside_bastion"] is True
