"""Asset tasks are changed with exactly the parameters Meta's schema lists, on every asset type.

facebook-business 25.0.3 (``adobjects/``): ``POST /{asset}/assigned_users`` takes ``user`` and
``tasks``; ``DELETE`` takes ``user`` and exists on Pages, ad accounts, catalogs and Instagram
assets but not on pixels, so a pixel's last task is a step for a person in Business Manager.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from meta_harness import ConnectorFactory, perform

from bastion.connectors.base import ManualOnly, OperationRequest
from bastion.connectors.meta import MetaConnector
from bastion.connectors.meta.simulator import Simulator, create_simulator_app

# Per asset group in the simulator's dump: the connector's asset type, a task to keep and one
# to grant then revoke (neither implies the other, so Meta reads back exactly what was set).
ASSET_TYPES = {
    "pages": ("page", "ANALYZE", "MESSAGING"),
    "ad_accounts": ("ad_account", "ANALYZE", "DRAFT"),
    "product_catalogs": ("catalog", "ADVERTISE", "MANAGE_AR"),
    "pixels": ("pixel", "ANALYZE", "UPLOAD"),
    "instagram_assets": ("instagram_asset", "ANALYZE", "MESSAGES"),
}
CREDENTIALS = {"access_token", "appsecret_proof"}


@dataclass(frozen=True)
class SentRequest:
    method: str
    path: str
    params: dict[str, Any]


class RecordingTransport(httpx.AsyncBaseTransport):
    """Keeps what the connector sent (query and JSON body together), then hands it on."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[SentRequest] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        params: dict[str, Any] = dict(request.url.params)
        if body:
            params.update(json.loads(body))
        path = request.url.path.split("/", 2)[-1]  # without the /vNN.0 prefix
        self.sent.append(SentRequest(request.method, path, params))
        return await self.inner.handle_async_request(request)

    def to(self, method: str, path: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in s.params.items() if k not in CREDENTIALS}
            for s in self.sent
            if (s.method, s.path) == (method, path)
        ]


@pytest.fixture
def recorder(sim: Simulator) -> RecordingTransport:
    return RecordingTransport(httpx.ASGITransport(app=create_simulator_app(sim)))


def _person(sim: Simulator) -> str:
    return str(next(p for p in sim.dump()["people"] if p["role"] == "EMPLOYEE")["id"])


def _asset(sim: Simulator, group: str) -> str:
    return str(sim.dump()["assets"][group][0]["id"])


def _tasks(sim: Simulator, asset_id: str, user_id: str) -> list[str] | None:
    for group in sim.dump()["assets"].values():
        for asset in group:
            if asset["id"] == asset_id:
                for holder in asset["assigned_users"]:
                    if holder["user_id"] == user_id:
                        return list(holder["tasks"])
    return None


def _pixel_deletes(sim: Simulator) -> list[dict[str, Any]]:
    pixels = {f"/{a['id']}/assigned_users" for a in sim.dump()["assets"]["pixels"]}
    return [
        e for e in sim.request_log.entries(1000) if e["method"] == "DELETE" and e["path"] in pixels
    ]


@pytest.mark.parametrize("group", [g for g in ASSET_TYPES if g != "pixels"])
def test_tasks_are_granted_and_revoked_with_only_user_and_tasks(
    sim: Simulator, connect: ConnectorFactory, recorder: RecordingTransport, group: str
) -> None:
    asset_type, kept, extra = ASSET_TYPES[group]
    asset, user = _asset(sim, group), _person(sim)
    sim.revoke_tasks(asset_id=asset, user_id=user)

    def meta() -> MetaConnector:
        return connect(transport=recorder)

    def grant(task: str) -> None:
        request = OperationRequest.grant_tasks(
            account_id=user, asset_id=asset, tasks=[task], asset_type=asset_type
        )
        assert perform(meta(), request).outcome == "applied"

    grant(kept)
    grant(extra)
    assert sorted(_tasks(sim, asset, user) or []) == sorted([kept, extra])
    partial = OperationRequest.revoke_tasks(
        account_id=user, asset_id=asset, tasks=[extra], asset_type=asset_type
    )
    assert perform(meta(), partial).tasks == (kept,)
    everything = OperationRequest.revoke_tasks(
        account_id=user, asset_id=asset, asset_type=asset_type
    )
    assert perform(meta(), everything).outcome == "applied"
    assert _tasks(sim, asset, user) is None

    path = f"{asset}/assigned_users"
    posts = recorder.to("POST", path)
    assert [set(p) for p in posts] == [{"user", "tasks"}] * 3
    assert [p["tasks"] for p in posts] == [[kept], sorted([kept, extra]), [kept]]
    assert recorder.to("DELETE", path) == [{"user": user}]
    assert all(g["business"] == sim.business_id for g in recorder.to("GET", path))


def test_taking_a_persons_last_task_on_a_pixel_is_a_manual_step(
    sim: Simulator, connect: ConnectorFactory, recorder: RecordingTransport
) -> None:
    pixel, user = _asset(sim, "pixels"), _person(sim)
    sim.grant_tasks(asset_id=pixel, user_id=user, tasks=["ANALYZE"])
    sim.request_log.clear()
    request = OperationRequest.revoke_tasks(account_id=user, asset_id=pixel, asset_type="pixel")

    with pytest.raises(ManualOnly) as caught:
        perform(connect(transport=recorder), request)

    assert caught.value.disposition == "manual"
    step = caught.value.manual_step
    assert "Business settings > Data sources > Pixels" in step
    assert pixel in step and user in step
    assert sim.state.user_name(user) in step
    assert "run a check" in step
    assert _tasks(sim, pixel, user) == ["ANALYZE"]
    assert not _pixel_deletes(sim)
    assert [s.method for s in recorder.sent] == ["GET"]  # it looked, and changed nothing


def test_revoking_the_named_tasks_that_are_all_a_person_holds_on_a_pixel_is_manual_too(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    pixel, user = _asset(sim, "pixels"), _person(sim)
    sim.grant_tasks(asset_id=pixel, user_id=user, tasks=["ANALYZE", "UPLOAD"])
    request = OperationRequest.revoke_tasks(
        account_id=user, asset_id=pixel, tasks=["ANALYZE", "UPLOAD"], asset_type="pixel"
    )
    with pytest.raises(ManualOnly):
        perform(connect(), request)
    assert sorted(_tasks(sim, pixel, user) or []) == ["ANALYZE", "UPLOAD"]
    assert not _pixel_deletes(sim)


def test_a_pixel_task_can_be_granted_and_taken_back_while_another_stays(
    sim: Simulator, connect: ConnectorFactory, recorder: RecordingTransport
) -> None:
    pixel, user = _asset(sim, "pixels"), _person(sim)
    sim.grant_tasks(asset_id=pixel, user_id=user, tasks=["ANALYZE"])
    grant = OperationRequest.grant_tasks(
        account_id=user, asset_id=pixel, tasks=["UPLOAD"], asset_type="pixel"
    )
    assert perform(connect(transport=recorder), grant).tasks == ("ANALYZE", "UPLOAD")

    revoke = OperationRequest.revoke_tasks(
        account_id=user, asset_id=pixel, tasks=["UPLOAD"], asset_type="pixel"
    )
    result = perform(connect(transport=recorder), revoke)

    assert result.outcome == "applied"
    assert _tasks(sim, pixel, user) == ["ANALYZE"]
    assert recorder.to("POST", f"{pixel}/assigned_users") == [
        {"user": user, "tasks": ["ANALYZE", "UPLOAD"]},
        {"user": user, "tasks": ["ANALYZE"]},
    ]
    assert not _pixel_deletes(sim)


def test_a_pixel_task_nobody_holds_is_already_revoked_without_a_manual_step(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    pixel, user = _asset(sim, "pixels"), _person(sim)
    sim.revoke_tasks(asset_id=pixel, user_id=user)
    request = OperationRequest.revoke_tasks(account_id=user, asset_id=pixel, asset_type="pixel")
    assert perform(connect(), request).outcome == "already_done"
