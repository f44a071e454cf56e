"""Changing access in Meta: invite, cancel, remove, change roles, grant and revoke asset tasks.

Each change is checked in the simulator's state, and retries after unknown outcomes are checked
in its request log: a change is made once, however often it is asked for.
"""

from __future__ import annotations

from typing import Any

import pytest
from meta_harness import (
    BASE_URL,
    TYPES,
    ConnectorFactory,
    DetachedASGITransport,
    Waits,
    perform,
    run,
)

from bastion.connectors.base import (
    BadRequest,
    LastAdmin,
    NotFound,
    OperationRequest,
    RateLimited,
    Restricted,
    TwoFactorRequired,
)
from bastion.connectors.meta import MetaConnector, RetryPolicy
from bastion.connectors.meta.simulator import Simulator, create_simulator_app


def person_with_tasks(sim: Simulator) -> dict[str, Any]:
    """A non-admin person who holds tasks on at least one asset."""
    dump = sim.dump()
    holders = {
        holder["user_id"]
        for group in dump["assets"].values()
        for a in group
        for holder in a["assigned_users"]
    }
    return next(p for p in dump["people"] if p["role"] != "ADMIN" and p["id"] in holders)


def tasks_of(sim: Simulator, user_id: str) -> dict[str, list[str]]:
    return {
        a["id"]: holder["tasks"]
        for group in sim.dump()["assets"].values()
        for a in group
        for holder in a["assigned_users"]
        if holder["user_id"] == user_id
    }


def ad_account(sim: Simulator) -> str:
    return str(sim.dump()["assets"]["ad_accounts"][0]["id"])


def requests_to(sim: Simulator, method: str, path: str) -> list[dict[str, Any]]:
    return [e for e in sim.request_log.entries(1000) if e["method"] == method and e["path"] == path]


# --- invitations -----------------------------------------------------------------------------


def test_a_rate_limited_invite_is_handed_back_with_metas_estimate_then_invites_once(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    sim.inject_fault("rate_limit", method="POST", path="/business_users")
    invite = OperationRequest.invite(email="wait@example.com", role="EMPLOYEE")
    with pytest.raises(RateLimited) as caught:
        perform(connect(), invite)
    assert caught.value.retry_after_seconds == 300.0
    assert waits == []  # five minutes are not slept: the operations engine defers it
    assert "wait@example.com" not in [i["email"] for i in sim.dump()["invitations"]]

    result = perform(connect(), invite)  # the deferred attempt, once Meta allows it
    assert result.outcome == "applied"
    assert [i["email"] for i in sim.dump()["invitations"]].count("wait@example.com") == 1


def test_a_rate_limit_without_an_estimate_is_waited_out_then_invites_once(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    sim.inject_fault("error", method="POST", path="/business_users", code=4)
    result = perform(connect(), OperationRequest.invite(email="wait@example.com", role="EMPLOYEE"))
    assert result.outcome == "applied"
    assert len(waits) == 1 and 0 < waits[0] <= 5.0
    assert [i["email"] for i in sim.dump()["invitations"]].count("wait@example.com") == 1


def test_inviting_a_person_creates_a_pending_invitation(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    result = perform(
        connect(), OperationRequest.invite(email="new.hire@example.com", role="EMPLOYEE")
    )
    assert result.outcome == "applied"
    invitation = next(i for i in sim.dump()["invitations"] if i["id"] == result.external_id)
    assert (invitation["email"], invitation["role"], invitation["status"]) == (
        "new.hire@example.com",
        "EMPLOYEE",
        "PENDING",
    )


def test_asset_tasks_of_an_invitation_wait_for_the_person_to_accept(
    connect: ConnectorFactory, sim: Simulator
) -> None:
    request = OperationRequest.invite(
        email="new.hire@example.com", role="EMPLOYEE", asset_tasks={ad_account(sim): ("ANALYZE",)}
    )
    result = perform(connect(), request)
    assert result.pending_asset_tasks == ((ad_account(sim), ("ANALYZE",)),)


def test_an_invite_that_timed_out_is_not_sent_twice(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    sim.inject_fault("hang", method="POST", path="/business_users", hang_seconds=30)
    result = perform(
        connect(timeout=0.3), OperationRequest.invite(email="late@example.com", role="EMPLOYEE")
    )
    assert result.outcome == "applied"
    assert [i["email"] for i in sim.dump()["invitations"]].count("late@example.com") == 1
    assert (
        len(
            [
                e
                for e in requests_to(sim, "POST", f"/{sim.business_id}/business_users")
                if e["status"] == 200
            ]
        )
        == 1
    )


def test_cancelling_an_invitation_closes_it_and_a_second_cancel_is_already_done(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    pending = next(i for i in sim.dump()["invitations"] if i["status"] == "PENDING")
    first = perform(connect(), OperationRequest.cancel_invitation(invitation_id=pending["id"]))
    again = perform(connect(), OperationRequest.cancel_invitation(invitation_id=pending["id"]))
    assert first.outcome == "applied"
    assert again.outcome == "already_done"
    status = next(i["status"] for i in sim.dump()["invitations"] if i["id"] == pending["id"])
    assert status == "CANCELED"


# --- people ----------------------------------------------------------------------------------


def test_removing_a_person_removes_the_seat_and_every_asset_task(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    result = perform(connect(), OperationRequest.remove(account_id=person["id"]))
    assert result.outcome == "applied"
    assert person["id"] not in {p["id"] for p in sim.dump()["people"]}
    assert tasks_of(sim, person["id"]) == {}


def test_a_removal_that_timed_out_then_retried_removes_exactly_once(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    sim.inject_fault("hang", method="DELETE", path=f"/{person['id']}", hang_seconds=30)
    result = perform(connect(timeout=0.3), OperationRequest.remove(account_id=person["id"]))
    assert result.outcome == "applied"
    assert person["id"] not in {p["id"] for p in sim.dump()["people"]}
    removals = requests_to(sim, "DELETE", f"/{person['id']}")
    assert [r["status"] for r in removals] == [200]
    # Before repeating the removal, the connector read whether the person was still there.
    reads = requests_to(sim, "GET", f"/{person['id']}")
    assert reads and reads[0]["time"] <= removals[0]["time"]


def test_a_removal_whose_answer_was_lost_is_not_sent_again(sim: Simulator) -> None:
    """The removal reaches Meta and is done, but the answer comes after the client gave up."""
    person = person_with_tasks(sim)
    sim.inject_fault("hang", method="DELETE", path=f"/{person['id']}", hang_seconds=0.3)
    meta = MetaConnector(
        token=sim.token,
        business_id=sim.business_id,
        app_id=sim.app_id,
        base_url=BASE_URL,
        transport=DetachedASGITransport(create_simulator_app(sim)),
        timeout=0.1,
        # A real (short) backoff, so the lost removal has finished before the connector checks.
        retry=RetryPolicy(base_delay=0.8, jitter=lambda: 0.5),
    )
    result = perform(meta, OperationRequest.remove(account_id=person["id"]))
    assert result.outcome == "applied"
    assert person["id"] not in {p["id"] for p in sim.dump()["people"]}
    assert [r["status"] for r in requests_to(sim, "DELETE", f"/{person['id']}")] == [200]


def test_a_removal_resumed_after_a_crash_checks_before_it_acts(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    sim.remove_person(person["id"])  # the crashed attempt's call had gone through
    result = run(
        connect(),
        lambda m: m.perform(OperationRequest.remove(account_id=person["id"]), resumed=True),
    )
    assert result.outcome == "already_done"
    assert requests_to(sim, "DELETE", f"/{person['id']}") == []


def test_an_invite_resumed_after_a_crash_is_not_sent_twice(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    request = OperationRequest.invite(email="crash@example.com", role="EMPLOYEE")
    first = perform(connect(), request)
    again = run(connect(), lambda m: m.perform(request, resumed=True))
    assert again.outcome == "already_done"
    assert again.external_id == first.external_id
    assert len([e for e in requests_to(sim, "POST", f"/{sim.business_id}/business_users")]) == 1


def test_removing_someone_already_gone_is_already_done(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    sim.remove_person(person["id"])  # by hand in Business Manager
    result = perform(connect(), OperationRequest.remove(account_id=person["id"]))
    assert result.outcome == "already_done"


def test_a_system_user_cannot_be_removed_through_the_api(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    system_user = next(
        s["id"] for s in sim.dump()["system_users"] if s["id"] != sim.admin_system_user_id
    )
    with pytest.raises(BadRequest) as caught:
        perform(connect(), OperationRequest.remove(account_id=system_user))
    assert "System users" in caught.value.message


def test_cancelling_an_invitation_already_accepted_is_already_done(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    pending = next(i for i in sim.dump()["invitations"] if i["status"] == "PENDING")
    sim.accept_invitation(pending["id"])
    result = perform(connect(), OperationRequest.cancel_invitation(invitation_id=pending["id"]))
    assert result.outcome == "already_done"


def test_changing_a_role(sim: Simulator, connect: ConnectorFactory) -> None:
    person = person_with_tasks(sim)
    result = perform(connect(), OperationRequest.set_role(account_id=person["id"], role="ADMIN"))
    assert result.outcome == "applied"
    assert next(p["role"] for p in sim.dump()["people"] if p["id"] == person["id"]) == "ADMIN"
    again = perform(connect(), OperationRequest.set_role(account_id=person["id"], role="ADMIN"))
    assert again.outcome == "already_done"


def test_demoting_the_last_admin_is_refused_with_the_reason(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    admins = [p["id"] for p in sim.dump()["people"] if p["role"] == "ADMIN"]
    for admin in admins[1:]:
        sim.set_role(admin, "EMPLOYEE")
    with pytest.raises(LastAdmin) as caught:
        perform(connect(), OperationRequest.set_role(account_id=admins[0], role="EMPLOYEE"))
    assert "without an admin" in caught.value.message
    assert next(p["role"] for p in sim.dump()["people"] if p["id"] == admins[0]) == "ADMIN"


def test_an_unknown_role_is_a_bad_request_with_metas_explanation(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    with pytest.raises(BadRequest) as caught:
        perform(connect(), OperationRequest.set_role(account_id=person["id"], role="OVERLORD"))
    assert "must be one of" in caught.value.message


def test_a_business_requiring_two_factor_turns_the_removal_into_a_manual_step(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    sim.update_settings(two_factor_required_for=["remove_user"])
    person = person_with_tasks(sim)
    with pytest.raises(TwoFactorRequired) as caught:
        perform(connect(), OperationRequest.remove(account_id=person["id"]))
    assert caught.value.disposition == "manual"
    assert "remove the person in Business settings" in caught.value.manual_step
    assert person["id"] in {p["id"] for p in sim.dump()["people"]}


def test_a_restricted_business_says_until_when(sim: Simulator, connect: ConnectorFactory) -> None:
    sim.inject_fault("restricted", method="POST", path="/business_users")
    with pytest.raises(Restricted) as caught:
        perform(connect(), OperationRequest.invite(email="x@example.com", role="EMPLOYEE"))
    assert caught.value.until is not None
    assert caught.value.until.timestamp() > sim.now()
    assert caught.value.disposition == "retry_later"


# --- asset tasks -----------------------------------------------------------------------------


def test_granting_tasks_adds_to_what_the_person_holds(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    asset = ad_account(sim)
    sim.grant_tasks(asset_id=asset, user_id=person["id"], tasks=["ANALYZE"])
    result = perform(
        connect(),
        OperationRequest.grant_tasks(account_id=person["id"], asset_id=asset, tasks=["DRAFT"]),
    )
    assert result.outcome == "applied"
    assert set(tasks_of(sim, person["id"])[asset]) == {"ANALYZE", "DRAFT"}
    assert result.tasks == ("ANALYZE", "DRAFT")


def test_granting_tasks_already_held_sends_nothing(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    asset = ad_account(sim)
    sim.grant_tasks(asset_id=asset, user_id=person["id"], tasks=["MANAGE"])  # implies ANALYZE
    sim.request_log.clear()
    result = perform(
        connect(),
        OperationRequest.grant_tasks(account_id=person["id"], asset_id=asset, tasks=["ANALYZE"]),
    )
    assert result.outcome == "already_done"
    assert not requests_to(sim, "POST", f"/{asset}/assigned_users")


def test_a_grant_that_timed_out_is_checked_before_it_is_sent_again(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    asset = ad_account(sim)
    sim.revoke_tasks(asset_id=asset, user_id=person["id"])
    sim.inject_fault("hang", method="POST", path="/assigned_users", hang_seconds=30)
    request = OperationRequest.grant_tasks(
        account_id=person["id"], asset_id=asset, tasks=["ANALYZE"]
    )
    result = perform(connect(timeout=0.3), request)
    assert result.outcome == "applied"
    assert tasks_of(sim, person["id"])[asset] == ["ANALYZE"]


def test_revoking_some_tasks_keeps_the_rest(sim: Simulator, connect: ConnectorFactory) -> None:
    person = person_with_tasks(sim)
    asset = ad_account(sim)
    sim.grant_tasks(asset_id=asset, user_id=person["id"], tasks=["ANALYZE", "DRAFT"])
    result = perform(
        connect(),
        OperationRequest.revoke_tasks(account_id=person["id"], asset_id=asset, tasks=["DRAFT"]),
    )
    assert result.outcome == "applied"
    assert tasks_of(sim, person["id"])[asset] == ["ANALYZE"]


def test_revoking_all_tasks_removes_the_assignment(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    asset = next(a for a in tasks_of(sim, person["id"]) if sim.state.assets[a].type != "pixel")
    kind = TYPES[sim.state.assets[asset].type]
    revoke = OperationRequest.revoke_tasks(account_id=person["id"], asset_id=asset, asset_type=kind)
    result = perform(connect(), revoke)
    assert result.outcome == "applied"
    assert asset not in tasks_of(sim, person["id"])
    again = perform(connect(), revoke)
    assert again.outcome == "already_done"


def test_taking_every_task_on_an_asset_of_unknown_type_sends_nothing(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    # Only a DELETE takes the last task away and pixels have none: without the asset's type the
    # connector cannot know the call exists.
    person = person_with_tasks(sim)
    asset = next(iter(tasks_of(sim, person["id"])))
    sim.request_log.clear()
    with pytest.raises(BadRequest, match="run a check"):
        perform(connect(), OperationRequest.revoke_tasks(account_id=person["id"], asset_id=asset))
    assert not [route for route in sim.request_log.summary()["by_route"] if "DELETE" in route]
    assert asset in tasks_of(sim, person["id"])


def test_revoking_a_task_the_remaining_ones_imply_says_so(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    asset = ad_account(sim)
    sim.grant_tasks(asset_id=asset, user_id=person["id"], tasks=["MANAGE"])
    result = perform(
        connect(),
        OperationRequest.revoke_tasks(account_id=person["id"], asset_id=asset, tasks=["ANALYZE"]),
    )
    assert "ANALYZE" in result.tasks
    assert "imply" in result.detail


def test_tasks_on_an_asset_that_does_not_exist_are_not_found(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    person = person_with_tasks(sim)
    with pytest.raises(NotFound):
        perform(
            connect(),
            OperationRequest.grant_tasks(
                account_id=person["id"], asset_id="404404404", tasks=["ANALYZE"]
            ),
        )
