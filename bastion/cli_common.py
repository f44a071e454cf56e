"""What every command shares: reading settings and opening the runtime, failing cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from bastion.errors import BastionError
from bastion.logs import configure_logging
from bastion.runtime import Runtime
from bastion.settings import Settings, load_settings


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except BastionError as exc:
        fail(exc.message)
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def runtime_or_exit(settings: Settings | None = None) -> Iterator[Runtime]:
    try:
        runtime = Runtime.from_settings(settings or settings_or_exit())
    except BastionError as exc:
        fail(exc.message)
    try:
        yield runtime
    except BastionError as exc:
        fail(exc.message)
    finally:
        runtime.close()
