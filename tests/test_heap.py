"""A coding process's collector: what is alive when set up stays out of full collections, collections come less
often; and a run that outgrows the young generation many times over still frees its cycles."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipeline.core.heap import THRESHOLDS, settle_heap


@pytest.fixture
def settled():
    before = gc.get_threshold()
    gc.collect()
    try:
        settle_heap()
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_setting_up_freezes_what_is_alive_and_raises_the_thresholds(settled):
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 1_000  # the test process's modules and classes


def test_cycles_made_after_setting_up_are_still_collected(settled):
    node = _Node()
    alive = weakref.ref(node)
    del node
    kept = [[] for _ in range(2 * THRESHOLDS[0])]  # enough live containers for the young generation to be collected
    assert alive() is None
    assert len(kept) == 2 * THRESHOLDS[0]
