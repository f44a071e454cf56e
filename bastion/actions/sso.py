"""Single sign-on with the workspace's identity provider (OpenID Connect).

An admin sets the provider once (issuer, client id, client secret, allowed e-mail domains). A
sign-in then goes: ``start_sign_in`` records an attempt (its state, nonce and PKCE verifier,
bound to the browser by a cookie whose hash is kept) and gives the provider's URL; the provider
sends the browser back to ``CALLBACK_PATH``, and ``finish_sign_in`` checks the attempt (known,
this browser's, unused, not expired), has the code exchanged and the ID token checked
(``bastion.security.oidc``), finds the person and opens a session.

The person is found among the workspace's directory people by the claims Okta and Entra ID send:
an e-mail (``email``, or ``preferred_username``/``upn`` when it is one) matched against every
address of a person, or an id (``sub``, Entra's ``oid``) matched against the person's SCIM
``externalId``. Only an **active** directory person may sign in; guests and local partners sign
in with their password. Nobody is ever created here. Every refusal is audited and raises
``SsoRefused`` with a sentence for the refusal page; nothing else is written.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from limits import RateLimitItem, parse
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.permissions import MANAGE_DIRECTORY, require
from bastion.actions.secrets import read_secret, store_secret
from bastion.actions.sessions import TooManyAttempts, open_session
from bastion.actions.users import email_key
from bastion.audit import AuditAction, record
from bastion.errors import BastionError, InvalidInput, NotFound
from bastion.nul_characters import refuse_nul
from bastion.rate_limits import RateCounter
from bastion.security import oidc
from bastion.security.tokens import hash_token
from bastion.security.vault import KeyRing
from bastion.security.web_sessions import NewWebSession
from bastion.storage.models import (
    Secret,
    SsoAttempt,
    SsoConfig,
    User,
    UserEmail,
    Workspace,
    utcnow,
)
from bastion.storage.models.enums import UserSource, UserStatus

CALLBACK_PATH = "/signin/sso/callback"
ATTEMPT_VALID_FOR = timedelta(minutes=10)
SECRET_PURPOSE = "sso_client_secret"  # noqa: S105 - the vault purpose's name
MAX_DOMAINS = 50
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ONE_LINE = re.compile(r"^[\x21-\x7e]+$")
# Local admins and guests sign in with their password, never with a link or the provider.
DIRECTORY_SOURCES = (UserSource.SCIM, UserSource.CSV)


class SsoRefused(BastionError):
    """The sign-in did not open a session; ``problem`` names why, the message says it plainly."""

    code = "sso_refused"

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class SsoStart:
    url: str
    browser_token: str


def redirect_uri(base_url: str) -> str:
    """What the admin registers at the identity provider as the sign-in redirect URI."""
    return base_url.rstrip("/") + CALLBACK_PATH


def sso_config(session: Session, workspace_id: int) -> SsoConfig | None:
    return session.scalar(select(SsoConfig).where(SsoConfig.workspace_id == workspace_id))


def sign_in_choices(session: Session) -> list[tuple[Workspace, SsoConfig]]:
    """Each workspace whose people may sign in with its identity provider (the sign-in page)."""
    rows = session.execute(
        select(Workspace, SsoConfig)
        .join(SsoConfig, SsoConfig.workspace_id == Workspace.id)
        .where(SsoConfig.enabled.is_(True))
        .order_by(Workspace.id)
    )
    return [(workspace, config) for workspace, config in rows]


# --- configuration --------------------------------------------------------------------------


def _text(field: str, value: str, limit: int) -> str:
    value = (value or "").strip()
    refuse_nul(field, value)
    if not value:
        raise InvalidInput(field, "is required")
    if len(value) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    return value


def _domains(values: list[str]) -> list[str]:
    domains: list[str] = []
    for value in values:
        domain = (value or "").strip().lower().lstrip("@")
        if not domain:
            continue
        if not _DOMAIN.match(domain):
            raise InvalidInput("allowed_domains", f"{domain[:60]!r} is not a domain name")
        if domain not in domains:
            domains.append(domain)
    if len(domains) > MAX_DOMAINS:
        raise InvalidInput("allowed_domains", f"at most {MAX_DOMAINS} domains")
    return domains


def configure_sso(
    session: Session,
    ring: KeyRing,
    *,
    workspace_id: int,
    actor: Actor,
    display_name: str,
    issuer: str,
    client_id: str,
    client_secret: str | None,
    allowed_domains: list[str],
    enabled: bool = True,
) -> SsoConfig:
    """Set (or change) the workspace's identity provider; the issuer is checked by asking it.

    ``client_secret`` None keeps the stored one (it is required the first time).
    """
    require(session, actor=actor, app=None, action=MANAGE_DIRECTORY)
    display_name = _text("display_name", display_name, 100)
    issuer = _text("issuer", issuer, 500)
    client_id = _text("client_id", client_id, 300)
    if not _ONE_LINE.match(client_id):
        raise InvalidInput("client_id", "must be one word without spaces")
    if client_secret is not None:
        client_secret = client_secret.strip()
        if not client_secret or len(client_secret) > 2000 or not _ONE_LINE.match(client_secret):
            raise InvalidInput(
                "client_secret", "must be one line without spaces, at most 2000 characters"
            )
    domains = _domains(allowed_domains)
    try:
        oidc.check_issuer_url(issuer)
        oidc.discover(issuer, cached=False)
    except oidc.OidcError as exc:
        raise InvalidInput("issuer", exc.message) from None
    config = sso_config(session, workspace_id)
    if config is None and client_secret is None:
        raise InvalidInput("client_secret", "is required")
    old_secret: str | None = None
    if client_secret is not None:
        secret = store_secret(
            session, ring, workspace_id=workspace_id, purpose=SECRET_PURPOSE, value=client_secret
        )
        if config is not None:
            old_secret = config.client_secret_id
    if config is None:
        config = SsoConfig(workspace_id=workspace_id, client_secret_id=secret.id)
        session.add(config)
    elif client_secret is not None:
        config.client_secret_id = secret.id
    config.display_name, config.issuer, config.client_id = display_name, issuer, client_id
    config.allowed_domains, config.enabled = domains, enabled
    config.updated_by_id = actor.user_id
    session.flush()
    if old_secret is not None:
        session.execute(delete(Secret).where(Secret.id == old_secret))
    oidc.forget_cached()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.SSO_CONFIGURED,
        target=f"workspace:{workspace_id}",
        details={
            "display_name": display_name,
            "issuer": issuer,
            "client_id": client_id,
            "allowed_domains": domains,
            "enabled": enabled,
            "secret_replaced": client_secret is not None,
        },
        request_id=actor.request_id,
    )
    return config


def remove_sso(session: Session, *, workspace_id: int, actor: Actor) -> None:
    """People sign in with passwords and e-mailed links again; open sessions stay."""
    require(session, actor=actor, app=None, action=MANAGE_DIRECTORY)
    config = sso_config(session, workspace_id)
    if config is None:
        raise NotFound("no identity provider is configured")
    issuer, secret_id = config.issuer, config.client_secret_id
    session.delete(config)
    session.flush()
    session.execute(delete(Secret).where(Secret.id == secret_id))
    session.execute(delete(SsoAttempt).where(SsoAttempt.workspace_id == workspace_id))
    oidc.forget_cached()
    record(
        session,
        workspace_id=workspace_id,
        actor=actor.label,
        action=AuditAction.SSO_REMOVED,
        target=f"workspace:{workspace_id}",
        details={"issuer": issuer},
        request_id=actor.request_id,
    )


# --- signing in -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SsoLimiter:
    """Single sign-on starts per client address (shared like the sign-in limits): each writes
    an attempt and may ask the identity provider for its discovery document."""

    per_address: RateLimitItem
    counter: RateCounter = field(default_factory=RateCounter)

    @classmethod
    def default(cls, counter: RateCounter | None = None) -> SsoLimiter:
        return cls(parse("20/minute"), counter or RateCounter())

    def allow(self, address: str) -> bool:
        return self.counter.hit(self.per_address, "sso-start-address", address)


def start_sign_in(
    session: Session,
    limiter: SsoLimiter,
    *,
    workspace_slug: str,
    next_path: str,
    base_url: str,
    ip: str | None,
    reauthenticate: bool = False,
) -> SsoStart:
    """Record an attempt and return where to send the browser (and the cookie binding it).

    ``reauthenticate``: the person must sign in at the provider again now (before a secret is
    shown), which the ID token's ``auth_time`` must then show. ``TooManyAttempts`` past the
    limiter's starts for this address, before anything is read or written.
    """
    if not limiter.allow(ip or "unknown"):
        raise TooManyAttempts("Too many single sign-on attempts. Wait a minute and try again.")
    workspace = session.scalar(select(Workspace).where(Workspace.slug == workspace_slug))
    config = sso_config(session, workspace.id) if workspace is not None else None
    if workspace is None or config is None or not config.enabled:
        raise SsoRefused("not_configured", "Single sign-on is not set up for this workspace.")
    try:
        metadata = oidc.discover(config.issuer)
    except oidc.OidcError as exc:
        _refused_audit(session, workspace.id, exc.problem, config.issuer, None, None)
        raise SsoRefused(exc.problem, exc.message) from None
    now = utcnow()
    session.execute(delete(SsoAttempt).where(SsoAttempt.expires_at < now))
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    verifier, browser = secrets.token_urlsafe(64), secrets.token_urlsafe(32)
    session.add(
        SsoAttempt(
            workspace_id=workspace.id,
            state_hash=hash_token(state),
            browser_hash=hash_token(browser),
            nonce=nonce,
            code_verifier=verifier,
            next_path=next_path[:500],
            reauthenticate=reauthenticate,
            created_at=now,
            expires_at=now + ATTEMPT_VALID_FOR,
        )
    )
    url = oidc.authorization_url(
        metadata,
        client_id=config.client_id,
        redirect_uri=redirect_uri(base_url),
        state=state,
        nonce=nonce,
        code_verifier=verifier,
        reauthenticate=reauthenticate,
    )
    return SsoStart(url=url, browser_token=browser)


@dataclass(frozen=True)
class SsoSignedIn:
    user: User
    web_session: NewWebSession
    next_path: str


def finish_sign_in(
    session: Session,
    ring: KeyRing,
    *,
    params: dict[str, str],
    browser_token: str | None,
    base_url: str,
    ip: str | None,
    user_agent: str | None,
    previous_token: str | None,
    request_id: str | None,
) -> SsoSignedIn:
    """The provider sent the browser back: check everything, then open the person's session.

    The caller commits in both outcomes: a refusal's audit event is worth keeping.
    """
    state = params.get("state") or ""
    attempt = (
        session.scalar(
            select(SsoAttempt).where(SsoAttempt.state_hash == hash_token(state)).with_for_update()
        )
        if state
        else None
    )
    if attempt is None:
        raise SsoRefused(
            "unknown_attempt",
            "This sign-in is not one Bastion started, or it was already finished. Start again "
            "from the sign-in page.",
        )
    workspace_id = attempt.workspace_id
    config = sso_config(session, workspace_id)
    issuer = config.issuer if config else None

    def refuse(problem: str, message: str, email: str | None = None) -> SsoRefused:
        _refused_audit(session, workspace_id, problem, issuer, email, ip, request_id)
        return SsoRefused(problem, message)

    if attempt.used_at is not None:
        raise refuse(
            "replayed", "This sign-in was already used. Start again from the sign-in page."
        )
    if browser_token is None or hash_token(browser_token) != attempt.browser_hash:
        raise refuse(
            "other_browser",
            "This sign-in was started in another browser (or its cookie is gone). Start again "
            "from the sign-in page, in this browser.",
        )
    # Used once, even by two callbacks at the same moment (SQLite has no row locks).
    claimed = session.execute(
        update(SsoAttempt)
        .where(SsoAttempt.id == attempt.id, SsoAttempt.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise refuse(
            "replayed", "This sign-in was already used. Start again from the sign-in page."
        )
    if attempt.expires_at <= utcnow():
        raise refuse("expired_attempt", "This sign-in took too long. Start again.")
    if config is None or not config.enabled:
        raise refuse("not_configured", "Single sign-on is no longer set up for this workspace.")
    if "error" in params:
        error = params["error"][:100]
        description = (params.get("error_description") or "")[:200]
        raise refuse(
            "provider_refused",
            f"The identity provider did not sign you in ({error}"
            + (f": {description}" if description else "")
            + ").",
        )
    try:
        metadata = oidc.discover(config.issuer)
        # RFC 9207: a provider that names itself in the answer must be the one asked.
        if "iss" in params and params["iss"] != metadata.issuer:
            raise oidc.OidcError(
                "issuer_mismatch", "The answer comes from another identity provider."
            )
        code = params.get("code") or ""
        if not code:
            raise oidc.OidcError("no_code", "The identity provider's answer carries no code.")
        secret = read_secret(
            session, ring, workspace_id=workspace_id, secret_id=config.client_secret_id
        )
        claims = oidc.exchange_code(
            metadata,
            client_id=config.client_id,
            client_secret=secret,
            redirect_uri=redirect_uri(base_url),
            code=code,
            code_verifier=attempt.code_verifier,
            nonce=attempt.nonce,
        )
    except oidc.OidcError as exc:
        raise refuse(exc.problem, exc.message) from None
    if attempt.reauthenticate and not oidc.authenticated_since(claims, attempt.created_at):
        raise refuse(
            "not_reauthenticated",
            "The identity provider did not have you sign in again, so this does not prove you "
            "are at the keyboard. Try again; if it keeps happening, sign out there first.",
        )
    user, email, problem = find_person(session, workspace_id, claims, issuer=metadata.issuer)
    if user is None:
        raise refuse(problem, _PERSON_WORDS[problem].format(email=email or "—"), email)
    if config.allowed_domains:
        checked = email or user.email or ""
        domain = checked.rpartition("@")[2].lower()
        if domain not in config.allowed_domains:
            raise refuse(
                "domain_not_allowed",
                f"{checked} is not in a domain allowed to sign in here "
                f"({', '.join(config.allowed_domains)}).",
                checked,
            )
    new = open_session(
        session,
        user,
        method="sso",
        ip=ip,
        user_agent=user_agent,
        previous_token=previous_token,
        request_id=request_id,
    )
    return SsoSignedIn(user=user, web_session=new, next_path=attempt.next_path)


_PERSON_WORDS = {
    "no_identity": "The identity provider did not say who you are (no e-mail and no id).",
    "unknown_person": "Nobody in this workspace's directory is {email}. Ask an administrator to "
    "add you to the directory (through the identity provider's provisioning).",
    "ambiguous_person": "{email} matches more than one person in the directory. Ask an "
    "administrator to correct the directory.",
    "inactive_person": "{email} is not active in the directory (deprovisioned or suspended), so "
    "it cannot sign in.",
    "not_a_directory_person": "{email} is a guest account: guests sign in with their password.",
}


ENTRA_ISSUER = "https://login.microsoftonline.com/"


def _claimed_emails(claims: dict[str, Any], issuer: str) -> list[str]:
    """The addresses the provider vouches for: ``email`` only when it says it verified it;
    ``preferred_username``/``upn`` only from an Entra ID tenant, whose administrators set them
    (elsewhere a person may be able to choose their own username)."""
    emails: list[str] = []
    email = claims.get("email")
    verified = claims.get("email_verified")
    if isinstance(email, str) and "@" in email and verified in (True, "true"):
        emails.append(email)
    if issuer.startswith(ENTRA_ISSUER):
        for name in ("preferred_username", "upn"):
            value = claims.get(name)
            if isinstance(value, str) and "@" in value and value not in emails:
                emails.append(value)
    return [e.strip() for e in emails if len(e) <= 320]


def _claimed_ids(claims: dict[str, Any]) -> list[str]:
    return [
        value
        for name in ("oid", "sub")
        if isinstance(value := claims.get(name), str) and value and len(value) <= 200
    ]


def _one_person(found: list[User], shown: str | None) -> tuple[User | None, str | None, str]:
    people = [u for u in found if u.source in DIRECTORY_SOURCES]
    if not people:
        return (
            None,
            shown or (found[0].email if found else None),
            ("not_a_directory_person" if found else "unknown_person"),
        )
    active = [u for u in people if u.status == UserStatus.ACTIVE and u.removed_at is None]
    if len(active) > 1:
        return None, shown, "ambiguous_person"
    if not active:
        return None, shown or people[0].email, "inactive_person"
    return active[0], shown or active[0].email, ""


def find_person(
    session: Session, workspace_id: int, claims: dict[str, Any], *, issuer: str = ""
) -> tuple[User | None, str | None, str]:
    """The one directory person the claims name: (user, the e-mail used, problem if none).

    An id the provider issued (``oid``, ``sub``) matching a person's directory ``externalId``
    decides alone; otherwise a vouched-for address matching any of a person's e-mails. Departed
    people and guests do not make an address ambiguous: only active directory people count.
    """
    emails, ids = _claimed_emails(claims, issuer), _claimed_ids(claims)
    shown = emails[0] if emails else None
    if not emails and not ids:
        return None, None, "no_identity"
    scoped = select(User).where(User.workspace_id == workspace_id)
    if ids:
        by_id = list(session.scalars(scoped.where(User.external_id.in_(ids))))
        if any(u.source in DIRECTORY_SOURCES for u in by_id):
            return _one_person(by_id, shown)
    if not emails:
        return None, shown, "unknown_person"
    keys = [email_key(e) for e in emails]
    by_email = list(
        session.scalars(
            scoped.where(
                or_(
                    User.email_key.in_(keys),
                    User.id.in_(
                        select(UserEmail.user_id).where(
                            UserEmail.workspace_id == workspace_id, UserEmail.email_key.in_(keys)
                        )
                    ),
                )
            )
        )
    )
    return _one_person(by_email, shown)


def _refused_audit(
    session: Session,
    workspace_id: int,
    problem: str,
    issuer: str | None,
    email: str | None,
    ip: str | None,
    request_id: str | None = None,
) -> None:
    record(
        session,
        workspace_id=workspace_id,
        actor="anonymous",
        action=AuditAction.USER_SSO_REFUSED,
        target=f"workspace:{workspace_id}",
        details={"problem": problem, "issuer": issuer, "email": email, "ip": ip},
        request_id=request_id,
    )
