"""SCIM throughput: users created per second, and userName filter latency on a big directory.

Runs in process on a fresh SQLite file and prints a table. Requests go into Bastion's ASGI app
directly (all of its middleware, routing, SCIM parsing, database work and response), one at a
time as an identity provider's sync sends them; the creation rate is also measured through
``httpx.ASGITransport``, whose client side adds its own cost per request.

    .venv/bin/python benchmarks/scim.py [--create 2000] [--directory 100000]

Targets: at least 300 users created per second through POST /Users; a ``userName eq`` filter
under 20 ms with 100,000 users in the workspace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.actions.workspaces import create_workspace
from bastion.app import create_app
from bastion.runtime import Runtime, freeze_startup_objects
from bastion.settings import load_settings
from bastion.storage.db import make_engine, make_session_factory, transaction
from bastion.storage.models import User, UserEmail, utcnow
from bastion.storage.models.enums import TokenKind, UserSource, UserStatus, WorkspaceRole
from bastion.storage.schema import upgrade

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def setup(folder: Path) -> tuple[Runtime, int, str]:
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    runtime = Runtime(load_settings({}, data_dir=folder), engine, make_session_factory(engine))
    with transaction(runtime.sessions) as session:
        workspace = create_workspace(session, name="Bench", slug="bench", actor=Actor.cli())
        token = create_token(
            session, workspace_id=workspace.id, kind=TokenKind.SCIM, name="bench", actor=Actor.cli()
        )
    return runtime, workspace.id, token.token


def fill_directory(runtime: Runtime, workspace_id: int, total: int, batch: int = 5000) -> None:
    """Bulk rows straight into the tables: only the lookup is measured, not the loading."""
    now = utcnow()
    with runtime.engine.begin() as connection:
        for start in range(0, total, batch):
            rows = [
                {
                    "workspace_id": workspace_id,
                    "user_name": f"bulk{n}@example.com",
                    "user_name_key": f"bulk{n}@example.com",
                    "email": f"bulk{n}@example.com",
                    "email_key": f"bulk{n}@example.com",
                    "display_name": f"Bulk {n}",
                    "source": UserSource.SCIM,
                    "status": UserStatus.ACTIVE,
                    "role": WorkspaceRole.MEMBER,
                    "must_change_password": False,
                    "scim_attributes": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(start, min(start + batch, total))
            ]
            ids = connection.execute(insert(User).returning(User.id), rows).scalars().all()
            connection.execute(
                insert(UserEmail),
                [
                    {
                        "workspace_id": workspace_id,
                        "user_id": user_id,
                        "email": row["email"],
                        "email_key": row["email_key"],
                        "type": "work",
                        "primary": True,
                    }
                    for user_id, row in zip(ids, rows, strict=True)
                ],
            )


class AsgiClient:
    """Requests straight into the ASGI app: the whole server path, no HTTP client's own cost."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.headers = [
            (b"host", b"bench"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/scim+json"),
        ]

    async def request(
        self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None
    ) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": f"/scim/v2{path}",
            "raw_path": f"/scim/v2{path}".encode(),
            "query_string": urlencode(query or {}).encode(),
            "headers": [*self.headers, (b"content-length", str(len(payload)).encode())],
            "server": ("bench", 80),
            "client": ("127.0.0.1", 1234),
            "root_path": "",
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        status, chunks = 0, []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def new_user(n: int, prefix: str) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": f"{prefix}{n}@example.com",
        "name": {"givenName": "New", "familyName": str(n)},
        "emails": [{"value": f"{prefix}{n}@example.com", "type": "work", "primary": True}],
        "externalId": f"{prefix}-{n}",
        "active": True,
    }


async def run(create: int, directory: int) -> list[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        runtime, workspace_id, token = setup(Path(tmp))
        app = create_app(runtime)
        freeze_startup_objects()  # as `bastion serve` does before it takes requests
        scim = AsgiClient(app, token)

        started = time.perf_counter()
        for n in range(create):
            status, body = await scim.request("POST", "/Users", body=new_user(n, "new"))
            assert status == 201, body
        rate = create / (time.perf_counter() - started)

        # The same requests through httpx's in-process transport, which adds its own cost.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench/scim/v2",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            started = time.perf_counter()
            for n in range(create):
                response = await client.post("/Users", json=new_user(n, "httpx"))
                assert response.status_code == 201, response.text
            httpx_rate = create / (time.perf_counter() - started)

        fill_directory(runtime, workspace_id, directory)
        latencies = {}
        for label, query in (
            ("userName eq", 'userName eq "BULK{n}@example.com"'),
            (
                "emails[type eq work].value eq",
                'emails[type eq "work"].value eq "bulk{n}@example.com"',
            ),
            ("externalId eq (miss)", 'externalId eq "none-{n}"'),
        ):
            timings = []
            for n in range(0, directory, max(1, directory // 200)):
                t0 = time.perf_counter()
                status, body = await scim.request(
                    "GET", "/Users", query={"filter": query.format(n=n)}
                )
                timings.append((time.perf_counter() - t0) * 1000)
                assert status == 200, body
                assert json.loads(body)["totalResults"] == (0 if "miss" in label else 1)
            latencies[label] = timings
        runtime.close()
    total = directory + 2 * create
    rows = [
        ("users created per second (POST /Users)", f"{rate:,.0f}", "≥ 300"),
        ("  the same through httpx.ASGITransport", f"{httpx_rate:,.0f}", ""),
    ]
    for label, timings in latencies.items():
        p50 = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[-1]
        target = "< 20 ms" if label == "userName eq" else ""
        rows.append(
            (
                f"filter {label}, {total:,} users",
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                target,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--create", type=int, default=2000, help="users to create through SCIM")
    parser.add_argument("--directory", type=int, default=100_000, help="users in the directory")
    args = parser.parse_args()
    table = Table("measure", "result", "target", title="SCIM on SQLite, in process")
    for row in asyncio.run(run(args.create, args.directory)):
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
