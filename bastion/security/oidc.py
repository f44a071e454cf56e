"""OpenID Connect as a relying party: discovery, the authorization request, the code exchange,
and the ID token's signature and claims — with Authlib (and joserfc, which it builds on).

The flow is the authorization code flow with PKCE (S256), ``state`` and ``nonce``. Who the
claims name, and whether they may sign in, is decided in ``bastion.actions.sso``; this module
only says whether the provider's answer is genuine, and raises ``OidcError`` with a short
``problem`` code and a sentence for a person when it is not.

A provider must be served over https, except on a loopback address (tests, a local provider).
Discovery documents and key sets are kept for ``CACHE_SECONDS``; a token signed with a key id
the cached set lacks fetches the set again once (key rotation).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

TIMEOUT_SECONDS = 10.0
CACHE_SECONDS = 600.0
FAILURE_CACHE_SECONDS = 30.0
LEEWAY_SECONDS = 60
SCOPE = "openid email profile"


class OidcError(Exception):
    """The provider's answer cannot be trusted or used; ``problem`` names why."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    auth_methods: tuple[str, ...]
    algorithms: tuple[str, ...]

    @property
    def token_auth_method(self) -> str:
        """client_secret_basic unless the provider takes only client_secret_post."""
        if "client_secret_basic" in self.auth_methods or not self.auth_methods:
            return "client_secret_basic"
        if "client_secret_post" in self.auth_methods:
            return "client_secret_post"
        raise OidcError(
            "unsupported_provider",
            "The identity provider accepts neither client_secret_basic nor client_secret_post.",
        )


def check_issuer_url(issuer: str) -> str:
    """An issuer URL Bastion will talk to: https, or http on a loopback address."""
    issuer = issuer.strip()
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OidcError("bad_issuer", "The issuer must be a URL such as https://example.okta.com.")
    if parts.query or parts.fragment:
        raise OidcError("bad_issuer", "The issuer URL must not carry a query or a fragment.")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise OidcError(
            "bad_issuer", "The issuer must use https (http only on a loopback address)."
        )
    return issuer


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        with self._lock:
            found = self._items.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: str, value: Any, *, seconds: float = CACHE_SECONDS) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_metadata_cache = _Cache()
_keys_cache = _Cache()


def forget_cached() -> None:
    """Drop what was learnt about providers (after a configuration change)."""
    _metadata_cache.clear()
    _keys_cache.clear()


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        raise OidcError(
            "unreachable", f"Bastion could not reach the identity provider ({type(exc).__name__})."
        ) from None
    if response.status_code != 200:
        raise OidcError(
            "provider_error",
            f"The identity provider answered {response.status_code} for its {what}.",
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise OidcError("provider_error", f"The identity provider's {what} is not a JSON object.")
    return data


def discover(issuer: str, *, cached: bool = True) -> ProviderMetadata:
    """The provider's discovery document, checked: its issuer is exactly the one configured."""
    issuer = check_issuer_url(issuer)
    if cached and (found := _metadata_cache.get(issuer)) is not None:
        if isinstance(found, OidcError):
            raise found
        assert isinstance(found, ProviderMetadata)
        return found
    try:
        metadata = _discover(issuer)
    except OidcError as exc:
        # A provider that is down is asked again after a pause, not by every sign-in attempt.
        if exc.problem in ("unreachable", "provider_error"):
            _metadata_cache.put(issuer, exc, seconds=FAILURE_CACHE_SECONDS)
        raise
    _metadata_cache.put(issuer, metadata)
    return metadata


def _discover(issuer: str) -> ProviderMetadata:
    document = _get_json(
        issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery document"
    )
    if document.get("issuer") != issuer:
        raise OidcError(
            "issuer_mismatch",
            f"The identity provider says its issuer is {document.get('issuer')!r}, not "
            f"{issuer!r}. Use the issuer exactly as its discovery document states it.",
        )
    missing = [
        name
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(document.get(name), str)
    ]
    if missing:
        raise OidcError("provider_error", f"The discovery document lacks {', '.join(missing)}.")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        # The client secret goes to the token endpoint: never in the clear, never elsewhere.
        try:
            check_issuer_url(document[name])
        except OidcError:
            raise OidcError(
                "provider_error", f"The discovery document's {name} must use https."
            ) from None
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise OidcError("unsupported_provider", "The identity provider does not offer PKCE S256.")
    metadata = ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        auth_methods=tuple(document.get("token_endpoint_auth_methods_supported") or ()),
        algorithms=tuple(document.get("id_token_signing_alg_values_supported") or ("RS256",)),
    )
    return metadata


def _session(
    metadata: ProviderMetadata, client_id: str, client_secret: str | None, redirect_uri: str
) -> OAuth2Session:
    return OAuth2Session(
        client_id=client_id,
        client_secret=client_secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=metadata.token_auth_method,
    )


def authorization_url(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_verifier: str,
    reauthenticate: bool = False,
) -> str:
    """Where to send the browser: the provider's sign-in page with this attempt's values.

    ``reauthenticate`` asks the provider to have the person sign in again now (``prompt=login``,
    ``max_age=0``), not to let a live session of its own answer for them.
    """
    extra = {"prompt": "login", "max_age": "0"} if reauthenticate else {}
    with _session(metadata, client_id, None, redirect_uri) as client:
        url, _state = client.create_authorization_url(
            metadata.authorization_endpoint,
            state=state,
            nonce=nonce,
            code_verifier=code_verifier,
            **extra,
        )
    return str(url)


def authenticated_since(claims: dict[str, Any], since: datetime) -> bool:
    """Whether the ID token says the person signed in at the provider at or after ``since``."""
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
        return False
    return auth_time >= since.timestamp() - LEEWAY_SECONDS


def exchange_code(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    code_verifier: str,
    nonce: str,
) -> dict[str, Any]:
    """Trade the code for tokens and return the ID token's validated claims."""
    with _session(metadata, client_id, client_secret, redirect_uri) as client:
        try:
            token = client.fetch_token(
                metadata.token_endpoint,
                code=code,
                code_verifier=code_verifier,
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise OidcError(
                "unreachable",
                f"Bastion could not reach the identity provider ({type(exc).__name__}).",
            ) from None
        except (OAuthError, OAuth2Error) as exc:
            raise OidcError(
                "code_refused",
                f"The identity provider refused to finish the sign-in ({exc.error}).",
            ) from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("no_id_token", "The identity provider sent no ID token.")
    access_token = token.get("access_token")
    return validate_id_token(
        metadata,
        id_token,
        client_id=client_id,
        nonce=nonce,
        access_token=access_token if isinstance(access_token, str) else None,
    )


def _key_set(metadata: ProviderMetadata, *, fresh: bool) -> KeySet:
    found = None if fresh else _keys_cache.get(metadata.jwks_uri)
    if found is None:
        document = _get_json(metadata.jwks_uri, "signing keys")
        try:
            found = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise OidcError(
                "provider_error", "The identity provider's keys cannot be read."
            ) from None
        _keys_cache.put(metadata.jwks_uri, found)
    assert isinstance(found, KeySet)
    return found


def validate_id_token(
    metadata: ProviderMetadata,
    id_token: str,
    *,
    client_id: str,
    nonce: str,
    access_token: str | None,
    now: int | None = None,
) -> dict[str, Any]:
    """The ID token's signature (a key of the provider, an algorithm it announced) and its
    claims: issuer, audience, expiry, issue time, nonce, ``azp`` and ``at_hash`` when present."""
    # Discovery may list "none" (allowed for the code flow), but it is no signature; an empty
    # list would make joserfc fall back to its recommended algorithms.
    signed = [name for name in metadata.algorithms if name != "none"] or ["RS256"]
    registry = JWSRegistry(algorithms=signed, strict_check_header=False)
    try:
        try:
            decoded = jwt.decode(id_token, _key_set(metadata, fresh=False), registry=registry)
        except InvalidKeyIdError:
            decoded = jwt.decode(id_token, _key_set(metadata, fresh=True), registry=registry)
    except InvalidKeyIdError:
        raise OidcError(
            "bad_signature", "The ID token is signed with a key the provider does not publish."
        ) from None
    except BadSignatureError:
        raise OidcError("bad_signature", "The ID token's signature does not verify.") from None
    except (JoseError, ValueError):
        raise OidcError(
            "bad_token", "The ID token cannot be read or is not signed as announced."
        ) from None
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "values": [metadata.issuer]},
            "aud": {"essential": True, "values": [client_id]},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=now, leeway=LEEWAY_SECONDS)
    except ExpiredTokenError:
        raise OidcError("expired_token", "The ID token has expired.") from None
    except MissingClaimError as exc:
        if exc.claim == "nonce":
            raise OidcError(
                "nonce_mismatch", "The ID token does not answer this sign-in (no nonce)."
            ) from None
        raise OidcError("bad_token", f"The ID token lacks its {exc.claim} claim.") from None
    except InvalidClaimError as exc:
        problem = {
            "aud": "wrong_audience",
            "iss": "wrong_issuer",
            "nonce": "nonce_mismatch",
        }.get(exc.claim, "bad_token")
        words = {
            "wrong_audience": "The ID token was issued for another application (audience).",
            "wrong_issuer": "The ID token comes from another issuer.",
            "nonce_mismatch": "The ID token does not answer this sign-in (nonce).",
        }
        raise OidcError(
            problem, words.get(problem, f"The ID token's {exc.claim} claim is not valid.")
        ) from None
    except (InvalidTokenError, JoseError):
        raise OidcError("bad_token", "The ID token is not valid yet or no longer.") from None
    return dict(claims)
