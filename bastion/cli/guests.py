"""Admin commands the API has too: editing and disconnecting an app (``bastion apps update|
disconnect``), local partners and guests (``bastion local-partners …``, ``bastion guests
invite``), and confirming a manual step (``bastion operations done``).

A replacement token or App secret is read from a file, never from an argument."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.actions.apps import (
    MAX_APP_SECRET_LENGTH,
    MAX_TOKEN_LENGTH,
    AppChanges,
    disconnect_app,
    update_app,
)
from bastion.actions.operation_decisions import mark_manual_done
from bastion.cli.checks import apps_app, operations_app
from bastion.cli.common import fail, read_secret_file, runtime_or_exit
from bastion.queries import find_app, workspace_by_slug
from bastion.storage.models import LocalPartner, LocalPartnerMember, User
from bastion.storage.tenancy import Tenant

console = Console()
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
AppRef = Annotated[str, typer.Argument(metavar="APP", help="App id or label.")]
local_partners_app = typer.Typer(
    help="Local partners: organisations of guest users Bastion manages.", no_args_is_help=True
)
guests_app = typer.Typer(help="Guest users: people outside the directory.", no_args_is_help=True)


def _minute_of_day(value: str) -> int:
    hours, sep, minutes = value.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        fail(f"--daily-at {value!r}: use HH:MM (UTC), e.g. 06:30")
    return int(hours) * 60 + int(minutes)


@apps_app.command("update")
def apps_update(
    app_ref: AppRef,
    label: Annotated[str | None, typer.Option(help="A new name for the app.")] = None,
    daily_at: Annotated[
        str | None, typer.Option(help="Check every day at HH:MM (UTC).", metavar="HH:MM")
    ] = None,
    on_demand_only: Annotated[
        bool, typer.Option("--on-demand-only", help="No daily check; only when asked.")
    ] = False,
    safeguard_percent: Annotated[
        int | None, typer.Option(help="Stop a check that would remove more than this share.")
    ] = None,
    login_method: Annotated[Literal["sso", "password"] | None, typer.Option()] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="File holding a replacement system-user token.")
    ] = None,
    app_secret_file: Annotated[
        Path | None, typer.Option(help="File holding the App secret to add or replace.")
    ] = None,
    auto_cancel_invitations_days: Annotated[
        int | None,
        typer.Option(help="Each check cancels pending invitations older than this many days."),
    ] = None,
    no_auto_cancel_invitations: Annotated[
        bool,
        typer.Option(
            "--no-auto-cancel-invitations", help="Stop cancelling stale invitations at checks."
        ),
    ] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Edit an app's settings; a new token or App secret is validated with the app first."""
    if daily_at is not None and on_demand_only:
        fail("--daily-at and --on-demand-only contradict each other")
    if auto_cancel_invitations_days is not None and no_auto_cancel_invitations:
        fail("--auto-cancel-invitations-days and --no-auto-cancel-invitations contradict")
    changes = AppChanges(
        label=label,
        daily_check_minute=_minute_of_day(daily_at) if daily_at is not None else None,
        on_demand_only=on_demand_only,
        safeguard_threshold_percent=safeguard_percent,
        login_method=login_method,
        token=read_secret_file(token_file, "token", max_length=MAX_TOKEN_LENGTH)
        if token_file
        else None,
        app_secret=read_secret_file(app_secret_file, "App secret", max_length=MAX_APP_SECRET_LENGTH)
        if app_secret_file
        else None,
        auto_cancel_invitations_days=auto_cancel_invitations_days,
        never_auto_cancel=no_auto_cancel_invitations,
    )
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        app = update_app(
            session,
            runtime.require_key_ring(),
            runtime.connector_options,
            workspace_id=app.workspace_id,
            app_id=app.id,
            changes=changes,
            actor=Actor.cli(),
        )
        days = app.auto_cancel_invitations_days
        typer.echo(f"app {app.id} ({app.label}) saved")
        typer.echo(
            f"stale invitations: cancelled at each check after {days} days"
            if days
            else "stale invitations: cancelled by hand only"
        )


@apps_app.command("disconnect")
def apps_disconnect(app_ref: AppRef, workspace: WorkspaceOption = "default") -> None:
    """Stop managing an app: nothing changes in the app itself, and its history stays."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        disconnect_app(session, workspace_id=app.workspace_id, app_id=app.id, actor=Actor.cli())
        typer.echo(f"app {app.id} ({app.label}) is disconnected; nothing changed in the app")


@operations_app.command("done")
def operations_done(
    operation_id: Annotated[int, typer.Argument(metavar="OPERATION")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Confirm a manual step was done by hand in the app; the next check verifies it."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        mark_manual_done(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            operation_id=operation_id,
            actor=Actor.cli(),
        )
    typer.echo(f"operation {operation_id} marked done; the next check confirms it")


@local_partners_app.command("list")
def local_partners_list(workspace: WorkspaceOption = "default") -> None:
    """Local partners with their guests (★ marks a partner's admins)."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        tenant = Tenant(session, workspace_by_slug(session, workspace).id)
        table = Table("id", "name", "guests")
        for partner in sorted(tenant.all(LocalPartner), key=lambda p: p.name_key):
            guests = session.execute(
                select(User, LocalPartnerMember.is_admin)
                .join(LocalPartnerMember, LocalPartnerMember.user_id == User.id)
                .where(LocalPartnerMember.partner_id == partner.id)
                .order_by(User.email_key)
            ).all()
            table.add_row(
                str(partner.id),
                partner.name,
                ", ".join(f"{u.email}{' ★' if admin else ''}" for u, admin in guests) or "—",
            )
    console.print(table)


@local_partners_app.command("create")
def local_partners_create(
    name: Annotated[str, typer.Argument(help="The partner organisation's name.")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Create a local partner (an agency, a freelancers' group) to invite guests into."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        partner = members.create_local_partner(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            name=name,
            actor=Actor.cli(),
        )
        typer.echo(f"local partner {partner.id} ({partner.name}) created")


@local_partners_app.command("invite")
def local_partners_invite(
    partner_id: Annotated[int, typer.Argument(metavar="PARTNER")],
    email: Annotated[str, typer.Option(help="Where the set-password link goes.")],
    name: Annotated[str, typer.Option(help="The guest's name.")] = "",
    partner_admin: Annotated[
        bool, typer.Option(help="The guest may invite the partner's other guests.")
    ] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Invite a guest into a local partner; they get an e-mail to set a password."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        invite = members.invite_partner_guest(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            partner_id=partner_id,
            email=email,
            name=name,
            actor=Actor.cli(),
            partner_admin=partner_admin,
            base_url=runtime.settings.base_url,
        )
        typer.echo(
            f"guest {invite.user.email} (user {invite.user.id}) invited to partner {partner_id}"
        )


@guests_app.command("invite")
def guests_invite(
    email: Annotated[str, typer.Option(help="Where the set-password link goes.")],
    name: Annotated[str, typer.Option(help="The guest's name.")] = "",
    workspace: WorkspaceOption = "default",
) -> None:
    """Invite a guest user to the workspace; `bastion members match ACCOUNT --user ID` then
    links them to an account they use."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        invite = members.invite_guest(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            email=email,
            name=name,
            actor=Actor.cli(),
            base_url=runtime.settings.base_url,
        )
        typer.echo(f"guest {invite.user.email} (user {invite.user.id}) invited")
