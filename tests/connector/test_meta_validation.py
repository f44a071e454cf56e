"""Connecting an app: the admin learns at once whether the token can govern the business.

With the App secret, Bastion asks Meta's ``debug_token`` about the token as the app itself
(``{app_id}|{app_secret}``); without it, it reads what a system-user token may read about
itself and says what it could not verify.
"""

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


def with_secret(sim: Simulator, connect: ConnectorFactory, **overrides: object) -> ConnectionCheck:
    return validate(connect, app_secret=sim.app_secret, **overrides)


def routes(sim: Simulator) -> list[str]:
    return [entry["route"] for entry in sim.request_log.entries(1000)]


def assign_every_asset(sim: Simulator) -> None:
    """What the set-up guide asks: the system user holds Full control on every asset."""
    full = {"pages": ["MANAGE"], "ad_accounts": ["MANAGE"], "product_catalogs": ["MANAGE"]}
    for group, tasks in full.items():
        for asset in sim.dump()["assets"][group]:
            if asset["ownership"] == "owned":
                sim.grant_tasks(asset_id=asset["id"], user_id=sim.admin_system_user_id, tasks=tasks)


def assert_one_plain_sentence(check: ConnectionCheck) -> str:
    assert not check.ok
    [problem] = check.problems
    assert "GET" not in problem and "/me" not in problem and "lacks" not in problem
    return problem


# --- with the App secret: Meta describes the token -----------------------------------------


def test_a_good_system_user_token_passes_every_check(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    assign_every_asset(sim)
    check = with_secret(sim, connect)
    assert check.ok, check.problems
    assert check.token_details_verified
    assert check.token_valid and check.is_system_user
    assert check.token_type == "SYSTEM_USER"
    assert check.expires_at is None  # never expires
    assert check.missing_permissions == ()
    assert all(p.granted for p in check.permissions)
    assert check.business_name == sim.dump()["business"]["name"]
    assert check.business_verification_status == "verified"
    assert check.can_manage_people
    assert not any("assigned only" in w for w in check.warnings)
    assert "/debug_token" in routes(sim)


def test_debug_token_is_asked_as_the_app_and_the_app_token_never_shows(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    """Meta refuses ``debug_token`` from a system-user token inspecting itself."""
    app_token = f"{sim.app_id}|{sim.app_secret}"
    check = with_secret(sim, connect)
    assert check.token_details_verified, check.problems
    assert app_token not in repr(check)


def test_a_missing_permission_is_named(sim: Simulator, connect: ConnectorFactory) -> None:
    scopes = [p for p in REQUIRED_PERMISSIONS if p != "catalog_management"]
    check = with_secret(sim, connect, token=sim.make_token(scopes=scopes))
    assert check.missing_permissions == ("catalog_management",)
    assert any("catalog_management" in problem for problem in check.problems)


def test_an_expiring_token_is_accepted_with_a_warning_naming_its_expiry(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    expiry = int(sim.now()) + 60 * 86_400
    check = with_secret(sim, connect, token=sim.make_token(expires_at=expiry))
    assert check.ok, check.problems
    assert check.expires_at == datetime.fromtimestamp(expiry, tz=UTC)
    [warning] = [w for w in check.warnings if "expires" in w]
    assert f"{check.expires_at:%Y-%m-%d}" in warning
    assert "14 and 3 days" in warning


def test_a_personal_token_is_not_a_system_user(sim: Simulator, connect: ConnectorFactory) -> None:
    check = with_secret(sim, connect, token=sim.make_token(user_type="USER"))
    assert check.token_valid and not check.is_system_user
    assert any("system user" in problem for problem in check.problems)


def test_a_token_for_another_app_is_reported(sim: Simulator, connect: ConnectorFactory) -> None:
    check = with_secret(sim, connect, app_id="999")
    problem = assert_one_plain_sentence(check)
    assert "999" in problem


def test_a_wrong_app_secret_is_one_plain_sentence(connect: ConnectorFactory) -> None:
    check = validate(connect, app_secret="0" * 32)
    problem = assert_one_plain_sentence(check)
    assert "App secret" in problem
    assert "0" * 32 not in problem


# --- without the App secret: what the token can read about itself --------------------------


def test_without_the_app_secret_debug_token_is_not_called_and_the_gaps_are_named(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    check = validate(connect)
    assert check.ok, check.problems
    assert not check.token_details_verified
    assert "/debug_token" not in routes(sim)
    assert "/me/permissions" not in routes(sim)
    assert check.is_system_user and check.can_manage_people
    assert all(p.granted is None for p in check.permissions)
    assert check.missing_permissions == ()
    assert check.expires_at is None
    [gap] = [n for n in check.not_verified if "App secret" in n]
    for unknown in ("type", "expiry", "permissions", sim.app_id):
        assert unknown in gap


def test_a_personal_token_without_the_app_secret_is_not_one_of_the_system_users(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    check = validate(connect, token=sim.make_token(user_type="USER"))
    assert check.is_system_user is False
    assert any("system user" in problem for problem in check.problems)


def test_an_app_that_requires_the_secret_says_to_enter_it(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    sim.update_settings(require_appsecret_proof=True)
    problem = assert_one_plain_sentence(validate(connect))
    assert "Require App Secret" in problem
    assert with_secret(sim, connect).ok


# --- the token refused: one sentence --------------------------------------------------------


def test_an_expired_token_says_it_expired_in_one_sentence(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    check = validate(connect, token=sim.make_token(expires_at=int(sim.now()) - 60))
    assert not check.token_valid
    problem = assert_one_plain_sentence(check)
    assert "expired" in problem


def test_a_made_up_token_is_one_plain_sentence(connect: ConnectorFactory) -> None:
    check = validate(connect, token="EAAnot-a-real-token")
    assert not check.token_valid
    problem = assert_one_plain_sentence(check)
    assert "EAAnot-a-real-token" not in problem
    assert "System users" in problem


# --- the business and the system user --------------------------------------------------------


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
    assert not any("assigned" in w for w in check.warnings)


def test_an_unverified_business_is_a_warning_not_a_refusal(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    sim.state.business.verification_status = "not_verified"
    check = validate(connect)
    assert check.ok, check.problems
    assert check.business_verification_status == "not_verified"
    assert any("not verified" in w and "not_verified" in w for w in check.warnings)


def test_assets_the_system_user_is_not_assigned_are_counted_in_a_warning(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    assign_every_asset(sim)
    page = next(p for p in sim.dump()["assets"]["pages"] if p["ownership"] == "owned")
    sim.revoke_tasks(asset_id=page["id"], user_id=sim.admin_system_user_id)
    owned = sum(1 for p in sim.dump()["assets"]["pages"] if p["ownership"] == "owned")
    check = validate(connect)
    assert check.ok, check.problems
    [warning] = [w for w in check.warnings if "assigned only" in w]
    assert f"{owned - 1} of its {owned} Pages" in warning
    assert "ad account" not in warning and "catalog" not in warning
    assert "Assign assets" in warning and "Full control" in warning
    assert not any("pixel" in n.lower() for n in check.not_verified)


def test_the_connect_form_can_check_a_connection_in_one_call(sim: Simulator) -> None:
    transport = httpx.ASGITransport(app=create_simulator_app(sim))
    check = asyncio.run(
        validate_connection(
            sim.token,
            sim.business_id,
            sim.app_id,
            base_url=BASE_URL,
            transport=transport,
            app_secret=sim.app_secret,
        )
    )
    assert check.ok, check.problems
    assert check.token_details_verified


def test_pixels_and_instagram_assets_the_system_user_lacks_are_counted_too(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    # Meta has no list of a system user's pixels: each pixel's assigned_users says.
    pixel = next(
        a for a in sim.state.assets.values() if a.type == "pixel" and a.ownership == "owned"
    )
    sim.revoke_tasks(asset_id=pixel.id, user_id=sim.admin_system_user_id)
    owned = sum(
        1 for a in sim.state.assets.values() if a.type == "pixel" and a.ownership == "owned"
    )
    check = validate(connect)
    [warning] = [w for w in check.warnings if "assigned only" in w]
    assert f"{owned - 1} of its {owned} pixel" in warning
    assert "Page" not in warning and "Instagram" not in warning
