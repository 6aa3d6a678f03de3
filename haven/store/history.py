"""The change history behind undo.

Every single-system write (create, replace, patch, delete) records one entry in
``system_change`` in the same transaction as the change, holding the system as
it was stored before: its fields, its seed and its *stored* children (a
generated system whose details are still derived keeps only its seed). Undo
takes a system's latest entry, puts that state back and removes the entry, so
undoing again walks further back. Bulk loads are not recorded.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from pydantic import ValidationError

from haven.errors import Conflict
from haven.model import RESTORING, MoonIn, PlanetIn, StationIn, SystemIn, invalid_from_validation
from haven.timeutil import now_ms

HISTORY_LIMIT = 100_000  # entries kept (all galaxies); older ones are dropped as new ones arrive

_ROW_FIELDS = (
    "name", "x", "y", "z", "fauna", "flora", "sentinel", "materials", "base_location", "photo",
    "attributes", "glyph", "legacy_id", "provenance", "confidence", "extra", "seed", "created_at",
)
_PLANET_FIELDS = set(PlanetIn.model_fields)
_MOON_FIELDS = set(MoonIn.model_fields)
_STATION_FIELDS = set(StationIn.model_fields)


def _keep(d: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k in fields}


def snapshot(conn: sqlite3.Connection, system_id: int, children: dict[str, Any]) -> dict[str, Any]:
    """The stored state of a system: row fields, region name, and its stored children.

    ``children`` is the store's ``_children`` answer for this system (stored rows only).
    """
    row = conn.execute(
        "SELECT s.*, r.name AS region_name FROM system s LEFT JOIN region r ON r.id = s.region_id "
        "WHERE s.id = ?",
        (system_id,),
    ).fetchone()
    state = {k: row[k] for k in _ROW_FIELDS}
    state["version"] = row["version"]  # an undone delete comes back one above it, never at a version seen before
    state["extra"] = orjson.loads(row["extra"]) if row["extra"] else {}
    state["region"] = row["region_name"]
    state["planets"] = [
        {**_keep(p, _PLANET_FIELDS - {"moons"}), "moons": [_keep(m, _MOON_FIELDS) for m in p["moons"]]}
        for p in children["planets"]
    ]
    station = children["space_station"]
    state["space_station"] = _keep(station, _STATION_FIELDS) if station else None
    return state


def record(
    conn: sqlite3.Connection,
    galaxy_id: int,
    system_id: int,
    op: str,
    before: dict[str, Any] | None,
    version_after: int | None,
) -> None:
    """Add one entry and drop the oldest beyond ``HISTORY_LIMIT`` (a primary-key range delete)."""
    entry_id = conn.execute(
        "INSERT INTO system_change (galaxy_id, system_id, op, version_after, before, at) VALUES (?, ?, ?, ?, ?, ?)",
        (galaxy_id, system_id, op, version_after, orjson.dumps(before) if before is not None else None, now_ms()),
    ).lastrowid
    if entry_id > HISTORY_LIMIT:
        conn.execute("DELETE FROM system_change WHERE id <= ?", (entry_id - HISTORY_LIMIT,))


def latest(conn: sqlite3.Connection, system_id: int) -> sqlite3.Row | None:
    """The newest entry of a system, or None."""
    return conn.execute(
        "SELECT id, galaxy_id, op, version_after, before FROM system_change "
        "WHERE system_id = ? ORDER BY id DESC LIMIT 1",
        (system_id,),
    ).fetchone()


def entries(conn: sqlite3.Connection, system_id: int, limit: int) -> list[dict[str, Any]]:
    """A system's entries, newest first, without their snapshots."""
    rows = conn.execute(
        "SELECT id, op, version_after, at FROM system_change WHERE system_id = ? ORDER BY id DESC LIMIT ?",
        (system_id, limit),
    ).fetchall()
    return [{"id": r["id"], "op": r["op"], "version": r["version_after"], "at_ms": r["at"]} for r in rows]


def forget(conn: sqlite3.Connection, entry_id: int) -> None:
    conn.execute("DELETE FROM system_change WHERE id = ?", (entry_id,))


def now_at_version(conn: sqlite3.Connection, system_id: int, version: int) -> None:
    """After an undo, the state the next entry produced is back at ``version``: note it,
    so that entry's own undo still sees no change from outside the history."""
    conn.execute(
        "UPDATE system_change SET version_after = ? WHERE id = "
        "(SELECT id FROM system_change WHERE system_id = ? ORDER BY id DESC LIMIT 1) AND op != 'delete'",
        (version, system_id),
    )


def restored_system(before: bytes) -> tuple[SystemIn, int | None, int]:
    """The SystemIn, seed and creation time (ms) stored in an entry's snapshot.

    ``version`` is the version the system had when the snapshot was taken
    (None in entries written before snapshots kept it).
    """
    state = orjson.loads(before)
    seed = state.pop("seed")
    created_ms = state.pop("created_at")
    try:
        return SystemIn.model_validate(state, context=RESTORING), seed, created_ms
    except ValidationError as exc:  # a rule newer than the entry; the undo cannot write it back
        raise Conflict(f"the recorded state cannot be restored: {invalid_from_validation(exc)}") from None
