"""run_sync hands back the coroutine's result, its error, and never formats the result."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest

from bastion.concurrency import run_sync


class _Unprintable:
    """A stand-in for a large Snapshot that notes each time it is formatted (asyncio would
    swallow an error raised here)."""

    def __init__(self) -> None:
        self.formatted = 0

    def __repr__(self) -> str:
        self.formatted += 1
        return "_Unprintable()"


async def _answer() -> _Unprintable:
    await asyncio.sleep(0)
    return _Unprintable()


async def _fail() -> None:
    raise LookupError("nothing here")


@pytest.fixture
def default_ctrl_c() -> Iterator[None]:
    """Ctrl-C as a plain interpreter has it: asyncio.run installs and restores its own then."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_result_comes_back_without_being_formatted(default_ctrl_c: None) -> None:
    result = run_sync(_answer())
    assert isinstance(result, _Unprintable)
    assert result.formatted == 0


def test_an_error_comes_back_as_it_was() -> None:
    with pytest.raises(LookupError, match="nothing here"):
        run_sync(_fail())


@pytest.mark.anyio
async def test_inside_a_running_loop_the_result_comes_back_from_a_worker_thread() -> None:
    result = run_sync(_answer())
    assert isinstance(result, _Unprintable)
    assert result.formatted == 0
