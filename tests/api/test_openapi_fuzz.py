"""schemathesis over the whole OpenAPI schema, as the admin and as a collaborator (who may only
look): no server error, and every response is one the schema declares (status code, content
type, body shape)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case

from bastion.api.rate_limit import ApiRateLimit
from bastion.app import create_app
from tests.api.api_harness import role_tokens
from tests.checks.conftest import World
from tests.conftest import serve_on_loopback
from tests.members.member_world import cast_roles

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize(("role", "examples"), [("admin", 12), ("collaborator", 5)])
def test_the_api_keeps_to_its_schema_whatever_it_is_sent(
    world: World, role: str, examples: int
) -> None:
    tokens = role_tokens(world, cast_roles(world))
    app = create_app(world.runtime)
    app.state.api_rate_limit = ApiRateLimit("100000/minute")
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    with serve_on_loopback(app) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json").include(
            path_regex="^/api/v1/"
        )
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 40, len(operations)
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: Case) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

            fuzz()
