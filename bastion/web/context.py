"""What every page handler needs: one database session, the signed-in person, rendering.

A page asks for ``Viewer`` (via ``Depends(viewer)``); a browser without a live session is sent
to the sign-in page (htmx requests get an ``HX-Redirect``, so a partial never renders the
sign-in form inside a table). Flash messages travel in a short-lived cookie so the page after a
redirect can say what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.actions.permissions import (
    READ_DIRECTORY,
    VIEW_APP,
    VIEW_DETAILS,
    VIEW_PEOPLE,
    can,
    require,
)
from bastion.errors import BastionError, Conflict, InvalidInput, NotFound, PermissionDenied
from bastion.jobs import Jobs
from bastion.runtime import Runtime
from bastion.security.web_sessions import cookie_name, resolve_web_session
from bastion.storage.models import App, Operation, User, WebSession
from bastion.storage.models.enums import WorkspaceRole
from bastion.storage.tenancy import Tenant
from bastion.web.templating import templates

FLASH_COOKIE = "bastion_flash"
SESSION_COOKIES = frozenset({cookie_name(True), cookie_name(False)})


class SignInRequired(Exception):
    """Raised by ``viewer``; the handler in ``bastion.web`` turns it into a redirect."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PasswordChangeRequired(Exception):
    """A one-time password was used: the person chooses their own before anything else."""


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def is_secure(request: Request) -> bool:
    """TLS as the browser sees it: the request's scheme, or a public URL that says https."""
    public = runtime_of(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def session_cookie(request: Request) -> str:
    return cookie_name(is_secure(request))


def db_session(request: Request) -> Iterator[Session]:
    """One session per request; handlers commit what their actions wrote."""
    with runtime_of(request).sessions() as session:
        yield session


DB = Annotated[Session, Depends(db_session)]


@dataclass
class Viewer:
    user: User
    web_session: WebSession
    request_id: str | None
    reads_directory: bool = False

    @property
    def workspace_id(self) -> int:
        return self.user.workspace_id

    @property
    def actor(self) -> Actor:
        return Actor.user(self.user.id, self.request_id)

    @property
    def is_admin(self) -> bool:
        return self.user.role == WorkspaceRole.ADMIN


def viewer(request: Request, db: DB) -> Viewer:
    token = request.cookies.get(session_cookie(request))
    found = resolve_web_session(db, token)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    web_session, user = found
    db.commit()  # the idle timer's touch, if any
    request.state.viewer = user
    if user.must_change_password and request.url.path != "/account/password":
        raise PasswordChangeRequired()
    return Viewer(
        user,
        web_session,
        request.headers.get("x-request-id"),
        reads_directory=can(db, user=user, app=None, action=READ_DIRECTORY),
    )


Me = Annotated[Viewer, Depends(viewer)]


def allowed(db: Session, me: Viewer, app: App | None, action: str) -> bool:
    return can(db, user=me.user, app=app, action=action)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    me: Viewer | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "request": request,
        "me": me,
        "htmx": is_htmx(request),
        "flash": pop_flash(request),
        **(context or {}),
    }
    response = templates.TemplateResponse(
        request, template, values, status_code=status_code, headers=headers
    )
    if values["flash"] is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def set_flash(response: Response, message: str, kind: str = "success") -> Response:
    response.set_cookie(
        FLASH_COOKIE,
        quote(f"{kind}:{message}"),
        max_age=60,
        path="/",
        httponly=True,
        samesite="lax",
    )
    return response


def pop_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = unquote(raw).partition(":")
    if kind not in ("success", "error", "info"):
        return None
    return kind, message[:500]


def redirect(
    request: Request, url: str, message: str | None = None, kind: str = "success"
) -> Response:
    """After a POST: a 303 for plain forms, an ``HX-Redirect`` for htmx, with a flash message."""
    response: Response
    if is_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if message:
        set_flash(response, message, kind)
    return response


def error_response(request: Request, status: int, title: str, message: str) -> Response:
    """An error as a full page, or, for htmx, as a notice in the page's message area."""
    if is_htmx(request):
        return render(
            request,
            "_flash.html",
            {"notice": ("error", message)},
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


def _to_sign_in(request: Request, target: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


class PageRoute(APIRoute):
    """Turns the exceptions of page handlers into pages, without touching the API's handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return _to_sign_in(request, f"/signin?next={quote(exc.next_url)}")
            except PasswordChangeRequired:
                return _to_sign_in(request, "/account/password")
            except NotFound as exc:
                return error_response(request, 404, "Not found", exc.message)
            except PermissionDenied as exc:
                return error_response(request, 403, "Not allowed", exc.message + ".")
            except (Conflict, InvalidInput) as exc:
                return error_response(request, 409, "That did not work", exc.message)
            except BastionError as exc:
                return error_response(request, 400, "That did not work", exc.message)

        return page_handler


def app_for(db: Session, me: Viewer, app_id: int, action: str = VIEW_APP) -> App:
    """The app if this person may ``action`` on it, refused as the API refuses (403); another
    workspace's app reads as not found."""
    app = Tenant(db, me.workspace_id).get(App, app_id)
    if app.disconnected_at is not None:
        raise NotFound(f"App {app_id} was disconnected")
    require(db, actor=me.actor, app=app, action=action)
    return app


APP_TABS = (
    ("members", "Members", VIEW_APP),
    ("reviews", "Reviews", VIEW_PEOPLE),
    ("report", "Report", VIEW_PEOPLE),
    ("operations", "Operations", VIEW_PEOPLE),
    ("history", "History", VIEW_DETAILS),
    ("assets", "Assets", VIEW_DETAILS),
    ("partners", "Partners", VIEW_DETAILS),
    ("settings", "Settings", VIEW_APP),
)


def app_page(db: Session, me: Viewer, app: App, tab: str) -> dict[str, Any]:
    """What every tab of an app needs: the tabs this person may open, and whether they see the
    app's other people (names, holdings, changes) or only their own accounts."""
    reads = {a for a in (VIEW_APP, VIEW_DETAILS, VIEW_PEOPLE) if allowed(db, me, app, a)}
    return {
        "app": app,
        "tab": tab,
        "app_tabs": [(key, label) for key, label, read in APP_TABS if read in reads],
        "sees_details": VIEW_DETAILS in reads,
        "sees_people": VIEW_PEOPLE in reads,
    }


def require_admin(db: Session, me: Viewer) -> None:
    require(db, actor=me.actor, app=None, action="manage_directory")


def jobs_of(request: Request) -> Jobs:
    """The queue this web process hands checks and operations to (shared by every request)."""
    jobs: Jobs | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        jobs = Jobs(runtime_of(request))
        request.app.state.jobs = jobs
    return jobs


def enqueue_operations(request: Request, operations: Iterable[Operation]) -> int:
    """Hands the queued operations to this process's queue (after the commit); how many."""
    jobs = jobs_of(request)
    count = 0
    for operation in operations:
        jobs.enqueue_operation(operation.id)
        count += 1
    return count
