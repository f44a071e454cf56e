"""schemathesis over the whole OpenAPI schema with every check it has (`--checks all`), as the
admin and as a collaborator (who may only look): no server error, every response one the schema
declares, what the schema allows accepted, what it forbids refused, `Allow` on every 405.

The CLI itself runs, in a subprocess against the app on a loopback port, so the test runs exactly
what a person reproducing a failure would type (the command is printed with the failures), with
``tests/api/schemathesis_hooks.py`` naming the few refusals the schema cannot express. It runs
once per role, on PostgreSQL when one is configured (CI) and on SQLite otherwise: each run sends
some 4,000 requests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bastion.app import create_app
from tests.api.api_harness import role_tokens
from tests.checks.conftest import World
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, serve_on_loopback
from tests.members.member_world import cast_roles

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
REPOSITORY = Path(__file__).resolve().parents[2]
HOOKS = "tests.api.schemathesis_hooks"
MAX_EXAMPLES = 50
DATABASE = "postgres" if POSTGRES_URL or REQUIRE_POSTGRES else "sqlite"
# Every request counts against the token's budget; the fuzz sends thousands a minute.
FUZZ_RATE_LIMIT = "1000000/minute"
# Each run takes one to two minutes on two cores; the bound only stops a hung run.
RUN_TIMEOUT_SECONDS = 600


def schemathesis_command(base_url: str, token: str) -> list[str]:
    return [
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/openapi.json",
        "--include-path-regex",
        "^/api/v1/",
        # Saving single sign-on asks the issuer named in the body for its discovery document:
        # fuzzed, it would send requests to whatever hosts the generator invents. tests/sso
        # covers it against a loopback OpenID Provider.
        "--exclude-path-regex",
        "^/api/v1/sso$",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        # Reproducible: the same cases every run, nothing remembered between runs.
        "--generation-deterministic",
        "--workers",
        "1",
        # Every string field refuses NUL (PostgreSQL text cannot hold it): docs/api.md says so
        # once for the whole API, which JSON Schema has no way to say short of a pattern on
        # each string. Without this the check that valid input is accepted reports every 422
        # for NUL, which the API documents.
        "--generation-allow-x00",
        "false",
        "--no-color",
        "--header",
        f"Authorization: Bearer {token}",
    ]


def failures_of(run: subprocess.CompletedProcess[str]) -> str:
    """The CLI's FAILURES section and its summary, without the progress lines."""
    start = run.stdout.find("FAILURES")
    return (run.stdout[start:] if start >= 0 else run.stdout[-6000:]) + run.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 60)
@pytest.mark.parametrize("database_url", [DATABASE], indirect=True)
@pytest.mark.parametrize("role", ["admin", "collaborator"])
def test_the_api_keeps_to_its_schema_whatever_it_is_sent(
    world: World, role: str, tmp_path: Path
) -> None:
    tokens = role_tokens(world, cast_roles(world))
    world.runtime.settings = world.runtime.settings.model_copy(
        update={"api_rate_limit": FUZZ_RATE_LIMIT}
    )
    with serve_on_loopback(create_app(world.runtime)) as base_url:
        # A token that did not work would make every answer a 401 and the run pass for nothing.
        me = httpx.get(f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {tokens[role]}"})
        assert me.status_code == 200, me.text
        command = schemathesis_command(base_url, tokens[role])
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
            cwd=tmp_path,  # schemathesis keeps a cache in its working directory
            env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(REPOSITORY)},
        )
    assert run.returncode == 0, (
        f"schemathesis as {role} failed (SCHEMATHESIS_HOOKS={HOOKS} {' '.join(command[:-2])} …):"
        f"\n{failures_of(run)}"
    )
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert tested is not None and int(tested.group(1)) > 40, run.stdout[-2000:]
