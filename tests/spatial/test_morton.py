from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from haven.spatial import Cube, box_code_ranges, cell_code_range, deinterleave3, interleave3, sphere_code_ranges
from haven.spatial.morton import interleave3_array

grid = st.integers(min_value=0, max_value=(1 << 21) - 1)
CUBE = Cube(0.0, 0.0, 0.0, 1024.0)
coord = st.floats(min_value=-1024, max_value=1024, allow_nan=False)


@given(grid, grid, grid)
def test_interleave_round_trips(x, y, z):
    code = interleave3(x, y, z)
    assert 0 <= code < 1 << 63
    assert deinterleave3(code) == (x, y, z)


def test_bit_layout():
    assert interleave3(1, 0, 0) == 1
    assert interleave3(0, 1, 0) == 2
    assert interleave3(0, 0, 1) == 4
    assert interleave3(2, 0, 0) == 8


def test_vectorised_matches_scalar():
    rng = np.random.default_rng(3)
    xs, ys, zs = (rng.integers(0, 1 << 21, 500) for _ in range(3))
    assert interleave3_array(xs, ys, zs).tolist() == [interleave3(int(a), int(b), int(c)) for a, b, c in zip(xs, ys, zs)]
    pts = rng.uniform(-1024, 1024, (500, 3))
    assert CUBE.codes(pts[:, 0], pts[:, 1], pts[:, 2]).tolist() == [CUBE.code(*p) for p in pts]


@given(coord, coord, coord)
def test_a_node_is_a_contiguous_code_range(x, y, z):
    code = CUBE.code(x, y, z)
    for level in range(0, 22, 3):
        cell = code >> (3 * (21 - level))
        lo, hi = cell_code_range(level, cell)
        assert lo <= code <= hi
        (cx, cy, cz), side = CUBE.cell_bounds(level, cell)
        eps = 1e-9 * CUBE.side_ly
        assert cx - eps <= x <= cx + side + eps or math.isclose(x, 1024)


@settings(max_examples=200)
@given(coord, coord, coord, coord, coord, coord, st.floats(min_value=0.01, max_value=600))
def test_sphere_ranges_cover_every_point_inside(px, py, pz, cx, cy, cz, r):
    """Any point within the radius has its code inside one of the ranges."""
    ranges = sphere_code_ranges(CUBE, cx, cy, cz, r)
    assert ranges == sorted(ranges)
    inside = math.dist((px, py, pz), (cx, cy, cz)) <= r
    code = CUBE.code(px, py, pz)
    covered = any(lo <= code <= hi for lo, hi in ranges)
    if inside:
        assert covered
    assert len(ranges) <= 64


@given(coord, coord, coord)
def test_box_ranges_cover_the_box(px, py, pz):
    lo, hi = (-100.0, -50.0, -10.0), (300.0, 20.0, 10.0)
    ranges = box_code_ranges(CUBE, lo, hi)
    code = CUBE.code(px, py, pz)
    if all(a <= p <= b for a, p, b in zip(lo, (px, py, pz), hi)):
        assert any(a <= code <= b for a, b in ranges)


def test_shapes_that_only_touch_the_cubes_upper_faces_cover_the_points_on_them():
    """A point exactly on a max face is inside the galaxy; a box or sphere reaching only that face finds it."""
    for axis in range(3):
        point = [0.0, 0.0, 0.0]
        point[axis] = 1024.0
        code = CUBE.code(*point)
        lo, hi = [-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]
        lo[axis] = hi[axis] = 1024.0
        assert any(a <= code <= b for a, b in box_code_ranges(CUBE, tuple(lo), tuple(hi)))
        centre = list(point)
        centre[axis] = 1025.0  # outside the cube, exactly 1 LY from the point
        assert any(a <= code <= b for a, b in sphere_code_ranges(CUBE, *centre, 1.0))
    assert box_code_ranges(CUBE, (1024.5, -1.0, -1.0), (2000.0, 1.0, 1.0)) == []  # beyond the face: nothing
