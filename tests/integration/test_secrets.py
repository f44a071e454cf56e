import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from bastion.actions.actors import Actor
from bastion.actions.secrets import read_secret, rotate_secrets, store_secret
from bastion.audit import verify_chain
from bastion.errors import IntegrityError, NotFound
from bastion.security.vault import KeyRing, new_key_entry
from bastion.storage.models import Secret
from tests.factories import make_workspace

TOKEN = "EAABwzLixnjYBO1234567890abcdef"


def test_a_stored_token_is_encrypted_and_reads_back(
    sessions: sessionmaker[Session], key_ring: KeyRing
) -> None:
    with sessions.begin() as session:
        workspace = make_workspace(session)
        secret = store_secret(
            session, key_ring, workspace_id=workspace.id, purpose="app.token", value=TOKEN
        )
    with sessions() as session:
        row = session.get_one(Secret, secret.id)
        assert TOKEN.encode() not in row.ciphertext
        assert read_secret(session, key_ring, workspace_id=workspace.id, secret_id=secret.id) == (
            TOKEN
        )


def test_a_ciphertext_copied_onto_another_row_does_not_decrypt(
    sessions: sessionmaker[Session], engine: Engine, key_ring: KeyRing
) -> None:
    with sessions.begin() as session:
        workspace = make_workspace(session)
        first = store_secret(
            session, key_ring, workspace_id=workspace.id, purpose="app.token", value=TOKEN
        )
        second = store_secret(
            session, key_ring, workspace_id=workspace.id, purpose="app.token", value="EAAother1"
        )
    with engine.begin() as connection:
        connection.execute(
            update(Secret).where(Secret.id == second.id).values(ciphertext=first.ciphertext)
        )
    with sessions() as session, pytest.raises(IntegrityError):
        read_secret(session, key_ring, workspace_id=workspace.id, secret_id=second.id)


def test_another_workspace_cannot_read_a_secret(
    sessions: sessionmaker[Session], key_ring: KeyRing
) -> None:
    with sessions.begin() as session:
        owner = make_workspace(session, "owner")
        other = make_workspace(session, "other")
        secret = store_secret(
            session, key_ring, workspace_id=owner.id, purpose="app.token", value=TOKEN
        )
    with sessions() as session, pytest.raises(NotFound):
        read_secret(session, key_ring, workspace_id=other.id, secret_id=secret.id)


def test_rotation_re_encrypts_every_secret_under_the_newest_key(
    sessions: sessionmaker[Session],
) -> None:
    old_entry = new_key_entry("old")
    old_ring = KeyRing.parse(old_entry)
    with sessions.begin() as session:
        workspace = make_workspace(session)
        ids = [
            store_secret(
                session, old_ring, workspace_id=workspace.id, purpose="app.token", value=f"EAA{n}x"
            ).id
            for n in range(3)
        ]
    new_ring = KeyRing.parse(f"{new_key_entry('new')},{old_entry}")
    with sessions.begin() as session:
        assert rotate_secrets(session, new_ring, actor=Actor.cli()) == 3
    with sessions.begin() as session:
        assert rotate_secrets(session, new_ring, actor=Actor.cli()) == 0
    only_new = KeyRing.parse(new_entry_of(new_ring))
    with sessions() as session:
        values = [
            read_secret(session, only_new, workspace_id=workspace.id, secret_id=i) for i in ids
        ]
        assert values == ["EAA0x", "EAA1x", "EAA2x"]
        assert verify_chain(session, workspace.id) is None


def new_entry_of(ring: KeyRing) -> str:
    import base64

    return f"{ring.current_id}:{base64.urlsafe_b64encode(ring.key(ring.current_id)).decode()}"
