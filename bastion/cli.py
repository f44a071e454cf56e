"""The ``bastion`` command line. Each command calls actions; none writes storage itself."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import select

import bastion.cli_access  # noqa: F401 - adds the access commands to `bastion members`
from bastion import cli_partner_removal  # noqa: F401 - adds `bastion partners remove`
from bastion.cli_admin import guests_app, local_partners_app
from bastion.cli_checks import (
    apps_app,
    changes,
    check,
    operations_app,
    report_app,
    runs_app,
    worker,
)
from bastion.cli_common import fail, runtime_or_exit, settings_or_exit
from bastion.cli_credentials import credentials_app
from bastion.cli_emails import emails_app
from bastion.cli_members import members_app
from bastion.cli_partners import partners_app
from bastion.cli_reviews import overview, reviews_app
from bastion.cli_sso import sso_app
from bastion.cli_tokens import tokens_app
from bastion.cli_webhooks import webhooks_app
from bastion.connectors.meta.simulator.cli import simulate_app
from bastion.directory.cli import directory_app, scim_app
from bastion.errors import BastionError
from bastion.runtime import Runtime, freeze_startup_objects, load_key_ring

if TYPE_CHECKING:
    import uvicorn

app = typer.Typer(
    help="Bastion: who can reach your business apps, and who vouches for them.",
    no_args_is_help=True,
    add_completion=False,
    # A traceback with its local variables would print whatever a command held: a CSV file's
    # people, a token read from a file.
    pretty_exceptions_show_locals=False,
)
users_app = typer.Typer(help="Manage local users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage the keys that encrypt stored secrets.", no_args_is_help=True)
audit_app = typer.Typer(help="Inspect the audit log.", no_args_is_help=True)
workspaces_app = typer.Typer(
    help="Workspaces: one company's directory, apps and audit log each.", no_args_is_help=True
)
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(simulate_app, name="simulate")
app.add_typer(apps_app, name="apps")
app.add_typer(runs_app, name="runs")
app.add_typer(report_app, name="report")
app.add_typer(operations_app, name="operations")
app.add_typer(scim_app, name="scim")
app.add_typer(directory_app, name="directory")
app.add_typer(members_app, name="members")
app.add_typer(emails_app, name="emails")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(sso_app, name="sso")
app.add_typer(local_partners_app, name="local-partners")
app.add_typer(guests_app, name="guests")
app.add_typer(partners_app, name="partners")
app.add_typer(credentials_app, name="credentials")
app.add_typer(reviews_app, name="reviews")
app.command()(check)
app.command()(changes)
app.command()(overview)
app.command()(worker)


@app.command()
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


@app.command()
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


@app.command()
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


@workspaces_app.command("create")
def create_workspace_command(
    name: Annotated[str, typer.Argument(help="The company's name, as people see it.")],
    slug: Annotated[
        str, typer.Option(help="Short name used by --workspace options and URLs.")
    ] = "default",
) -> None:
    """Create a workspace (the first one of an installation keeps the slug `default`)."""
    from bastion.actions.actors import Actor
    from bastion.actions.workspaces import create_workspace
    from bastion.storage.db import transaction

    with runtime_or_exit() as runtime, transaction(runtime.sessions) as session:
        workspace = create_workspace(session, name=name, slug=slug, actor=Actor.cli())
        typer.echo(f"created workspace {workspace.slug} ({workspace.name})")
    typer.echo(f"next: bastion users create-admin --email you@company.com --workspace {slug}")


@workspaces_app.command("list")
def list_workspaces() -> None:
    """Every workspace of this installation."""
    from bastion.storage.models import Workspace

    with runtime_or_exit() as runtime, runtime.sessions() as session:
        rows = session.scalars(select(Workspace).order_by(Workspace.id)).all()
        if not rows:
            typer.echo("no workspace yet: bastion workspaces create NAME")
        for row in rows:
            typer.echo(f"{row.slug}\t{row.name}\tcreated {row.created_at:%Y-%m-%d}")


@users_app.command("create-admin")
def create_admin_command(
    email: Annotated[str, typer.Option(help="The admin's e-mail; also their sign-in name.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    workspace: Annotated[str, typer.Option(help="Workspace slug.")] = "default",
) -> None:
    """Create a workspace admin and print their one-time password (shown once)."""
    from bastion.actions.actors import Actor
    from bastion.actions.users import create_admin
    from bastion.errors import NotFound
    from bastion.storage.db import transaction
    from bastion.storage.models import Workspace

    with runtime_or_exit() as runtime, transaction(runtime.sessions) as session:
        workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == workspace))
        if workspace_id is None:
            raise NotFound(
                f"no workspace {workspace!r}; create it with `bastion workspaces create NAME`"
            )
        user, password = create_admin(
            session, workspace_id=workspace_id, email=email, name=name, actor=Actor.cli()
        )
        typer.echo(f"created admin {user.email}; one-time password (shown once):")
        typer.echo(f"    {password}")


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every stored secret under the first key of BASTION_SECRET_KEYS."""
    from bastion.actions.actors import Actor
    from bastion.actions.secrets import rotate_secrets
    from bastion.storage.db import transaction

    with runtime_or_exit() as runtime:
        ring = runtime.require_key_ring()
        with transaction(runtime.sessions) as session:
            count = rotate_secrets(session, ring, actor=Actor.cli())
        typer.echo(f"re-encrypted {count} secret(s) under key {ring.current_id}")


@keys_app.command("generate")
def generate_key() -> None:
    """Print a new random key entry to put first in BASTION_SECRET_KEYS."""
    from bastion.security.vault import new_key_entry

    typer.echo(new_key_entry())


@audit_app.command("verify")
def verify_audit() -> None:
    """Check every workspace's audit chain; name the first tampered or missing event."""
    from bastion.audit import verify_chain
    from bastion.storage.models import Workspace

    broken = False
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        for workspace in session.scalars(select(Workspace).order_by(Workspace.id)):
            problem = verify_chain(session, workspace.id)
            if problem is None:
                typer.echo(f"workspace {workspace.slug}: {workspace.audit_seq} events, intact")
            else:
                broken = True
                typer.echo(f"workspace {workspace.slug}: {problem}")
    if broken:
        raise typer.Exit(1)


def main() -> None:
    app()
