"""Row ids of systems and galaxies are never given out twice.

Left to itself, SQLite gives a new row one past the largest id in the table.
Deleting the newest system would then hand its id to the next system created,
which would inherit the deleted one's change history, and undoing the delete
would find its id taken. A galaxy removed after a failed import would hand its
id to the next galaxy, while another process still maps the removed galaxy's
name to that id. Haven remembers, in ``meta``, the highest id it freed at the
top of each table and starts new ids after it.

Both functions run inside the caller's write transaction and cost one or two
primary-key lookups.
"""

from __future__ import annotations

import sqlite3
from typing import Literal

Table = Literal["system", "galaxy"]
#: The ``meta`` key that remembers each table's highest freed id.
FREED_TOP_KEYS: dict[str, str] = {"system": "system_id_freed_top", "galaxy": "galaxy_id_freed_top"}
FREED_TOP_KEY = FREED_TOP_KEYS["system"]


def next_row_id(conn: sqlite3.Connection, table: Table = "system") -> int:
    """The id the next new row of ``table`` gets: past every id a row of it has ever had."""
    key = FREED_TOP_KEYS[table]  # the table name below comes from this fixed list only
    return conn.execute(
        f"SELECT max(coalesce((SELECT max(id) FROM {table}), 0), "
        "coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?), 0)) + 1",
        (key,),
    ).fetchone()[0]


def note_deleted(conn: sqlite3.Connection, row_id: int, table: Table = "system") -> None:
    """Remember ``row_id`` if its deletion left no larger id in ``table`` (call after the DELETE)."""
    key = FREED_TOP_KEYS[table]
    top = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
    if top is not None and top > row_id:
        return  # a larger id still exists: SQLite cannot pick this one again
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
        (key, str(row_id)),
    )
