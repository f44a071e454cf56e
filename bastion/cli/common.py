"""What every command shares: reading settings and opening the runtime, failing cleanly."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer

from bastion.errors import BastionError
from bastion.logs import configure_logging
from bastion.runtime import Runtime
from bastion.settings import Settings, load_settings


def queue_operations(runtime: Runtime, operation_ids: Iterable[int | None]) -> None:
    """Hands the queued operations to a worker, as the API and the web do (None: nothing to do)."""
    from bastion.jobs import Jobs

    with Jobs(runtime) as jobs:
        for operation_id in operation_ids:
            if operation_id is not None:
                jobs.enqueue_operation(operation_id)


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def cannot_read(path: Path, exc: OSError) -> NoReturn:
    """Exit 2 saying why a file named on the command line cannot be read (no traceback)."""
    if isinstance(exc, FileNotFoundError):
        reason = "no such file"
    elif isinstance(exc, IsADirectoryError):
        reason = "it is a directory, not a file"
    elif isinstance(exc, PermissionError):
        reason = "permission denied"
    else:
        reason = (exc.strerror or type(exc).__name__).lower()
    fail(f"cannot read {path}: {reason}")


def read_secret_file(path: Path, what: str, *, max_length: int) -> str:
    """The one-line secret a file holds; a trailing newline is normal and dropped.

    A file that is not that (several lines, binary, far too long, empty) exits with status 2
    naming the file and what is wrong, never what the file holds.
    """
    try:
        with path.open("rb") as file:
            data = file.read(max_length + 3)
    except OSError as exc:
        cannot_read(path, exc)
    alone = f"it should hold the {what} alone, on one line"
    if len(data) > max_length + 2:
        fail(f"the {what} file {path} is longer than a {what} can be; {alone}")
    try:
        value = data.decode("utf-8").removeprefix("\ufeff").strip()
    except UnicodeDecodeError:
        fail(f"the {what} file {path} is not text; {alone}")
    if not value:
        fail(f"the {what} file {path} is empty; {alone}")
    if "\n" in value or "\r" in value:
        fail(f"the {what} file {path} holds more than one line; {alone}")
    if not value.isprintable():
        fail(f"the {what} file {path} holds control characters; {alone}")
    return value


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
