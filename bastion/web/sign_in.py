"""Signing in without a password: the workspace's identity provider, and e-mailed links; and
the admin's page that sets the identity provider.

Routes:
    GET  /signin/sso/{workspace}       send the browser to the workspace's identity provider
    GET  /signin/sso/callback          the provider's answer: check it, open the session
    POST /signin/email-link            e-mail a sign-in link (the answer never says to whom)
    GET  /signin/email-link            the link's page: one button, so a mail scanner that
                                       follows links does not use it up
    POST /signin/email-link/use        use the link once, open the session
    GET  /directory/sign-in            the identity provider's settings (admins)
    POST /directory/sign-in            save them (the issuer is asked for its discovery document)
    POST /directory/sign-in/remove     stop single sign-on
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bastion.actions.sessions import TooManyAttempts
from bastion.actions.sign_in_links import (
    LINK_VALID_FOR,
    LinkLimiter,
    LinkRefused,
    find_link,
    request_sign_in_link,
    use_sign_in_link,
)
from bastion.actions.sso import (
    SsoLimiter,
    SsoRefused,
    configure_sso,
    finish_sign_in,
    redirect_uri,
    remove_sso,
    sso_config,
    start_sign_in,
)
from bastion.errors import InvalidInput, NotFound
from bastion.security.web_sessions import ABSOLUTE_TIMEOUT, NewWebSession
from bastion.storage.models import Workspace
from bastion.web.auth import safe_next, sign_in_page
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    is_secure,
    redirect,
    render,
    require_admin,
    runtime_of,
    session_cookie,
)

router = APIRouter(route_class=PageRoute)
SSO_COOKIE = "bastion_sso"
SSO_COOKIE_PATH = "/signin/sso"


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _signed_in(request: Request, new: NewWebSession, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        session_cookie(request),
        new.token,
        max_age=int(ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )
    return response


def _refused(request: Request, title: str, message: str, status: int = 400) -> Response:
    response = render(
        request,
        "error.html",
        {"title": title, "message": message, "back": ("/signin", "Back to sign-in")},
        status_code=status,
    )
    response.delete_cookie(SSO_COOKIE, path=SSO_COOKIE_PATH)
    return response


# --- single sign-on -------------------------------------------------------------------------


@router.get("/signin/sso/callback")
def sso_callback(request: Request, db: DB) -> Response:
    runtime = runtime_of(request)
    try:
        done = finish_sign_in(
            db,
            runtime.require_key_ring(),
            params=dict(request.query_params),
            browser_token=request.cookies.get(SSO_COOKIE),
            base_url=runtime.settings.base_url,
            ip=_client(request),
            user_agent=request.headers.get("user-agent"),
            previous_token=request.cookies.get(session_cookie(request)),
            request_id=request.headers.get("x-request-id"),
        )
    except SsoRefused as exc:
        db.commit()  # the refusal's audit event, and the attempt marked used
        return _refused(request, "Single sign-on did not sign you in", exc.message)
    db.commit()
    response = _signed_in(request, done.web_session, safe_next(done.next_path, "/me/accounts"))
    response.delete_cookie(SSO_COOKIE, path=SSO_COOKIE_PATH)
    return response


@router.get("/signin/sso/{workspace}")
def sso_start(
    request: Request, db: DB, workspace: str, next: str | None = None, fresh: str = ""
) -> Response:
    runtime = runtime_of(request)
    limiter: SsoLimiter = request.app.state.sso_limiter
    try:
        started = start_sign_in(
            db,
            limiter,
            workspace_slug=workspace[:64],
            next_path=safe_next(next, "/me/accounts"),
            base_url=runtime.settings.base_url,
            ip=_client(request),
            reauthenticate=fresh == "1",
        )
    except TooManyAttempts as exc:
        return _refused(request, "Single sign-on is not available", exc.message, 429)
    except SsoRefused as exc:
        db.commit()
        status = 503 if exc.problem in ("unreachable", "provider_error") else 400
        return _refused(request, "Single sign-on is not available", exc.message, status)
    db.commit()
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        SSO_COOKIE,
        started.browser_token,
        max_age=600,
        path=SSO_COOKIE_PATH,
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )
    return response


# --- e-mailed links -------------------------------------------------------------------------


def _link_limiter(request: Request) -> LinkLimiter:
    limiter: LinkLimiter = request.app.state.sign_in_link_limiter
    return limiter


@router.post("/signin/email-link")
def email_link_request(request: Request, db: DB, email: Annotated[str, Form()] = "") -> Response:
    try:
        request_sign_in_link(
            db,
            _link_limiter(request),
            email=email,
            ip=_client(request),
            base_url=runtime_of(request).settings.base_url,
            request_id=request.headers.get("x-request-id"),
        )
    except InvalidInput:
        return sign_in_page(
            request, db, link_email=email, link_error="Enter your work e-mail address.", status=400
        )
    except TooManyAttempts as exc:
        return sign_in_page(request, db, link_email=email, link_error=exc.message, status=429)
    db.commit()
    minutes = int(LINK_VALID_FOR.total_seconds() // 60)
    # A redirect like every form, so a reload does not ask for another link.
    return redirect(
        request,
        "/signin",
        f"If {email.strip()} belongs to someone in the directory, a sign-in link is on its way. "
        f"It works once, for {minutes} minutes.",
        "info",
    )


@router.get("/signin/email-link")
def email_link_page(request: Request, db: DB, token: str = "") -> Response:
    found = find_link(db, token[:200]) if token else None
    return render(
        request,
        "signin_link.html",
        {"token": token[:200] if found else "", "valid": found is not None},
        status_code=200 if found else 400,
    )


@router.post("/signin/email-link/use")
def email_link_use(request: Request, db: DB, token: Annotated[str, Form()] = "") -> Response:
    try:
        _user, new = use_sign_in_link(
            db,
            token=token[:200],
            ip=_client(request),
            user_agent=request.headers.get("user-agent"),
            previous_token=request.cookies.get(session_cookie(request)),
            request_id=request.headers.get("x-request-id"),
        )
    except LinkRefused as exc:
        db.commit()
        return _refused(request, "This sign-in link does not work", exc.message)
    db.commit()
    return _signed_in(request, new, "/me/accounts")


# --- the identity provider's settings ----------------------------------------------------------


def _settings_page(
    request: Request,
    db: DB,
    me: Me,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> Response:
    config = sso_config(db, me.workspace_id)
    workspace = db.get_one(Workspace, me.workspace_id)
    base = runtime_of(request).settings.base_url
    shown = values or (
        {
            "display_name": config.display_name,
            "issuer": config.issuer,
            "client_id": config.client_id,
            "allowed_domains": ", ".join(config.allowed_domains),
            "enabled": "on" if config.enabled else "",
        }
        if config
        else {
            "display_name": "",
            "issuer": "",
            "client_id": "",
            "allowed_domains": "",
            "enabled": "on",
        }
    )
    return render(
        request,
        "directory/sign_in.html",
        {
            "section": "directory",
            "sub": "sign-in",
            "config": config,
            "values": shown,
            "error": error,
            "field": field,
            "redirect_uri": redirect_uri(base),
            "start_url": f"{base.rstrip('/')}/signin/sso/{workspace.slug}",
        },
        me=me,
        status_code=status,
    )


@router.get("/directory/sign-in")
def sso_settings(request: Request, db: DB, me: Me) -> Response:
    require_admin(db, me)
    return _settings_page(request, db, me)


@router.post("/directory/sign-in")
def sso_settings_save(
    request: Request,
    db: DB,
    me: Me,
    display_name: Annotated[str, Form()] = "",
    issuer: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
    allowed_domains: Annotated[str, Form()] = "",
    enabled: Annotated[str, Form()] = "",
) -> Response:
    require_admin(db, me)
    values = {
        "display_name": display_name,
        "issuer": issuer,
        "client_id": client_id,
        "allowed_domains": allowed_domains,
        "enabled": enabled,
    }
    try:
        configure_sso(
            db,
            runtime_of(request).require_key_ring(),
            workspace_id=me.workspace_id,
            actor=me.actor,
            display_name=display_name,
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret or None,
            allowed_domains=allowed_domains.replace(";", ",").replace("\n", ",").split(","),
            enabled=enabled == "on",
        )
    except InvalidInput as exc:
        db.rollback()
        # The page puts the field before the message, which InvalidInput already starts with.
        message = exc.message.removeprefix(f"{exc.field}: ")
        return _settings_page(
            request, db, me, values=values, error=message, field=exc.field, status=400
        )
    db.commit()
    return redirect(request, "/directory/sign-in", "Single sign-on is saved.")


@router.post("/directory/sign-in/remove")
def sso_settings_remove(request: Request, db: DB, me: Me) -> Response:
    require_admin(db, me)
    try:
        remove_sso(db, workspace_id=me.workspace_id, actor=me.actor)
    except NotFound as exc:
        return redirect(request, "/directory/sign-in", exc.message, "error")
    db.commit()
    return redirect(
        request,
        "/directory/sign-in",
        "Single sign-on is off: people sign in with passwords and e-mailed links.",
        "info",
    )
