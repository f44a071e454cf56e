"""Commands for webhook endpoints (``bastion webhooks …``): register, list, show, enable,
disable, remove, and an endpoint's deliveries with redelivery.

``add`` prints the signing secret once; Bastion keeps it in the vault and shows it nowhere else.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bastion.actions.actors import Actor
from bastion.actions.webhooks import (
    create_endpoint,
    get_delivery,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    redeliver,
    remove_endpoint,
    set_endpoint_enabled,
)
from bastion.cli.common import runtime_or_exit
from bastion.queries import workspace_by_slug
from bastion.webhook_events import EVENT_TYPES

console = Console()
webhooks_app = typer.Typer(
    help="Webhook endpoints: where Bastion sends signed events.", no_args_is_help=True
)
WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
EndpointId = Annotated[int, typer.Argument(metavar="ENDPOINT", help="The endpoint's id.", min=1)]
DeliveryId = Annotated[int, typer.Argument(metavar="DELIVERY", help="The delivery's id.", min=1)]


def _time(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "—"


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Where to POST events (https:// only).")],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            help=f"An event to send (repeat; 'all' for every one): {', '.join(EVENT_TYPES)}",
        ),
    ],
    description: Annotated[str, typer.Option(help="What the endpoint is for.")] = "",
    app: Annotated[
        int | None, typer.Option("--app", help="Only this app's events (else every app's).", min=1)
    ] = None,
    workspace: WorkspaceOption = "default",
) -> None:
    """Register an endpoint and print its signing secret, this once."""
    events = sorted(EVENT_TYPES) if event == ["all"] else event
    with runtime_or_exit() as runtime:
        with runtime.sessions.begin() as session:
            made = create_endpoint(
                session,
                runtime.require_key_ring(),
                workspace_id=workspace_by_slug(session, workspace).id,
                url=url,
                events=events,
                description=description,
                app_id=app,
                allow_loopback_http=runtime.settings.webhook_allow_loopback_http,
                actor=Actor.cli(),
            )
            endpoint_id = made.endpoint.id
        typer.echo(f"webhook endpoint {endpoint_id} registered")
        typer.echo(f"signing secret (shown once; keep it with the receiver): {made.secret}")


@webhooks_app.command("list")
def webhooks_list(workspace: WorkspaceOption = "default") -> None:
    """Every endpoint: id, URL, app, events, whether it is enabled."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        table = Table("id", "url", "app", "events", "enabled", "description")
        for e in list_endpoints(
            session, workspace_id=workspace_by_slug(session, workspace).id, actor=Actor.cli()
        ):
            table.add_row(
                str(e.id),
                e.url,
                str(e.app_id) if e.app_id else "every app",
                ", ".join(e.events),
                "yes" if e.enabled else f"no ({e.disabled_reason or 'disabled'})",
                e.description,
            )
    console.print(table)


@webhooks_app.command("show")
def webhooks_show(endpoint_id: EndpointId, workspace: WorkspaceOption = "default") -> None:
    """One endpoint (never its secret)."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        e = get_endpoint(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            endpoint_id=endpoint_id,
            actor=Actor.cli(),
        )
        rows = {
            "id": str(e.id),
            "url": e.url,
            "description": e.description or "—",
            "app": str(e.app_id) if e.app_id else "every app",
            "events": ", ".join(e.events),
            "enabled": "yes" if e.enabled else "no",
            "disabled": f"{_time(e.disabled_at)}: {e.disabled_reason}" if e.disabled_at else "—",
            "failing since": _time(e.failing_since),
            "created": _time(e.created_at),
        }
    for key, value in rows.items():
        typer.echo(f"{key}: {value}")


def _set_enabled(endpoint_id: int, workspace: str, *, enabled: bool) -> None:
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        set_endpoint_enabled(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            endpoint_id=endpoint_id,
            enabled=enabled,
            actor=Actor.cli(),
        )
    typer.echo(f"webhook endpoint {endpoint_id} {'enabled' if enabled else 'disabled'}")


@webhooks_app.command("enable")
def webhooks_enable(endpoint_id: EndpointId, workspace: WorkspaceOption = "default") -> None:
    """Send to the endpoint again (after it was disabled for failing, or by hand)."""
    _set_enabled(endpoint_id, workspace, enabled=True)


@webhooks_app.command("disable")
def webhooks_disable(endpoint_id: EndpointId, workspace: WorkspaceOption = "default") -> None:
    """Stop sending to the endpoint; new events are not queued for it."""
    _set_enabled(endpoint_id, workspace, enabled=False)


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: EndpointId, workspace: WorkspaceOption = "default") -> None:
    """Delete the endpoint, its deliveries and its signing secret."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        remove_endpoint(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            endpoint_id=endpoint_id,
            actor=Actor.cli(),
        )
    typer.echo(f"webhook endpoint {endpoint_id} removed")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: EndpointId,
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1, max=500)] = 50,
    workspace: WorkspaceOption = "default",
) -> None:
    """The endpoint's deliveries: event, state, attempts, the last answer."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        table = Table("id", "created", "event", "state", "attempts", "answer", "webhook-id")
        for d in list_deliveries(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            endpoint_id=endpoint_id,
            actor=Actor.cli(),
            limit=limit,
        ):
            table.add_row(
                str(d.id),
                _time(d.created_at),
                d.event_type,
                d.state.value,
                str(d.attempts),
                d.last_error or (str(d.last_status_code) if d.last_status_code else "—"),
                d.message_id,
            )
    console.print(table)


@webhooks_app.command("delivery")
def webhooks_delivery(delivery_id: DeliveryId, workspace: WorkspaceOption = "default") -> None:
    """One delivery: its payload and every attempt with the receiver's answer."""
    with runtime_or_exit() as runtime, runtime.sessions() as session:
        d, attempts = get_delivery(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            delivery_id=delivery_id,
            actor=Actor.cli(),
        )
        typer.echo(f"delivery {d.id}: {d.event_type}, {d.state.value}, webhook-id {d.message_id}")
        for a in attempts:
            answer = a.error or f"answered {a.status_code}"
            typer.echo(f"  {_time(a.attempted_at)}  {answer}  ({a.duration_ms} ms)")
        typer.echo(json.dumps(d.payload, indent=2, sort_keys=True))


@webhooks_app.command("redeliver")
def webhooks_redeliver(delivery_id: DeliveryId, workspace: WorkspaceOption = "default") -> None:
    """Send a delivered or failed delivery again, with the same webhook-id."""
    with runtime_or_exit() as runtime, runtime.sessions.begin() as session:
        redeliver(
            session,
            workspace_id=workspace_by_slug(session, workspace).id,
            delivery_id=delivery_id,
            actor=Actor.cli(),
        )
    typer.echo(f"delivery {delivery_id} queued again; the worker sends it within seconds")
