"""Saved logins on the All accounts cards of password apps (``actions/credentials.py``), and an
app's credential policy on its Settings tab.

Routes:
    GET  /me/accounts/{account_id}/credentials         the card's dialog (a page without htmx):
                                                       the save form, or what is saved, its
                                                       rotation and the replace form
    POST /me/accounts/{account_id}/credentials         save (or replace) the login; the two-factor
                                                       key is checked with the code shown now
    POST /me/accounts/{account_id}/credentials/show    Log in: the login name and the current
                                                       code with its countdown (fresh sign-in)
    POST /me/accounts/{account_id}/credentials/password  Copy password: the password alone, as
                                                       JSON for bastion.js (fresh sign-in)
    POST /me/accounts/{account_id}/credentials/rotation          start the due rotation
    POST /me/accounts/{account_id}/credentials/rotation/confirm  the new password is set
    GET  /me/sign-in-again                             sign in again the person's own way, and
                                                       come back (``next``)
    POST /apps/{app_id}/credential-policy              the app's credential policy (owners)

A value leaves the vault only in the answers to ``show`` and ``password``; no other page holds
one, and a form that is refused is not filled in again with what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from bastion.account_cards import AccountCard, account_cards
from bastion.actions.credential_rotation import FACEBOOK_STEPS, confirm_rotation, start_rotation
from bastion.actions.credentials import (
    REVEAL_WINDOW,
    ReauthenticationRequired,
    Reveal,
    reveal,
    save_credentials,
    set_credential_policy,
)
from bastion.actions.sso import DIRECTORY_SOURCES, sso_config
from bastion.credential_status import CredentialStatus, RotationState, statuses_of_person
from bastion.errors import BastionError, Conflict, InvalidInput, NotFound, PermissionDenied
from bastion.storage.models import Account, App, Workspace
from bastion.storage.models.enums import AccountState, LoginMethod
from bastion.web.auth import safe_next
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    Viewer,
    app_for,
    is_htmx,
    redirect,
    render,
    runtime_of,
)

router = APIRouter(route_class=PageRoute)
FIELD_LABELS = {
    "login": "Login",
    "password": "Password",
    "totp": "Two-factor key",
    "totp_code": "Current code",
    "rotation_days": "Rotate every",
}
NO_STORE = {"Cache-Control": "no-store"}


def _base(account_id: int) -> str:
    return f"/me/accounts/{account_id}/credentials"


def sign_in_again_url(account_id: int) -> str:
    return f"/me/sign-in-again?next={quote(_base(account_id))}"


def _card(db: DB, me: Viewer, account_id: int) -> AccountCard:
    """One of the person's own cards; another person's account reads as one that does not
    exist (as on the connect page)."""
    cards = account_cards(db, actor=me.actor, viewer=me.user, person=me.user)
    card = next((c for c in cards if c.account.id == account_id), None)
    if card is None:
        raise NotFound(f"Account {account_id} is not one of your accounts")
    return card


def _context(db: DB, me: Viewer, card: AccountCard, **extra: Any) -> dict[str, Any]:
    status: CredentialStatus | None = statuses_of_person(
        db, user=me.user, account_ids=[card.account.id]
    ).get(card.account.id)
    app = card.app
    return {
        "section": "me",
        "card": card,
        "saved": status,
        "base": _base(card.account.id),
        "password_app": app.login_method == LoginMethod.PASSWORD,
        "exempted": card.account.state == AccountState.EXEMPTED,
        "rotation_open": status is not None
        and status.rotation in (RotationState.DUE, RotationState.OVERDUE),
        "rotation_started": status is not None and status.rotation == RotationState.STARTED,
        "steps": FACEBOOK_STEPS,
        "window_minutes": int(REVEAL_WINDOW.total_seconds() // 60),
        **extra,
    }


def _json_error(exc: BastionError) -> JSONResponse:
    status = next(
        (
            code
            for kind, code in ((NotFound, 404), (PermissionDenied, 403), (Conflict, 409))
            if isinstance(exc, kind)
        ),
        400,
    )
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}}, status_code=status, headers=NO_STORE
    )


def _dialog(request: Request, me: Viewer, context: dict[str, Any], status: int = 200) -> Response:
    if is_htmx(request):
        return render(request, "credentials/_dialog.html", context, me=me, status_code=status)
    return render(request, "credentials/page.html", context, me=me, status_code=status)


@router.get("/me/accounts/{account_id}/credentials")
def credentials_dialog(request: Request, db: DB, me: Me, account_id: int) -> Response:
    return _dialog(request, me, _context(db, me, _card(db, me, account_id)))


@router.post("/me/accounts/{account_id}/credentials")
def credentials_save(
    request: Request,
    db: DB,
    me: Me,
    account_id: int,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    totp: Annotated[str, Form()] = "",
    totp_code: Annotated[str, Form()] = "",
) -> Response:
    try:
        credential = save_credentials(
            db,
            runtime_of(request).require_key_ring(),
            account_id=account_id,
            actor=me.actor,
            login=login,
            password=password,
            totp=totp,
            totp_code=totp_code,
        )
    except InvalidInput as exc:
        db.commit()  # the refusal's audit event alone: nothing else was written
        message = f"{FIELD_LABELS.get(exc.field, exc.field)}: {exc.message.split(': ', 1)[-1]}"
        if is_htmx(request):
            # Only the message is swapped in, so what was typed stays in the form and never
            # comes back in an answer.
            return render(
                request,
                "_flash.html",
                {"notice": ("error", message)},
                headers={"HX-Retarget": "#credential-form-error", "HX-Reswap": "innerHTML"},
                status_code=400,
            )
        card = _card(db, me, account_id)
        return _dialog(request, me, _context(db, me, card, error=message, field=exc.field), 400)
    db.commit()
    warning = ""
    if credential.totp_secret_id is None:
        app = db.get_one(App, db.get_one(Account, account_id).app_id)
        needed = ", which this app requires" if app.require_two_factor else ""
        warning = f" It has no two-factor key{needed}."
    return redirect(request, "/me/accounts", f"Your login is saved.{warning}")


@router.post("/me/accounts/{account_id}/credentials/show")
def credentials_show(request: Request, db: DB, me: Me, account_id: int) -> Response:
    try:
        shown = reveal(
            db,
            runtime_of(request).require_key_ring(),
            account_id=account_id,
            actor=me.actor,
            web_session=me.web_session,
            fields=Reveal.LOGIN,
        )
    except ReauthenticationRequired:
        db.commit()
        target = sign_in_again_url(account_id)
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    db.commit()
    context = _context(db, me, _card(db, me, account_id), shown=shown)
    template = "credentials/_login.html" if is_htmx(request) else "credentials/login_page.html"
    return render(request, template, context, me=me, headers=NO_STORE)


@router.post("/me/accounts/{account_id}/credentials/password")
def credentials_password(
    request: Request,
    db: DB,
    me: Me,
    account_id: int,
    which: Annotated[str, Form()] = "current",
) -> Response:
    """For bastion.js's Copy buttons: JSON both ways, including the refusals."""
    try:
        shown = reveal(
            db,
            runtime_of(request).require_key_ring(),
            account_id=account_id,
            actor=me.actor,
            web_session=me.web_session,
            fields=Reveal.NEW_PASSWORD if which == "new" else Reveal.PASSWORD,
            copied=True,
        )
    except ReauthenticationRequired as exc:
        db.commit()
        body = {
            "error": {"code": exc.code, "message": exc.message},
            "sign_in_url": sign_in_again_url(account_id),
        }
        return JSONResponse(body, status_code=403, headers=NO_STORE)
    except BastionError as exc:
        return _json_error(exc)
    db.commit()
    return JSONResponse({"password": shown.password}, headers=NO_STORE)


@router.post("/me/accounts/{account_id}/credentials/rotation")
def credentials_rotation_start(request: Request, db: DB, me: Me, account_id: int) -> Response:
    start_rotation(
        db, runtime_of(request).require_key_ring(), account_id=account_id, actor=me.actor
    )
    db.commit()
    return redirect(
        request,
        _base(account_id),
        "Bastion made a new password. Set it on Facebook with the steps below, then confirm.",
    )


@router.post("/me/accounts/{account_id}/credentials/rotation/confirm")
def credentials_rotation_confirm(request: Request, db: DB, me: Me, account_id: int) -> Response:
    confirm_rotation(db, account_id=account_id, actor=me.actor)
    db.commit()
    return redirect(request, _base(account_id), "Your new password is saved.")


# --- signing in again -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInWays:
    """How this person proves who they are again: what they signed in with."""

    password: bool
    sso_url: str | None
    sso_name: str | None
    link: bool


def sign_in_ways(db: DB, me: Viewer, next_path: str) -> SignInWays:
    user = me.user
    directory_person = user.source in DIRECTORY_SOURCES
    config = sso_config(db, user.workspace_id)
    sso = config is not None and config.enabled and directory_person
    slug = db.get_one(Workspace, user.workspace_id).slug
    return SignInWays(
        password=user.password_hash is not None,
        sso_url=f"/signin/sso/{quote(slug)}?next={quote(next_path)}&fresh=1" if sso else None,
        sso_name=config.display_name if sso and config is not None else None,
        link=directory_person and not sso and user.email is not None,
    )


@router.get("/me/sign-in-again")
def sign_in_again(request: Request, db: DB, me: Me, next: str | None = None) -> Response:
    target = safe_next(next, "/me/accounts")
    context = {
        "section": "me",
        "next": target,
        "ways": sign_in_ways(db, me, target),
        "signed_in_at": me.web_session.authenticated_at,
        "window_minutes": int(REVEAL_WINDOW.total_seconds() // 60),
    }
    return render(request, "credentials/sign_in_again.html", context, me=me)


# --- the app's policy -------------------------------------------------------------------------


@router.post("/apps/{app_id}/credential-policy")
def credential_policy_save(
    request: Request,
    db: DB,
    me: Me,
    app_id: int,
    require_two_factor: Annotated[str, Form()] = "",
    rotation_days: Annotated[str, Form()] = "",
    rotate_after_reveal: Annotated[str, Form()] = "",
) -> Response:
    app = app_for(db, me, app_id)
    back = f"/apps/{app.id}/settings"
    try:
        days = int(rotation_days) if rotation_days.strip() else None
    except ValueError:
        return redirect(
            request, back, "Rotate every: give a number of days, or leave it empty.", "error"
        )
    try:
        set_credential_policy(
            db,
            app_id=app.id,
            actor=me.actor,
            workspace_id=me.workspace_id,
            require_two_factor=require_two_factor == "on",
            rotation_days=days,
            rotate_after_reveal=rotate_after_reveal == "on",
        )
    except InvalidInput as exc:
        db.rollback()
        message = f"{FIELD_LABELS.get(exc.field, exc.field)}: {exc.message.split(': ', 1)[-1]}"
        return redirect(request, back, message, "error")
    db.commit()
    return redirect(request, back, "The credential policy is saved.")
