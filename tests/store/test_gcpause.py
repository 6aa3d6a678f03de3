"""``gc_paused``: nests, restores the collector's state, and collects only when asked."""

from __future__ import annotations

import gc
import threading

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.model import validate_system
from haven.store.gcpause import gc_paused


def test_nests_and_restores_the_collector():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer job is still running
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a collector that was off stays off
    finally:
        gc.enable()


def test_collects_at_the_end_only_when_asked():
    before = gc.get_stats()[2]["collections"]
    with gc_paused(collect=False):
        pass
    assert gc.get_stats()[2]["collections"] == before
    with gc_paused():
        pass
    assert gc.get_stats()[2]["collections"] == before + 1


def test_concurrent_pauses_end_with_the_collector_on():
    inside = threading.Barrier(3)
    leave = threading.Event()

    def job() -> None:
        with gc_paused(collect=False):
            inside.wait()
            leave.wait()

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert not gc.isenabled()
    leave.set()
    for t in threads:
        t.join()
    assert gc.isenabled()


def test_a_sphere_leaves_the_collector_on(store):
    for i in range(50):
        store.create(GALAXY, validate_system({"name": f"S{i}", "x": i, "y": 0, "z": 0}))
    assert len(store.near(GALAXY, 0.0, 0.0, 0.0, 100.0, limit=5000)) == 50
    assert gc.isenabled()
