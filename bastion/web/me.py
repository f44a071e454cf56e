"""All accounts: for any signed-in person, a card per app account matched to them, with its
status and the next step (``bastion/account_cards.py``, which the API answers from too), and
connecting one's own profile to an account through the app's login
(``bastion/actions/profiles.py``).

Routes:
    GET /me/accounts                          one card per present account matched to me
    GET /me/accounts/{account_id}/connect     what the card's Log in button opens (a dialog
                                              with htmx, else a page): what connecting does,
                                              and Continue with Facebook
    GET /me/accounts/{account_id}/connect/start
                                              records the attempt, sets the cookie binding it
                                              to this browser, redirects to the app's login
    GET /me/accounts/connect/callback         the login's answer: link the profile, back to
                                              All accounts with a flash, or a refusal page

The login is a browser redirect and back, so it has no API counterpart. Starting it is a GET
(a link, not a form): the pages' Content-Security-Policy allows forms to post to Bastion only,
and browsers apply that to a form's redirect too.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bastion.account_cards import account_cards
from bastion.actions.profiles import (
    ATTEMPT_VALID_FOR,
    ProfileLinkRefused,
    finish_profile_link,
    start_profile_link,
)
from bastion.errors import NotFound
from bastion.web.context import (
    DB,
    Me,
    PageRoute,
    Viewer,
    is_htmx,
    is_secure,
    redirect,
    render,
    runtime_of,
)

router = APIRouter(route_class=PageRoute)
PROFILE_COOKIE = "bastion_profile_link"
# The start and the callback both live under it, and no other page sees the cookie.
PROFILE_COOKIE_PATH = "/me/accounts/connect"


@router.get("/me/accounts")
def my_accounts(request: Request, db: DB, me: Me) -> Response:
    cards = account_cards(db, actor=me.actor, viewer=me.user, person=me.user)
    return render(request, "me/accounts.html", {"section": "me", "cards": cards}, me=me)


@router.get("/me/accounts/connect/callback")
def connect_callback(request: Request, db: DB, me: Me) -> Response:
    runtime = runtime_of(request)
    try:
        linked = finish_profile_link(
            db,
            runtime.require_key_ring(),
            runtime.connector_options,
            actor=me.actor,
            params=dict(request.query_params),
            browser_token=request.cookies.get(PROFILE_COOKIE),
            base_url=runtime.settings.base_url,
        )
    except ProfileLinkRefused as exc:
        db.commit()  # the refusal's audit event, and the attempt used up
        if exc.connected_as is not None:  # a second click: the first one connected it
            response = redirect(request, "/me/accounts", exc.message, "info")
        else:
            response = _refused(request, me, exc)
        response.delete_cookie(PROFILE_COOKIE, path=PROFILE_COOKIE_PATH)
        return response
    db.commit()
    named = f" as {linked.profile_name}" if linked.profile_name else ""
    response = redirect(request, "/me/accounts", f"Connected{named}.")
    response.delete_cookie(PROFILE_COOKIE, path=PROFILE_COOKIE_PATH)
    return response


@router.get("/me/accounts/{account_id}/connect")
def connect_account(request: Request, db: DB, me: Me, account_id: int) -> Response:
    """What connecting does, and the button that starts it (or why it cannot start now)."""
    cards = account_cards(db, actor=me.actor, viewer=me.user, person=me.user)
    card = next((c for c in cards if c.account.id == account_id), None)
    if card is None:  # another person's account reads as one that does not exist
        raise NotFound(f"Account {account_id} is not one of your accounts")
    template = "me/_connect.html" if is_htmx(request) else "me/connect.html"
    return render(request, template, {"section": "me", "card": card}, me=me)


@router.get("/me/accounts/{account_id}/connect/start")
def connect_start(request: Request, db: DB, me: Me, account_id: int) -> Response:
    runtime = runtime_of(request)
    try:
        started = start_profile_link(
            db,
            runtime.require_key_ring(),
            runtime.connector_options,
            actor=me.actor,
            account_id=account_id,
            base_url=runtime.settings.base_url,
        )
    except ProfileLinkRefused as exc:
        db.rollback()
        return _refused(request, me, exc)
    db.commit()
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        PROFILE_COOKIE,
        started.browser_token,
        max_age=int(ATTEMPT_VALID_FOR.total_seconds()),
        path=PROFILE_COOKIE_PATH,
        secure=is_secure(request),
        httponly=True,
        samesite="lax",
    )
    return response


def _refused(request: Request, me: Viewer, refusal: ProfileLinkRefused) -> Response:
    return render(
        request,
        "me/connect_refused.html",
        {"section": "me", "message": refusal.message, "problem": refusal.problem},
        status_code=503 if refusal.retry_later else 400,
        me=me,
    )
