"""Ending a partnership with an agency or a client business: done once, and a repeat (or a
retry after an unknown outcome) sees it gone and sends nothing."""

from __future__ import annotations

from typing import Any

import pytest
from meta_harness import BASE_URL, ConnectorFactory, DetachedASGITransport, perform, run

from bastion.connectors.base import BadRequest, OperationRequest, PartnerRelation
from bastion.connectors.meta import MetaConnector, RetryPolicy
from bastion.connectors.meta.simulator import Simulator, create_simulator_app

EDGES = {"agency": "agencies", "client": "clients"}


def _partner(sim: Simulator, relation: str) -> str:
    return str(next(p for p in sim.dump()["partners"] if p["relation"] == relation)["id"])


def _deletes(sim: Simulator, relation: str) -> list[dict[str, Any]]:
    path = f"/{sim.business_id}/{EDGES[relation]}"
    return [
        e for e in sim.request_log.entries(1000) if (e["method"], e["path"]) == ("DELETE", path)
    ]


@pytest.mark.parametrize("relation", ["agency", "client"])
def test_removing_a_partner_ends_it_and_a_second_run_is_already_done(
    sim: Simulator, connect: ConnectorFactory, relation: PartnerRelation
) -> None:
    partner_id = _partner(sim, relation)
    request = OperationRequest.remove_partner(partner_id=partner_id, relation=relation)

    result = perform(connect(), request)

    assert (result.kind, result.outcome, result.external_id) == (
        "remove_partner",
        "applied",
        partner_id,
    )
    assert partner_id not in sim.state.partners
    assert len(_deletes(sim, relation)) == 1

    again = perform(connect(), request)
    assert again.outcome == "already_done"
    assert len(_deletes(sim, relation)) == 1


def test_removing_an_agency_keeps_the_client_and_the_other_way_round(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    agency, client = _partner(sim, "agency"), _partner(sim, "client")
    perform(connect(), OperationRequest.remove_partner(partner_id=agency, relation="agency"))
    assert client in sim.state.partners
    perform(connect(), OperationRequest.remove_partner(partner_id=client, relation="client"))
    assert not {agency, client} & set(sim.state.partners)


def test_a_client_is_not_removed_as_an_agency(sim: Simulator, connect: ConnectorFactory) -> None:
    client = _partner(sim, "client")
    result = perform(
        connect(), OperationRequest.remove_partner(partner_id=client, relation="agency")
    )
    # Not among the agencies: nothing to do there, and the client stays.
    assert result.outcome == "already_done"
    assert client in sim.state.partners
    assert not _deletes(sim, "agency")


def test_a_partner_removal_resumed_after_a_crash_checks_before_it_acts(
    sim: Simulator, connect: ConnectorFactory
) -> None:
    agency = _partner(sim, "agency")
    sim.remove_partner(agency)  # the first attempt went through before the worker died
    sim.request_log.clear()
    request = OperationRequest.remove_partner(partner_id=agency, relation="agency")

    result = run(connect(), lambda m: m.perform(request, resumed=True))

    assert result.outcome == "already_done"
    assert not _deletes(sim, "agency")


def test_a_partner_removal_whose_answer_was_lost_is_not_sent_again(sim: Simulator) -> None:
    """The DELETE reaches Meta and is done, but the answer comes after the client gave up."""
    agency = _partner(sim, "agency")
    sim.inject_fault("hang", method="DELETE", path="/agencies", hang_seconds=0.3)
    meta = MetaConnector(
        token=sim.token,
        business_id=sim.business_id,
        app_id=sim.app_id,
        base_url=BASE_URL,
        transport=DetachedASGITransport(create_simulator_app(sim)),
        timeout=0.1,
        # A real (short) backoff, so the lost removal has finished before the connector looks.
        retry=RetryPolicy(base_delay=0.8, jitter=lambda: 0.5),
    )
    request = OperationRequest.remove_partner(partner_id=agency, relation="agency")

    result = perform(meta, request)

    assert result.outcome == "applied"
    assert agency not in sim.state.partners
    assert [e["status"] for e in _deletes(sim, "agency")] == [200]


def test_a_partner_removal_needs_the_partner_and_its_relation(
    connect: ConnectorFactory,
) -> None:
    with pytest.raises(BadRequest, match="relation"):
        perform(connect(), OperationRequest(kind="remove_partner", partner_external_id="1"))
    with pytest.raises(BadRequest, match="partner business id"):
        perform(connect(), OperationRequest(kind="remove_partner", partner_relation="agency"))
