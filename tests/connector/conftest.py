"""A simulated Business Manager served in-process, and a connector that talks to it.

The connector reaches the simulator through ``httpx.ASGITransport``: real HTTP semantics, no
socket, no real network. Backoff keeps its shape but sleeps are instant, and each wait is kept
so a test can see that the client did wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from meta_harness import BASE_URL, ConnectorFactory, Waits

from bastion.connectors.meta import MetaConnector, RetryPolicy
from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario


@pytest.fixture
def sim() -> Iterator[Simulator]:
    yield Simulator(generate_scenario("small", seed=42))


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def connect(sim: Simulator, waits: Waits) -> ConnectorFactory:
    """Build a connector on the simulator; keyword arguments override the defaults."""
    app = create_simulator_app(sim)

    def factory(**overrides: Any) -> MetaConnector:
        options: dict[str, Any] = {
            "token": sim.token,
            "business_id": sim.business_id,
            "app_id": sim.app_id,
            "base_url": BASE_URL,
            "transport": httpx.ASGITransport(app=app),
            "timeout": 2.0,
            "retry": RetryPolicy(sleep=waits, jitter=lambda: 0.5),
        }
        options.update(overrides)
        return MetaConnector(**options)

    return factory
