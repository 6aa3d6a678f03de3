"""A bulk octree build in parts of bounded size places every system where a whole-galaxy build would."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haven.config import DatabaseUrl
from haven.ingest.bulk import generate_galaxy
from haven.model import validate_system
from haven.spatial.morton import MAX_LEVEL
from haven.store import init_store, lod
from haven.store.lod import assign_levels, node_table, priorities_of, split_for_placement

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
    prio = priorities_of(ids)
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
    with store._write() as conn:
        parts, inner = split_for_placement(conn, gid, N, budget)
        lod.rebuild(conn, gid, CAPACITY, budget_systems=budget)
    assert placement(store, "Gen") == want
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
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(point, min_size=1, max_size=120), capacity=st.integers(1, 6), budget=st.integers(1, 40))
def test_clusters_and_tiny_budgets(tmp_path_factory, points, capacity, budget):
    store = init_store(DatabaseUrl("sqlite", str(tmp_path_factory.mktemp("cl") / "c.db")))
    store.ensure_galaxy("C", half_size_ly=64.0, lod_capacity=capacity)
    for i, (x, y, z) in enumerate(points):
        store.create("C", validate_system({"name": f"S{i}", "x": x, "y": y, "z": z}))
    want = whole_galaxy(store, "C", capacity)
    gid = store._galaxy_key("C").id
    with store._write() as conn:
        conn.execute("UPDATE system SET lod_level = NULL, lod_cell = NULL WHERE galaxy_id = ?", (gid,))
        lod.rebuild(conn, gid, capacity, budget_systems=budget)
    assert placement(store, "C") == want
    assert max(level for *_, level, _ in want[0]) <= MAX_LEVEL
    store.close()
