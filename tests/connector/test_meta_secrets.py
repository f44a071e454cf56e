"""The token and the app secret never leave in an error message or a repr."""

from __future__ import annotations

import pickle

import pytest
from meta_harness import ConnectorFactory, import_business, perform, run

from bastion.connectors.base import ConnectorError, OperationRequest
from bastion.connectors.meta import RetryPolicy
from bastion.connectors.meta.simulator import Simulator


def assert_no_secret(sim: Simulator, error: ConnectorError, *secrets: str) -> None:
    for secret in (sim.token, sim.app_secret or "", *secrets):
        assert secret
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in repr(error.__dict__)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("error", 100),
        ("error", 190),
        ("rate_limit", None),
        ("restricted", None),
        ("two_factor", None),
    ],
)
def test_no_error_carries_a_secret(
    sim: Simulator, connect: ConnectorFactory, kind: str, code: int | None
) -> None:
    sim.inject_fault(kind, count=20, code=code)
    meta = connect(app_secret=sim.app_secret)
    with pytest.raises(ConnectorError) as caught:
        perform(meta, OperationRequest.invite(email="x@example.com", role="EMPLOYEE"))
    assert_no_secret(sim, caught.value)


@pytest.mark.parametrize(
    ("kind", "code"), [("error", 100), ("error", 190), ("error", 1), ("rate_limit", None)]
)
def test_validation_with_the_app_secret_never_shows_it_or_the_app_token(
    sim: Simulator, connect: ConnectorFactory, kind: str, code: int | None
) -> None:
    """``debug_token`` is called with ``{app_id}|{app_secret}``: neither may reach a message."""
    app_token = f"{sim.app_id}|{sim.app_secret}"
    sim.inject_fault(kind, count=20, path="debug_token", code=code)
    meta = connect(app_secret=sim.app_secret)
    check = run(meta, lambda m: m.validate())
    assert not check.ok
    shown = repr(check) + " ".join(check.problems)
    for secret in (sim.token, sim.app_secret or "", app_token, *meta.client.secrets):
        assert secret and secret not in shown
    assert app_token in meta.client.secrets


def test_a_timeout_error_carries_no_secret(sim: Simulator, connect: ConnectorFactory) -> None:
    sim.inject_fault("hang", count=20, hang_seconds=30)
    with pytest.raises(ConnectorError) as caught:
        import_business(connect(timeout=0.05, app_secret=sim.app_secret))
    assert_no_secret(sim, caught.value)


def test_a_rejected_token_is_not_repeated_back(sim: Simulator, connect: ConnectorFactory) -> None:
    bad = "EAAthis-token-was-never-issued"
    with pytest.raises(ConnectorError) as caught:
        import_business(connect(token=bad))
    assert_no_secret(sim, caught.value, bad)


def test_connector_and_client_reprs_hide_the_token(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    meta = connect(app_secret=sim.app_secret)
    for text in (repr(meta), repr(meta.client), str(meta)):
        assert sim.token not in text
        assert sim.app_secret and sim.app_secret not in text


def test_errors_survive_a_job_queue_round_trip(sim: Simulator, connect: ConnectorFactory) -> None:
    sim.inject_fault("rate_limit", count=20)
    with pytest.raises(ConnectorError) as caught:
        import_business(connect(retry=RetryPolicy(max_rate_limit_wait=0)))
    restored = pickle.loads(pickle.dumps(caught.value))
    assert type(restored) is type(caught.value)
    assert restored.message == caught.value.message
