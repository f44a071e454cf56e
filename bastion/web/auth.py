"""Signing in and out, and choosing one's own password.

Routes:
    GET  /signin             the sign-in form
    POST /signin             check the password (rate-limited), rotate the session cookie
    POST /signout            end the session on the server, clear the cookie
    GET  /account/password   the change-password form (forced after a one-time password)
    POST /account/password   set the new password; the person's other sessions end
    GET  /guest/set-password the form an invited guest reaches from the e-mailed link
    POST /guest/set-password set the guest's password with the link's token (once)
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.actions.guests import redeem_guest_invite
from bastion.actions.sessions import (
    SignInLimiter,
    SignInRefused,
    TooManyAttempts,
    change_password,
    sign_in,
    sign_out,
)
from bastion.actions.sso import sign_in_choices
from bastion.errors import InvalidInput, NotFound
from bastion.security.web_sessions import ABSOLUTE_TIMEOUT
from bastion.storage.models import Workspace
from bastion.web.context import DB, Me, PageRoute, is_secure, redirect, render, session_cookie

router = APIRouter(route_class=PageRoute)


def safe_next(value: str | None, default: str = "/apps") -> str:
    """Only a path on this site: an open redirect would make the sign-in page a phishing aid."""
    if not value:
        return default
    parts = urlsplit(value)
    if (
        parts.scheme
        or parts.netloc
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(c) < 0x20 for c in value)
    ):
        return default
    return value


def sign_in_page(
    request: Request,
    db: Session,
    *,
    next: str | None = None,
    email: str = "",
    error: str | None = None,
    link_email: str = "",
    link_error: str | None = None,
    status: int = 200,
) -> Response:
    """The sign-in page: a button per identity provider, the password form, and the e-mailed
    link's form while some workspace has no identity provider."""
    choices = sign_in_choices(db)
    workspaces = db.scalar(select(func.count()).select_from(Workspace)) or 0
    return render(
        request,
        "signin.html",
        {
            "next": safe_next(next),
            # Single sign-on lands on the person's accounts unless a page was asked for.
            "sso_next": safe_next(next, ""),
            "email": email,
            "error": error,
            "providers": [(w.slug, c.display_name) for w, c in choices],
            "offer_link": len(choices) < workspaces,
            "link_email": link_email,
            "link_error": link_error,
        },
        status_code=status,
    )


@router.get("/signin")
def signin_form(request: Request, db: DB, next: str | None = None) -> Response:
    return sign_in_page(request, db, next=next)


@router.post("/signin")
def signin(
    request: Request,
    db: DB,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/apps",
) -> Response:
    limiter: SignInLimiter = request.app.state.sign_in_limiter
    cookie = session_cookie(request)
    try:
        user, new = sign_in(
            db,
            limiter,
            email=email,
            password=password,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            previous_token=request.cookies.get(cookie),
            request_id=request.headers.get("x-request-id"),
        )
    except (SignInRefused, TooManyAttempts, InvalidInput) as exc:
        db.commit()  # the failed attempt's audit event
        status = 429 if isinstance(exc, TooManyAttempts) else 400
        message = (
            "Enter your e-mail and password." if isinstance(exc, InvalidInput) else exc.message
        )
        return sign_in_page(request, db, next=next, email=email, error=message, status=status)
    db.commit()
    target = "/account/password" if user.must_change_password else safe_next(next)
    response = redirect(request, target)
    response.set_cookie(
        cookie,
        new.token,
        max_age=int(ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/signout")
def signout(request: Request, db: DB) -> Response:
    cookie = session_cookie(request)
    sign_out(db, token=request.cookies.get(cookie))
    db.commit()
    response = redirect(request, "/signin", "You are signed out.", "info")
    response.delete_cookie(cookie, path="/", secure=is_secure(request), httponly=True)
    return response


@router.get("/account/password")
def password_form(request: Request, me: Me) -> Response:
    return render(request, "password.html", {}, me=me)


@router.post("/account/password")
def password_change(
    request: Request,
    db: DB,
    me: Me,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    try:
        if new_password != confirm_password:
            raise InvalidInput("confirm_password", "does not match the new password")
        change_password(
            db,
            user=me.user,
            current=current_password,
            new=new_password,
            keep=me.web_session,
            actor=me.actor,
        )
    except InvalidInput as exc:
        db.rollback()
        return render(
            request,
            "password.html",
            {"error": exc.message.split(": ", 1)[-1], "field": exc.field},
            status_code=400,
            me=me,
        )
    db.commit()
    return redirect(request, "/apps", "Your password is set.")


@router.get("/guest/set-password")
def guest_password_form(request: Request, token: str = "") -> Response:
    return render(request, "guest_password.html", {"token": token})


@router.post("/guest/set-password")
def guest_password_set(
    request: Request,
    db: DB,
    token: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    try:
        if new_password != confirm_password:
            raise InvalidInput("confirm_password", "does not match the new password")
        user = redeem_guest_invite(db, token=token, password=new_password)
    except (InvalidInput, NotFound) as exc:
        db.rollback()
        return render(
            request,
            "guest_password.html",
            {"token": token, "error": exc.message, "expired": isinstance(exc, NotFound)},
            status_code=400,
        )
    db.commit()
    return redirect(
        request, "/signin?next=/me", f"Your password is set; sign in as {user.email}.", "success"
    )
