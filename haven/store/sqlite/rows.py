"""How a system's row becomes an API answer: the one column list every read uses,
packed rows for many at once, and the small conversions between stored and API values."""

from __future__ import annotations

import sqlite3
from typing import Any, Mapping, Sequence

import orjson

from haven.errors import InvalidInput
from haven.procgen.details import derive_system_details
from haven.store.base import MAX_LIMIT
from haven.timeutil import to_iso

_SYSTEM_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "s.id"), ("name", "s.name"), ("x", "s.x"), ("y", "s.y"), ("z", "s.z"), ("region", "r.name"),
    ("fauna", "s.fauna"), ("flora", "s.flora"), ("sentinel", "s.sentinel"), ("materials", "s.materials"),
    ("base_location", "s.base_location"), ("photo", "s.photo"), ("attributes", "s.attributes"),
    ("glyph", "s.glyph"), ("legacy_id", "s.legacy_id"), ("provenance", "s.provenance"),
    ("confidence", "s.confidence"), ("extra", "s.extra"), ("version", "s.version"),
    ("created_at", "s.created_at"), ("modified_at", "s.modified_at"),
)
SYSTEM_FIELD_NAMES = tuple(name for name, _ in _SYSTEM_FIELDS)
SYSTEM_COLUMNS = ", ".join(f"{sql} AS {name}" for name, sql in _SYSTEM_FIELDS)
SYSTEM_FROM = "system s LEFT JOIN region r ON r.id = s.region_id"

# Many rows at once (a 5,000-system sphere) cost mostly the Python objects the sqlite3
# module makes for each of their 21 values. Packed, SQLite writes the integer and
# text fields of a row as one JSON array that orjson decodes for all rows in one call,
# about half the cost; the REAL fields stay SQLite values because json_array prints
# them with 15 significant digits, and a double needs 17 to come back unchanged.
# Text fields are cast to TEXT: ``extra`` is stored as the bytes orjson writes (a BLOB).
_REAL_FIELDS = ("x", "y", "z", "confidence")
_INTEGER_FIELDS = ("id", "version", "created_at", "modified_at")
_REAL_SLOTS = tuple(SYSTEM_FIELD_NAMES.index(name) for name in _REAL_FIELDS)


def _packed_sql(name: str, sql: str) -> str:
    if name in _REAL_FIELDS:
        return "NULL"
    return sql if name in _INTEGER_FIELDS else f"CAST({sql} AS TEXT)"


PACKED_SYSTEM_COLUMNS = (
    "json_array(" + ", ".join(_packed_sql(name, sql) for name, sql in _SYSTEM_FIELDS) + "), "
    + ", ".join(sql for name, sql in _SYSTEM_FIELDS if name in _REAL_FIELDS)
)
#: The octree's change feed: nodes by version, on the index ``lod_node_version``.


def _finish_system(d: dict[str, Any]) -> dict[str, Any]:
    """Stored values → API values: ``extra`` parsed, times as ISO text."""
    d["extra"] = orjson.loads(d["extra"]) if d["extra"] else {}
    d["created_at"] = to_iso(d["created_at"])
    d["modified_at"] = to_iso(d["modified_at"])
    return d


def _fetch_systems(conn: sqlite3.Connection, sql: str, params: Any) -> list[dict[str, Any]]:
    """Rows of a ``SYSTEM_COLUMNS`` query as API dicts (plain tuples: ~3x cheaper than ``sqlite3.Row``)."""
    cur = conn.cursor()
    cur.row_factory = None
    rows = cur.execute(sql, params).fetchall()
    names = [c[0] for c in cur.description]
    return [_finish_system(dict(zip(names, row))) for row in rows]


def _unpack_systems(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows that start with ``PACKED_SYSTEM_COLUMNS`` as API dicts, in the same order."""
    if not rows:
        return []
    packed = orjson.loads("[" + ",".join([row[0] for row in rows]) + "]")
    out = []
    for row, values in zip(rows, packed):
        for slot, value in zip(_REAL_SLOTS, row[1:]):
            values[slot] = value
        out.append(_finish_system(dict(zip(SYSTEM_FIELD_NAMES, values))))
    return out


def _body_row(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["extra"] = orjson.loads(d["extra"]) if d["extra"] else {}
    return d


def _derived_children(seed: int, system: Mapping[str, Any]) -> dict[str, Any]:
    """Planets, moons and station of a procedurally generated system, shaped like stored ones."""
    details = derive_system_details(seed, system)
    for planet in details["planets"]:
        planet["extra"] = {}
        for moon in planet["moons"]:
            moon["extra"] = {}
    if details["space_station"] is not None:
        details["space_station"]["extra"] = {}
    return details


def _pending_lod(row: sqlite3.Row) -> bool:
    """Written by a bulk job that has not placed it in the octree yet (see haven.store.bulk)."""
    return row["lod_level"] is None or row["lod_level"] < 0


def _json_or_null(value: dict[str, Any]) -> bytes | None:
    return orjson.dumps(value) if value else None


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
