"""Bastion's in-process Prometheus instruments, on one registry that ``GET /metrics`` serves
(``bastion.metrics_endpoint``) beside the gauges it reads from the database at scrape time.

Counters and histograms here count what this process did (HTTP requests it answered, calls it
made to an app's API); a scrape of one web process does not see another process's. What has
to be right across processes (operations, queues, deliveries, checks) is read from the
database instead.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUEST_SECONDS = Histogram(
    "bastion_http_request_duration_seconds",
    "Time to answer an HTTP request, by interface (web, api, scim, metrics, health, static)",
    ["interface", "method", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SCIM_REQUESTS = Counter(
    "bastion_scim_requests",
    "SCIM requests from identity providers, by method and answer",
    ["method", "status"],
    registry=REGISTRY,
)
