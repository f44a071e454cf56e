"""Connecting an app, and reaching its connector with the stored token and App secret."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.permissions import CHECK, MANAGE_APP, require
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
from bastion.errors import BastionError, Conflict, InvalidInput
from bastion.logs import register_secret
from bastion.security.vault import KeyRing
from bastion.storage.models import App, AppMember, utcnow
from bastion.storage.models.enums import AppKind, AppRole, AppStatus, LoginMethod
from bastion.storage.tenancy import Tenant

TOKEN_PURPOSE = "app.token"  # noqa: S105 - the purpose label of a secret, not a secret
APP_SECRET_PURPOSE = "app.secret"  # noqa: S105 - the purpose label of a secret, not a secret
MAX_APP_SECRET_LENGTH = 128
MAX_TOKEN_LENGTH = 4000
# The oldest an invitation's age limit may be (cancelling stale ones, by hand or at each check).
MAX_INVITATION_AGE_DAYS = 3650


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
    # Optional: the secret of the app the token was made for (never shown back).
    app_secret: str | None = None

    def __repr__(self) -> str:
        return f"ConnectRequest(kind={self.kind!r}, label={self.label!r}, token=<hidden>)"


def clean_token(value: str) -> str:
    """The token without surrounding blanks, or InvalidInput saying what is wrong (not what it is).

    A token with a line break or a control character would otherwise reach the HTTP client and
    come back as "could not reach Meta".
    """
    token = value.strip()
    if not token:
        raise InvalidInput("token", "must not be empty")
    if "\n" in token or "\r" in token:
        raise InvalidInput(
            "token", "holds more than one line; paste the system-user access token alone"
        )
    if len(token) > MAX_TOKEN_LENGTH or not token.isprintable() or " " in token:
        raise InvalidInput(
            "token", "must be the system-user access token as Meta shows it, without spaces"
        )
    return token


def _clean_app_secret(value: str | None) -> str | None:
    secret = (value or "").strip()
    if not secret:
        return None
    if "\n" in secret or "\r" in secret:
        raise InvalidInput("app_secret", "holds more than one line; paste the App secret alone")
    if (
        len(secret) > MAX_APP_SECRET_LENGTH
        or not secret.isprintable()
        or any(c.isspace() for c in secret)
    ):
        raise InvalidInput(
            "app_secret", "must be the App secret as shown in the app's dashboard, without spaces"
        )
    return secret


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
    clean_token(request.token)
    try:
        login_method = LoginMethod(request.login_method)
    except ValueError:
        raise InvalidInput("login_method", "must be sso or password") from None
    _clean_app_secret(request.app_secret)
    return kind, label, validate_app_settings(kind.value, request.settings), login_method


def validate_connection(
    request: ConnectRequest, options: ConnectorOptions
) -> tuple[ConnectionCheck, dict[str, str]]:
    """Ask the app whether this token can manage this business (nothing is stored)."""
    kind, _label, settings, _method = _clean(request)
    token, app_secret = clean_token(request.token), _clean_app_secret(request.app_secret)
    register_secret(token)
    if app_secret:
        register_secret(app_secret)
        register_secret(f"{settings.get('app_id', '')}|{app_secret}")

    async def check() -> ConnectionCheck:
        connector = open_connector(kind.value, settings, token, options, app_secret=app_secret)
        try:
            return await connector.validate()
        finally:
            await connector.aclose()

    return run_sync(check()), settings


def _record_check(app: App, check: ConnectionCheck) -> None:
    """Keep what the connection check found; a new expiry starts its reminders afresh."""
    expires_at = check.expires_at if check.token_details_verified else None
    if expires_at != app.token_expires_at:
        app.token_expiry_reminded_days = None
    app.token_expires_at = expires_at
    app.token_identity = check.token_identity
    app.business_verification_status = check.business_verification_status
    app.connection_checked_at = utcnow()
    app.connection_warnings = list(check.warnings)


def _refuse_a_second_connection(
    session: Session, workspace_id: int, kind: AppKind, settings: dict[str, str]
) -> None:
    """One connected app per business: two would check, report and change the same people twice.
    A disconnected app does not count."""
    business_id = settings.get("business_id")
    for app in Tenant(session, workspace_id).all(
        App, App.kind == kind, App.disconnected_at.is_(None)
    ):
        if app.settings.get("business_id") == business_id:
            raise Conflict(
                f"Business {business_id} is already connected as the app {app.label!r} "
                f"(app {app.id}); disconnect that app first to connect it again"
            )


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

    Raises ConnectionRefused (with every problem found) when the app refuses the token, and
    Conflict when the business is already connected as another app.
    """
    require(session, actor=actor, app=None, action=MANAGE_APP)
    kind, label, cleaned, login_method = _clean(request)
    _refuse_a_second_connection(session, workspace_id, kind, cleaned)
    check, settings = validate_connection(request, options)
    if not check.ok:
        raise ConnectionRefused(check)
    tenant = Tenant(session, workspace_id)
    secret = store_secret(
        session,
        ring,
        workspace_id=workspace_id,
        purpose=TOKEN_PURPOSE,
        value=clean_token(request.token),
    )
    app_secret = _clean_app_secret(request.app_secret)
    now = utcnow()
    app = App(
        kind=kind,
        label=label,
        settings={**settings, "business_name": check.business_name or ""},
        token_secret_id=secret.id,
        token_set_at=now,
        token_set_by_id=actor.user_id,
        app_secret_id=(
            store_secret(
                session,
                ring,
                workspace_id=workspace_id,
                purpose=APP_SECRET_PURPOSE,
                value=app_secret,
            ).id
            if app_secret
            else None
        ),
        login_method=login_method,
        status=AppStatus.REQUIRES_CHECK,
        next_check_at=now,
    )
    _record_check(app, check)
    tenant.add(app)
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
            "app_secret_set": app_secret is not None,
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


def app_secret_of(session: Session, ring: KeyRing, app: App) -> str | None:
    if app.app_secret_id is None:
        return None
    secret = read_secret(session, ring, workspace_id=app.workspace_id, secret_id=app.app_secret_id)
    register_secret(secret)
    register_secret(f"{app.settings.get('app_id', '')}|{secret}")
    return secret


def connector_for(
    session: Session, ring: KeyRing, options: ConnectorOptions, app: App
) -> Connector:
    return open_connector(
        app.kind.value,
        app.settings,
        app_token(session, ring, app),
        options,
        app_secret=app_secret_of(session, ring, app),
    )


@dataclass(frozen=True)
class AppChanges:
    """Settings to change; None leaves a setting as it is."""

    label: str | None = None
    daily_check_minute: int | None = None
    on_demand_only: bool = False
    safeguard_threshold_percent: int | None = None
    login_method: str | None = None
    token: str | None = None
    app_secret: str | None = None
    # Cancel invitations older than this many days at each check; ``never_auto_cancel`` stops it.
    auto_cancel_invitations_days: int | None = None
    never_auto_cancel: bool = False

    def __repr__(self) -> str:
        return f"AppChanges(label={self.label!r}, token=<hidden>, app_secret=<hidden>)"


def update_app(
    session: Session,
    ring: KeyRing,
    options: ConnectorOptions,
    *,
    workspace_id: int,
    app_id: int,
    changes: AppChanges,
    actor: Actor,
) -> App:
    """Edit an app's settings; a replacement token or App secret is validated like a new
    connection first (together with the one that stays)."""
    tenant = Tenant(session, workspace_id)
    app = tenant.get(App, app_id)
    require(session, actor=actor, app=app, action=MANAGE_APP)
    if app.disconnected_at is not None:
        raise Conflict(f"app {app.label!r} is disconnected")
    changed: list[str] = []
    if changes.label is not None:
        label = changes.label.strip()
        if not label or len(label) > 200:
            raise InvalidInput("label", "must be 1 to 200 characters")
        if label != app.label:
            app.label = label
            changed.append("label")
    if changes.on_demand_only:
        if app.daily_check_minute is not None:
            app.daily_check_minute, app.next_check_at = None, None
            changed.append("daily_check_minute")
    elif changes.daily_check_minute is not None:
        if not 0 <= changes.daily_check_minute < 24 * 60:
            raise InvalidInput("daily_check_minute", "must be between 0 and 1439")
        if changes.daily_check_minute != app.daily_check_minute:
            app.daily_check_minute = changes.daily_check_minute
            changed.append("daily_check_minute")
    if changes.safeguard_threshold_percent is not None:
        if not 0 <= changes.safeguard_threshold_percent <= 100:
            raise InvalidInput("safeguard_threshold_percent", "must be between 0 and 100")
        if changes.safeguard_threshold_percent != app.safeguard_threshold_percent:
            app.safeguard_threshold_percent = changes.safeguard_threshold_percent
            changed.append("safeguard_threshold_percent")
    if changes.never_auto_cancel or changes.auto_cancel_invitations_days is not None:
        days = None if changes.never_auto_cancel else changes.auto_cancel_invitations_days
        if days is not None and not 1 <= days <= MAX_INVITATION_AGE_DAYS:
            raise InvalidInput(
                "auto_cancel_invitations_days", f"must be between 1 and {MAX_INVITATION_AGE_DAYS}"
            )
        if days != app.auto_cancel_invitations_days:
            app.auto_cancel_invitations_days = days
            changed.append("auto_cancel_invitations_days")
    if changes.login_method is not None:
        try:
            method = LoginMethod(changes.login_method)
        except ValueError:
            raise InvalidInput("login_method", "must be sso or password") from None
        if method != app.login_method:
            app.login_method = method
            changed.append("login_method")
    new_token = clean_token(changes.token) if changes.token is not None else None
    new_app_secret = _clean_app_secret(changes.app_secret)
    if new_token or new_app_secret:
        _replace_credentials(
            session, ring, options, app, token=new_token, app_secret=new_app_secret, actor=actor
        )
    if changed or new_token or new_app_secret:
        record(
            session,
            workspace_id=workspace_id,
            actor=actor.label,
            action=AuditAction.APP_UPDATED,
            target=f"app:{app.id}",
            details={
                "fields": changed,
                "token_replaced": new_token is not None,
                "app_secret_replaced": new_app_secret is not None,
            },
            request_id=actor.request_id,
        )
    session.flush()
    return app


def _replace_credentials(
    session: Session,
    ring: KeyRing,
    options: ConnectorOptions,
    app: App,
    *,
    token: str | None,
    app_secret: str | None,
    actor: Actor,
) -> None:
    """Validate the new token or App secret with the one that stays, then store it."""
    request = ConnectRequest(
        kind=app.kind.value,
        label=app.label,
        token=token or app_token(session, ring, app),
        settings={k: v for k, v in app.settings.items() if k != "business_name"},
        login_method=app.login_method.value,
        app_secret=app_secret or app_secret_of(session, ring, app),
    )
    check, _settings = validate_connection(request, options)
    if not check.ok:
        raise ConnectionRefused(check)
    workspace_id = app.workspace_id
    if token:
        secret = store_secret(
            session, ring, workspace_id=workspace_id, purpose=TOKEN_PURPOSE, value=token
        )
        app.token_secret_id, app.token_set_at = secret.id, utcnow()
        app.token_set_by_id = actor.user_id
    if app_secret:
        app.app_secret_id = store_secret(
            session, ring, workspace_id=workspace_id, purpose=APP_SECRET_PURPOSE, value=app_secret
        ).id
    _record_check(app, check)
    app.status, app.status_reason, app.next_check_at = AppStatus.REQUIRES_CHECK, None, utcnow()


def disconnect_app(session: Session, *, workspace_id: int, app_id: int, actor: Actor) -> App:
    """Stop managing the app: nothing changes in the app itself, and its history is kept."""
    app = Tenant(session, workspace_id).get(App, app_id)
    require(session, actor=actor, app=app, action=MANAGE_APP)
    if app.disconnected_at is not None:
        raise Conflict(f"app {app.label!r} is already disconnected")
    app.disconnected_at, app.next_check_at = utcnow(), None
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.APP_DISCONNECTED,
        target=f"app:{app.id}",
        details={"label": app.label},
        request_id=actor.request_id,
    )
    session.flush()
    return app


def request_check(session: Session, *, workspace_id: int, app_id: int, actor: Actor) -> App:
    """Ask for a check now; the interface then queues the job (``Jobs.enqueue_check``)."""
    app = Tenant(session, workspace_id).get(App, app_id)
    require(session, actor=actor, app=app, action=CHECK)
    if app.disconnected_at is not None:
        raise Conflict(f"app {app.label!r} is disconnected")
    app.next_check_at = utcnow()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.APP_CHECK_REQUESTED,
        target=f"app:{app.id}",
        details={"user": actor.user_id, "next_check_at": app.next_check_at.isoformat()},
        request_id=actor.request_id,
    )
    return app
