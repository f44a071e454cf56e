"""`bastion audit`: the audit log's hash chain."""

from __future__ import annotations

import typer
from sqlalchemy import select

from bastion.cli.common import runtime_or_exit

audit_app = typer.Typer(help="Inspect the audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify_audit() -> None:
    """Check every workspace's audit chain; name the first tampered or missing event."""
    from bastion.audit import verify_chain
    from bastion.storage.models import Workspace

    broken = False
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        for workspace in session.scalars(select(Workspace).order_by(Workspace.id)):
            problem = verify_chain(session, workspace.id)
            if problem is None:
                typer.echo(f"workspace {workspace.slug}: {workspace.audit_seq} events, intact")
            else:
                broken = True
                typer.echo(f"workspace {workspace.slug}: {problem}")
    if broken:
        raise typer.Exit(1)
