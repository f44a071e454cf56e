"""Secrets at rest: AES-256-GCM under a key ring.

The ring maps key ids to 32-byte keys (``BASTION_SECRET_KEYS="k2:<base64>,k1:<base64>"``); the
first key encrypts, every key decrypts. Each ciphertext is stored with its key id, and the
associated data names the Secret row and what it is for, so a ciphertext copied onto another row
fails to decrypt instead of handing out the wrong token.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bastion.errors import ConfigurationError, IntegrityError

NONCE_BYTES = 12
KEY_BYTES = 32


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError("BASTION_SECRET_KEYS: no key given")

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={[kid for kid, _ in self.keys]})"

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes:
        for kid, key in self.keys:
            if kid == key_id:
                return key
        raise IntegrityError(f"secret was encrypted with key {key_id!r}, which is not configured")

    @classmethod
    def parse(cls, text: str, *, variable: str = "BASTION_SECRET_KEYS") -> KeyRing:
        entries: list[tuple[str, bytes]] = []
        for number, part in enumerate(p.strip() for p in text.replace("\n", ",").split(",")):
            if not part:
                continue
            kid, sep, encoded = part.partition(":")
            if not sep or not kid.strip():
                raise ConfigurationError(f"{variable}: entry {number + 1} must be 'key_id:base64'")
            try:
                padded = encoded.strip() + "=" * (-len(encoded.strip()) % 4)
                key = base64.b64decode(padded, altchars=b"-_", validate=True)
            except (binascii.Error, ValueError):
                raise ConfigurationError(
                    f"{variable}: key {kid.strip()!r} is not valid base64"
                ) from None
            if len(key) != KEY_BYTES:
                raise ConfigurationError(
                    f"{variable}: key {kid.strip()!r} must be {KEY_BYTES} bytes, not {len(key)}"
                )
            if any(existing == kid.strip() for existing, _ in entries):
                raise ConfigurationError(f"{variable}: key id {kid.strip()!r} appears twice")
            entries.append((kid.strip(), key))
        return cls(tuple(entries))


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh ``key_id:base64`` entry for BASTION_SECRET_KEYS."""
    kid = key_id or f"k{secrets.token_hex(4)}"
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()}"


def write_generated_keys(path: Path) -> str:
    """Create a key file readable by its owner only (mode 0600) and return its contents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = new_key_entry()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(entry + "\n")
    return entry


def associated_data(secret_id: str, workspace_id: int, purpose: str) -> bytes:
    return f"bastion-secret:{workspace_id}:{secret_id}:{purpose}".encode()


def encrypt(ring: KeyRing, plaintext: str, aad: bytes) -> tuple[str, bytes]:
    """Return (key id, nonce + ciphertext)."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.key(ring.current_id)).encrypt(nonce, plaintext.encode(), aad)
    return ring.current_id, nonce + sealed


def decrypt(ring: KeyRing, key_id: str, blob: bytes, aad: bytes) -> str:
    try:
        opened = AESGCM(ring.key(key_id)).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise IntegrityError(
            "a stored secret does not decrypt: it was altered, or belongs to another row"
        ) from None
    return opened.decode()
