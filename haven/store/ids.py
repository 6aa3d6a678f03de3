"""System ids are never given out twice.

Left to itself, SQLite gives a new row one past the largest id in the table.
Deleting the newest system would then hand its id to the next system created,
which would inherit the deleted one's change history, and undoing the delete
would find its id taken. Haven remembers, in ``meta``, the highest id it freed
at the top of the table and starts new ids after it.

Both functions run inside the caller's write transaction and cost one or two
primary-key lookups.
"""

from __future__ import annotations

import sqlite3

FREED_TOP_KEY = "system_id_freed_top"

_NEXT_ID = (
    "SELECT max(coalesce((SELECT max(id) FROM system), 0), "
    "coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?), 0)) + 1"
)


def next_system_id(conn: sqlite3.Connection) -> int:
    """The id the next new system gets: past every id a system has ever had."""
    return conn.execute(_NEXT_ID, (FREED_TOP_KEY,)).fetchone()[0]


def note_deleted(conn: sqlite3.Connection, system_id: int) -> None:
    """Remember ``system_id`` if its deletion left no larger id in the table (call after the DELETE)."""
    top = conn.execute("SELECT max(id) FROM system").fetchone()[0]
    if top is not None and top > system_id:
        return  # a larger id still exists: SQLite cannot pick this one again
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
        (FREED_TOP_KEY, str(system_id)),
    )
