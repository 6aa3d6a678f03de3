"""The LOD octree as the API reads it: nodes, stored chunks, members, hierarchy, change feed."""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

from haven.errors import InvalidInput, NotFound
from haven.model import INT64_MAX
from haven.spatial import MAX_LEVEL

from .connection import BUSY_TIMEOUT_MS, is_busy
from .rows import _check_limit

CHANGED_NODES_SQL = (
    "SELECT level, cell, count, version FROM lod_node "
    "WHERE galaxy_id = ? AND version > ? ORDER BY version LIMIT ?"
)


class Octree:
    """The octree's nodes and stored chunks, for the chunk endpoints and the change feed."""

    def _check_node(self, level: int, cell: int) -> None:
        if not 0 <= level <= MAX_LEVEL:
            raise InvalidInput(f"level must be between 0 and {MAX_LEVEL}", field="level")
        if not 0 <= cell < 8**level:
            raise InvalidInput(f"cell must be between 0 and 8^{level} - 1 at level {level}", field="cell")

    def lod_node(self, galaxy: str, level: int, cell: int) -> dict[str, Any]:
        """A node's metadata: member count and version (404 when the node holds nothing)."""
        self._check_node(level, cell)
        galaxy_id = self._galaxy_key(galaxy).id
        row = self.conn.execute(
            "SELECT level, cell, count, version FROM lod_node WHERE galaxy_id = ? AND level = ? AND cell = ?",
            (galaxy_id, level, cell),
        ).fetchone()
        if row is None or row["count"] == 0:
            raise NotFound(f"node {level}/{cell} holds no systems", field="cell")
        return dict(row)

    def stored_chunk(self, galaxy: str, level: int, cell: int) -> tuple[int, bytes] | None:
        """The node's stored gzip CHNK bytes and the node version they were built from."""
        galaxy_id = self._galaxy_key(galaxy).id
        row = self.conn.execute(
            "SELECT version, body FROM lod_chunk WHERE galaxy_id = ? AND level = ? AND cell = ?",
            (galaxy_id, level, cell),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def store_chunk(self, galaxy: str, level: int, cell: int, version: int, body: bytes) -> bool:
        """Keep a node's freshly built chunk; skipped (False) rather than waiting if a writer holds the lock.

        A reader must never queue behind a bulk load just to save a cache entry, and a
        read-only store (``haven map`` of a backup) keeps nothing.
        """
        if self.read_only:
            return False
        galaxy_id = self._galaxy_key(galaxy).id
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            with self._write(wait=False, data=False):
                conn.execute(
                    "INSERT INTO lod_chunk (galaxy_id, level, cell, version, body) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (galaxy_id, level, cell) DO UPDATE SET version = excluded.version, "
                    "body = excluded.body WHERE excluded.version > lod_chunk.version",
                    (galaxy_id, level, cell, version, body),
                )
            return True
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def lod_members(self, galaxy: str, level: int, cell: int) -> dict[str, Any]:
        """Positions, region ids and system ids of a node's members, highest priority first."""
        galaxy_id = self._galaxy_key(galaxy).id
        with self._read() as conn:
            node = conn.execute(
                "SELECT version FROM lod_node WHERE galaxy_id = ? AND level = ? AND cell = ?",
                (galaxy_id, level, cell),
            ).fetchone()
            rows = conn.execute(
                "SELECT id, x, y, z, coalesce(region_id, 0) FROM system "
                "WHERE galaxy_id = ? AND lod_level = ? AND lod_cell = ? ORDER BY priority DESC",
                (galaxy_id, level, cell),
            ).fetchall()
        cols = list(zip(*rows)) if rows else [(), (), (), (), ()]
        return {
            "version": node["version"] if node else 0,
            "id": np.array(cols[0], dtype=np.int64),
            "x_ly": np.array(cols[1], dtype=np.float64),
            "y_ly": np.array(cols[2], dtype=np.float64),
            "z_ly": np.array(cols[3], dtype=np.float64),
            "region_id": np.array(cols[4], dtype=np.int64),
        }

    def lod_member(self, galaxy: str, level: int, cell: int, index: int) -> dict[str, Any]:
        """The system at ``index`` in a node's priority order (how a map click is resolved)."""
        self._check_node(level, cell)
        galaxy_id, _, capacity = self._galaxy_key(galaxy)
        if index < 0 or index > INT64_MAX or (index >= capacity and level < MAX_LEVEL):
            raise InvalidInput("index is outside the node", field="index")
        row = self.conn.execute(
            "SELECT id FROM system WHERE galaxy_id = ? AND lod_level = ? AND lod_cell = ? "
            "ORDER BY priority DESC LIMIT 1 OFFSET ?",
            (galaxy_id, level, cell, index),
        ).fetchone()
        if row is None:
            raise NotFound(f"node {level}/{cell} has no system at index {index}", field="index")
        return self.system(row["id"])

    def lod_hierarchy(self, galaxy: str, level: int, cell: int, depth: int) -> dict[str, Any]:
        """Metadata of a node and its descendants down to ``depth`` levels below it.

        Returns ``{"clock", "total_systems", "nodes"}`` from one snapshot: a live map
        follows the change feed from ``clock``, so it must be the clock of exactly
        these node versions (read apart, a write committed in between would be in
        neither the nodes nor the feed after the clock).
        """
        self._check_node(level, cell)
        if not 0 <= depth <= 4:
            raise InvalidInput("depth must be between 0 and 4", field="depth")
        galaxy_id = self._galaxy_key(galaxy).id
        out: list[dict[str, Any]] = []
        with self._read() as conn:
            row = conn.execute("SELECT lod_clock, system_count FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()
            if row is None:  # removed since its key was cached
                raise NotFound(f"no galaxy named {galaxy!r}", field="galaxy")
            for d in range(depth + 1):
                lvl = level + d
                if lvl > MAX_LEVEL:
                    break
                lo, hi = cell << (3 * d), ((cell + 1) << (3 * d)) - 1
                out += [dict(r) for r in conn.execute(
                    "SELECT level, cell, count, version FROM lod_node "
                    "WHERE galaxy_id = ? AND level = ? AND cell BETWEEN ? AND ? AND count > 0 ORDER BY cell",
                    (galaxy_id, lvl, lo, hi),
                )]
        return {"clock": row[0], "total_systems": row[1], "nodes": out}

    def changed_nodes(self, galaxy: str, since_version: int, *, limit: int = 1000) -> dict[str, Any]:
        """Octree nodes changed after ``since_version``: the change feed of live maps.

        Returns ``{"clock", "nodes", "reset", "total_systems"}``: ``clock`` is the galaxy's LOD clock
        (pass it as ``since_version`` next time) and ``nodes`` the changed nodes
        (``level, cell, count, version``; a node with ``count`` 0 was emptied),
        oldest change first. When more than ``limit`` nodes changed (a bulk load
        rebuilds the whole octree) ``nodes`` is empty and ``reset`` is true: reload
        the hierarchy instead. ``total_systems`` is the galaxy's count as of the
        same snapshot. One read of an index on ``(galaxy_id, version)``.
        """
        if since_version < 0:
            raise InvalidInput("since must be 0 or more", field="since")
        _check_limit(limit)
        galaxy_id = self._galaxy_key(galaxy).id
        with self._read() as conn:
            row = conn.execute("SELECT lod_clock, system_count FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()
            if row is None:  # removed since its key was cached
                raise NotFound(f"no galaxy named {galaxy!r}", field="galaxy")
            clock, total = row
            rows = conn.execute(CHANGED_NODES_SQL, (galaxy_id, since_version, limit + 1)).fetchall()
        if len(rows) > limit:
            return {"clock": clock, "nodes": [], "reset": True, "total_systems": total}
        return {"clock": clock, "nodes": [dict(r) for r in rows], "reset": False, "total_systems": total}
