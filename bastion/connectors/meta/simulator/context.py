"""What one Graph operation knows while it runs: who calls, when, and how to build URLs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bastion.connectors.meta.simulator.scenario import TokenRecord
from bastion.connectors.meta.simulator.state import BusinessState

if TYPE_CHECKING:
    from bastion.connectors.meta.simulator.simulator import Simulator


@dataclass(slots=True)
class GraphContext:
    sim: Simulator
    state: BusinessState
    now: float
    token: TokenRecord
    base_url: str
    version: str
    params: Mapping[str, Any]
    token_in_params: bool


def graph_time(timestamp: float | None) -> str | None:
    """Meta's datetime format: ``2026-11-16T09:00:00+0000``."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
