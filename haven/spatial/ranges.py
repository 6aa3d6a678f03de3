"""Turn a sphere or a box into a short list of Morton code ranges.

The shape's bounding box is covered with octree cells at the deepest level
where it spans at most ``MAX_CELLS_PER_AXIS`` cells per axis; cells that miss
the shape are dropped and neighbours in code order are merged. The caller then
scans each range on the ``(galaxy_id, code)`` index and filters by exact
distance, so the cost is O(result + ranges · log n).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from haven.spatial.morton import MAX_LEVEL, Cube, cell_code_range, interleave3, interleave3_array

MAX_CELLS_PER_AXIS = 4

Range = tuple[int, int]


def _level_for_extent(cube: Cube, extent_ly: float) -> int:
    """Deepest level whose cells cover ``extent_ly`` in ≤ MAX_CELLS_PER_AXIS - 1 cells."""
    if extent_ly <= 0:
        return MAX_LEVEL
    level = math.floor(math.log2(cube.side_ly * (MAX_CELLS_PER_AXIS - 1) / extent_ly))
    return max(0, min(MAX_LEVEL, level))


def _cells_in_box(cube: Cube, level: int, lo_ly: tuple[float, ...], hi_ly: tuple[float, ...]):
    side = cube.cell_side_ly(level)
    cube_lo = cube.min_ly
    n = 1 << level
    spans = []
    for axis in range(3):
        a = math.floor((lo_ly[axis] - cube_lo[axis]) / side)
        b = math.floor((hi_ly[axis] - cube_lo[axis]) / side)
        spans.append(range(max(a, 0), min(b, n - 1) + 1))
    return spans, side


def _merge(ranges: list[Range]) -> list[Range]:
    ranges.sort()
    merged: list[Range] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _ranges_for(cube: Cube, lo_ly, hi_ly, keep) -> list[Range]:
    extent = max(h - l for l, h in zip(lo_ly, hi_ly))
    level = _level_for_extent(cube, extent)
    spans, side = _cells_in_box(cube, level, lo_ly, hi_ly)
    cube_lo = cube.min_ly
    out: list[Range] = []
    for ix, iy, iz in itertools.product(*spans):
        cell_lo = (cube_lo[0] + ix * side, cube_lo[1] + iy * side, cube_lo[2] + iz * side)
        if keep(cell_lo, side):
            out.append(cell_code_range(level, interleave3(ix, iy, iz)))
    return _merge(out)


def sphere_code_ranges(
    cube: Cube, x_ly: float, y_ly: float, z_ly: float, radius_ly: float
) -> list[Range]:
    """Code ranges covering every point of the cube within ``radius_ly`` of the centre."""
    centre = (x_ly, y_ly, z_ly)
    lo = tuple(c - radius_ly for c in centre)
    hi = tuple(c + radius_ly for c in centre)
    r2 = radius_ly * radius_ly

    def touches(cell_lo, side) -> bool:
        d2 = 0.0
        for axis in range(3):
            c = centre[axis]
            nearest = min(max(c, cell_lo[axis]), cell_lo[axis] + side)
            d = c - nearest
            d2 += d * d
        return d2 <= r2

    return _ranges_for(cube, lo, hi, touches)


def box_code_ranges(
    cube: Cube, lo_ly: tuple[float, float, float], hi_ly: tuple[float, float, float]
) -> list[Range]:
    """Code ranges covering every point of the cube inside the axis-aligned box."""
    return _ranges_for(cube, lo_ly, hi_ly, lambda cell_lo, side: True)


SHELL_CELLS_PER_AXIS = 8
SHELL_FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def sphere_code_shells(
    cube: Cube, x_ly: float, y_ly: float, z_ly: float, radius_ly: float,
    fractions: tuple[float, ...] = SHELL_FRACTIONS,
) -> list[tuple[float, list[Range]]]:
    """The sphere's cover split into shells, nearest first, for limited nearest-first queries.

    Returns ``[(bound_ly, ranges), ...]``: shell ``i`` holds the cells whose nearest
    point to the centre is below ``bound_ly = radius_ly * fractions[i]`` (and not in an
    earlier shell). Every point in a later shell is at least ``bound_ly`` away, so a
    query that already has ``limit`` results nearer than ``bound_ly`` can stop.
    """
    centre = np.array([x_ly, y_ly, z_ly], dtype=np.float64)
    level = MAX_LEVEL
    if radius_ly > 0:
        level = math.floor(math.log2(cube.side_ly * (SHELL_CELLS_PER_AXIS - 1) / (2 * radius_ly)))
        level = max(0, min(MAX_LEVEL, level))
    spans, side = _cells_in_box(cube, level, tuple(centre - radius_ly), tuple(centre + radius_ly))
    grid = np.stack([g.ravel() for g in np.meshgrid(*(np.arange(sp.start, sp.stop) for sp in spans),
                                                      indexing="ij")]).astype(np.int64)
    cell_lo = np.asarray(cube.min_ly, dtype=np.float64)[:, None] + grid * side
    nearest = np.clip(centre[:, None], cell_lo, cell_lo + side)
    d_ly = np.sqrt(((centre[:, None] - nearest) ** 2).sum(axis=0))
    inside = d_ly <= radius_ly
    bounds = [radius_ly * f for f in fractions]
    shell = np.minimum(np.searchsorted(np.asarray(bounds), d_ly[inside], side="right"), len(bounds) - 1)
    shift = 3 * (MAX_LEVEL - level)
    lo = interleave3_array(*grid[:, inside]) << shift
    hi = lo + ((1 << shift) - 1)
    out = []
    for k, bound in enumerate(bounds):
        mine = shell == k
        out.append((bound, _merge(list(zip(lo[mine].tolist(), hi[mine].tolist())))))
    return out
