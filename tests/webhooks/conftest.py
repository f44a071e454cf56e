"""Webhooks against a real receiver: an http.server on loopback in a thread, and the checks'
world (the simulator, a directory, a connected app) with http:// to loopback allowed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bastion.actions.actors import Actor
from bastion.actions.webhooks import NewEndpoint, create_endpoint
from bastion.runtime import Runtime
from tests.checks.conftest import World, mailbox, world  # noqa: F401 - fixtures used here


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers with ``status`` (and ``location``), or holds the request
    until ``release`` is set when ``hold`` is."""

    url: str = ""
    status: int = 200
    location: str | None = None
    requests: list[Received] = field(default_factory=list)
    hold: bool = False
    got_one: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def distinct_ids(self) -> set[str]:
        return {r.webhook_id for r in self.requests}


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with receiver.lock:
                receiver.requests.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body)
                )
            receiver.got_one.set()
            if receiver.hold:
                receiver.release.wait(60)
            self.send_response(receiver.status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/bastion"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooks_world(world: World) -> World:  # noqa: F811 - the imported fixture
    """The world, its settings letting http:// reach loopback."""
    old = world.runtime
    settings = old.settings.model_copy(update={"webhook_allow_loopback_http": True})
    world.runtime = Runtime(settings, old.engine, old.sessions, old.key_ring, old.connector_options)
    return world


def register(at: World, url: str, events: list[str], *, app_id: int | None = None) -> NewEndpoint:
    with at.runtime.sessions.begin() as session:
        made = create_endpoint(
            session,
            at.runtime.require_key_ring(),
            workspace_id=at.workspace_id,
            url=url,
            events=events,
            description="tests",
            app_id=app_id,
            allow_loopback_http=at.runtime.settings.webhook_allow_loopback_http,
            actor=Actor.user(at.admin_id),
        )
        session.expunge(made.endpoint)
    return made
