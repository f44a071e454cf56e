"""The ID token's checks and discovery, without a network: keys made here, the provider's JSON
served by a stand-in for ``oidc._get_json``.

Each refusal is an ``OidcError`` whose ``problem`` the sign-in's audit event records, so the
tests name the problem, not only that something was raised.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from joserfc.jws import JWSRegistry

from bastion.security import oidc
from bastion.security.oidc import OidcError, ProviderMetadata

ISSUER = "https://idp.example.test"
JWKS_URI = f"{ISSUER}/keys"
CLIENT_ID = "bastion-client"
NONCE = "nonce-of-this-sign-in"
NOW = 1_800_000_000


@dataclass
class FakeProvider:
    """Serves the JSON documents a provider would, and remembers what was asked for."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def get_json(self, url: str, what: str) -> dict[str, Any]:
        self.asked.append(url)
        if url not in self.documents:
            raise OidcError("provider_error", f"The identity provider answered 404 for its {what}.")
        return self.documents[url]

    def publish(self, *keys: RSAKey) -> None:
        self.documents[JWKS_URI] = dict(KeySet(list(keys)).as_dict(private=False))


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-2026"})


@pytest.fixture(scope="module")
def impostor_key() -> RSAKey:
    """Not the provider's key, though it claims the provider's key id."""
    return RSAKey.generate_key(2048, parameters={"kid": "key-2026"})


@pytest.fixture(scope="module")
def next_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-2027"})


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, signing_key: RSAKey) -> Iterator[FakeProvider]:
    fake = FakeProvider()
    fake.publish(signing_key)
    oidc.forget_cached()
    monkeypatch.setattr(oidc, "_get_json", fake.get_json)
    yield fake
    oidc.forget_cached()


def metadata(algorithms: tuple[str, ...] = ("RS256",)) -> ProviderMetadata:
    return ProviderMetadata(
        issuer=ISSUER,
        authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token",
        jwks_uri=JWKS_URI,
        auth_methods=("client_secret_basic",),
        algorithms=algorithms,
    )


def claims(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "00u-person-1",
        "aud": CLIENT_ID,
        "iat": NOW - 10,
        "exp": NOW + 300,
        "nonce": NONCE,
        "email": "ada@northwind.test",
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def signed(key: RSAKey, **changes: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims(**changes), key)


def validate(
    token: str,
    *,
    nonce: str = NONCE,
    access_token: str | None = None,
    now: int = NOW,
    algorithms: tuple[str, ...] = ("RS256",),
) -> dict[str, Any]:
    return oidc.validate_id_token(
        metadata(algorithms),
        token,
        client_id=CLIENT_ID,
        nonce=nonce,
        access_token=access_token,
        now=now,
    )


def refused(token: str, **kwargs: Any) -> OidcError:
    with pytest.raises(OidcError) as caught:
        validate(token, **kwargs)
    return caught.value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any]) -> str:
    """A token with alg ``none``: a header, the claims, and an empty signature."""
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims()).encode()), ""))


# --- the signature ---------------------------------------------------------------------------


def test_a_token_signed_by_the_provider_passes_and_gives_its_claims(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    assert validate(signed(signing_key)) == claims()


def test_the_key_set_is_fetched_once_and_kept(provider: FakeProvider, signing_key: RSAKey) -> None:
    validate(signed(signing_key))
    validate(signed(signing_key, sub="00u-person-2"))
    assert provider.asked == [JWKS_URI]


def test_a_signature_by_another_key_with_the_providers_key_id_is_refused(
    provider: FakeProvider, impostor_key: RSAKey
) -> None:
    error = refused(signed(impostor_key))
    assert error.problem == "bad_signature"
    assert "does not verify" in error.message


def test_a_changed_payload_breaks_the_signature(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    header, _payload, signature = signed(signing_key).split(".")
    forged = _b64(json.dumps(claims(sub="00u-admin")).encode())
    assert refused(f"{header}.{forged}.{signature}").problem == "bad_signature"


def test_an_unknown_key_id_fetches_the_keys_again_once_then_is_refused(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    validate(signed(signing_key))  # the set is cached
    stranger = RSAKey.generate_key(2048, parameters={"kid": "nobody-publishes-this"})
    error = refused(signed(stranger))
    assert error.problem == "bad_signature"
    assert "does not publish" in error.message
    assert provider.asked == [JWKS_URI, JWKS_URI]


def test_a_rotated_key_is_found_by_fetching_the_keys_again(
    provider: FakeProvider, signing_key: RSAKey, next_key: RSAKey
) -> None:
    validate(signed(signing_key))  # the old set is cached
    provider.publish(signing_key, next_key)
    assert validate(signed(next_key))["sub"] == "00u-person-1"


def test_unreadable_keys_are_a_provider_error(provider: FakeProvider, signing_key: RSAKey) -> None:
    provider.documents[JWKS_URI] = {"keys": [{"kty": "RSA", "kid": "key-2026", "n": 12}]}
    assert refused(signed(signing_key)).problem == "provider_error"


# --- algorithms ------------------------------------------------------------------------------


def test_hs256_signed_with_a_shared_secret_is_refused(provider: FakeProvider) -> None:
    secret = OctKey.import_key(b"the client secret, long enough to sign HS256")
    token = jwt.encode({"alg": "HS256", "kid": "key-2026"}, claims(), secret)
    assert refused(token).problem == "bad_token"


def test_hs256_is_refused_even_when_the_provider_announces_it(provider: FakeProvider) -> None:
    secret = OctKey.import_key(b"the client secret, long enough to sign HS256")
    token = jwt.encode({"alg": "HS256", "kid": "key-2026"}, claims(), secret)
    assert refused(token, algorithms=("RS256", "HS256")).problem == "bad_token"


@pytest.mark.parametrize("header", [{"alg": "none"}, {"alg": "none", "kid": "key-2026"}])
def test_an_unsigned_token_is_refused(provider: FakeProvider, header: dict[str, Any]) -> None:
    assert refused(unsigned(header)).problem == "bad_token"


def test_an_unsigned_token_is_refused_even_when_the_provider_lists_none(
    provider: FakeProvider,
) -> None:
    # Discovery may list "none" (it is allowed for the code flow); it is never a signature.
    token = unsigned({"alg": "none", "kid": "key-2026"})
    assert refused(token, algorithms=("RS256", "none")).problem == "bad_token"
    assert refused(token, algorithms=("none",)).problem == "bad_token"


def test_an_algorithm_the_provider_did_not_announce_is_refused(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    token = jwt.encode(
        {"alg": "RS512", "kid": signing_key.kid},
        claims(),
        signing_key,
        registry=JWSRegistry(algorithms=["RS512"]),
    )
    assert refused(token).problem == "bad_token"
    assert validate(token, algorithms=("RS256", "RS512"))["sub"] == "00u-person-1"


def test_something_that_is_not_a_token_is_refused(provider: FakeProvider) -> None:
    assert refused("not.a.token").problem == "bad_token"


# --- the claims ------------------------------------------------------------------------------


def test_a_token_for_another_application_is_refused(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    error = refused(signed(signing_key, aud="someone-elses-client"))
    assert error.problem == "wrong_audience"
    assert "another application" in error.message


def test_a_token_from_another_issuer_is_refused(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    error = refused(signed(signing_key, iss="https://evil.example.test"))
    assert error.problem == "wrong_issuer"


@pytest.mark.parametrize("nonce", ["another-sign-in", None], ids=["different", "missing"])
def test_a_token_that_does_not_answer_this_sign_in_is_refused(
    provider: FakeProvider, signing_key: RSAKey, nonce: str | None
) -> None:
    # Authlib raises MissingClaimError("nonce") for a missing one, InvalidClaimError otherwise.
    error = refused(signed(signing_key, nonce=nonce))
    assert error.problem == "nonce_mismatch"
    assert "nonce" in error.message


def test_an_expired_token_is_refused_beyond_the_leeway(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    token = signed(signing_key, iat=NOW - 600, exp=NOW - oidc.LEEWAY_SECONDS - 1)
    error = refused(token)
    assert error.problem == "expired_token"


def test_a_token_just_expired_passes_within_the_leeway(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    token = signed(signing_key, iat=NOW - 600, exp=NOW - oidc.LEEWAY_SECONDS + 5)
    assert validate(token)["sub"] == "00u-person-1"


def test_a_token_issued_in_the_future_is_refused(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    token = signed(signing_key, iat=NOW + 3600, exp=NOW + 7200)
    assert refused(token).problem == "bad_token"


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "aud", "iss"])
def test_a_token_lacking_an_essential_claim_is_refused(
    provider: FakeProvider, signing_key: RSAKey, missing: str
) -> None:
    error = refused(signed(signing_key, **{missing: None}))
    assert error.problem == "bad_token"
    assert missing in error.message


def test_an_authorized_party_naming_another_client_is_refused(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    assert refused(signed(signing_key, azp="someone-elses-client")).problem == "bad_token"
    assert validate(signed(signing_key, azp=CLIENT_ID))["azp"] == CLIENT_ID


def test_several_audiences_need_this_client_as_authorized_party(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    audiences = [CLIENT_ID, "another-client"]
    assert refused(signed(signing_key, aud=audiences)).problem == "bad_token"
    assert validate(signed(signing_key, aud=audiences, azp=CLIENT_ID))["aud"] == audiences


def test_an_access_token_hash_that_does_not_match_is_refused(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    access_token = "the-access-token-the-provider-sent"
    # at_hash is the left half of SHA-256 of the access token, base64url (OIDC Core 3.1.3.6).
    from authlib.oidc.core.util import create_half_hash

    good = create_half_hash(access_token, "RS256").decode()
    token = signed(signing_key, at_hash=good)
    assert validate(token, access_token=access_token)["at_hash"] == good
    error = refused(token, access_token="another-access-token")
    assert error.problem == "bad_token"
    assert "at_hash" in error.message


# --- the issuer URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "issuer",
    [
        "https://northwind.okta.com",
        "https://login.microsoftonline.com/9f0c1d2e-0000-4000-8000-000000000001/v2.0",
        "http://127.0.0.1:8080",
        "http://localhost:9000/realms/northwind",
        "http://[::1]:8443",
        "  https://northwind.okta.com/oauth2/default  ",
    ],
)
def test_https_and_loopback_http_issuers_are_accepted(issuer: str) -> None:
    assert oidc.check_issuer_url(issuer) == issuer.strip()


@pytest.mark.parametrize(
    ("issuer", "words"),
    [
        ("http://sso.example.test", "https"),
        ("http://10.0.0.5", "https"),
        ("http://127.0.0.1.example.test", "https"),
        ("https://northwind.okta.com?tenant=1", "query"),
        ("https://northwind.okta.com#top", "fragment"),
        ("ftp://northwind.okta.com", "URL"),
        ("northwind.okta.com", "URL"),
        ("https://", "URL"),
    ],
)
def test_other_issuers_are_refused_with_a_reason(issuer: str, words: str) -> None:
    with pytest.raises(OidcError) as caught:
        oidc.check_issuer_url(issuer)
    assert caught.value.problem == "bad_issuer"
    assert words in caught.value.message


# --- discovery -------------------------------------------------------------------------------

DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"


def discovery_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": JWKS_URI,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


def test_discovery_reads_the_providers_endpoints(provider: FakeProvider) -> None:
    provider.documents[DISCOVERY_URL] = discovery_document()
    found = oidc.discover(ISSUER)
    assert found.token_endpoint == f"{ISSUER}/token"
    assert found.jwks_uri == JWKS_URI
    assert found.algorithms == ("RS256", "ES256")
    assert found.token_auth_method == "client_secret_post"
    oidc.discover(ISSUER)
    assert provider.asked == [DISCOVERY_URL]  # kept, not asked again


def test_discovery_defaults_to_rs256_and_basic_authentication(provider: FakeProvider) -> None:
    provider.documents[DISCOVERY_URL] = discovery_document(
        id_token_signing_alg_values_supported=None, token_endpoint_auth_methods_supported=None
    )
    found = oidc.discover(ISSUER)
    assert found.algorithms == ("RS256",)
    assert found.token_auth_method == "client_secret_basic"


@pytest.mark.parametrize(
    "stated", [f"{ISSUER}/", "https://other.example.test", None], ids=["slash", "other", "none"]
)
def test_a_document_stating_another_issuer_is_refused(
    provider: FakeProvider, stated: str | None
) -> None:
    provider.documents[DISCOVERY_URL] = discovery_document(issuer=stated)
    with pytest.raises(OidcError) as caught:
        oidc.discover(ISSUER)
    assert caught.value.problem == "issuer_mismatch"
    assert "exactly as its discovery document states it" in caught.value.message


def test_a_document_without_its_endpoints_is_a_provider_error(provider: FakeProvider) -> None:
    provider.documents[DISCOVERY_URL] = discovery_document(token_endpoint=None, jwks_uri=None)
    with pytest.raises(OidcError) as caught:
        oidc.discover(ISSUER)
    assert caught.value.problem == "provider_error"
    assert "token_endpoint" in caught.value.message and "jwks_uri" in caught.value.message


def test_a_provider_without_pkce_s256_is_unsupported(provider: FakeProvider) -> None:
    provider.documents[DISCOVERY_URL] = discovery_document(
        code_challenge_methods_supported=["plain"]
    )
    with pytest.raises(OidcError) as caught:
        oidc.discover(ISSUER)
    assert caught.value.problem == "unsupported_provider"


def test_a_provider_taking_neither_basic_nor_post_is_unsupported(provider: FakeProvider) -> None:
    provider.documents[DISCOVERY_URL] = discovery_document(
        token_endpoint_auth_methods_supported=["private_key_jwt"]
    )
    with pytest.raises(OidcError) as caught:
        _ = oidc.discover(ISSUER).token_auth_method
    assert caught.value.problem == "unsupported_provider"


def test_discovery_of_an_insecure_issuer_asks_nothing(provider: FakeProvider) -> None:
    with pytest.raises(OidcError) as caught:
        oidc.discover("http://sso.example.test")
    assert caught.value.problem == "bad_issuer"
    assert provider.asked == []


def test_a_missing_document_is_a_provider_error(provider: FakeProvider) -> None:
    with pytest.raises(OidcError) as caught:
        oidc.discover(ISSUER)
    assert caught.value.problem == "provider_error"


def test_time_is_taken_from_the_clock_without_now(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    now = int(time.time())
    token = signed(signing_key, iat=now - 5, exp=now + 300)
    assert (
        oidc.validate_id_token(
            metadata(), token, client_id=CLIENT_ID, nonce=NONCE, access_token=None
        )["exp"]
        == now + 300
    )
