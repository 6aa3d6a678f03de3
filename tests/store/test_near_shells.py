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
    store.ensure_galaxy(GALAXY, half_size_ly=4096.0)
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
