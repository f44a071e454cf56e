"""Cursor paging as Meta does it: ``limit``, ``after``/``before`` cursors, ``next``/``previous``.

Cursors are opaque base64 strings holding the item's position and id. Resuming looks the id up
first (so a cursor survives items being added before it) and falls back to the position when the
item is gone: like Meta, cursors are not guaranteed stable across deletions. ``after`` is present
on every non-empty page, the last one included (Meta does the same); ``next`` only when more
items follow. A ``limit`` above the edge's cap is clamped silently.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bastion.connectors.meta.simulator.errors import bad_parameter
from bastion.connectors.meta.simulator.limits import DEFAULT_PAGE_SIZE

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class PageSlice:
    items: Sequence[Any]
    before: str | None
    after: str | None
    has_next: bool
    has_previous: bool


def encode_cursor(position: int, key: str) -> str:
    return base64.urlsafe_b64encode(f"{position}:{key}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        position, _, key = raw.partition(":")
        return int(position), key
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_parameter("Invalid cursor: the after/before parameter is malformed") from None


def _locate(items: Sequence[Item], key_of: Callable[[Item], str], cursor: str) -> tuple[int, bool]:
    """Index of the cursor's item and whether it is still there."""
    position, key = _decode_cursor(cursor)
    if 0 <= position < len(items) and key_of(items[position]) == key:
        return position, True
    for index, item in enumerate(items):
        if key_of(item) == key:
            return index, True
    return position, False


def parse_limit(raw: object, maximum: int | None) -> int:
    """The page size asked for, or Graph's default of 25 (UNCONFIRMED: Meta documents neither
    its default nor the caps it applies, only that "some edges cap limit" and that a page may
    hold fewer items than asked). A cap applies only when the scenario sets ``max_page_size``."""
    if raw is None or raw == "":
        value = DEFAULT_PAGE_SIZE
    else:
        try:
            value = int(str(raw))
        except ValueError:
            raise bad_parameter(f"Param limit must be an integer, got {raw!r}") from None
    if value < 0:
        raise bad_parameter("Param limit must be a non-negative integer")
    return min(value, maximum) if maximum else value


def paginate(
    items: Sequence[Item],
    key_of: Callable[[Item], str],
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
) -> PageSlice:
    if after:
        index, found = _locate(items, key_of, after)
        start = index + 1 if found else index
        end = start + limit
    elif before:
        end, _ = _locate(items, key_of, before)
        start = max(0, end - limit)
    else:
        start, end = 0, limit
    start = min(max(start, 0), len(items))
    end = min(max(end, start), len(items))
    chosen = items[start:end]
    if not chosen:
        return PageSlice(chosen, None, None, False, start > 0)
    return PageSlice(
        items=chosen,
        before=encode_cursor(start, key_of(chosen[0])),
        after=encode_cursor(end - 1, key_of(chosen[-1])),
        has_next=end < len(items),
        has_previous=start > 0,
    )
