"""Every Graph failure a person can meet maps to one of our error kinds with a useful message.

Payloads are shaped as reference/meta-graph-api.md §1 (error envelope) and §3 show them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bastion.connectors.base import (
    BadRequest,
    ConnectorError,
    LastAdmin,
    NotFound,
    PermissionMissing,
    RateLimited,
    Restricted,
    TokenInvalid,
    Transient,
    TwoFactorRequired,
)
from bastion.connectors.meta.graph_errors import error_from_response

TOKEN = "EAAsecretTOKENvalue123"


def graph_error(
    code: int,
    message: str = "",
    *,
    subcode: int | None = None,
    status: int = 400,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> ConnectorError:
    error: dict[str, object] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return error_from_response(
        status=status,
        body={"error": error},
        headers=headers or {},
        secrets=[TOKEN],
        what="GET /123/business_users",
    )


def test_expired_token_says_so_and_how_to_fix_it() -> None:
    error = graph_error(190, "Error validating access token: Session has expired", subcode=463)
    assert isinstance(error, TokenInvalid)
    assert "expired" in error.message
    assert "new system-user token" in error.message


def test_password_change_subcode_is_explained() -> None:
    error = graph_error(190, "Error validating access token", subcode=460)
    assert isinstance(error, TokenInvalid)
    assert "changed their password" in error.message


def test_missing_permission_is_named() -> None:
    error = graph_error(200, "(#200) Requires business_management permission to manage the object")
    assert isinstance(error, PermissionMissing)
    assert error.permission == "business_management"
    assert "business_management" in error.message


def test_code_10_is_a_missing_permission_too() -> None:
    error = graph_error(
        10, "(#10) Application does not have permission for this action (pages_manage_metadata)"
    )
    assert isinstance(error, PermissionMissing)
    assert error.permission == "pages_manage_metadata"


def test_rate_limit_waits_for_metas_estimate_from_the_usage_header() -> None:
    usage = {
        "123": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 3}]
    }
    error = graph_error(
        613,
        "(#613) Calls to this api have exceeded the rate limit.",
        headers={"x-business-use-case-usage": json.dumps(usage)},
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_seconds == 180
    assert error.estimated
    assert error.disposition == "retry_later"


def test_rate_limit_without_an_estimate_backs_off_on_our_own_guess() -> None:
    error = graph_error(80004, "(#80004) There have been too many calls to this ad-account.")
    assert isinstance(error, RateLimited)
    assert not error.estimated
    assert error.retry_after_seconds > 0


def test_restriction_says_until_when_if_meta_says_it() -> None:
    error = graph_error(
        368,
        "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
        error_user_msg="This business can't change people until 2026-11-23T09:00:00+0000.",
    )
    assert isinstance(error, Restricted)
    assert error.until == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert "2026-11-23" in error.message


def test_restriction_without_an_end_time_is_still_a_restriction() -> None:
    error = graph_error(368, "(#368) The action attempted has been deemed abusive")
    assert isinstance(error, Restricted)
    assert error.until is None


def test_unknown_object_is_not_found() -> None:
    error = graph_error(
        100, "Unsupported get request. Object with ID '42' does not exist", subcode=33
    )
    assert isinstance(error, NotFound)


def test_last_admin_is_explained() -> None:
    error = graph_error(3914, "(#3914) This action would leave the business without an admin.")
    assert isinstance(error, LastAdmin)
    assert "admin" in error.message


def test_two_factor_becomes_a_manual_step() -> None:
    error = graph_error(415, "(#415) Two factor authentication required.")
    assert isinstance(error, TwoFactorRequired)
    assert error.disposition == "manual"
    assert "Business Manager" in error.manual_step


def test_bad_request_keeps_metas_message() -> None:
    error = graph_error(100, "(#100) Param role must be one of {ADMIN, EMPLOYEE}")
    assert isinstance(error, BadRequest)
    assert "Param role must be one of {ADMIN, EMPLOYEE}" in error.message


@pytest.mark.parametrize(
    ("code", "status", "extra"),
    [(1, 500, {}), (2, 500, {"is_transient": True}), (99, 400, {"is_transient": True})],
)
def test_transient_failures_are_transient(code: int, status: int, extra: dict[str, object]) -> None:
    assert isinstance(
        graph_error(code, "An unexpected error has occurred.", status=status, **extra), Transient
    )


def test_a_server_error_without_a_body_is_transient() -> None:
    error = error_from_response(status=502, body=None, headers={}, secrets=[TOKEN], what="GET /x")
    assert isinstance(error, Transient)


def test_meta_echoing_our_token_never_reaches_the_message() -> None:
    error = graph_error(100, f"(#100) Invalid parameter access_token={TOKEN}")
    assert TOKEN not in error.message
    assert TOKEN not in repr(error)
    assert "[redacted]" in error.message


def test_an_import_error_names_the_step_that_failed() -> None:
    error = graph_error(3914, "x").during("Reading owned_pages")
    assert isinstance(error, LastAdmin)
    assert error.message.startswith("Reading owned_pages: ")


def test_usage_headers_give_the_highest_share_and_the_access_tier() -> None:
    from bastion.connectors.meta.usage import read_usage

    usage = read_usage(
        {
            "x-app-usage": json.dumps({"call_count": 12, "total_time": 3, "total_cputime": 2}),
            "x-ad-account-usage": json.dumps(
                {
                    "acc_id_util_pct": 91.5,
                    "reset_time_duration": 60,
                    "ads_api_access_tier": "standard_access",
                }
            ),
            "x-business-use-case-usage": json.dumps(
                {
                    "1": [
                        {
                            "type": "ads_management",
                            "call_count": 40,
                            "estimated_time_to_regain_access": 2,
                        }
                    ]
                }
            ),
        }
    )
    assert usage.percent == 91.5
    assert usage.regain_access_seconds == 120
    assert usage.access_tier == "standard_access"
