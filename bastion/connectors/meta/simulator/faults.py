"""Faults injected for the next N matching Graph requests (including batch sub-requests).

Kinds: ``http_500`` (code 2, transient, HTTP 500), ``hang`` (the request sleeps past any sane
client timeout, then answers normally), ``slow_answer`` (the request is carried out at once, then
its answer is held for ``hang_seconds``: the change is made but the caller does not know yet),
``rate_limit`` (code 613 unless ``code`` gives 4, 17 or
80004), ``restricted`` (368), ``two_factor`` (415), ``batch_null`` (a batch operation answers
``null``; only matches operations inside a batch), ``too_much_data`` (code 1, Meta's "Please
reduce the amount of data you're asking for") and ``error`` (any Graph ``code``). A fault
matches on HTTP method and on a substring of the unversioned path, and is consumed when it fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (
    "http_500",
    "hang",
    "slow_answer",
    "rate_limit",
    "restricted",
    "two_factor",
    "batch_null",
    "too_much_data",
    "error",
)


@dataclass(slots=True)
class Fault:
    kind: str
    remaining: int
    method: str | None = None
    path: str | None = None
    code: int | None = None
    hang_seconds: float = 30.0

    def matches(self, method: str, path: str, in_batch: bool) -> bool:
        if self.kind == "batch_null" and not in_batch:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path in path

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "method": self.method,
            "path": self.path,
            "code": self.code,
            "hang_seconds": self.hang_seconds,
        }


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; choose one of {FAULT_KINDS}")
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        if fault.kind == "error" and fault.code is None:
            raise ValueError("an 'error' fault needs a code")
        self.faults.append(fault)

    def take(self, method: str, path: str, *, in_batch: bool) -> Fault | None:
        """The first matching fault, consumed once; ``None`` when nothing matches."""
        for fault in self.faults:
            if fault.matches(method, path, in_batch):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()
