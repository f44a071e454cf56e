"""``bastion reviews``: risky changes a check found, kept or reverted from the command line;
``bastion overview``: what needs a person across the apps."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from bastion.actions.actors import Actor
from bastion.actions.review_decisions import (
    decider_name,
    keep_review,
    revert_review,
    revert_words,
)
from bastion.cli.common import queue_operations, runtime_or_exit
from bastion.overview import KINDS, security_overview
from bastion.queries import find_app, workspace_by_slug
from bastion.storage.models import Review, utcnow
from bastion.storage.models.enums import ReviewState
from bastion.storage.tenancy import Tenant

console = Console()
reviews_app = typer.Typer(
    help="Reviews of risky changes: keep them (with a reason) or revert them.",
    no_args_is_help=True,
)
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
ReviewId = Annotated[int, typer.Argument(metavar="REVIEW")]


@reviews_app.command("list")
def reviews_list(
    app_ref: Annotated[str, typer.Argument(metavar="APP")],
    state: Annotated[ReviewState | None, typer.Option(help="Only this state.")] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """An app's reviews, newest first."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
        query = select(Review).where(Review.app_id == app.id).order_by(Review.id.desc())
        if state is not None:
            query = query.where(Review.state == state)
        rows = session.scalars(query).all()
        if not rows:
            typer.echo("no reviews")
            return
        table = Table("id", "kind", "state", "opened", "change", "decision")
        for r in rows:
            table.add_row(
                str(r.id),
                r.kind.value,
                r.state.value + (" (escalated)" if r.escalated_at else ""),
                f"{r.created_at:%Y-%m-%d %H:%M}",
                r.summary,
                r.reason or "",
            )
        console.print(table)


@reviews_app.command("show")
def reviews_show(review_id: ReviewId, workspace: WorkspaceOption = "default") -> None:
    """One review: the change, what reverting would do, and the decision."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        ws = workspace_by_slug(session, workspace)
        r = Tenant(session, ws.id).get(Review, review_id)
        typer.echo(f"review {r.id} ({r.kind.value}): {r.state.value}")
        typer.echo(f"change: {r.summary}")
        typer.echo(f"made: {'outside Bastion' if r.outside_bastion else 'through Bastion'}")
        typer.echo(f"opened: {r.created_at:%Y-%m-%d %H:%M} UTC (check {r.run_id})")
        if r.state == ReviewState.OPEN:
            typer.echo(f"revert: {revert_words(r) or 'not possible through Bastion'}")
        else:
            when = f"{r.decided_at:%Y-%m-%d %H:%M} UTC" if r.decided_at else ""
            typer.echo(f"decided: {when} by {decider_name(session, r)}")
        if r.reason:
            typer.echo(f"reason: {r.reason}")
        if r.operation_ids:
            typer.echo(f"operations: {', '.join(str(i) for i in r.operation_ids)}")


@reviews_app.command("keep")
def reviews_keep(
    review_id: ReviewId,
    reason: Annotated[str, typer.Option(help="Why the change may stay (audited).")],
    workspace: WorkspaceOption = "default",
) -> None:
    """Keep the change, saying why."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        ws = workspace_by_slug(session, workspace)
        keep_review(
            session, workspace_id=ws.id, review_id=review_id, reason=reason, actor=Actor.cli()
        )
        typer.echo(f"review {review_id} kept")


@reviews_app.command("revert")
def reviews_revert(
    review_id: ReviewId,
    force: Annotated[
        bool,
        typer.Option(help="Revert even if an asset is left with nobody in full control."),
    ] = False,
    reason: Annotated[str | None, typer.Option(help="A note for the audit log.")] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Queue the operations that undo the change."""
    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            ws = workspace_by_slug(session, workspace)
            operations = revert_review(
                session,
                workspace_id=ws.id,
                review_id=review_id,
                actor=Actor.cli(),
                force=force,
                reason=reason,
            )
            operation_ids = [o.id for o in operations]
        queue_operations(runtime, operation_ids)
        typer.echo(
            f"review {review_id} reverted: operation(s) "
            f"{', '.join(str(i) for i in operation_ids)} queued"
        )


def overview(workspace: WorkspaceOption = "default") -> None:
    """What needs a person across the apps, each line with the page where it is fixed."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        ws = workspace_by_slug(session, workspace)
        items = security_overview(session, workspace_id=ws.id, actor=Actor.cli(), now=utcnow())
        if not items:
            typer.echo("nothing needs a person")
            return
        base = runtime.settings.base_url
        for kind, title in KINDS.items():
            mine = [i for i in items if i.kind == kind]
            if not mine:
                continue
            table = Table("app", "what", "detail", "fix at", title=f"{title} ({len(mine)})")
            for i in mine:
                table.add_row(i.app_label, i.title, i.detail, base + i.link)
            console.print(table)
