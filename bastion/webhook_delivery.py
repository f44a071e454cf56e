"""Sending the webhook outbox (``bastion.webhook_events``), signed by the Standard Webhooks spec.

Each delivery is POSTed with ``webhook-id`` (the delivery's message id, the same on every
attempt), ``webhook-timestamp`` and ``webhook-signature`` (HMAC-SHA256 by the ``standardwebhooks``
package, with the endpoint's secret from the vault), within a 10 s timeout. A 2xx answer
delivers it; anything else is tried again after 5 s, 1 min, 10 min, 1 h and 6 h, then the
delivery fails. A redirect is an answer like any other failure: it is never followed.

Exactly once per delivery id: a worker claims a delivery with a compare-and-set that gives it a
lease (``BASTION_WEBHOOK_LEASE_SECONDS``, longer than the timeout), and records the answer only
if its claim still holds. A worker killed mid-delivery leaves the row claimed; once the lease
has run out another worker sends it again with the same ``webhook-id``, so a receiver that keeps
the ids it has seen drops the repeat.

An endpoint whose every attempt failed for a day is disabled, its pending deliveries fail, and
the person who registered it (else the workspace admins) is e-mailed.

Endpoints must use ``https://``; ``http://`` only to a loopback address, and only when
``BASTION_WEBHOOK_ALLOW_LOOPBACK_HTTP`` is set (tests, a receiver on the same machine).
"""

from __future__ import annotations

import base64
import html
import ipaddress
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from bastion.actions.secrets import read_secret
from bastion.audit import AuditAction, record
from bastion.errors import InvalidInput
from bastion.logs import get_logger, register_secret
from bastion.notify import queue_email
from bastion.runtime import Runtime
from bastion.storage.models import (
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from bastion.storage.models.enums import UserStatus, WebhookDeliveryState, WorkspaceRole

log = get_logger(__name__)
# Seconds to wait after the 1st, 2nd, … failed attempt; after the last, the delivery fails.
BACKOFF_SECONDS = (5, 60, 600, 3600, 6 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
TIMEOUT_SECONDS = 10.0
DISABLE_AFTER = timedelta(days=1)
ENDPOINT_DISABLED = "the endpoint is disabled"
LOST_ATTEMPT = "the worker stopped before the answer was recorded; sent again with the same id"
USER_AGENT = "Bastion-Webhooks/1"
Clock = Callable[[], datetime]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url: str, *, allow_loopback_http: bool) -> str:
    """The URL if Bastion may deliver to it; InvalidInput naming what is wrong otherwise."""
    url = url.strip()
    if len(url) > 2000:
        raise InvalidInput("url", "must be at most 2000 characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError:
        raise InvalidInput("url", "is not a valid URL") from None
    if not parts.hostname:
        raise InvalidInput("url", "must name a host, like https://hooks.example.com/bastion")
    if parts.username or parts.password:
        raise InvalidInput("url", "must not hold a user name or password")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        if allow_loopback_http:
            return url
        raise InvalidInput(
            "url",
            "must use https:// (http:// to a loopback address needs "
            "BASTION_WEBHOOK_ALLOW_LOOPBACK_HTTP)",
        )
    raise InvalidInput("url", "must use https://")


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int
    url: str
    message_id: str
    body: str
    secret: str


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def due_delivery_ids(session: Session, now: datetime, *, limit: int = 200) -> list[int]:
    """Deliveries due now, and those whose worker's lease ran out."""
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                or_(
                    and_(
                        WebhookDelivery.state == WebhookDeliveryState.PENDING,
                        WebhookDelivery.next_attempt_at <= now,
                    ),
                    and_(
                        WebhookDelivery.state == WebhookDeliveryState.DELIVERING,
                        WebhookDelivery.lease_expires_at < now,
                    ),
                )
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
    )


def claim_delivery(runtime: Runtime, delivery_id: int, now: datetime) -> Claim | None:
    """Take the delivery for one attempt, or None if it is not due or someone else has it."""
    lease = timedelta(seconds=runtime.settings.webhook_lease_seconds)
    with runtime.sessions.begin() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return None
        seen_state, seen_attempts = delivery.state, delivery.attempts
        due = (
            seen_state == WebhookDeliveryState.PENDING
            and delivery.next_attempt_at is not None
            and delivery.next_attempt_at <= now
        ) or (
            seen_state == WebhookDeliveryState.DELIVERING
            and delivery.lease_expires_at is not None
            and delivery.lease_expires_at < now
        )
        if not due:
            return None
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == seen_state,
                WebhookDelivery.attempts == seen_attempts,
            )
            .values(
                state=WebhookDeliveryState.DELIVERING,
                attempts=seen_attempts + 1,
                lease_expires_at=now + lease,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        session.refresh(delivery)
        if seen_state == WebhookDeliveryState.DELIVERING:
            session.add(_attempt_row(delivery, Answer(None, LOST_ATTEMPT, 0), now))
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        refusal = _refusal(runtime, endpoint)
        if refusal is not None:
            delivery.state, delivery.last_error = WebhookDeliveryState.FAILED, refusal
            delivery.next_attempt_at = delivery.lease_expires_at = None
            return None
        secret = read_secret(
            session,
            runtime.require_key_ring(),
            workspace_id=endpoint.workspace_id,
            secret_id=endpoint.secret_id,
        )
        register_secret(secret)
        return Claim(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            url=endpoint.url,
            message_id=delivery.message_id,
            body=json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True),
            secret=secret,
        )


def _refusal(runtime: Runtime, endpoint: WebhookEndpoint) -> str | None:
    if not endpoint.enabled:
        return ENDPOINT_DISABLED
    try:
        check_endpoint_url(
            endpoint.url, allow_loopback_http=runtime.settings.webhook_allow_loopback_http
        )
    except InvalidInput as exc:
        return f"not sent: {exc.message}"
    return None


def post(claim: Claim, client: httpx.Client) -> Answer:
    """One signed POST; the answer or why there was none. Redirects are never followed."""
    signed_at = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": claim.message_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": Webhook(claim.secret).sign(claim.message_id, signed_at, claim.body),
    }
    started = time.monotonic()
    try:
        response = client.post(
            claim.url, content=claim.body.encode(), headers=headers, follow_redirects=False
        )
    except httpx.TimeoutException:
        return Answer(None, f"no answer within {TIMEOUT_SECONDS:g} s", _ms(started))
    except httpx.HTTPError as exc:
        return Answer(None, f"could not reach the endpoint ({type(exc).__name__})", _ms(started))
    error = None
    if response.is_redirect:
        target = urlsplit(response.headers.get("location", "")).hostname or "elsewhere"
        error = f"redirected to {target}; Bastion does not follow redirects"
    elif not response.is_success:
        error = f"answered {response.status_code} {response.reason_phrase}"[:1000]
    return Answer(response.status_code, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def record_answer(runtime: Runtime, claim: Claim, answer: Answer, now: datetime) -> bool:
    """Write the attempt's outcome if the claim still holds; False if another worker took it."""
    with runtime.sessions.begin() as session:
        delivery = session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.id == claim.delivery_id,
                WebhookDelivery.state == WebhookDeliveryState.DELIVERING,
                WebhookDelivery.attempts == claim.attempt,
            )
            .with_for_update()
        ).first()
        if delivery is None:
            log.warning("webhook claim lost", delivery_id=claim.delivery_id)
            return False
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        session.add(_attempt_row(delivery, answer, now))
        delivery.lease_expires_at = None
        delivery.last_status_code, delivery.last_error = answer.status_code, answer.error
        if answer.delivered:
            delivery.state, delivery.delivered_at = WebhookDeliveryState.DELIVERED, now
            delivery.next_attempt_at = None
            endpoint.failing_since = None
            log.info("webhook delivered", delivery_id=delivery.id, status=answer.status_code)
            return True
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.state, delivery.next_attempt_at = WebhookDeliveryState.FAILED, None
        else:
            delivery.state = WebhookDeliveryState.PENDING
            delivery.next_attempt_at = now + timedelta(
                seconds=BACKOFF_SECONDS[delivery.attempts - 1]
            )
        log.warning(
            "webhook not delivered",
            delivery_id=delivery.id,
            attempts=delivery.attempts,
            status=answer.status_code,
            final=delivery.state == WebhookDeliveryState.FAILED,
        )
        endpoint.failing_since = endpoint.failing_since or now
        if endpoint.enabled and now - endpoint.failing_since >= DISABLE_AFTER:
            disable_failing_endpoint(session, endpoint, now, base_url=runtime.settings.base_url)
        return True


def _attempt_row(delivery: WebhookDelivery, answer: Answer, now: datetime) -> WebhookAttempt:
    return WebhookAttempt(
        workspace_id=delivery.workspace_id,
        delivery_id=delivery.id,
        attempted_at=now,
        status_code=answer.status_code,
        error=answer.error,
        duration_ms=answer.duration_ms,
    )


def disable_failing_endpoint(
    session: Session, endpoint: WebhookEndpoint, now: datetime, *, base_url: str
) -> None:
    """Stop sending to an endpoint that failed for a day, and tell whoever registered it."""
    endpoint.enabled, endpoint.disabled_at = False, now
    endpoint.disabled_reason = "every delivery failed for a day"
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.state == WebhookDeliveryState.PENDING,
        )
        .values(state=WebhookDeliveryState.FAILED, last_error=ENDPOINT_DISABLED)
        .execution_options(synchronize_session=False)
    )
    record(
        session,
        workspace_id=endpoint.workspace_id,
        actor="system:webhooks",
        action=AuditAction.WEBHOOK_DISABLED,
        target=f"webhook:{endpoint.id}",
        details={"endpoint_id": endpoint.id, "reason": endpoint.disabled_reason},
    )
    link = f"{base_url}/webhooks/{endpoint.id}"
    text = (
        f"Every delivery to the webhook endpoint {endpoint.url} failed for a day, so Bastion "
        f"disabled it and stopped sending to it. See the answers it gave and enable it again "
        f"once it works: {link}"
    )
    queue_email(
        session,
        workspace_id=endpoint.workspace_id,
        kind=f"webhook-disabled:{endpoint.id}",
        recipients=_owner_emails(session, endpoint),
        subject="[Bastion] A webhook endpoint was disabled",
        text=text + "\n",
        html=f"<p>{html.escape(text.removesuffix(link))}"
        f'<a href="{html.escape(link)}">{html.escape(link)}</a></p>',
    )


def _owner_emails(session: Session, endpoint: WebhookEndpoint) -> list[str]:
    user = (
        session.get(User, endpoint.created_by_user_id)
        if endpoint.created_by_user_id is not None
        else None
    )
    if user is not None and user.status == UserStatus.ACTIVE and user.removed_at is None:
        return [user.email] if user.email else []
    return list(
        session.scalars(
            select(User.email).where(
                User.workspace_id == endpoint.workspace_id,
                User.role == WorkspaceRole.ADMIN,
                User.status == UserStatus.ACTIVE,
            )
        )
    )


def deliver_one(
    runtime: Runtime, delivery_id: int, *, client: httpx.Client, clock: Clock = utcnow
) -> bool:
    """Claim, send and record one delivery; whether an attempt was made."""
    claim = claim_delivery(runtime, delivery_id, clock())
    if claim is None:
        return False
    answer = post(claim, client)
    record_answer(runtime, claim, answer, clock())
    return True


def make_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        timeout=TIMEOUT_SECONDS, follow_redirects=False, transport=transport, trust_env=False
    )


def deliver_due_webhooks(
    runtime: Runtime, *, clock: Clock = utcnow, client: httpx.Client | None = None
) -> int:
    """Send every due delivery once; return how many attempts were made."""
    with runtime.sessions() as session:
        due = due_delivery_ids(session, clock())
    if not due:
        return 0
    own_client = client is None
    http = client or make_client()
    try:
        return sum(
            deliver_one(runtime, delivery_id, client=http, clock=clock) for delivery_id in due
        )
    finally:
        if own_client:
            http.close()
