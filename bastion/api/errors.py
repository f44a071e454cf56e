"""One error body for the whole REST API: ``{"error": {"code", "message", "field"}}``.

    BastionError subclass        HTTP
    NotAuthenticated             401 (with ``WWW-Authenticate: Bearer``)
    PermissionDenied             403
    NotFound                     404
    Conflict                     409
    InvalidInput, validation     422 (``field`` names the field)
    ConnectionRefused            422 (``checks`` lists each check; ``ok`` null = not verified)
    malformed JSON               400
    rate limit                   429

Only paths under ``/api/`` get this body; other paths keep FastAPI's default responses, so the
web pages and SCIM answer in their own formats.
"""

from __future__ import annotations

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

from bastion.actions.apps import ConnectionRefused
from bastion.api.rate_limit import TooManyRequests
from bastion.errors import BastionError, Conflict, InvalidInput, NotFound, PermissionDenied
from bastion.logs import get_logger
from bastion.security.auth import NotAuthenticated

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


def bastion_error_to_response(exc: BastionError) -> JSONResponse:
    status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 500)
    if status == 500:
        # A connector or integrity error reaching the API: say what failed, not a traceback.
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


def install_error_handlers(app: FastAPI) -> None:
    async def on_bastion_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, BastionError):  # registered for this class only
            raise exc
        response = bastion_error_to_response(exc)
        if not _is_api(request) and response.status_code == 500:
            return Response("Internal error", status_code=500)
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
        return error_response(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    app.add_exception_handler(BastionError, on_bastion_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
