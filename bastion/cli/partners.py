"""``bastion partners …``: an app's agencies and clients, and native partners' tokens.

``bastion partners token set APP PARTNER`` reads the partner's system-user token from stdin or
``--token-file``, never from an argument (arguments land in shell history and process lists).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.apps import MAX_TOKEN_LENGTH
from bastion.actions.partner_tokens import remove_partner_token, set_partner_token
from bastion.cli.common import fail, read_secret_file, runtime_or_exit
from bastion.queries import find_app, workspace_by_slug
from bastion.storage.models import App, Partner
from bastion.storage.tenancy import Tenant

console = Console()
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
AppRef = Annotated[str, typer.Argument(metavar="APP", help="App id or label.")]
PartnerRef = Annotated[
    str,
    typer.Argument(metavar="PARTNER", help="The partner's Bastion id, business id or name."),
]
partners_app = typer.Typer(
    help="An app's partners (agencies and clients) and native partners' tokens.",
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="A native partner's own token, with which each check imports its people.",
    no_args_is_help=True,
)
partners_app.add_typer(token_app, name="token")


def _partner(session: Session, app: App, ref: str) -> Partner:
    rows = Tenant(session, app.workspace_id).all(
        Partner, Partner.app_id == app.id, Partner.present.is_(True)
    )
    found = [
        p
        for p in rows
        if str(p.id) == ref or p.external_id == ref or p.name.casefold() == ref.casefold()
    ]
    if len(found) != 1:
        names = ", ".join(f"{p.id} ({p.name})" for p in rows) or "none"
        what = "no partner" if not found else "more than one partner"
        fail(f"{what} of app {app.label!r} is {ref!r}; its partners: {names}")
    return found[0]


@partners_app.command("list")
def partners_list(app_ref: AppRef, workspace: WorkspaceOption = "default") -> None:
    """Agencies and clients, and whether each native partner's people were read."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        rows = Tenant(session, app.workspace_id).all(
            Partner, Partner.app_id == app.id, Partner.present.is_(True)
        )
        table = Table("id", "business id", "name", "relation", "token", "people")
        for p in sorted(rows, key=lambda p: (p.name, p.id)):
            status = p.people_status.value if p.people_status else "-"
            table.add_row(
                str(p.id),
                p.external_id,
                p.name,
                p.relation.value,
                "set" if p.token_secret_id else "-",
                status if not p.people_status_reason else f"{status}: {p.people_status_reason}",
            )
        console.print(table)


@token_app.command("set")
def partners_token_set(
    app_ref: AppRef,
    partner_ref: PartnerRef,
    token_file: Annotated[
        Path | None,
        typer.Option(help="A file holding the partner's system-user token (else stdin)."),
    ] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Add or replace a partner's token: it must be a system user's token of that partner."""
    if token_file is not None:
        token = read_secret_file(token_file, "token", max_length=MAX_TOKEN_LENGTH)
    elif sys.stdin.isatty():
        fail("pipe the partner's token on stdin, or pass --token-file")
    else:
        token = sys.stdin.read().strip()
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        partner = _partner(session, app, partner_ref)
        set_partner_token(
            session,
            runtime.require_key_ring(),
            runtime.connector_options,
            workspace_id=app.workspace_id,
            app_id=app.id,
            partner_id=partner.id,
            token=token,
            actor=Actor.cli(),
        )
        typer.echo(
            f"{partner.name}'s token is kept; the next check imports its people on our assets"
        )


@token_app.command("remove")
def partners_token_remove(
    app_ref: AppRef, partner_ref: PartnerRef, workspace: WorkspaceOption = "default"
) -> None:
    """Remove a partner's token: its people stay as the last check saw them."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        partner = _partner(session, app, partner_ref)
        remove_partner_token(
            session,
            workspace_id=app.workspace_id,
            app_id=app.id,
            partner_id=partner.id,
            actor=Actor.cli(),
        )
        typer.echo(f"{partner.name}'s token is removed")
