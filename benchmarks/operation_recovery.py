"""How soon a killed worker's operation is resumed, with the default lease, and that it is once.

Each run queues one removal and lets a `bastion worker` send the DELETE; Meta (the simulator,
over a real socket) removes the person at once and holds its answer, a second worker starts
(another machine, already running by the time it matters), and the first is killed with SIGKILL
after Meta acted and before Bastion recorded it. The figure is the time from the kill until the
operation is no longer running; each resumed removal must end `already_done`, with no second
DELETE in the simulator's request log.

Run: .venv/bin/python benchmarks/operation_recovery.py [--runs 3] [--postgres postgresql://…/db]
(the PostgreSQL database is emptied first; the queue then lives in it too).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from bastion.security.vault import new_key_entry

HELD_ANSWER_SECONDS = 20.0  # below the worker's 30 s Graph timeout: it is still waiting when killed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    port = free_port()
    command = [sys.executable, "-m", "bastion", "simulate", "meta", "--port", str(port), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{info['base_url']}/_sim/info", timeout=2)
            return process, info
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bastion", "worker", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("BASTION_TEST_DATABASE_URL"))
    args = parser.parse_args()

    from bastion.actions.actors import Actor
    from bastion.actions.apps import ConnectRequest, connect_app
    from bastion.actions.operations import queue_operation
    from bastion.actions.workspaces import bootstrap_installation
    from bastion.jobs import Jobs
    from bastion.runtime import Runtime
    from bastion.settings import load_settings
    from bastion.storage.db import make_engine
    from bastion.storage.models import App, Operation
    from bastion.storage.models.enums import OperationKind, OperationState
    from bastion.storage.schema import upgrade

    simulator, sim = start_simulator()
    control = httpx.Client(base_url=f"{sim['base_url']}/_sim", timeout=30)
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
        env |= {
            "BASTION_DATA_DIR": str(data_dir),
            "BASTION_SECRET_KEYS": new_key_entry("k1"),
            "BASTION_GRAPH_URL": sim["base_url"],
            "BASTION_LOG_LEVEL": "warning",
        }
        if args.postgres:
            engine = make_engine(args.postgres)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            engine.dispose()
            env["BASTION_DATABASE_URL"] = env["BASTION_QUEUE_URL"] = args.postgres.replace(
                "postgresql+psycopg://", "postgresql://"
            )
        settings = load_settings(env)
        runtime = Runtime.from_settings(settings)
        upgrade(runtime.engine)
        with runtime.sessions.begin() as session:
            boot = bootstrap_installation(session, admin_email="admin@example.com")
            app = connect_app(
                session,
                runtime.require_key_ring(),
                runtime.connector_options,
                workspace_id=boot.workspace.id,
                request=ConnectRequest(
                    kind="meta_business",
                    label="Benchmark business",
                    token=sim["token"],
                    settings={"business_id": sim["business_id"], "app_id": sim["app_id"]},
                    login_method="sso",
                ),
                actor=Actor.user(boot.admin.id),
            )
            app.next_check_at = None  # only the removals below run
            app_id, admin_id = app.id, boot.admin.id
        employees = [
            p["id"] for p in control.get("/state").json()["people"] if p["role"] == "EMPLOYEE"
        ]

        def people() -> set[str]:
            return {p["id"] for p in control.get("/state").json()["people"]}

        def state(operation_id: int) -> Operation:
            with runtime.sessions() as session:
                return session.get_one(Operation, operation_id)

        def deletes() -> int:
            routes = control.get("/requests").json()["by_route"]
            return sum(n for route, n in routes.items() if route.startswith("DELETE"))

        rows = []
        for run, person in enumerate(employees[: args.runs], start=1):
            with runtime.sessions.begin() as session:
                operation_id = queue_operation(
                    session,
                    app=session.get_one(App, app_id),
                    kind=OperationKind.REMOVE,
                    actor=Actor.user(admin_id),
                    target_external_id=person,
                ).id
            fault = {"kind": "slow_answer", "method": "DELETE", "hang_seconds": HELD_ANSWER_SECONDS}
            control.post("/faults", json=fault).raise_for_status()
            before = deletes()
            first = worker(env)
            with Jobs(runtime) as jobs:
                jobs.enqueue_operation(operation_id)
            wait_for(lambda: person not in people(), "Meta never removed the person")  # noqa: B023
            second = worker(env)
            first.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            first.wait()
            recorded = state(operation_id).state != OperationState.RUNNING
            wait_for(
                lambda: state(operation_id).state != OperationState.RUNNING,  # noqa: B023
                "the operation was never resumed",
            )
            resumed_after = time.monotonic() - killed_at
            wait_for(lambda: deletes() > before, "the held DELETE never ended", timeout=60)  # noqa: B023
            stop(second)
            done = state(operation_id)
            rows.append(
                (
                    run,
                    "recorded before the kill!" if recorded else "no",
                    f"{resumed_after:.1f}",
                    done.state.value,
                    (done.result or {}).get("outcome", "-"),
                    done.attempts,
                    deletes() - before,
                )
            )
        stop(simulator)
        runtime.close()

    database = "PostgreSQL" if args.postgres else "SQLite"
    lease = settings.operation_lease_seconds
    print(f"\n{database}, lease {lease:g} s (renewed every {lease / 3:g} s)\n")
    print(
        "| run | recorded before kill | kill → resumed (s) | state | outcome | attempts | DELETEs |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


if __name__ == "__main__":
    main()
