"""Nearest-first sphere queries stop early on dense spheres and still answer exactly."""

from __future__ import annotations

import math
import random

import pytest

from haven.model import validate_system

GALAXY = "Shells"


@pytest.fixture
def clustered(store):
    """A dense cluster inside a sparse field, on a grid coarse enough for exact ties."""
    return load_clustered(store)


@pytest.fixture
def clustered_deep(store):
    """The same systems in an octree of small nodes, as a big galaxy's would be: its counts tell
    the density near any point (with the default capacity this galaxy is one node)."""
    return load_clustered(store, lod_capacity=16)


def load_clustered(store, **galaxy):
    store.ensure_galaxy(GALAXY, half_size_ly=4096.0, **galaxy)
    rng = random.Random(11)
    systems = []
    for i in range(1500):
        if i % 3:
            x, y, z = (rng.gauss(0, 30) for _ in range(3))
        else:
            x, y, z = (rng.uniform(-2000, 2000) for _ in range(3))
        systems.append(validate_system({"name": f"S{i:04d}", "x": round(x), "y": round(y), "z": round(z)}))
    store.import_systems(GALAXY, systems)
    return store


def brute_force(store, centre, radius, limit):
    everything = list(store.iter_systems(GALAXY, batch_size=500))
    inside = []
    for s in everything:
        d2 = (s["x"] - centre[0]) ** 2 + (s["y"] - centre[1]) ** 2 + (s["z"] - centre[2]) ** 2
        if d2 <= radius * radius:
            inside.append((d2, s["id"]))
    return [system_id for _, system_id in sorted(inside)[:limit]]


@pytest.mark.parametrize("radius", [5, 40, 300, 2500])
@pytest.mark.parametrize("limit", [1, 7, 100, 1000])
def test_matches_brute_force_including_ties(clustered, radius, limit):
    rng = random.Random(radius * 1000 + limit)
    for _ in range(3):
        centre = (rng.choice([0, 15, -400]), rng.choice([0, -20]), rng.choice([0, 3]))
        got = clustered.near(GALAXY, *centre, radius, limit=limit)
        assert [s["id"] for s in got] == brute_force(clustered, centre, radius, limit)
        for s in got:
            assert s["distance"] == pytest.approx(math.dist(centre, (s["x"], s["y"], s["z"])))


@pytest.fixture
def scans(clustered, monkeypatch):
    """The number of code ranges of each index scan the clustered store makes."""
    scanned: list[int] = []
    original = clustered._codes_in

    def counting(galaxy_id, ranges):
        scanned.append(len(ranges))
        return original(galaxy_id, ranges)

    monkeypatch.setattr(clustered, "_codes_in", counting)
    return scanned


def test_a_dense_sphere_stops_before_the_outer_shells(clustered, scans):
    clustered.near(GALAXY, 0, 0, 0, 2000, limit=10)
    assert len(scans) == 1  # the 10 nearest lie in the first shell: the rest is never read


def test_a_sparse_sphere_is_read_in_one_scan(clustered, scans):
    # out in the sparse field: the octree's counts say a few systems at most
    got = clustered.near(GALAXY, -1500, 1500, 0, 300, limit=1000)
    assert len(scans) == 1
    assert [s["id"] for s in got] == brute_force(clustered, (-1500, 1500, 0), 300, 1000)


def test_the_density_hint_is_near_the_truth_and_none_without_an_octree(store):
    from haven.store.lod import systems_per_ly3_at

    store.ensure_galaxy(GALAXY, half_size_ly=4096.0)
    key = store._galaxy_key(GALAXY)
    assert systems_per_ly3_at(store.conn, key.id, key.cube.code(0, 0, 0), key.cube.side_ly) is None
    rng = random.Random(5)
    side = key.cube.side_ly  # 20,000 systems spread evenly over the galaxy's cube
    store.import_systems(GALAXY, [
        validate_system({"name": f"U{i}", **{axis: rng.uniform(-side / 2, side / 2) for axis in "xyz"}})
        for i in range(20_000)
    ])
    for point in ((0, 0, 0), (-3000, 2000, 1000), (4000, -4000, 4000)):
        density = systems_per_ly3_at(store.conn, key.id, key.cube.code(*point), side)
        assert 20_000 / side**3 / 2 < density < 20_000 / side**3 * 2


@pytest.fixture
def pairs_read(clustered_deep, monkeypatch):
    """How many (code, id) pairs the deep clustered store's index scans read, in total."""
    read: list[int] = []
    original = clustered_deep._codes_in

    def counting(galaxy_id, ranges):
        codes, ids = original(galaxy_id, ranges)
        read.append(len(ids))
        return codes, ids

    monkeypatch.setattr(clustered_deep, "_codes_in", counting)
    return read


@pytest.mark.parametrize("centre", [
    (0, 0, 0), (-1500, 1500, 0),  # in the cluster, and in the sparse field
    (4097, 0, 0),  # just outside the galaxy's cube
])
def test_a_huge_sphere_with_a_small_limit_reads_about_the_limit_not_the_galaxy(clustered_deep, pairs_read, centre):
    got = clustered_deep.near(GALAXY, *centre, 1e12, limit=3)
    assert [s["id"] for s in got] == brute_force(clustered_deep, centre, 1e12, 3)
    assert sum(pairs_read) < 150  # of 1,500: the shells grow from the centre and stop


@pytest.mark.parametrize("centre", [(0, 0, 0), (-1500, 1500, 0), (5000, 0, 0)])
def test_a_box_over_the_whole_galaxy_grows_from_its_centre_and_stops(clustered_deep, pairs_read, centre):
    lo, hi = tuple(c - 1e6 for c in centre), tuple(c + 1e6 for c in centre)
    got = clustered_deep.box(GALAXY, lo, hi, limit=3)
    assert [s["id"] for s in got] == brute_force(clustered_deep, centre, 1e12, 3)  # nearest the box's centre
    assert sum(pairs_read) < 150


@pytest.mark.parametrize("limit", [1, 50, 5000])
def test_boxes_match_brute_force(clustered, limit):
    rng = random.Random(limit)
    everything = list(clustered.iter_systems(GALAXY, batch_size=500))
    for _ in range(4):
        a = [rng.uniform(-2500, 2500) for _ in range(3)]
        b = [v + rng.choice([5, 60, 900, 4000]) for v in a]
        centre = tuple((p + q) / 2 for p, q in zip(a, b))
        inside = sorted(
            ((s["x"] - centre[0]) ** 2 + (s["y"] - centre[1]) ** 2 + (s["z"] - centre[2]) ** 2, s["id"])
            for s in everything if all(p <= s[k] <= q for k, p, q in zip("xyz", a, b)))
        got = clustered.box(GALAXY, tuple(a), tuple(b), limit=limit)
        assert [s["id"] for s in got] == [system_id for _, system_id in inside[:limit]]


@pytest.mark.parametrize("centre", [(0, 0, 0), (1e9, 0, 0)])
def test_a_radius_or_box_too_small_to_divide_is_one_scan(clustered, centre):
    assert clustered.near(GALAXY, *centre, 5e-324, limit=5) == []
    assert clustered.box(GALAXY, centre, (centre[0], centre[1], 1e-323), limit=5) == []
