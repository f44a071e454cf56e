"""Connecting an app, and reaching its connector with the stored token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.secrets import read_secret, store_secret
from bastion.audit import AuditAction, record
from bastion.concurrency import run_sync
from bastion.connectors.base import ConnectionCheck
from bastion.connectors.registry import (
    Connector,
    ConnectorOptions,
    open_connector,
    validate_app_settings,
)
from bastion.errors import BastionError, InvalidInput
from bastion.logs import register_secret
from bastion.security.vault import KeyRing
from bastion.storage.models import App, AppMember, utcnow
from bastion.storage.models.enums import AppKind, AppRole, AppStatus, LoginMethod
from bastion.storage.tenancy import Tenant

TOKEN_PURPOSE = "app.token"  # noqa: S105 - the purpose label of a secret, not a secret


class ConnectionRefused(BastionError):
    """The app refused the connection; ``check`` says why, line by line."""

    code = "connection_refused"

    def __init__(self, check: ConnectionCheck) -> None:
        super().__init__("The connection was refused: " + " ".join(check.problems))
        self.check = check


@dataclass(frozen=True)
class ConnectRequest:
    kind: str
    label: str
    token: str
    settings: dict[str, str]
    login_method: str


def _clean(request: ConnectRequest) -> tuple[AppKind, str, dict[str, str], LoginMethod]:
    try:
        kind = AppKind(request.kind)
    except ValueError:
        raise InvalidInput("kind", f"unknown app kind {request.kind!r}") from None
    label = request.label.strip()
    if not label:
        raise InvalidInput("label", "must not be empty")
    if len(label) > 200:
        raise InvalidInput("label", "must be at most 200 characters")
    if not request.token.strip():
        raise InvalidInput("token", "must not be empty")
    try:
        login_method = LoginMethod(request.login_method)
    except ValueError:
        raise InvalidInput("login_method", "must be sso or password") from None
    return kind, label, validate_app_settings(kind.value, request.settings), login_method


def validate_connection(
    request: ConnectRequest, options: ConnectorOptions
) -> tuple[ConnectionCheck, dict[str, str]]:
    """Ask the app whether this token can manage this business (nothing is stored)."""
    kind, _label, settings, _method = _clean(request)
    register_secret(request.token.strip())

    async def check() -> ConnectionCheck:
        connector = open_connector(kind.value, settings, request.token.strip(), options)
        try:
            return await connector.validate()
        finally:
            await connector.aclose()

    return run_sync(check()), settings


def connect_app(
    session: Session,
    ring: KeyRing,
    options: ConnectorOptions,
    *,
    workspace_id: int,
    request: ConnectRequest,
    actor: Actor,
) -> App:
    """Validate, store the token encrypted, make the actor the Owner; the first check is due now.

    Raises ConnectionRefused (with every problem found) when the app refuses the token.
    """
    kind, label, _settings, login_method = _clean(request)
    check, settings = validate_connection(request, options)
    if not check.ok:
        raise ConnectionRefused(check)
    tenant = Tenant(session, workspace_id)
    secret = store_secret(
        session, ring, workspace_id=workspace_id, purpose=TOKEN_PURPOSE, value=request.token.strip()
    )
    now = utcnow()
    app = tenant.add(
        App(
            kind=kind,
            label=label,
            settings={**settings, "business_name": check.business_name or ""},
            token_secret_id=secret.id,
            token_set_at=now,
            token_set_by_id=actor.user_id,
            login_method=login_method,
            status=AppStatus.REQUIRES_CHECK,
            next_check_at=now,
        )
    )
    session.flush()
    if actor.user_id is not None:
        tenant.add(AppMember(app_id=app.id, user_id=actor.user_id, role=AppRole.OWNER))
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.APP_CONNECTED,
        target=f"app:{app.id}",
        details={
            "label": label,
            "kind": kind.value,
            "business_id": settings.get("business_id"),
            "login_method": login_method.value,
        },
        request_id=actor.request_id,
    )
    session.flush()
    return app


def app_token(session: Session, ring: KeyRing, app: App) -> str:
    if app.token_secret_id is None:
        raise InvalidInput("token", f"app {app.label!r} has no token; set one in its settings")
    token = read_secret(session, ring, workspace_id=app.workspace_id, secret_id=app.token_secret_id)
    register_secret(token)
    return token


def connector_for(
    session: Session, ring: KeyRing, options: ConnectorOptions, app: App
) -> Connector:
    return open_connector(app.kind.value, app.settings, app_token(session, ring, app), options)
