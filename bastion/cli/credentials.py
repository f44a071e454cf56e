"""Saved logins from the command line, for owners and operators: which accounts have one and the
app's credential policy. Nothing here reveals a login: only its person may, from a browser
session they signed in to minutes ago (docs/credentials.md).

    bastion credentials list --app APP [--format table|json]
    bastion apps credential-policy APP [--require-two-factor/--no-require-two-factor]
                                       [--rotation-days N | --no-rotation]
                                       [--rotate-after-reveal/--no-rotate-after-reveal]
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from bastion.actions.actors import Actor
from bastion.actions.credentials import CredentialPolicy, set_credential_policy
from bastion.cli.checks import apps_app
from bastion.cli.common import fail, runtime_or_exit
from bastion.credential_status import credential_statuses
from bastion.queries import find_app, workspace_by_slug
from bastion.storage.db import transaction

console = Console()
credentials_app = typer.Typer(
    help="Saved logins of password apps (status only: no command reveals one).",
    no_args_is_help=True,
)
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "—"


@credentials_app.command("list")
def credentials_list(
    app_ref: Annotated[str, typer.Option("--app", metavar="APP", help="App id or label.")],
    format: Annotated[Literal["table", "json"], typer.Option(help="Output.")] = "table",
    workspace: WorkspaceOption = "default",
) -> None:
    """Which accounts have a saved login, with two-factor or not, and their rotation."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        statuses = credential_statuses(session, actor=Actor.cli(), app=app).values()
        rows = [
            {
                "account_id": s.account_id,
                "account": s.account_name,
                "person": s.person_name,
                "two_factor": s.two_factor,
                "two_factor_missing": s.two_factor_missing,
                "password_set_at": _when(s.password_set_at),
                "rotation": s.rotation.value,
                "rotation_due_at": _when(s.rotation_due_at),
            }
            for s in statuses
        ]
    if format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no saved login in {app.label}")
        return
    table = Table("account", "name", "person", "two-factor", "password set", "rotation", "due")
    for row in rows:
        two_factor = (
            "yes" if row["two_factor"] else "MISSING" if row["two_factor_missing"] else "no"
        )
        table.add_row(
            str(row["account_id"]),
            str(row["account"]),
            str(row["person"]),
            two_factor,
            str(row["password_set_at"]),
            str(row["rotation"]),
            str(row["rotation_due_at"]),
        )
    console.print(table)


@apps_app.command("credential-policy")
def apps_credential_policy(
    app_ref: Annotated[str, typer.Argument(metavar="APP", help="App id or label.")],
    require_two_factor: Annotated[
        bool | None,
        typer.Option(
            "--require-two-factor/--no-require-two-factor",
            help="Flag saved logins without a two-factor key.",
        ),
    ] = None,
    rotation_days: Annotated[
        int | None,
        typer.Option(help="Change each password this many days after it was set (1-365)."),
    ] = None,
    no_rotation: Annotated[bool, typer.Option("--no-rotation", help="No schedule.")] = False,
    rotate_after_reveal: Annotated[
        bool | None,
        typer.Option(
            "--rotate-after-reveal/--no-rotate-after-reveal",
            help="Change a password after each time its person copies or reveals it.",
        ),
    ] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Show or change an app's credential policy (options left out keep their value)."""
    if no_rotation and rotation_days is not None:
        fail("give --rotation-days or --no-rotation, not both")
    with runtime_or_exit() as runtime, transaction(runtime.sessions) as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        current = CredentialPolicy.of(app)
        app = set_credential_policy(
            session,
            app_id=app.id,
            actor=Actor.cli(),
            workspace_id=app.workspace_id,
            require_two_factor=current.require_two_factor
            if require_two_factor is None
            else require_two_factor,
            rotation_days=None
            if no_rotation
            else rotation_days
            if rotation_days is not None
            else current.rotation_days,
            rotate_after_reveal=current.rotate_after_reveal
            if rotate_after_reveal is None
            else rotate_after_reveal,
        )
        policy = CredentialPolicy.of(app)
        label = app.label
    typer.echo(f"{label}: two-factor {'required' if policy.require_two_factor else 'optional'}")
    typer.echo(
        "  rotation: "
        + (f"every {policy.rotation_days} days" if policy.rotation_days else "no schedule")
        + (", and after each reveal" if policy.rotate_after_reveal else "")
    )
