"""The web application: one FastAPI app serving the health probes (and later REST, SCIM, HTML).

Endpoints:
    GET /healthz   the process is up
    GET /readyz    the database answers and its schema is at the newest migration
    /scim/v2/...   SCIM 2.0 for identity providers (bastion/directory/scim.py)
    /api/v1/...    the REST API (bastion/api/; OpenAPI at /openapi.json, docs at /api/docs)
    GET /metrics   Prometheus' text format, for BASTION_METRICS_TOKEN (bastion/metrics_endpoint.py)
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from typing import cast

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bastion import __version__
from bastion.api import api_router
from bastion.api.errors import install_error_handlers
from bastion.api.rate_limit import ApiRateLimit
from bastion.directory.scim import DirectoryScimApp
from bastion.jobs import Jobs
from bastion.logs import get_logger
from bastion.metrics_endpoint import install_metrics
from bastion.rate_limits import RateCounter
from bastion.runtime import Runtime
from bastion.storage.schema import is_current
from bastion.web import install_web
from bastion.web.context import SESSION_COOKIES
from bastion.web.csrf import FormCSRFMiddleware

log = get_logger(__name__)
# Pages load only our own files; htmx needs no eval, and nothing may frame Bastion.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


# What holds for every operation, which the schema cannot say on each (docs/api.md).
API_DESCRIPTION = (
    "Access governance for Meta Business Manager. No text in a request may hold NUL (U+0000): "
    "it is refused with 422 naming the field. Errors share one body, "
    '`{"error": {"code", "message", "field"}}`.'
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    """A request id for the logs, and the security headers every response carries.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs each
    request through an extra task and stream, which cost SCIM a third of its throughput.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get("x-request-id", "")
        # A caller's id is kept only if it is harmless in a header and a log line.
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        path, https = scope["path"], scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                if not path.startswith("/api/docs"):
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                if https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


def _csrf_secret(runtime: Runtime) -> str:
    """Stable across processes when a key ring is configured (tokens survive restarts)."""
    if runtime.key_ring is None:
        return secrets.token_urlsafe(32)
    _kid, key = runtime.key_ring.keys[0]
    return hashlib.sha256(b"bastion-csrf:" + key).hexdigest()


def create_app(runtime: Runtime, *, jobs: Jobs | None = None) -> FastAPI:
    app = FastAPI(
        title="Bastion",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    # Pages queue checks and operations here; None = the configured queue, opened on first use.
    app.state.jobs = jobs
    limits = RateCounter.for_settings(runtime.settings, runtime.key_ring)
    app.state.api_rate_limit = ApiRateLimit(runtime.settings.api_rate_limit, counter=limits)
    install_error_handlers(app)
    # First among the routes: identity providers send the most requests, and a mount further
    # down would be reached only after every API and page route had been tried.
    # scim2-server types the ASGI triple with plain dicts; it is an ASGI app all the same.
    app.mount("/scim/v2", cast(ASGIApp, DirectoryScimApp(runtime)))
    app.include_router(api_router())

    app.add_middleware(RequestContext)
    install_metrics(app, runtime)

    # Double-submit CSRF on every state-changing request that carries a session cookie (SCIM
    # and token-authenticated API clients send none); sign-in is checked too (login CSRF).
    app.add_middleware(
        FormCSRFMiddleware,
        secret=_csrf_secret(runtime),
        sensitive_cookies=set(SESSION_COOKIES),
        exempt_urls=[re.compile(r"^/scim/")],
        # Forms that open a session are checked even without one (no login CSRF).
        required_urls=[re.compile(r"^/signin(/email-link(/use)?)?$")],
    )

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "Not ready"}})
    def readyz() -> JSONResponse:
        try:
            with runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current = is_current(runtime.engine)
        except Exception as exc:
            log.warning("readiness check failed", error=type(exc).__name__)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        if not current:
            return JSONResponse(
                {"status": "unavailable", "database": "migrations pending: run bastion migrate"},
                503,
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    install_web(app, limits)
    return app
