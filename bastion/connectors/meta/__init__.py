"""The Meta Business Manager connector: the entry points the rest of Bastion uses.

    async with MetaConnector(token=..., business_id=..., app_id=...) as meta:
        check = await meta.validate()
        snapshot = await meta.fetch_snapshot()
        result = await meta.perform(OperationRequest.remove(account_id="..."))

    check = await validate_connection(token, business_id, app_id, app_secret=...)  # connect form

With ``app_secret`` every request carries ``appsecret_proof`` and ``validate`` asks Meta's
``debug_token`` about the token, as the app; without it, validation reads what the token can
read about itself and says what it could not verify.

Settings arrive as plain arguments (``bastion.settings`` has ``graph_url``,
``graph_api_version``, ``graph_concurrency``, ``graph_timeout_seconds``); tests pass an
``httpx.ASGITransport`` to the simulator and a ``RetryPolicy`` with an instant ``sleep``.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

import httpx

from bastion.connectors.base import (
    ConnectionCheck,
    IdleWork,
    OperationRequest,
    OperationResult,
    PartnerPeople,
    PartnerTokenCheck,
    Snapshot,
)
from bastion.connectors.meta.client import (
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    CallCounters,
    GraphClient,
    RetryPolicy,
)
from bastion.connectors.meta.operations import OperationContext, perform_operation
from bastion.connectors.meta.partner_people import check_partner_token, fetch_partner_people
from bastion.connectors.meta.sync import fetch_snapshot
from bastion.connectors.meta.validation import validate_connection as _validate_with

__all__ = ["CallCounters", "MetaConnector", "RetryPolicy", "validate_connection"]


class MetaConnector:
    """One Business Manager reached with one system-user token."""

    def __init__(
        self,
        *,
        token: str,
        business_id: str,
        app_id: str,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        app_secret: str | None = None,
        concurrency: int = 8,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.business_id = business_id
        self.app_id = app_id
        self._token = token
        self._client_options: dict[str, Any] = {
            "base_url": base_url or os.environ.get("BASTION_GRAPH_URL") or DEFAULT_BASE_URL,
            "api_version": api_version,
            "concurrency": concurrency,
            "timeout": timeout,
            "transport": transport,
            "retry": retry,
        }
        self.client = GraphClient(token=token, app_secret=app_secret, **self._client_options)

    def __repr__(self) -> str:
        return f"MetaConnector(business_id={self.business_id!r}, app_id={self.app_id!r})"

    async def __aenter__(self) -> MetaConnector:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    @property
    def counters(self) -> CallCounters:
        """HTTP round trips and Graph operations made through this connector so far."""
        return self.client.counters

    async def validate(self) -> ConnectionCheck:
        return await _validate_with(
            self.client, token=self._token, business_id=self.business_id, app_id=self.app_id
        )

    async def fetch_snapshot(self, idle: IdleWork | None = None) -> Snapshot:
        return await fetch_snapshot(self.client, self.business_id, idle)

    async def token_identity(self) -> str | None:
        """The system user the token acts as (``/me``), for an app connected before Bastion
        kept it; a connection check reads it anyway."""
        me = await self.client.get("me", {"fields": "id"})
        return str(me.get("id") or "") or None

    def _partner_client(self, token: str) -> GraphClient:
        # A partner's token is for its own app: our App secret's proof would not match it.
        return GraphClient(token=token, app_secret=None, **self._client_options)

    async def check_partner_token(
        self, *, partner_external_id: str, partner_name: str, token: str
    ) -> PartnerTokenCheck:
        async with self._partner_client(token) as client:
            return await check_partner_token(
                client, partner_id=partner_external_id, partner_name=partner_name
            )

    async def fetch_partner_people(
        self, *, partner_external_id: str, token: str, asset_external_ids: tuple[str, ...]
    ) -> PartnerPeople:
        """The partner's people on our assets, read with the partner's own token."""
        async with self._partner_client(token) as client:
            return await fetch_partner_people(
                client, partner_id=partner_external_id, asset_ids=asset_external_ids
            )

    async def perform(
        self, operation: OperationRequest, *, resumed: bool = False
    ) -> OperationResult:
        """Carry out ``operation``; ``resumed`` means an earlier attempt's outcome is unknown,
        so the business is read first and nothing is done twice."""
        context = OperationContext(self.client, self.business_id, resumed=resumed)
        return await perform_operation(context, operation)


async def validate_connection(
    token: str, business_id: str, app_id: str, **options: Any
) -> ConnectionCheck:
    """Check a connection before it is stored (the connect-app action and wizard).

    ``options`` are MetaConnector's settings (base_url, api_version, timeout, transport, …).
    """
    async with MetaConnector(
        token=token, business_id=business_id, app_id=app_id, **options
    ) as meta:
        return await meta.validate()
