"""Every request the connector sends is one Meta's published schema has.

The connector runs its import (the expanded read and the per-edge fallback), connection
validation (with and without the App secret) and every operation kind against the simulator
through a transport that records each request, batch elements included. Each recorded request
is then checked against the Graph schema generated from Meta's SDK: node type, edge, method,
parameters, fields and field expansions. The simulator refuses the same things; this test names
them all at once, and fails if the connector stops exercising a path (so it cannot pass empty).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from meta_harness import BASE_URL, Waits, import_business, perform, run
from meta_harness import TYPES as BASTION_TYPES

from bastion.connectors.base import OperationRequest
from bastion.connectors.meta import MetaConnector, RetryPolicy
from bastion.connectors.meta.schema import load_schema
from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from bastion.connectors.meta.simulator.enums import TYPE_NAMES
from bastion.connectors.meta.simulator.fields import parse_fields


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    params: dict[str, Any]
    node_type: str  # what the path's id was when the request left (a removal makes it unknown)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The simulator in-process; every Graph operation sent is kept, batch elements unpacked."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.inner = httpx.ASGITransport(app=create_simulator_app(sim))
        self.sent: list[Sent] = []
        # What each id was when first seen: a removed person is still a BusinessUser id when
        # the connector reads it back to confirm it is gone.
        self.known: dict[str, str] = {}

    def _keep(self, method: str, path: str, params: dict[str, Any]) -> None:
        head = path.split("/")[0]
        if head in ("", "debug_token"):
            node_type = "root"
        else:
            node_type = self.known.setdefault(head, _node_type(self.sim, head))
            if node_type == "unknown id":
                node_type = self.known.pop(head)
        self.sent.append(Sent(method, path, params, node_type))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        params: dict[str, Any] = dict(parse_qsl(request.url.query.decode()))
        body = request.content.decode()
        if body:
            if request.headers.get("content-type", "").startswith("application/json"):
                params.update(json.loads(body))
            else:
                params.update(dict(parse_qsl(body)))
        path = _graph_path(request.url.path)
        if request.method == "POST" and not path and "batch" in params:
            for item in json.loads(params["batch"]):
                url = urlsplit(str(item["relative_url"]))
                self._keep(str(item["method"]), _graph_path(url.path), dict(parse_qsl(url.query)))
        else:
            self._keep(request.method, path, params)
        return await self.inner.handle_async_request(request)


def _graph_path(path: str) -> str:
    parts = [part for part in path.split("/") if part]
    if parts and parts[0].startswith("v") and parts[0][1:2].isdigit():
        parts = parts[1:]
    return "/".join(parts)


@pytest.fixture
def world() -> Iterator[tuple[Simulator, RecordingTransport]]:
    sim = Simulator(generate_scenario("small", seed=42))
    yield sim, RecordingTransport(sim)


def _connector(
    sim: Simulator, transport: RecordingTransport, *, app_secret: str | None = None
) -> MetaConnector:
    return MetaConnector(
        token=sim.token,
        business_id=sim.business_id,
        app_id=sim.app_id,
        app_secret=app_secret,
        base_url=BASE_URL,
        transport=transport,
        timeout=2.0,
        retry=RetryPolicy(sleep=Waits(), jitter=lambda: 0.5),
    )


def _node_type(sim: Simulator, node_id: str) -> str:
    if node_id == "me":
        return "SystemUser"
    kind = sim.state.kind_of(node_id)
    if kind == "asset":
        return TYPE_NAMES[sim.state.assets[node_id].type]
    names = {
        "business": "Business",
        "partner": "Business",
        "person": "BusinessUser",
        "system_user": "SystemUser",
        "invitation": "BusinessRoleRequest",
    }
    return names[kind] if kind is not None else "unknown id"


def _violations(sim: Simulator, sent: list[Sent]) -> tuple[list[str], set[tuple[str, str, str]]]:
    schema = load_schema()
    found: list[str] = []
    routes: set[tuple[str, str, str]] = set()
    for call in sent:
        segments = call.path.split("/") if call.path else []
        if segments == ["debug_token"]:
            found += [
                f"{call.method} /debug_token: {v}"
                for v in schema.root_violations(call.method, "debug_token", call.params)
            ]
            routes.add((call.method, "root", "debug_token"))
            continue
        node_type = call.node_type
        edge = segments[1] if len(segments) > 1 else None
        fields = parse_fields(str(call.params.get("fields") or "")) if call.method == "GET" else ()
        problems = schema.violations(
            node_type, call.method, edge=edge, params=call.params, fields=fields
        )
        found += [f"{call.method} /{call.path}: {problem}" for problem in problems]
        routes.add((call.method, node_type, edge or ""))
    return found, routes


def _every_operation(sim: Simulator) -> list[OperationRequest]:
    state = sim.state
    person = next(p for p in state.people.values() if p.role != "ADMIN")
    other = next(p for p in state.people.values() if p.role != "ADMIN" and p.id != person.id)
    invitation = next(iter(state.listed_invitations(sim.now())))
    requests = [
        OperationRequest.invite(email="new.hire@example.com", role="EMPLOYEE"),
        OperationRequest.cancel_invitation(invitation_id=invitation.id),
        OperationRequest.set_role(account_id=other.id, role="ADMIN"),
    ]
    grants = {"page": ["ANALYZE"], "ad_account": ["ANALYZE"], "catalog": ["ADVERTISE"]}
    grants |= {"pixel": ["ANALYZE"], "instagram": ["ANALYZE"]}
    for kind, tasks in grants.items():
        asset = next(
            a
            for a in state.assets.values()
            if a.type == kind and person.id not in state.asset_users.get(a.id, {})
        )
        requests.append(
            OperationRequest.grant_tasks(account_id=person.id, asset_id=asset.id, tasks=tasks)
        )
        if kind != "pixel":
            requests.append(
                OperationRequest.revoke_tasks(
                    account_id=person.id, asset_id=asset.id, asset_type=BASTION_TYPES[kind]
                )
            )
    for relation in ("agency", "client"):
        partner = next(p for p in state.partners.values() if p.relation == relation)
        requests.append(OperationRequest.remove_partner(partner_id=partner.id, relation=relation))
    requests.append(OperationRequest.remove(account_id=person.id))
    return requests


def test_every_request_the_connector_sends_is_in_metas_schema(
    world: tuple[Simulator, RecordingTransport],
) -> None:
    sim, transport = world
    for object_id in [*sim.state.people, *sim.state.invitations, *sim.state.partners]:
        transport.known[object_id] = _node_type(sim, object_id)
    run(_connector(sim, transport), lambda m: m.validate())
    run(_connector(sim, transport, app_secret=sim.app_secret), lambda m: m.validate())
    snapshot = import_business(_connector(sim, transport))
    assert any(a.type == "instagram_asset" for a in snapshot.assets)
    # The per-edge fallback: Meta refuses the one big read as too large (code 1).
    sim.inject_fault("too_much_data", method="GET", path=f"/{sim.business_id}")
    import_business(_connector(sim, transport))
    for request in _every_operation(sim):
        perform(_connector(sim, transport), request)
        run(_connector(sim, transport), lambda m, r=request: m.perform(r, resumed=True))

    found, routes = _violations(sim, transport.sent)
    assert found == [], "the connector sends what Meta's schema lacks:\n" + "\n".join(found)
    expected = {
        ("GET", "Business", ""),
        ("GET", "Business", "business_users"),
        ("GET", "Business", "pending_users"),
        ("GET", "Business", "system_users"),
        ("POST", "Business", "business_users"),
        ("DELETE", "Business", "agencies"),
        ("DELETE", "Business", "clients"),
        ("DELETE", "BusinessUser", ""),
        ("POST", "BusinessUser", ""),
        ("DELETE", "BusinessRoleRequest", ""),
        ("GET", "root", "debug_token"),
        *(("POST", name, "assigned_users") for name in TYPE_NAMES.values()),
        *(("GET", name, "assigned_users") for name in TYPE_NAMES.values()),
        *(("DELETE", TYPE_NAMES[k], "assigned_users") for k in TYPE_NAMES if k != "pixel"),
    }
    assert expected <= routes, f"not exercised: {sorted(expected - routes)}"


def test_instagram_fields_the_node_lacks_would_fail_the_whole_import() -> None:
    old = "owned_instagram_assets{id,name,ig_username,owner_business{id,name}}"
    found = load_schema().field_violations("Business", parse_fields(old))
    assert [str(v) for v in found] == [
        "field 'name' on InstagramBusinessAsset/owned_instagram_assets",
        "field 'owner_business' on InstagramBusinessAsset/owned_instagram_assets",
    ]
