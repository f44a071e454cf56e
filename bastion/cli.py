"""The ``bastion`` command line. Each command calls actions; none writes storage itself."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Bastion: who can reach your business apps, and who vouches for them.",
    no_args_is_help=True,
    add_completion=False,
)


def main() -> None:
    app()
