"""Storing, reading and re-encrypting secrets (see bastion/security/vault.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.actions.actors import Actor
from bastion.audit import AuditAction, record
from bastion.security.vault import KeyRing, associated_data, decrypt, encrypt
from bastion.storage.models import Secret, Workspace, utcnow
from bastion.storage.tenancy import Tenant


def store_secret(
    session: Session, ring: KeyRing, *, workspace_id: int, purpose: str, value: str
) -> Secret:
    secret_id = str(uuid.uuid4())
    key_id, blob = encrypt(ring, value, associated_data(secret_id, workspace_id, purpose))
    secret = Secret(
        id=secret_id, workspace_id=workspace_id, purpose=purpose, key_id=key_id, ciphertext=blob
    )
    session.add(secret)
    session.flush()
    return secret


def read_secret(session: Session, ring: KeyRing, *, workspace_id: int, secret_id: str) -> str:
    secret = Tenant(session, workspace_id).get(Secret, secret_id)
    return decrypt(
        ring,
        secret.key_id,
        secret.ciphertext,
        associated_data(secret.id, secret.workspace_id, secret.purpose),
    )


def rotate_secrets(session: Session, ring: KeyRing, *, actor: Actor) -> int:
    """Re-encrypt every secret not yet under the ring's current key; return how many."""
    rotated: dict[int, int] = {}
    stale = session.scalars(select(Secret).where(Secret.key_id != ring.current_id)).all()
    for secret in stale:
        aad = associated_data(secret.id, secret.workspace_id, secret.purpose)
        plaintext = decrypt(ring, secret.key_id, secret.ciphertext, aad)
        secret.key_id, secret.ciphertext = encrypt(ring, plaintext, aad)
        secret.rotated_at = utcnow()
        rotated[secret.workspace_id] = rotated.get(secret.workspace_id, 0) + 1
    for workspace_id in session.scalars(select(Workspace.id)):
        if rotated.get(workspace_id):
            record(
                session,
                workspace_id=workspace_id,
                actor=actor.label,
                action=AuditAction.SECRETS_ROTATED,
                details={"count": rotated[workspace_id], "key_id": ring.current_id},
                request_id=actor.request_id,
            )
    session.flush()
    return sum(rotated.values())
