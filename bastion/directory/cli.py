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
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.tokens import create_token, revoke_token
from bastion.cli_common import fail, runtime_or_exit
from bastion.directory.csv_import import (
    Change,
    ImportPlan,
    apply_import,
    plan_import,
    read_directory_csv,
)
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


# The preview lists deprovisions first: they are what an import should never do by surprise.
_PREVIEW_ORDER = (Change.DEPROVISION, Change.REACTIVATE, Change.UPDATE, Change.CREATE)
PREVIEW_ROWS = 100


def _print_plan(plan: ImportPlan, show_all: bool) -> None:
    changes = sorted(plan.changes, key=lambda c: (_PREVIEW_ORDER.index(c.change), c.person.line))
    shown = changes if show_all else changes[:PREVIEW_ROWS]
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
    if len(shown) < len(changes):
        typer.echo(f"… and {len(changes) - len(shown)} more line(s); --all lists every one")
    counts = ", ".join(f"{plan.count(change)} to {change.value}" for change in Change)
    typer.echo(f"{counts}; {plan.unchanged} unchanged; {len(plan.teams)} group(s) in the file")


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
            "--all", help=f"List every change in the preview, not the first {PREVIEW_ROWS}."
        ),
    ] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Import people and groups from a CSV file (re-running the same file changes nothing)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    parsed = read_directory_csv(text)
    for error in parsed.errors:
        typer.echo(f"{file.name}: {error}", err=True)
    if parsed.errors and not skip_invalid:
        fail(f"{len(parsed.errors)} invalid line(s); nothing imported (--skip-invalid to go on)")
    with runtime_or_exit() as runtime, transaction(runtime.sessions) as session:
        workspace_id = _workspace_id(session, workspace)
        plan = plan_import(session, workspace_id=workspace_id, people=parsed.people)
        _print_plan(plan, show_all)
        if dry_run:
            typer.echo("dry run: nothing written")
            return
        apply_import(
            session,
            workspace_id=workspace_id,
            plan=plan,
            actor=Actor.cli(),
            check_delay=timedelta(minutes=runtime.settings.deprovision_check_delay_minutes),
            file_name=file.name,
            skipped=len(parsed.errors),
        )
    typer.echo("imported")
