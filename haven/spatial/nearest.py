"""Exact, ordered, limited spatial answers from Morton codes, reading few positions.

A range scan of the ``(galaxy_id, code)`` index yields ``(code, id)`` pairs
without touching the table. A code names a cell of side ``side / 2^21`` (0.125
LY in the default 262,144 LY cube), so its centre is within
:attr:`~haven.spatial.morton.Cube.code_slack_ly` (``δ``) of the system. That is
enough to decide, for almost every candidate, whether it is inside the shape and
how far it is from the query point to within ``δ``. Only candidates whose cell
straddles the shape's surface have their true position read.

Why the answer stays exact: let ``a_k`` be the ``k``-th smallest approximate
distance among systems known to be inside. Those ``k`` systems are truly within
``a_k + δ``, so every one of the true ``k`` nearest is truly within ``a_k + δ``
and approximately within ``a_k + 2δ``. :meth:`Candidates.finalists` returns
exactly those; the caller reads their rows, computes true distances and sorts
by ``(distance, id)``. The same bound lets a nearest-first scan stop after a
shell once ``a_k + δ`` is below the nearest distance the next shells can hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np

from haven.spatial.morton import Cube
from haven.spatial.ranges import Range, sphere_code_ranges, subtract_ranges, union_ranges

# A shell's ball spans this many cells per axis. Fine cells hug the ball (fewer
# systems scanned) but give more ranges (one index search each): worth it only
# where many systems are expected.
SHELL_CELLS_PER_AXIS = ((1_000, 4), (20_000, 8), (math.inf, 16))  # (expected systems below, cells)
FIRST_SHELL_FRACTION = 1 / 8  # the first shell's radius, as a fraction of the sphere's
SHELL_TARGET_FILL = 1.5  # grow the next shell to hold about this many times the limit
SHELL_MIN_GROWTH = 2 ** 0.5
#: A sphere whose estimated content, times this margin, fits the first shell's target is
#: covered by a single scan: an estimate 4x too low still reads less than the target.
SPARSE_MARGIN = 4.0


class Shape(Protocol):
    """A region of space with a point that answers are ordered by distance from."""

    centre_ly: tuple[float, float, float]

    def classify(self, centres_ly: np.ndarray, distance_ly: np.ndarray, cube: Cube) -> tuple[np.ndarray, np.ndarray]:
        """``(inside, maybe)`` masks for cells with these centres: surely inside, or on the surface."""
        ...

    def contains(self, x_ly: float, y_ly: float, z_ly: float) -> bool:
        """The exact test on a true position."""
        ...

    def sql_condition(self) -> tuple[str, list[float]]:
        """:meth:`contains` as an SQL condition on ``s.x, s.y, s.z``, with its parameters."""
        ...


@dataclass(frozen=True)
class Sphere:
    centre_ly: tuple[float, float, float]
    radius_ly: float

    def classify(self, centres_ly: np.ndarray, distance_ly: np.ndarray, cube: Cube) -> tuple[np.ndarray, np.ndarray]:
        slack = cube.code_slack_ly
        inside = distance_ly + slack <= self.radius_ly
        maybe = ~inside & (distance_ly - slack <= self.radius_ly)
        return inside, maybe

    def contains(self, x_ly: float, y_ly: float, z_ly: float) -> bool:
        return squared_distance(self.centre_ly, x_ly, y_ly, z_ly) <= self.radius_ly * self.radius_ly

    def sql_condition(self) -> tuple[str, list[float]]:
        sql, params = squared_distance_sql(self.centre_ly)
        return f"{sql} <= ?", [*params, self.radius_ly * self.radius_ly]


@dataclass(frozen=True)
class Box:
    lo_ly: tuple[float, float, float]
    hi_ly: tuple[float, float, float]

    @property
    def centre_ly(self) -> tuple[float, float, float]:  # type: ignore[override]
        return tuple((a + b) / 2 for a, b in zip(self.lo_ly, self.hi_ly))  # type: ignore[return-value]

    def classify(self, centres_ly: np.ndarray, distance_ly: np.ndarray, cube: Cube) -> tuple[np.ndarray, np.ndarray]:
        half_cell = cube.code_half_cell_ly
        lo = np.asarray(self.lo_ly, dtype=np.float64)
        hi = np.asarray(self.hi_ly, dtype=np.float64)
        inside = ((centres_ly >= lo + half_cell) & (centres_ly <= hi - half_cell)).all(axis=1)
        near = ((centres_ly >= lo - half_cell) & (centres_ly <= hi + half_cell)).all(axis=1)
        return inside, near & ~inside

    def contains(self, x_ly: float, y_ly: float, z_ly: float) -> bool:
        return all(a <= v <= b for v, a, b in zip((x_ly, y_ly, z_ly), self.lo_ly, self.hi_ly))

    def sql_condition(self) -> tuple[str, list[float]]:
        return "s.x BETWEEN ? AND ? AND s.y BETWEEN ? AND ? AND s.z BETWEEN ? AND ?", [
            v for pair in zip(self.lo_ly, self.hi_ly) for v in pair
        ]


def squared_distance(centre_ly: tuple[float, float, float], x_ly: float, y_ly: float, z_ly: float) -> float:
    """Squared distance, computed the same way everywhere so ties break the same way."""
    dx, dy, dz = x_ly - centre_ly[0], y_ly - centre_ly[1], z_ly - centre_ly[2]
    return dx * dx + dy * dy + dz * dz


def squared_distance_sql(centre_ly: tuple[float, float, float]) -> tuple[str, list[float]]:
    """:func:`squared_distance` of ``s.x, s.y, s.z`` in SQL, with its parameters.

    The same operations in the same order on IEEE doubles, so SQL and Python
    agree to the last bit and order ties alike.
    """
    sql = "((s.x - ?) * (s.x - ?) + (s.y - ?) * (s.y - ?) + (s.z - ?) * (s.z - ?))"
    return sql, [c for c in centre_ly for _ in range(2)]


class Candidates:
    """Systems known to be inside a shape, with their distance to within ``δ``.

    Feed it the ``(code, id)`` pairs of each scanned shell with :meth:`add`; read
    the true positions of the ids it returns and give them to :meth:`resolve`.
    """

    def __init__(self, shape: Shape, cube: Cube, limit: int) -> None:
        self.shape = shape
        self.cube = cube
        self.limit = limit
        self.slack_ly = cube.code_slack_ly
        self._ids: list[np.ndarray] = []
        self._distances: list[np.ndarray] = []

    def add(self, codes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Take a scanned batch; returns the ids whose true position decides whether they are inside."""
        if len(codes) == 0:
            return np.empty(0, dtype=np.int64)
        centres = self.cube.code_centres_ly(codes)
        distance = np.sqrt(((centres - np.asarray(self.shape.centre_ly, dtype=np.float64)) ** 2).sum(axis=1))
        inside, maybe = self.shape.classify(centres, distance, self.cube)
        self._ids.append(ids[inside])
        self._distances.append(distance[inside])
        return ids[maybe]

    def resolve(self, positions: list[tuple[int, float, float, float]]) -> None:
        """True positions ``(id, x, y, z)`` of ids :meth:`add` returned: keep those inside."""
        kept = [(system_id, squared_distance(self.shape.centre_ly, x, y, z))
                for system_id, x, y, z in positions if self.shape.contains(x, y, z)]
        if kept:
            self._ids.append(np.array([k[0] for k in kept], dtype=np.int64))
            self._distances.append(np.sqrt(np.array([k[1] for k in kept], dtype=np.float64)))

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._ids) != 1:
            ids = np.concatenate(self._ids) if self._ids else np.empty(0, dtype=np.int64)
            distances = np.concatenate(self._distances) if self._distances else np.empty(0)
            self._ids, self._distances = [ids], [distances]
        return self._ids[0], self._distances[0]

    def count_within(self, distance_ly: float) -> int:
        """How many known members are (approximately) within ``distance_ly``."""
        _, distances = self._merged()
        return int(np.count_nonzero(distances <= distance_ly))

    def _kth_ly(self) -> float | None:
        """The ``limit``-th smallest approximate distance, or None while fewer are known."""
        _, distances = self._merged()
        if len(distances) < self.limit:
            return None
        return float(np.partition(distances, self.limit - 1)[self.limit - 1])

    def enough(self, next_bound_ly: float) -> bool:
        """True when nothing at ``next_bound_ly`` or beyond can be among the ``limit`` nearest."""
        kth = self._kth_ly()
        return kth is not None and kth + self.slack_ly < next_bound_ly

    def finalists(self) -> list[int]:
        """Ids that may be among the ``limit`` nearest: at most ``limit`` plus those tied within ``2δ``."""
        ids, distances = self._merged()
        kth = self._kth_ly()
        if kth is not None:
            ids = ids[distances <= kth + 2 * self.slack_ly]
        return sorted(ids.tolist())


def sphere_shells(
    cube: Cube, sphere: Sphere, found: Candidates, *, expected_systems: float | None = None,
) -> Iterator[tuple[float, list[Range]]]:
    """Code ranges of a sphere in growing shells, nearest first: ``(bound_ly, ranges)``.

    Everything within ``bound_ly`` of the centre has been covered once a shell is
    scanned, so a caller can stop when ``found.enough(bound_ly)``. Each shell's
    radius is chosen from the density ``found`` saw inside the previous one, aiming
    at about ``SHELL_TARGET_FILL`` times the limit; a sparse sphere takes two scans,
    a dense one stops near its ``limit``-th system instead of reading all of it.
    Ranges already scanned are never scanned again.

    ``expected_systems`` is an estimate of the sphere's content (for example from
    the octree's node counts): a sphere it shows to be sparse is read in one scan.
    Any schedule covers the whole sphere, so a wrong estimate only costs time.
    """
    radius = sphere.radius_ly
    bound = radius * FIRST_SHELL_FRACTION
    expected = 0.0  # systems the next ball should hold, from the density seen so far
    if expected_systems is not None and expected_systems * SPARSE_MARGIN <= SHELL_TARGET_FILL * found.limit:
        bound, expected = radius, expected_systems
    scanned: list[Range] = []
    while True:
        bound = min(bound, radius)
        cells = next(c for below, c in SHELL_CELLS_PER_AXIS if expected < below)
        cover = sphere_code_ranges(cube, *sphere.centre_ly, bound, cells_per_axis=cells)
        yield bound, subtract_ranges(cover, scanned)
        if bound >= radius:
            return
        scanned = union_ranges(scanned, cover)
        seen = found.count_within(bound)
        growth = (SHELL_TARGET_FILL * found.limit / seen) ** (1 / 3) if seen else math.inf
        previous, bound = bound, bound * max(growth, SHELL_MIN_GROWTH)
        expected = seen * (min(bound, radius) / previous) ** 3
