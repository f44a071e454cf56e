"""Server-rendered pages for admins and members: Jinja2 templates, htmx, one stylesheet.

Pages call the same actions as the API and the CLI; reads go through small query functions. The
routes are split by page area (each module opens with its list of routes):

    auth.py         sign in / out with a password, change password
    sign_in.py      single sign-on, e-mailed sign-in links, the identity provider's settings
    apps.py         apps list, connect wizard, app settings, check for updates
    app_tabs.py     assets, partners, history, report, operations tabs
    partner_removal.py      removing a partner with its residue, one batch applied once
    reviews.py      an app's reviews of risky changes (keep, revert); the security overview
    members.py      the Members tab and its row and bulk actions
    member_access.py        an account's business role and asset tasks, claiming one's own
    member_invitations.py   inviting people by e-mail, cancelling stale invitations
    local_partners.py       local partners and guest users, linking a guest to an account
    directory.py    directory users and teams, SCIM tokens, CSV import
    activity.py     the audit log, CSV export
    emails.py       the e-mail Bastion queued: state, text, retry
    webhooks.py     webhook endpoints, their deliveries and attempts, redelivery
    me.py           All accounts: a card per account of mine, with its next step
    credentials.py  a password app's saved login on its card (save, Log in, copy, rotate), the
                    app's credential policy
"""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from bastion.actions.sessions import SignInLimiter
from bastion.actions.sign_in_links import LinkLimiter
from bastion.actions.sso import SsoLimiter
from bastion.rate_limits import RateCounter
from bastion.web import (
    activity,
    app_tabs,
    apps,
    auth,
    credentials,
    directory,
    emails,
    local_partners,
    me,
    member_access,
    member_invitations,
    members,
    native_partners,
    partner_removal,
    reviews,
    sign_in,
    webhooks,
)
from bastion.web.context import render
from bastion.web.templating import STATIC_DIR


def install_web(app: FastAPI, limits: RateCounter) -> None:
    """Mount the static files and the page routers."""
    app.state.sign_in_limiter = SignInLimiter.default(limits)
    app.state.sign_in_link_limiter = LinkLimiter.default(limits)
    app.state.sso_limiter = SsoLimiter.default(limits)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for module in (
        auth,
        sign_in,
        apps,
        app_tabs,
        native_partners,
        partner_removal,
        # Before members: its /members/{account_id}/{dialog} would take their dialogs' paths.
        member_access,
        member_invitations,
        members,
        directory,
        local_partners,
        activity,
        emails,
        webhooks,
        me,
        credentials,
        reviews,
    ):
        app.include_router(module.router, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/apps", status_code=303)

    _pages_for_unknown_addresses(app)


def _pages_for_unknown_addresses(app: FastAPI) -> None:
    """A browser that asks for an address Bastion does not have gets a page, not JSON.

    Wraps the HTTP error handler the API installed (``bastion.api.errors``), which keeps
    answering API clients, SCIM and anything that does not ask for HTML.
    """
    answer_otherwise = app.exception_handlers[HTTPException]

    async def on_http_error(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if (
            isinstance(exc, HTTPException)
            and exc.status_code == 404
            and not path.startswith(("/api/", "/scim/"))
            and "text/html" in request.headers.get("accept", "")
        ):
            return render(
                request,
                "error.html",
                {
                    "title": "Page not found",
                    "message": "There is no page at this address. It may have moved, or the "
                    "link may be mistyped.",
                    "back": ("/", "Back to Bastion"),
                },
                status_code=404,
            )
        answer = answer_otherwise(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(HTTPException, on_http_error)
