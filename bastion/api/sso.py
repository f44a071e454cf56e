"""The workspace's identity provider for single sign-on (workspace admins).

    GET    /api/v1/sso     the settings (never the client secret)
    PUT    /api/v1/sso     set or change them; the issuer is asked for its discovery document
    DELETE /api/v1/sso     stop single sign-on

See ``bastion.actions.sso`` for what a sign-in checks.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from bastion.actions.permissions import MANAGE_DIRECTORY, require
from bastion.actions.sso import configure_sso, redirect_uri, remove_sso, sso_config
from bastion.api.apps import CREDENTIAL_PATTERN
from bastion.api.auth import DB, CurrentPrincipal, runtime_of
from bastion.api.common import NOT_BLANK
from bastion.api.errors import READ_ERRORS, WRITE_ERRORS
from bastion.errors import NotFound
from bastion.storage.models import SsoConfig

router = APIRouter(tags=["sign-in"])


class SsoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str = Field(
        min_length=1, max_length=100, pattern=NOT_BLANK, description="Shown as 'Sign in with …'"
    )
    issuer: str = Field(
        min_length=1,
        max_length=500,
        pattern=r"^https?://[!-~]+$",
        description="The OpenID Provider's issuer, exactly as its discovery document states it",
    )
    client_id: str = Field(min_length=1, max_length=300, pattern=CREDENTIAL_PATTERN)
    client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        pattern=CREDENTIAL_PATTERN,
        description="Required the first time; omitted keeps the stored one (never returned)",
    )
    allowed_domains: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="E-mail domains allowed to sign in; empty allows any",
    )
    enabled: StrictBool = True


class SsoOut(BaseModel):
    display_name: str
    issuer: str
    client_id: str
    allowed_domains: list[str]
    enabled: bool
    redirect_uri: str = Field(description="Register this at the identity provider")
    updated_at: datetime

    @classmethod
    def of(cls, config: SsoConfig, base_url: str) -> SsoOut:
        return cls(
            display_name=config.display_name,
            issuer=config.issuer,
            client_id=config.client_id,
            allowed_domains=list(config.allowed_domains),
            enabled=config.enabled,
            redirect_uri=redirect_uri(base_url),
            updated_at=config.updated_at,
        )


@router.get("/sso", responses=READ_ERRORS)
def get_sso(request: Request, session: DB, principal: CurrentPrincipal) -> SsoOut:
    require(session, actor=principal.actor, app=None, action=MANAGE_DIRECTORY)
    config = sso_config(session, principal.workspace_id)
    if config is None:
        raise NotFound("no identity provider is configured")
    return SsoOut.of(config, runtime_of(request).settings.base_url)


@router.put("/sso", responses=WRITE_ERRORS)
def put_sso(request: Request, body: SsoIn, session: DB, principal: CurrentPrincipal) -> SsoOut:
    runtime = runtime_of(request)
    config = configure_sso(
        session,
        runtime.require_key_ring(),
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        display_name=body.display_name,
        issuer=body.issuer,
        client_id=body.client_id,
        client_secret=body.client_secret,
        allowed_domains=body.allowed_domains,
        enabled=body.enabled,
    )
    session.commit()
    return SsoOut.of(config, runtime.settings.base_url)


@router.delete("/sso", status_code=204, responses=WRITE_ERRORS)
def delete_sso(session: DB, principal: CurrentPrincipal) -> Response:
    remove_sso(session, workspace_id=principal.workspace_id, actor=principal.actor)
    session.commit()
    return Response(status_code=204)
