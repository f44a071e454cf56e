"""`bastion serve`, `bastion demo` and `bastion migrate`: the server and its database."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from bastion.cli.common import fail, runtime_or_exit, settings_or_exit
from bastion.errors import BastionError
from bastion.runtime import Runtime, freeze_startup_objects, load_key_ring

if TYPE_CHECKING:
    import uvicorn


def migrate() -> None:
    """Upgrade the database to the newest schema (safe to run any number of times)."""
    from bastion.storage.schema import current_revisions, upgrade

    with runtime_or_exit() as runtime:
        upgrade(runtime.engine)
        typer.echo(f"database at revision {', '.join(current_revisions(runtime.engine))}")


def _serve(
    runtime: Runtime,
    host: str,
    port: int,
    *,
    with_worker: bool = True,
    on_listening: Callable[[], None] | None = None,
) -> None:
    """Serve until stopped; ``on_listening`` runs once the socket accepts connections."""
    import uvicorn

    from bastion.app import create_app
    from bastion.jobs import EmbeddedConsumer, Jobs

    web = create_app(runtime)
    consumer = EmbeddedConsumer(Jobs(runtime)) if with_worker else None
    server = uvicorn.Server(
        uvicorn.Config(web, host=host, port=port, log_config=None, access_log=False)
    )
    if on_listening is not None:
        threading.Thread(
            target=_when_listening, args=(server, on_listening), name="listening", daemon=True
        ).start()
    freeze_startup_objects()
    if consumer is not None:
        consumer.start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if consumer is not None:
            consumer.stop()
    if not server.started:
        fail(f"could not serve on {host}:{port}; see the error above", code=3)


def _when_listening(server: uvicorn.Server, then: Callable[[], None]) -> None:
    # uvicorn sets ``started`` after its sockets listen, and ``should_exit`` when it gives up.
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    then()


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default BASTION_PORT or 8000).")] = None,
    worker: Annotated[
        bool, typer.Option(help="Run background jobs in this process too (--no-worker: web only).")
    ] = True,
) -> None:
    """Serve the web pages, the REST API and SCIM (and, by default, background jobs)."""
    settings = settings_or_exit()
    with runtime_or_exit(settings) as runtime:
        runtime.require_key_ring()
        _serve(runtime, host or settings.host, port or settings.port, with_worker=worker)


def demo() -> None:
    """Try Bastion on this machine: SQLite, the Meta simulator, a directory, a checked app."""
    from bastion.demo import login_dialog_served, prepare_demo, welcome
    from bastion.logs import configure_logging

    settings = settings_or_exit()
    # For a person at a terminal: readable lines, Bastion's own at info and libraries' only when
    # they warn (BASTION_LOG_FORMAT=json still gives JSON).
    console = "log_format" not in settings.model_fields_set
    configure_logging(
        settings.log_level, "console" if console else settings.log_format, libraries="warning"
    )
    try:
        ring = load_key_ring(settings, generate=True)
    except BastionError as exc:
        fail(exc.message)
    with runtime_or_exit(settings) as runtime:
        runtime.key_ring = ring
        typer.echo("Preparing the demo: simulated Meta business, directory, first check…")
        sys.stdout.flush()
        demo = prepare_demo(runtime)
        with login_dialog_served(runtime, demo.simulator, demo.to_connect) as facebook_url:

            def announce() -> None:
                typer.echo(welcome(settings, demo, facebook_url=facebook_url))
                sys.stdout.flush()

            _serve(runtime, settings.host, settings.port, on_listening=announce)
