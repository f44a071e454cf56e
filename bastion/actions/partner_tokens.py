"""A native partner's own token: added, replaced or removed by an app owner.

With it each check imports the partner's people on our assets (bastion/actions/partner_people.py).
The token is validated like ours before it is stored: Meta must accept it, and it must be a
system user's token of that very partner business. It is kept as a vault secret; the old one is
deleted when it is replaced or removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.apps import clean_token, connector_for
from bastion.actions.permissions import MANAGE_APP, require
from bastion.actions.secrets import read_secret, store_secret
from bastion.audit import AuditAction, record
from bastion.concurrency import run_sync
from bastion.connectors.base import PartnerTokenCheck
from bastion.connectors.registry import ConnectorOptions
from bastion.errors import Conflict, InvalidInput
from bastion.logs import register_secret
from bastion.security.vault import KeyRing
from bastion.storage.models import App, Partner, Secret, utcnow
from bastion.storage.models.enums import PartnerRelation
from bastion.storage.tenancy import Tenant

PARTNER_TOKEN_PURPOSE = "partner.token"  # noqa: S105 - the purpose label of a secret


@dataclass(frozen=True)
class PartnerToken:
    """What a check needs to read one partner's people."""

    partner_external_id: str
    partner_name: str
    token: str

    def __repr__(self) -> str:
        return f"PartnerToken(partner_external_id={self.partner_external_id!r}, token=<hidden>)"


def _partner_and_app(
    session: Session, *, workspace_id: int, app_id: int, partner_id: int, actor: Actor
) -> tuple[Partner, App]:
    tenant = Tenant(session, workspace_id)
    app = tenant.get(App, app_id)
    require(session, actor=actor, app=app, action=MANAGE_APP)
    partner = tenant.get(Partner, partner_id)
    if partner.app_id != app.id:
        raise InvalidInput("partner_id", f"partner {partner_id} is not a partner of this app")
    if app.disconnected_at is not None:
        raise Conflict(f"app {app.label!r} is disconnected")
    return partner, app


def set_partner_token(
    session: Session,
    ring: KeyRing,
    options: ConnectorOptions,
    *,
    workspace_id: int,
    app_id: int,
    partner_id: int,
    token: str,
    actor: Actor,
) -> Partner:
    """Validate and store (or replace) a partner's token; a refused one is not stored and the
    refusal names why (InvalidInput on ``token``)."""
    partner, app = _partner_and_app(
        session, workspace_id=workspace_id, app_id=app_id, partner_id=partner_id, actor=actor
    )
    if not partner.present:
        raise Conflict(f"{partner.name or partner.external_id} is no longer a partner of the app")
    if partner.relation != PartnerRelation.AGENCY:
        raise Conflict(
            f"{partner.name or partner.external_id} is a client: its people do not reach our "
            "assets, so there is nothing to import with its token"
        )
    value = clean_token(token)
    register_secret(value)
    check = _check(session, ring, options, app, partner, value)
    if not check.ok:
        raise InvalidInput("token", check.problem or "Meta did not accept the token")
    replaced = partner.token_secret_id is not None
    old = partner.token_secret_id
    secret = store_secret(
        session, ring, workspace_id=workspace_id, purpose=PARTNER_TOKEN_PURPOSE, value=value
    )
    partner.token_secret_id, partner.token_set_at = secret.id, utcnow()
    partner.token_set_by_id, partner.token_identity = actor.user_id, check.identity
    # Nothing is known about its people with this token until the next check reads them.
    partner.people_status = partner.people_status_reason = partner.people_checked_at = None
    _delete_secret(session, workspace_id, old)
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.PARTNER_TOKEN_SET,
        target=f"app:{app.id}",
        details={"partner": partner.external_id, "replaced": replaced, "identity": check.identity},
        request_id=actor.request_id,
    )
    session.flush()
    return partner


def remove_partner_token(
    session: Session, *, workspace_id: int, app_id: int, partner_id: int, actor: Actor
) -> Partner:
    """Stop importing the partner's people; those imported stay as the last check saw them."""
    partner, app = _partner_and_app(
        session, workspace_id=workspace_id, app_id=app_id, partner_id=partner_id, actor=actor
    )
    if partner.token_secret_id is None:
        raise Conflict(f"{partner.name or partner.external_id} has no token to remove")
    old = partner.token_secret_id
    partner.token_secret_id = partner.token_set_at = partner.token_set_by_id = None
    partner.token_identity = None
    partner.people_status = partner.people_status_reason = partner.people_checked_at = None
    _delete_secret(session, workspace_id, old)
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.PARTNER_TOKEN_REMOVED,
        target=f"app:{app.id}",
        details={"partner": partner.external_id},
        request_id=actor.request_id,
    )
    session.flush()
    return partner


def partner_tokens(session: Session, ring: KeyRing, app: App) -> list[PartnerToken]:
    """The tokens of the app's present agencies that have one, for a check."""
    found: list[PartnerToken] = []
    for partner in Tenant(session, app.workspace_id).all(
        Partner,
        Partner.app_id == app.id,
        Partner.present.is_(True),
        Partner.token_secret_id.is_not(None),
    ):
        if partner.token_secret_id is None:
            continue
        value = read_secret(
            session, ring, workspace_id=app.workspace_id, secret_id=partner.token_secret_id
        )
        register_secret(value)
        found.append(PartnerToken(partner.external_id, partner.name, value))
    return found


def _check(
    session: Session,
    ring: KeyRing,
    options: ConnectorOptions,
    app: App,
    partner: Partner,
    token: str,
) -> PartnerTokenCheck:
    connector = connector_for(session, ring, options, app)

    async def check() -> PartnerTokenCheck:
        try:
            return await connector.check_partner_token(
                partner_external_id=partner.external_id, partner_name=partner.name, token=token
            )
        finally:
            await connector.aclose()

    return run_sync(check())


def _delete_secret(session: Session, workspace_id: int, secret_id: str | None) -> None:
    if secret_id is None:
        return
    secret = Tenant(session, workspace_id).find(Secret, Secret.id == secret_id)
    if secret is not None:
        session.flush()  # the partner no longer points at it
        session.delete(secret)
