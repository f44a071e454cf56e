"""Reads of the simulated business run beside each other; a change waits for them and runs alone."""

from __future__ import annotations

import asyncio

from bastion.connectors.meta.simulator.state_lock import StateLock


class Journal:
    def __init__(self) -> None:
        self.lock = StateLock()
        self.lines: list[str] = []

    async def read(self, name: str, hold: asyncio.Event | None = None) -> None:
        async with self.lock.reading():
            self.lines.append(f"{name} starts")
            if hold is not None:
                await hold.wait()
            self.lines.append(f"{name} ends")

    async def write(self, name: str) -> None:
        async with self.lock.writing():
            self.lines.append(name)


def test_a_change_waits_for_the_reads_under_way_and_the_reads_after_it_wait_for_the_change() -> (
    None
):
    async def story() -> list[str]:
        journal, release = Journal(), asyncio.Event()
        first = asyncio.create_task(journal.read("first read", release))
        second = asyncio.create_task(journal.read("second read"))
        await asyncio.sleep(0)
        change = asyncio.create_task(journal.write("change"))
        await asyncio.sleep(0)
        third = asyncio.create_task(journal.read("third read"))
        await asyncio.sleep(0)
        assert journal.lines == ["first read starts", "second read starts", "second read ends"]
        release.set()
        await asyncio.gather(first, second, change, third)
        return journal.lines

    assert asyncio.run(story()) == [
        "first read starts",
        "second read starts",
        "second read ends",
        "first read ends",
        "change",
        "third read starts",
        "third read ends",
    ]


def test_a_change_given_up_while_waiting_holds_no_read_back() -> None:
    async def story() -> list[str]:
        journal, release = Journal(), asyncio.Event()
        first = asyncio.create_task(journal.read("first read", release))
        await asyncio.sleep(0)
        change = asyncio.create_task(journal.write("change"))
        await asyncio.sleep(0)
        change.cancel()
        await asyncio.gather(change, return_exceptions=True)
        await journal.read("second read")
        release.set()
        await first
        await journal.write("later change")
        return journal.lines

    assert asyncio.run(story()) == [
        "first read starts",
        "second read starts",
        "second read ends",
        "first read ends",
        "later change",
    ]


def test_one_lock_serves_one_simulator_across_event_loops() -> None:
    journal = Journal()
    asyncio.run(journal.write("in one loop"))
    asyncio.run(journal.read("in another"))
    assert journal.lines == ["in one loop", "in another starts", "in another ends"]
