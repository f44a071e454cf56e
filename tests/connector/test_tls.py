"""The connectors' trust store: loaded once per process, and verifying."""

from __future__ import annotations

import ssl
import subprocess
import sys

import pytest

from bastion.connectors.meta.client import GraphClient
from bastion.connectors.tls import trust_context


def test_the_trust_context_is_built_once_and_verifies_servers() -> None:
    context = trust_context()
    assert trust_context() is context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] > 0


@pytest.mark.anyio
async def test_every_graph_client_shares_it() -> None:
    clients = [GraphClient(token="t1"), GraphClient(token="t2")]
    try:
        contexts = {id(c._http._transport._pool._ssl_context) for c in clients}  # type: ignore[attr-defined]
        assert contexts == {id(trust_context())}
    finally:
        for client in clients:
            await client.aclose()


def test_load_connectors_imports_every_kind_the_trust_store_and_the_http_stack() -> None:
    # In a fresh interpreter: this test's own imports already hold the connector.
    program = (
        "import sys\n"
        "from bastion.connectors import registry, tls\n"
        "assert 'bastion.connectors.meta' not in sys.modules\n"
        "assert tls.trust_context.cache_info().currsize == 0\n"
        "stack = ('httpcore', 'h11', 'anyio._backends._asyncio')\n"
        "assert not [m for m in stack if m in sys.modules]\n"
        "registry.load_connectors()\n"
        "assert 'bastion.connectors.meta' in sys.modules\n"
        "assert tls.trust_context.cache_info().currsize == 1\n"
        "assert [m for m in stack if m in sys.modules] == list(stack)\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=60)
