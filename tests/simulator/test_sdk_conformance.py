"""Conformance with Meta's own client: the facebook-business SDK against a loopback simulator.

The SDK speaks ``requests``, so the simulator runs under uvicorn on 127.0.0.1 in a background
thread; ``FacebookSession.GRAPH`` is pointed at it on the session instance (no patching).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.business import Business
from facebook_business.adobjects.businessuser import BusinessUser
from facebook_business.api import FacebookAdsApi, FacebookResponse, FacebookSession
from facebook_business.exceptions import FacebookRequestError

from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from tests.conftest import serve_on_loopback


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    simulator = Simulator(generate_scenario("small", seed=42))
    with serve_on_loopback(create_simulator_app(simulator)) as base_url:
        yield simulator, base_url


@pytest.fixture
def sdk(served: tuple[Simulator, str]) -> tuple[Simulator, FacebookAdsApi, str]:
    simulator, base_url = served
    simulator.reset()
    session = FacebookSession(
        app_id=simulator.app_id, app_secret=simulator.app_secret, access_token=simulator.token
    )
    session.GRAPH = base_url
    return simulator, FacebookAdsApi(session, api_version="v25.0"), base_url


def test_sdk_reads_the_business(sdk: tuple[Simulator, FacebookAdsApi, str]) -> None:
    sim, api, _ = sdk
    business = Business(sim.business_id, api=api).api_get(fields=["id", "name", "two_factor_type"])
    assert business["id"] == sim.business_id
    assert business["name"] == sim.state.business.name


def test_sdk_pages_through_business_users(sdk: tuple[Simulator, FacebookAdsApi, str]) -> None:
    sim, api, _ = sdk
    cursor = Business(sim.business_id, api=api).get_business_users(
        fields=["id", "name", "email", "role"], params={"limit": 7}
    )
    people = list(cursor)
    assert len(people) == 40
    assert cursor.total() == 40
    assert {p["id"] for p in people} == set(sim.state.people)


def test_sdk_lists_owned_pages_and_ad_accounts(sdk: tuple[Simulator, FacebookAdsApi, str]) -> None:
    sim, api, _ = sdk
    business = Business(sim.business_id, api=api)
    pages = list(business.get_owned_pages(fields=["id", "name"], params={"limit": 2}))
    accounts = list(business.get_owned_ad_accounts(fields=["id", "account_id", "name"]))
    assert {p["id"] for p in pages} == {a.id for a in sim.state.assets_of("page", "owned")}
    assert {a["id"] for a in accounts} == {a.id for a in sim.state.assets_of("ad_account", "owned")}


def test_sdk_reads_assigned_users(sdk: tuple[Simulator, FacebookAdsApi, str]) -> None:
    sim, api, _ = sdk
    account = next(
        a for a in sim.state.assets_of("ad_account", "owned") if a.id in sim.state.asset_users
    )
    holders = list(
        AdAccount(account.id, api=api).get_assigned_users(
            # The SDK's AssignedUser lacks ``tasks`` (it warns), but Graph returns it by default.
            fields=None,
            params={"business": sim.business_id},
        )
    )
    assert {h["id"]: list(h["tasks"]) for h in holders} == {
        uid: list(tasks) for uid, tasks in sim.state.asset_users[account.id].items()
    }


def test_sdk_invites_and_removes(sdk: tuple[Simulator, FacebookAdsApi, str]) -> None:
    sim, api, _ = sdk
    business = Business(sim.business_id, api=api)
    created = business.create_business_user(params={"email": "sdk@example.com", "role": "EMPLOYEE"})
    assert created["id"] in sim.state.invitations
    pending = list(business.get_pending_users(params={"email": "sdk@example.com"}))
    assert [p["id"] for p in pending] == [created["id"]]
    victim = next(p.id for p in sim.state.people.values() if p.role == "EMPLOYEE")
    BusinessUser(victim, api=api).api_delete()
    assert victim not in sim.state.people


def test_sdk_batch(sdk: tuple[Simulator, FacebookAdsApi, str]) -> None:
    sim, api, _ = sdk
    results: list[dict[str, Any]] = []
    failures: list[FacebookResponse] = []
    batch = api.new_batch()
    for person_id in list(sim.state.people)[:5]:
        BusinessUser(person_id, api=api).api_get(
            fields=["id", "email"],
            batch=batch,
            success=lambda response: results.append(response.json()),
            failure=failures.append,
        )
    BusinessUser("999", api=api).api_get(
        fields=["id"], batch=batch, success=lambda r: None, failure=failures.append
    )
    batch.execute()
    assert len(results) == 5
    assert failures[0].error().api_error_code() == 100
    assert sim.request_log.summary()["batch_requests"] >= 1


@pytest.mark.parametrize(
    ("setup", "code"),
    [("bad_token", 190), ("missing_permission", 200), ("last_admin", 3914), ("bad_email", 100)],
)
def test_sdk_receives_meta_errors(
    sdk: tuple[Simulator, FacebookAdsApi, str], setup: str, code: int
) -> None:
    sim, api, base_url = sdk
    business_id = sim.business_id
    with pytest.raises(FacebookRequestError) as raised:
        if setup == "bad_token":
            session = FacebookSession(access_token="EAAwrong")
            session.GRAPH = base_url
            Business(business_id, api=FacebookAdsApi(session, api_version="v25.0")).api_get(
                fields=["id"]
            )
        elif setup == "missing_permission":
            session = FacebookSession(access_token=sim.make_token(scopes=["ads_management"]))
            session.GRAPH = base_url
            bare = FacebookAdsApi(session, api_version="v25.0")
            list(Business(business_id, api=bare).get_business_users())
        elif setup == "last_admin":
            *others, last = [p.id for p in sim.state.people.values() if p.role == "ADMIN"]
            for other in others:
                sim.set_role(other, "EMPLOYEE")
            BusinessUser(last, api=api).api_delete()
        else:
            Business(business_id, api=api).create_business_user(
                params={"email": "not-an-email", "role": "EMPLOYEE"}
            )
    assert raised.value.api_error_code() == code
    assert raised.value.api_error_type() == "OAuthException"


def test_a_hang_outlasts_the_client_timeout(served: tuple[Simulator, str]) -> None:
    sim, base_url = served
    sim.reset()
    sim.inject_fault("hang", hang_seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            f"{base_url}/v25.0/{sim.business_id}", params={"access_token": sim.token}, timeout=0.2
        )
