"""Helpers shared by the API tests (importable because pytest puts this folder on sys.path)."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from haven.model import validate_system

REGIONS = ("Euclid", "Hilbert", "Calypso")

AWKWARD_NAMES = (
    "AMOT 16/O5",
    "a/b/c",
    "/leading slash",
    "trailing slash/",
    "100% pure",
    "%2F literally",
    "what? really",
    "#hashtag",
    "a+b=c&d",
    "semi;colon,comma",
    "back\\slash",
    "Ünïcödé Śtår",
    "星系 銀河",
    "🚀 Rocket 🪐",
    "..hidden",
    "../../etc/passwd",
    "..",
    ".",
    "quote\"d 'name'",
    "tab-free <b>html</b>",
    "visible",
    "search",
)


def enc(name: str) -> str:
    """One path segment for a name. Dots are escaped too so ``.``/``..`` are not dot-segments."""
    return quote(name, safe="").replace(".", "%2E")


def make_system(i: int, rng: random.Random, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"Sys {i:04d} {rng.choice('ABCDEFGH')}",
        "x": round(rng.uniform(-100, 100), 3),
        "y": round(rng.uniform(-100, 100), 3),
        "z": round(rng.uniform(-100, 100), 3),
        "region": REGIONS[i % len(REGIONS)],
        "materials": rng.choice(["Copper, Gold", "Iron", "Dioxite", None]),
        "attributes": rng.choice(["lush", "toxic", None]),
    }
    data.update(over)
    return data


def seed(store, n: int, *, seed_value: int = 7, galaxy: str = "Haven") -> list[dict[str, Any]]:
    """``n`` systems written straight to the store in one transaction, returned as stored rows (id order)."""
    rng = random.Random(seed_value)
    systems = [validate_system(make_system(i, rng)) for i in range(n)]
    store.import_systems(galaxy, systems)
    return [store.system_by_name(galaxy, s.name) for s in systems]


def dump(store, galaxy: str = "Haven") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Everything observable about a galaxy: stats (without file sizes) and every system with children."""
    stats = store.stats(galaxy)
    stats.pop("database_size_bytes", None)
    stats.pop("wal_size_bytes", None)
    return stats, list(store.iter_systems(galaxy))


FULL_SYSTEM = {
    "name": "Rhea Prime",
    "x": 12.5,
    "y": -3.25,
    "z": 40.0,
    "region": "Euclid",
    "fauna": "Abundant",
    "flora": "Sparse",
    "sentinel": "Low",
    "materials": "Copper, Gold",
    "base_location": "North pole",
    "photo": "rhea.png",
    "attributes": "lush",
    "extra": {"discoverer": "Ana"},
    "planets": [
        {
            "name": "Rhea I",
            "fauna": "None",
            "moons": [{"name": "Rhea I a", "orbit_radius": 1.5, "orbit_speed": 0.2}],
        },
        {"name": "Rhea II", "notes": "stormy"},
    ],
    "space_station": {"name": "Rhea Hub", "x": 1.0, "y": 2.0, "z": 3.0, "race": "Gek"},
}
