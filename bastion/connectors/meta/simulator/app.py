"""The ASGI app: Graph paths at the root, Facebook Login's dialog and code exchange
(``login_routes``), the control API under ``/_sim/``.

A single catch-all route serves Graph, because Graph paths are ids and edges, not fixed routes.
Requests accept the token as ``access_token`` or ``Authorization: Bearer``, and parameters from the
query string and from form-encoded, multipart or JSON bodies.
"""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from bastion.connectors.meta.simulator import params
from bastion.connectors.meta.simulator.batch import run_batch
from bastion.connectors.meta.simulator.control import control_routes
from bastion.connectors.meta.simulator.errors import GraphError
from bastion.connectors.meta.simulator.graph_routes import (
    GraphRequest,
    encode_answer,
    handle_graph,
    split_path,
)
from bastion.connectors.meta.simulator.login_routes import login_routes
from bastion.connectors.meta.simulator.simulator import Simulator
from bastion.garbage import collector_paused


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "oauth") and value.strip() else None


async def graph_endpoint(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    if sim.latency_ms > 0:
        await asyncio.sleep(sim.latency_ms / 1000)
    graph_request = GraphRequest(
        method=request.method,
        path=request.url.path,
        params={},
        header_token=_bearer(request),
        base_url=str(request.base_url).rstrip("/"),
    )
    try:
        graph_request.params = await params.read_request(request)
        is_batch = request.method == "POST" and not split_path(request.url.path)[1]
        is_batch = is_batch and "batch" in graph_request.params
    except GraphError as error:
        sim.request_log.record_http(is_batch=False)
        return Response(json.dumps(error.body()), error.status, media_type="application/json")
    sim.request_log.record_http(is_batch=is_batch)
    with collector_paused():
        try:
            response = await (run_batch if is_batch else handle_graph)(sim, graph_request)
        except GraphError as error:
            return Response(json.dumps(error.body()), error.status, media_type="application/json")
        content = await encode_answer(response.body)
        response.body = None  # freed before the collector is back on, so it never walks it
    return Response(content, response.status, headers=response.headers)


def create_simulator_app(simulator: Simulator) -> Starlette:
    """The simulator as an ASGI app; ``app.state.simulator`` is ``simulator``."""
    app = Starlette(
        routes=[
            Mount("/_sim", routes=control_routes()),
            *login_routes(),
            Route("/{path:path}", graph_endpoint, methods=["GET", "POST", "DELETE"]),
        ]
    )
    app.state.simulator = simulator
    return app
