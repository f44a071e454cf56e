"""Commands for the e-mail Bastion queued (``bastion emails …``): read them, retry one.

Without an SMTP server nothing goes out, so ``bastion emails show`` is how an operator reads an
invitation or a guest's set-password link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bastion.actions.actors import Actor
from bastion.actions.emails import get_email, list_emails, readable_bodies, retry_email
from bastion.cli.common import fail, runtime_or_exit
from bastion.errors import Conflict
from bastion.queries import workspace_by_slug
from bastion.storage.models.enums import NotificationState

console = Console()
emails_app = typer.Typer(help="E-mail Bastion queued: read it, retry it.", no_args_is_help=True)
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
EmailId = Annotated[int, typer.Argument(metavar="EMAIL", help="The e-mail's id.", min=1)]


def _time(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "—"


@emails_app.command("list")
def emails_list(
    state: Annotated[NotificationState | None, typer.Option(help="Only this state.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1, max=1000)] = 50,
    workspace: WorkspaceOption = "default",
) -> None:
    """The newest e-mail: when, state, attempts, recipients, subject."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        page = list_emails(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            actor=Actor.cli(),
            state=state,
            limit=limit,
        )
        table = Table("id", "created", "state", "attempts", "to", "subject", "kind")
        for email in page.items:
            table.add_row(
                str(email.id),
                _time(email.created_at),
                email.state.value,
                str(email.attempts),
                ", ".join(email.recipients),
                email.subject,
                email.kind.split(":", 1)[0],
            )
    console.print(table)
    if page.more:
        typer.echo(f"older e-mail not shown; --limit {min(limit * 2, 1000)} shows more")


@emails_app.command("show")
def emails_show(email_id: EmailId, workspace: WorkspaceOption = "default") -> None:
    """One e-mail: its headers, state, last error and text body."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        email = get_email(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            notification_id=email_id,
            actor=Actor.cli(),
        )
        rows = {
            "id": str(email.id),
            "kind": email.kind,
            "to": ", ".join(email.recipients),
            "subject": email.subject,
            "state": email.state.value,
            "attempts": str(email.attempts),
            "created": _time(email.created_at),
            "sent": _time(email.sent_at),
            "last error": email.last_error or "—",
        }
        body, _html = readable_bodies(email, smtp_configured=runtime.settings.smtp_url is not None)
    for key, value in rows.items():
        typer.echo(f"{key}: {value}")
    typer.echo("")
    typer.echo(body)


@emails_app.command("retry")
def emails_retry(email_id: EmailId, workspace: WorkspaceOption = "default") -> None:
    """Send a failed or not sent e-mail again (the next minute's tick sends it)."""
    with runtime_or_exit() as runtime:
        try:
            with runtime.sessions.begin() as session:
                retry_email(
                    session,
                    workspace_id=workspace_by_slug(session, workspace).id,
                    notification_id=email_id,
                    actor=Actor.cli(),
                )
        except Conflict as exc:
            fail(exc.message, 1)
        typer.echo(f"e-mail {email_id} queued again")
        if runtime.settings.smtp_url is None:
            typer.echo(
                "no SMTP server is configured (BASTION_SMTP_URL): it will be kept as not sent"
            )
