"""Graph errors shaped exactly as Meta shapes them.

Every refusal in the simulator is a ``GraphError`` raised *before* any state changes, so a bad
request never leaves anything half-done. ``body()`` renders Meta's envelope:
``{"error": {message, type, code, error_subcode, error_user_title, error_user_msg, fbtrace_id,
is_transient}}``; optional keys are omitted when empty, as Meta does.

Choices where Meta is unconfirmed: a request without any token gets code 104 (Meta's message for
it); unknown ids get code 100 subcode 33 (Meta's "Unsupported get request" text); transient
server faults (HTTP 500) get code 2 with ``is_transient: true``.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.connectors.meta.schema import Violation

_TRACE_ALPHABET = string.ascii_letters + string.digits


def new_trace_id() -> str:
    """A short support id like Meta's ``fbtrace_id`` (random: it is not part of the state)."""
    return "A" + "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(22))


@dataclass
class GraphError(Exception):
    """A refusal of the Graph API; ``status`` is the HTTP status Meta uses for it."""

    message: str
    code: int
    type: str = "OAuthException"
    subcode: int | None = None
    user_title: str | None = None
    user_msg: str | None = None
    is_transient: bool = False
    status: int = 400
    error_data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        if self.error_data:
            error["error_data"] = self.error_data
        error["fbtrace_id"] = new_trace_id()
        return {"error": error}


def bad_parameter(message: str, *, subcode: int | None = None) -> GraphError:
    """Code 100: a missing, malformed or out-of-enum parameter."""
    return GraphError(f"(#100) {message}", 100, subcode=subcode)


def enum_error(param: str, allowed: tuple[str, ...] | list[str]) -> GraphError:
    """Code 100 listing the accepted values in ``message``, as Meta does."""
    return bad_parameter(f"Param {param} must be one of {{{', '.join(allowed)}}}")


def unknown_object(object_id: str, method: str = "get") -> GraphError:
    return GraphError(
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the "
        "Graph API documentation at https://developers.facebook.com/docs/graph-api",
        100,
        type="GraphMethodException",
        subcode=33,
    )


def nonexisting_field(field_name: str, node_type: str) -> GraphError:
    return bad_parameter(
        f"Tried accessing nonexisting field ({field_name}) on node type ({node_type})"
    )


def missing_permission(permission: str, *, code: int = 200) -> GraphError:
    if code == 10:
        return GraphError(
            f"(#10) Application does not have permission for this action ({permission})", 10
        )
    return GraphError(f"(#200) Requires {permission} permission to manage the object", 200)


def person_token_refused() -> GraphError:
    """A person's user token on what their seat does not reach (see permissions.py)."""
    return GraphError("(#200) Permissions error", 200)


def no_token() -> GraphError:
    return GraphError("An access token is required to request this resource.", 104)


def invalid_token() -> GraphError:
    return GraphError("Invalid OAuth access token - Cannot parse access token", 190)


def expired_token(expired_at: str) -> GraphError:
    return GraphError(
        f"Error validating access token: Session has expired on {expired_at}.",
        190,
        subcode=463,
        user_title="Session expired",
        user_msg="Your session has expired. Please log in again.",
    )


def last_admin() -> GraphError:
    return GraphError(
        "(#3914) This action would leave the business without an admin.",
        3914,
        user_title="Can't remove the last admin",
        user_msg="Your business needs at least one admin. Add another admin before you remove "
        "or change the role of this person.",
    )


def two_factor_required() -> GraphError:
    return GraphError(
        "(#415) Two factor authentication required. User have to enter a code from SMS or TOTP "
        "code generator to pass 2fac. This could happen when accessing a 2fac-protected asset "
        "like a page that is owned by a 2fac-protected business manager.",
        415,
        user_title="Two-factor authentication required",
        user_msg="This business requires two-factor authentication for this action. Make the "
        "change in Business Manager.",
    )


def restricted(until: str) -> GraphError:
    return GraphError(
        "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
        368,
        user_title="Action temporarily blocked",
        user_msg=f"This business can't add, remove or change people until {until}, because a "
        "system user was created recently. Try again after that time.",
    )


def server_error() -> GraphError:
    return GraphError(
        "An unexpected error has occurred. Please retry your request later.",
        2,
        is_transient=True,
        status=500,
    )


def schema_refusal(violation: Violation, node_id: str) -> GraphError:
    """Meta's answer to a request naming what its schema lacks.

    A field or edge read that a node type lacks: code 100 "Tried accessing nonexisting field"
    (Meta's own words, quoted in its SDK's and developers' reports). A write to an edge the type
    lacks: code 2500 "Unknown path components". A method an edge or node does not allow: code 100
    subcode 33 "Unsupported <method> request". A parameter or modifier the method does not take:
    UNCONFIRMED (Graph may ignore it); refused with code 100 so nothing is silently dropped.
    """
    if violation.kind in ("field", "node") or (
        violation.kind == "edge" and violation.method == "GET"
    ):
        return nonexisting_field(violation.name, violation.node_type)
    if violation.kind == "edge":
        return unknown_path(f"/{violation.name}")
    if violation.kind == "method":
        return unknown_object(node_id, violation.method.lower())
    where = f" on {violation.edge}" if violation.edge else ""
    return bad_parameter(f"Param {violation.name} is not a parameter of this request{where}")


def unknown_path(path: str) -> GraphError:
    return GraphError(f"Unknown path components: {path}", 2500)
