"""scim2-tester's whole suite against our mount, in process: no ERROR or CRITICAL result."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from scim2_client.engines.inprocess import InProcessResponse, _prepare_request
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server

from tests.directory.conftest import Directory


class HttpxSCIMClient(WSGISCIMClient):
    """scim2-client's in-process client, sending through an httpx client instead of WSGI."""

    def __init__(self, http: httpx.Client) -> None:
        super().__init__(app=None, base_url=str(http.base_url).rstrip("/"))  # type: ignore[arg-type]
        self.http = http

    def request(self, method: str, url: str, **kwargs: Any) -> InProcessResponse:
        prepared = _prepare_request(self.base_url, None, method, url, **kwargs)
        response = self.http.request(
            prepared.method, prepared.url.geturl(), headers=prepared.headers, content=prepared.body
        )
        return InProcessResponse(response.status_code, response.headers, response.content)


def test_scim2_tester_finds_no_error(sqlite_directory: Directory) -> None:
    with sqlite_directory.client(sqlite_directory.acme) as http:
        scim = HttpxSCIMClient(http)
        scim.discover()
        results = check_server(scim)
    failures = [
        f"{r.status.name} {r.title}: {r.reason}"
        for r in results
        if r.status in (Status.ERROR, Status.CRITICAL)
    ]
    assert failures == [], "\n".join(failures)
    # The suite really ran: discovery, CRUD and PATCH on both resource types (131 when written).
    assert Counter(r.status for r in results)[Status.SUCCESS] > 100
