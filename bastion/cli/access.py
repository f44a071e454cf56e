"""``bastion members …`` commands that change what an account holds or who vouches for it:
business role, asset tasks, claiming, un-matching, un-exempting, guests, bulk actions, and
inviting people or cancelling invitations. Each queues what the app must do as operations and
hands them to a worker, as the API and the web do."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Literal, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from bastion.actions import members
from bastion.actions.actors import Actor
from bastion.cli.common import fail, queue_operations, runtime_or_exit
from bastion.cli.members import WorkspaceOption, members_app
from bastion.queries import find_app, workspace_by_slug
from bastion.storage.models import Account
from bastion.storage.tenancy import Tenant

console = Console()
AccountId = Annotated[int, typer.Argument(metavar="ACCOUNT", help="The account's id.")]
AppRef = Annotated[str, typer.Argument(metavar="APP", help="App id or label.")]
ConfirmUnmatched = Annotated[
    bool,
    typer.Option(
        "--confirm-unmatched",
        help="Give full control (ADMIN, or MANAGE) although the account is not onboarded: "
        "nobody in your directory vouches for it.",
    ),
]
AssetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--asset",
        metavar="ASSET=TASK,TASK",
        help="An asset id and the tasks wanted on it, e.g. 12=ANALYZE,ADVERTISE; 12= revokes all "
        "(repeatable).",
    ),
]


def _asset_tasks(values: Iterable[str]) -> dict[int, list[str]]:
    """``12=ANALYZE,ADVERTISE`` → {12: ["ANALYZE", "ADVERTISE"]}; bad input exits 2 naming it."""
    found: dict[int, list[str]] = {}
    for value in values:
        asset, sep, tasks = value.partition("=")
        if not sep or not asset.strip().isdigit():
            fail(f"--asset {value!r}: write it as ASSET_ID=TASK,TASK (e.g. 12=ANALYZE)")
        found[int(asset)] = [t.strip() for t in tasks.split(",") if t.strip()]
    return found


def _refused_unvouched(exc: members.UnvouchedFullControl) -> NoReturn:
    fail(f"{exc.risk}; add --confirm-unmatched to go ahead")


@members_app.command("role")
def members_role(
    account_id: AccountId,
    role: Annotated[Literal["ADMIN", "EMPLOYEE"], typer.Argument(help="The business role.")],
    confirm_unmatched: ConfirmUnmatched = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Change a person's business role (ADMIN is full control of the business)."""
    with runtime_or_exit() as runtime:
        try:
            with runtime.sessions.begin() as session:
                operation = members.change_role(
                    session,
                    workspace_id=workspace_by_slug(session, workspace).id,
                    account_id=account_id,
                    role=role,
                    actor=Actor.cli(),
                    confirm_unvouched=confirm_unmatched,
                )
                operation_id = operation.id
        except members.UnvouchedFullControl as exc:
            _refused_unvouched(exc)
        queue_operations(runtime, [operation_id])
    typer.echo(f"account {account_id}: role {role} queued (operation {operation_id})")


@members_app.command("tasks")
def members_tasks(
    account_id: AccountId,
    asset: AssetOption = None,
    force: Annotated[
        bool, typer.Option(help="Take MANAGE away even if nobody else keeps full control.")
    ] = False,
    confirm_unmatched: ConfirmUnmatched = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Set the tasks an account holds on assets (each asset ends with exactly these tasks)."""
    wanted = _asset_tasks(asset or [])
    if not wanted:
        fail("name at least one --asset ASSET_ID=TASK,TASK")
    with runtime_or_exit() as runtime:
        try:
            with runtime.sessions.begin() as session:
                operations = members.set_asset_tasks(
                    session,
                    workspace_id=workspace_by_slug(session, workspace).id,
                    account_id=account_id,
                    asset_tasks=wanted,
                    actor=Actor.cli(),
                    force=force,
                    confirm_unvouched=confirm_unmatched,
                )
                lines = [
                    f"{o.kind.value} {', '.join(o.parameters['tasks']) or 'every task'} on "
                    f"{o.parameters['asset_external_id']} (operation {o.id})"
                    for o in operations
                ]
                ids = [o.id for o in operations]
        except members.UnvouchedFullControl as exc:
            _refused_unvouched(exc)
        queue_operations(runtime, ids)
    for line in lines:
        typer.echo(f"account {account_id}: {line} queued")


@members_app.command("claim")
def members_claim(
    account_id: AccountId,
    user: Annotated[int, typer.Option(help="The admin's directory user id: the account's owner.")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Auto-claim: an admin's own account (their e-mails differ) is matched to them as Owner."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        account = members.claim_owner(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            account_id=account_id,
            actor=Actor.cli(),
            base_url=runtime.settings.base_url,
            claimant_id=user,
        )
        typer.echo(f"account {account.id} claimed by user {user} as owner")


@members_app.command("unmatch")
def members_unmatch(account_id: AccountId, workspace: WorkspaceOption = "default") -> None:
    """Re-assign: the account goes back to Unmatched."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        members.unmatch_account(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            account_id=account_id,
            actor=Actor.cli(),
        )
    typer.echo(f"account {account_id} is unmatched")


@members_app.command("unexempt")
def members_unexempt(account_id: AccountId, workspace: WorkspaceOption = "default") -> None:
    """End an exemption: Bastion manages the account again."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        account = members.unexempt_account(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            account_id=account_id,
            actor=Actor.cli(),
        )
        typer.echo(f"account {account_id} is managed again ({account.state.value})")


@members_app.command("guest")
def members_guest(
    account_id: AccountId,
    email: Annotated[str, typer.Option(help="Where the set-password link goes.")],
    name: Annotated[str, typer.Option(help="The guest's name.")] = "",
    workspace: WorkspaceOption = "default",
) -> None:
    """Invite a guest user who vouches for the account (it moves to Guest users)."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        invite = members.invite_guest(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            email=email,
            name=name,
            actor=Actor.cli(),
            account_id=account_id,
            base_url=runtime.settings.base_url,
        )
        typer.echo(
            f"guest {invite.user.email} (user {invite.user.id}) invited for account {account_id}; "
            f"the set-password link is valid until {invite.invitation.expires_at:%Y-%m-%d}"
        )


@members_app.command("invite")
def members_invite(
    app_ref: AppRef,
    email: Annotated[str, typer.Option(help="The person's e-mail.")],
    role: Annotated[Literal["ADMIN", "EMPLOYEE"], typer.Option(help="Business role.")] = "EMPLOYEE",
    asset: AssetOption = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Invite a person to the app's business by e-mail, with a role and asset tasks."""
    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
            operation = members.invite_person(
                session,
                workspace_id=app.workspace_id,
                app_id=app.id,
                email=email,
                role=role,
                asset_tasks=_asset_tasks(asset or []),
                actor=Actor.cli(),
            )
            operation_id = operation.id
        queue_operations(runtime, [operation_id])
    typer.echo(f"invitation of {email} as {role} queued (operation {operation_id})")


@members_app.command("invitations")
def members_invitations(
    app_ref: AppRef,
    older_than_days: Annotated[
        int, typer.Option(help="Mark the invitations older than this many days.", min=0)
    ] = 30,
    workspace: WorkspaceOption = "default",
) -> None:
    """Pending invitations, oldest first, with their age (from the check that first saw them)."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        found = members.pending_invitations(
            session,
            workspace_id=app.workspace_id,
            app_id=app.id,
            older_than_days=older_than_days,
            actor=Actor.cli(),
        )
        table = Table("account", "e-mail", "role", "first seen", "age (days)", "expires", "stale")
        for row in found:
            table.add_row(
                str(row.account.id),
                row.account.email or "",
                row.account.app_role or "",
                f"{row.first_seen_at:%Y-%m-%d}",
                str(row.age_days),
                f"{row.expires_at:%Y-%m-%d}" if row.expires_at else "—",
                "yes" if row.older_than_limit else "",
            )
        days = app.auto_cancel_invitations_days
    console.print(table)
    typer.echo(
        f"each check cancels invitations older than {days} days"
        if days
        else "invitations are cancelled only by hand (bastion apps update --help)"
    )


@members_app.command("cancel-stale")
def members_cancel_stale(
    app_ref: AppRef,
    older_than_days: Annotated[int, typer.Option(help="Cancel invitations older than this.")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Cancel every pending invitation first seen more than N days ago."""
    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
            results = members.cancel_stale_invitations(
                session,
                workspace_id=app.workspace_id,
                app_id=app.id,
                older_than_days=older_than_days,
                actor=Actor.cli(),
            )
        queue_operations(runtime, [r.operation_id for r in results])
    _print_results(results, "cancellation queued")


@members_app.command("cancel-invitation")
def members_cancel_invitation(
    account_id: AccountId, workspace: WorkspaceOption = "default"
) -> None:
    """Cancel one pending invitation."""
    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            operation = members.cancel_invitation(
                session,
                workspace_id=workspace_by_slug(session, workspace).id,
                account_id=account_id,
                actor=Actor.cli(),
            )
            operation_id = operation.id
        queue_operations(runtime, [operation_id])
    typer.echo(f"account {account_id}: cancellation queued (operation {operation_id})")


@members_app.command("bulk")
def members_bulk(
    app_ref: AppRef,
    action: Annotated[Literal["remove", "exempt", "unmatch", "unexempt"], typer.Argument()],
    account_ids: Annotated[list[int], typer.Argument(metavar="ACCOUNT...")],
    reason: Annotated[str, typer.Option(help="Why (exempt).")] = "",
    expires: Annotated[
        datetime | None, typer.Option(help="Exemption expiry (UTC), e.g. 2030-01-31.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Remove even if assets lose full control.")] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """One action over many accounts of an app; a line per account, exit 1 if any failed."""
    if action == "exempt" and not reason.strip():
        fail("--reason: say why these accounts stay unmanaged")
    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
            tenant, ws = Tenant(session, app.workspace_id), app.workspace_id
            in_app = {
                a.id
                for a in tenant.all(Account, Account.app_id == app.id, Account.id.in_(account_ids))
            }
            ids, actor = [i for i in account_ids if i in in_app], Actor.cli()
            if action == "remove":
                results = members.bulk_remove(
                    session, workspace_id=ws, account_ids=ids, actor=actor, force=force
                )
            elif action == "exempt":
                results = members.bulk_exempt(
                    session,
                    workspace_id=ws,
                    account_ids=ids,
                    reason=reason,
                    expires_at=expires.replace(tzinfo=UTC) if expires else None,
                    actor=actor,
                )
            elif action == "unmatch":
                results = members.bulk_unmatch(
                    session, workspace_id=ws, account_ids=ids, actor=actor
                )
            else:
                results = members.bulk_unexempt(
                    session, workspace_id=ws, account_ids=ids, actor=actor
                )
        queue_operations(runtime, [r.operation_id for r in results])
    missing = [
        members.AccountResult(i, False, f"not an account of {app_ref}", "not_found")
        for i in dict.fromkeys(account_ids)
        if i not in in_app
    ]
    _print_results([*results, *missing], "done")


def _print_results(results: list[members.AccountResult], done: str) -> None:
    for result in results:
        if result.ok:
            extra = f" (operation {result.operation_id})" if result.operation_id else ""
            typer.echo(f"account {result.account_id}: {done}{extra}")
        else:
            typer.echo(f"account {result.account_id}: {result.message}")
    if not results:
        typer.echo("nothing to do")
    if not all(r.ok for r in results):
        raise typer.Exit(1)
