"""The additive LOD octree keeps its invariants through any sequence of writes."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haven.config import DEFAULT_GALAXY
from haven.errors import InvalidInput
from haven.model import validate_patch, validate_system
from haven.spatial.morton import MAX_LEVEL, cell_code_range
from haven.store.lod import assign_levels, node_table, priorities_of, priority_of

TINY = "Tiny"
CAPACITY = 3


def tiny(store, capacity: int = CAPACITY, name: str = TINY):
    store.ensure_galaxy(name, half_size_ly=64.0, lod_capacity=capacity)
    return store


def systems(store, galaxy: str = TINY) -> list[dict]:
    gid = store._galaxy_key(galaxy)[0]
    return [dict(r) for r in store.conn.execute(
        "SELECT id, code, priority, lod_level, lod_cell FROM system WHERE galaxy_id = ?", (gid,))]


def nodes(store, galaxy: str = TINY) -> dict[tuple[int, int], dict]:
    gid = store._galaxy_key(galaxy)[0]
    return {(r["level"], r["cell"]): dict(r) for r in store.conn.execute(
        "SELECT * FROM lod_node WHERE galaxy_id = ? AND count > 0", (gid,))}


def check_invariants(store, capacity: int = CAPACITY, galaxy: str = TINY) -> None:
    rows = systems(store, galaxy)
    members: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for s in rows:
        assert s["priority"] == priority_of(s["id"])
        assert s["lod_level"] is not None, "every system is in a node"
        assert s["lod_cell"] == s["code"] >> (3 * (MAX_LEVEL - s["lod_level"]))
        members[(s["lod_level"], s["lod_cell"])].append(s)
    for (level, cell), ms in members.items():
        assert len(ms) <= capacity or level == MAX_LEVEL, "no node exceeds its capacity"
        lo, hi = cell_code_range(level, cell)
        # candidates: systems of this cube that no ancestor holds
        candidates = sorted((s["priority"] for s in rows if lo <= s["code"] <= hi and s["lod_level"] >= level), reverse=True)
        assert sorted((s["priority"] for s in ms), reverse=True) == candidates[:capacity]
    table = nodes(store, galaxy)
    assert set(table) == set(members)
    for key, ms in members.items():
        ps = [s["priority"] for s in ms]
        assert (table[key]["count"], table[key]["min_priority"], table[key]["max_priority"]) == (len(ms), min(ps), max(ps))


_near_ten = st.floats(min_value=10, max_value=10.5)


@given(st.lists(st.tuples(_near_ten, _near_ten, _near_ten), min_size=2, max_size=12))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_node_of_one_keeps_its_bounds_through_demotions(store, points):
    """Capacity 1: every demotion empties and refills a node of a single member."""
    tiny(store, capacity=1, name="Single")
    gid = store._galaxy_key("Single")[0]
    store.conn.execute("DELETE FROM system WHERE galaxy_id = ?", (gid,))
    store.conn.execute("DELETE FROM lod_node WHERE galaxy_id = ?", (gid,))
    ids = [store.create("Single", validate_system({"name": f"One {i}", "x": x, "y": y, "z": z}))["id"]
           for i, (x, y, z) in enumerate(points)]
    check_invariants(store, capacity=1, galaxy="Single")
    store.delete(ids[len(ids) // 2])
    check_invariants(store, capacity=1, galaxy="Single")


def as_bulk(store) -> dict[int, tuple[int, int]]:
    rows = systems(store)
    ids = np.array([s["id"] for s in rows], dtype=np.int64)
    codes = np.array([s["code"] for s in rows], dtype=np.int64)
    levels, cells = assign_levels(codes, priorities_of(ids), CAPACITY)
    return {int(i): (int(lv), int(c)) for i, lv, c in zip(ids, levels, cells)}


coord = st.floats(min_value=-63, max_value=63, allow_nan=False)
clustered = st.one_of(coord, st.floats(min_value=10, max_value=10.5))
add = st.tuples(st.just("add"), clustered, clustered, clustered)
op = st.one_of(
    add,
    add,
    st.tuples(st.just("delete"), st.integers(0, 10_000)),
    st.tuples(st.just("move"), st.integers(0, 10_000), clustered, clustered, clustered),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(op, min_size=15, max_size=60))
def test_invariants_hold_after_random_writes(store, ops):
    tiny(store)
    gid = store._galaxy_key(TINY)[0]
    store.conn.execute("DELETE FROM system WHERE galaxy_id = ?", (gid,))
    store.conn.execute("DELETE FROM lod_node WHERE galaxy_id = ?", (gid,))
    live: list[int] = []
    for i, (kind, *args) in enumerate(ops):
        clock_before = store.galaxy(TINY)["lod_clock"]
        before = nodes(store)
        if kind == "add":
            x, y, z = args
            live.append(store.create(TINY, validate_system({"name": f"S{i}", "x": x, "y": y, "z": z}))["id"])
        elif kind == "delete" and live:
            store.delete(live.pop(args[0] % len(live)))
        elif kind == "move" and live:
            n, x, y, z = args
            store.patch(live[n % len(live)], validate_patch({"x": x, "y": y, "z": z}))
        else:
            continue
        after = nodes(store)
        for key, node in after.items():
            if key not in before or (before[key]["count"], before[key]["min_priority"], before[key]["max_priority"]) != (
                node["count"], node["min_priority"], node["max_priority"]
            ):
                assert node["version"] > clock_before, "a changed node gets a newer version"
    check_invariants(store)
    assert {s["id"]: (s["lod_level"], s["lod_cell"]) for s in systems(store)} == as_bulk(store)


def test_bulk_assignment_fills_levels_greedily():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 1 << 63, 20_000, dtype=np.int64)
    ids = np.arange(1, 20_001, dtype=np.int64)
    pr = priorities_of(ids)
    levels, cells = assign_levels(codes, pr, 100)
    assert (levels >= 0).all()
    root = levels == 0
    assert root.sum() == 100
    assert pr[root].min() > pr[~root].max()  # the root holds the 100 best of everything
    table = node_table(levels, cells, pr)
    assert sum(n for _, _, n, _, _ in table) == 20_000
    assert max(n for _, _, n, _, _ in table) <= 100


def test_priorities_match_between_scalar_and_vector():
    ids = np.array([1, 2, 3, 10**12, 2**62], dtype=np.int64)
    assert priorities_of(ids).tolist() == [priority_of(int(i)) for i in ids]
    assert all(0 <= p < 2**31 for p in priorities_of(ids).tolist())


def test_migration_rebuilds_existing_data(db_url):
    """Systems stored before the octree existed get their nodes on upgrade, and back."""
    from haven.store import init_store, migrate
    s = init_store(db_url)
    s.ensure_galaxy("Haven", lod_capacity=2)
    for i in range(10):
        s.create("Haven", validate_system({"name": f"M{i}", "x": i, "y": 0, "z": 0}))
    s.close()
    migrate.downgrade(db_url, "0001")
    migrate.upgrade(db_url)
    s = init_store(db_url)
    assert s.conn.execute("SELECT count(*) FROM system WHERE lod_level IS NULL").fetchone()[0] == 0
    assert sum(r[0] for r in s.conn.execute("SELECT count FROM lod_node")) == 10
    s.close()


def test_a_pick_index_beyond_64_bits_is_refused_at_every_level(store):
    """The deepest level has no capacity bound, but an index SQLite cannot hold is still bad input."""
    store.create(DEFAULT_GALAXY, validate_system({"name": "Picked", "x": 1.0, "y": 2.0, "z": 3.0}))
    for level in (0, MAX_LEVEL):
        with pytest.raises(InvalidInput) as err:
            store.lod_member(DEFAULT_GALAXY, level, 0, 2**63)
        assert err.value.field == "index"
