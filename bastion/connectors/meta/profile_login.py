"""Facebook Login, for a person connecting their own profile to their seat in the business.

The manual code flow with the app's dedicated Meta app (reference people-and-alerts.md §1):

1. the browser goes to ``{login_url}/{version}/dialog/oauth`` with the App ID, the redirect URI,
   Bastion's ``state``, ``response_type=code`` and the scope (§1.1);
2. it comes back with ``code`` and ``state``, or with ``error=access_denied`` (§1.2);
3. the code is exchanged, server to server, at ``GET /{version}/oauth/access_token`` with the
   App secret and the byte-identical redirect URI (§1.3): once only, so never retried;
4. with the user token, and ``appsecret_proof`` (§1.5), ``GET /me?fields=id,name`` names the
   profile (its id is app-scoped: never compared with a business-scoped id, §1.6) and
   ``GET /me/business_users`` lists the person's seats in business portfolios; the row of the
   app's business carries the business-scoped id that business's accounts have (§1.6).

The user token is kept in this module's local variables only: it is dropped when ``identify``
returns, and scrubbed from every message. Meta's exchange errors (§1.3): a used code is
100/36009; an expired code and a redirect URI that differs are 100 with subcodes only known from
folklore (36007, 36008: UNCONFIRMED), so their message is read too; a wrong App secret is 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from bastion.connectors.base import (
    BadRequest,
    ConnectorError,
    LoginRefused,
    NotFound,
    PermissionMissing,
    ProfileIdentity,
    TokenInvalid,
    Transient,
)
from bastion.connectors.meta.client import (
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    GraphClient,
    RetryPolicy,
)
from bastion.connectors.meta.graph_errors import GraphErrorBody, error_from_response, scrub
from bastion.connectors.tls import trust_context

DEFAULT_LOGIN_URL = "https://www.facebook.com"
# Reading ``/me/business_users`` needs business_management (§1.6; which permission the edge
# asks for is UNCONFIRMED on its own page). The name and id of ``/me`` need only public_profile,
# which every login grants.
SCOPES = ("business_management",)
CODE_USED_SUBCODE = 36009
CODE_EXPIRED_SUBCODE = 36007  # UNCONFIRMED (folklore)
REDIRECT_MISMATCH_SUBCODE = 36008  # UNCONFIRMED (folklore)
EXCHANGE = "GET /oauth/access_token"


class MetaProfileLogin:
    """Facebook Login with one customer's Meta app, for seats in one business portfolio."""

    def __init__(
        self,
        *,
        app_id: str,
        business_id: str,
        app_secret: str,
        login_url: str | None = None,
        graph_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.app_id = app_id
        self.business_id = business_id
        self._app_secret = app_secret
        self.login_base = (login_url or DEFAULT_LOGIN_URL).rstrip("/")
        self.graph_base = (graph_url or DEFAULT_BASE_URL).rstrip("/")
        self.api_version = api_version
        self.timeout = timeout
        self._transport = transport
        self._retry = retry

    def __repr__(self) -> str:
        return f"MetaProfileLogin(app_id={self.app_id!r}, app_secret=<hidden>)"

    def login_url(self, *, redirect_uri: str, state: str) -> str:
        query = urlencode(
            {
                "client_id": self.app_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "response_type": "code",
                "scope": ",".join(SCOPES),
            }
        )
        return f"{self.login_base}/{self.api_version}/dialog/oauth?{query}"

    async def identify(self, *, code: str, redirect_uri: str) -> ProfileIdentity:
        token = await self._exchange(code=code, redirect_uri=redirect_uri)
        async with GraphClient(
            token=token,
            base_url=self.graph_base,
            api_version=self.api_version,
            app_secret=self._app_secret,
            timeout=self.timeout,
            transport=self._transport,
            retry=self._retry,
        ) as graph:
            try:
                me = await graph.get("me", {"fields": "id,name"})
                seats = await graph.get_all(
                    "me/business_users", {"fields": "id,business{id,name},role,email"}
                )
            except ConnectorError as exc:
                raise _read_refused(exc) from None
        profile_id = str(me.get("id") or "")
        if not profile_id:
            raise LoginRefused(
                "Meta's answer did not say who logged in; log in again.", problem="bad_answer"
            )
        name = me.get("name")
        return ProfileIdentity(
            profile_id=profile_id,
            name=str(name)[:200] if isinstance(name, str) and name else None,
            account_external_id=self._seat_in_business(seats),
        )

    def _seat_in_business(self, seats: list[dict[str, Any]]) -> str | None:
        for seat in seats:
            business = seat.get("business")
            if isinstance(business, Mapping) and str(business.get("id")) == self.business_id:
                seat_id = seat.get("id")
                return str(seat_id) if seat_id else None
        return None

    async def _exchange(self, *, code: str, redirect_uri: str) -> str:
        """The code for a user token, asked once: a code works one time only, so a request whose
        answer was lost cannot be repeated (Meta would answer "code used")."""
        secrets = (self._app_secret, code)
        params = {
            "client_id": self.app_id,
            "redirect_uri": redirect_uri,
            "client_secret": self._app_secret,
            "code": code,
        }
        try:
            async with (
                httpx.AsyncClient(
                    base_url=f"{self.graph_base}/{self.api_version}/",
                    timeout=httpx.Timeout(self.timeout),
                    verify=trust_context(),
                    transport=self._transport,
                ) as http,
                asyncio.timeout(self.timeout),
            ):
                response = await http.get("oauth/access_token", params=params)
        except (TimeoutError, httpx.TimeoutException):
            raise Transient(
                f"{EXCHANGE}: Meta did not answer within {self.timeout:g} s; log in again."
            ) from None
        except httpx.TransportError as exc:
            reason = scrub(type(exc).__name__, secrets)
            raise Transient(f"{EXCHANGE}: could not reach Meta ({reason}).") from None
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, Mapping) and "error" not in body:
            token = body.get("access_token")
            if isinstance(token, str) and token:
                return token
            raise LoginRefused(
                "Meta's answer to the login held no access token; log in again.",
                problem="bad_answer",
            )
        raise exchange_error(response.status_code, body, response.headers, secrets)


def exchange_error(
    status: int, body: object, headers: Mapping[str, str], secrets: tuple[str, ...]
) -> ConnectorError:
    """Meta's refusal of a code exchange, in words for the person who logged in."""
    error = GraphErrorBody.parse(body)
    if error is not None:
        message = scrub(error.message, secrets)
        lowered = message.lower()
        if error.code == 100 and error.subcode == CODE_USED_SUBCODE:
            return LoginRefused(
                "This login was already used (a second click, or the page reloaded).",
                problem="code_used",
            )
        if error.code == 100 and (error.subcode == CODE_EXPIRED_SUBCODE or "expired" in lowered):
            return LoginRefused(
                "The login took too long and Meta let it expire; log in again.",
                problem="code_expired",
            )
        if error.code == 100 and (
            error.subcode == REDIRECT_MISMATCH_SUBCODE or "redirect_uri" in lowered
        ):
            return LoginRefused(
                "Meta refused the login's return address: it must be listed exactly under the "
                "Meta app's Valid OAuth Redirect URIs (Facebook Login > Settings).",
                problem="redirect_mismatch",
            )
        if error.code == 1 and "secret" in lowered:
            return LoginRefused(
                "Meta did not accept the App secret Bastion holds for this app; an owner of the "
                "app must enter it again in the app's settings (App settings > Basic in Meta).",
                problem="app_secret_rejected",
            )
        if error.code == 101:
            return LoginRefused(
                "Meta did not recognise the app's App ID; an owner of the app must check it in "
                "the app's settings.",
                problem="app_rejected",
            )
        if error.code == 100:
            return LoginRefused(
                f"Meta did not accept the login ({message or 'no reason given'}); log in again.",
                problem="code_rejected",
            )
    return error_from_response(
        status=status, body=body, headers=headers, secrets=secrets, what=EXCHANGE
    )


def _read_refused(error: ConnectorError) -> ConnectorError:
    """A failed read with the person's token: the client's words speak of a system-user token,
    which is not what the person holds."""
    if isinstance(error, TokenInvalid):
        return LoginRefused(
            "Meta no longer accepts this login (it was logged out or revoked); log in again.",
            problem="token_rejected",
        )
    if isinstance(error, PermissionMissing):
        return LoginRefused(
            "The login does not allow Bastion to see your business portfolios; log in again "
            "and allow it (the business_management permission).",
            problem="permission_declined",
        )
    if isinstance(error, BadRequest | NotFound):
        return LoginRefused(error.message, problem="bad_answer")
    return error
