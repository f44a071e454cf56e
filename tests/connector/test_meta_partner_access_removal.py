"""Taking one of our assets back from an agency: DELETE /{asset}/agencies?business= once; a
repeat, or a run resumed after a crash, sees the access gone and sends nothing."""

from __future__ import annotations

from typing import Any

import pytest
from meta_harness import ConnectorFactory, perform, run

from bastion.connectors.base import BadRequest, OperationRequest
from bastion.connectors.meta.simulator import Simulator


def _shared(sim: Simulator) -> tuple[str, str]:
    """An agency and an ad account shared with it."""
    agency = str(next(p for p in sim.dump()["partners"] if p["relation"] == "agency")["id"])
    asset = sim.dump()["assets"]["ad_accounts"][0]["id"]
    sim.state.share_asset(asset, agency, ["ANALYZE"])
    return agency, asset


def _deletes(sim: Simulator, asset: str) -> list[dict[str, Any]]:
    path = f"/{asset}/agencies"
    return [
        e for e in sim.request_log.entries(1000) if (e["method"], e["path"]) == ("DELETE", path)
    ]


def test_an_asset_is_taken_back_once_and_the_partnership_stays(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    agency, asset = _shared(sim)
    request = OperationRequest.remove_partner_access(partner_id=agency, asset_id=asset)

    result = perform(connect(), request)

    assert (result.kind, result.outcome, result.external_id) == (
        "remove_partner_access",
        "applied",
        asset,
    )
    assert agency not in sim.state.partner_access.get(asset, {})
    assert agency in sim.state.partners
    assert len(_deletes(sim, asset)) == 1
    assert perform(connect(), request).outcome == "already_done"
    assert len(_deletes(sim, asset)) == 1


def test_a_resumed_access_removal_checks_before_it_acts(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    agency, asset = _shared(sim)
    sim.state.unshare_asset(asset, agency)  # done before the worker died
    sim.request_log.clear()
    request = OperationRequest.remove_partner_access(partner_id=agency, asset_id=asset)

    result = run(connect(), lambda m: m.perform(request, resumed=True))

    assert result.outcome == "already_done"
    assert not _deletes(sim, asset)


def test_an_access_removal_needs_the_asset(connect: ConnectorFactory) -> None:
    with pytest.raises(BadRequest, match="asset id"):
        perform(
            connect(),
            OperationRequest(
                kind="remove_partner_access", partner_external_id="1", partner_relation="agency"
            ),
        )
