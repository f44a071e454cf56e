from collections.abc import Iterator

import httpx
import pytest

from bastion.app import create_app
from tests.api.api_harness import Api, role_tokens
from tests.checks.conftest import World, mailbox, world  # noqa: F401 - fixtures shared with checks
from tests.conftest import serve_on_loopback
from tests.members.member_world import Cast, cast_roles


@pytest.fixture
def cast(world: World) -> Cast:  # noqa: F811 - world is the shared fixture imported above
    return cast_roles(world)


@pytest.fixture
def api(world: World, cast: Cast) -> Iterator[Api]:  # noqa: F811
    """The whole app on a loopback port, with an API token for each role of the cast."""
    tokens = role_tokens(world, cast)
    with (
        serve_on_loopback(create_app(world.runtime)) as url,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield Api(c, tokens)
