"""Tests for haven.procgen.details.derive_details."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from haven.procgen import GalaxySpec, derive_details, generate_batch, vocab
from haven.procgen.details import MOON_ORBIT_RANGE_KKM, STATION_OFFSET_LY

BODY_KEYS = {"name", "sentinel", "fauna", "flora", "properties", "materials",
             "base_location", "photo", "notes"}
STATION_KEYS = {"name", "x", "y", "z", "race", "sell_percent", "buy_percent"}
PROPERTIES_RE = re.compile(r"^(?P<biome>[A-Za-z]+), (?P<temp>-?\d+\.\d) °C$")
MATERIAL_ORDER = {m: i for i, m in enumerate(vocab.MATERIALS)}

seeds = st.integers(0, 2**63 - 1)
coords = st.floats(-50_000, 50_000, allow_nan=False)


def check_body(body: dict[str, Any]) -> None:
    assert body["name"] and body["name"] == body["name"].strip()
    assert body["sentinel"] in vocab.SENTINEL_LEVELS
    assert body["fauna"] in vocab.LIFE_LEVELS and body["flora"] in vocab.LIFE_LEVELS
    match = PROPERTIES_RE.match(body["properties"])
    assert match, body["properties"]
    t_min, t_max, life = vocab.BIOMES[match["biome"]]
    assert t_min - 0.05 <= float(match["temp"]) <= t_max + 0.05
    if life == 0.0:
        assert body["fauna"] == body["flora"] == "None"
    items = body["materials"].split(", ")
    assert 2 <= len(items) <= 4 and len(set(items)) == len(items)
    assert [MATERIAL_ORDER[m] for m in items] == sorted(MATERIAL_ORDER[m] for m in items)
    assert body["base_location"] is None and body["photo"] is None
    assert body["notes"] == "" or body["notes"] in vocab.PLANET_NOTES


def check_details(details: dict[str, Any], x: float, y: float, z: float) -> None:
    assert set(details) == {"planets", "space_station"}
    assert 1 <= len(details["planets"]) <= 6
    for planet in details["planets"]:
        assert set(planet) == BODY_KEYS | {"moons"}
        check_body(planet)
        assert 0 <= len(planet["moons"]) <= 3
        radii = []
        for moon in planet["moons"]:
            assert set(moon) == BODY_KEYS | {"orbit_radius", "orbit_speed"}
            check_body(moon)
            assert isinstance(moon["orbit_radius"], float)
            assert isinstance(moon["orbit_speed"], float)
            lo, hi = MOON_ORBIT_RANGE_KKM
            assert lo <= moon["orbit_radius"] <= hi and moon["orbit_speed"] > 0
            radii.append((moon["orbit_radius"], moon["orbit_speed"]))
        # Inner moons orbit faster (Kepler).
        assert [s for _, s in sorted(radii)] == sorted((s for _, s in radii), reverse=True)
    station = details["space_station"]
    if station is not None:
        assert set(station) == STATION_KEYS
        assert station["name"] and station["race"] in vocab.STATION_RACES
        for key, centre in (("x", x), ("y", y), ("z", z)):
            assert isinstance(station[key], float)
            assert abs(station[key] - centre) <= STATION_OFFSET_LY + 0.01
        for key in ("sell_percent", "buy_percent"):  # floats, as stored stations hold them
            assert isinstance(station[key], float) and station[key].is_integer() and 0 <= station[key] <= 100


@settings(max_examples=200, deadline=None)
@given(seed=seeds, x=coords, y=coords, z=st.floats(-3_000, 3_000, allow_nan=False))
def test_fields_and_ranges(seed: int, x: float, y: float, z: float) -> None:
    details = derive_details(seed, "Tauvex Drimor KM-0417", x, y, z)
    check_details(details, x, y, z)
    json.dumps(details)  # serialisable as-is


@settings(max_examples=50, deadline=None)
@given(seed=seeds, x=coords, y=coords)
def test_deterministic(seed: int, x: float, y: float) -> None:
    a = derive_details(seed, "Ossa KA-001", x, y, 10.0)
    derive_details(seed + 1, "Other XY-999", 0.0, 0.0, 0.0)  # no hidden state
    assert derive_details(seed, "Ossa KA-001", x, y, 10.0) == a
    assert json.dumps(a) == json.dumps(derive_details(seed, "Ossa KA-001", x, y, 10.0))


def test_distributions_over_many_systems() -> None:
    n = 2_000
    results = [derive_details(s, "Vel KA-001", 0.0, 0.0, 0.0) for s in range(n)]
    with_station = sum(r["space_station"] is not None for r in results) / n
    assert 0.75 < with_station < 0.85
    planet_counts = Counter(len(r["planets"]) for r in results)
    assert set(planet_counts) == {1, 2, 3, 4, 5, 6}
    moon_counts = Counter(len(p["moons"]) for r in results for p in r["planets"])
    assert set(moon_counts) == {0, 1, 2, 3}
    planets = [p for r in results for p in r["planets"]]
    flora = Counter(p["flora"] for p in planets)
    assert flora["None"] > flora["Bountiful"]
    gold = sum("Gold" in p["materials"].split(", ") for p in planets) / len(planets)
    assert 0.03 < gold < 0.07
    # About half of first planets are "Vel I"; the rest get their own words.
    assert len({r["planets"][0]["name"] for r in results}) > n // 3
    assert any(p["notes"] for p in planets) and any(not p["notes"] for p in planets)


def test_works_with_generated_systems() -> None:
    batch = generate_batch(GalaxySpec(n_systems=50, seed=3), 0)
    for i in range(batch.count):
        args = (batch.seed[i], batch.name[i], batch.x_ly[i], batch.y_ly[i], batch.z_ly[i])
        details = derive_details(*args)  # numpy scalars are accepted
        check_details(details, float(batch.x_ly[i]), float(batch.y_ly[i]), float(batch.z_ly[i]))
        assert details == derive_details(int(batch.seed[i]), str(batch.name[i]),
                                         float(batch.x_ly[i]), float(batch.y_ly[i]),
                                         float(batch.z_ly[i]))
        json.dumps(details)
    # Different systems get different details.
    firsts = {json.dumps(derive_details(int(s), "A B", 0.0, 0.0, 0.0)) for s in batch.seed}
    assert len(firsts) == batch.count


def test_planet_names_may_reuse_system_word() -> None:
    names = [p["name"] for s in range(300)
             for p in derive_details(s, "Kloudi GQ-7211", 1.0, 2.0, 3.0)["planets"]]
    assert any(n.startswith("Kloudi ") for n in names)
    assert all(n.strip() == n and len(n) <= 60 for n in names)
    assert np.mean([n.startswith("Kloudi ") for n in names]) < 0.8


def bodies_of(details: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for p in details["planets"] for b in (p, *p["moons"])]


def life_index(level: str) -> int:
    return vocab.LIFE_LEVELS.index(level)


summaries = st.fixed_dictionaries({
    "materials": st.lists(st.sampled_from(vocab.MATERIALS), min_size=1, max_size=4, unique=True)
    .map(lambda ms: ", ".join(sorted(ms, key=MATERIAL_ORDER.__getitem__))),
    "flora": st.sampled_from(vocab.LIFE_LEVELS),
    "fauna": st.sampled_from(vocab.LIFE_LEVELS),
    "sentinel": st.sampled_from(vocab.SENTINEL_LEVELS),
})


@settings(max_examples=300, deadline=None)
@given(seed=seeds, summary=summaries)
def test_bodies_agree_with_the_system_summary(seed: int, summary: dict[str, str]) -> None:
    """A system's materials are its bodies' materials; its levels are its richest body's."""
    details = derive_details(seed, "Ossa KA-001", 1.0, 2.0, 3.0, **summary)
    bodies = bodies_of(details)
    listed = summary["materials"].split(", ")
    held = [b["materials"].split(", ") for b in bodies]
    assert all(h and set(h) <= set(listed) for h in held)
    assert {m for h in held for m in h} == set(listed)
    assert all(h == sorted(h, key=listed.index) for h in held)  # the system's order
    for field, levels in (("flora", vocab.LIFE_LEVELS), ("fauna", vocab.LIFE_LEVELS),
                          ("sentinel", vocab.SENTINEL_LEVELS)):
        assert max(levels.index(b[field]) for b in bodies) == levels.index(summary[field]), field
    for body in bodies:
        _, _, life = vocab.BIOMES[PROPERTIES_RE.match(body["properties"])["biome"]]
        if life == 0.0:
            assert body["fauna"] == body["flora"] == "None"
    # Names, moons and station come from the seed alone.
    plain = derive_details(seed, "Ossa KA-001", 1.0, 2.0, 3.0)
    assert [b["name"] for b in bodies] == [b["name"] for b in bodies_of(plain)]
    assert details["space_station"] == plain["space_station"]


@settings(max_examples=100, deadline=None)
@given(seed=seeds)
def test_free_text_summary_leaves_the_draws(seed: int) -> None:
    """Levels outside the known ones (hand-typed in an import) constrain nothing."""
    plain = derive_details(seed, "Ossa KA-001", 1.0, 2.0, 3.0)
    free = derive_details(seed, "Ossa KA-001", 1.0, 2.0, 3.0, materials="", fauna="Lots",
                          flora=None, sentinel="Unknown")
    assert free == plain


def test_generated_systems_hold_what_their_summary_says() -> None:
    """Over a generated batch, Gold systems (about 5 %) and only they have a Gold body."""
    batch = generate_batch(GalaxySpec(n_systems=2_000, seed=11), 0)
    gold_systems = 0
    for i in range(batch.count):
        details = derive_details(batch.seed[i], batch.name[i], batch.x_ly[i], batch.y_ly[i], batch.z_ly[i],
                                 materials=str(batch.materials[i]), fauna=str(batch.fauna[i]),
                                 flora=str(batch.flora[i]), sentinel=str(batch.sentinel[i]))
        has_gold = "Gold" in str(batch.materials[i]).split(", ")
        gold_systems += has_gold
        assert any("Gold" in b["materials"].split(", ") for b in bodies_of(details)) == has_gold
        assert max(life_index(b["fauna"]) for b in bodies_of(details)) == life_index(str(batch.fauna[i]))
    assert 0.03 < gold_systems / batch.count < 0.07
