"""Run a check's fetch in its own thread and hand its parts to the loading thread as they come.

The fetch is async (outbound HTTP) and the load is synchronous database work (DESIGN §2): the
fetch runs on an event loop of its own in a worker thread, and what it hands on (see
``Connector.fetch_snapshot``'s ``on_part``) is queued for the thread that loads, which takes it
in the check's one transaction while the people still page. The fetch's result, or its error,
comes after the last part.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

from bastion.concurrency import run_sync
from bastion.connectors.base import Snapshot

T = TypeVar("T")
PartSink = Callable[[Snapshot], None]


class FetchStream(Generic[T]):
    """``with FetchStream(fetch) as stream: for part in stream.parts(): ...; stream.result()``."""

    def __init__(self, fetch: Callable[[PartSink], Coroutine[Any, Any, T]]) -> None:
        self._fetch = fetch
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._end: tuple[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, name="bastion-check-fetch", daemon=True)

    def _run(self) -> None:
        try:
            self._queue.put(("result", run_sync(self._fetch(self._part))))
        except BaseException as exc:
            self._queue.put(("error", exc))

    def _part(self, part: Snapshot) -> None:
        self._queue.put(("part", part))

    def __enter__(self) -> FetchStream[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A load that failed early still lets the fetch end by itself (its reads are bounded
        # by the client's timeouts); nothing it hands on after that is used.
        self._thread.join()

    def parts(self) -> Iterator[Snapshot]:
        """Each part as it arrives, until the fetch has ended."""
        while self._end is None:
            kind, value = self._queue.get()
            if kind == "part":
                yield value
            else:
                self._end = (kind, value)

    def result(self) -> T:
        """The fetch's result, or its error raised here; only once ``parts`` is exhausted."""
        for _part in self.parts():
            pass
        assert self._end is not None
        kind, value = self._end
        if kind == "error":
            raise value
        result: T = value
        return result
