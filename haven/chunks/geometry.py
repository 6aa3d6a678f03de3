"""Octree node geometry for CHNK chunks.

A chunk is one node of an octree over the galaxy's bounding cube (centre
``(cx, cy, cz)``, half size ``h`` light years).  Morton codes have 21 bits
per axis, interleaved x lowest: bit ``3i`` of the code is bit ``i`` of x,
bit ``3i+1`` is bit ``i`` of y and bit ``3i+2`` is bit ``i`` of z.

A node at ``level`` L (0 = root) is named by ``cell``, the top ``3L`` bits of
the Morton codes of everything inside it, so ``0 <= cell < 8**L``.  Taking
the top bits of every axis at once means that de-interleaving ``cell`` gives
directly the node's integer position on the ``2**L``-per-axis grid of its
level.  The node is a cube of side ``2h / 2**L``.

This module deliberately does not import :mod:`haven.spatial`; the chunk
format must be decodable with nothing but this file (and the JS decoder
re-implements exactly the same arithmetic).
"""

from __future__ import annotations

import math
import operator

BITS_PER_AXIS = 21
MAX_LEVEL = BITS_PER_AXIS  # deepest octree level a cell can name


def _check_level_cell(level: int, cell: int) -> tuple[int, int]:
    try:
        level = operator.index(level)
        cell = operator.index(cell)
    except TypeError:
        raise TypeError("level and cell must be integers") from None
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"level must be in 0..{MAX_LEVEL}, got {level}")
    if not 0 <= cell < (1 << (3 * level)):
        raise ValueError(f"cell must be in 0..8**{level}-1 for level {level}, got {cell}")
    return level, cell


def cell_to_grid(level: int, cell: int) -> tuple[int, int, int]:
    """De-interleave ``cell`` into the node's grid position ``(ix, iy, iz)``.

    Each coordinate is in ``0 .. 2**level - 1``.  Bit ``3i`` of ``cell`` is
    bit ``i`` of ``ix``, bit ``3i+1`` is bit ``i`` of ``iy`` and bit ``3i+2``
    is bit ``i`` of ``iz``.
    """
    level, cell = _check_level_cell(level, cell)
    ix = iy = iz = 0
    for i in range(level):
        ix |= ((cell >> (3 * i)) & 1) << i
        iy |= ((cell >> (3 * i + 1)) & 1) << i
        iz |= ((cell >> (3 * i + 2)) & 1) << i
    return ix, iy, iz


def grid_to_cell(level: int, ix: int, iy: int, iz: int) -> int:
    """Inverse of :func:`cell_to_grid`."""
    level, _ = _check_level_cell(level, 0)
    n = 1 << level
    for name, v in (("ix", ix), ("iy", iy), ("iz", iz)):
        if not 0 <= v < n:
            raise ValueError(f"{name} must be in 0..{n - 1} at level {level}, got {v}")
    cell = 0
    for i in range(level):
        cell |= ((ix >> i) & 1) << (3 * i)
        cell |= ((iy >> i) & 1) << (3 * i + 1)
        cell |= ((iz >> i) & 1) << (3 * i + 2)
    return cell


def node_bounds(
    level: int,
    cell: int,
    centre_ly: tuple[float, float, float],
    half_size_ly: float,
) -> tuple[tuple[float, float, float], float]:
    """Minimum corner and side length (light years) of octree node ``(level, cell)``.

    ``centre_ly`` / ``half_size_ly`` describe the galaxy's bounding cube.
    The arithmetic is fixed (and mirrored by the JS decoder) so that encoder
    and decoders agree bit for bit::

        side = (2 * half_size) / 2**level
        min  = (centre - half_size) + i * side      # per axis, i from cell_to_grid
    """
    ix, iy, iz = cell_to_grid(level, cell)
    try:
        cx, cy, cz = (float(c) for c in centre_ly)
    except (TypeError, ValueError):
        raise ValueError("centre_ly must be three numbers") from None
    h = float(half_size_ly)
    if not all(math.isfinite(c) for c in (cx, cy, cz)):
        raise ValueError("centre_ly must be finite")
    if not (math.isfinite(h) and h > 0.0):
        raise ValueError(f"half_size_ly must be finite and > 0, got {half_size_ly!r}")
    side = (2.0 * h) / float(1 << level)
    mins = (
        (cx - h) + ix * side,
        (cy - h) + iy * side,
        (cz - h) + iz * side,
    )
    return mins, side
