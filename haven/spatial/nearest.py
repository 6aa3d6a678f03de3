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
from typing import Callable, Iterator, Protocol

import numpy as np

from haven.spatial.morton import Cube
from haven.spatial.ranges import (
    Range, box_code_ranges, intersect_ranges, sphere_code_ranges, subtract_ranges, union_ranges,
)

# A shell's ball spans this many cells per axis. Fine cells hug the ball (fewer
# systems scanned) but give more ranges (one index search each): worth it only
# where many systems are expected.
SHELL_CELLS_PER_AXIS = ((1_000, 4), (20_000, 8), (math.inf, 16))  # (expected systems below, cells)
FIRST_SHELL_FRACTION = 1 / 8  # the first shell's radius, as a fraction of the sphere's
SHELL_TARGET_FILL = 1.5  # grow the next shell to hold about this many times the limit
SHELL_MIN_GROWTH = 2 ** 0.5
#: After a shell with nothing inside, the next one reaches this many times farther (a
#: finite step: a huge radius around an empty patch must not read the galaxy at once).
EMPTY_SHELL_GROWTH = 2.0
CELLS_AFTER_AN_EMPTY_SHELL = 8
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
    cube: Cube, sphere: Sphere, found: Candidates, *, density_per_ly3: float | None = None,
) -> Iterator[tuple[float, list[Range]]]:
    """Code ranges of a sphere in growing shells, nearest first: ``(bound_ly, ranges)``.

    See :func:`shells`; ``density_per_ly3`` (the density around the centre) is its hint.
    The sphere's estimated content is that density times its volume, when the centre
    lies in the cube (outside, the density is the nearest edge's and says nothing).
    """
    expected = None
    if density_per_ly3 is not None and cube.contains(*sphere.centre_ly):
        expected = density_per_ly3 * (4 / 3) * math.pi * sphere.radius_ly ** 3

    def cover(bound_ly: float, cells_per_axis: int) -> list[Range]:
        return sphere_code_ranges(cube, *sphere.centre_ly, bound_ly, cells_per_axis=cells_per_axis)

    return shells(cube, sphere.centre_ly, sphere.radius_ly, cover, found,
                  expected_systems=expected, density_per_ly3=density_per_ly3)


def box_shells(
    cube: Cube, box: Box, found: Candidates, *, density_per_ly3: float | None = None,
) -> Iterator[tuple[float, list[Range]]]:
    """Code ranges of a box in growing balls around its centre, each cut to the box.

    A box's answer is ordered by distance from its centre, so it stops like a
    sphere's: a box over the whole galaxy with ``limit=1`` reads about the
    systems near its centre, not the galaxy. The last shell's ball holds the
    whole box (its radius is the half-diagonal).
    """
    whole = box_code_ranges(cube, box.lo_ly, box.hi_ly)
    half_diagonal_ly = math.dist(box.lo_ly, box.hi_ly) / 2
    volume_ly3 = math.prod(h - lo for lo, h in zip(box.lo_ly, box.hi_ly))
    expected = None if density_per_ly3 is None else density_per_ly3 * volume_ly3

    def cover(bound_ly: float, cells_per_axis: int) -> list[Range]:
        if bound_ly >= half_diagonal_ly:
            return whole
        ball = sphere_code_ranges(cube, *box.centre_ly, bound_ly, cells_per_axis=cells_per_axis)
        return intersect_ranges(ball, whole)

    return shells(cube, box.centre_ly, half_diagonal_ly, cover, found,
                  expected_systems=expected, density_per_ly3=density_per_ly3)


def shells(
    cube: Cube, centre_ly: tuple[float, float, float], radius_ly: float,
    cover: Callable[[float, int], list[Range]], found: Candidates, *,
    expected_systems: float | None = None, density_per_ly3: float | None = None,
) -> Iterator[tuple[float, list[Range]]]:
    """A shape's code ranges in growing shells around ``centre_ly``, nearest first: ``(bound_ly, ranges)``.

    ``cover(bound_ly, cells_per_axis)`` gives the ranges of the shape's part within
    ``bound_ly`` of the centre; ``radius_ly`` is a bound that holds the whole shape.
    Everything within ``bound_ly`` of the centre has been covered once a shell is
    scanned, so a caller can stop when ``found.enough(bound_ly)``. Each shell's
    radius is chosen from the density ``found`` saw inside the previous one, aiming
    at about ``SHELL_TARGET_FILL`` times the limit (after an empty shell, twice as far);
    a dense one stops near its ``limit``-th system instead of reading all of it.
    Ranges already scanned are never scanned again.

    Hints (any schedule covers the whole shape, so a wrong hint only costs time):
    ``expected_systems``, the shape's estimated content: a shape it shows to be
    sparse is read in one scan. ``density_per_ly3`` around the centre (for example
    from the octree's node counts) sizes the first shell to hold about the target,
    so a huge radius with a small limit reads about ``limit`` systems, not the galaxy.
    Nothing lies beyond the galaxy's cube, so shells stop at its farthest corner.
    """
    radius = min(radius_ly, _farthest_corner_ly(cube, centre_ly) + cube.code_slack_ly)
    # Balls are sized by how far they reach past the cube's nearest point (all of it for a
    # centre inside): a centre outside the cube has nothing nearer than that.
    near = min(_nearest_cube_point_ly(cube, centre_ly), radius)
    target = SHELL_TARGET_FILL * found.limit
    reach = (radius - near) * FIRST_SHELL_FRACTION
    if density_per_ly3:
        reach = min(reach, (target / (density_per_ly3 * 4 / 3 * math.pi)) ** (1 / 3))
    expected = 0.0  # systems the next ball should hold, from the density seen so far
    if expected_systems is not None and expected_systems * SPARSE_MARGIN <= target:
        reach, expected = radius - near, expected_systems
    if not reach > 0:  # a radius so small that an eighth of it is 0.0: one scan
        reach = radius - near
    scanned: list[Range] = []
    cells_at_least = 0
    while True:
        bound = min(near + reach, radius)
        cells = max(next(c for below, c in SHELL_CELLS_PER_AXIS if expected < below), cells_at_least)
        ranges = cover(bound, cells)
        yield bound, subtract_ranges(ranges, scanned)
        if bound >= radius:
            return
        scanned = union_ranges(scanned, ranges)
        seen = found.count_within(bound)
        growth = (target / seen) ** (1 / 3) if seen else EMPTY_SHELL_GROWTH
        # After an empty ball nothing is known of what lies beyond it: finer cells keep a coarse
        # cover from reaching far past the next ball (into a cluster it would only read to drop).
        cells_at_least = 0 if seen else CELLS_AFTER_AN_EMPTY_SHELL
        previous, reach = reach, reach * max(growth, SHELL_MIN_GROWTH)
        expected = seen * ((min(near + reach, radius) - near) / previous) ** 3


def _nearest_cube_point_ly(cube: Cube, centre_ly: tuple[float, float, float]) -> float:
    """Distance from a point to the galaxy cube (0 inside it)."""
    lo = cube.min_ly
    return math.sqrt(sum(max(a - c, 0.0, c - a - cube.side_ly) ** 2 for c, a in zip(centre_ly, lo)))


def _farthest_corner_ly(cube: Cube, centre_ly: tuple[float, float, float]) -> float:
    """Distance from a point to the galaxy cube's farthest corner: no system lies farther."""
    lo = cube.min_ly
    return math.sqrt(sum(max(abs(c - a), abs(c - a - cube.side_ly)) ** 2 for c, a in zip(centre_ly, lo)))
