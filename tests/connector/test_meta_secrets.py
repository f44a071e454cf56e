"""The token and the app secret never leave in an error message or a repr."""

from __future__ import annotations

import io
import pickle

import httpx
import pytest
from meta_harness import ConnectorFactory, import_business, perform, run

from bastion.actions.apps import ConnectRequest, validate_connection
from bastion.connectors.base import ConnectorError, OperationRequest
from bastion.connectors.meta import RetryPolicy
from bastion.connectors.meta.simulator import Simulator, create_simulator_app
from bastion.connectors.registry import ConnectorOptions
from bastion.logs import configure_logging, get_logger


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
    ("kind", "code", "refused"),
    [("error", 100, True), ("error", 190, True), ("error", 1, False), ("rate_limit", None, False)],
)
def test_validation_with_the_app_secret_never_shows_it_or_the_app_token(
    sim: Simulator, connect: ConnectorFactory, kind: str, code: int | None, refused: bool
) -> None:
    """``debug_token`` is called with ``{app_id}|{app_secret}``: neither may reach a message,
    whether Meta refuses the call or fails it (a failure is raised: "retry later")."""
    app_token = f"{sim.app_id}|{sim.app_secret}"
    sim.inject_fault(kind, count=20, path="debug_token", code=code)
    meta = connect(app_secret=sim.app_secret)
    if refused:
        check = run(meta, lambda m: m.validate())
        assert not check.ok
        shown = repr(check) + " ".join(check.problems)
    else:
        with pytest.raises(ConnectorError) as caught:
            run(meta, lambda m: m.validate())
        assert caught.value.disposition == "retry_later"
        shown = repr(caught.value) + str(caught.value) + repr(caught.value.__dict__)
    for secret in (sim.token, sim.app_secret or "", app_token, *meta.client.secrets):
        assert secret and secret not in shown
    assert app_token in meta.client.secrets


def test_validating_a_connection_logs_no_secret(sim: Simulator) -> None:
    """The connect action registers the token, the App secret and the app token with the log
    redaction, so even httpx's own request lines (with their query) carry none of them."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    token = sim.make_token(expires_at=0)
    secret = sim.app_secret or ""
    options = ConnectorOptions(
        base_url="http://graph.test",
        transport=httpx.ASGITransport(app=create_simulator_app(sim)),
    )
    request = ConnectRequest(
        kind="meta_business",
        label="Logged",
        token=token,
        settings={"business_id": sim.business_id, "app_id": sim.app_id},
        login_method="sso",
        app_secret=secret,
    )
    check, _settings = validate_connection(request, options)
    assert check.token_details_verified, check.problems
    get_logger("tests").warning("connect form", form=repr(request), check=repr(check))
    output = stream.getvalue()
    assert "debug_token" in output  # httpx logged the request line
    for hidden in (token, secret, f"{sim.app_id}|{secret}"):
        assert secret and hidden not in output


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
