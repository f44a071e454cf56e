"""``bastion scim token …`` and ``bastion directory import``: the directory from the shell.

bastion scim token create --name NAME [--workspace SLUG]   prints the token once
bastion scim token list [--workspace SLUG]
bastion scim token revoke TOKEN_ID [--workspace SLUG]
bastion directory import FILE.csv [--dry-run] [--skip-invalid] [--workspace SLUG]
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token, revoke_token
from bastion.cli.common import cannot_read, fail, runtime_or_exit
from bastion.directory.csv_import import Change, DirectoryImport, ImportTotals
from bastion.errors import NotFound
from bastion.storage.db import transaction
from bastion.storage.models import ApiToken, Workspace
from bastion.storage.models.enums import TokenKind

scim_app = typer.Typer(help="Manage SCIM access for identity providers.", no_args_is_help=True)
token_app = typer.Typer(help="Per-workspace SCIM tokens.", no_args_is_help=True)
scim_app.add_typer(token_app, name="token")
directory_app = typer.Typer(help="The corporate directory.", no_args_is_help=True)

WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]


def _workspace_id(session: Session, slug: str) -> int:
    workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == slug))
    if workspace_id is None:
        raise NotFound(f"no workspace {slug!r}; create it with `bastion workspaces create NAME`")
    return workspace_id


@token_app.command("create")
def create_scim_token(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'Okta'.")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Create a SCIM token and print it (shown once, stored hashed)."""
    with runtime_or_exit() as runtime, transaction(runtime.sessions) as session:
        new = create_token(
            session,
            workspace_id=_workspace_id(session, workspace),
            kind=TokenKind.SCIM,
            name=name,
            actor=Actor.cli(),
        )
        typer.echo(f"SCIM token {new.row.id} ({name}); copy it now, it is not shown again:")
        typer.echo(f"    {new.token}")
        typer.echo(f"SCIM base URL: {runtime.settings.base_url}/scim/v2")


@token_app.command("list")
def list_scim_tokens(workspace: WorkspaceOption = "default") -> None:
    """List the workspace's SCIM tokens (never the tokens themselves)."""
    table = Table("id", "name", "prefix", "created", "last used", "revoked")
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        rows = session.scalars(
            select(ApiToken)
            .where(
                ApiToken.workspace_id == _workspace_id(session, workspace),
                ApiToken.kind == TokenKind.SCIM,
            )
            .order_by(ApiToken.id)
        )
        for row in rows:
            table.add_row(
                str(row.id),
                row.name,
                row.prefix,
                f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
            )
    Console().print(table)


@token_app.command("revoke")
def revoke_scim_token(token_id: int, workspace: WorkspaceOption = "default") -> None:
    """Revoke a SCIM token; the identity provider using it gets 401 from now on."""
    with runtime_or_exit() as runtime, transaction(runtime.sessions) as session:
        row = revoke_token(
            session,
            workspace_id=_workspace_id(session, workspace),
            token_id=token_id,
            actor=Actor.cli(),
        )
        if row.kind != TokenKind.SCIM:
            raise NotFound(f"ApiToken {token_id} not found")
        typer.echo(f"revoked SCIM token {row.id} ({row.name})")


PREVIEW_ROWS = 100


def _print_errors(job: DirectoryImport, file: Path, show_all: bool) -> None:
    shown = job.errors(None if show_all else PREVIEW_ROWS)
    for error in shown:
        typer.echo(f"{file.name}: {error}", err=True)
    if len(shown) < job.invalid:
        more = job.invalid - len(shown)
        typer.echo(f"… and {more} more invalid line(s); --all lists every one", err=True)


def _print_plan(job: DirectoryImport, totals: ImportTotals, show_all: bool) -> None:
    """The first changes as a table, or with --all every change, one line each as it comes."""
    if show_all:
        for planned in job.preview(None):
            details = ", ".join(planned.fields)
            typer.echo(
                f"{planned.person.line:>8}  {planned.change.value:<11}  "
                f"{planned.person.email}  {details}".rstrip()
            )
    else:
        shown = list(job.preview(PREVIEW_ROWS))
        if shown:
            table = Table("line", "change", "e-mail", "details")
            for planned in shown:
                table.add_row(
                    str(planned.person.line),
                    planned.change.value,
                    planned.person.email,
                    ", ".join(planned.fields),
                )
            Console().print(table)
        if len(shown) < totals.changes:
            more = totals.changes - len(shown)
            typer.echo(f"… and {more} more line(s); --all lists every one")
    counts = ", ".join(f"{totals.count(change)} to {change.value}" for change in Change)
    typer.echo(f"{counts}; {totals.unchanged} unchanged; {totals.groups} group(s) in the file")


def _read(job: DirectoryImport, file: Path) -> None:
    try:
        with file.open("rb") as source:
            job.read(source)
    except OSError as exc:
        cannot_read(file, exc)


@directory_app.command("import")
def import_directory(
    file: Annotated[Path, typer.Argument(help="CSV: email,name,external_id,status,…")],
    dry_run: Annotated[bool, typer.Option(help="Show what would change; write nothing.")] = False,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid lines even when some are invalid.")
    ] = False,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help=f"List every change and invalid line, not the first {PREVIEW_ROWS}.",
        ),
    ] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Import people and groups from a CSV file (re-running the same file changes nothing).

    The whole file is checked before anything is written; the changes are then written in one
    transaction, so a failed import leaves the directory as it was.
    """
    with runtime_or_exit() as runtime, DirectoryImport(runtime.settings.data_dir) as job:
        _read(job, file)
        _print_errors(job, file, show_all)
        unreadable = job.unreadable
        if unreadable is not None:
            fail(f"{file.name}: {unreadable}; nothing imported")
        if job.invalid and not skip_invalid:
            fail(f"{job.invalid} invalid line(s); nothing imported (--skip-invalid to go on)")
        try:
            with transaction(runtime.sessions) as session:
                workspace_id = _workspace_id(session, workspace)
                totals = job.plan(session, workspace_id=workspace_id)
                _print_plan(job, totals, show_all)
                if dry_run:
                    typer.echo("dry run: nothing written")
                    return
                job.apply(
                    session,
                    workspace_id=workspace_id,
                    actor=Actor.cli(),
                    check_delay=timedelta(minutes=runtime.settings.deprovision_check_delay_minutes),
                    file_name=file.name,
                )
        except DBAPIError as exc:
            # Without its parameters (they are the file's people): the driver's error class says
            # enough to start from, and the transaction was rolled back.
            fail(f"the database refused the import ({type(exc.orig).__name__}); nothing imported")
    typer.echo("imported")
