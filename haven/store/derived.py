"""A generated system's derived planets and station, stored: when one is first edited,
and for every generated system before a schema downgrade drops the seed."""

from __future__ import annotations

import sqlite3
from typing import Any, Mapping

from haven.model import PlanetIn, StationIn
from haven.procgen.details import derive_system_details


def derived_children(seed: int, system: Mapping[str, Any]) -> tuple[list[PlanetIn], StationIn | None]:
    """A seeded system's planets and station as input models (to store them)."""
    d = derive_system_details(seed, system)
    planets = [PlanetIn.model_validate(p) for p in d["planets"]]
    station = StationIn.model_validate(d["space_station"]) if d["space_station"] else None
    return planets, station


def materialize_seeded(store: Any, conn: sqlite3.Connection, row: Mapping[str, Any], *,
                       planets: bool = True, station: bool = True) -> None:
    """Store the derived planets and/or station of a seeded system (inside a write)."""
    derived_planets, derived_station = derived_children(row["seed"], row)
    store._insert_children(conn, row["id"], derived_planets if planets else [], derived_station if station else None)


def materialize_all_seeded(conn: sqlite3.Connection) -> int:
    """Store the derived children of every seeded system and clear the seeds.

    Used before a schema downgrade drops the ``seed`` column, so nothing is lost.
    """
    from haven.store.sqlite import SQLiteStore

    count = 0
    last = 0
    while True:
        rows = conn.execute(
            "SELECT id, name, x, y, z, seed, materials, fauna, flora, sentinel FROM system "
            "WHERE seed IS NOT NULL AND id > ? ORDER BY id LIMIT 1000",
            (last,),
        ).fetchall()
        if not rows:
            return count
        for system_id, name, x, y, z, seed, materials, fauna, flora, sentinel in rows:
            planets, station = derived_children(seed, {
                "name": name, "x": x, "y": y, "z": z,
                "materials": materials, "fauna": fauna, "flora": flora, "sentinel": sentinel})
            SQLiteStore._insert_children(conn, system_id, planets, station)
            conn.execute("UPDATE system SET seed = NULL WHERE id = ?", (system_id,))
            count += 1
        last = rows[-1][0]
