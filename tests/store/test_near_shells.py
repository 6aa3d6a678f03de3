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


def test_a_dense_sphere_stops_before_the_outer_shells(clustered, monkeypatch):
    scanned: list[int] = []
    original = clustered._codes_in

    def counting(galaxy_id, ranges):
        scanned.append(len(ranges))
        return original(galaxy_id, ranges)

    monkeypatch.setattr(clustered, "_codes_in", counting)
    clustered.near(GALAXY, 0, 0, 0, 2000, limit=10)
    assert len(scanned) == 1  # the 10 nearest lie in the first shell: the rest is never read
