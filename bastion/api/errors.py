"""One error body for the whole REST API: ``{"error": {"code", "message", "field"}}``.

    BastionError subclass        HTTP
    NotAuthenticated             401 (with ``WWW-Authenticate: Bearer``)
    PermissionDenied             403
    NotFound                     404
    Conflict                     409
    InvalidInput, validation     422 (``field`` names the field)
    ConnectionRefused            422 (``checks`` lists each check; ``ok`` null = not verified)
    malformed JSON               400
    method not allowed           405 (``Allow`` lists every method the path has)
    rate limit                   429
    ConnectorError               502 the app answered in a way Bastion cannot use
      retried later (Transient,  503 the app could not be reached, timed out, rate-limits or
      RateLimited, Restricted)       restricts Bastion; ``Retry-After`` when the app said when

Only paths under ``/api/`` get this body; other paths keep FastAPI's default responses, so the
web pages and SCIM answer in their own formats.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from bastion.actions.apps import ConnectionRefused
from bastion.api.auth import NotAuthenticated
from bastion.api.rate_limit import TooManyRequests
from bastion.connectors.base import ConnectorError, RateLimited, Restricted
from bastion.errors import BastionError, Conflict, InvalidInput, NotFound, PermissionDenied
from bastion.logs import get_logger

log = get_logger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    checks: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed request (e.g. invalid JSON)"),
    401: _doc("Not signed in: no valid API token or session cookie"),
    403: _doc("The caller's role does not allow this; the message names the role needed"),
    404: _doc("No such object in this workspace"),
    422: _doc("A field is wrong; `field` names it"),
    429: _doc("Too many requests; retry later"),
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **READ_ERRORS,
    409: _doc("The object's state forbids the change, or it exists already"),
}
# For the routes that call the app (Meta) while the caller waits.
UPSTREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    502: _doc("The app (Meta) answered in a way Bastion cannot use; nothing was changed"),
    503: _doc(
        "The app (Meta) could not be reached, did not answer in time, rate-limits or restricts "
        "Bastion; nothing was changed, retry later (`Retry-After` when Meta said when)"
    ),
}
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

_STATUS: list[tuple[type[BastionError], int]] = [
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (ConnectionRefused, 422),
    (TooManyRequests, 429),
]


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    *,
    checks: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message, "field": field}
    if checks is not None:
        detail["checks"] = checks
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _upstream_error_response(exc: ConnectorError) -> JSONResponse:
    """A failure of the app itself is not Bastion's: 503 when retrying later may help, else 502."""
    if exc.disposition != "retry_later":
        return error_response(502, "upstream_error", exc.message)
    wait: float | None = None
    if isinstance(exc, RateLimited):
        wait = exc.retry_after_seconds
    elif isinstance(exc, Restricted) and exc.until is not None:
        wait = (exc.until - datetime.now(tz=UTC)).total_seconds()
    headers = {"Retry-After": str(max(1, math.ceil(wait)))} if wait is not None else None
    return error_response(503, "upstream_unavailable", exc.message, headers=headers)


def bastion_error_to_response(exc: BastionError) -> JSONResponse:
    if isinstance(exc, ConnectorError):
        return _upstream_error_response(exc)
    status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 500)
    if status == 500:
        # An integrity error (or another unmapped one) reaching the API: say what failed, not
        # a traceback.
        log.warning("unmapped error in the API", code=exc.code)
        return error_response(500, exc.code, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 429:
        headers = {"Retry-After": "60"}
    checks: list[dict[str, Any]] | None = None
    if isinstance(exc, ConnectionRefused):
        check = exc.check
        checks = [
            {"name": "token", "ok": check.token_valid, "problem": check.token_problem},
        ]
        if check.token_valid:
            checks.extend(
                [
                    {"name": "system_user", "ok": check.is_system_user, "problem": None},
                    *(
                        {"name": p.name, "ok": p.granted, "problem": None}
                        for p in check.permissions
                    ),
                    {
                        "name": "business",
                        "ok": check.business_problem is None,
                        "problem": check.business_problem,
                    },
                    {"name": "full_control", "ok": check.can_manage_people, "problem": None},
                ]
            )
    field = exc.field if isinstance(exc, InvalidInput) else None
    return error_response(status, exc.code, exc.message, field, checks=checks, headers=headers)


def _field_of(error: dict[str, Any]) -> str | None:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    if location and location[0] == "header":
        location = location[1:]
    return ".".join(location) or None


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API path has, from the OpenAPI schema.

    Starlette's 405 names only the methods of the first route matching the path, and FastAPI
    makes one route per method, so ``GET /apps`` hid ``POST /apps``.
    """
    index: list[tuple[Any, set[str]]] | None = getattr(app.state, "api_allowed_methods", None)
    if index is None:
        index = []
        for template, operations in app.openapi().get("paths", {}).items():
            methods = {method.upper() for method in operations} & set(HTTP_METHODS)
            if "GET" in methods:
                methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
            index.append((compile_path(template)[0], methods))
        app.state.api_allowed_methods = index
    found: set[str] = set()
    for regex, methods in index:
        if regex.match(path):
            found |= methods
    return [method for method in HTTP_METHODS if method in found]


def install_error_handlers(app: FastAPI) -> None:
    async def on_bastion_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, BastionError):  # registered for this class only
            raise exc
        response = bastion_error_to_response(exc)
        if not _is_api(request) and response.status_code >= 500:
            # The pages show their own errors; what reaches here gets a plain line.
            text = "Internal error" if response.status_code == 500 else exc.message
            return Response(text, status_code=response.status_code, media_type="text/plain")
        return response

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, RequestValidationError):  # registered for this class only
            raise exc
        if not _is_api(request):
            return await request_validation_exception_handler(request, exc)
        errors = list(exc.errors())
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return error_response(400, "malformed_request", "the body is not valid JSON")
        field = _field_of(first)
        message = str(first.get("msg", "invalid input"))
        return error_response(
            422, "invalid_input", f"{field}: {message}" if field else message, field
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):  # registered for this class only
            raise exc
        if not _is_api(request):
            return await http_exception_handler(request, exc)
        codes = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed"}
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            methods = allowed_methods(request.app, request.url.path)
            if methods:
                headers["Allow"] = ", ".join(methods)
        return error_response(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=headers or None,
        )

    app.add_exception_handler(BastionError, on_bastion_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
