"""run_sync hands back the coroutine's result, its error, and never formats the result;
prompt_switching shortens the interpreter's switch interval while any caller is inside."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Iterator

import pytest

from bastion.concurrency import PROMPT_SWITCH_SECONDS, prompt_switching, run_sync


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


def test_the_interval_is_short_inside_and_back_after_the_last_one() -> None:
    before = sys.getswitchinterval()
    assert before != PROMPT_SWITCH_SECONDS
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with prompt_switching():
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with prompt_switching():
        thread.start()
        assert entered.wait(10)
        assert sys.getswitchinterval() == PROMPT_SWITCH_SECONDS
    # The other is still inside: the interval stays short until it leaves.
    assert sys.getswitchinterval() == PROMPT_SWITCH_SECONDS
    leave.set()
    thread.join(10)
    assert sys.getswitchinterval() == before
