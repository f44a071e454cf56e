"""Webhooks: where Bastion sends signed events, for admins (every app's) and owners (their
apps').

Routes:
    GET  /webhooks                                  endpoints and the form to register one
    POST /webhooks                                  register; the answer shows the secret once
    GET  /webhooks/{endpoint_id}                    one endpoint and its deliveries
    POST /webhooks/{endpoint_id}/enable             send to it again
    POST /webhooks/{endpoint_id}/disable            stop sending to it
    POST /webhooks/{endpoint_id}/remove             delete it, its deliveries and its secret
    GET  /webhooks/deliveries/{delivery_id}         one delivery: payload and every attempt
    POST /webhooks/deliveries/{delivery_id}/redeliver   send it again, with the same webhook-id
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from bastion.actions.permissions import MANAGE_WEBHOOKS
from bastion.actions.webhooks import (
    REDELIVERABLE,
    create_endpoint,
    get_delivery,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    redeliver,
    remove_endpoint,
    set_endpoint_enabled,
)
from bastion.errors import InvalidInput
from bastion.storage.models import App
from bastion.web.context import DB, Me, PageRoute, allowed, redirect, render, runtime_of
from bastion.webhook_events import EVENT_TYPES

router = APIRouter(route_class=PageRoute)


def _apps(db: DB, me: Me) -> list[App]:
    """The connected apps whose endpoints this person may register."""
    apps = db.scalars(
        select(App)
        .where(App.workspace_id == me.workspace_id, App.disconnected_at.is_(None))
        .order_by(App.label)
    ).all()
    return [a for a in apps if allowed(db, me, a, MANAGE_WEBHOOKS)]


def _list_page(
    request: Request, db: DB, me: Me, *, status_code: int = 200, **extra: object
) -> Response:
    endpoints = list_endpoints(db, workspace_id=me.workspace_id, actor=me.actor)
    apps = _apps(db, me)
    labels = {
        a.id: a.label for a in db.scalars(select(App).where(App.workspace_id == me.workspace_id))
    }
    values: dict[str, object] = {
        "section": "webhooks",
        "endpoints": endpoints,
        "apps": apps,
        "labels": labels,
        "event_types": EVENT_TYPES,
        "every_app": allowed(db, me, None, MANAGE_WEBHOOKS),
        "form": {"url": "", "description": "", "app_id": "", "events": []},
        "error": None,
    }
    values.update(extra)
    return render(request, "webhooks/list.html", values, me=me, status_code=status_code)


@router.get("/webhooks")
def webhooks(request: Request, db: DB, me: Me) -> Response:
    return _list_page(request, db, me)


@router.post("/webhooks")
def webhook_create(
    request: Request,
    db: DB,
    me: Me,
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    app_id: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The signing secret is in this one answer; the vault keeps it for the deliveries."""
    runtime = runtime_of(request)
    chosen = events or []
    form = {"url": url, "description": description, "app_id": app_id, "events": chosen}
    try:
        scope = int(app_id) if app_id else None
    except ValueError:
        scope = -1
    try:
        if scope == -1:
            raise InvalidInput("app", "choose an app from the list")
        made = create_endpoint(
            db,
            runtime.require_key_ring(),
            workspace_id=me.workspace_id,
            url=url,
            events=chosen,
            description=description,
            app_id=scope,
            allow_loopback_http=runtime.settings.webhook_allow_loopback_http,
            actor=me.actor,
        )
    except InvalidInput as exc:
        db.rollback()
        return _list_page(request, db, me, status_code=400, form=form, error=exc)
    db.commit()
    response = _list_page(request, db, me, new_endpoint=made.endpoint, new_secret=made.secret)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/webhooks/{endpoint_id}")
def webhook(request: Request, db: DB, me: Me, endpoint_id: int) -> Response:
    endpoint = get_endpoint(
        db, workspace_id=me.workspace_id, endpoint_id=endpoint_id, actor=me.actor
    )
    deliveries = list_deliveries(
        db, workspace_id=me.workspace_id, endpoint_id=endpoint_id, actor=me.actor, limit=100
    )
    app = db.get(App, endpoint.app_id) if endpoint.app_id else None
    return render(
        request,
        "webhooks/show.html",
        {"section": "webhooks", "endpoint": endpoint, "deliveries": deliveries, "app": app},
        me=me,
    )


def _set_enabled(request: Request, db: DB, me: Me, endpoint_id: int, *, enabled: bool) -> Response:
    set_endpoint_enabled(
        db, workspace_id=me.workspace_id, endpoint_id=endpoint_id, enabled=enabled, actor=me.actor
    )
    db.commit()
    done = "Enabled: new events are sent to it." if enabled else "Disabled: nothing is sent to it."
    return redirect(request, f"/webhooks/{endpoint_id}", done)


@router.post("/webhooks/{endpoint_id}/enable")
def webhook_enable(request: Request, db: DB, me: Me, endpoint_id: int) -> Response:
    return _set_enabled(request, db, me, endpoint_id, enabled=True)


@router.post("/webhooks/{endpoint_id}/disable")
def webhook_disable(request: Request, db: DB, me: Me, endpoint_id: int) -> Response:
    return _set_enabled(request, db, me, endpoint_id, enabled=False)


@router.post("/webhooks/{endpoint_id}/remove")
def webhook_remove(request: Request, db: DB, me: Me, endpoint_id: int) -> Response:
    remove_endpoint(db, workspace_id=me.workspace_id, endpoint_id=endpoint_id, actor=me.actor)
    db.commit()
    return redirect(request, "/webhooks", f"Webhook endpoint {endpoint_id} removed.")


@router.get("/webhooks/deliveries/{delivery_id}")
def webhook_delivery(request: Request, db: DB, me: Me, delivery_id: int) -> Response:
    delivery, attempts = get_delivery(
        db, workspace_id=me.workspace_id, delivery_id=delivery_id, actor=me.actor
    )
    endpoint = get_endpoint(
        db, workspace_id=me.workspace_id, endpoint_id=delivery.endpoint_id, actor=me.actor
    )
    return render(
        request,
        "webhooks/delivery.html",
        {
            "section": "webhooks",
            "delivery": delivery,
            "endpoint": endpoint,
            "attempts": attempts,
            "payload": json.dumps(delivery.payload, indent=2, sort_keys=True),
            "redeliverable": delivery.state in REDELIVERABLE and endpoint.enabled,
        },
        me=me,
    )


@router.post("/webhooks/deliveries/{delivery_id}/redeliver")
def webhook_redeliver(request: Request, db: DB, me: Me, delivery_id: int) -> Response:
    redeliver(db, workspace_id=me.workspace_id, delivery_id=delivery_id, actor=me.actor)
    db.commit()
    return redirect(
        request,
        f"/webhooks/deliveries/{delivery_id}",
        f"Delivery {delivery_id} queued again with the same webhook-id; it goes out in seconds.",
    )
