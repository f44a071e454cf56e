"""``bastion sso …``: the workspace's identity provider for single sign-on.

bastion sso configure --issuer URL --client-id ID [--client-secret-file F] [--name N]
                      [--allowed-domain D]… [--disabled] [--workspace SLUG]
bastion sso show [--workspace SLUG]
bastion sso remove [--workspace SLUG]

The client secret comes from a file (or standard input with ``-``), never from an argument.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bastion.actions.actors import Actor
from bastion.actions.sso import configure_sso, redirect_uri, remove_sso, sso_config
from bastion.cli.common import fail, read_secret_file, runtime_or_exit
from bastion.queries import workspace_by_slug

sso_app = typer.Typer(
    help="Single sign-on with the workspace's identity provider (OpenID Connect).",
    no_args_is_help=True,
)
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
MAX_SECRET = 2000


def _secret(path: Path | None) -> str | None:
    if path is None:
        return None
    if str(path) == "-":
        value = sys.stdin.readline().strip()
        if not value:
            fail("no client secret on standard input")
        return value
    return read_secret_file(path, "client secret", max_length=MAX_SECRET)


@sso_app.command("configure")
def configure(
    issuer: Annotated[str, typer.Option(help="The provider's issuer URL, as its discovery says.")],
    client_id: Annotated[str, typer.Option(help="The client id of Bastion's app there.")],
    client_secret_file: Annotated[
        Path | None,
        typer.Option(help="File holding the client secret ('-' reads standard input)."),
    ] = None,
    name: Annotated[str, typer.Option(help="Shown as 'Sign in with NAME'.")] = "your company",
    allowed_domain: Annotated[
        list[str] | None, typer.Option(help="An e-mail domain allowed to sign in (repeatable).")
    ] = None,
    disabled: Annotated[bool, typer.Option(help="Keep it set but off the sign-in page.")] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Set the identity provider (the issuer is asked for its discovery document first)."""
    secret = _secret(client_secret_file)
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        ws = workspace_by_slug(session, workspace)
        configure_sso(
            session,
            runtime.require_key_ring(),
            workspace_id=ws.id,
            actor=Actor.cli(),
            display_name=name,
            issuer=issuer,
            client_id=client_id,
            client_secret=secret,
            allowed_domains=allowed_domain or [],
            enabled=not disabled,
        )
        typer.echo(f"single sign-on set for workspace {ws.slug}: {issuer}")
        typer.echo(f"register this redirect URI there: {redirect_uri(runtime.settings.base_url)}")


@sso_app.command("show")
def show(workspace: WorkspaceOption = "default") -> None:
    """Print the identity provider's settings (never the client secret)."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        ws = workspace_by_slug(session, workspace)
        config = sso_config(session, ws.id)
        if config is None:
            fail(f"no identity provider is configured for workspace {ws.slug}", code=1)
        rows = [
            ("name", config.display_name),
            ("issuer", config.issuer),
            ("client id", config.client_id),
            ("allowed domains", ", ".join(config.allowed_domains) or "any"),
            ("on the sign-in page", "yes" if config.enabled else "no"),
            ("redirect URI", redirect_uri(runtime.settings.base_url)),
        ]
        for label, value in rows:
            typer.echo(f"{label:20} {value}")


@sso_app.command("remove")
def remove(workspace: WorkspaceOption = "default") -> None:
    """Stop single sign-on: people sign in with passwords and e-mailed links."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        ws = workspace_by_slug(session, workspace)
        remove_sso(session, workspace_id=ws.id, actor=Actor.cli())
        typer.echo(f"single sign-on removed from workspace {ws.slug}")
