"""Conformance with Meta's own client: the facebook-business SDK against a loopback simulator.

The SDK speaks ``requests``, so the simulator runs under uvicorn on 127.0.0.1 in a background
thread; ``FacebookSession.GRAPH`` is pointed at it on the session instance (no patching).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.business import Business
from facebook_business.adobjects.businessrolerequest import BusinessRoleRequest
from facebook_business.adobjects.businessuser import BusinessUser
from facebook_business.adobjects.systemuser import SystemUser
from facebook_business.api import FacebookAdsApi, FacebookResponse, FacebookSession
from facebook_business.exceptions import FacebookRequestError

from bastion.connectors.meta import sync
from bastion.connectors.meta.schema import load_schema
from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from bastion.connectors.meta.simulator.enums import TYPE_NAMES
from bastion.connectors.meta.simulator.fields import parse_fields
from tests.conftest import serve_on_loopback


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


# --- Bastion's own requests, made through Meta's SDK ------------------------------------------
#
# Each edge the connector reads or writes, with the connector's own field sets, sent through the
# SDK's generated method for it. The SDK warns "<edge> does not allow field <f>" for a field the
# node type lacks: warnings are errors here. Fields an edge adds to its nodes (``tasks`` on
# ``assigned_users``) are not in the SDK's node lists; they must be in the cited hand-kept table,
# and travel as a plain ``fields`` parameter.


@contextmanager
def sdk_warnings_are_errors() -> Iterator[None]:
    """The SDK's "does not allow field" (and any other) warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _sdk_edge_read(obj: Any, parent: str, edge: str, fields: str, **params: Any) -> list[Any]:
    """Bastion's exact ``fields`` for one edge, sent through the SDK's method for that edge.

    Every field the SDK's node type lists (an expansion by its base name) goes through the SDK's
    own field check first; only the fields the hand-kept table says the edge adds, and the SDK
    lacks, skip it. Then the request is made with Bastion's whole ``fields`` text."""
    schema = load_schema()
    target = schema.get_target(parent, edge)
    assert target is not None, f"{parent} has no GET {edge}"
    listed = set(schema.node(target).fields)
    added = set(schema.edge_fields.get((parent, edge), {})) - listed
    names = [spec.name for spec in parse_fields(fields)]
    assert not set(names) - listed - added, f"{edge}: fields neither Meta's nor cited"
    method = getattr(obj, f"get_{edge}")
    with sdk_warnings_are_errors():
        method(fields=[n for n in names if n not in added], params=params, pending=True)
        return list(method(params={**params, "fields": fields}))


def test_sdk_reads_every_business_edge_bastion_reads(
    sdk: tuple[Simulator, FacebookAdsApi, str],
) -> None:
    sim, api, _ = sdk
    business = Business(sim.business_id, api=api)
    with sdk_warnings_are_errors():
        node = business.api_get(fields=sync.BUSINESS_FIELDS.split(","))
    assert node["id"] == sim.business_id
    for edge, (fields, _) in sync.LIST_EDGES.items():
        rows = _sdk_edge_read(business, "Business", edge, fields)
        assert isinstance(rows, list)
    seen = 0
    for asset_edge in sync.ASSET_EDGES:
        rows = _sdk_edge_read(business, "Business", asset_edge.edge, asset_edge.fields)
        seen += len(rows)
    assert seen == len(sim.state.assets)


@pytest.mark.parametrize("kind", ["page", "ad_account", "catalog", "pixel", "instagram"])
def test_sdk_reads_and_writes_asset_tasks_as_bastion_does(
    sdk: tuple[Simulator, FacebookAdsApi, str], kind: str
) -> None:
    sim, api, _ = sdk
    type_name = TYPE_NAMES[kind]
    module = importlib.import_module(f"facebook_business.adobjects.{type_name.lower()}")
    asset = next(a for a in sim.state.assets.values() if a.type == kind)
    node = getattr(module, type_name)(asset.id, api=api)
    holders = _sdk_edge_read(
        node, type_name, "assigned_users", sync.ASSIGNEE_FIELDS, business=sim.business_id
    )
    assert {h["id"] for h in holders} == set(sim.state.asset_users.get(asset.id, {}))
    agencies = "id,name,permitted_tasks" if kind == "ad_account" else sync.PLAIN_AGENCY_FIELDS
    _sdk_edge_read(node, type_name, "agencies", agencies)
    person = next(
        p.id
        for p in sim.state.people.values()
        if p.id not in sim.state.asset_users.get(asset.id, {})
    )
    with sdk_warnings_are_errors():
        task = {"catalog": "ADVERTISE"}.get(kind, "ANALYZE")
        node.create_assigned_user(params={"user": person, "tasks": [task]})
        assert task in sim.state.asset_users[asset.id][person]
        if kind == "pixel":
            # Meta's AdsPixel has no DELETE on assigned_users: neither has its SDK.
            assert not hasattr(node, "delete_assigned_users")
        else:
            node.delete_assigned_users(params={"user": person})
            assert person not in sim.state.asset_users.get(asset.id, {})


def test_sdk_people_and_partner_writes_bastion_makes(
    sdk: tuple[Simulator, FacebookAdsApi, str],
) -> None:
    sim, api, _ = sdk
    business = Business(sim.business_id, api=api)
    with sdk_warnings_are_errors():
        me = SystemUser(sim.admin_system_user_id, api=api).api_get(fields=["id", "name", "role"])
        assert me["role"] == "ADMIN"
    # What the connect check reads about the system user's own assets.
    system_user = SystemUser(sim.admin_system_user_id, api=api)
    for edge in ("assigned_pages", "assigned_ad_accounts", "assigned_product_catalogs"):
        rows = _sdk_edge_read(system_user, "SystemUser", edge, "id", summary="total_count")
        assert rows, edge
    with sdk_warnings_are_errors():
        person = next(p.id for p in sim.state.people.values() if p.role == "EMPLOYEE")
        BusinessUser(person, api=api).api_update(params={"role": "ADMIN"})
        assert BusinessUser(person, api=api).api_get(fields=["id", "role"])["role"] == "ADMIN"
        invitation = next(iter(sim.state.listed_invitations(sim.now())))
        BusinessRoleRequest(invitation.id, api=api).api_get(fields=["id", "status"])
        BusinessRoleRequest(invitation.id, api=api).api_delete()
        for relation, edge in (("agency", "agencies"), ("client", "clients")):
            partner = next(p.id for p in sim.state.partners.values() if p.relation == relation)
            getattr(business, f"delete_{edge}")(params={"business": partner})
            assert partner not in sim.state.partners
