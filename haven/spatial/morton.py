"""63-bit Morton codes: 21 bits per axis, bit ``3i`` = x bit ``i``, ``3i+1`` = y, ``3i+2`` = z."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

BITS_PER_AXIS = 21
MAX_LEVEL = BITS_PER_AXIS
GRID_SIZE = 1 << BITS_PER_AXIS  # cells per axis at the deepest level

_MASKS = (
    (0x1FFFFF, 0),
    (0x1F00000000FFFF, 32),
    (0x1F0000FF0000FF, 16),
    (0x100F00F00F00F00F, 8),
    (0x10C30C30C30C30C3, 4),
    (0x1249249249249249, 2),
)


#: ``(shift, mask)`` of each spreading step, and of each step undoing it (mask of the step before)
_SPREAD_STEPS = tuple((shift, mask) for mask, shift in _MASKS[1:])
_COMPACT_STEPS = tuple((_MASKS[i][1], _MASKS[i - 1][0]) for i in range(len(_MASKS) - 1, 0, -1))
# the same as numpy scalars, so array code does not convert them on every call
_SPREAD_STEPS_U64 = tuple((np.uint64(shift), np.uint64(mask)) for shift, mask in _SPREAD_STEPS)
_COMPACT_STEPS_U64 = tuple((np.uint64(shift), np.uint64(mask)) for shift, mask in _COMPACT_STEPS)
_AXIS_MASK_U64 = np.uint64(0x1FFFFF)
_SPREAD_MASK_U64 = np.uint64(0x1249249249249249)


def _spread(v: int) -> int:
    """Put the 21 bits of ``v`` two bits apart (bit i → bit 3i)."""
    v &= 0x1FFFFF
    for shift, mask in _SPREAD_STEPS:
        v = (v | (v << shift)) & mask
    return v


def _compact(v: int) -> int:
    """Inverse of :func:`_spread`: fold the bits back together, one step at a time."""
    v &= 0x1249249249249249
    for shift, mask in _COMPACT_STEPS:
        v = (v | (v >> shift)) & mask
    return v


def interleave3(ix: int, iy: int, iz: int) -> int:
    """Morton code of integer grid coordinates (each 0 ≤ i < 2^21)."""
    return _spread(ix) | (_spread(iy) << 1) | (_spread(iz) << 2)


def deinterleave3(code: int) -> tuple[int, int, int]:
    """Grid coordinates of a Morton code."""
    return _compact(code), _compact(code >> 1), _compact(code >> 2)


def _spread_array(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64)
    v &= _AXIS_MASK_U64
    for shift, mask in _SPREAD_STEPS_U64:
        v |= v << shift
        v &= mask
    return v


def spread_axis(index: np.ndarray, axis: int) -> np.ndarray:
    """One axis's share of Morton codes (uint64): grid coordinates spread to bits ``3i + axis``.

    The code of a cell is the OR of its three axes' shares.
    """
    return _spread_array(index) << np.uint64(axis)


def interleave3_array(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray) -> np.ndarray:
    """Vectorised :func:`interleave3`; returns int64 codes."""
    code = _spread_array(ix) | (_spread_array(iy) << np.uint64(1)) | (_spread_array(iz) << np.uint64(2))
    return code.astype(np.int64)


def _compact_array(v: np.ndarray) -> np.ndarray:
    v = v & _SPREAD_MASK_U64
    for shift, mask in _COMPACT_STEPS_U64:
        v |= v >> shift
        v &= mask
    return v


def deinterleave3_array(codes: np.ndarray) -> np.ndarray:
    """Vectorised :func:`deinterleave3`: an ``(N, 3)`` int64 array of grid coordinates."""
    c = np.asarray(codes, dtype=np.int64).view(np.uint64)[:, None] >> np.arange(3, dtype=np.uint64)
    return _compact_array(c).view(np.int64)


def cell_code_range(level: int, cell: int) -> tuple[int, int]:
    """Inclusive range of full-depth codes inside octree node ``(level, cell)``."""
    shift = 3 * (MAX_LEVEL - level)
    return cell << shift, ((cell + 1) << shift) - 1


@dataclass(frozen=True)
class Cube:
    """A galaxy's bounding cube, in light years."""

    centre_x_ly: float
    centre_y_ly: float
    centre_z_ly: float
    half_size_ly: float

    @classmethod
    def of_galaxy(cls, galaxy: Mapping[str, Any]) -> Cube:
        """The cube of a galaxy as the store describes it (``centre_x_ly`` …, ``half_size_ly``)."""
        return cls(galaxy["centre_x_ly"], galaxy["centre_y_ly"], galaxy["centre_z_ly"], galaxy["half_size_ly"])

    def centre_on(self, axis: str) -> float:
        """The centre's coordinate on ``"x"``, ``"y"`` or ``"z"``, in light years."""
        return {"x": self.centre_x_ly, "y": self.centre_y_ly, "z": self.centre_z_ly}[axis]

    def outside_message(self, axis: str, value_ly: float) -> str:
        """What every entry point says of a coordinate outside the cube.

        The value is written in full (the shortest text that reads back as it): a
        value just past the edge would otherwise read as the edge itself."""
        shown = repr(float(value_ly)).removesuffix(".0")
        return f"{shown} lies outside the galaxy (±{self.half_size_ly:g} LY around {self.centre_on(axis):g})"

    @property
    def min_ly(self) -> tuple[float, float, float]:
        h = self.half_size_ly
        return (self.centre_x_ly - h, self.centre_y_ly - h, self.centre_z_ly - h)

    @property
    def side_ly(self) -> float:
        return 2.0 * self.half_size_ly

    def contains(self, x_ly: float, y_ly: float, z_ly: float) -> bool:
        h = self.half_size_ly
        return (
            abs(x_ly - self.centre_x_ly) <= h
            and abs(y_ly - self.centre_y_ly) <= h
            and abs(z_ly - self.centre_z_ly) <= h
        )

    def grid_coord(self, value_ly: float, axis: int) -> int:
        """Quantize one coordinate to the 21-bit grid, clamped to the cube."""
        lo = self.min_ly[axis]
        i = math.floor((value_ly - lo) / self.side_ly * GRID_SIZE)
        return min(max(i, 0), GRID_SIZE - 1)

    def code(self, x_ly: float, y_ly: float, z_ly: float) -> int:
        """Morton code of a position inside the cube."""
        return interleave3(self.grid_coord(x_ly, 0), self.grid_coord(y_ly, 1), self.grid_coord(z_ly, 2))

    def codes(self, x_ly: np.ndarray, y_ly: np.ndarray, z_ly: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`code`."""
        lo = self.min_ly
        grid = []
        for axis, v in enumerate((x_ly, y_ly, z_ly)):
            i = np.floor((np.asarray(v, dtype=np.float64) - lo[axis]) / self.side_ly * GRID_SIZE)
            grid.append(np.clip(i, 0, GRID_SIZE - 1).astype(np.int64))
        return interleave3_array(*grid)

    def code_centres_ly(self, codes: np.ndarray) -> np.ndarray:
        """Centres (``(N, 3)``, LY) of the deepest-level cells of Morton codes.

        A system lies in its code's cell, so it is within :attr:`code_slack_ly` of
        the centre: enough to sort and filter candidates before reading positions.
        """
        side = self.side_ly / GRID_SIZE
        return np.asarray(self.min_ly, dtype=np.float64) + (deinterleave3_array(codes) + 0.5) * side

    @property
    def code_rounding_ly(self) -> float:
        """How far past a cell's face a system filed in that cell can lie (rounded up generously).

        :meth:`grid_coord` rounds ``value - min`` to a double, so a system a few ulps
        below a grid line can be filed in the cell above it.
        """
        return self.side_ly * 1e-12

    @property
    def code_half_cell_ly(self) -> float:
        """How far, along one axis, a system can lie from its code's cell centre (rounded up)."""
        return self.side_ly / GRID_SIZE / 2 * (1 + 1e-9) + self.code_rounding_ly

    @property
    def code_slack_ly(self) -> float:
        """How far a system can lie from its code's cell centre (half the cell's diagonal, rounded up)."""
        return self.code_half_cell_ly * math.sqrt(3)

    def cell_side_ly(self, level: int) -> float:
        return self.side_ly / (1 << level)

    def cell_bounds(self, level: int, cell: int) -> tuple[tuple[float, float, float], float]:
        """Lower corner and side (LY) of octree node ``(level, cell)``."""
        ix, iy, iz = deinterleave3(cell)
        side = self.cell_side_ly(level)
        lo = self.min_ly
        return (lo[0] + ix * side, lo[1] + iy * side, lo[2] + iz * side), side
