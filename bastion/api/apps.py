"""Connected apps.

GET    /api/v1/apps                      apps the caller may see
POST   /api/v1/apps                      connect an app (validates the token first; one app
                                         per business: 409 names the app holding it)
GET    /api/v1/apps/{app_id}             one app
PATCH  /api/v1/apps/{app_id}             edit settings, replace the token, auto-cancel invitations
DELETE /api/v1/apps/{app_id}             disconnect (nothing changes in the app)
POST   /api/v1/apps/{app_id}/checks      check for updates now
GET    /api/v1/apps/{app_id}/runs        the latest checks
GET    /api/v1/apps/{app_id}/changes     what a check found changed
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from sqlalchemy import select

from bastion.actions.apps import (
    MAX_INVITATION_AGE_DAYS,
    AppChanges,
    ConnectRequest,
    connect_app,
    disconnect_app,
    request_check,
    update_app,
)
from bastion.actions.permissions import CHECK, VIEW_APP, VIEW_DETAILS, VIEW_PEOPLE, can
from bastion.api.auth import DB, CurrentPrincipal, runtime_of
from bastion.api.common import NOT_BLANK, PathId, app_for, enqueue_check, json_integer
from bastion.api.errors import READ_ERRORS, UPSTREAM_ERRORS, WRITE_ERRORS
from bastion.queries import list_changes, list_runs
from bastion.storage.models import App

router = APIRouter(tags=["apps"])


class AppOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    label: str
    business_id: str | None
    business_name: str | None
    login_method: str
    status: str
    status_reason: str | None
    restricted_until: datetime | None
    safeguard_threshold_percent: int
    daily_check_minute: int | None
    last_check_at: datetime | None
    next_check_at: datetime | None
    disconnected_at: datetime | None
    app_secret_set: bool = Field(description="Whether the App secret is stored (never shown)")
    token_expires_at: datetime | None = Field(
        description="When the token lapses; null when it never expires or is unknown"
    )
    token_expiry_known: bool = Field(
        description="False without the App secret: Meta tells a token's expiry only to the app"
    )
    business_verification_status: str | None = Field(
        description="Meta's verification status of the business (`verified`, `not_verified` …)"
    )
    connection_checked_at: datetime | None
    connection_warnings: list[str] = Field(
        description="What the last connection check warned about (it did not block connecting)"
    )
    auto_cancel_invitations_days: int | None = Field(
        description="Each check cancels pending invitations first seen more than this many days "
        "ago; null: only by hand"
    )

    @classmethod
    def of(cls, app: App) -> AppOut:
        return cls(
            id=app.id,
            kind=app.kind.value,
            label=app.label,
            business_id=app.settings.get("business_id"),
            business_name=app.settings.get("business_name") or None,
            login_method=app.login_method.value,
            status=app.status.value,
            status_reason=app.status_reason,
            restricted_until=app.restricted_until,
            safeguard_threshold_percent=app.safeguard_threshold_percent,
            daily_check_minute=app.daily_check_minute,
            last_check_at=app.last_check_at,
            next_check_at=app.next_check_at,
            disconnected_at=app.disconnected_at,
            app_secret_set=app.app_secret_id is not None,
            token_expires_at=app.token_expires_at,
            token_expiry_known=app.app_secret_id is not None,
            business_verification_status=app.business_verification_status,
            connection_checked_at=app.connection_checked_at,
            connection_warnings=list(app.connection_warnings or []),
            auto_cancel_invitations_days=app.auto_cancel_invitations_days,
        )


# Meta's tokens and App secrets are printable ASCII without spaces (they travel in headers).
CREDENTIAL_PATTERN = r"^[!-~]+$"
META_ID_PATTERN = r"^[0-9]+$"
MinuteOfDay = Annotated[int, Field(ge=0, le=1439), BeforeValidator(json_integer)]
Percent = Annotated[int, Field(ge=0, le=100), BeforeValidator(json_integer)]
Days = Annotated[int, Field(ge=1, le=MAX_INVITATION_AGE_DAYS), BeforeValidator(json_integer)]


class ConnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    token: str = Field(
        min_length=1,
        max_length=4000,
        pattern=CREDENTIAL_PATTERN,
        description="System-user access token",
    )
    business_id: str = Field(min_length=1, max_length=64, pattern=META_ID_PATTERN)
    app_id: str = Field(min_length=1, max_length=64, pattern=META_ID_PATTERN)
    app_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=CREDENTIAL_PATTERN,
        description="The App secret of the app (optional; stored encrypted, never returned)",
    )
    login_method: Literal["sso", "password"]
    kind: Literal["meta_business"] = "meta_business"


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=200, pattern=NOT_BLANK)
    daily_check_minute: MinuteOfDay | None = None
    on_demand_only: StrictBool = False
    safeguard_threshold_percent: Percent | None = None
    login_method: Literal["sso", "password"] | None = None
    token: str | None = Field(
        default=None, min_length=1, max_length=4000, pattern=CREDENTIAL_PATTERN
    )
    app_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=CREDENTIAL_PATTERN,
        description="Add or replace the App secret",
    )
    auto_cancel_invitations_days: Days | None = Field(
        default=None,
        description="Cancel pending invitations older than this many days at each check; "
        "null turns it off, leaving the field out keeps the setting",
    )


class CheckQueued(BaseModel):
    app_id: int
    queued: bool


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    trigger: str
    state: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None
    graph_operations: int


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: int
    kind: str
    summary: str
    account_id: int | None
    asset_id: int | None
    partner_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    outside_bastion: bool
    created_at: datetime


@router.get("/apps", responses=READ_ERRORS)
def list_apps(session: DB, principal: CurrentPrincipal) -> list[AppOut]:
    apps = session.scalars(
        select(App)
        .where(App.workspace_id == principal.workspace_id, App.disconnected_at.is_(None))
        .order_by(App.id)
    )
    return [
        AppOut.of(app)
        for app in apps
        if can(session, user=principal.user, app=app, action=VIEW_APP)
    ]


@router.post("/apps", status_code=201, responses={**WRITE_ERRORS, **UPSTREAM_ERRORS})
def connect(body: ConnectIn, request: Request, session: DB, principal: CurrentPrincipal) -> AppOut:
    runtime = runtime_of(request)
    app = connect_app(
        session,
        runtime.require_key_ring(),
        runtime.connector_options,
        workspace_id=principal.workspace_id,
        request=ConnectRequest(
            kind=body.kind,
            label=body.label,
            token=body.token,
            settings={"business_id": body.business_id, "app_id": body.app_id},
            login_method=body.login_method,
            app_secret=body.app_secret,
        ),
        actor=principal.actor,
    )
    session.commit()
    enqueue_check(request, principal, app.id)
    return AppOut.of(app)


@router.get("/apps/{app_id}", responses=READ_ERRORS)
def get_app(app_id: PathId, session: DB, principal: CurrentPrincipal) -> AppOut:
    return AppOut.of(app_for(session, principal, app_id, VIEW_APP))


@router.patch("/apps/{app_id}", responses={**WRITE_ERRORS, **UPSTREAM_ERRORS})
def update(
    app_id: PathId, body: UpdateIn, request: Request, session: DB, principal: CurrentPrincipal
) -> AppOut:
    runtime = runtime_of(request)
    app = update_app(
        session,
        runtime.require_key_ring(),
        runtime.connector_options,
        workspace_id=principal.workspace_id,
        app_id=app_id,
        changes=AppChanges(
            **body.model_dump(),
            never_auto_cancel="auto_cancel_invitations_days" in body.model_fields_set
            and body.auto_cancel_invitations_days is None,
        ),
        actor=principal.actor,
    )
    session.commit()
    return AppOut.of(app)


@router.delete("/apps/{app_id}", responses=WRITE_ERRORS)
def disconnect(app_id: PathId, session: DB, principal: CurrentPrincipal) -> AppOut:
    app = disconnect_app(
        session, workspace_id=principal.workspace_id, app_id=app_id, actor=principal.actor
    )
    session.commit()
    return AppOut.of(app)


@router.post("/apps/{app_id}/checks", status_code=202, responses=WRITE_ERRORS)
def check_now(
    app_id: PathId, request: Request, session: DB, principal: CurrentPrincipal
) -> CheckQueued:
    app_for(session, principal, app_id, CHECK)
    request_check(
        session, workspace_id=principal.workspace_id, app_id=app_id, actor=principal.actor
    )
    session.commit()
    enqueue_check(request, principal, app_id)
    return CheckQueued(app_id=app_id, queued=True)


@router.get("/apps/{app_id}/runs", responses=READ_ERRORS)
def runs(
    app_id: PathId,
    session: DB,
    principal: CurrentPrincipal,
    limit: int = Query(20, ge=1, le=200),
) -> list[RunOut]:
    app = app_for(session, principal, app_id, VIEW_DETAILS)
    return [
        RunOut(
            id=r.id,
            trigger=r.trigger.value,
            state=r.state.value,
            started_at=r.started_at,
            finished_at=r.finished_at,
            counts=r.counts,
            error=r.error,
            graph_operations=r.graph_operations,
        )
        for r in list_runs(session, app.id, limit)
    ]


@router.get("/apps/{app_id}/changes", responses=READ_ERRORS)
def changes(
    app_id: PathId,
    session: DB,
    principal: CurrentPrincipal,
    run_id: int | None = Query(None, ge=1, le=2**31 - 1),
) -> list[ChangeOut]:
    app = app_for(session, principal, app_id, VIEW_PEOPLE)
    return [
        ChangeOut(
            id=c.id,
            run_id=c.run_id,
            kind=c.kind.value,
            summary=c.summary,
            account_id=c.account_id,
            asset_id=c.asset_id,
            partner_id=c.partner_id,
            before=c.before,
            after=c.after,
            outside_bastion=c.outside_bastion,
            created_at=c.created_at,
        )
        for c in list_changes(session, app.id, run_id)
    ]
