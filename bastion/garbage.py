"""Fewer garbage collections while a check builds and writes its rows, none while it reads.

A check allocates hundreds of thousands of small objects (Graph pages, records, row tuples) that
live until it ends, and almost none of them form reference cycles. With CPython's default
thresholds the collector runs over that growing heap again and again: about a quarter of a large
check's time. Inside ``fewer_collections`` the youngest generation is collected every 100,000
allocations instead of every 700, and the oldest, where the check's records and rows end up,
not before the check ends (reference counting still frees everything without a cycle at once);
the defaults come back when the last check of the process leaves.

While the import reads (``collector_paused``) the collector is off altogether: the decoded
pages and the records all stay alive until it ends, so its full collections only found nothing
to free while the people's pages waited unread (three of 0.1-0.3 s each on a large business).
Instead the import calls ``collect_young`` in each list page's round trip from the first, which
looks only at what was allocated since the last call: otherwise the first collection after the
pause would walk every record the import built, about 90 ms on a large business, between the
last page and the load (or, were the calls to begin only once the assets are transformed, in
one round trip, holding up its page by as much).
The simulator pauses it the same way while it renders an answer. Every pause of the process is
one pause: the collector comes back, as it was, when the last one ends.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from bastion.concurrency import ProcessSetting

# The oldest generation's threshold counts collections of the middle one: a check makes far
# fewer than that.
CHECK_THRESHOLDS = (100_000, 50, 10_000)


def _check_thresholds() -> Callable[[], None]:
    saved = gc.get_threshold()
    gc.set_threshold(*CHECK_THRESHOLDS)
    return lambda: gc.set_threshold(*saved)


def _collector_off() -> Callable[[], None]:
    was_enabled = gc.isenabled()
    gc.disable()
    return gc.enable if was_enabled else lambda: None


# The collector's thresholds raised inside (``CHECK_THRESHOLDS``).
fewer_collections = ProcessSetting(_check_thresholds)
# CPython's cyclic garbage collector off inside, back on as it was after the last pause.
collector_paused = ProcessSetting(_collector_off)


def collect_young() -> None:
    """Collect the two younger generations only: what was allocated since the last collection,
    moved to the oldest generation if it lives. Runs while the collector is paused too."""
    gc.collect(1)
