"""Run a connector's coroutine from synchronous code (actions, jobs, CLI).

Database work is synchronous and only outbound HTTP is async (DESIGN §2). ``run_sync`` drives a
coroutine to the end with ``asyncio.run``; when the calling thread already runs an event loop
(an async test, for example) it uses a short-lived worker thread instead, since one thread
cannot run two loops.

The coroutine's result travels in a box whose repr is short: in the main thread, CPython 3.11's
``asyncio.run`` restores the Ctrl-C handler through ``signal.getsignal``, which formats the
handler (and with it the main task and the task's result) into an error message it then drops,
so a large result such as a whole Snapshot would be turned into text for nothing.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Box(Generic[T]):
    """Holds a result without ever formatting it."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<result>"


async def _boxed(coroutine: Coroutine[Any, Any, T]) -> _Box[T]:
    return _Box(await coroutine)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_boxed(coroutine)).value
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(_boxed(coroutine)).value)
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="bastion-run-sync")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


# While a thread of ours does work that holds the interpreter (building and copying rows), the
# thread serving the event loop waits for it to let go: up to the switch interval each time,
# 5 ms by default, which a fetch pays on every page it takes. Inside ``prompt_switching`` the
# interval is this, and back as it was when the last one ends.
PROMPT_SWITCH_SECONDS = 0.0005

_switch_lock = threading.Lock()
_switching = 0
_saved_switch = 0.0


@contextmanager
def prompt_switching() -> Iterator[None]:
    """The interpreter switches threads every ``PROMPT_SWITCH_SECONDS`` inside."""
    global _switching, _saved_switch
    with _switch_lock:
        if _switching == 0:
            _saved_switch = sys.getswitchinterval()
            sys.setswitchinterval(PROMPT_SWITCH_SECONDS)
        _switching += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switching -= 1
            if _switching == 0:
                sys.setswitchinterval(_saved_switch)
