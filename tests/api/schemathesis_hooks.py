"""What the OpenAPI schema cannot say, told to schemathesis (``SCHEMATHESIS_HOOKS``).

schemathesis's ``positive_data_acceptance`` check counts every refusal of input the schema
allows against the API. A few refusals depend on something no JSON Schema keyword can express:
what Meta thinks of a token, the clock, or the state of another object. Each is listed here
with its reason, by method, path, the field the error names and the message; any other
refusal, and every other check, stays a failure.

One refusal is schemathesis's own doing: its stateful phase follows links it infers from
response fields, and a field that may be null (a bulk result's ``operation_id``) becomes the
path ``/operations/None``, which it then counts as valid input.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

# (method, path, error code, field, words in the message): why the schema cannot say it
REFUSALS_THE_SCHEMA_CANNOT_EXPRESS: dict[tuple[str, str, str, str | None, str], str] = {
    ("POST", "/api/v1/apps", "connection_refused", None, ""): (
        "whether Meta accepts a token (and that it may manage the business) is Meta's answer"
    ),
    ("PATCH", "/api/v1/apps/{app_id}", "connection_refused", None, ""): (
        "a replacement token or App secret is checked with Meta like a new connection"
    ),
    (
        "POST",
        "/api/v1/accounts/{account_id}/exemption",
        "invalid_input",
        "expires_at",
        "must be in the future",
    ): "an expiry must be later than now, which JSON Schema has no keyword for",
    (
        "PUT",
        "/api/v1/accounts/{account_id}/asset-tasks",
        "invalid_input",
        "asset_tasks",
        "is not in",
    ): "the asset ids must be assets of the account's app",
    ("POST", "/api/v1/apps/{app_id}/invitations", "invalid_input", "asset_tasks", "is not in"): (
        "the asset ids must be assets of the app"
    ),
    ("POST", "/api/v1/accounts/{account_id}/match", "invalid_input", "user_id", "is not active"): (
        "only an active person can vouch for an account; the state is the person's"
    ),
    ("POST", "/api/v1/reviews/{review_id}/decision", "invalid_input", "reason", "say why"): (
        "keeping a review needs a reason and reverting does not: one field's need follows "
        "another's value"
    ),
    ("POST", "/api/v1/reviews/{review_id}/decision", "invalid_input", "force", "revert only"): (
        "force means something only with decision revert: one field's meaning follows another's"
    ),
    ("POST", "/api/v1/webhooks", "invalid_input", "url", ""): (
        "where Bastion may deliver (https:// naming a host, no user name, a valid port; http:// "
        "to loopback only when a setting allows) is what urlsplit reads, not a pattern"
    ),
    ("PUT", "/api/v1/apps/{app_id}/partners/{partner_id}/token", "invalid_input", "token", ""): (
        "whether Meta accepts a partner's token, and whose system user it is, is Meta's answer"
    ),
}


def _error(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def cannot_be_expressed(method: str, path: str, status: int, error: dict[str, Any]) -> bool:
    if status != 422:
        return False
    message = str(error.get("message", ""))
    return any(
        (method, path, error.get("code"), error.get("field")) == key[:4] and key[4] in message
        for key in REFUSALS_THE_SCHEMA_CANNOT_EXPRESS
    )


def null_carried_into_the_path(case: Any, status: int, error: dict[str, Any]) -> bool:
    parameters = case.path_parameters or {}
    field = error.get("field")
    return status == 422 and field in parameters and parameters[field] in (None, "None")


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except the refusals described above (``False`` drops one)."""
    if failure.code != "ST202":  # positive_data_acceptance: "schema-valid request rejected"
        return True
    method, path, error = case.method.upper(), case.operation.path, _error(response)
    return not (
        cannot_be_expressed(method, path, response.status_code, error)
        or null_carried_into_the_path(case, response.status_code, error)
    )
