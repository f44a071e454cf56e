"""Facebook Login's endpoints, on the simulator's base URL next to Graph (Meta serves the dialog
on www.facebook.com and the exchange on graph.facebook.com). Each path also answers with a
version prefix (``/v25.0/dialog/oauth``), checked as Graph checks it.

- ``GET  /dialog/oauth``       the login dialog (``client_id``, ``redirect_uri``, ``state``,
  ``response_type``, ``scope``): an HTML page of the simulated people, or an error page
- ``POST /dialog/oauth``       its form: ``login_as`` (an app-scoped id) or ``email``, ``decline``
  (permissions turned off), or ``action=cancel|not_now``; answers 302 to
  ``redirect_uri?code=…&state=…#_=_``, or to ``redirect_uri?error_reason=user_denied&error=
  access_denied&error_description=Permissions+error.&state=…``
- ``GET|POST /oauth/access_token``  ``client_id``, ``client_secret``, ``redirect_uri``, ``code``
  (``grant_type=authorization_code`` allowed) → ``{"access_token", "token_type": "bearer",
  "expires_in"}``, or Graph's error envelope with HTTP 400

The request log records both like Graph requests (method, path, status): never a query string,
so never a code, a token or a secret. The exchange honours injected faults and latency, as a
Graph request does; the dialog, a page in the person's browser, does not.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bastion.connectors.meta.simulator import errors, params
from bastion.connectors.meta.simulator.facebook_login import (
    DENIED,
    DialogRefusal,
    InvalidCode,
    dialog_refusal,
    redirect_to,
    requested_scopes,
)
from bastion.connectors.meta.simulator.graph_routes import apply_fault, split_path
from bastion.connectors.meta.simulator.login_page import CARRIED, login_page, refusal_page
from bastion.connectors.meta.simulator.requestlog import LoggedRequest
from bastion.connectors.meta.simulator.simulator import Simulator

DIALOG_PATH = "/dialog/oauth"
EXCHANGE_PATH = "/oauth/access_token"
# Meta's words on its login page for an e-mail no account uses. UNCONFIRMED wording.
UNKNOWN_EMAIL = "The email address you entered isn't connected to an account."


class GraphVersion(Convertor[str]):
    """A ``vN.M`` path segment; which versions are served is ``split_path``'s to say."""

    regex = r"v\d+\.\d+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("graph_version", GraphVersion())


def login_routes() -> list[Route]:
    methods = ["GET", "POST"]
    return [
        Route(DIALOG_PATH, dialog, methods=methods),
        Route("/{version:graph_version}" + DIALOG_PATH, dialog, methods=methods),
        Route(EXCHANGE_PATH, access_token, methods=methods),
        Route("/{version:graph_version}" + EXCHANGE_PATH, access_token, methods=methods),
    ]


async def dialog(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    sim.request_log.record_http(is_batch=False)
    if request.method == "POST":
        async with request.form() as form, sim.state_lock.writing():
            response = _dialog_answer(sim, request, form)
    else:
        async with sim.state_lock.writing():
            response = _dialog_answer(sim, request, None)
    _log(sim, request.method, DIALOG_PATH, response.status_code)
    return response


def _dialog_answer(sim: Simulator, request: Request, form: FormData | None) -> Response:
    source: Any = form if form is not None else request.query_params
    query = {name: value for name in CARRIED if isinstance(value := source.get(name), str)}
    if form is None:
        query |= {key: value for key, value in request.query_params.items() if key not in query}
    try:
        split_path(request.url.path)
    except errors.GraphError as error:
        return _refusal(DialogRefusal("Unsupported version", error.message))
    refusal = dialog_refusal(sim.state, query)
    if refusal is not None:
        return _refusal(refusal)
    granted, unknown = requested_scopes(query.get("scope"))
    if form is None:
        return _page(sim, request, query, granted, unknown)
    redirect_uri, state = query["redirect_uri"], query.get("state")
    carried_state = [("state", state)] if state is not None else []
    if form.get("action") in ("cancel", "not_now"):
        return _redirect(redirect_to(redirect_uri, [*DENIED, *carried_state]))
    login_as, email = form.get("login_as"), form.get("email")
    if isinstance(login_as, str) and login_as:
        profile, notice = sim.state.profile(login_as), "No Facebook account has that id."
    elif isinstance(email, str) and email.strip():
        profile, notice = sim.state.profile_by_email(email), UNKNOWN_EMAIL
    else:
        profile, notice = None, "Enter the email address of a Facebook account."
    if profile is None:
        return _page(sim, request, query, granted, unknown, notice=notice)
    declined = [value for value in form.getlist("decline") if isinstance(value, str)]
    code = sim.issue_login_code(
        profile.id, redirect_uri=redirect_uri, scopes=granted, declined=declined
    )
    # Meta appends "#_=_" when the redirect URI has no fragment of its own (manual-flow page;
    # gist lorn/2492160 shows it after a code). Browsers keep it; servers never see it.
    return _redirect(redirect_to(redirect_uri, [("code", code), *carried_state], "#_=_"))


def _page(
    sim: Simulator,
    request: Request,
    query: dict[str, str],
    granted: list[str],
    unknown: list[str],
    notice: str | None = None,
) -> Response:
    html = login_page(
        action=request.url.path,
        query=query,
        app_name=sim.state.app.name,
        business_name=sim.state.business.name,
        profiles=sim.facebook_accounts(),
        scopes=granted,
        unknown_scopes=unknown,
        notice=notice,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def _refusal(refusal: DialogRefusal) -> Response:
    # UNCONFIRMED: the HTTP status of Meta's error pages; 200, as a page the browser shows.
    return HTMLResponse(refusal_page(refusal), headers={"Cache-Control": "no-store"})


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


async def access_token(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    sim.request_log.record_http(is_batch=False)
    if sim.latency_ms > 0:
        await asyncio.sleep(sim.latency_ms / 1000)
    version = "v25.0"
    headers = {"x-fb-trace-id": errors.new_trace_id()[:11]}
    try:
        version, _ = split_path(request.url.path)
        query = await params.read_request(request)
        fault = sim.faults.take(request.method, EXCHANGE_PATH, in_batch=False)
        if fault is not None and fault.kind != "slow_answer":
            await apply_fault(sim, fault)
        async with sim.state_lock.writing():
            record = sim.exchange_login_code(query)
        if fault is not None and fault.kind == "slow_answer":
            await asyncio.sleep(fault.hang_seconds)
        body: Any = {
            "access_token": record.token,
            "token_type": "bearer",
            "expires_in": record.expires_at - record.issued_at,
        }
        status = 200
    except errors.GraphError as error:
        body, status = error.body(), error.status
        if isinstance(error, InvalidCode):
            headers["WWW-Authenticate"] = error.www_authenticate()
    headers["facebook-api-version"] = version
    _log(sim, request.method, EXCHANGE_PATH, status)
    return Response(
        json.dumps(body), status, headers=headers, media_type="application/json; charset=UTF-8"
    )


def _log(sim: Simulator, method: str, path: str, status: int) -> None:
    sim.request_log.record(
        LoggedRequest(
            time=sim.now(), method=method, path=path, route=path, status=status, in_batch=False
        )
    )
