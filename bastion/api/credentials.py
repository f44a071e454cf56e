"""Saved logins of password apps (``bastion/actions/credentials.py``) and each app's policy.

PUT  /api/v1/accounts/{account_id}/credentials         save (or replace) one's own login
POST /api/v1/accounts/{account_id}/credentials/reveal  one's own login, password and current
                                                       code: a browser session signed in
                                                       within 5 minutes only, never a token
GET  /api/v1/apps/{app_id}/credentials                 which accounts have a saved login,
                                                       two-factor, rotation (owners; no value)
PUT  /api/v1/apps/{app_id}/credential-policy           two-factor, rotation days, rotate
                                                       after reveals (owners)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from bastion.actions.credentials import (
    MAX_LOGIN,
    MAX_PASSWORD,
    PHONE_PATTERN,
    CredentialPolicy,
    Reveal,
    reveal,
    save_credentials,
    set_credential_policy,
)
from bastion.actions.permissions import VIEW_APP
from bastion.api.auth import COOKIE_NAMES, DB, CurrentPrincipal, Principal, runtime_of
from bastion.api.common import EMAIL_PATTERN, PathId, app_for, json_integer
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS, ErrorBody
from bastion.credential_status import (
    CredentialStatus,
    RotationState,
    credential_statuses,
    statuses_of_person,
)
from bastion.errors import InvalidInput, PermissionDenied
from bastion.security.totp import MAX_TEXT
from bastion.security.web_sessions import resolve_web_session
from bastion.storage.models import WebSession

router = APIRouter(tags=["credentials"])

LOGIN_PATTERN = rf"^(?:{EMAIL_PATTERN[1:-1]}|{PHONE_PATTERN})$"
TOTP_PATTERN = r"^(?:otpauth://totp/[!-~]+|[A-Za-z2-7= -]+)$"
NO_STORE = {"Cache-Control": "no-store"}


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


SAVE_ERRORS = {
    **WRITE_ERRORS,
    403: _doc("Not the account's own person (owners and admins included)"),
    409: _doc("The app is signed in to with single sign-on, or the account is exempted"),
    422: _doc(
        "A field is wrong (`field`: login, password, totp, totp_code — the code does not match "
        "the key, or the key is under 112 bits); the refusal is audited, nothing is stored"
    ),
}
REVEAL_ERRORS = {
    **WRITE_ERRORS,
    403: _doc(
        "`permission_denied`: an API token (only a browser session may reveal), or not the "
        "account's own person; `reauthentication_required`: the session signed in more than "
        "5 minutes ago — sign in again"
    ),
    404: _doc("No such account, or no login saved for it"),
}


class CredentialsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(
        min_length=3,
        max_length=MAX_LOGIN,
        pattern=LOGIN_PATTERN,
        description="The e-mail or phone number typed on Facebook's login page",
    )
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    totp: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEXT,
        pattern=TOTP_PATTERN,
        description="The two-factor key Facebook shows (base32, spaces allowed) or the "
        "otpauth://totp/ link of its QR code; at least 112 bits",
    )
    totp_code: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6,8}$",
        description="With `totp`: the code the authenticator app shows now (checked ±30 s)",
    )


class CredentialStatusOut(BaseModel):
    """A saved login as its app's owners may know it: never a value."""

    account_id: int
    account_name: str
    user_id: int
    person_name: str
    saved_at: datetime
    two_factor: bool
    two_factor_missing: bool = Field(
        description="The app requires two-factor and this login has no key (saved, flagged)"
    )
    password_set_at: datetime
    last_revealed_at: datetime | None
    rotation: RotationState
    rotation_due_at: datetime | None

    @classmethod
    def of(cls, status: CredentialStatus) -> CredentialStatusOut:
        return cls(**status.__dict__)


class PolicyOut(BaseModel):
    require_two_factor: bool
    rotation_days: int | None
    rotate_after_reveal: bool


class CredentialListOut(BaseModel):
    policy: PolicyOut
    items: list[CredentialStatusOut]


RotationDays = Annotated[int, Field(ge=1, le=365), BeforeValidator(json_integer)]


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_two_factor: StrictBool
    rotation_days: RotationDays | None = Field(
        description="Change the password this many days after it was set; null for no schedule"
    )
    rotate_after_reveal: StrictBool = Field(
        description="Change the password after each time its person copies or reveals it"
    )


class RevealOut(BaseModel):
    login: str
    password: str
    totp_code: str | None = Field(description="The current one-time code; null without a key")
    totp_seconds_left: int | None = Field(description="Until the code changes")


def _status_of(session: Session, principal: Principal, account_id: int) -> CredentialStatusOut:
    found = statuses_of_person(session, user=principal.user, account_ids=[account_id])
    return CredentialStatusOut.of(found[account_id])


@router.put("/accounts/{account_id}/credentials", responses=SAVE_ERRORS)
def save(
    account_id: PathId,
    body: CredentialsIn,
    request: Request,
    session: DB,
    principal: CurrentPrincipal,
) -> CredentialStatusOut:
    try:
        save_credentials(
            session,
            runtime_of(request).require_key_ring(),
            account_id=account_id,
            actor=principal.actor,
            login=body.login,
            password=body.password,
            totp=body.totp,
            totp_code=body.totp_code,
        )
    except InvalidInput:
        session.commit()  # the refusal's audit event alone
        raise
    session.commit()
    return _status_of(session, principal, account_id)


def _browser_session(request: Request, session: Session, principal: Principal) -> WebSession:
    """The caller's browser session. An API token is refused: a reveal needs the person to have
    proved who they are minutes ago, which a long-lived token cannot say (docs/api.md)."""
    if principal.via != "session":
        raise PermissionDenied(
            "Revealing a login needs a signed-in browser session, not an API token"
        )
    for name in COOKIE_NAMES:
        found = resolve_web_session(session, request.cookies.get(name))
        if found is not None and found[1].id == principal.user.id:
            return found[0]
    raise PermissionDenied("Revealing a login needs a signed-in browser session")


@router.post(
    "/accounts/{account_id}/credentials/reveal",
    responses=REVEAL_ERRORS,
    response_model=RevealOut,
)
def reveal_credentials(
    account_id: PathId, request: Request, session: DB, principal: CurrentPrincipal
) -> JSONResponse:
    web_session = _browser_session(request, session, principal)
    try:
        shown = reveal(
            session,
            runtime_of(request).require_key_ring(),
            account_id=account_id,
            actor=principal.actor,
            web_session=web_session,
            fields=Reveal.PASSWORD,
        )
    except PermissionDenied:
        session.commit()  # a stale sign-in's refusal is audited
        raise
    session.commit()
    body = RevealOut(
        login=shown.login,
        password=shown.password or "",
        totp_code=shown.code.code if shown.code else None,
        totp_seconds_left=shown.code.seconds_left if shown.code else None,
    )
    return JSONResponse(body.model_dump(), headers=NO_STORE)


@router.get("/apps/{app_id}/credentials", responses=READ_ERRORS)
def list_credentials(app_id: PathId, session: DB, principal: CurrentPrincipal) -> CredentialListOut:
    app = app_for(session, principal, app_id, VIEW_APP)
    statuses = credential_statuses(session, actor=principal.actor, app=app)
    return CredentialListOut(
        policy=PolicyOut(**CredentialPolicy.of(app).__dict__),
        items=[CredentialStatusOut.of(s) for s in statuses.values()],
    )


@router.put("/apps/{app_id}/credential-policy", responses=WRITE_ERRORS)
def put_policy(
    app_id: PathId, body: PolicyIn, session: DB, principal: CurrentPrincipal
) -> PolicyOut:
    app = set_credential_policy(
        session,
        app_id=app_id,
        actor=principal.actor,
        workspace_id=principal.workspace_id,
        require_two_factor=body.require_two_factor,
        rotation_days=body.rotation_days,
        rotate_after_reveal=body.rotate_after_reveal,
    )
    session.commit()
    return PolicyOut(**CredentialPolicy.of(app).__dict__)
