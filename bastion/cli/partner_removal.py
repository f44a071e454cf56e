"""``bastion partners remove APP PARTNER``: end a partnership with its residue, in one batch.

The command gathers the batch, shows it, says how many people, seats and invitations it removes
and asks (``--yes`` skips the question); ``--skip ITEM`` trims an item, which then stays.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.partner_removal import (
    apply_partner_removal,
    gather_partner_removal,
    preview_partner_removal,
    read_partner_removal,
)
from bastion.cli.common import fail, queue_operations, runtime_or_exit
from bastion.cli.partners import AppRef, PartnerRef, WorkspaceOption, partners_app
from bastion.cli.partners import _partner as find_partner
from bastion.queries import find_app, workspace_by_slug
from bastion.storage.models import LocalPartner
from bastion.storage.tenancy import Tenant

console = Console()


def _local_partner(session: Session, workspace_id: int, ref: str) -> int:
    rows = Tenant(session, workspace_id).all(LocalPartner)
    found = [p for p in rows if str(p.id) == ref or p.name_key == ref.strip().casefold()]
    if len(found) != 1:
        names = ", ".join(f"{p.id} ({p.name})" for p in rows) or "none"
        fail(f"no local partner is {ref!r}; the local partners: {names}")
    return found[0].id


@partners_app.command("remove")
def partners_remove(
    app_ref: AppRef,
    partner_ref: PartnerRef,
    local_partner: Annotated[
        str | None,
        typer.Option(help="The local partner whose guests came with it (id or name)."),
    ] = None,
    domain: Annotated[
        list[str] | None,
        typer.Option(help="An e-mail domain of the partner's people (repeatable)."),
    ] = None,
    skip: Annotated[
        list[int] | None,
        typer.Option(metavar="ITEM", help="An item to leave out: it stays (repeatable)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Remove even if an asset is left without full control.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply without asking (for scripts).")
    ] = False,
    workspace: WorkspaceOption = "default",
) -> None:
    """Gather the partner's residue (its shared assets, the people who came with it and their
    tasks, pending invitations to its domain), show it, and apply it once."""
    actor = Actor.cli()
    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            app = find_app(session, workspace_by_slug(session, workspace).id, app_ref)
            partner = find_partner(session, app, partner_ref)
            removal = gather_partner_removal(
                session,
                workspace_id=app.workspace_id,
                app_id=app.id,
                partner_id=partner.id,
                actor=actor,
                local_partner_id=_local_partner(session, app.workspace_id, local_partner)
                if local_partner
                else None,
                domains=domain or [],
            )
            workspace_id, removal_id = app.workspace_id, removal.id
        with runtime.sessions() as session:
            view = read_partner_removal(
                session, workspace_id=workspace_id, removal_id=removal_id, actor=actor
            )
            ids = [row.item.id for row in view.rows]
            unknown = sorted(set(skip or []) - set(ids))
            if unknown:
                fail(f"the batch has no item {', '.join(map(str, unknown))}; its items: {ids}")
            kept = [i for i in ids if i not in set(skip or [])]
            domains = ", ".join(view.removal.domains) or "none"
            console.print(f"removal {removal_id} of {view.partner.name} (domains: {domains})")
            table = Table("item", "kind", "what", "why", "holds", "")
            for row in view.rows:
                holds = ", ".join(f"{name}: {'/'.join(tasks)}" for name, tasks in row.holds)
                table.add_row(
                    str(row.item.id),
                    row.item.kind.value,
                    row.item.label,
                    row.item.reason,
                    holds or "-",
                    "skipped" if row.item.id not in kept else row.status,
                )
            console.print(table)
            preview = preview_partner_removal(
                session,
                workspace_id=workspace_id,
                removal_id=removal_id,
                actor=actor,
                kept_item_ids=kept,
                force=force,
            )
        if not preview.item_ids:
            typer.echo("nothing left to apply")
            return
        if preview.orphaned_assets and not force:
            fail(
                "this leaves nobody with full control of: "
                f"{', '.join(preview.orphaned_assets)}; --skip the people who hold it, or "
                "pass --force"
            )
        typer.echo(f"Removing {view.partner.name} removes {preview.summary} in the app.")
        if not yes and not typer.confirm("Apply it?", default=False):
            typer.echo("nothing applied")
            raise typer.Exit(1)
        with runtime.sessions.begin() as session:
            queued = apply_partner_removal(
                session,
                workspace_id=workspace_id,
                removal_id=removal_id,
                actor=actor,
                kept_item_ids=kept,
                force=force,
            )
            operation_ids = [o.id for o in queued]
        queue_operations(runtime, operation_ids)
        typer.echo(f"{len(operation_ids)} operation(s) queued")
