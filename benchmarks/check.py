"""Full check of the `large` business at 50 ms simulated latency, on SQLite and PostgreSQL.

Targets: first check ≤ 45 s and ≤ 600 MB peak RSS; an unchanged re-check ≤ 30 s that writes no
Change rows. The simulator runs as `bastion simulate meta` over a real socket; each check runs
in a fresh child process so its peak RSS is its own.

Run: .venv/bin/python benchmarks/check.py [--postgres postgresql://…/db] [--latency-ms 50]
(PostgreSQL also comes from BASTION_TEST_DATABASE_URL; the database is emptied first.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from bastion.security.vault import new_key_entry

TABLES = ("accounts", "assets", "grants", "partners", "partner_grants", "changes", "app_members")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(latency_ms: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bastion",
            "simulate",
            "meta",
            "--scenario",
            "large",
            "--latency-ms",
            str(latency_ms),
            "--port",
            str(port),
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{info['base_url']}/_sim/info", timeout=2)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return process, info


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


def prepare(env: dict[str, str], sim: dict[str, str], data_dir: Path) -> None:
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
            "--token",
            sim["token"],
            "--business",
            sim["business_id"],
            "--app",
            sim["app_id"],
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


def timed_check(env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "check"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_setup(args: argparse.Namespace) -> None:
    from bastion.actions.actors import Actor
    from bastion.actions.apps import ConnectRequest, connect_app
    from bastion.actions.workspaces import bootstrap_installation
    from bastion.connectors.meta.simulator import generate_scenario
    from bastion.runtime import Runtime
    from bastion.settings import load_settings

    generate_scenario("large").write_directory(Path(args.directory).parent)
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
    from bastion.runtime import Runtime
    from bastion.settings import load_settings
    from bastion.storage.models import App
    from bastion.storage.models.enums import RunTrigger

    runtime = Runtime.from_settings(load_settings())
    with runtime.sessions() as session:
        app = session.scalars(select(App)).one()
        before = {t: session.scalar(select(func.count()).select_from(text(t))) for t in TABLES}
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["setup", "check"])
    parser.add_argument("--token")
    parser.add_argument("--business")
    parser.add_argument("--app")
    parser.add_argument("--directory")
    parser.add_argument("--postgres", default=os.environ.get("BASTION_TEST_DATABASE_URL"))
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    if args.child == "setup":
        child_setup(args)
        return
    if args.child == "check":
        child_check()
        return

    simulator, sim = start_simulator(args.latency_ms)
    rows: list[tuple[str, str, dict[str, float]]] = []
    try:
        backends = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
        for name, url in backends:
            with tempfile.TemporaryDirectory() as tmp:
                data_dir = Path(tmp)
                if url is None:
                    url = f"sqlite:///{data_dir / 'bastion.db'}"
                else:
                    reset_postgres(url)
                env = child_env(data_dir, url, new_key_entry("bench"), sim["base_url"])
                prepare(env, sim, data_dir)
                rows.append((name, "first check", timed_check(env)))
                rows.append((name, "unchanged re-check", timed_check(env)))
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)

    print(f"\nlarge scenario, {args.latency_ms} ms latency per Graph request")
    header = (
        f"{'database':<11} {'run':<19} {'state':<10} {'seconds':>8} {'peak MB':>8} "
        f"{'rows added':>10} {'changes':>8} {'accounts':>8} {'grants':>7} {'graph ops':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, label, r in rows:
        print(
            f"{name:<11} {label:<19} {r['state']:<10} {r['wall']:>8.1f} {r['rss_mb']:>8.0f} "
            f"{r['rows_added']:>10} {r['changes']:>8} {r['accounts']:>8} {r['grants']:>7} "
            f"{r['graph_operations']:>9}"
        )
    print("targets: first check ≤ 45 s and ≤ 600 MB; re-check ≤ 30 s with 0 changes")


if __name__ == "__main__":
    main()
