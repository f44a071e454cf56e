"""Counters of the Graph client's requests and rate-limit waits, in this process."""

from __future__ import annotations

from prometheus_client import Counter

from bastion.metrics import REGISTRY

GRAPH_REQUESTS = Counter(
    "bastion_graph_requests",
    "HTTP requests sent to Meta's Graph API, by method and answer (a batch counts once)",
    ["method", "status"],
    registry=REGISTRY,
)
GRAPH_RATE_LIMIT_WAITS = Counter(
    "bastion_graph_rate_limit_waits",
    "Times the Graph client waited out a rate limit before asking again",
    registry=REGISTRY,
)
GRAPH_RATE_LIMIT_WAIT_SECONDS = Counter(
    "bastion_graph_rate_limit_wait_seconds",
    "Seconds the Graph client spent waiting out rate limits",
    registry=REGISTRY,
)
GRAPH_RATE_LIMITED = Counter(
    "bastion_graph_rate_limited",
    "Graph answers that were a rate limit (waited out or deferred)",
    registry=REGISTRY,
)
