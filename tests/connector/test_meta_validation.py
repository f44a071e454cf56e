"""Connecting an app: the admin learns at once whether the token can govern the business."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from meta_harness import BASE_URL, ConnectorFactory, run

from bastion.connectors.base import ConnectionCheck
from bastion.connectors.meta import validate_connection
from bastion.connectors.meta.graph_errors import REQUIRED_PERMISSIONS
from bastion.connectors.meta.simulator import Simulator, create_simulator_app


def validate(connect: ConnectorFactory, **overrides: object) -> ConnectionCheck:
    return run(connect(**overrides), lambda meta: meta.validate())  # type: ignore[no-any-return]


def test_a_good_system_user_token_passes_every_check(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    check = validate(connect)
    assert check.ok, check.problems
    assert check.token_valid and check.is_system_user
    assert check.expires_at is None  # never expires
    assert check.missing_permissions == ()
    assert check.business_name == sim.dump()["business"]["name"]
    assert check.can_manage_people


def test_a_missing_permission_is_named(sim: Simulator, connect: ConnectorFactory) -> None:
    scopes = [p for p in REQUIRED_PERMISSIONS if p != "catalog_management"]
    check = validate(connect, token=sim.make_token(scopes=scopes))
    assert check.missing_permissions == ("catalog_management",)
    assert any("catalog_management" in problem for problem in check.problems)


def test_an_expiring_token_shows_its_expiry(sim: Simulator, connect: ConnectorFactory) -> None:
    expiry = int(sim.now()) + 60 * 86_400
    check = validate(connect, token=sim.make_token(expires_at=expiry))
    assert check.ok
    assert check.expires_at == datetime.fromtimestamp(expiry, tz=UTC)


def test_a_personal_token_is_not_a_system_user(sim: Simulator, connect: ConnectorFactory) -> None:
    check = validate(connect, token=sim.make_token(user_type="USER"))
    assert check.token_valid and not check.is_system_user
    assert any("system user" in problem for problem in check.problems)


def test_an_expired_token_says_it_expired(sim: Simulator, connect: ConnectorFactory) -> None:
    check = validate(connect, token=sim.make_token(expires_at=int(sim.now()) - 60))
    assert not check.token_valid
    assert check.token_problem is not None and "expired" in check.token_problem


def test_a_made_up_token_is_invalid(connect: ConnectorFactory) -> None:
    check = validate(connect, token="EAAnot-a-real-token")
    assert not check.token_valid
    assert not check.ok


def test_a_system_user_without_full_control_cannot_manage_people(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    employee = next(s["id"] for s in sim.dump()["system_users"] if s["role"] != "ADMIN")
    check = validate(connect, token=sim.make_token(user_id=employee))
    assert check.token_valid and not check.can_manage_people
    assert any("Full control" in problem for problem in check.problems)


def test_a_wrong_business_id_is_reported(connect: ConnectorFactory) -> None:
    check = validate(connect, business_id="123456789")
    assert check.business_name is None
    assert check.business_problem is not None and "123456789" in check.business_problem


def test_a_token_for_another_app_is_reported(connect: ConnectorFactory) -> None:
    check = validate(connect, app_id="999")
    assert not check.ok
    assert any("999" in problem for problem in check.problems)


def test_the_connect_form_can_check_a_connection_in_one_call(sim: Simulator) -> None:
    transport = httpx.ASGITransport(app=create_simulator_app(sim))
    check = asyncio.run(
        validate_connection(
            sim.token, sim.business_id, sim.app_id, base_url=BASE_URL, transport=transport
        )
    )
    assert check.ok
