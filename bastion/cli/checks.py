"""Commands for checks, their history, deprovisioning reports, operations and workers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from bastion.actions.actors import Actor
from bastion.cli.common import fail, queue_operations, runtime_or_exit, settings_or_exit
from bastion.queries import (
    current_report,
    find_app,
    list_apps,
    list_changes,
    list_operations,
    list_runs,
    workspace_by_slug,
)
from bastion.runtime import freeze_startup_objects
from bastion.storage.models import App
from bastion.storage.models.enums import OperationState, RunState, RunTrigger

console = Console()
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
apps_app = typer.Typer(help="Connected apps.", no_args_is_help=True)
runs_app = typer.Typer(help="Check-for-updates runs.", no_args_is_help=True)
report_app = typer.Typer(help="Deprovisioning reports.", no_args_is_help=True)
operations_app = typer.Typer(help="Changes sent to apps (the outbox).", no_args_is_help=True)

STEPS = {
    "fetching": "Fetching people, invitations, assets and partners…",
    "loading": "Loading and comparing with the last check…",
    "matching": "Matching accounts to the directory…",
    "reporting": "Updating the deprovisioning report…",
}


def token_expiry(app: App) -> str:
    """Meta tells a token's expiry only to the app itself, so it is known with the App secret."""
    if app.token_expires_at is not None:
        return f"{app.token_expires_at:%Y-%m-%d %H:%M}"
    return "never" if app.app_secret_id else "unknown (no App secret)"


@apps_app.command("list")
def apps_list(workspace: WorkspaceOption = "default") -> None:
    """List connected apps with their status, last check, token expiry and verification."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        ws = workspace_by_slug(session, workspace)
        table = Table(
            "id", "label", "kind", "status", "last check", "next check", "token expires",
            "business verification",
        )  # fmt: skip
        for app in list_apps(session, ws.id):
            table.add_row(
                str(app.id),
                app.label,
                app.kind.value,
                app.status.value + (f" ({app.status_reason})" if app.status_reason else ""),
                f"{app.last_check_at:%Y-%m-%d %H:%M}" if app.last_check_at else "never",
                f"{app.next_check_at:%Y-%m-%d %H:%M}" if app.next_check_at else "—",
                token_expiry(app),
                app.business_verification_status or "—",
            )
        console.print(table)


@apps_app.command("show")
def apps_show(
    app_ref: Annotated[str, typer.Argument(metavar="APP", help="App id or label.")],
    workspace: WorkspaceOption = "default",
) -> None:
    """One app: its settings, token, App secret (set or not), verification and warnings."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        rows = {
            "id": str(app.id),
            "label": app.label,
            "kind": app.kind.value,
            "business": f"{app.settings.get('business_name') or ''} "
            f"({app.settings.get('business_id')})".strip(),
            "app id": str(app.settings.get("app_id") or ""),
            "status": app.status.value + (f" ({app.status_reason})" if app.status_reason else ""),
            "token set": f"{app.token_set_at:%Y-%m-%d %H:%M}" if app.token_set_at else "not set",
            "token expires": token_expiry(app),
            "app secret": "set" if app.app_secret_id else "not set",
            "business verification": app.business_verification_status or "not read yet",
            "last check": f"{app.last_check_at:%Y-%m-%d %H:%M}" if app.last_check_at else "never",
        }
        for key, value in rows.items():
            typer.echo(f"{key}: {value}")
        for warning in app.connection_warnings:
            typer.echo(f"warning: {warning}")


def check(
    app_ref: Annotated[str, typer.Argument(metavar="APP", help="App id or label.")],
    wait: Annotated[bool, typer.Option(help="Run here and wait, with progress.")] = False,
    override_safeguard: Annotated[
        bool, typer.Option(help="Apply even if the safeguard would stop the check (once).")
    ] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Check an app for updates now (queued for a worker, or here with --wait)."""
    from bastion.actions.checks import run_check
    from bastion.jobs import Jobs

    with runtime_or_exit() as runtime:
        with runtime.sessions() as session:
            ws = workspace_by_slug(session, workspace)
            app = find_app(session, ws.id, app_ref)
        if not wait:
            if override_safeguard:
                fail("--override-safeguard needs --wait")
            with Jobs(runtime) as jobs:
                jobs.enqueue_check(
                    workspace_id=ws.id, app_id=app.id, trigger=RunTrigger.MANUAL, user_id=None
                )
            typer.echo(f"check of {app.label} queued; `bastion runs list {app.id}` shows it")
            return
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
        ) as bar:
            task = bar.add_task("Starting…")
            run = run_check(
                runtime,
                workspace_id=ws.id,
                app_id=app.id,
                trigger=RunTrigger.MANUAL,
                actor=Actor.cli(),
                override_safeguard=override_safeguard,
                progress=lambda step: bar.update(task, description=STEPS.get(step, step)),
            )
        console.print(f"run {run.id}: {run.state.value}")
        if run.error:
            console.print(run.error)
        for key, value in sorted(run.counts.items()):
            console.print(f"  {key}: {value}")
        if run.state != RunState.SUCCEEDED:
            raise typer.Exit(1)


@runs_app.command("list")
def runs_list(
    app_ref: Annotated[str, typer.Argument(metavar="APP")],
    workspace: WorkspaceOption = "default",
) -> None:
    """The latest checks of an app: state, counts, Graph calls and duration."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        table = Table("run", "trigger", "state", "started", "seconds", "graph ops", "changes")
        for run in list_runs(session, app.id):
            seconds = (
                f"{(run.finished_at - run.started_at).total_seconds():.1f}"
                if run.finished_at
                else "…"
            )
            table.add_row(
                str(run.id),
                run.trigger.value,
                run.state.value,
                f"{run.started_at:%Y-%m-%d %H:%M:%S}",
                seconds,
                str(run.graph_operations),
                str(run.counts.get("changes", "")),
            )
        console.print(table)


def changes(
    app_ref: Annotated[str, typer.Argument(metavar="APP")],
    run: Annotated[
        int | None, typer.Option(help="Run id (default: the latest with changes).")
    ] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """What a check found changed; changes made outside Bastion are marked."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        rows = list_changes(session, app.id, run)
        if not rows:
            typer.echo("no changes")
            return
        table = Table("run", "kind", "what", "outside Bastion")
        for change in rows:
            table.add_row(
                str(change.run_id),
                change.kind.value,
                change.summary,
                "yes" if change.outside_bastion else "",
            )
        console.print(table)


@report_app.command("show")
def report_show(
    app_ref: Annotated[str, typer.Argument(metavar="APP")],
    workspace: WorkspaceOption = "default",
) -> None:
    """The app's deprovisioning report: who left but still holds a seat."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        found = current_report(session, app.id)
        if found is None:
            typer.echo("no deprovisioning report: nobody who left holds a seat")
            return
        report, items = found
        console.print(f"report {report.id} ({report.state.value})")
        table = Table("item", "person", "account", "role", "state", "reason / result")
        for item, account, user in items:
            table.add_row(
                str(item.id),
                user.display_name if user else "—",
                account.email or account.external_id,
                account.app_role or "",
                item.state.value,
                item.result or item.dismissed_reason or item.reason,
            )
        console.print(table)


@report_app.command("apply")
def report_apply(
    report_id: Annotated[int, typer.Argument(metavar="REPORT")],
    item: Annotated[list[int] | None, typer.Option(help="Only these items (repeatable).")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply without asking (for scripts).")
    ] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Queue a removal for every pending item (or the chosen ones), after saying how many people
    and seats it removes and asking."""
    from bastion.actions.reports import apply_report, preview_apply

    with runtime_or_exit() as runtime:
        with runtime.sessions() as session:
            ws = workspace_by_slug(session, workspace)
            preview = preview_apply(
                session, workspace_id=ws.id, report_id=report_id, actor=Actor.cli(), item_ids=item
            )
        if not preview.item_ids:
            typer.echo("nothing left to apply")
            return
        typer.echo(f"Applying report {report_id} removes {preview.summary} in the app.")
        if not yes and not typer.confirm("Apply it?", default=False):
            typer.echo("nothing applied")
            raise typer.Exit(1)
        with runtime.sessions.begin() as session:
            applied = apply_report(
                session,
                workspace_id=ws.id,
                report_id=report_id,
                actor=Actor.cli(),
                item_ids=list(preview.item_ids),
            )
            operation_ids = [i.operation_id for i in applied if i.operation_id]
        queue_operations(runtime, operation_ids)
        typer.echo(f"{len(applied)} removal(s) queued")


@report_app.command("dismiss")
def report_dismiss(
    report_id: Annotated[int, typer.Argument(metavar="REPORT")],
    item: Annotated[list[int], typer.Option(help="Item to dismiss (repeatable).")],
    reason: Annotated[str, typer.Option(help="Why these accounts stay.")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Keep the chosen accounts: close their items without any change in the app."""
    from bastion.actions.reports import dismiss_items

    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        ws = workspace_by_slug(session, workspace)
        done = dismiss_items(
            session,
            workspace_id=ws.id,
            report_id=report_id,
            item_ids=item,
            reason=reason,
            actor=Actor.cli(),
        )
        typer.echo(f"{len(done)} item(s) dismissed")


@operations_app.command("list")
def operations_list(
    app_ref: Annotated[str, typer.Argument(metavar="APP")],
    state: Annotated[list[OperationState] | None, typer.Option(help="Only these states.")] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Operations of an app: queued, deferred (until when), manual (the steps), failed."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        table = Table("id", "kind", "target", "state", "attempts", "next attempt", "note")
        for op in list_operations(session, app.id, state):
            table.add_row(
                str(op.id),
                op.kind.value,
                op.target_external_id or op.parameters.get("email", ""),
                op.state.value,
                str(op.attempts),
                f"{op.next_attempt_at:%Y-%m-%d %H:%M}"
                if op.next_attempt_at and op.state == OperationState.DEFERRED
                else "",
                op.manual_steps or op.last_error or "",
            )
        console.print(table)


@operations_app.command("retry")
def operations_retry(
    operation_id: Annotated[int, typer.Argument(metavar="OPERATION")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Queue a failed or deferred operation again, now."""
    from bastion.actions.operations import retry_operation

    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            ws = workspace_by_slug(session, workspace)
            retry_operation(
                session, workspace_id=ws.id, operation_id=operation_id, actor=Actor.cli()
            )
        queue_operations(runtime, [operation_id])
        typer.echo(f"operation {operation_id} queued")


def worker(
    workers: Annotated[int, typer.Option(help="Worker threads.")] = 2,
) -> None:
    """Run background jobs (checks, operations, e-mail, webhooks) for the configured queue."""
    from bastion.jobs import Jobs, LeaseWatch, WebhookSender

    settings = settings_or_exit()
    with runtime_or_exit(settings) as runtime:
        runtime.require_key_ring()
        jobs = Jobs(runtime)
        consumer = jobs.huey.create_consumer(workers=workers, worker_type="thread", periodic=True)
        freeze_startup_objects()
        with LeaseWatch(runtime), WebhookSender(runtime):
            consumer.run()
