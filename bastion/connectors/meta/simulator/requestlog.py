"""Which Graph requests the simulator served: counts per path and per route, batch included.

Tests and benchmarks use it to count Graph operations (a batch of 50 counts as 50 operations and
one HTTP request), so the log records every operation and keeps only the last few thousand entries
in full to bound memory.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

KEPT_ENTRIES = 5000


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    time: float
    method: str
    path: str
    route: str
    status: int
    in_batch: bool


class RequestLog:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.http_requests = 0
        self.batch_requests = 0
        self.operations = 0
        self.errors = 0
        self.by_path: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()
        self.recent: deque[LoggedRequest] = deque(maxlen=KEPT_ENTRIES)

    def record_http(self, *, is_batch: bool) -> None:
        self.http_requests += 1
        if is_batch:
            self.batch_requests += 1

    def record(self, entry: LoggedRequest) -> None:
        self.operations += 1
        if entry.status >= 400:
            self.errors += 1
        self.by_path[f"{entry.method} {entry.path}"] += 1
        self.by_route[f"{entry.method} {entry.route}"] += 1
        self.recent.append(entry)

    def summary(self) -> dict[str, Any]:
        return {
            "http_requests": self.http_requests,
            "batch_requests": self.batch_requests,
            "operations": self.operations,
            "errors": self.errors,
            "by_path": dict(self.by_path),
            "by_route": dict(self.by_route),
        }

    def entries(self, limit: int = 100) -> list[dict[str, Any]]:
        chosen = list(self.recent)[-limit:] if limit > 0 else []
        return [
            {
                "time": e.time,
                "method": e.method,
                "path": e.path,
                "route": e.route,
                "status": e.status,
                "in_batch": e.in_batch,
            }
            for e in chosen
        ]
