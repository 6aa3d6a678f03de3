"""Connections follow threads, not outlive them: a server's worker threads come and go, its connections do not pile up."""

from __future__ import annotations

import threading

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.model import validate_system
from haven.store import SQLiteStore
from haven.store.sqlite import sqlite_memory_limit


def read_in_a_thread(store: SQLiteStore, out: list[object] | None = None) -> None:
    def read() -> None:
        page = store.page(GALAXY, limit=10)
        if out is not None:
            out.append((store.conn, [s["name"] for s in page.items]))

    t = threading.Thread(target=read)
    t.start()
    t.join()


def test_a_thread_that_ended_leaves_its_connection_to_the_next(store: SQLiteStore) -> None:
    before = store.connection_count()
    for _ in range(50):  # what anyio's worker pool does over a day: threads end after idling, new ones start
        read_in_a_thread(store)
    assert store.connection_count() <= before + 1


def test_threads_alive_at_once_each_have_their_own(store: SQLiteStore) -> None:
    barrier = threading.Barrier(4)
    seen: list[object] = []
    lock = threading.Lock()

    def read() -> None:
        store.page(GALAXY, limit=1)
        with lock:
            seen.append(store.conn)
        barrier.wait()  # nobody ends before all four hold a connection

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 4
    assert store.conn not in seen  # this thread's is its own as well


def test_a_connection_taken_over_reads_what_was_written_since(store: SQLiteStore) -> None:
    first: list[object] = []
    read_in_a_thread(store, first)
    store.create(GALAXY, validate_system({"name": "Written Later", "x": 1, "y": 2, "z": 3}))
    second: list[object] = []
    read_in_a_thread(store, second)
    assert second[0][0] is first[0][0]  # the same connection, now another thread's
    assert second[0][1] == ["Written Later"]


def soft_heap_limit(store: SQLiteStore) -> int:
    return store.conn.execute("PRAGMA soft_heap_limit").fetchone()[0]


def test_the_memory_budget_is_one_number_for_the_process(store: SQLiteStore) -> None:
    assert soft_heap_limit(store) == 0
    with sqlite_memory_limit(32 << 20):
        assert soft_heap_limit(store) == 32 << 20
        other: list[int] = []
        t = threading.Thread(target=lambda: other.append(soft_heap_limit(store)))
        t.start()
        t.join()
        assert other == [32 << 20]  # every connection sees the same limit
    assert soft_heap_limit(store) == 0  # put back on leaving


def test_holders_of_the_budget_may_leave_in_any_order(store: SQLiteStore) -> None:
    """Two servers in one process (tests do this): the first to stop must not lift the other's limit."""
    first, second = sqlite_memory_limit(32 << 20), sqlite_memory_limit(16 << 20)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert soft_heap_limit(store) == 16 << 20
    second.__exit__(None, None, None)
    assert soft_heap_limit(store) == 0


def test_each_connection_caches_its_share_of_a_budget_never_less_than_the_default():
    from haven.store.sqlite import CONNECTION_CACHE_KIB, connection_cache_kib

    assert connection_cache_kib(64, 4) == CONNECTION_CACHE_KIB == 16 << 10  # a server's defaults
    assert connection_cache_kib(24, 3) == CONNECTION_CACHE_KIB
    assert connection_cache_kib(1024, 4) == 256 << 10
    assert connection_cache_kib(1, 0) == CONNECTION_CACHE_KIB


def test_a_store_opened_with_a_cache_size_gives_it_to_every_connection(tmp_path):
    import threading

    from haven.config import parse_database_url
    from haven.store import init_store, open_store

    url = parse_database_url(f"sqlite:///{tmp_path / 'c.db'}")
    init_store(url).close()
    store = open_store(url, cache_kib=40 << 10)
    try:
        sizes = [store.conn.execute("PRAGMA cache_size").fetchone()[0]]
        worker = threading.Thread(target=lambda: sizes.append(store.conn.execute("PRAGMA cache_size").fetchone()[0]))
        worker.start()
        worker.join()
        assert sizes == [-(40 << 10)] * 2
    finally:
        store.close()


def test_a_cache_size_below_one_kib_is_refused(tmp_path):
    import pytest

    from haven.config import parse_database_url
    from haven.store import init_store, open_store

    url = parse_database_url(f"sqlite:///{tmp_path / 'c.db'}")
    init_store(url).close()
    for bad in (0, -5):
        with pytest.raises(ValueError, match="cache_kib"):
            open_store(url, cache_kib=bad)
