"""Meta throttles, hangs and fails now and then; an import survives it or fails as a whole."""

from __future__ import annotations

import pytest
from meta_harness import (
    ConnectorFactory,
    Waits,
    expected_snapshot,
    import_business,
    observed_snapshot,
)

from bastion.connectors.base import PermissionMissing, RateLimited, TokenInvalid, Transient
from bastion.connectors.meta import RetryPolicy
from bastion.connectors.meta.simulator import Simulator, generate_scenario


def busy(sim: Simulator) -> None:
    """A business whose import needs follow-up pages, sent in batches."""
    sim.load(
        generate_scenario(
            "small",
            seed=7,
            people=260,
            assignments=1000,
            pages=2,
            ad_accounts=2,
            catalogs=1,
            pixels=1,
            instagram_assets=1,
        )
    )


def test_a_rate_limit_without_an_estimate_is_waited_out_in_seconds_then_completes(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    # Code 613 with no estimated_time_to_regain_access: only our own short backoff applies.
    sim.inject_fault("error", count=2, method="GET", path=f"/{sim.business_id}", code=613)
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())
    assert len(waits) == 2 and all(0 < wait <= 5.0 for wait in waits)


def test_a_rate_limit_without_an_estimate_inside_a_batch_is_waited_out(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    busy(sim)
    sim.inject_fault("error", count=3, path="/assigned_users", code=80004)
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())
    assert waits and all(0 < wait <= 5.0 for wait in waits)


def test_a_rate_limit_of_minutes_is_not_slept_but_reported_with_metas_estimate(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    # The simulator says "regain access in 5 minutes" (estimated_time_to_regain_access): the
    # caller gets it at once and defers, instead of a worker sleeping for five minutes.
    sim.inject_fault("rate_limit", count=1, method="GET", path=f"/{sim.business_id}")
    with pytest.raises(RateLimited) as caught:
        import_business(connect())
    assert caught.value.retry_after_seconds == 300
    assert caught.value.estimated
    assert caught.value.disposition == "retry_later"
    assert waits == []


def test_a_rate_limit_of_minutes_inside_a_batch_fails_the_import_without_sleeping(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    busy(sim)
    sim.inject_fault("rate_limit", count=1, path="/assigned_users", code=80004)
    with pytest.raises(RateLimited) as caught:
        import_business(connect())
    assert caught.value.retry_after_seconds == 300
    assert "assigned_users" in caught.value.message
    assert all(wait <= 5.0 for wait in waits)


def test_a_caller_may_choose_to_sleep_through_longer_rate_limits(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    sim.inject_fault("rate_limit", count=1, method="GET", path=f"/{sim.business_id}")
    snapshot = import_business(connect(retry=RetryPolicy(sleep=waits, max_rate_limit_wait=600)))
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())
    assert waits == [300.0]


def test_the_client_slows_down_when_usage_passes_eighty_percent(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    scenario = generate_scenario("small", seed=7, people=560)
    sim.load(scenario)
    import_business(connect())
    cost = sim.request_log.operations
    assert waits == []
    sim.load(scenario)  # a fresh budget, exactly big enough for one more import
    sim.update_settings(business_call_budget=cost)
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())
    assert waits and all(0 < wait <= 2.0 for wait in waits)


def test_a_hanging_request_times_out_and_is_retried(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    sim.inject_fault("hang", count=1, path=f"/{sim.business_id}", hang_seconds=30)
    snapshot = import_business(connect(timeout=0.3))
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())
    assert len(waits) == 1


def test_server_errors_are_retried_with_growing_waits(
    sim: Simulator, connect: ConnectorFactory, waits: Waits
) -> None:
    sim.inject_fault("http_500", count=3, path=f"/{sim.business_id}")
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())
    assert waits == sorted(waits) and len(waits) == 3 and waits[0] < waits[-1]


def test_a_batch_element_meta_did_not_complete_is_asked_again(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    busy(sim)
    sim.inject_fault("batch_null", count=2)
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())


def test_when_the_one_big_read_keeps_failing_each_edge_is_read_on_its_own(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    busy(sim)
    sim.inject_fault("http_500", count=4, method="GET", path=f"/{sim.business_id}")
    snapshot = import_business(connect())
    assert observed_snapshot(snapshot) == expected_snapshot(sim.dump())


def test_a_server_that_keeps_failing_fails_the_import_as_a_whole(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    sim.inject_fault("http_500", count=50, path=f"/{sim.business_id}")
    with pytest.raises(Transient) as caught:
        import_business(connect())
    assert "Reading the business" in caught.value.message


def test_a_failed_follow_up_page_fails_the_import_naming_what_was_read(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    busy(sim)
    sim.inject_fault("error", count=1, path="/business_users", code=200)
    with pytest.raises(PermissionMissing) as caught:
        import_business(connect())
    assert "business_users" in caught.value.message


def test_a_token_without_a_permission_cannot_import_and_names_it(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    scopes = ["business_management", "pages_show_list", "catalog_management"]
    with pytest.raises(PermissionMissing) as caught:
        import_business(connect(token=sim.make_token(scopes=scopes)))
    assert caught.value.permission in {"ads_management", "pages_manage_metadata"}
    assert caught.value.permission in caught.value.message


def test_an_expired_token_stops_the_import_and_says_it_expired(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    token = sim.make_token(expires_at=int(sim.now()) + 60)
    sim.advance_clock(120)
    with pytest.raises(TokenInvalid) as caught:
        import_business(connect(token=token))
    assert "expired" in caught.value.message
