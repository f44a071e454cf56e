"""Password hashing with argon2id (argon2-cffi's defaults: m=64 MiB, t=3, p=4)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 12


def use_cheap_hashing_for_tests() -> None:
    """Hash with argon2id's smallest cost (t=1, 8 KiB, p=1) in this process from now on.

    Only the test suite calls this (tests/conftest.py, before anything hashes): at the default
    cost each hash takes a good part of a second on a busy machine, and the tests hash on every
    sign-in. Nothing in Bastion calls it, and there is no setting or variable that does.
    """
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def generate_password() -> str:
    """A one-time password a person can type: 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)
