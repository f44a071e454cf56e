"""Run a connector's coroutine from synchronous code (actions, jobs, CLI).

Database work is synchronous and only outbound HTTP is async (DESIGN §2). ``run_sync`` drives a
coroutine to the end with ``asyncio.run``; when the calling thread already runs an event loop
(an async test, for example) it uses a short-lived worker thread instead, since one thread
cannot run two loops.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="bastion-run-sync")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
