"""Fixtures for the Graph API simulator tests: a small business and a client bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simulator_support import Graph, SyncClient

from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from bastion.connectors.meta.simulator.scenario import Scenario


@pytest.fixture(scope="session")
def small_scenario() -> Scenario:
    return generate_scenario("small", seed=42)


@pytest.fixture
def sim(small_scenario: Scenario) -> Simulator:
    return Simulator(small_scenario)


@pytest.fixture
def client(sim: Simulator) -> Iterator[SyncClient]:
    test_client = SyncClient(create_simulator_app(sim))
    yield test_client
    test_client.close()


@pytest.fixture
def graph(client: SyncClient, sim: Simulator) -> Graph:
    return Graph(client, sim)
