"""Secondary indexes that a load into an empty database builds once, at its end.

Inserting rows in id order into four B-trees keyed by name, region + name,
Morton code and octree node touches a random leaf of each per row; once the
indexes outgrow the page cache every row reads pages from disk. Building an
index afterwards (``CREATE INDEX``) is one scan and one sort. So a bulk job that
writes every system of the database (nothing else is there for the indexes to
serve) drops them when it starts and builds them again in :meth:`finish
<haven.store.bulk.BulkLoader.finish>`: those the octree placement reads first,
each in a transaction of its own, then the placement, then the octree's own
index in the transaction that marks the job done.

While they are missing, the database is not for serving: :class:`SQLiteStore
<haven.store.sqlite.SQLiteStore>` refuses to open it (except for the bulk job
that finishes it) and schema migrations refuse to run. The statements that
rebuild the indexes are the ones SQLite had stored for them, kept in ``meta``
under :data:`DEFERRED_INDEXES_KEY`, so the migrations stay the only place
that defines the schema.

The unique name index is dropped only when the job knows its names are unique
(generated names are by construction; an import checks its whole file first).
If a name was taken twice anyway, the rebuild names it and the job stays
unfinished (:class:`~haven.errors.Conflict`); nothing is lost.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from haven.errors import Conflict

__all__ = [
    "DEFERRABLE_INDEXES",
    "DEFERRED_INDEXES_KEY",
    "UNIQUE_NAME_INDEX",
    "build_indexes",
    "build_next_index",
    "deferred_record",
    "drop_indexes",
    "unfinished_load_message",
]

#: ``meta`` key of the pending record: ``{"job": job key, "indexes": [[name, sql], …]}``.
DEFERRED_INDEXES_KEY = "bulk:deferred_indexes"
#: The secondary indexes of ``system`` a load may defer, in the order they are rebuilt:
#: the octree placement reads ``system_code`` and rewrites the columns of ``system_lod``.
DEFERRABLE_INDEXES = ("system_code", "system_name", "system_region_name", "system_lod")
UNIQUE_NAME_INDEX = "system_name"
#: Built after the octree placement (the placement rewrites every row's columns in it).
AFTER_PLACEMENT = frozenset({"system_lod"})


def deferred_record(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The pending record, or None when every index is in place."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (DEFERRED_INDEXES_KEY,)).fetchone()
    return orjson.loads(row[0]) if row is not None else None


def unfinished_load_message(record: dict[str, Any], *, running: bool = False) -> str:
    """What a user reads when a database's indexes are still deferred.

    ``running``: the load is going on now (another process holds the load lock),
    so the advice is to wait for it, not to run it again.
    """
    names = ", ".join(name for name, _ in record["indexes"])
    job = str(record["job"])
    source = record.get("source")  # "csv:gen.csv", "procgen n=… seed=…"; absent in older records
    if source and job.startswith("import:"):
        what, again = f"a bulk load of {source.split(':', 1)[-1]!r}", "`haven import` of that file, unchanged,"
    elif source and job.startswith("generate:"):
        what, again = f"a bulk load of {source!r}", "`haven generate`"
    else:
        what, again = "a bulk load", "`haven generate` or `haven import`"
    if running:
        return (f"{what} ({job}) is running: its indexes ({names}) are built when it ends; "
                "wait for it to finish, then run this again")
    return (f"{what} ({job}) has not finished: its indexes ({names}) are built when it ends; "
            f"run the same {again} again to finish it (or, to give it up, delete the database file: "
            "such a load only starts in a database without systems, so it holds nothing else)")


def _job_source(conn: sqlite3.Connection, job_key: str) -> str | None:
    """The file a job imports (``csv:gen.csv``), or None (a generate)."""
    row = conn.execute("SELECT source FROM bulk_job WHERE job_key = ?", (job_key,)).fetchone()
    return row[0] if row is not None and row[0] else None


def drop_indexes(conn: sqlite3.Connection, job_key: str, *, include_unique: bool,
                 names_beside: bool) -> list[str]:
    """Drop the deferrable indexes that exist and record how to rebuild them (inside a write).

    ``names_beside``: the job fills the name search index beside the database
    (:mod:`haven.store.sidenames`); recorded so that every later run of the job does too.
    """
    stored = dict(conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'system' AND sql IS NOT NULL"
    ).fetchall())
    dropped = [(name, stored[name]) for name in DEFERRABLE_INDEXES
               if name in stored and (include_unique or name != UNIQUE_NAME_INDEX)]
    for name, _ in dropped:
        conn.execute(f'DROP INDEX "{name}"')
    if dropped:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            (DEFERRED_INDEXES_KEY, orjson.dumps({"job": job_key, "indexes": dropped, "names_beside": names_beside,
                                                 "source": _job_source(conn, job_key)}).decode()),
        )
    return [name for name, _ in dropped]


def build_next_index(conn: sqlite3.Connection, record: dict[str, Any]) -> str | None:
    """Build one recorded index that comes before the octree placement (inside a write).

    Takes it off the record; returns its name, or None when only the indexes
    that wait for the placement are left.
    """
    for position, (name, sql) in enumerate(record["indexes"]):
        if name in AFTER_PLACEMENT:
            continue
        _create(conn, sql)
        rest = record["indexes"][:position] + record["indexes"][position + 1:]
        conn.execute("UPDATE meta SET value = ? WHERE key = ?",
                     (orjson.dumps({**record, "indexes": rest}).decode(), DEFERRED_INDEXES_KEY))
        return name
    return None


def build_indexes(conn: sqlite3.Connection, record: dict[str, Any], *, after_placement: bool) -> None:
    """Build the recorded indexes of one phase in the caller's write.

    ``after_placement``: the ones that wait for the octree placement, else the
    others. Building the last phase clears the record.
    """
    for name, sql in record["indexes"]:
        if (name in AFTER_PLACEMENT) == after_placement:
            _create(conn, sql)
    if after_placement:
        conn.execute("DELETE FROM meta WHERE key = ?", (DEFERRED_INDEXES_KEY,))


def _create(conn: sqlite3.Connection, sql: str) -> None:
    try:
        conn.execute(sql)
    except sqlite3.IntegrityError:
        raise _taken_twice(conn) from None


def _taken_twice(conn: sqlite3.Connection) -> Conflict:
    """The unique name index could not be built: name some of the names stored twice."""
    rows = conn.execute(
        "SELECT g.name, s.name, count(*) FROM system s JOIN galaxy g ON g.id = s.galaxy_id "
        "GROUP BY s.galaxy_id, s.name HAVING count(*) > 1 LIMIT 5"
    ).fetchall()
    listed = "; ".join(f"{name!r} in galaxy {galaxy!r} ({n} systems)" for galaxy, name, n in rows)
    return Conflict(
        f"names are taken more than once: {listed}; rename or delete the extra systems, then run the "
        "job again to finish it (nothing was changed)",
        field="name",
    )
