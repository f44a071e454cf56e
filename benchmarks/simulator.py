"""How fast the Graph API simulator serves, and how much memory the ``large`` scenario holds.

Prints a table: requests/s for simple GETs served in-process at zero latency, measured two ways
(the ASGI app called directly, and through ``httpx.ASGITransport`` as the tests and the connector
do), plus the generation time and resident memory of the ``large`` scenario.
Targets: >= 2,000 simple GETs/s; ``large`` < 200 MB.

Run: ``.venv/bin/python benchmarks/simulator.py [--requests N]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

import httpx
import psutil

from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario


def rss_mb() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / 1_048_576


async def direct_asgi(app: Any, path: str, query: bytes, count: int) -> float:
    """Requests/s calling the ASGI app directly (no HTTP client overhead)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"sim")],
        "server": ("sim", 80),
        "client": ("127.0.0.1", 1234),
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
    elapsed = time.perf_counter() - started
    assert set(statuses) == {200}, set(statuses)
    return count / elapsed


async def through_httpx(app: Any, path: str, params: dict[str, str], count: int) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim") as c:
        started = time.perf_counter()
        for _ in range(count):
            response = await c.get(path, params=params)
            assert response.status_code == 200
        return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()

    baseline = rss_mb()
    started = time.perf_counter()
    scenario = generate_scenario("large", seed=42)
    generated = time.perf_counter() - started
    simulator = Simulator(scenario)
    del scenario
    large_mb = rss_mb() - baseline
    simulator.update_settings(
        business_call_budget=10**9, app_call_budget=10**9, user_call_budget=10**9
    )
    app = create_simulator_app(simulator)
    token = simulator.token
    business = simulator.business_id
    person = next(iter(simulator.state.people))

    rows: list[tuple[str, str]] = [
        (
            "large: people / assets / assignments",
            f"{len(simulator.state.people):,} / "
            f"{len(simulator.state.assets):,} / "
            f"{sum(len(h) for h in simulator.state.asset_users.values()):,}",
        ),
        ("large: generate + load (s)", f"{generated:.2f}"),
        ("large: resident memory (MB, target < 200)", f"{large_mb:.0f}"),
    ]
    cases = [
        ("GET /{business_id}", f"/v25.0/{business}", "fields=id,name"),
        ("GET /{person_id}", f"/v25.0/{person}", "fields=id,name,email,role"),
        (
            "GET /{business}/business_users limit=100",
            f"/v25.0/{business}/business_users",
            "fields=id,name,email,role&limit=100",
        ),
    ]
    for label, path, query in cases:
        full_query = f"{query}&access_token={token}".encode()
        rate = asyncio.run(direct_asgi(app, path, full_query, args.requests))
        rows.append((f"{label}: req/s direct ASGI (target >= 2,000)", f"{rate:,.0f}"))
    params = {"fields": "id,name", "access_token": token}
    rate = asyncio.run(through_httpx(app, f"/v25.0/{business}", params, args.requests // 2))
    rows.append(("GET /{business_id}: req/s via httpx.ASGITransport", f"{rate:,.0f}"))

    width = max(len(label) for label, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  -----")
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
