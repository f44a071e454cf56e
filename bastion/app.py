"""The web application: one FastAPI app serving the health probes (and later REST, SCIM, HTML).

Endpoints:
    GET /healthz   the process is up
    GET /readyz    the database answers and its schema is at the newest migration
    /scim/v2/...   SCIM 2.0 for identity providers (bastion/directory/scim.py)
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import cast

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.types import ASGIApp

from bastion import __version__
from bastion.directory.scim import DirectoryScimApp
from bastion.logs import get_logger
from bastion.runtime import Runtime
from bastion.storage.schema import is_current

log = get_logger(__name__)


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Bastion", version=__version__, docs_url="/api/docs", redoc_url=None)
    app.state.runtime = runtime

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request_id = request_id[:64]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers["X-Request-ID"] = request_id
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    # scim2-server types the ASGI triple with plain dicts; it is an ASGI app all the same.
    app.mount("/scim/v2", cast(ASGIApp, DirectoryScimApp(runtime)))

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

    return app
