"""Reads made in steps: a generator that yields between batches of rows and returns its result.

A check reads some of its database while the fetch waits for the app's pages
(``bastion/checks/stored.py``), a step at a time, and the same reads run whole in the load when
that could not be done.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")

# Rows read between two steps: a step then takes a few milliseconds.
ROWS_PER_STEP = 1000


def drained(steps: Generator[None, None, T]) -> T:
    """What a read made in steps returns, all its steps taken at once."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
