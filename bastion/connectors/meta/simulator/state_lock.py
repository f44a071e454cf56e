"""Many readers or one writer of a simulated business, for the coroutines of its server.

Graph reads render in worker threads (``graph_routes``), as Meta serves requests in parallel, so
that a small read is not held up behind a large one; anything that changes the business (a Graph
write, the control API, Facebook Login) takes the lock alone, once the reads under way are done,
and runs in the event loop. Only the rendering holds it, never a fault's sleep, so a hung read
keeps no one waiting. Waiters are served in arrival order: a writer waiting holds back the
readers after it. The lock is taken and released in the event loop's thread only, and it binds
to no loop, so tests may drive one simulator from several ``asyncio.run`` calls.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class StateLock:
    def __init__(self) -> None:
        self._readers = 0
        self._writing = False
        self._waiting: deque[tuple[bool, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        if self._writing or self._waiting:
            await self._wait(writer=False)
        else:
            self._readers += 1
        try:
            yield
        finally:
            self._readers -= 1
            self._wake()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        if self._writing or self._readers or self._waiting:
            await self._wait(writer=True)
        else:
            self._writing = True
        try:
            yield
        finally:
            self._writing = False
            self._wake()

    async def _wait(self, *, writer: bool) -> None:
        entry = (writer, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        try:
            await entry[1]
        except asyncio.CancelledError:
            if entry[1].done() and not entry[1].cancelled():
                # Granted, then cancelled before it could run: hand the grant back.
                if writer:
                    self._writing = False
                else:
                    self._readers -= 1
            elif entry in self._waiting:
                self._waiting.remove(entry)
            self._wake()
            raise

    def _wake(self) -> None:
        while self._waiting:
            writer, future = self._waiting[0]
            if future.done():  # cancelled while waiting
                self._waiting.popleft()
                continue
            if self._writing or (writer and self._readers):
                return
            self._waiting.popleft()
            if writer:
                self._writing = True
                future.set_result(None)
                return
            self._readers += 1
            future.set_result(None)
