"""A running Bastion with two workspaces and a SCIM token each, for the directory tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from anyio.from_thread import BlockingPortal
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.app import create_app
from bastion.runtime import Runtime
from bastion.settings import load_settings
from bastion.storage.db import make_session_factory, transaction
from bastion.storage.models.enums import TokenKind
from tests.factories import make_workspace

SCIM_TYPE = "application/scim+json"


class BlockingASGITransport(httpx.BaseTransport):
    """httpx's ASGITransport, driven from synchronous code (scim2-tester is synchronous).

    Starlette's TestClient does the same but warns without httpx2, and tests run with warnings
    as errors.
    """

    def __init__(self, app: Any, portal: BlockingPortal) -> None:
        self.asgi = httpx.ASGITransport(app=app)
        self.portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[int, httpx.Headers, bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self.asgi.handle_async_request(inner)
            return response.status_code, response.headers, await response.aread()

        status, headers, content = self.portal.call(send)
        return httpx.Response(status, headers=headers, content=content)


@dataclass
class Workspace:
    id: int
    token: str


@dataclass
class Directory:
    """What a directory test works with: two tenants, their tokens, and the database."""

    sessions: sessionmaker[Session]
    runtime: Runtime
    acme: Workspace
    globex: Workspace

    @contextmanager
    def client(self, workspace: Workspace | None, *, bearer: bool = True) -> Iterator[httpx.Client]:
        """A SCIM client for a workspace (None: no credentials at all)."""
        headers = {"Content-Type": SCIM_TYPE}
        if workspace is not None:
            headers["Authorization"] = f"Bearer {workspace.token}" if bearer else workspace.token
        with anyio.from_thread.start_blocking_portal() as portal:
            transport = BlockingASGITransport(create_app(self.runtime), portal)
            with httpx.Client(
                transport=transport, base_url="http://testserver/scim/v2", headers=headers
            ) as client:
                yield client


def _directory(engine: Engine, tmp_path: Path) -> Directory:
    settings = load_settings({}, data_dir=tmp_path, deprovision_check_delay_minutes=5)
    sessions = make_session_factory(engine)
    runtime = Runtime(settings, engine, sessions, None)
    tenants = []
    with transaction(sessions) as session:
        for slug in ("acme", "globex"):
            workspace = make_workspace(session, slug)
            new = create_token(
                session,
                workspace_id=workspace.id,
                kind=TokenKind.SCIM,
                name=f"{slug} okta",
                actor=Actor.cli(),
            )
            tenants.append(Workspace(workspace.id, new.token))
    return Directory(sessions, runtime, tenants[0], tenants[1])


@pytest.fixture
def directory(engine: Engine, tmp_path: Path) -> Directory:
    """On SQLite and on PostgreSQL."""
    return _directory(engine, tmp_path)


@pytest.fixture
def sqlite_directory(sqlite_engine: Engine, tmp_path: Path) -> Directory:
    """On SQLite only, for tests where the backend does not matter."""
    return _directory(sqlite_engine, tmp_path)


@pytest.fixture
def acme(directory: Directory) -> Iterator[httpx.Client]:
    with directory.client(directory.acme) as client:
        yield client
