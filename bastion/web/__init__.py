"""Server-rendered pages for admins and members: Jinja2 templates, htmx, one stylesheet.

Pages call the same actions as the API and the CLI; reads go through small query functions. The
routes are split by page area (each module opens with its list of routes):

    auth.py         sign in / out, change password
    apps.py         apps list, connect wizard, app settings, check for updates
    app_tabs.py     assets, partners, history, report, operations tabs
    members.py      the Members tab and its row and bulk actions
    directory.py    directory users and teams, SCIM tokens, CSV import
    activity.py     the audit log, CSV export
    me.py           my accounts
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bastion.actions.sessions import SignInLimiter
from bastion.web import activity, app_tabs, apps, auth, directory, me, members
from bastion.web.templating import STATIC_DIR


def install_web(app: FastAPI) -> None:
    """Mount the static files and the page routers."""
    app.state.sign_in_limiter = SignInLimiter.default()
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for module in (auth, apps, app_tabs, members, directory, activity, me):
        app.include_router(module.router, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/apps", status_code=303)
