import base64
import os
import stat
from pathlib import Path

import pytest

from bastion.errors import ConfigurationError, IntegrityError
from bastion.security.vault import (
    KeyRing,
    associated_data,
    decrypt,
    encrypt,
    new_key_entry,
    write_generated_keys,
)


def test_a_secret_round_trips_under_its_own_associated_data(key_ring: KeyRing) -> None:
    aad = associated_data("s-1", 1, "app.token")
    key_id, blob = encrypt(key_ring, "EAAtoken", aad)
    assert key_id == "k1"
    assert b"EAAtoken" not in blob
    assert decrypt(key_ring, key_id, blob, aad) == "EAAtoken"


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(key_ring: KeyRing) -> None:
    key_id, blob = encrypt(key_ring, "EAAtoken", associated_data("s-1", 1, "app.token"))
    with pytest.raises(IntegrityError, match="another row"):
        decrypt(key_ring, key_id, blob, associated_data("s-2", 1, "app.token"))
    with pytest.raises(IntegrityError):
        decrypt(key_ring, key_id, blob, associated_data("s-1", 2, "app.token"))


def test_a_tampered_ciphertext_does_not_decrypt(key_ring: KeyRing) -> None:
    aad = associated_data("s-1", 1, "app.token")
    key_id, blob = encrypt(key_ring, "EAAtoken", aad)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(IntegrityError):
        decrypt(key_ring, key_id, tampered, aad)


def test_the_first_key_encrypts_and_older_keys_still_decrypt() -> None:
    old_entry, new_entry = new_key_entry("old"), new_key_entry("new")
    aad = associated_data("s-1", 1, "app.token")
    _, blob = encrypt(KeyRing.parse(old_entry), "EAAtoken", aad)
    both = KeyRing.parse(f"{new_entry},{old_entry}")
    assert both.current_id == "new"
    assert decrypt(both, "old", blob, aad) == "EAAtoken"
    with pytest.raises(IntegrityError, match="not configured"):
        decrypt(KeyRing.parse(new_entry), "old", blob, aad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key"),
        ("nokeyid", "key_id:base64"),
        ("k1:!!!", "not valid base64"),
        ("k1:" + base64.urlsafe_b64encode(b"short").decode(), "must be 32 bytes"),
        # Fixed keys, not new ones: a test's id must be the same in every xdist worker.
        (f"k1:{'a' * 43}=,k1:{'b' * 43}=", "appears twice"),
    ],
)
def test_a_malformed_key_ring_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KeyRing.parse(text)


def test_the_key_ring_never_shows_its_keys(key_ring: KeyRing) -> None:
    assert base64.urlsafe_b64encode(key_ring.key("k1")).decode() not in repr(key_ring)
    assert key_ring.key("k1").hex() not in repr(key_ring)


def test_a_generated_key_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.keys"
    entry = write_generated_keys(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert KeyRing.parse(path.read_text()).current_id == entry.split(":")[0]
    with pytest.raises(FileExistsError):
        write_generated_keys(path)
