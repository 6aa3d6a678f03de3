"""Galaxies, regions and their counters."""

from __future__ import annotations

import math
import os
import sqlite3
from typing import Any, NamedTuple

from haven.errors import InvalidInput, NotFound
from haven.model import clean_name
from haven.spatial import Cube
from haven.store import deferred
from haven.store.ids import next_row_id, note_deleted
from haven.store.lod import DEFAULT_CAPACITY, PENDING_LEVEL, first_clock
from haven.timeutil import now_ms, to_iso

DEFAULT_HALF_SIZE_LY = 131_072.0  # 2^17 LY: the Milky Way's disk with room to spare


class GalaxyKey(NamedTuple):
    """What every query needs to know about a galaxy; immutable once the galaxy exists."""

    id: int
    cube: Cube
    capacity: int


class Galaxies:
    """Galaxies and regions: their keys, counters and totals."""

    def ensure_galaxy(
        self, name: str, *, half_size_ly: float | None = None, lod_capacity: int = DEFAULT_CAPACITY
    ) -> dict[str, Any]:
        """Create the galaxy if it does not exist; its cube and node capacity are fixed once created."""
        return self.add_galaxy(name, half_size_ly=half_size_ly, lod_capacity=lod_capacity)[0]

    def add_galaxy(
        self, name: str, *, half_size_ly: float | None = None, lod_capacity: int = DEFAULT_CAPACITY
    ) -> tuple[dict[str, Any], bool]:
        """:meth:`ensure_galaxy`, and whether this call created the galaxy (decided in its own write)."""
        name, half, capacity = self._galaxy_spec(name, half_size_ly, lod_capacity)
        if self.conn.execute("SELECT 1 FROM galaxy WHERE name = ?", (name,)).fetchone() is not None:
            # there already: no write at all, so a server starts on a database it may only read
            return self.galaxy(name), False
        with self._write() as conn:
            created = self._insert_galaxy(conn, name, half, capacity) is not None
        return self.galaxy(name), created

    @staticmethod
    def _galaxy_spec(name: str, half_size_ly: float | None, lod_capacity: int) -> tuple[str, float, int]:
        """A new galaxy's name, cube half size and node capacity, checked (:class:`InvalidInput`)."""
        try:
            name = clean_name(name)  # the rules of every name: trimmed, 1-200 characters, visible, no controls
        except ValueError as exc:
            raise InvalidInput(f"the galaxy name {exc}", field="galaxy") from None
        half = DEFAULT_HALF_SIZE_LY if half_size_ly is None else half_size_ly
        if not (math.isfinite(half) and half > 0):
            raise InvalidInput("half_size_ly must be a positive number", field="half_size_ly")
        if not 1 <= lod_capacity <= 1_000_000:
            raise InvalidInput("lod_capacity must be between 1 and 1,000,000", field="lod_capacity")
        return name, half, lod_capacity

    @staticmethod
    def _insert_galaxy(conn: sqlite3.Connection, name: str, half_size_ly: float, lod_capacity: int) -> int | None:
        """Insert a galaxy in the caller's write unless one has the name; its id, or None when it existed."""
        galaxy_id = next_row_id(conn, "galaxy")
        inserted = conn.execute(
            "INSERT INTO galaxy (id, name, half_size_ly, lod_capacity, created_at, lod_clock) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (galaxy_id, name, half_size_ly, lod_capacity, now_ms(), first_clock()),
        ).rowcount > 0
        return galaxy_id if inserted else None

    def drop_empty_galaxy(self, galaxy_id: int) -> bool:
        """Remove a galaxy that holds no system (the one a failed import created); True if it was removed.

        Nothing happens while a bulk load holds the database's indexes back (it may
        resume into the galaxy) or once a system is stored in it. Its bookkeeping rows
        (bulk jobs, chunks, change entries) cascade; its octree nodes are deleted.
        """
        with self._write() as conn:
            if deferred.deferred_record(conn) is not None:
                return False
            gone = conn.execute(
                "DELETE FROM galaxy WHERE id = ? AND system_count = 0 "
                "AND NOT EXISTS (SELECT 1 FROM system WHERE galaxy_id = ?)",
                (galaxy_id, galaxy_id),
            ).rowcount > 0
            if gone:
                conn.execute("DELETE FROM lod_node WHERE galaxy_id = ?", (galaxy_id,))
                note_deleted(conn, galaxy_id, "galaxy")  # other processes may still map a name to it
        if gone:
            self._forget_galaxy(galaxy_id)
        return gone

    def _drop_keys_if_written(self) -> None:
        """Forget every cached galaxy key once another connection committed (``PRAGMA
        data_version``, a few microseconds): it may have removed a galaxy whose name
        this store still maps to an id (``drop_empty_galaxy`` after a failed import)."""
        # data_version counts per connection, and each thread has its own: compare with what
        # this thread's connection said last time, not with another thread's number
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != getattr(self._local, "keys_version", None):
            self._local.keys_version = version
            self._keys, self._keys_by_id = {}, {}

    def _forget_galaxy(self, galaxy_id: int) -> None:
        """Drop a removed galaxy from the key caches (by name and by id)."""
        self._keys = {name: key for name, key in self._keys.items() if key.id != galaxy_id}
        self._keys_by_id.pop(galaxy_id, None)

    @staticmethod
    def _galaxy_row(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        d["created_at"] = to_iso(d["created_at"])
        return d

    def galaxy(self, name: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM galaxy WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no galaxy named {name!r}", field="galaxy")
        return self._galaxy_row(row)

    def galaxies(self) -> list[dict[str, Any]]:
        """Every galaxy, by name, in one read (the chunk refresher asks after every commit)."""
        return [self._galaxy_row(r) for r in self.conn.execute("SELECT * FROM galaxy ORDER BY name")]

    def _galaxy_key(self, name: str) -> GalaxyKey:
        """Galaxy id, cube and node capacity (fixed once created, so cached while nobody else writes)."""
        self._drop_keys_if_written()
        key = self._keys.get(name)
        if key is None:
            g = self.galaxy(name)
            cube = Cube.of_galaxy(g)
            key = GalaxyKey(g["id"], cube, g["lod_capacity"])
            self._keys[name] = key
            self._keys_by_id[key.id] = key
        return key

    def _galaxy_key_by_id(self, galaxy_id: int) -> GalaxyKey:
        key = self._keys_by_id.get(galaxy_id)
        if key is None:
            row = self.conn.execute("SELECT name FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()
            if row is None:
                raise NotFound(f"no galaxy with id {galaxy_id}", field="galaxy")
            key = self._galaxy_key(row[0])
        return key

    def _region_id(self, conn: sqlite3.Connection, galaxy_id: int, name: str | None) -> int | None:
        if name is None:
            return None
        row = conn.execute(
            "SELECT id FROM region WHERE galaxy_id = ? AND name = ?", (galaxy_id, name)
        ).fetchone()
        if row:
            return row[0]
        return conn.execute(
            "INSERT INTO region (galaxy_id, name) VALUES (?, ?)", (galaxy_id, name)
        ).lastrowid

    def regions(self, galaxy: str) -> list[dict[str, Any]]:
        galaxy_id = self._galaxy_key(galaxy).id
        rows = self.conn.execute(
            "SELECT name, system_count FROM region WHERE galaxy_id = ? ORDER BY name", (galaxy_id,)
        ).fetchall()
        return [dict(r) for r in rows]

    def stats(self, galaxy: str) -> dict[str, Any]:
        """Counters and sizes: the database's pages as of now, and the write-ahead log's file
        beside it (which the next checkpoint folds in and empties)."""
        g = self.galaxy(galaxy)
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = self.conn.execute("PRAGMA page_count").fetchone()[0]
        try:
            wal_bytes = os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            wal_bytes = 0
        return {
            "galaxy": g["name"],
            "total_systems": g["system_count"],
            "regions": self.regions(galaxy),
            "database_size_bytes": page_size * page_count,
            "wal_size_bytes": wal_bytes,
            "systems_off_map": self.conn.execute(
                "SELECT count(*) FROM system WHERE galaxy_id = ? AND lod_level = ?", (g["id"], PENDING_LEVEL)
            ).fetchone()[0],
            "unfinished_loads": self.unfinished_loads(g["name"]),
        }

    def unfinished_loads(self, galaxy: str | None = None) -> list[dict[str, Any]]:
        """Bulk loads that wrote some batches and never finished (killed, or stopped by bad input).

        Their systems are stored, counted and searchable; the ones a killed load
        had not placed are not on the map until the same load runs again (or any
        later load into the galaxy finishes). ``galaxy``: that galaxy's only.
        """
        rows = self.conn.execute(
            "SELECT g.name AS galaxy, j.kind, j.source, j.batches_done, j.total_batches, j.rows_done, "
            "j.started_at FROM bulk_job j JOIN galaxy g ON g.id = j.galaxy_id "
            "WHERE j.state = 'running' AND j.batches_done > 0 AND (? IS NULL OR g.name = ?) "
            "ORDER BY j.started_at, j.job_key",
            (galaxy, galaxy),
        ).fetchall()
        return [{**dict(r), "started_at": to_iso(r["started_at"])} for r in rows]

    def _bump_counts(self, conn: sqlite3.Connection, galaxy_id: int, region_id: int | None, delta: int) -> None:
        conn.execute("UPDATE galaxy SET system_count = system_count + ? WHERE id = ?", (delta, galaxy_id))
        if region_id is not None:
            conn.execute("UPDATE region SET system_count = system_count + ? WHERE id = ?", (delta, region_id))
