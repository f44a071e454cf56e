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
from collections.abc import Callable, Coroutine, Iterator
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


class ProcessSetting:
    """A process-wide setting changed while any caller is inside (``with setting():``) and back
    as it was when the last one leaves; callers may overlap, from any thread. ``change`` makes
    the change and returns what undoes it."""

    def __init__(self, change: Callable[[], Callable[[], None]]) -> None:
        self._change = change
        self._lock = threading.Lock()
        self._inside = 0
        self._undo: Callable[[], None] | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                self._undo = self._change()
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._undo is not None:
                    self._undo()
                    self._undo = None


# While a thread of ours does work that holds the interpreter (building and copying rows), the
# thread serving the event loop waits for it to let go: up to the switch interval each time,
# 5 ms by default, which a fetch pays on every page it takes. Inside ``prompt_switching`` the
# interval is this.
PROMPT_SWITCH_SECONDS = 0.0005


def _switch_promptly() -> Callable[[], None]:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(PROMPT_SWITCH_SECONDS)
    return lambda: sys.setswitchinterval(saved)


# The interpreter switches threads every ``PROMPT_SWITCH_SECONDS`` inside.
prompt_switching = ProcessSetting(_switch_promptly)
