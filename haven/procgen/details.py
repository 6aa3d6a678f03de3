"""On-demand derivation of a system's planets, moons and space station.

A billion systems cannot afford stored child rows, so a system only stores its seed;
everything below it is re-derived, identically, whenever it is needed.

Returned structure (JSON-serialisable)::

    {
      "planets": [               # 1-6 planets
        {"name", "sentinel", "fauna", "flora",
         "properties",           # e.g. "Lush, 23.5 °C"
         "materials",            # ", "-separated, 2-4 entries
         "base_location": None, "photo": None, "notes",
         "moons": [              # 0-3 moons, same fields (without "moons") plus
            {..., "orbit_radius": float,   # thousands of km from the planet
                  "orbit_speed": float}],  # degrees per hour (Kepler: ∝ radius**-1.5)
        }, ...],
      "space_station": None | {"name", "x", "y", "z",       # LY, within 2 LY of the system
                               "race", "sell_percent", "buy_percent"},  # whole 0..100, as floats
    }

The bodies agree with the system's own summary when it is given (see :func:`conform_bodies`):
its materials are exactly the materials found on its planets and moons, and its flora, fauna
and sentinel levels are those of its richest or most guarded body.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from . import vocab
from .naming import make_word

#: Relative frequency of having 1..6 planets.
PLANET_COUNT_WEIGHTS: tuple[int, ...] = (10, 18, 24, 22, 16, 10)
#: Relative frequency of having 0..3 moons.
MOON_COUNT_WEIGHTS: tuple[int, ...] = (45, 30, 17, 8)
#: Largest distance (per axis, LY) of a space station from its system's position.
STATION_OFFSET_LY: float = 2.0
#: Orbit radius range of moons, thousands of km.
MOON_ORBIT_RANGE_KKM: tuple[float, float] = (60.0, 1500.0)
#: Orbit speed (deg / hour) of a moon at 1 (thousand km); speeds scale as radius**-1.5.
MOON_SPEED_AT_UNIT_RADIUS: float = 2000.0

#: A system's own fields its derived bodies agree with (see :func:`conform_bodies`).
SUMMARY_FIELDS: tuple[str, ...] = ("materials", "fauna", "flora", "sentinel")

_BIOME_NAMES = list(vocab.BIOMES)
_NON_GOLD = [m for m in vocab.MATERIALS if m != vocab.GOLD]
_NON_GOLD_WEIGHTS = [w for m, w in zip(vocab.MATERIALS, vocab.material_weights())
                     if m != vocab.GOLD]
_MATERIAL_ORDER = {m: i for i, m in enumerate(vocab.MATERIALS)}


def _level(rnd: random.Random, levels: tuple[str, ...], weights: tuple[float, ...],
           exponent: float) -> int:
    """Index of a level; ``exponent < 1`` shifts toward richer levels."""
    u = rnd.random() ** exponent
    total = sum(weights)
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w / total
        if u < acc:
            return i
    return len(levels) - 1


def _materials(rnd: random.Random) -> str:
    count = rnd.choices((2, 3, 4), weights=vocab.MATERIAL_COUNT_WEIGHTS)[0]
    picked = {vocab.GOLD} if rnd.random() < vocab.GOLD_PROBABILITY else set()
    while len(picked) < count:
        picked.add(rnd.choices(_NON_GOLD, weights=_NON_GOLD_WEIGHTS)[0])
    return vocab.MATERIAL_SEPARATOR.join(sorted(picked, key=_MATERIAL_ORDER.__getitem__))


def _body(rnd: random.Random, name: str, biome_weights: tuple[float, ...],
          hostility: float) -> dict[str, Any]:
    """Fields shared by planets and moons."""
    biome = rnd.choices(_BIOME_NAMES, weights=biome_weights)[0]
    t_min, t_max, life = vocab.BIOMES[biome]
    temperature_c = round(rnd.uniform(t_min, t_max), 1)
    if life <= 0.0:
        flora = fauna = 0
    else:
        life_exp = 0.6 + 2.0 * (1.0 - life)
        flora = _level(rnd, vocab.LIFE_LEVELS, vocab.LIFE_WEIGHTS, life_exp)
        fauna = min(_level(rnd, vocab.LIFE_LEVELS, vocab.LIFE_WEIGHTS, life_exp), flora + 1)
    sentinel = _level(rnd, vocab.SENTINEL_LEVELS, vocab.SENTINEL_WEIGHTS, hostility)
    note = rnd.choice(vocab.PLANET_NOTES) if rnd.random() < vocab.NOTE_PROBABILITY else ""
    return {
        "name": name,
        "sentinel": vocab.SENTINEL_LEVELS[sentinel],
        "fauna": vocab.LIFE_LEVELS[fauna],
        "flora": vocab.LIFE_LEVELS[flora],
        "properties": f"{biome}, {temperature_c:.1f} °C",
        "materials": _materials(rnd),
        "base_location": None,
        "photo": None,
        "notes": note,
    }


def _system_word(system_name: str) -> str:
    """First word of a system name (falls back to a placeholder for empty names)."""
    words = system_name.split()
    return words[0] if words else "Nameless"


def derive_details(system_seed: int, system_name: str, x_ly: float, y_ly: float,
                   z_ly: float, *, materials: str | None = None, fauna: str | None = None,
                   flora: str | None = None, sentinel: str | None = None) -> dict[str, Any]:
    """Planets (1-6, each with 0-3 moons) and an optional space station for one system.

    Deterministic: equal arguments always give equal results (``random.Random`` seeded
    with ``system_seed``; the name and position only flavour names and station position).
    ``materials``, ``fauna``, ``flora`` and ``sentinel`` are the system's own fields: the
    bodies are made to agree with them (:func:`conform_bodies`); names, biomes, moons and
    the station do not depend on them.
    """
    rnd = random.Random(int(system_seed))  # int(): also accept numpy integers
    x_ly, y_ly, z_ly = float(x_ly), float(y_ly), float(z_ly)
    system_name = str(system_name)
    hostility = rnd.uniform(0.6, 1.6)  # one temperament per system: < 1 is more hostile
    n_planets = rnd.choices(range(1, 7), weights=PLANET_COUNT_WEIGHTS)[0]
    family = _system_word(system_name)

    planets: list[dict[str, Any]] = []
    for p in range(n_planets):
        if rnd.random() < 0.5:
            name = f"{family} {vocab.ROMAN[p]}"
        else:
            name = make_word(rnd, rnd.choice((2, 2, 3)))
        planet = _body(rnd, name, vocab.BIOME_WEIGHTS, hostility)
        n_moons = rnd.choices(range(4), weights=MOON_COUNT_WEIGHTS)[0]
        radii = sorted(rnd.uniform(*MOON_ORBIT_RANGE_KKM) for _ in range(n_moons))
        moons: list[dict[str, Any]] = []
        for m, radius in enumerate(radii):
            moon_name = f"{name} {chr(ord('a') + m)}" if rnd.random() < 0.4 else make_word(rnd, 2)
            moon = _body(rnd, moon_name, vocab.MOON_BIOME_WEIGHTS, hostility)
            moon["orbit_radius"] = round(radius, 1)
            moon["orbit_speed"] = round(MOON_SPEED_AT_UNIT_RADIUS * radius ** -1.5, 4)
            moons.append(moon)
        planet["moons"] = moons
        planets.append(planet)

    station: dict[str, Any] | None = None
    if rnd.random() >= vocab.NO_STATION_PROBABILITY:
        sell = rnd.randint(55, 100)
        station = {
            "name": f"{make_word(rnd, rnd.choice((2, 3)))} {rnd.choice(vocab.STATION_KINDS)}",
            "x": round(x_ly + rnd.uniform(-STATION_OFFSET_LY, STATION_OFFSET_LY), 2),
            "y": round(y_ly + rnd.uniform(-STATION_OFFSET_LY, STATION_OFFSET_LY), 2),
            "z": round(z_ly + rnd.uniform(-STATION_OFFSET_LY, STATION_OFFSET_LY), 2),
            "race": rnd.choice(vocab.STATION_RACES),
            # whole numbers, as floats: what a stored station's percent is (an edit keeps it 62.0)
            "sell_percent": float(sell),
            "buy_percent": float(rnd.randint(10, min(sell, 95))),
        }
    conform_bodies(planets, random.Random(int(system_seed) ^ _CONFORM_SALT), materials=materials,
                   fauna=fauna, flora=flora, sentinel=sentinel)
    return {"planets": planets, "space_station": station}


def derive_system_details(system_seed: int, system: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`derive_details` for a system given as a mapping (a stored row or an API answer)
    with ``name``, ``x``, ``y``, ``z`` and its summary fields."""
    return derive_details(system_seed, system["name"], system["x"], system["y"], system["z"],
                          **{key: system[key] for key in SUMMARY_FIELDS})


#: Mixed into the seed of the second random stream :func:`conform_bodies` draws from, so the
#: main stream (names, biomes, moons, station) is the same with or without a summary.
_CONFORM_SALT: int = 0x5EED_C0F0


def _level_index(value: str | None, levels: tuple[str, ...]) -> int | None:
    """Index of a known level (``"Abundant"`` → 5), or None for no value or free text."""
    try:
        return levels.index(value) if value is not None else None
    except ValueError:
        return None


def _listed_materials(materials: str | None) -> list[str]:
    """The distinct materials of a ``", "``-separated list, in their order."""
    if not materials:
        return []
    items = (m.strip() for m in materials.split(vocab.MATERIAL_SEPARATOR.strip()))
    return list(dict.fromkeys(m for m in items if m))


def _biome(body: dict[str, Any]) -> str:
    return str(body["properties"]).split(",", 1)[0]


def conform_bodies(planets: list[dict[str, Any]], rnd: random.Random, *, materials: str | None,
                   fauna: str | None, flora: str | None, sentinel: str | None) -> None:
    """Make derived planets and moons agree with their system's summary, in place.

    A system's summary is what its bodies hold:

    * **materials**: every material the system lists is on at least one body, and no body
      holds one the system does not list (so a search for "Gold" finds exactly the
      systems with a Gold planet or moon);
    * **flora, fauna**: no body is richer than the system, and one living body is exactly
      as rich (a lifeless one is given a living biome if there is none);
    * **sentinel**: no body is more guarded than the system, and one is exactly as guarded.

    A field that is missing, or free text outside the known levels, leaves the bodies'
    own draws for that field as they are.
    """
    bodies = [b for p in planets for b in (p, *p["moons"])]
    listed = _listed_materials(materials)
    if listed:
        held = [set(rnd.sample(listed, min(len(b["materials"].split(vocab.MATERIAL_SEPARATOR)), len(listed))))
                for b in bodies]
        for material in listed:
            if not any(material in h for h in held):
                rnd.choice(held).add(material)
        for body, h in zip(bodies, held):
            body["materials"] = vocab.MATERIAL_SEPARATOR.join(m for m in listed if m in h)

    flora_max = _level_index(flora, vocab.LIFE_LEVELS)
    fauna_max = _level_index(fauna, vocab.LIFE_LEVELS)
    if flora_max is not None or fauna_max is not None:
        for body in bodies:
            body_flora = vocab.LIFE_LEVELS.index(body["flora"])
            if flora_max is not None:
                body_flora = min(body_flora, flora_max)
            body_fauna = min(vocab.LIFE_LEVELS.index(body["fauna"]), body_flora + 1)
            if fauna_max is not None:
                body_fauna = min(body_fauna, fauna_max)
            body["flora"], body["fauna"] = vocab.LIFE_LEVELS[body_flora], vocab.LIFE_LEVELS[body_fauna]
        if (flora_max or 0) > 0 or (fauna_max or 0) > 0:
            living = [b for b in bodies if vocab.BIOMES[_biome(b)][2] > 0.0]
            richest = rnd.choice(living) if living else _make_living(planets[0], rnd)
            if flora_max is not None:
                richest["flora"] = vocab.LIFE_LEVELS[flora_max]
            if fauna_max is not None:
                richest["fauna"] = vocab.LIFE_LEVELS[fauna_max]

    sentinel_max = _level_index(sentinel, vocab.SENTINEL_LEVELS)
    if sentinel_max is not None:
        for body in bodies:
            level = min(vocab.SENTINEL_LEVELS.index(body["sentinel"]), sentinel_max)
            body["sentinel"] = vocab.SENTINEL_LEVELS[level]
        rnd.choice(bodies)["sentinel"] = vocab.SENTINEL_LEVELS[sentinel_max]


def _make_living(body: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """Give a lifeless body a living biome (and a temperature in its range); returns it."""
    living = [(name, w) for name, w in zip(_BIOME_NAMES, vocab.BIOME_WEIGHTS) if vocab.BIOMES[name][2] > 0.0]
    biome = rnd.choices([n for n, _ in living], weights=[w for _, w in living])[0]
    t_min, t_max, _ = vocab.BIOMES[biome]
    body["properties"] = f"{biome}, {round(rnd.uniform(t_min, t_max), 1):.1f} °C"
    return body
