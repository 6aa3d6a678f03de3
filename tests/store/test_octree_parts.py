"""A bulk octree build in parts of bounded size places every system where a whole-galaxy build would."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haven.config import DatabaseUrl
from haven.ingest.bulk import generate_galaxy
from haven.model import validate_system
from haven.spatial.morton import MAX_LEVEL
from haven.store import init_store, lod, migrate
from haven.store.lod import assign_levels, node_table, split_for_placement

N = 6_000
CAPACITY = 32


def placement(store, galaxy: str) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Every system's node, and every node's count and priority bounds (versions left out)."""
    gid = store._galaxy_key(galaxy).id
    rows = store.conn.execute(
        "SELECT id, code, priority, lod_level, lod_cell FROM system WHERE galaxy_id = ? ORDER BY id", (gid,)).fetchall()
    nodes = store.conn.execute(
        "SELECT level, cell, count, min_priority, max_priority FROM lod_node WHERE galaxy_id = ? AND count > 0 "
        "ORDER BY level, cell", (gid,)).fetchall()
    return [tuple(r) for r in rows], [tuple(r) for r in nodes]


def whole_galaxy(store, galaxy: str, capacity: int) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """The same, from :func:`assign_levels` on the whole galaxy at once."""
    gid = store._galaxy_key(galaxy).id
    ids, codes = np.array(store.conn.execute(
        "SELECT id, code FROM system WHERE galaxy_id = ? ORDER BY id", (gid,)).fetchall(), dtype=np.int64).T
    prio = lod.priorities_of(ids)  # looked up at call time: a test may make priorities tie
    levels, cells = assign_levels(codes, prio, capacity)
    rows = list(zip(ids.tolist(), codes.tolist(), prio.tolist(), levels.tolist(), cells.tolist()))
    return rows, sorted(node_table(levels, cells, prio))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated galaxy (dense core, sparse rim): its octree is many levels deep."""
    path = tmp_path_factory.mktemp("parts") / "gen.db"
    store = init_store(DatabaseUrl("sqlite", str(path)))
    store.ensure_galaxy("Gen", lod_capacity=CAPACITY)
    generate_galaxy(store, "Gen", N, 3, batch_size=2_000, write_rows=1_000)
    yield store
    store.close()


@pytest.mark.parametrize("budget", [N, 2_000, 400, 97, CAPACITY])
def test_any_budget_gives_the_whole_galaxy_placement(generated, budget):
    store = generated
    want = whole_galaxy(store, "Gen", CAPACITY)
    assert placement(store, "Gen") == want
    gid = store._galaxy_key("Gen").id
    conn = store.conn
    conn.execute("CREATE TEMP TABLE rewritten (id INTEGER)")
    conn.execute("CREATE TEMP TRIGGER count_rewrites AFTER UPDATE OF lod_level ON system "
                 "BEGIN INSERT INTO rewritten VALUES (new.id); END")
    try:
        with store._write() as conn:
            # a few systems out of their nodes, as a bulk load into the galaxy leaves its new ones,
            # and a few in the wrong node (the deepest one around them)
            conn.execute("UPDATE system SET lod_level = -1, lod_cell = -5 WHERE id % 50 = 7")
            conn.execute(f"UPDATE system SET lod_level = {MAX_LEVEL}, lod_cell = code "
                         f"WHERE id % 50 = 9 AND lod_level < {MAX_LEVEL}")
            conn.execute("DELETE FROM rewritten")
            parts, inner = split_for_placement(conn, gid, N, budget)
            lod.rebuild(conn, gid, CAPACITY, budget_systems=budget)
        assert placement(store, "Gen") == want
        rewritten = [r[0] for r in conn.execute("SELECT id FROM rewritten ORDER BY id")]
        assert rewritten == [r[0] for r in conn.execute(
            "SELECT id FROM system WHERE id % 50 IN (7, 9) ORDER BY id")]
    finally:
        conn.execute("DROP TRIGGER count_rewrites")
        conn.execute("DROP TABLE rewritten")
    sizes = [conn.execute(lod._COUNT_IN_CODES_SQL, (gid, *part.codes)).fetchone()[0] for part in parts]
    assert sum(sizes) == N and max(sizes) <= budget
    assert (len(inner) > 0) == (budget < N)
    assert all(cube.ancestor(level) in inner for cube in parts + inner for level in range(cube.level))


def test_a_generate_placed_in_parts_matches_one_placed_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(lod, "PLACE_BUDGET_SYSTEMS", 500)
    store = init_store(DatabaseUrl("sqlite", str(tmp_path / "parts.db")))
    store.ensure_galaxy("Gen", lod_capacity=CAPACITY)
    generate_galaxy(store, "Gen", N, 3, batch_size=2_000, write_rows=1_000)
    rows, nodes = placement(store, "Gen")
    assert all(level >= 0 for *_, level, _ in rows)
    assert (rows, nodes) == whole_galaxy(store, "Gen", CAPACITY)
    store.close()


point = st.one_of(
    st.tuples(*[st.floats(min_value=-60, max_value=60)] * 3),
    st.tuples(*[st.floats(min_value=10, max_value=10.01)] * 3),  # a cluster many levels deep
    st.tuples(*[st.sampled_from([-64.0, -32.0, 0.0, 32.0, 63.999])] * 3),  # on the edges of cubes
)


def small_galaxy(path, points, capacity: int):
    store = init_store(DatabaseUrl("sqlite", str(path)))
    store.ensure_galaxy("C", half_size_ly=64.0, lod_capacity=capacity)
    for i, (x, y, z) in enumerate(points):
        store.create("C", validate_system({"name": f"S{i}", "x": x, "y": y, "z": z}))
    return store


@settings(max_examples=15, deadline=None)
@given(points=st.lists(point, min_size=1, max_size=120), capacity=st.integers(1, 6), budget=st.integers(1, 40),
       unplaced=st.booleans())
def test_clusters_and_tiny_budgets(tmp_path_factory, points, capacity, budget, unplaced):
    store = small_galaxy(tmp_path_factory.mktemp("cl") / "c.db", points, capacity)
    try:
        want = whole_galaxy(store, "C", capacity)
        gid = store._galaxy_key("C").id
        with store._write() as conn:
            if unplaced:  # as before the octree existed: every row is rewritten
                conn.execute("UPDATE system SET lod_level = NULL, lod_cell = NULL WHERE galaxy_id = ?", (gid,))
            lod.rebuild(conn, gid, capacity, budget_systems=budget)
        assert placement(store, "C") == want
    finally:
        store.close()


def test_ties_in_priority_go_to_the_older_system(tmp_path, monkeypatch):
    rng = np.random.default_rng(8)
    points = [tuple(p) for p in rng.uniform(9.9, 10.1, (150, 3)).tolist()]
    store = small_galaxy(tmp_path / "ties.db", points, 4)
    try:
        monkeypatch.setattr(lod, "priorities_of", lambda ids: ids % 3)  # three priorities for everyone
        want = whole_galaxy(store, "C", 4)
        gid = store._galaxy_key("C").id
        with store._write() as conn:  # rows carry their priority from the start, as stored rows do
            conn.execute("UPDATE system SET priority = id % 3 WHERE galaxy_id = ?", (gid,))
        for budget in (150, 40, 9, 4):
            with store._write() as conn:
                conn.execute("UPDATE system SET lod_level = NULL, lod_cell = NULL WHERE galaxy_id = ?", (gid,))
                lod.rebuild(conn, gid, 4, budget_systems=budget)
            assert placement(store, "C") == want
    finally:
        store.close()


def test_the_migration_that_adds_the_octree_gives_every_system_its_priority(tmp_path, monkeypatch):
    monkeypatch.setattr(lod, "SET_PRIORITIES_SLICE", 7)  # many slices
    rng = np.random.default_rng(3)
    store = small_galaxy(tmp_path / "old.db", [tuple(p) for p in rng.uniform(-60, 60, (300, 3)).tolist()], 4)
    url = DatabaseUrl("sqlite", str(store.path))
    store.close()
    migrate.downgrade(url, "0001")  # before priorities and nodes existed
    migrate.upgrade(url)
    store = init_store(url)
    try:
        rows, nodes = placement(store, "C")
        assert [r[2] for r in rows] == lod.priorities_of(np.array([r[0] for r in rows])).tolist()
        assert (rows, nodes) == whole_galaxy(store, "C", store._galaxy_key("C").capacity)
    finally:
        store.close()
