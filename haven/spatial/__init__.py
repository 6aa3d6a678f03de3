"""Spatial keys: Morton (Z-order) codes over a galaxy's bounding cube.

A system's position inside its galaxy's cube is quantized to 21 bits per axis
and interleaved into a 63-bit code. An octree node at level ``L`` is the set of
codes sharing their top ``3·L`` bits, so every node is one contiguous key range
and a sphere or box becomes a handful of range scans on one index.
"""

from haven.spatial.morton import (
    BITS_PER_AXIS,
    MAX_LEVEL,
    Cube,
    cell_code_range,
    deinterleave3,
    interleave3,
)
from haven.spatial.ranges import box_code_ranges, sphere_code_ranges

__all__ = [
    "BITS_PER_AXIS",
    "MAX_LEVEL",
    "Cube",
    "box_code_ranges",
    "cell_code_range",
    "deinterleave3",
    "interleave3",
    "sphere_code_ranges",
]
