"""Octree node geometry used by the CHNK format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.chunks import MAX_LEVEL, cell_to_grid, grid_to_cell, node_bounds


def morton(ix: int, iy: int, iz: int, bits: int = 21) -> int:
    """Straightforward bit-by-bit interleave (x lowest) as an independent oracle."""
    code = 0
    for i in range(bits):
        code |= ((ix >> i) & 1) << (3 * i) | ((iy >> i) & 1) << (3 * i + 1) | ((iz >> i) & 1) << (3 * i + 2)
    return code


def test_root():
    assert cell_to_grid(0, 0) == (0, 0, 0)
    assert node_bounds(0, 0, (1.0, 2.0, 3.0), 10.0) == ((-9.0, -8.0, -7.0), 20.0)


def test_level_one_octants_follow_bit_order():
    # bit 0 = x, bit 1 = y, bit 2 = z
    assert cell_to_grid(1, 0b001) == (1, 0, 0)
    assert cell_to_grid(1, 0b010) == (0, 1, 0)
    assert cell_to_grid(1, 0b100) == (0, 0, 1)
    assert node_bounds(1, 0b110, (0, 0, 0), 8.0) == ((-8.0, 0.0, 0.0), 8.0)


def test_worked_example():
    # octal digits are levels, top level first: 5 = (x1,y0,z1), 2 = (0,1,0), 7 = (1,1,1)
    assert cell_to_grid(3, 0o527) == (0b101, 0b011, 0b101)
    assert node_bounds(3, 0o527, (10, 20, 30), 1000) == ((260.0, -230.0, 280.0), 250.0)


@given(
    st.integers(0, 2**21 - 1), st.integers(0, 2**21 - 1), st.integers(0, 2**21 - 1), st.integers(0, MAX_LEVEL)
)
def test_cell_is_top_bits_of_morton_code(ix, iy, iz, level):
    cell = morton(ix, iy, iz) >> (3 * (MAX_LEVEL - level))
    shift = MAX_LEVEL - level
    assert cell_to_grid(level, cell) == (ix >> shift, iy >> shift, iz >> shift)
    assert grid_to_cell(level, ix >> shift, iy >> shift, iz >> shift) == cell


@given(st.integers(0, MAX_LEVEL).flatmap(lambda lv: st.tuples(st.just(lv), st.integers(0, 8**lv - 1))))
def test_point_lies_in_its_node(level_cell):
    level, cell = level_cell
    centre, half = (100.0, -50.0, 7.0), 1024.0
    (mx, my, mz), side = node_bounds(level, cell, centre, half)
    assert side == 2 * half / 2**level
    for m, c in zip((mx, my, mz), centre):
        assert c - half <= m and m + side <= c + half


@pytest.mark.parametrize(
    "args",
    [(-1, 0), (22, 0), (1, 8), (0, 1), (2, -1), (1.5, 0)],
)
def test_bad_level_or_cell(args):
    with pytest.raises((ValueError, TypeError)):
        node_bounds(*args, (0, 0, 0), 1.0)


@pytest.mark.parametrize("half", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_half_size(half):
    with pytest.raises(ValueError):
        node_bounds(0, 0, (0, 0, 0), half)


def test_bad_centre():
    with pytest.raises(ValueError):
        node_bounds(0, 0, (0, 0), 1.0)
    with pytest.raises(ValueError):
        node_bounds(0, 0, (0, float("nan"), 0), 1.0)
