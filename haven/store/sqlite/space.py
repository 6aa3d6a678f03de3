"""Reads by position: spheres and boxes over Morton-code ranges, exact and ordered."""

from __future__ import annotations

import itertools
import math
import operator
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import orjson

from haven.errors import InvalidInput
from haven.spatial import Cube
from haven.spatial.nearest import (
    Box, Candidates, Shape, Sphere, box_shells, sphere_shells, squared_distance_sql,
)
from haven.store.gcpause import gc_paused
from haven.store.lod import systems_per_ly3_at

from .rows import PACKED_SYSTEM_COLUMNS, _check_limit, _unpack_systems

_DISTANCE_THEN_ID = operator.itemgetter(-2, -1)  # rows of _rows_by_distance end with (d2, id)


class Space:
    """Sphere and box queries: code ranges from the index, exact distances, nearest first."""

    def _code_scan_query(self, galaxy_id: int, n_ranges: int) -> str:
        """The one query builder for space: ``code,id,code,id,…`` of every system in some code ranges.

        Each range is its own range search on the ``(galaxy_id, code)`` index, which
        holds both values, so the table is never read (a correlated subquery per
        range: the planner cannot turn it into a scan or a Bloom filter over the
        galaxy). Positions are read afterwards for the few candidates that need
        them (:mod:`haven.spatial.nearest`). One text value comes back instead of a
        Python tuple per row: about 2x faster on large shells.
        """
        values = ", ".join(["(?, ?)"] * n_ranges)
        return (
            f"WITH ranges (lo, hi) AS (VALUES {values}) "
            "SELECT group_concat(part, ',') FROM (SELECT ("
            "SELECT group_concat(s.code || ',' || s.id, ',') FROM system s INDEXED BY system_code "
            f"WHERE s.galaxy_id = {galaxy_id:d} AND s.code BETWEEN ranges.lo AND ranges.hi"
            ") AS part FROM ranges)"
        )

    def _codes_in(self, galaxy_id: int, ranges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, ids)`` of the galaxy's systems inside the code ranges."""
        if not ranges:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        text = self.conn.execute(
            self._code_scan_query(galaxy_id, len(ranges)), list(itertools.chain.from_iterable(ranges))
        ).fetchone()[0]
        pairs = np.fromstring(text or "", dtype=np.int64, sep=",").reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def _positions(self, ids: np.ndarray) -> list[tuple[int, float, float, float]]:
        """True ``(id, x, y, z)`` of systems by id."""
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur.execute(
            "SELECT s.id, s.x, s.y, s.z FROM json_each(?) j JOIN system s ON s.id = j.value",
            (orjson.dumps(sorted(ids.tolist())),),
        ).fetchall()

    def _nearest(
        self, galaxy: str, shape: Shape,
        shells: Callable[[Cube, Candidates], Iterable[tuple[float, list[tuple[int, int]]]]], limit: int,
    ) -> list[dict[str, Any]]:
        """Systems inside ``shape``, nearest its centre first, at most ``limit``, exact.

        ``shells(cube, found)`` covers the shape with code ranges in shells, nearest first
        (``(bound_ly, ranges)``: nothing in later shells is nearer than ``bound_ly``);
        the scan stops once the ``limit`` nearest are known.
        """
        galaxy_id, cube, _ = self._galaxy_key(galaxy)
        found = Candidates(shape, cube, limit)
        with self._read():
            for bound_ly, ranges in shells(cube, found):
                maybe = found.add(*self._codes_in(galaxy_id, ranges))
                if len(maybe):
                    found.resolve(self._positions(maybe))
                if found.enough(bound_ly):
                    break
            return self._rows_by_distance(shape, found.finalists(), limit)

    def _rows_by_distance(self, shape: Shape, ids: list[int], limit: int) -> list[dict[str, Any]]:
        """Full rows of ``ids`` inside ``shape``, nearest first (ties by id), with ``distance`` in LY.

        SQLite tests the shape and computes squared distances (on the same doubles
        Python would use); Python sorts the plain tuples, which is cheaper than
        SQLite's sorter carrying whole rows, and unpacks the ``limit`` first.
        """
        if not ids:
            return []
        d2_sql, d2_params = squared_distance_sql(shape.centre_ly)
        where_sql, where_params = shape.sql_condition()
        cur = self.conn.cursor()
        cur.row_factory = None
        with gc_paused(collect=False):  # thousands of tuples and dicts that all stay alive
            rows = cur.execute(
                f"SELECT {PACKED_SYSTEM_COLUMNS}, {d2_sql} AS d2, s.id FROM json_each(?) j JOIN system s ON s.id = j.value "
                f"LEFT JOIN region r ON r.id = s.region_id WHERE {where_sql}",
                # ids in order: table pages are read in order
                (*d2_params, orjson.dumps(ids), *where_params),
            ).fetchall()
            rows.sort(key=_DISTANCE_THEN_ID)
            del rows[limit:]
            out = _unpack_systems(rows)
            for d, row in zip(out, rows):
                d["distance"] = math.sqrt(row[-2])
        return out

    def near(
        self, galaxy: str, x_ly: float, y_ly: float, z_ly: float, radius_ly: float, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Systems within ``radius_ly`` of a point: exact distance, nearest first, at most ``limit``.

        The cover is scanned shell by shell, nearest first, and stops once ``limit``
        systems lie nearer than anything the remaining shells could hold; a dense
        sphere costs about what its ``limit`` nearest cost, not everything inside it.
        """
        _check_limit(limit)
        for field, v in (("x", x_ly), ("y", y_ly), ("z", z_ly)):
            if not math.isfinite(v):
                raise InvalidInput(f"{field} must be a finite number", field=field)
        if not (math.isfinite(radius_ly) and radius_ly > 0):
            raise InvalidInput("radius must be a finite number above 0", field="radius")
        sphere = Sphere((x_ly, y_ly, z_ly), radius_ly)

        def shells(cube: Cube, found: Candidates) -> Iterator[tuple[float, list[tuple[int, int]]]]:
            return sphere_shells(cube, sphere, found, density_per_ly3=self._density_at(galaxy, cube, sphere.centre_ly))

        return self._nearest(galaxy, sphere, shells, limit)

    def box(
        self,
        galaxy: str,
        lo_ly: tuple[float, float, float],
        hi_ly: tuple[float, float, float],
        *,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Systems inside an axis-aligned box, ordered by distance from its centre (nearest first, like
        :meth:`near`: the scan grows from the centre and stops once the ``limit`` nearest are known)."""
        _check_limit(limit)
        for axis, (a, b) in enumerate(zip(lo_ly, hi_ly)):
            if not (math.isfinite(a) and math.isfinite(b)) or a > b:
                name = "xyz"[axis]
                raise InvalidInput(f"box {name} bounds must be finite with min ≤ max", field=name)
        shape = Box(tuple(lo_ly), tuple(hi_ly))  # type: ignore[arg-type]

        def shells(cube: Cube, found: Candidates) -> Iterator[tuple[float, list[tuple[int, int]]]]:
            return box_shells(cube, shape, found, density_per_ly3=self._density_at(galaxy, cube, shape.centre_ly))

        return self._nearest(galaxy, shape, shells, limit)

    def _density_at(self, galaxy: str, cube: Cube, point_ly: tuple[float, float, float]) -> float | None:
        """Systems per cubic LY around a point, or around the cube's point nearest it when it lies
        outside (:meth:`Cube.code` clamps to the cube), from the octree's node counts (None
        before the octree has any)."""
        return systems_per_ly3_at(self.conn, self._galaxy_key(galaxy).id, cube.code(*point_ly), cube.side_ly)
