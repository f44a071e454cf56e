"""The whole app served on a loopback port, with an API token per role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token
from bastion.storage.models.enums import TokenKind
from tests.checks.conftest import World
from tests.members.member_world import Cast


@dataclass
class Api:
    client: httpx.Client
    tokens: dict[str, str]

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def role_tokens(world: World, cast: Cast) -> dict[str, str]:
    tokens = {}
    with world.runtime.sessions.begin() as session:
        for role in ("admin", "owner", "collaborator", "member", "guest"):
            tokens[role] = create_token(
                session,
                workspace_id=world.workspace_id,
                kind=TokenKind.API,
                name=f"{role} script",
                actor=Actor.system("tests"),
                user_id=getattr(cast, role),
            ).token
    return tokens


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
