"""Webhook endpoints and their deliveries, for owners (their apps') and admins (all).

GET    /api/v1/webhooks                               endpoints this caller manages
POST   /api/v1/webhooks                               register one; the answer holds its secret
GET    /api/v1/webhook-events                         the event types and what each means
GET    /api/v1/webhooks/{endpoint_id}                 one endpoint (never its secret)
PATCH  /api/v1/webhooks/{endpoint_id}                 enable or disable it
DELETE /api/v1/webhooks/{endpoint_id}                 remove it, its deliveries and its secret
GET    /api/v1/webhooks/{endpoint_id}/deliveries      its deliveries, newest first
GET    /api/v1/webhooks/deliveries/{delivery_id}      one delivery, its payload and attempts
POST   /api/v1/webhooks/deliveries/{delivery_id}/redeliver    again, with the same webhook-id
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

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
from bastion.api.auth import DB, CurrentPrincipal, runtime_of
from bastion.api.common import PathId
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.storage.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from bastion.webhook_events import EVENT_TYPES

router = APIRouter(tags=["webhooks"])


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="https:// only")
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str = Field(default="", max_length=500)
    app_id: int | None = Field(
        default=None, ge=1, description="Only this app's events; null: every app's (admins)"
    )


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class EndpointOut(BaseModel):
    id: int
    url: str
    description: str
    events: list[str]
    app_id: int | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, e: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=e.id,
            url=e.url,
            description=e.description,
            events=list(e.events),
            app_id=e.app_id,
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            disabled_at=e.disabled_at,
            failing_since=e.failing_since,
            created_at=e.created_at,
        )


class NewEndpointOut(EndpointOut):
    secret: str = Field(description="The signing secret (whsec_…): shown this once only")


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    message_id: str = Field(description="The webhook-id header, the same on every attempt")
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=d.id,
            endpoint_id=d.endpoint_id,
            message_id=d.message_id,
            event_type=d.event_type,
            state=d.state.value,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, a: WebhookAttempt) -> AttemptOut:
        return cls(
            attempted_at=a.attempted_at,
            status_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
        )


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]


@router.get("/webhooks", responses=READ_ERRORS)
def endpoints(session: DB, principal: CurrentPrincipal) -> list[EndpointOut]:
    found = list_endpoints(session, workspace_id=principal.workspace_id, actor=principal.actor)
    return [EndpointOut.of(e) for e in found]


@router.post("/webhooks", status_code=201, responses=WRITE_ERRORS)
def register(
    body: EndpointIn, request: Request, session: DB, principal: CurrentPrincipal
) -> NewEndpointOut:
    """The answer carries the signing secret; nothing shows it again."""
    runtime = runtime_of(request)
    made = create_endpoint(
        session,
        runtime.require_key_ring(),
        workspace_id=principal.workspace_id,
        url=body.url,
        events=body.events,
        description=body.description,
        app_id=body.app_id,
        allow_loopback_http=runtime.settings.webhook_allow_loopback_http,
        actor=principal.actor,
    )
    session.commit()
    return NewEndpointOut(**EndpointOut.of(made.endpoint).model_dump(), secret=made.secret)


# Beside /webhooks, not under it: /webhooks/{endpoint_id} would claim the word as an id.
@router.get("/webhook-events", responses=READ_ERRORS)
def events(principal: CurrentPrincipal) -> dict[str, str]:
    """Every event type an endpoint may choose, and what it tells."""
    return dict(EVENT_TYPES)


@router.get("/webhooks/{endpoint_id}", responses=READ_ERRORS)
def endpoint(endpoint_id: PathId, session: DB, principal: CurrentPrincipal) -> EndpointOut:
    found = get_endpoint(
        session, workspace_id=principal.workspace_id, endpoint_id=endpoint_id, actor=principal.actor
    )
    return EndpointOut.of(found)


@router.patch("/webhooks/{endpoint_id}", responses=WRITE_ERRORS)
def update(
    endpoint_id: PathId, body: EndpointPatch, session: DB, principal: CurrentPrincipal
) -> EndpointOut:
    changed = set_endpoint_enabled(
        session,
        workspace_id=principal.workspace_id,
        endpoint_id=endpoint_id,
        enabled=body.enabled,
        actor=principal.actor,
    )
    session.commit()
    return EndpointOut.of(changed)


@router.delete("/webhooks/{endpoint_id}", status_code=204, responses=WRITE_ERRORS)
def remove(endpoint_id: PathId, session: DB, principal: CurrentPrincipal) -> Response:
    remove_endpoint(
        session, workspace_id=principal.workspace_id, endpoint_id=endpoint_id, actor=principal.actor
    )
    session.commit()
    return Response(status_code=204)


@router.get("/webhooks/{endpoint_id}/deliveries", responses=READ_ERRORS)
def deliveries(
    endpoint_id: PathId,
    session: DB,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=500),
) -> list[DeliveryOut]:
    found = list_deliveries(
        session,
        workspace_id=principal.workspace_id,
        endpoint_id=endpoint_id,
        actor=principal.actor,
        limit=limit,
    )
    return [DeliveryOut.of(d) for d in found]


@router.get("/webhooks/deliveries/{delivery_id}", responses=READ_ERRORS)
def delivery(delivery_id: PathId, session: DB, principal: CurrentPrincipal) -> DeliveryDetail:
    found, attempts = get_delivery(
        session, workspace_id=principal.workspace_id, delivery_id=delivery_id, actor=principal.actor
    )
    return DeliveryDetail(
        **DeliveryOut.of(found).model_dump(),
        payload=dict(found.payload),
        attempt_log=[AttemptOut.of(a) for a in attempts],
    )


@router.post(
    "/webhooks/deliveries/{delivery_id}/redeliver", status_code=202, responses=WRITE_ERRORS
)
def send_again(delivery_id: PathId, session: DB, principal: CurrentPrincipal) -> DeliveryOut:
    """Due at once, with the same webhook-id (409 unless it was delivered or failed)."""
    found = redeliver(
        session, workspace_id=principal.workspace_id, delivery_id=delivery_id, actor=principal.actor
    )
    session.commit()
    return DeliveryOut.of(found)
