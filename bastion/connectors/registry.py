"""Open the connector for an app kind. The only place that maps an app kind to a connector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from bastion.connectors.base import (
    ConnectionCheck,
    IdleWork,
    OperationRequest,
    OperationResult,
    PartnerPeople,
    PartnerTokenCheck,
    ProfileLogin,
    Snapshot,
)
from bastion.errors import ConfigurationError, InvalidInput


class Counters(Protocol):
    http_requests: int
    graph_operations: int


class Connector(Protocol):
    """What checks, the operations engine and the connect wizard need from any connector."""

    async def validate(self) -> ConnectionCheck: ...
    async def fetch_snapshot(self, idle: IdleWork | None = None) -> Snapshot:
        """The whole app. ``idle``: the caller's work, handed the assets and grants once they
        are final and advanced a step at a time while the connector waits for the app's
        answers; what is left of it when the read ends is the caller's to finish."""
        ...

    async def token_identity(self) -> str | None: ...
    async def perform(
        self, operation: OperationRequest, *, resumed: bool = False
    ) -> OperationResult: ...
    async def check_partner_token(
        self, *, partner_external_id: str, partner_name: str, token: str
    ) -> PartnerTokenCheck: ...
    async def fetch_partner_people(
        self, *, partner_external_id: str, token: str, asset_external_ids: tuple[str, ...]
    ) -> PartnerPeople: ...
    async def aclose(self) -> None: ...

    @property
    def counters(self) -> Any: ...


@dataclass(frozen=True)
class ConnectorOptions:
    """How connectors reach the outside world in this process."""

    base_url: str | None = None
    api_version: str = "v25.0"
    # Where a browser logs in to the app (``ProfileLogin``); None: the app's own login page.
    login_url: str | None = None
    concurrency: int = 8
    timeout_seconds: float = 30.0
    # Tests and the demo hand in an in-process transport to a simulator.
    transport: httpx.AsyncBaseTransport | None = None
    retry: Any = None


# The settings each app kind needs, with the label a person sees when one is missing.
REQUIRED_SETTINGS: dict[str, dict[str, str]] = {
    "meta_business": {"business_id": "Business ID", "app_id": "App ID"},
}


def validate_app_settings(kind: str, settings: dict[str, Any]) -> dict[str, str]:
    required = REQUIRED_SETTINGS.get(kind)
    if required is None:
        raise InvalidInput("kind", f"unknown app kind {kind!r}")
    cleaned: dict[str, str] = {}
    for key, label in required.items():
        value = str(settings.get(key) or "").strip()
        if not value:
            raise InvalidInput(key, f"{label} is required")
        if not value.isdigit():
            raise InvalidInput(key, f"{label} must be a number, as shown in Business Settings")
        cleaned[key] = value
    return cleaned


def load_connectors() -> None:
    """Import every app kind's connector, load the trust store and the HTTP stack, as a
    long-lived process does once at start-up rather than in its first check (about 0.15 s
    together)."""
    import anyio

    import bastion.connectors.meta  # noqa: F401
    from bastion.connectors.tls import trust_context

    # httpx imports httpcore and h11 when it builds a client's transport, and anyio its asyncio
    # backend on the first connection: about 50 ms of imports in a check's first requests.
    httpx.AsyncHTTPTransport(verify=trust_context())
    anyio.run(anyio.sleep, 0)


def open_connector(
    kind: str,
    settings: dict[str, Any],
    token: str,
    options: ConnectorOptions,
    *,
    app_secret: str | None = None,
) -> Connector:
    """``app_secret`` is the secret of the app the token was made for, when the admin gave it
    (Meta: every request then carries a proof, and the token can be inspected)."""
    if kind == "meta_business":
        from bastion.connectors.meta import MetaConnector

        return MetaConnector(
            token=token,
            business_id=str(settings["business_id"]),
            app_id=str(settings["app_id"]),
            app_secret=app_secret or None,
            base_url=options.base_url,
            api_version=options.api_version,
            concurrency=options.concurrency,
            timeout=options.timeout_seconds,
            transport=options.transport,
            retry=options.retry,
        )
    raise ConfigurationError(f"no connector for app kind {kind!r}")


def open_profile_login(
    kind: str, settings: dict[str, Any], options: ConnectorOptions, *, app_secret: str
) -> ProfileLogin:
    """The app's own login, for a person proving which account inside the app is theirs; it
    needs the secret of the app people log in to (Meta: the App secret)."""
    if kind == "meta_business":
        from bastion.connectors.meta.profile_login import MetaProfileLogin

        return MetaProfileLogin(
            app_id=str(settings["app_id"]),
            business_id=str(settings["business_id"]),
            app_secret=app_secret,
            login_url=options.login_url,
            graph_url=options.base_url,
            api_version=options.api_version,
            timeout=options.timeout_seconds,
            transport=options.transport,
            retry=options.retry,
        )
    raise ConfigurationError(f"no login for app kind {kind!r}")
