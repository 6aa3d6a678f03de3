"""Chunks served from the octree: every member once, cached by version, fresh after an edit."""

from __future__ import annotations

import random
import sqlite3

import numpy as np

from haven.chunks import decode_chunk, decompress
from haven.chunks.service import ChunkCache, ChunkService
from haven.model import validate_patch, validate_system


def load(store, n=300):
    store.ensure_galaxy("G", half_size_ly=4096.0, lod_capacity=40)
    rng = random.Random(2)
    store.import_systems("G", [
        validate_system({"name": f"S{i}", "x": rng.uniform(-2000, 2000), "y": rng.uniform(-2000, 2000),
                         "z": rng.uniform(-200, 200), "region": f"R{i % 3}"})
        for i in range(n)
    ])


def decode(store, chunk, level, cell):
    g = store.galaxy("G")
    return decode_chunk(decompress(chunk.body, chunk.encoding), (0.0, 0.0, 0.0), g["half_size_ly"], cell=cell)


def test_every_system_is_in_exactly_one_chunk_within_quantization(store):
    load(store)
    svc = ChunkService(store)
    nodes = store.lod_hierarchy("G", 0, 0, 4)["nodes"]
    positions = {}
    for node in nodes:
        chunk = svc.get("G", node["level"], node["cell"])
        d = decode(store, chunk, node["level"], node["cell"])
        assert d.count == node["count"] == chunk.count
        members = store.lod_members("G", node["level"], node["cell"])
        assert np.all(np.abs(d.x_ly - members["x_ly"]) <= d.step_ly)
        assert np.all(np.abs(d.z_ly - members["z_ly"]) <= d.step_ly)
        for i in members["id"].tolist():
            assert i not in positions
            positions[i] = node
    assert len(positions) == 300


def test_cache_is_keyed_by_version(store):
    load(store)
    svc = ChunkService(store)
    first = svc.get("G", 0, 0)
    assert svc.get("G", 0, 0) is first  # served from the LRU
    victim = store.lod_member("G", 0, 0, 0)
    store.patch(victim["id"], validate_patch({"x": 1.0, "y": 1.0, "z": 1.0}))
    second = svc.get("G", 0, 0)
    assert second.version > first.version


def test_cache_is_bounded_in_bytes():
    cache = ChunkCache(max_bytes=100)
    from haven.chunks.service import Chunk
    for i in range(10):
        cache.put(("g", 0, i, 1, "gzip"), Chunk(b"x" * 30, 1, 1, "gzip"))
    assert cache._bytes <= 100
    assert cache.get(("g", 0, 9, 1, "gzip")) is not None
    assert cache.get(("g", 0, 0, 1, "gzip")) is None


# -- the stored tier (lod_chunk) -----------------------------------------------------


class _NoBuild(ChunkService):
    """A service in a 'new process' that must not build from rows."""

    def build(self, *args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("built from rows, but a stored chunk was there")


def test_a_new_process_serves_the_stored_chunk_without_building(store):
    load(store)
    first = ChunkService(store).get("G", 0, 0)
    again = _NoBuild(store).get("G", 0, 0)  # empty memory cache, as after a restart
    assert again.body == first.body and again.version == first.version and again.count == first.count
    identity = _NoBuild(store).get("G", 0, 0, "identity")
    assert identity.body == decompress(first.body, "gzip")


def test_an_edit_replaces_the_stored_chunk(store):
    load(store)
    ChunkService(store).get("G", 0, 0)
    member = store.lod_member("G", 0, 0, 0)
    store.patch(member["id"], validate_patch({"x": member["x"] + 1.0}))
    fresh = ChunkService(store).get("G", 0, 0)
    assert fresh.version == store.lod_node("G", 0, 0)["version"]
    assert store.stored_chunk("G", 0, 0) == (fresh.version, fresh.body)


def test_a_locked_database_skips_storing_but_still_answers(store, db_url):
    import sqlite3

    load(store)
    other = sqlite3.connect(db_url.location, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a writer (say, a bulk load) holds the lock
    try:
        chunk = ChunkService(store).get("G", 0, 0)
        assert chunk.count == store.lod_node("G", 0, 0)["count"]
        assert store.stored_chunk("G", 0, 0) is None
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


# -- the background refresher ---------------------------------------------------------


def test_the_refresher_rebuilds_changed_nodes_so_the_next_fetch_is_stored_bytes(store):
    from haven.chunks.service import ChunkRefresher

    load(store)
    service = ChunkService(store)
    service.get("G", 0, 0)  # a map looked at the root
    refresher = ChunkRefresher(service, quiet_s=0.0)
    refresher._seen = {g["name"]: g["lod_clock"] for g in store.galaxies()}  # what start() does, without the thread
    assert refresher.refresh_once() == 0  # nothing changed since it started: older nodes stay lazy
    member = store.lod_member("G", 0, 0, 0)
    store.patch(member["id"], validate_patch({"x": member["x"] + 1.0}))
    assert refresher.refresh_once() == 1  # the root; changed nodes nobody looked at stay lazy
    version = store.lod_node("G", 0, 0)["version"]
    assert store.stored_chunk("G", 0, 0)[0] == version
    assert _NoBuild(store).get("G", 0, 0).version == version  # a fresh process never builds it
    assert refresher.refresh_once() == 0


def test_the_refresher_waits_until_a_node_is_quiet(store):
    from haven.chunks.service import ChunkRefresher

    load(store)
    service = ChunkService(store)
    service.get("G", 0, 0)
    refresher = ChunkRefresher(service, quiet_s=3600.0)
    refresher._seen = {g["name"]: g["lod_clock"] for g in store.galaxies()}
    member = store.lod_member("G", 0, 0, 0)
    store.patch(member["id"], validate_patch({"x": member["x"] + 1.0}))
    assert refresher.refresh_once() == 0  # changed a moment ago: more writes may follow
    refresher.quiet_s = 0.0
    assert refresher.refresh_once() == 1


def test_the_refresher_reads_no_feed_while_nothing_commits(store):
    from haven.chunks.service import ChunkRefresher

    load(store)
    service = ChunkService(store)
    refresher = ChunkRefresher(service, quiet_s=0.0)
    refresher._seen = {g["name"]: g["lod_clock"] for g in store.galaxies()}
    refresher.refresh_once()  # the first round reads: it cannot know what came before
    reads = []
    store.conn.set_trace_callback(reads.append)
    try:
        assert refresher.refresh_once() == 0
        assert not [sql for sql in reads if "galaxy" in sql]  # idle: the galaxy table was not read
        store.create("G", validate_system({"name": "New", "x": 1, "y": 2, "z": 3}))
        reads.clear()
        refresher.refresh_once()
        assert [sql for sql in reads if "FROM galaxy" in sql]  # a commit: the feed is read
    finally:
        store.conn.set_trace_callback(None)


def test_the_cache_knows_which_nodes_it_holds():
    from haven.chunks.service import Chunk

    cache = ChunkCache(max_bytes=100)
    cache.put(("g", 1, 2, 7, "gzip"), Chunk(b"x" * 60, 7, 1, "gzip"))
    assert cache.holds_node("g", 1, 2) and not cache.holds_node("g", 1, 3)
    cache.put(("g", 1, 3, 1, "gzip"), Chunk(b"x" * 60, 1, 1, "gzip"))  # evicts the first
    assert not cache.holds_node("g", 1, 2) and cache.holds_node("g", 1, 3)


def test_the_refresher_thread_starts_and_stops(store):
    import time

    from haven.chunks.service import ChunkRefresher

    load(store)
    service = ChunkService(store)
    service.get("G", 0, 0)
    refresher = ChunkRefresher(service, interval_s=0.01, quiet_s=0.0)
    refresher.start()
    try:
        member = store.lod_member("G", 0, 0, 0)
        store.patch(member["id"], validate_patch({"x": member["x"] + 1.0}))
        version = store.lod_node("G", 0, 0)["version"]
        deadline = time.monotonic() + 30
        while (store.stored_chunk("G", 0, 0) or (0,))[0] != version and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.stored_chunk("G", 0, 0)[0] == version
    finally:
        refresher.stop()
    assert refresher._thread is None


def test_a_served_chunk_names_its_galaxy_cube_as_chnk_metadata_defines_it(store):
    """CHNK §5: ``galaxy`` is ``{"centre": [x, y, z], "half_size": h}``, enough to place the chunk."""
    load(store)
    chunk = ChunkService(store).get("G", 0, 0)
    g = store.galaxy("G")
    cube = decode(store, chunk, 0, 0).metadata["galaxy"]
    assert cube == {"centre": [g["centre_x_ly"], g["centre_y_ly"], g["centre_z_ly"]], "half_size": g["half_size_ly"]}
    placed = decode_chunk(decompress(chunk.body, chunk.encoding), tuple(cube["centre"]), cube["half_size"])
    assert np.array_equal(placed.x_ly, decode(store, chunk, 0, 0).x_ly)


def test_revision_0011_forgets_chunks_stored_with_the_galaxys_name(db_url):
    """Chunks stored before 0011 carried the galaxy's name as ``galaxy``; the upgrade has them built again."""
    from haven.store import init_store, migrate

    store = init_store(db_url)
    try:
        load(store)
        ChunkService(store).get("G", 0, 0)  # stored now
    finally:
        store.close()
    migrate.downgrade(db_url, "0010")
    with sqlite3.connect(db_url.location) as conn:  # what an older Haven stored: the same node version
        conn.execute("UPDATE lod_chunk SET body = ?", (b"stored by an older Haven",))
    conn.close()
    migrate.upgrade(db_url)
    store = init_store(db_url)
    try:
        assert store.stored_chunk("G", 0, 0) is None
        chunk = ChunkService(store).get("G", 0, 0)
        assert decode(store, chunk, 0, 0).metadata["galaxy"]["half_size"] == 4096.0
        assert store.stored_chunk("G", 0, 0)[0] == chunk.version  # stored again at first fetch
    finally:
        store.close()
