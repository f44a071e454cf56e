"""Commands for app accounts (``bastion members …``) and connecting apps (``bastion apps
connect``). The token and the App secret are read from stdin or a file, never from an argument,
so they stay out of shell history and process lists."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from bastion.account_status import account_statuses
from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.actions.apps import (
    MAX_APP_SECRET_LENGTH,
    MAX_TOKEN_LENGTH,
    ConnectRequest,
    connect_app,
)
from bastion.cli.checks import apps_app
from bastion.cli.common import fail, read_secret_file, runtime_or_exit
from bastion.queries import accounts_by_state, find_app, workspace_by_slug
from bastion.storage.models import Account
from bastion.storage.models.enums import AccountState, AppRole, RunTrigger
from bastion.storage.tenancy import Tenant

console = Console()
members_app = typer.Typer(help="Accounts inside connected apps.", no_args_is_help=True)
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
FIELDS = (
    "id",
    "kind",
    "name",
    "email",
    "app_role",
    "state",
    "matched_user_id",
    "exemption",
    "status",
)


def _row(account: Account, status: str) -> dict[str, object]:
    """``status`` is what the Members tab says of the account (bastion/account_status.py)."""
    return {
        "id": account.id,
        "kind": account.kind.value,
        "name": account.name,
        "email": account.email or "",
        "app_role": account.app_role or "",
        "state": account.state.value,
        "matched_user_id": account.matched_user_id,
        "exemption": account.exemption_reason or "",
        "status": status,
    }


@members_app.command("list")
def members_list(
    app_ref: Annotated[str, typer.Argument(metavar="APP", help="App id or label.")],
    state: Annotated[AccountState | None, typer.Option(help="Only this tab.")] = None,
    format: Annotated[Literal["table", "csv", "json"], typer.Option(help="Output.")] = "table",
    workspace: WorkspaceOption = "default",
) -> None:
    """List an app's accounts (as a table, CSV or JSON)."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        accounts = accounts_by_state(session, app.id, state)
        statuses = account_statuses(session, app.workspace_id, app.id, accounts)
        rows = [_row(a, statuses[a.id]) for a in accounts]
    if format == "json":
        typer.echo(json.dumps(rows, indent=2))
    elif format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table(*FIELDS)
        for row in rows:
            table.add_row(*(str(row[f] if row[f] is not None else "") for f in FIELDS))
        console.print(table)


@members_app.command("match")
def members_match(
    account_id: Annotated[int, typer.Argument(metavar="ACCOUNT")],
    user: Annotated[int, typer.Option(help="Directory user id to link the account to.")],
    role: Annotated[AppRole, typer.Option(help="Bastion role on the app.")] = AppRole.COLLABORATOR,
    workspace: WorkspaceOption = "default",
) -> None:
    """Link an app account to a directory person, who becomes a member of the app."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        account = members.match_account(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            account_id=account_id,
            user_id=user,
            role=role,
            actor=Actor.cli(),
            base_url=runtime.settings.base_url,
        )
        typer.echo(f"account {account.id} matched to user {user} ({account.state.value})")


@members_app.command("exempt")
def members_exempt(
    account_id: Annotated[int, typer.Argument(metavar="ACCOUNT")],
    reason: Annotated[str, typer.Option(help="Why the seat stays unmanaged (≤ 500 chars).")],
    expires: Annotated[
        datetime | None, typer.Option(help="Expiry date (UTC), e.g. 2030-01-31.")
    ] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Exempt an account: the seat stays, unmanaged, for a stated reason."""

    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        members.exempt_account(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            account_id=account_id,
            reason=reason,
            expires_at=expires.replace(tzinfo=UTC) if expires else None,
            actor=Actor.cli(),
        )
        typer.echo(f"account {account_id} exempted")


@members_app.command("remove")
def members_remove(
    account_ids: Annotated[list[int], typer.Argument(metavar="ACCOUNT...")],
    force: Annotated[
        bool, typer.Option(help="Remove even if assets are left without full control.")
    ] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Queue the removal of accounts (seat and asset tasks); prints a result per account."""
    from bastion.jobs import Jobs

    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            ws = workspace_by_slug(session, workspace)
            results = members.bulk_remove(
                session, workspace_id=ws.id, account_ids=account_ids, actor=Actor.cli(), force=force
            )
        with Jobs(runtime) as jobs:
            for result in results:
                if result.operation_id is not None:
                    jobs.enqueue_operation(result.operation_id)
        for result in results:
            outcome = f"operation {result.operation_id} queued" if result.ok else result.message
            typer.echo(f"account {result.account_id}: {outcome}")
        if not all(r.ok for r in results):
            raise typer.Exit(1)


@members_app.command("blast-radius")
def members_blast_radius(
    account_id: Annotated[int, typer.Argument(metavar="ACCOUNT")],
    workspace: WorkspaceOption = "default",
) -> None:
    """What removing an account would leave with nobody holding full control."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        ws = workspace_by_slug(session, workspace)
        Tenant(session, ws.id).get(Account, account_id)
        radius = members.blast_radius(session, workspace_id=ws.id, account_id=account_id)
    if radius.is_last_admin:
        typer.echo("this is the business's last admin: removal is refused")
    for asset in radius.assets:
        keepers = [*asset.people, *(f"partner {p}" for p in asset.partners)]
        label = f"{asset.type} {asset.name or asset.external_id}"
        if asset.orphaned:
            typer.echo(f"{label} would lose full control (system users do not count)")
        else:
            typer.echo(f"{label} stays with {', '.join(keepers)}")
    if radius.empty:
        typer.echo("nothing would be left without full control")


def _read_token(token_file: Path | None) -> str:
    if token_file is not None:
        return read_secret_file(token_file, "token", max_length=MAX_TOKEN_LENGTH)
    if sys.stdin.isatty():
        fail("pipe the token on stdin, or pass --token-file")
    return sys.stdin.read().strip()


@apps_app.command("connect")
def apps_connect(
    label: Annotated[str, typer.Option(help="A name for the app in Bastion.")],
    business_id: Annotated[str, typer.Option(help="Business Manager ID.")],
    app_id: Annotated[str, typer.Option(help="Meta App ID.")],
    login_method: Annotated[Literal["sso", "password"], typer.Option()] = "sso",
    token_file: Annotated[
        Path | None, typer.Option(help="File holding the system-user token (else stdin).")
    ] = None,
    app_secret_file: Annotated[
        Path | None,
        typer.Option(help="File holding the app's App secret (optional; never echoed)."),
    ] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Connect a Meta Business Manager; the token comes from stdin or --token-file."""
    from bastion.jobs import Jobs

    token = _read_token(token_file)
    app_secret = (
        read_secret_file(app_secret_file, "App secret", max_length=MAX_APP_SECRET_LENGTH)
        if app_secret_file
        else None
    )
    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            ws = workspace_by_slug(session, workspace)
            app = connect_app(
                session,
                runtime.require_key_ring(),
                runtime.connector_options,
                workspace_id=ws.id,
                request=ConnectRequest(
                    kind="meta_business",
                    label=label,
                    token=token,
                    settings={"business_id": business_id, "app_id": app_id},
                    login_method=login_method,
                    app_secret=app_secret or None,
                ),
                actor=Actor.cli(),
            )
            warnings = list(app.connection_warnings)
        with Jobs(runtime) as jobs:
            jobs.enqueue_check(
                workspace_id=ws.id, app_id=app.id, trigger=RunTrigger.CONNECT, user_id=None
            )
        typer.echo(f"connected app {app.id} ({app.label}); the first check is queued")
        for warning in warnings:
            typer.echo(f"warning: {warning}")
        if not app_secret:
            typer.echo(
                "note: without --app-secret-file, Meta does not describe the token to Bastion: "
                "its type, expiry and permissions are not verified"
            )
