"""Sphere and box queries against brute force over every system."""

from __future__ import annotations

import math
import random

import pytest
from apihelpers import seed


@pytest.fixture(scope="module")
def galaxy(module_store):
    return seed(module_store, 300, seed_value=11)


@pytest.fixture
def client(module_client, galaxy):
    """Every test here only reads: share one seeded store per module."""
    return module_client


def brute_near(rows, c, radius):
    hits = []
    for s in rows:
        d = math.dist((s["x"], s["y"], s["z"]), c)
        if d <= radius:
            hits.append((d, s["id"]))
    hits.sort()
    return hits


def test_near_matches_brute_force(client, galaxy):
    rng = random.Random(3)
    for _ in range(15):
        c = tuple(round(rng.uniform(-120, 120), 2) for _ in range(3))
        radius = rng.choice([0.5, 5, 20, 45, 80, 400])
        limit = rng.choice([1, 7, 100, 5000])
        r = client.get("/api/v1/systems/near", params={"x": c[0], "y": c[1], "z": c[2], "radius": radius, "limit": limit})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        expected = brute_near(galaxy, c, radius)[:limit]
        assert [s["id"] for s in items] == [i for _, i in expected]
        for s, (d, _) in zip(items, expected):
            assert s["distance"] == pytest.approx(d, rel=1e-9, abs=1e-9)
        assert [s["distance"] for s in items] == sorted(s["distance"] for s in items)
        assert r.json()["count"] == len(items)


def test_legacy_visible_matches_brute_force(client, galaxy):
    r = client.get("/api/systems/visible", params={"cx": 10, "cy": -5, "cz": 3, "radius": 60, "limit": 40})
    assert r.status_code == 200
    items = r.json()
    assert isinstance(items, list)
    expected = brute_near(galaxy, (10, -5, 3), 60)[:40]
    assert [s["id"] for s in items] == [str(i) for _, i in expected]
    assert all(set(s) >= {"id", "name", "x", "y", "z", "region", "distance"} for s in items)


def test_legacy_visible_defaults(client, galaxy):
    items = client.get("/api/systems/visible").json()
    assert [s["id"] for s in items] == [str(i) for _, i in brute_near(galaxy, (0, 0, 0), 50)]


def test_box_matches_brute_force(client, galaxy):
    lo, hi = (-30.0, -60.0, -10.0), (50.0, 10.0, 70.0)
    params = {"min_x": lo[0], "min_y": lo[1], "min_z": lo[2], "max_x": hi[0], "max_y": hi[1], "max_z": hi[2], "limit": 5000}
    r = client.get("/api/v1/systems/box", params=params)
    assert r.status_code == 200
    got = {s["id"] for s in r.json()["items"]}
    expected = {s["id"] for s in galaxy if all(lo[i] <= (s["x"], s["y"], s["z"])[i] <= hi[i] for i in range(3))}
    assert got == expected and expected


@pytest.mark.parametrize(
    "params, field",
    [
        ({"x": 0, "y": 0, "z": 0, "radius": 0}, "radius"),
        ({"x": 0, "y": 0, "z": 0, "radius": -1}, "radius"),
        ({"x": 0, "y": 0, "z": 0, "radius": "nan"}, "radius"),
        ({"x": 0, "y": 0, "z": 0, "radius": "inf"}, "radius"),
        ({"x": 0, "y": 0, "z": 0, "radius": "1e999"}, "radius"),
        ({"x": 0, "y": 0, "z": 0, "radius": "far"}, "radius"),
        ({"x": "nan", "y": 0, "z": 0, "radius": 1}, "x"),
        ({"x": 0, "y": "-inf", "z": 0, "radius": 1}, "y"),
        ({"x": 0, "y": 0, "z": "zed", "radius": 1}, "z"),
        ({"x": 0, "y": 0, "radius": 1}, "z"),
        ({"x": 0, "y": 0, "z": 0, "radius": 1, "limit": 5001}, "limit"),
    ],
)
def test_near_bad_input_is_400(client, params, field):
    r = client.get("/api/v1/systems/near", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize(
    "params, word",
    [
        ({"radius": 0}, "radius"),
        ({"radius": "nan"}, "radius"),
        ({"radius": "inf"}, "radius"),
        ({"radius": "abc"}, "radius"),
        ({"cx": "nan"}, "cx"),
        ({"cz": "1e999"}, "cz"),
        ({"limit": 5001}, "limit"),
        ({"limit": 0}, "limit"),
    ],
)
def test_legacy_visible_bad_input_is_400(client, params, word):
    r = client.get("/api/systems/visible", params=params)
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert word in body["error"]


def test_near_huge_values_do_not_fail(client, galaxy):
    for params in ({"x": 1e300, "y": 0, "z": 0, "radius": 1e300}, {"x": 0, "y": 0, "z": 0, "radius": 1e-300},
                   {"x": -1e308, "y": 1e308, "z": 0, "radius": 5}):
        r = client.get("/api/v1/systems/near", params=params)
        assert r.status_code in (200, 400), r.text


def test_box_bad_bounds(client):
    params = {"min_x": 5, "min_y": 0, "min_z": 0, "max_x": 1, "max_y": 1, "max_z": 1}
    r = client.get("/api/v1/systems/box", params=params)
    assert r.status_code == 400 and r.json()["error"]["field"] == "min_x"  # a parameter of this route, not an axis
    r = client.get("/api/v1/systems/box", params={**params, "min_x": "nan"})
    assert r.status_code == 400
