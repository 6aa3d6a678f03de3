"""A server's commits never checkpoint the WAL or merge the search index; a background thread does both."""

from __future__ import annotations

import threading
import time

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.model import validate_system
from haven.store import search


def autocheckpoint(conn) -> int:
    return conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]


def test_commits_checkpoint_themselves_until_the_background_thread_runs(store):
    assert autocheckpoint(store.conn) == 1000  # SQLite's default: inside the commit
    store.start_background_maintenance(interval_s=0.05)
    assert autocheckpoint(store.conn) == 0

    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(autocheckpoint(store.conn)))
    worker.start()
    worker.join()
    assert seen == [0]  # connections opened later (other threads) too
    store.start_background_maintenance()  # a second call changes nothing
    assert sum(t.name == "haven-maintenance" for t in threading.enumerate()) == 1


def test_the_background_thread_copies_the_wal_into_the_database(store):
    store.start_background_maintenance(interval_s=0.05)
    size_before = store.path.stat().st_size
    store.import_systems(GALAXY, [validate_system({"name": f"S{i:05d}", "x": i, "y": 0, "z": 0,
                                                   "materials": "x" * 200}) for i in range(3000)])
    deadline = time.monotonic() + 30
    while store.path.stat().st_size <= size_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.path.stat().st_size > size_before  # pages reached the main file without a commit doing it


def test_the_background_thread_empties_a_wal_that_grew_past_its_bound(store, monkeypatch):
    from haven.store.sqlite import connection

    monkeypatch.setattr(connection, "WAL_TRUNCATE_BYTES", 256 << 10)
    wal = store.path.with_name(store.path.name + "-wal")
    stop = threading.Event()

    def steady_reads() -> None:  # a server's readers: the WAL is never free for long
        while not stop.is_set():
            store.page(GALAXY, limit=5)

    reader = threading.Thread(target=steady_reads)
    reader.start()
    try:
        store.import_systems(GALAXY, [validate_system({"name": f"S{i:05d}", "x": i, "y": 0, "z": 0,
                                                       "materials": "x" * 200}) for i in range(3000)])
        grown = wal.stat().st_size
        assert grown > 256 << 10
        store.start_background_maintenance(interval_s=0.05)
        deadline = time.monotonic() + 30
        while wal.stat().st_size > 256 << 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wal.stat().st_size <= 256 << 10, (grown, wal.stat().st_size)
    finally:
        stop.set()
        reader.join()
    assert store.stats(GALAXY)["total_systems"] == 3000


def test_a_reader_that_keeps_the_wal_makes_the_thread_try_less_often(store, monkeypatch):
    import sqlite3

    from haven.store.sqlite import connection

    monkeypatch.setattr(connection, "WAL_TRUNCATE_BYTES", 256 << 10)
    monkeypatch.setattr(connection, "WAL_TRUNCATE_BACKOFF_S", (0.2, 0.4))
    wal = store.path.with_name(store.path.name + "-wal")
    export = sqlite3.connect(store.path, isolation_level=None)  # a long export: one snapshot held open
    export.execute("BEGIN")
    export.execute("SELECT count(*) FROM system").fetchone()
    try:
        store.import_systems(GALAXY, [validate_system({"name": f"S{i:05d}", "x": i, "y": 0, "z": 0,
                                                       "materials": "x" * 200}) for i in range(3000)])
        store.start_background_maintenance(interval_s=0.02)
        deadline = time.monotonic() + 30
        while store._wal_truncate_pause < 0.4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store._wal_truncate_pause == 0.4  # doubled after each try the reader kept out, then capped
        assert wal.stat().st_size > 256 << 10
    finally:
        export.execute("COMMIT")
        export.close()
    deadline = time.monotonic() + 30
    while wal.stat().st_size > 256 << 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wal.stat().st_size <= 256 << 10 and store._wal_truncate_pause == 0.0  # emptied once it was let go


def test_close_stops_the_thread(store):
    store.start_background_maintenance(interval_s=0.05)
    thread = store._maintenance
    assert thread is not None and thread.is_alive()
    store.close()
    assert not thread.is_alive()
    assert autocheckpoint(store.conn) == 1000  # a store used again after close checkpoints as before


def search_segments(store) -> list[int]:
    """Segments of each search index."""
    return [store.conn.execute(f"SELECT count(DISTINCT segid) FROM {index}_idx").fetchone()[0]
            for index in search.SEARCH_INDEXES]


def test_writes_leave_search_merging_to_the_background_thread(store):
    config = dict(store.conn.execute("SELECT k, v FROM system_fts_config").fetchall())
    assert config["automerge"] == 0  # a commit never merges
    assert config["crisismerge"] == 128  # nor does a burst of writes between two maintenance rounds
    for i in range(40):  # one small segment per commit, well past FTS5's default crisis level of 16
        store.create(GALAXY, validate_system({"name": f"Merge {i:02d}", "x": i, "y": 0, "z": 0}))
    piled_up = sum(search_segments(store))
    assert piled_up >= 40
    store.start_background_maintenance(interval_s=0.05)
    deadline = time.monotonic() + 30
    while sum(search_segments(store)) >= piled_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(search_segments(store)) < piled_up
    assert len(store.search(GALAXY, "Merge", limit=100)) == 40  # nothing lost in the merge


def test_a_merge_under_way_is_carried_on_without_new_writes(store, monkeypatch):
    import haven.store.sqlite.connection as engine

    monkeypatch.setattr(engine, "SEARCH_MERGE_PAGES", 1)  # so the merge below takes about 25 rounds
    store.import_systems(GALAXY, [validate_system({
        "name": f"Big {i:05d}", "x": i, "y": 1, "z": 0,
        "materials": " ".join(f"m{i * 31 + k:07d}" for k in range(20))}) for i in range(3000)])
    for i in range(40):
        store.create(GALAXY, validate_system({"name": f"Slow {i:02d}", "x": i, "y": 0, "z": 0}))
    store.start_background_maintenance(interval_s=0.01)
    deadline = time.monotonic() + 60
    while max(search_segments(store)) > 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert max(search_segments(store)) <= 4  # the writes stopped long ago; each merge went on to its end
    assert len(store.search(GALAXY, "Slow", limit=100)) == 40


def test_closing_a_store_that_wrote_folds_in_its_search_segments(store):
    for i in range(12):  # a process without a maintenance thread: one small segment per commit
        store.create(GALAXY, validate_system({"name": f"Tidy {i:02d}", "x": i, "y": 0, "z": 0}))
    assert max(search_segments(store)) >= 12
    store.close()
    assert max(search_segments(store)) <= 4  # FTS5 merges a level once it holds four segments
    assert len(store.search(GALAXY, "Tidy", limit=100)) == 12


def test_closing_a_store_that_only_read_writes_nothing(store):
    for i in range(12):
        store.create(GALAXY, validate_system({"name": f"Left {i:02d}", "x": i, "y": 0, "z": 0}))
    piled_up = search_segments(store)
    reader = type(store)(store.path)  # another process that only reads
    assert len(reader.search(GALAXY, "Left", limit=100)) == 12
    reader.close()
    assert search_segments(store) == piled_up


# -- this process's writers take turns ---------------------------------------------


def _hold_a_write(store, started: threading.Event, release: threading.Event) -> threading.Thread:
    """Another thread of this process with a write transaction open until ``release`` is set."""

    def hold() -> None:
        with store._write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('held', '1')")
            started.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert started.wait(30)
    return thread


def test_a_write_of_this_process_queues_for_its_turn_instead_of_meeting_the_busy_handler(store):
    started, release = threading.Event(), threading.Event()
    holder = _hold_a_write(store, started, release)
    created: list[dict] = []

    def write() -> None:
        store.conn.execute("PRAGMA busy_timeout = 0")  # this thread's connection: SQLite would say "locked" at once
        created.append(store.create(GALAXY, validate_system({"name": "Queued", "x": 1, "y": 2, "z": 3})))

    writer = threading.Thread(target=write)
    try:
        writer.start()
        time.sleep(0.05)
        assert not created  # waiting for its turn, not failed
    finally:
        release.set()
        holder.join()
        writer.join()
    assert created and created[0]["name"] == "Queued"


def test_housekeeping_skips_its_write_while_another_thread_writes(store):
    from haven.chunks.service import ChunkService

    store.create(GALAXY, validate_system({"name": "Charted", "x": 1, "y": 2, "z": 3}))
    started, release = threading.Event(), threading.Event()
    holder = _hold_a_write(store, started, release)
    try:
        results: list[bool] = []
        saver = threading.Thread(target=lambda: results.append(store.store_chunk(GALAXY, 0, 0, 99, b"chunk")))
        saver.start()
        saver.join(5)
        assert results == [False]  # skipped at once: a cache entry is not worth a user's wait
        chunk = ChunkService(store).get(GALAXY, 0, 0)  # a fetch still answers, from a fresh build
        assert chunk.count == 1
    finally:
        release.set()
        holder.join()
    assert store.store_chunk(GALAXY, 0, 0, 99, b"chunk") is True
