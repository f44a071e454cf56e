"""Several simulated businesses behind one Graph host, as graph.facebook.com serves every business.

Each business is a ``Simulator`` of its own (its people, app, tokens). A call reaches the one whose
token it carries (``Authorization: Bearer`` or ``access_token``, a system user's or the app's own
``{app-id}|{app-secret}``), or whose app a Facebook Login dialog names (``client_id``); anything
else reaches the first, so a bad token gets the first business's 190 as Meta answers an unknown
token. The demo uses it so that a newcomer can connect a second business by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from bastion.connectors.meta.simulator.app import create_simulator_app
from bastion.connectors.meta.simulator.simulator import Simulator


def _caller(scope: Scope) -> tuple[str | None, str | None]:
    """The token a request carries and the app a login dialog names, from headers and query."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    scheme, _, value = Headers(scope=scope).get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() in ("bearer", "oauth") else ""
    token = (query.get("access_token") or [token])[0]
    return token or None, (query.get("client_id") or [None])[0]


class GraphHost:
    """An ASGI app routing each Graph call to the simulated business it belongs to."""

    def __init__(self, simulators: Sequence[Simulator]) -> None:
        if not simulators:
            raise ValueError("a Graph host needs at least one simulated business")
        self.simulators = list(simulators)
        self._apps: list[ASGIApp] = [create_simulator_app(s) for s in self.simulators]

    def _owner(self, token: str | None, client_id: str | None) -> int:
        for index, sim in enumerate(self.simulators):
            if token and (token in sim.state.tokens or token == sim.app_token):
                return index
            if client_id and client_id == sim.app_id:
                return index
        return 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        index = self._owner(*_caller(scope)) if scope["type"] == "http" else 0
        await self._apps[index](scope, receive, send)
