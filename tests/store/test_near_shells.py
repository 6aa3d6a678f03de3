"""Nearest-first sphere queries stop early on dense spheres and still answer exactly."""

from __future__ import annotations

import math
import random

import pytest

from haven.model import validate_system
from haven.spatial import sphere_code_shells

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


def test_shells_cover_the_sphere_once_nearest_first(store):
    cube = store._galaxy_key("Haven").cube
    shells = sphere_code_shells(cube, 100.0, -50.0, 7.0, 500.0)
    bounds = [b for b, _ in shells]
    assert bounds == sorted(bounds) and bounds[-1] == 500.0
    flat = [r for _, ranges in shells for r in ranges]
    for (lo1, hi1), (lo2, hi2) in zip(sorted(flat), sorted(flat)[1:]):
        assert hi1 < lo2  # no code is scanned twice
    centre_code = cube.code(100.0, -50.0, 7.0)
    assert any(lo <= centre_code <= hi for lo, hi in shells[0][1])


def test_a_dense_sphere_stops_before_the_outer_shells(clustered, monkeypatch):
    scanned: list[int] = []
    original = clustered._nearest_ids

    def counting(galaxy_id, ranges, where, params):
        scanned.append(len(ranges))
        return original(galaxy_id, ranges, where, params)

    monkeypatch.setattr(clustered, "_nearest_ids", counting)
    clustered.near(GALAXY, 0, 0, 0, 2000, limit=10)
    assert len(scanned) < 4  # the 10 nearest lie in the cluster: the outer shells are never read
