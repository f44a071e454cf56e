"""`bastion keys`: the keys that encrypt stored secrets."""

from __future__ import annotations

import typer

from bastion.cli.common import runtime_or_exit

keys_app = typer.Typer(help="Manage the keys that encrypt stored secrets.", no_args_is_help=True)


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every stored secret under the first key of BASTION_SECRET_KEYS."""
    from bastion.actions.actors import Actor
    from bastion.actions.secrets import rotate_secrets
    from bastion.storage.db import transaction

    with runtime_or_exit() as runtime:
        ring = runtime.require_key_ring()
        with transaction(runtime.sessions) as session:
            count = rotate_secrets(session, ring, actor=Actor.cli())
        typer.echo(f"re-encrypted {count} secret(s) under key {ring.current_id}")


@keys_app.command("generate")
def generate_key() -> None:
    """Print a new random key entry to put first in BASTION_SECRET_KEYS."""
    from bastion.security.vault import new_key_entry

    typer.echo(new_key_entry())
