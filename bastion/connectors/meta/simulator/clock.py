"""The simulator clock: real time plus an offset that tests and the control API can advance.

It starts at real time, or at the scenario's ``clock_start`` when one is set, then runs with
real time; ``advance`` jumps ahead (invitations expire, restricted windows end, rate windows roll).
"""

from __future__ import annotations

import time


class SimClock:
    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0 if start is None else start - time.time()

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        return self.now()
