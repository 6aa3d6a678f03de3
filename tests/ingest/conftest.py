"""Fixtures for the ingest tests: fixture files, an old-schema haven.db builder, snapshots."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # for the import_checks module
    sys.path.insert(0, HERE)

FIXTURES = Path(__file__).parent / "fixtures"

# The legacy tool's schema, as its haven.db files carry it.
LEGACY_SCHEMA = [
    """CREATE TABLE systems (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        x REAL NOT NULL,
        y REAL NOT NULL,
        z REAL NOT NULL,
        region TEXT NOT NULL,
        fauna TEXT,
        flora TEXT,
        sentinel TEXT,
        materials TEXT,
        base_location TEXT,
        photo TEXT,
        attributes TEXT,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        modified_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
    )""",
    """CREATE TABLE planets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        system_id TEXT NOT NULL,
        name TEXT NOT NULL,
        sentinel TEXT,
        fauna TEXT,
        flora TEXT,
        properties TEXT,
        materials TEXT,
        base_location TEXT,
        photo TEXT,
        notes TEXT,
        FOREIGN KEY (system_id) REFERENCES systems(id) ON DELETE CASCADE,
        UNIQUE(system_id, name)
    )""",
    """CREATE TABLE moons (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        planet_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        sentinel TEXT,
        fauna TEXT,
        flora TEXT,
        properties TEXT,
        materials TEXT,
        base_location TEXT,
        photo TEXT,
        notes TEXT,
        orbit_radius REAL DEFAULT 0.5,
        orbit_speed REAL DEFAULT 0.05,
        FOREIGN KEY (planet_id) REFERENCES planets(id) ON DELETE CASCADE
    )""",
    """CREATE TABLE space_stations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        system_id TEXT NOT NULL,
        name TEXT NOT NULL,
        x REAL NOT NULL,
        y REAL NOT NULL,
        z REAL NOT NULL,
        race TEXT,
        sell_percent INTEGER,
        buy_percent INTEGER,
        FOREIGN KEY (system_id) REFERENCES systems(id) ON DELETE CASCADE
    )""",
    """CREATE TABLE _metadata (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
    )""",
    "CREATE INDEX idx_systems_region ON systems(region)",
    "CREATE INDEX idx_systems_coords ON systems(x, y, z)",
    "CREATE INDEX idx_systems_name ON systems(name)",
    "CREATE INDEX idx_planets_system ON planets(system_id)",
    "CREATE INDEX idx_moons_planet ON moons(planet_id)",
    "CREATE INDEX idx_space_stations_system ON space_stations(system_id)",
    """CREATE TABLE discoveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        discovery_type TEXT NOT NULL,
        discovery_name TEXT,
        system_id TEXT,
        planet_id INTEGER,
        moon_id INTEGER,
        location_type TEXT NOT NULL,
        description TEXT NOT NULL,
        discovered_by TEXT,
        submission_timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (system_id) REFERENCES systems(id) ON DELETE SET NULL
    )""",
]

SYSTEM_ROWS = [
    # id, name, x, y, z, region, fauna, flora, sentinel, materials, base_location, photo, attributes, created, modified
    ("SYS_GLOAM_1A2B3C4D", "Gloamreach[VH]", 5.0, 5.0, 0.0, "Gloam", None, None, None, None, None, None,
     "Region: Tessel Verge\nEconomy: Trading // Wealthy\n\nA quiet system.",
     "2025-06-01 10:00:00", "2025-06-02 11:30:00"),
    ("SYS_CORE_1749000000", "Pell", 10.0, 0.0, 10.0, "Core", "", "", "", "", "Planet 1", None, "Is nice",
     "2025-06-03 12:00:00", "2025-06-03 12:00:00"),
    ("1749000123456", "Quill sixty", 52.0, 31.0, 47.0, "Frontier", "Low", "Medium", "Aggressive",
     "Magnesium", "No", None, "No", "2025-06-04 13:00:00", "2025-06-04 13:00:00"),
]
PLANET_ROWS = [
    # id, system_id, name, sentinel, fauna, flora, properties, materials, base_location, photo, notes
    (1, "SYS_GLOAM_1A2B3C4D", "The Lantern", "None", "High", "Low", "Shell-Strewn",
     "Silver\nGold", "N/A", "N/A", "Other Notes: glitches"),
    (2, "SYS_GLOAM_1A2B3C4D", "Exo-4411", "Low", "Mid", "None", "Capped", "Cobalt", "N/A", "N/A", "N/A"),
    (3, "SYS_CORE_1749000000", "Abrel", None, "Low", "None", None, None, None, None, None),
    (4, "SYS_GONE", "Orphan", None, None, None, None, None, None, None, None),
]
MOON_ROWS = [
    # id, planet_id, name, sentinel, fauna, flora, properties, materials, base_location, photo, notes, r, speed
    (1, 1, "Mirra", "Medium", "None", "None", "Type: Desolate", "Scrap", "N/A", "N/A", "calm", 0.5, 0.05),
    (2, 1, "Uko", "Medium", "Mid", "High", "Type: Corrosive", "Mold", "N/A", "N/A", "N/A", 0.8, 0.02),
]
STATION_ROWS = [
    # id, system_id, name, x, y, z, race, sell, buy
    (1, "SYS_GLOAM_1A2B3C4D", "Gloamreach[VH] Station", 0.0, 0.0, 0.0, "Vy'keen", 80, 120),
]


def build_legacy_db(path: Path, *, unknown_column: bool = False) -> Path:
    """An old haven.db in the legacy schema, filled with invented systems."""
    conn = sqlite3.connect(path)
    try:
        for statement in LEGACY_SCHEMA:
            conn.execute(statement)
        conn.executemany("INSERT INTO systems VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", SYSTEM_ROWS)
        conn.executemany("INSERT INTO planets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", PLANET_ROWS)
        conn.executemany("INSERT INTO moons VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", MOON_ROWS)
        conn.executemany("INSERT INTO space_stations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", STATION_ROWS)
        conn.executemany(
            "INSERT INTO _metadata (key, value) VALUES (?, ?)", [("version", "1.0.0"), ("last_import", "")]
        )
        conn.execute(
            "INSERT INTO discoveries (discovery_type, system_id, location_type, description) "
            "VALUES ('ruin', 'SYS_GLOAM_1A2B3C4D', 'planet', 'an old monolith')"
        )
        if unknown_column:
            conn.execute("ALTER TABLE systems ADD COLUMN glyph_code TEXT")
            conn.execute("ALTER TABLE planets ADD COLUMN biome TEXT")
            conn.execute("UPDATE systems SET glyph_code = '0123ABCDEF01' WHERE name = 'Pell'")
            conn.execute("UPDATE planets SET biome = 'Lush' WHERE name = 'Abrel'")
        conn.commit()
    finally:
        conn.close()
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def legacy_db(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``legacy_db(unknown_column=False)`` → path of a freshly built old haven.db."""

    def make(name: str = "old_haven.db", **kwargs: Any) -> Path:
        return build_legacy_db(tmp_path / name, **kwargs)

    return make


def normalise(system: dict[str, Any]) -> dict[str, Any]:
    """A stored system without what each write assigns (ids, version)."""
    s = {k: v for k, v in system.items() if k not in ("id", "version", "galaxy")}
    s["planets"] = [
        {**{k: v for k, v in p.items() if k != "id"},
         "moons": [{k: v for k, v in m.items() if k != "id"} for m in p["moons"]]}
        for p in system["planets"]
    ]
    return s


@pytest.fixture(scope="session")
def snapshot() -> Callable[[Any, str], list[dict[str, Any]]]:
    """``snapshot(store, galaxy)`` → every system, normalised, in name order."""

    def take(store: Any, galaxy: str) -> list[dict[str, Any]]:
        return [normalise(s) for s in store.iter_systems(galaxy)]

    return take

