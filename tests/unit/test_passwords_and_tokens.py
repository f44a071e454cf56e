import subprocess
import sys

from bastion.security.passwords import (
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from bastion.security.tokens import display_prefix, hash_token, new_token


def test_passwords_are_hashed_with_argon2id_and_verified() -> None:
    digest = hash_password("correct horse battery staple")
    assert digest.startswith("$argon2id$")
    assert verify_password(digest, "correct horse battery staple")
    assert not verify_password(digest, "wrong")
    assert not verify_password("not a hash", "wrong")
    assert not needs_rehash(digest)


def test_bastion_hashes_at_argon2_cffis_default_cost_outside_the_tests() -> None:
    # tests/conftest.py makes hashing cheap in the test processes; a process of its own has
    # the production cost, and finds a cheap hash due for a rehash at the next sign-in.
    cheap = hash_password("correct horse battery staple")
    script = (
        "import sys; from bastion.security.passwords import hash_password, needs_rehash, "
        "verify_password; digest = hash_password('x'); "
        "print(digest, needs_rehash(sys.argv[1]), verify_password(sys.argv[1], sys.argv[2]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, cheap, "correct horse battery staple"],
        capture_output=True,
        text=True,
        check=True,
    )
    digest, rehash, verified = run.stdout.split()
    assert digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert (rehash, verified) == ("True", "True")
    assert not cheap.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_generated_passwords_are_long_and_different() -> None:
    first, second = generate_password(), generate_password()
    assert len(first) >= 20
    assert first != second


def test_tokens_carry_32_random_bytes_and_are_stored_as_a_hash() -> None:
    token = new_token("scim")
    assert token.startswith("bst_scim_")
    assert len(token) - len("bst_scim_") >= 43  # 32 bytes in URL-safe base64
    digest = hash_token(token)
    assert token not in digest
    assert len(digest) == 64
    assert hash_token(token) == digest
    assert display_prefix(token) == token[:16]
    assert new_token("scim") != token
