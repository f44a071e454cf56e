"""A synchronous Graph caller for the simulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bastion.connectors.meta.simulator import Simulator


class SyncClient:
    """Drives the ASGI app through ``httpx.ASGITransport`` on a private event loop.

    Starlette's SyncClient is deprecated with plain httpx (and tests run with warnings as errors),
    so tests use the async client synchronously.
    """

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sim")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


class Graph:
    """A thin caller that speaks to the simulator the way a Graph client does."""

    def __init__(self, client: SyncClient, sim: Simulator) -> None:
        self.client = client
        self.sim = sim
        self.version = "v25.0"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        **params: Any,
    ) -> httpx.Response:
        token = self.sim.token if token is None else token
        url = f"/{self.version}/{path.lstrip('/')}"
        if token:
            params.setdefault("access_token", token)
        if method == "GET" or method == "DELETE":
            return self.client.request(method, url, params=params)
        if json_body is not None:
            return self.client.post(url, params={"access_token": token}, json=json_body)
        return self.client.post(url, data=params)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, **params)

    def post(self, path: str, **params: Any) -> httpx.Response:
        return self.request("POST", path, **params)

    def delete(self, path: str, **params: Any) -> httpx.Response:
        return self.request("DELETE", path, **params)

    def all_pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of an edge, following ``paging.next`` like a careful client."""
        items: list[dict[str, Any]] = []
        response = self.get(path, **params)
        while True:
            body = response.json()
            assert response.status_code == 200, body
            items.extend(body["data"])
            next_url = body.get("paging", {}).get("next")
            if not next_url:
                return items
            response = self.client.get(next_url)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "error" in body, body
    error: dict[str, Any] = body["error"]
    return error


def business_state(sim: Simulator) -> dict[str, Any]:
    """The simulator's dump without its clock, which runs with real time: what a refused or
    faulted request must leave as it was."""
    state = sim.dump()
    del state["clock"]
    return state
