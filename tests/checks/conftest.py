"""A whole Bastion against the Meta simulator: SQLite (and PostgreSQL), a directory imported
from the scenario, an app connected with the simulator's token, and a real SMTP server."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

from bastion.actions.actors import Actor
from bastion.actions.apps import ConnectRequest, connect_app
from bastion.actions.checks import run_check
from bastion.actions.directory import create_person
from bastion.actions.users import create_admin
from bastion.connectors.meta import RetryPolicy
from bastion.connectors.meta.simulator import Simulator, create_simulator_app, generate_scenario
from bastion.connectors.registry import ConnectorOptions
from bastion.directory_records import EmailRecord, PersonRecord
from bastion.runtime import Runtime
from bastion.security.vault import KeyRing
from bastion.settings import load_settings
from bastion.storage.db import make_session_factory
from bastion.storage.models import App, CheckRun, User
from bastion.storage.models.enums import RunTrigger, UserSource
from tests.conftest import free_port, serve_on_loopback
from tests.factories import make_workspace


async def _no_wait(_seconds: float) -> None:
    return None


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


# The name other test modules import for an SMTP server's port.
_free_port = free_port


@pytest.fixture
def mailbox() -> Iterator[_Mailbox]:
    box = _Mailbox()
    # aiosmtpd must be told its port; it waits 5 s for its thread to start unless told longer.
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), ready_timeout=60)
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


@dataclass
class World:
    sim: Simulator
    runtime: Runtime
    workspace_id: int
    admin_id: int
    app_id: int
    mailbox: _Mailbox
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, **kwargs: Any) -> CheckRun:
        return run_check(
            self.runtime,
            workspace_id=self.workspace_id,
            app_id=self.app_id,
            trigger=kwargs.pop("trigger", RunTrigger.MANUAL),
            actor=Actor.user(self.admin_id),
            **kwargs,
        )

    def app(self) -> App:
        with self.runtime.sessions() as session:
            return session.get_one(App, self.app_id)


def build_runtime(
    engine: Engine, tmp_path: Path, sim: Simulator, key_ring: KeyRing, smtp_port: int | None
) -> Runtime:
    env = {"BASTION_DATA_DIR": str(tmp_path), "BASTION_SMTP_FROM": "bastion@acme.test"}
    if smtp_port:
        env["BASTION_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    return Runtime(
        load_settings(env),
        engine,
        make_session_factory(engine),
        key_ring,
        ConnectorOptions(
            base_url="http://graph.test",
            transport=httpx.ASGITransport(app=create_simulator_app(sim)),
            retry=RetryPolicy(sleep=_no_wait, jitter=lambda: 0.5, max_rate_limit_wait=0),
        ),
    )


def import_directory(runtime: Runtime, workspace_id: int, sim: Simulator) -> None:
    with runtime.sessions.begin() as session:
        for person in sim.scenario_snapshot().directory_users():
            emails = (
                EmailRecord(person.email, "work", True),
                *(EmailRecord(e, "other", False) for e in person.secondary_emails),
            )
            create_person(
                session,
                workspace_id=workspace_id,
                person=PersonRecord(
                    user_name=person.email,
                    display_name=person.name,
                    external_id=person.external_id,
                    active=person.status == "active",
                    emails=emails,
                ),
                source=UserSource.CSV,
                actor=Actor.system("tests"),
                check_delay=timedelta(minutes=5),
            )


def connected_world(
    runtime: Runtime,
    sim: Simulator,
    key_ring: KeyRing,
    mailbox: _Mailbox,
    extra: dict[str, Any] | None = None,
) -> World:
    """The Northwind workspace, its admin and directory, and the simulated business connected."""
    with runtime.sessions.begin() as session:
        workspace = make_workspace(session, "northwind")
        admin, _ = create_admin(
            session,
            workspace_id=workspace.id,
            email="owner@northwind.test",
            name="Olga Owner",
            actor=Actor.system("tests"),
        )
    import_directory(runtime, workspace.id, sim)
    with runtime.sessions.begin() as session:
        app = connect_app(
            session,
            key_ring,
            runtime.connector_options,
            workspace_id=workspace.id,
            request=ConnectRequest(
                kind="meta_business",
                label="Northwind Meta",
                token=sim.token,
                settings={"business_id": sim.business_id, "app_id": sim.app_id},
                login_method="sso",
            ),
            actor=Actor.user(admin.id),
        )
    return World(sim, runtime, workspace.id, admin.id, app.id, mailbox, extra or {})


@pytest.fixture
def world(engine: Engine, tmp_path: Path, key_ring: KeyRing, mailbox: _Mailbox) -> World:
    sim = Simulator(generate_scenario("small", seed=42))
    runtime = build_runtime(engine, tmp_path, sim, key_ring, mailbox.port)  # type: ignore[attr-defined]
    return connected_world(runtime, sim, key_ring, mailbox)


def directory_user(world: World, email: str) -> User:
    with world.runtime.sessions() as session:
        user = session.scalars(select(User).where(User.email_key == email.lower())).one()
        return user


@contextmanager
def simulator_on_socket(sim: Simulator) -> Iterator[str]:
    """Serve the simulator over loopback for workers in other processes; yields its base URL."""
    with serve_on_loopback(create_simulator_app(sim)) as base_url:
        yield base_url


def worker_env(world: World, graph_url: str, key_entry: str) -> dict[str, str]:
    """The environment of a `bastion worker` process sharing this test's database and queue."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env |= {
        "BASTION_DATA_DIR": str(world.runtime.settings.data_dir),
        "BASTION_DATABASE_URL": world.runtime.engine.url.render_as_string(hide_password=False),
        "BASTION_SECRET_KEYS": key_entry,
        "BASTION_GRAPH_URL": graph_url,
        "BASTION_LOG_LEVEL": "warning",
    }
    if world.runtime.settings.queue_url is not None:
        env["BASTION_QUEUE_URL"] = world.runtime.settings.queue_url.get_secret_value()
    return env
