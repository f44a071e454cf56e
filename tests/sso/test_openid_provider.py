"""The test OpenID Provider on its own: a relying party signs in through it as Okta's would.

Bastion's single sign-on tests rely on these facts of tests/oidc/op.mjs, so they are proved here
with a plain Authlib client and joserfc, without any Bastion code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from tests.support.oidc_provider import (
    LoginRefused,
    LoopbackOpenIDProvider,
    StartOpenIDProvider,
    abort_dev_login,
    complete_dev_login,
)

# Never requested: the tests read the OP's redirect to it instead.
REDIRECT_URI = "http://127.0.0.1:9/signin/sso/callback"
ALICE = {
    "sub": "00u1",
    "email": "alice@example.com",
    "email_verified": True,
    "name": "Alice",
    "preferred_username": "alice@example.com",
}
BOB = {
    "sub": "pairwise-x",
    "oid": "7f0c2b1e-0000-4000-8000-000000000001",
    "tid": "72f988bf-0000-4000-8000-000000000002",
    "preferred_username": "bob@example.com",
    "name": "Bob",
}


@pytest.fixture
def provider(start_openid_provider: StartOpenIDProvider) -> LoopbackOpenIDProvider:
    return start_openid_provider(
        redirect_uris=[REDIRECT_URI], accounts={"alice": ALICE, "bob": BOB}
    )


@pytest.fixture
def metadata(provider: LoopbackOpenIDProvider) -> dict[str, Any]:
    response = httpx.get(provider.metadata_url)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def relying_party(provider: LoopbackOpenIDProvider, **pkce: str) -> OAuth2Session:
    return OAuth2Session(
        provider.client_id,
        provider.client_secret,
        scope="openid email profile",
        redirect_uri=REDIRECT_URI,
        **pkce,
    )


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def sign_in(
    provider: LoopbackOpenIDProvider, metadata: dict[str, Any], browser: httpx.Client, login: str
) -> dict[str, Any]:
    """The whole code flow with PKCE, state and nonce; the ID token's validated claims."""
    session = relying_party(provider, code_challenge_method="S256")
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )
    callback = complete_dev_login(browser, url, login)
    assert callback.startswith(REDIRECT_URI + "?")
    assert query(callback)["state"] == state
    assert query(callback)["iss"] == provider.issuer
    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"]).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    options = {
        "iss": {"essential": True, "value": provider.issuer},
        "aud": {"essential": True, "value": provider.client_id},
    }
    claims = CodeIDToken(decoded.claims, decoded.header, options, {"nonce": nonce})
    claims.validate()
    with pytest.raises(InvalidClaimError):
        CodeIDToken(decoded.claims, decoded.header, options, {"nonce": "another"}).validate()
    return dict(claims)


def test_discovery_names_the_issuer_and_only_s256(
    provider: LoopbackOpenIDProvider, metadata: dict[str, Any]
) -> None:
    assert provider.issuer.startswith("http://127.0.0.1:")
    assert metadata["issuer"] == provider.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_alice_signs_in_and_her_id_token_carries_her_email(
    provider: LoopbackOpenIDProvider, metadata: dict[str, Any], browser: httpx.Client
) -> None:
    claims = sign_in(provider, metadata, browser, "alice")

    assert claims["sub"] == "00u1"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["preferred_username"] == "alice@example.com"
    assert claims["name"] == "Alice"


def test_bob_from_entra_has_oid_and_tid_and_no_email(
    provider: LoopbackOpenIDProvider, metadata: dict[str, Any], browser: httpx.Client
) -> None:
    claims = sign_in(provider, metadata, browser, "bob")

    assert claims["sub"] == "pairwise-x"
    assert claims["oid"] == BOB["oid"]
    assert claims["tid"] == BOB["tid"]
    assert claims["preferred_username"] == "bob@example.com"
    assert "email" not in claims


def test_an_unknown_login_is_refused(
    provider: LoopbackOpenIDProvider, metadata: dict[str, Any], browser: httpx.Client
) -> None:
    session = relying_party(provider, code_challenge_method="S256")
    url, _ = session.create_authorization_url(
        metadata["authorization_endpoint"], nonce="n", code_verifier=generate_token(48)
    )

    with pytest.raises(LoginRefused):
        complete_dev_login(browser, url, "mallory")


def test_a_request_without_pkce_is_refused(
    provider: LoopbackOpenIDProvider, metadata: dict[str, Any], browser: httpx.Client
) -> None:
    url, state = relying_party(provider).create_authorization_url(
        metadata["authorization_endpoint"], nonce="n"
    )

    callback = complete_dev_login(browser, url, "alice")

    assert query(callback)["error"] == "invalid_request"
    assert "PKCE" in query(callback)["error_description"]
    assert query(callback)["state"] == state
    assert "code" not in query(callback)


def test_a_code_with_the_wrong_verifier_is_refused(
    provider: LoopbackOpenIDProvider, metadata: dict[str, Any], browser: httpx.Client
) -> None:
    session = relying_party(provider, code_challenge_method="S256")
    url, _ = session.create_authorization_url(
        metadata["authorization_endpoint"], nonce="n", code_verifier=generate_token(48)
    )
    callback = complete_dev_login(browser, url, "alice")

    with pytest.raises(OAuthError) as refused:
        session.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            code_verifier=generate_token(48),
        )
    assert refused.value.error == "invalid_grant"


def test_cancel_on_the_login_page_gives_access_denied(
    provider: LoopbackOpenIDProvider, metadata: dict[str, Any], browser: httpx.Client
) -> None:
    session = relying_party(provider, code_challenge_method="S256")
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], nonce="n", code_verifier=generate_token(48)
    )

    callback = abort_dev_login(browser, url)

    assert callback.startswith(REDIRECT_URI + "?")
    assert query(callback)["error"] == "access_denied"
    assert query(callback)["state"] == state


def test_the_provider_stops_cleanly_and_keeps_its_output_to_itself(
    start_openid_provider: StartOpenIDProvider, capfd: pytest.CaptureFixture[str]
) -> None:
    provider = start_openid_provider(redirect_uris=[REDIRECT_URI], accounts={"alice": ALICE})

    provider.stop()

    assert provider.returncode == 0
    assert f"READY {provider.issuer}" in provider.output
    out, err = capfd.readouterr()
    assert "oidc-provider" not in out + err
