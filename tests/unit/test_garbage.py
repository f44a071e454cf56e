"""The collector's thresholds while checks run, and after."""

from __future__ import annotations

import gc
import threading

from bastion.garbage import CHECK_THRESHOLDS, collector_paused, fewer_collections


def test_thresholds_are_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == CHECK_THRESHOLDS
    assert gc.get_threshold() == before


def test_overlapping_checks_restore_the_defaults_only_when_the_last_leaves() -> None:
    before = gc.get_threshold()
    first_in, second_out = threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_out.wait(10)
            seen.append(gc.get_threshold())

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with fewer_collections():
        pass
    second_out.set()
    thread.join(10)
    assert seen == [CHECK_THRESHOLDS]
    assert gc.get_threshold() == before


def test_an_exception_inside_still_restores_the_defaults() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise RuntimeError("the check failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before


def test_pauses_nest_and_the_collector_comes_back_as_it_was() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
