"""Webhook endpoints as owners and admins manage them: register, list, remove, enable, and the
delivery log with manual redelivery.

An endpoint for one app is its owners' (and the admins'); an endpoint with no app receives every
app's events and is the admins' alone (``manage_webhooks``). The signing secret is made here,
kept in the vault, and returned once, by ``create_endpoint``; nothing reads it back but the
delivery (``bastion.webhook_delivery``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.permissions import MANAGE_WEBHOOKS, can, owns_an_app, require
from bastion.actions.secrets import store_secret
from bastion.audit import AuditAction, record
from bastion.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from bastion.security.vault import KeyRing
from bastion.storage.models import (
    App,
    Secret,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from bastion.storage.models.enums import UserStatus, WebhookDeliveryState, WorkspaceRole
from bastion.storage.tenancy import Tenant
from bastion.webhook_delivery import check_endpoint_url, new_signing_secret
from bastion.webhook_events import EVENT_TYPES

SECRET_PURPOSE = "webhook_signing"  # noqa: S105 - a purpose label, not a secret
REDELIVERABLE = frozenset({WebhookDeliveryState.DELIVERED, WebhookDeliveryState.FAILED})
_LARGEST_ID = 2_147_483_647


@dataclass(frozen=True)
class NewEndpoint:
    """The endpoint just registered and its signing secret, which is shown this once."""

    endpoint: WebhookEndpoint
    secret: str


def parse_events(events: Iterable[str]) -> list[str]:
    """The chosen event types, known and sorted; InvalidInput naming an unknown one."""
    chosen = sorted({e.strip() for e in events if e and e.strip()})
    if not chosen:
        raise InvalidInput("events", "choose at least one event")
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            "events", f"unknown event {unknown[0]!r} (known: {', '.join(sorted(EVENT_TYPES))})"
        )
    return chosen


def create_endpoint(
    session: Session,
    ring: KeyRing,
    *,
    workspace_id: int,
    url: str,
    events: Iterable[str],
    description: str = "",
    app_id: int | None = None,
    allow_loopback_http: bool,
    actor: Actor,
) -> NewEndpoint:
    app = Tenant(session, workspace_id).get(App, app_id) if app_id is not None else None
    require(session, actor=actor, app=app, action=MANAGE_WEBHOOKS)
    url = check_endpoint_url(url, allow_loopback_http=allow_loopback_http)
    chosen = parse_events(events)
    description = description.strip()
    if len(description) > 500:
        raise InvalidInput("description", "must be at most 500 characters")
    secret = new_signing_secret()
    stored = store_secret(
        session, ring, workspace_id=workspace_id, purpose=SECRET_PURPOSE, value=secret
    )
    endpoint = WebhookEndpoint(
        workspace_id=workspace_id,
        app_id=app_id,
        url=url,
        description=description,
        events=chosen,
        secret_id=stored.id,
        created_by_user_id=actor.user_id,
    )
    session.add(endpoint)
    session.flush()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.WEBHOOK_CREATED,
        target=f"webhook:{endpoint.id}",
        details={"endpoint_id": endpoint.id, "url": url, "events": chosen, "app_id": app_id},
        request_id=actor.request_id,
    )
    return NewEndpoint(endpoint, secret)


def list_endpoints(session: Session, *, workspace_id: int, actor: Actor) -> list[WebhookEndpoint]:
    """The endpoints this actor manages: every one for admins, their apps' for owners."""
    rows = session.scalars(
        Tenant(session, workspace_id).select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    ).all()
    if actor.user_id is None:
        return list(rows)
    user = session.get(User, actor.user_id)
    if user is None or not manages_webhooks(session, user=user):
        raise PermissionDenied(
            "Managing webhooks needs the workspace admin role or the owner role on an app"
        )
    apps = {a.id: a for a in session.scalars(select(App).where(App.workspace_id == workspace_id))}
    return [
        e
        for e in rows
        if can(session, user=user, app=apps.get(e.app_id or -1), action=MANAGE_WEBHOOKS)
    ]


def manages_webhooks(session: Session, *, user: User) -> bool:
    """Admins, and owners of an app (for that app's endpoints): who sees the Webhooks page."""
    if can(session, user=user, app=None, action=MANAGE_WEBHOOKS):
        return True
    return (
        user.status == UserStatus.ACTIVE
        and user.removed_at is None
        and user.role != WorkspaceRole.GUEST
        and owns_an_app(session, user=user)
    )


def get_endpoint(
    session: Session, *, workspace_id: int, endpoint_id: int, actor: Actor
) -> WebhookEndpoint:
    endpoint = _find(session, workspace_id, endpoint_id)
    _require(session, actor, endpoint)
    return endpoint


def remove_endpoint(session: Session, *, workspace_id: int, endpoint_id: int, actor: Actor) -> None:
    """Delete the endpoint, its deliveries and its signing secret."""
    endpoint = get_endpoint(
        session, workspace_id=workspace_id, endpoint_id=endpoint_id, actor=actor
    )
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.WEBHOOK_REMOVED,
        target=f"webhook:{endpoint.id}",
        details={"endpoint_id": endpoint.id, "url": endpoint.url},
        request_id=actor.request_id,
    )
    secret_id = endpoint.secret_id
    delivery_ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()
    session.execute(delete(Secret).where(Secret.id == secret_id))


def set_endpoint_enabled(
    session: Session, *, workspace_id: int, endpoint_id: int, enabled: bool, actor: Actor
) -> WebhookEndpoint:
    """Turn an endpoint on (after it was disabled for failing) or off."""
    endpoint = get_endpoint(
        session, workspace_id=workspace_id, endpoint_id=endpoint_id, actor=actor
    )
    if endpoint.enabled == enabled:
        return endpoint
    endpoint.enabled = enabled
    endpoint.failing_since = None
    endpoint.disabled_at = None if enabled else utcnow()
    endpoint.disabled_reason = None if enabled else f"disabled by {actor.label}"
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.WEBHOOK_ENABLED if enabled else AuditAction.WEBHOOK_DISABLED,
        target=f"webhook:{endpoint.id}",
        details={"endpoint_id": endpoint.id},
        request_id=actor.request_id,
    )
    return endpoint


def list_deliveries(
    session: Session, *, workspace_id: int, endpoint_id: int, actor: Actor, limit: int = 50
) -> list[WebhookDelivery]:
    """The endpoint's deliveries, newest first."""
    get_endpoint(session, workspace_id=workspace_id, endpoint_id=endpoint_id, actor=actor)
    return list(
        session.scalars(
            Tenant(session, workspace_id)
            .select(WebhookDelivery, WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def get_delivery(
    session: Session, *, workspace_id: int, delivery_id: int, actor: Actor
) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    """One delivery and its attempts, oldest first."""
    delivery = _find_delivery(session, workspace_id, delivery_id)
    _require(session, actor, _find(session, workspace_id, delivery.endpoint_id))
    attempts = session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.id)
    ).all()
    return delivery, list(attempts)


def redeliver(
    session: Session, *, workspace_id: int, delivery_id: int, actor: Actor
) -> WebhookDelivery:
    """Send a delivered or failed delivery again, with the same ``webhook-id``, from its first
    attempt. The worker sends it within seconds."""
    delivery = _find_delivery(session, workspace_id, delivery_id, lock=True)
    endpoint = _find(session, workspace_id, delivery.endpoint_id)
    _require(session, actor, endpoint)
    if delivery.state not in REDELIVERABLE:
        raise Conflict(
            f"delivery {delivery_id} is {delivery.state.value}; only a delivered or failed "
            "delivery can be sent again"
        )
    if not endpoint.enabled:
        raise Conflict(f"webhook endpoint {endpoint.id} is disabled; enable it first")
    before = delivery.state
    delivery.state, delivery.attempts = WebhookDeliveryState.PENDING, 0
    delivery.next_attempt_at, delivery.lease_expires_at = utcnow(), None
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.WEBHOOK_REDELIVERED,
        target=f"webhook:{endpoint.id}",
        details={"endpoint_id": endpoint.id, "delivery_id": delivery.id, "before": before.value},
        request_id=actor.request_id,
    )
    return delivery


def _require(session: Session, actor: Actor, endpoint: WebhookEndpoint) -> None:
    app = session.get(App, endpoint.app_id) if endpoint.app_id is not None else None
    require(session, actor=actor, app=app, action=MANAGE_WEBHOOKS)


def _find(session: Session, workspace_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id <= _LARGEST_ID else None
    if endpoint is None or endpoint.workspace_id != workspace_id:
        raise NotFound(f"Webhook endpoint {endpoint_id} not found")
    return endpoint


def _find_delivery(
    session: Session, workspace_id: int, delivery_id: int, *, lock: bool = False
) -> WebhookDelivery:
    if not 0 < delivery_id <= _LARGEST_ID:
        raise NotFound(f"Webhook delivery {delivery_id} not found")
    query = Tenant(session, workspace_id).select(WebhookDelivery, WebhookDelivery.id == delivery_id)
    delivery = session.scalars(query.with_for_update() if lock else query).first()
    if delivery is None:
        raise NotFound(f"Webhook delivery {delivery_id} not found")
    return delivery
