"""How fast and how frugally Bastion imports a large Business Manager, against Meta's own SDK.

Starts ``bastion simulate meta --scenario large --latency-ms 50`` on a real socket, then:

1. imports the business with Bastion's connector (``MetaConnector.fetch_snapshot``) and prints
   HTTP round trips, Graph operations, wall time and peak RSS, next to the lower bound of Graph
   operations that the scenario's sizes and the connector's page sizes allow;
2. imports it "the obvious way" with the ``facebook-business`` SDK: a cursor over each edge,
   then ``assigned_users`` per asset, sequentially. At 50 ms a call that takes minutes, so the
   per-asset part is timed over a sample of assets and extrapolated (the table says so).

Targets (issue 4): Graph operations ≤ 1.3 × lower bound, wall time ≤ 20 s, peak RSS ≤ 400 MB,
and Bastion at least 10× faster than the SDK.

    .venv/bin/python benchmarks/meta_import.py [--latency-ms 50] [--sample 150] [--seed 42]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import resource
import socket
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.connectors.meta import MetaConnector
from bastion.connectors.meta.simulator import generate_scenario
from bastion.connectors.meta.sync import (
    ASSET_EDGES,
    INVENTORY_PAGE_SIZE,
    LIST_EDGES,
    NESTED_PAGE_SIZE,
)

ROOT = Path(__file__).resolve().parent.parent
SIM_TYPES = {
    "page": "page",
    "ad_account": "ad_account",
    "catalog": "catalog",
    "pixel": "pixel",
    "instagram_asset": "instagram",
}


@dataclass
class Row:
    name: str
    http_requests: int
    graph_operations: int
    seconds: float
    peak_rss_mb: float | None
    note: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(latency_ms: int, seed: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    port = free_port()
    command = [
        str(ROOT / ".venv" / "bin" / "bastion"),
        "simulate",
        "meta",
        "--scenario",
        "large",
        "--seed",
        str(seed),
        "--latency-ms",
        str(latency_ms),
        "--port",
        str(port),
        "--json",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit("the simulator did not start (no JSON line on stdout)")
    info = json.loads(line)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return process, info


def lower_bound(seed: int) -> tuple[int, str]:
    """Fewest Graph operations a complete import can make against this scenario.

    Cursor paging reads page k+1 only with page k's cursor, so every page of every edge costs one
    operation, at best at the page size the connector asks for (the simulator serves what is
    asked; Meta publishes no caps). Field expansion lets the *first* page of every business
    edge (and of each asset's ``assigned_users`` / ``agencies`` inside it) ride on one read of the
    business node. So: 1 + for each business edge its pages beyond the first + for each asset its
    nested pages beyond the first. (Reading each edge separately instead would add one per edge.)
    """
    scenario = generate_scenario("large", seed=seed)
    sizes: Counter[str] = Counter()
    sizes["business_users"] = len(scenario.people)
    sizes["pending_users"] = sum(1 for i in scenario.invitations if i.status == "PENDING")
    sizes["system_users"] = len(scenario.system_users)
    sizes["agencies"] = sum(1 for p in scenario.partners if p.relation == "agency")
    sizes["clients"] = sum(1 for p in scenario.partners if p.relation == "client")
    for edge in ASSET_EDGES:
        sizes[edge.edge] = sum(
            1
            for a in scenario.assets
            if a.type == SIM_TYPES[edge.type] and a.ownership == edge.ownership
        )
    page_sizes = {edge: size for edge, (_, size) in LIST_EDGES.items()}
    page_sizes |= {edge.edge: INVENTORY_PAGE_SIZE for edge in ASSET_EDGES}
    operations = 1
    for edge, count in sizes.items():
        operations += max(0, math.ceil(count / page_sizes[edge]) - 1)
    nested_cap = NESTED_PAGE_SIZE
    per_asset: Counter[str] = Counter(a.asset_id for a in scenario.assignments)
    per_asset_agencies: Counter[str] = Counter(p.asset_id for p in scenario.partner_access)
    follow_ups = sum(max(0, math.ceil(n / nested_cap) - 1) for n in per_asset.values())
    follow_ups += sum(max(0, math.ceil(n / nested_cap) - 1) for n in per_asset_agencies.values())
    operations += follow_ups
    detail = (
        f"{len(scenario.people)} people, {sizes['pending_users']} invitations, "
        f"{len(scenario.system_users)} system users, {len(scenario.assets)} assets, "
        f"{len(scenario.assignments)} assignments, {len(scenario.partners)} partners; "
        f"{follow_ups} nested follow-up pages"
    )
    return operations, detail


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def bastion_import(info: dict[str, str]) -> Row:
    started = time.perf_counter()
    async with MetaConnector(
        token=info["token"],
        business_id=info["business_id"],
        app_id=info["app_id"],
        base_url=info["base_url"],
        timeout=60.0,
    ) as meta:
        snapshot = await meta.fetch_snapshot()
    seconds = time.perf_counter() - started
    return Row(
        "Bastion (httpx, batch, expansion, 8 concurrent)",
        snapshot.http_requests,
        snapshot.graph_operations,
        seconds,
        peak_rss_mb(),
        f"{len(snapshot.accounts)} accounts, {len(snapshot.assets)} assets, "
        f"{len(snapshot.grants)} grants",
    )


def sdk_import(info: dict[str, str], sample: int, seed: int) -> Row:
    """Meta's SDK used the obvious way: cursors over each edge, then assignments per asset."""
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.adobjects.adspixel import AdsPixel
    from facebook_business.adobjects.business import Business
    from facebook_business.adobjects.instagrambusinessasset import InstagramBusinessAsset
    from facebook_business.adobjects.page import Page
    from facebook_business.adobjects.productcatalog import ProductCatalog
    from facebook_business.api import FacebookAdsApi

    api = FacebookAdsApi.init(access_token=info["token"], api_version="v25.0", crash_log=False)
    api._session.GRAPH = info["base_url"].rstrip("/")
    business = Business(info["business_id"], api=api)
    started = time.perf_counter()
    list(business.get_business_users(fields=["id", "name", "email", "role"]))
    list(business.get_pending_users(fields=["id", "email", "role", "status"]))
    list(business.get_system_users(fields=["id", "name", "role"]))
    list(business.get_agencies(fields=["id", "name"]))
    list(business.get_clients(fields=["id", "name"]))
    listings: list[tuple[Any, Any]] = [
        (business.get_owned_pages, Page),
        (business.get_client_pages, Page),
        (business.get_owned_ad_accounts, AdAccount),
        (business.get_client_ad_accounts, AdAccount),
        (business.get_owned_product_catalogs, ProductCatalog),
        (business.get_client_product_catalogs, ProductCatalog),
        (business.get_owned_pixels, AdsPixel),
        (business.get_client_pixels, AdsPixel),
        (business.get_owned_instagram_assets, InstagramBusinessAsset),
        (business.get_client_instagram_assets, InstagramBusinessAsset),
    ]
    assets: list[tuple[Any, str]] = []
    for listing, cls in listings:
        # Meta's InstagramBusinessAsset has no name: its handle is ig_username.
        names = ["id", "ig_username"] if cls is InstagramBusinessAsset else ["id", "name"]
        assets.extend((cls, node["id"]) for node in listing(fields=names))
    edges_done = time.perf_counter()
    edge_requests = api._num_requests_attempted
    chosen = random.Random(seed).sample(assets, min(sample, len(assets)))
    for cls, asset_id in chosen:
        list(
            # ``tasks`` is a field the edge adds, absent from the SDK's AssignedUser: asked for
            # as a plain parameter so the SDK does not warn.
            cls(asset_id, api=api).get_assigned_users(
                params={"business": info["business_id"], "fields": "id,name,tasks"}
            )
        )
    sampled = time.perf_counter() - edges_done
    per_asset_requests = (api._num_requests_attempted - edge_requests) / max(1, len(chosen))
    scale = len(assets) / max(1, len(chosen))
    seconds = (edges_done - started) + sampled * scale
    requests = edge_requests + round(per_asset_requests * len(assets))
    extrapolated = len(chosen) < len(assets)
    note = (
        f"edges measured in full ({edge_requests} calls, {edges_done - started:.1f} s); "
        f"assigned_users measured on {len(chosen)} of {len(assets)} assets and extrapolated"
        if extrapolated
        else "measured in full"
    )
    # No RSS for the SDK: it runs in the same process after Bastion's import, so the process peak
    # would not be its own.
    return Row("facebook-business SDK, sequential", requests, requests, seconds, None, note)


def print_table(rows: list[Row], bound: int, bound_detail: str, latency_ms: int) -> None:
    print(f"Meta import, scenario large, {latency_ms} ms latency per request, real socket")
    print(f"Lower bound of Graph operations: {bound} ({bound_detail})")
    header = (
        f"{'client':<48} {'HTTP':>7} {'Graph ops':>10} {'ops/bound':>9} {'wall s':>8} "
        f"{'peak RSS MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rss = f"{row.peak_rss_mb:.0f}" if row.peak_rss_mb is not None else "-"
        ratio = row.graph_operations / bound
        print(
            f"{row.name:<48} {row.http_requests:>7} {row.graph_operations:>10} {ratio:>9.2f} "
            f"{row.seconds:>8.1f} {rss:>11}"
        )
        if row.note:
            print(f"    {row.note}")
    bastion, sdk = rows[0], rows[1]
    print(f"Speed-up, SDK wall time / Bastion wall time: {sdk.seconds / bastion.seconds:.1f}x")
    checks = [
        ("Graph ops <= 1.3 x lower bound", bastion.graph_operations <= 1.3 * bound),
        ("wall time <= 20 s", bastion.seconds <= 20),
        ("peak RSS <= 400 MB", (bastion.peak_rss_mb or 0) <= 400),
        ("at least 10x faster than the SDK", sdk.seconds >= 10 * bastion.seconds),
    ]
    for label, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--sample", type=int, default=150, help="assets timed for the SDK")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    process, info = start_simulator(args.latency_ms, args.seed)
    try:
        # Bastion first, so the peak RSS it reports is the import's, not the SDK's or the
        # in-process scenario generation below.
        bastion_row = asyncio.run(bastion_import(info))
        bound, bound_detail = lower_bound(args.seed)
        with warnings.catch_warnings():
            # The SDK warns about fields its generated code does not list (e.g. ``tasks``).
            warnings.simplefilter("ignore", UserWarning)
            sdk_row = sdk_import(info, args.sample, args.seed)
    finally:
        process.terminate()
        process.wait(timeout=10)
    print_table([bastion_row, sdk_row], bound, bound_detail, args.latency_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
