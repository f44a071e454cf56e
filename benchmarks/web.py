"""Server time of the Members tab with 10,000 accounts on SQLite: first page, a search, a later
page (target < 150 ms each). Requests go through the whole ASGI app (sessions, CSRF middleware,
templates) in-process, so the figure is the server's time without the network.

Run: .venv/bin/python benchmarks/web.py [--accounts 10000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bastion.actions.actors import Actor
from bastion.actions.users import create_admin
from bastion.actions.workspaces import create_workspace
from bastion.app import create_app
from bastion.runtime import Runtime
from bastion.security.vault import KeyRing, new_key_entry
from bastion.security.web_sessions import create_web_session
from bastion.settings import load_settings
from bastion.storage.models import User
from bastion.storage.schema import upgrade
from tests.web.big_app import seed_big_app

TARGET_MS = 150.0


async def measure(
    app: object, cookie: str, urls: dict[str, str], repeat: int
) -> dict[str, list[float]]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    timings: dict[str, list[float]] = {name: [] for name in urls}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies={"bastion_session": cookie}
    ) as client:
        for name, url in urls.items():
            await client.get(url)  # warm caches and templates
            for _ in range(repeat):
                start = time.perf_counter()
                answer = await client.get(url)
                timings[name].append((time.perf_counter() - start) * 1000)
                assert answer.status_code == 200, answer.status_code
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"BASTION_DATA_DIR": folder})
        runtime = Runtime.from_settings(settings)
        runtime.key_ring = KeyRing.parse(new_key_entry("k1"))
        upgrade(runtime.engine)
        with runtime.sessions.begin() as session:
            workspace = create_workspace(session, name="Bench", slug="bench", actor=Actor.cli())
            admin, _ = create_admin(
                session,
                workspace_id=workspace.id,
                email="a@bench.test",
                name="A",
                actor=Actor.cli(),
            )
            admin.must_change_password = False
            app_id = seed_big_app(session, workspace.id, args.accounts)
            cookie = create_web_session(session, user=session.get_one(User, admin.id)).token
        base = f"/apps/{app_id}/members"
        urls = {
            "first page (Unmatched)": f"{base}?tab=unmatched",
            "search 'person0424'": f"{base}?tab=unmatched&q=person0424",
            "page 60 sorted by e-mail": f"{base}?tab=unmatched&sort=email&page=60",
            "page 30 (Onboarded)": f"{base}?tab=onboarded&page=30",
        }
        timings = asyncio.run(measure(create_app(runtime), cookie, urls, args.repeat))
        runtime.close()
    print(f"Members tab, {args.accounts:,} accounts, SQLite, {args.repeat} requests each")
    print(f"{'request':<30} {'median ms':>10} {'p95 ms':>8} {'target':>8}")
    for name, values in timings.items():
        values.sort()
        p95 = values[int(len(values) * 0.95) - 1]
        verdict = "ok" if statistics.median(values) < TARGET_MS else "SLOW"
        print(f"{name:<30} {statistics.median(values):>10.1f} {p95:>8.1f} {verdict:>8}")


if __name__ == "__main__":
    main()
