"""`bastion workspaces` and `bastion users`: an installation's workspaces and their admins."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from bastion.cli.common import runtime_or_exit

workspaces_app = typer.Typer(
    help="Workspaces: one company's directory, apps and audit log each.", no_args_is_help=True
)
users_app = typer.Typer(help="Manage local users.", no_args_is_help=True)


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
