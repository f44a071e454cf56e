"""A full check of the `large` business, measured against the network's floor in the same run.

The floor is the longest cursor chain: a bare client that only follows the people cursor
(``business_users``, 100 a page) against the same simulator, with nothing else running. Every
check's wall time is printed as a ratio to the floor measured just before it, so figures taken on
a busy machine stay comparable (both sides slow down together).

Targets (issue 17, `large` at 50 ms): first check ≤ 1.5× the floor on SQLite and ≤ 1.7× on
PostgreSQL; an unchanged re-check ≤ 1.2× on SQLite, writing no Change; peak RSS ≤ 150 MB; Graph
operations at the minimum (57 for `large`).

The simulator runs in its own process over a real socket; each check runs in a fresh child process
so its peak RSS is its own, after the start-up `bastion worker` does once (connectors, trust
store, frozen objects). The table's first line times a fixed Python loop: the floor is the
network's, the rest of a check is CPU, so a slower machine reads higher ratios.

Run: .venv/bin/python benchmarks/check.py [--postgres postgresql://…/db] [--latencies 0,50,200]
     [--scale 1] [--no-recheck]
(PostgreSQL also comes from BASTION_TEST_DATABASE_URL; that database is emptied first.)
``--scale N`` multiplies every size of the `large` business by N (benchmarks/scale.py uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text

from bastion.security.vault import new_key_entry

TABLES = ("accounts", "assets", "grants", "partners", "partner_grants", "changes", "app_members")
FLOOR_REPEATS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scaled_knobs(scale: float) -> dict[str, int]:
    """The `large` preset's sizes times ``scale`` (partners and system users too)."""
    from bastion.connectors.meta.simulator.generator import PRESETS

    large = PRESETS["large"]
    return {f.name: max(1, round(getattr(large, f.name) * scale)) for f in fields(large)}


def scenario(scale: float) -> Any:
    from bastion.connectors.meta.simulator import generate_scenario

    return generate_scenario("large", **(scaled_knobs(scale) if scale != 1 else {}))


@dataclass
class Sim:
    process: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    def set_latency(self, ms: int) -> None:
        httpx.post(f"{self.base_url}/_sim/latency", json={"ms": ms}, timeout=30).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_simulator(scale: float) -> Sim:
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", "simulate", "--scale", str(scale)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{info['base_url']}/_sim/info", timeout=2)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return Sim(process, info)


def child_simulate(args: argparse.Namespace) -> None:
    import uvicorn

    from bastion.connectors.meta.simulator import Simulator, create_simulator_app

    simulator = Simulator(scenario(args.scale))
    # The business lives as long as the process: kept out of the collector's walks, as
    # `bastion serve` does with what it loads at start.
    gc.collect()
    gc.freeze()
    port = free_port()
    details = {
        "base_url": f"http://127.0.0.1:{port}",
        "business_id": simulator.business_id,
        "app_id": simulator.app_id,
        "token": simulator.token,
    }
    print(json.dumps(details), flush=True)
    uvicorn.run(create_simulator_app(simulator), host="127.0.0.1", port=port, log_level="warning")


async def _follow_people(sim: Sim) -> tuple[float, int]:
    from bastion.connectors.meta.sync import LIST_PAGE_SIZE, PERSON_FIELDS

    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {sim.info['token']}"}, timeout=60
    ) as client:
        started = time.perf_counter()
        url: str | None = f"{sim.base_url}/v25.0/{sim.info['business_id']}/business_users"
        params: dict[str, str] | None = {"fields": PERSON_FIELDS, "limit": str(LIST_PAGE_SIZE)}
        pages = 0
        while url:
            response = await client.get(url, params=params)
            response.raise_for_status()
            pages += 1
            url, params = response.json().get("paging", {}).get("next"), None
        return time.perf_counter() - started, pages


def measure_floor(sim: Sim) -> tuple[float, int]:
    """The people cursor alone, best of a few tries: the least any full read can take."""
    runs = [asyncio.run(_follow_people(sim)) for _ in range(FLOOR_REPEATS)]
    return min(r[0] for r in runs), runs[0][1]


def child_env(data_dir: Path, database_url: str, keys: str, graph_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update(
        BASTION_DATA_DIR=str(data_dir),
        BASTION_DATABASE_URL=database_url,
        BASTION_SECRET_KEYS=keys,
        BASTION_GRAPH_URL=graph_url,
        BASTION_LOG_LEVEL="warning",
    )
    return env


def prepare(env: dict[str, str], sim: Sim, data_dir: Path, scale: float) -> None:
    """Migrate, create the workspace and admin, import the directory, connect the app."""
    subprocess.run(
        [sys.executable, "-m", "bastion", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "setup",
            "--scale",
            str(scale),
            "--token",
            sim.info["token"],
            "--business",
            sim.info["business_id"],
            "--app",
            sim.info["app_id"],
            "--directory",
            str(data_dir / "directory.csv"),
        ],
        env=env,
        check=True,
    )
    subprocess.run(
        [sys.executable, "-m", "bastion", "directory", "import", str(data_dir / "directory.csv")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def timed_check(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "check"],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.stderr.write(out.stderr)
        out.check_returncode()
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def child_setup(args: argparse.Namespace) -> None:
    from bastion.actions.actors import Actor
    from bastion.actions.apps import ConnectRequest, connect_app
    from bastion.actions.workspaces import bootstrap_installation
    from bastion.runtime import Runtime
    from bastion.settings import load_settings

    scenario(args.scale).write_directory(Path(args.directory).parent)
    runtime = Runtime.from_settings(load_settings())
    with runtime.sessions.begin() as session:
        boot = bootstrap_installation(session, admin_email="admin@example.com")
        connect_app(
            session,
            runtime.require_key_ring(),
            runtime.connector_options,
            workspace_id=boot.workspace.id,
            request=ConnectRequest(
                kind="meta_business",
                label="Large business",
                token=args.token,
                settings={"business_id": args.business, "app_id": args.app},
                login_method="sso",
            ),
            actor=Actor.user(boot.admin.id),
        )


def child_check() -> None:
    from bastion.actions.actors import Actor
    from bastion.actions.checks import run_check
    from bastion.runtime import Runtime, freeze_startup_objects
    from bastion.settings import load_settings
    from bastion.storage.models import App
    from bastion.storage.models.enums import RunTrigger

    runtime = Runtime.from_settings(load_settings())
    # A check as `bastion worker` runs one: its start-up (connectors, trust store, frozen
    # objects) done once before the first job.
    freeze_startup_objects()
    with runtime.sessions() as session:
        app = session.scalars(select(App)).one()
        before = {t: session.scalar(select(func.count()).select_from(text(t))) for t in TABLES}
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    run = run_check(
        runtime,
        workspace_id=app.workspace_id,
        app_id=app.id,
        trigger=RunTrigger.MANUAL,
        actor=Actor.system("benchmark"),
    )
    wall = time.perf_counter() - started
    with runtime.sessions() as session:
        after = {t: session.scalar(select(func.count()).select_from(text(t))) for t in TABLES}
    rows = sum((after[t] or 0) - (before[t] or 0) for t in TABLES)
    print(
        json.dumps(
            {
                "state": run.state.value,
                "wall": wall,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "base_rss_mb": base_rss,
                "rows_added": rows,
                "changes": run.counts.get("changes", 0),
                "accounts": run.counts.get("accounts", 0),
                "grants": run.counts.get("grants", 0),
                "graph_operations": run.graph_operations,
            }
        )
    )


def reset_postgres(url: str) -> None:
    from bastion.storage.db import make_engine

    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@dataclass
class Row:
    database: str
    latency_ms: int
    run: str
    floor: float
    result: dict[str, Any]

    @property
    def ratio(self) -> float:
        return float(self.result["wall"]) / self.floor if self.floor > 0 else float("nan")


def run_backend(
    sim: Sim,
    name: str,
    url: str | None,
    latency_ms: int,
    scale: float,
    *,
    recheck: bool = True,
) -> list[Row]:
    """Prepare a fresh database, then time a first check (and a re-check), each after a floor."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        if url is None:
            url = f"sqlite:///{data_dir / 'bastion.db'}"
        else:
            reset_postgres(url)
        env = child_env(data_dir, url, new_key_entry("bench"), sim.base_url)
        sim.set_latency(0)
        prepare(env, sim, data_dir, scale)
        runs = ["first check"] + (["unchanged re-check"] if recheck else [])
        for label in runs:
            sim.set_latency(latency_ms)
            floor, _pages = measure_floor(sim)
            rows.append(Row(name, latency_ms, label, floor, timed_check(env)))
    return rows


def machine_speed() -> float:
    """Seconds a fixed pure-Python loop takes here, best of three: the floor is the network's, but
    the rest of a check is CPU, so ratios from machines of different speeds differ by this."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(10**7))
        best = min(best, time.perf_counter() - started)
    return best


def print_rows(rows: list[Row], scale: float, speed: float) -> None:
    print(f"\nlarge scenario × {scale:g}; ratio = check's wall time / the people cursor alone")
    print(f"machine: the reference loop (sum of 10⁷ squares) took {speed:.2f} s")
    header = (
        f"{'database':<11} {'latency':>7} {'run':<19} {'state':<10} {'floor s':>7} "
        f"{'check s':>7} {'ratio':>6} {'peak MB':>7} {'rows added':>10} {'changes':>7} "
        f"{'accounts':>8} {'grants':>7} {'graph ops':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        r = row.result
        print(
            f"{row.database:<11} {row.latency_ms:>5}ms {row.run:<19} {r['state']:<10} "
            f"{row.floor:>7.2f} {r['wall']:>7.2f} {row.ratio:>6.2f} {r['rss_mb']:>7.0f} "
            f"{r['rows_added']:>10} {r['changes']:>7} {r['accounts']:>8} {r['grants']:>7} "
            f"{r['graph_operations']:>9}"
        )
    print(
        "targets at 50 ms: first check ≤ 1.5× (SQLite), ≤ 1.7× (PostgreSQL); re-check ≤ 1.2× "
        "with 0 changes; ≤ 150 MB; graph ops = the minimum (57 for large × 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["setup", "check", "simulate"])
    parser.add_argument("--token")
    parser.add_argument("--business")
    parser.add_argument("--app")
    parser.add_argument("--directory")
    parser.add_argument("--postgres", default=os.environ.get("BASTION_TEST_DATABASE_URL"))
    parser.add_argument("--latencies", default="50", help="comma-separated, e.g. 0,50,200")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-recheck", action="store_true")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if args.child == "setup":
        child_setup(args)
        return
    if args.child == "check":
        child_check()
        return
    if args.child == "simulate":
        child_simulate(args)
        return

    latencies = [int(x) for x in args.latencies.split(",") if x.strip()]
    speed = machine_speed()
    sim = start_simulator(args.scale)
    rows: list[Row] = []
    try:
        backends = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
        for latency in latencies:
            for name, url in backends:
                rows += run_backend(
                    sim, name, url, latency, args.scale, recheck=not args.no_recheck
                )
    finally:
        sim.stop()
    print_rows(rows, args.scale, speed)
    if args.json:
        Path(args.json).write_text(
            json.dumps([{**vars(replace(r)), "ratio": r.ratio} for r in rows], indent=1)
        )


if __name__ == "__main__":
    main()
