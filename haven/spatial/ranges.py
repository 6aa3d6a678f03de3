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

from haven.spatial.morton import MAX_LEVEL, Cube, cell_code_range, interleave3, spread_axis

MAX_CELLS_PER_AXIS = 4

Range = tuple[int, int]


def _level_for_extent(cube: Cube, extent_ly: float, cells_per_axis: int = MAX_CELLS_PER_AXIS) -> int:
    """Deepest level whose cells cover ``extent_ly`` in ≤ ``cells_per_axis - 1`` cells.

    An extent so small that the ratio overflows (``1e-320`` LY) gets the deepest level.
    """
    if extent_ly <= 0:
        return MAX_LEVEL
    ratio = cube.side_ly * (cells_per_axis - 1) / extent_ly
    if not math.isfinite(ratio):
        return MAX_LEVEL
    return max(0, min(MAX_LEVEL, math.floor(math.log2(ratio))))


def _cells_in_box(cube: Cube, level: int, lo_ly: tuple[float, ...], hi_ly: tuple[float, ...]):
    side = cube.cell_side_ly(level)
    cube_lo = cube.min_ly
    n = 1 << level
    spans = []
    for axis in range(3):
        a = math.floor((lo_ly[axis] - cube_lo[axis]) / side)
        b = math.floor((hi_ly[axis] - cube_lo[axis]) / side)
        if lo_ly[axis] <= cube_lo[axis] + cube.side_ly:
            a = min(a, n - 1)  # a box that only touches the cube's upper face still holds its last cells
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
    cube: Cube, x_ly: float, y_ly: float, z_ly: float, radius_ly: float,
    cells_per_axis: int = MAX_CELLS_PER_AXIS,
) -> list[Range]:
    """Code ranges covering every point of the cube within ``radius_ly`` of the centre.

    The sphere's bounding box spans at most ``cells_per_axis`` cells per axis;
    finer cells hug the sphere closer but give more ranges.
    """
    centre = (x_ly, y_ly, z_ly)
    # Cells are picked by their exact bounds, but a system's code may put it a rounding
    # error outside its cell: reach that much further so such a system is still scanned.
    reach_ly = radius_ly + cube.code_rounding_ly
    # the cells are sized to the part of the sphere's bounding box inside the cube: a ball
    # centred far outside, whose inside part is a thin cap, still gets cells that follow it
    cube_lo = cube.min_ly
    clipped = max(min(c + radius_ly, a + cube.side_ly) - max(c - radius_ly, a) for c, a in zip(centre, cube_lo))
    level = _level_for_extent(cube, min(2 * radius_ly, max(clipped, 0.0)), cells_per_axis)
    spans, side = _cells_in_box(cube, level, tuple(c - reach_ly for c in centre),
                                tuple(c + reach_ly for c in centre))
    if any(len(sp) == 0 for sp in spans):
        return []
    # A cell touches the sphere when its point nearest the centre is within the radius;
    # that squared distance is a sum of one term per axis, so it is three short
    # vectors broadcast into the grid (no grid of coordinates is built).
    axis_d2, axis_codes = [], []
    for axis, sp in enumerate(spans):
        index = np.arange(sp.start, sp.stop, dtype=np.int64)
        cell_lo = cube.min_ly[axis] + index * side
        gap = np.maximum(np.maximum(cell_lo - centre[axis], centre[axis] - (cell_lo + side)), 0.0)
        axis_d2.append(gap * gap)
        axis_codes.append(spread_axis(index, axis))
    d2 = axis_d2[0][:, None, None] + axis_d2[1][None, :, None] + axis_d2[2][None, None, :]
    codes = axis_codes[0][:, None, None] | axis_codes[1][None, :, None] | axis_codes[2][None, None, :]
    shift = 3 * (MAX_LEVEL - level)
    lo = np.sort(codes[d2 <= reach_ly * reach_ly].view(np.int64) << shift)
    return merge_ranges(lo, lo + ((1 << shift) - 1))


def merge_ranges(lo: np.ndarray, hi: np.ndarray) -> list[Range]:
    """Sorted, disjoint inclusive ranges, neighbours joined (``lo`` sorted, ranges not overlapping)."""
    if len(lo) == 0:
        return []
    starts = np.flatnonzero(np.concatenate(([True], lo[1:] > hi[:-1] + 1)))
    ends = np.append(starts[1:] - 1, len(lo) - 1)
    return list(zip(lo[starts].tolist(), hi[ends].tolist()))


def subtract_ranges(ranges: list[Range], taken: list[Range]) -> list[Range]:
    """The parts of sorted disjoint ``ranges`` outside sorted disjoint ``taken``."""
    out: list[Range] = []
    j = 0
    for lo, hi in ranges:
        while j < len(taken) and taken[j][1] < lo:
            j += 1
        k = j
        while lo <= hi and k < len(taken) and taken[k][0] <= hi:
            if taken[k][0] > lo:
                out.append((lo, taken[k][0] - 1))
            lo = max(lo, taken[k][1] + 1)
            k += 1
        if lo <= hi:
            out.append((lo, hi))
    return out


def intersect_ranges(a: list[Range], b: list[Range]) -> list[Range]:
    """The codes in both sorted disjoint lists, as sorted disjoint ranges."""
    return subtract_ranges(a, subtract_ranges(a, b))


def union_ranges(a: list[Range], b: list[Range]) -> list[Range]:
    """Sorted disjoint ranges covering both sorted disjoint lists."""
    return _merge(a + b)


def box_code_ranges(
    cube: Cube, lo_ly: tuple[float, float, float], hi_ly: tuple[float, float, float]
) -> list[Range]:
    """Code ranges covering every point of the cube inside the axis-aligned box."""
    return _ranges_for(cube, lo_ly, hi_ly, lambda cell_lo, side: True)
