"""The octree's change feed: every node a write changed, found by version."""

from __future__ import annotations

import random

import pytest

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.errors import Conflict, InvalidInput
from haven.model import validate_patch, validate_system
from haven.store.sqlite import CHANGED_NODES_SQL

G = "Feed"


def load(store, n: int = 120) -> None:
    store.ensure_galaxy(G, half_size_ly=4096.0, lod_capacity=10)
    rng = random.Random(5)
    store.import_systems(G, [
        validate_system({"name": f"F{i}", "x": rng.uniform(-2000, 2000), "y": rng.uniform(-2000, 2000),
                         "z": rng.uniform(-200, 200)})
        for i in range(n)
    ])


def every_node(store) -> dict[tuple[int, int], dict]:
    return {(n["level"], n["cell"]): n
            for n in store.conn.execute("SELECT level, cell, count, version FROM lod_node").fetchall()}


def test_lists_exactly_the_nodes_a_write_changed(store):
    load(store)
    clock = store.changed_nodes(G, 0)["clock"]
    assert store.changed_nodes(G, clock) == {
        "clock": clock, "nodes": [], "reset": False, "total_systems": store.galaxy(G)["system_count"],
    }
    before = every_node(store)
    store.create(G, validate_system({"name": "New", "x": 1.0, "y": 2.0, "z": 3.0}))
    feed = store.changed_nodes(G, clock)
    after = every_node(store)
    changed = {key for key, node in after.items() if key not in before or dict(before[key]) != dict(node)}
    assert {(n["level"], n["cell"]) for n in feed["nodes"]} == changed != set()
    assert feed["clock"] > clock
    assert all(clock < n["version"] <= feed["clock"] for n in feed["nodes"])
    assert store.changed_nodes(G, feed["clock"])["nodes"] == []


@pytest.mark.parametrize("patch", [
    {"name": "Renamed"},  # nothing a chunk shows changes; an open details panel still must learn of it
    {"fauna": "Rich"},
    {"planets": [{"name": "Only planet"}]},
])
def test_every_edit_gives_its_node_a_new_version(store, patch):
    load(store)
    system = store.system_by_name(G, "F7")
    node = store.conn.execute("SELECT lod_level, lod_cell FROM system WHERE id = ?", (system["id"],)).fetchone()
    clock = store.changed_nodes(G, 0)["clock"]
    store.patch(system["id"], validate_patch(patch))
    feed = store.changed_nodes(G, clock)
    assert [(n["level"], n["cell"]) for n in feed["nodes"]] == [tuple(node)]
    assert feed["nodes"][0]["version"] == feed["clock"] > clock


def test_an_emptied_node_is_listed_with_count_zero(store):
    store.ensure_galaxy(G, half_size_ly=4096.0, lod_capacity=10)
    created = store.create(G, validate_system({"name": "Only", "x": 1.0, "y": 2.0, "z": 3.0}))
    clock = store.changed_nodes(G, 0)["clock"]
    store.delete(created["id"])
    assert store.changed_nodes(G, clock)["nodes"] == [{"level": 0, "cell": 0, "count": 0, "version": clock + 1}]


def test_more_changes_than_the_limit_ask_for_a_reset(store):
    load(store)
    feed = store.changed_nodes(G, 0, limit=1)
    assert feed["reset"] is True and feed["nodes"] == []
    assert feed["clock"] == store.galaxy(G)["lod_clock"]


@pytest.mark.parametrize("since, limit, field", [(-1, 10, "since"), (0, 0, "limit"), (0, 100_000, "limit")])
def test_bad_arguments_name_their_field(store, since, limit, field):
    load(store, 5)
    with pytest.raises(InvalidInput) as exc:
        store.changed_nodes(G, since, limit=limit)
    assert exc.value.field == field


def test_the_feed_is_a_range_of_the_version_index(store):
    load(store)
    galaxy_id = store._galaxy_key(G).id
    plan = " | ".join(store.explain(CHANGED_NODES_SQL, [galaxy_id, 3, 10]))
    assert "USING INDEX lod_node_version (galaxy_id=? AND version>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_the_commit_watch_sees_every_commit_once_and_nothing_else(store):
    committed = store.commit_watch()
    assert committed() is True  # the first call cannot know what came before
    assert committed() is False
    store.search(GALAXY, "anything")  # reads are not commits
    assert committed() is False
    other = type(store)(store.path)  # another process's connection to the same file
    try:
        other.create(GALAXY, validate_system({"name": "Watched", "x": 1, "y": 2, "z": 3}))
        assert committed() is True
        assert committed() is False  # once per change
        store.create(GALAXY, validate_system({"name": "Watched too", "x": 4, "y": 5, "z": 6}))
        assert committed() is True  # this store's own writes count as well
        with pytest.raises(Conflict):
            store.create(GALAXY, validate_system({"name": "Watched", "x": 7, "y": 8, "z": 9}))
        assert committed() is False  # a write that rolled back changed nothing
    finally:
        other.close()
    store.close()
    assert committed() is True  # closed: it cannot tell, so it says yes


def test_the_commit_gate_reads_after_a_commit_or_a_failed_read(store):
    from haven.store.base import CommitGate

    gate = CommitGate(store)
    assert gate.should_read() is True  # first round: read once
    assert gate.should_read() is False  # nothing committed since
    store.create(GALAXY, validate_system({"name": "Gated", "x": 1, "y": 2, "z": 3}))
    assert gate.should_read() is True
    gate.read_failed()  # e.g. the database was busy: the feed was not read
    assert gate.should_read() is True  # so it is read next round, with no new commit
    assert gate.should_read() is False
    assert CommitGate(object()).should_read() is True  # a store without a watch is always read


def test_storing_a_chunk_is_not_announced_as_a_change(store):
    store.create(GALAXY, validate_system({"name": "Cached", "x": 1, "y": 2, "z": 3}))
    heard: list[int] = []
    stop = store.on_commit(lambda: heard.append(1))
    try:
        assert store.store_chunk(GALAXY, 0, 0, 1, b"bytes") is True
        assert heard == []  # a cache fill changes no system: live maps are not woken for it
        store.create(GALAXY, validate_system({"name": "Cached too", "x": 4, "y": 5, "z": 6}))
        assert heard == [1]
    finally:
        stop()


def test_the_feed_of_a_galaxy_removed_meanwhile_is_not_found(store):
    from haven.errors import NotFound

    store.ensure_galaxy("Brief")
    other = type(store)(store.path)  # another process, which has the galaxy's key cached
    try:
        assert other.changed_nodes("Brief", 0)["nodes"] == []
        assert store.drop_empty_galaxy(store.galaxy("Brief")["id"]) is True
        with pytest.raises(NotFound):
            other.changed_nodes("Brief", 0)
    finally:
        other.close()


@pytest.mark.parametrize("change", [
    {"region": "Elsewhere"},  # the chunk's colour index is the region
    {"x": 1.001},  # a move inside the system's Morton cell still moves its quantized point
])
def test_a_change_the_chunk_shows_stamps_the_system_node_even_when_it_stays(store, change):
    load(store)
    created = store.create(G, validate_system({"name": "Stays", "x": 1.0, "y": 2.0, "z": 3.0, "region": "Here"}))
    node = store.conn.execute("SELECT lod_level, lod_cell, code FROM system WHERE id = ?", (created["id"],)).fetchone()
    clock = store.changed_nodes(G, 0)["clock"]
    updated = store.patch(created["id"], validate_patch(change))
    assert store.conn.execute("SELECT code FROM system WHERE id = ?", (updated["id"],)).fetchone()[0] == node[2]
    feed = store.changed_nodes(G, clock)
    assert [(n["level"], n["cell"]) for n in feed["nodes"]] == [(node[0], node[1])]
    assert feed["nodes"][0]["version"] > clock


def test_the_hierarchy_clock_is_the_clock_of_its_nodes_while_another_thread_writes(store, db_url):
    """A map follows the feed from the hierarchy's clock: a write between reading the nodes and
    the clock would be in neither. One node (capacity 10, 3 systems): its version is the clock."""
    import threading

    from haven.store import open_store

    store.ensure_galaxy("One", half_size_ly=4096.0, lod_capacity=10)
    ids = [store.create("One", validate_system({"name": f"O{i}", "x": i, "y": 0.0, "z": 0.0}))["id"]
           for i in range(3)]
    writer = open_store(db_url)
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            writer.patch(ids[n % 3], validate_patch({"fauna": f"F{n}"}))
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        for _ in range(400):
            tree = store.lod_hierarchy("One", 0, 0, 0)
            assert [n["version"] for n in tree["nodes"]] == [tree["clock"]]
            assert tree["total_systems"] == 3
    finally:
        stop.set()
        thread.join()
        writer.close()
