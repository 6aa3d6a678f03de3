"""CHNX: the exact positions of one octree node's systems, for a map zoomed in close.

A CHNK chunk quantizes each axis to 16 bits of its node's cube: about 4 LY in
the root node of a galaxy 262,144 LY across. That is below a pixel while the
node is seen whole, but a map zoomed in on a few light years of it would draw
neighbours on one grid point. A client that sees a node's step grow past a
pixel asks for the node's CHNX and redraws its points from it: the same
systems in the same order (for the same node version), each axis at 32 bits
of the node's cube (under 0.0001 LY in the root). See ``docs/formats/chnk.md``
(section "Exact positions: CHNX") for the bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .format import ChunkFormatError, _as_coords, _planes, _unplanes
from .geometry import _check_level_cell, node_bounds

__all__ = ["EXACT_CONTENT_TYPE", "EXACT_HEADER_SIZE", "EXACT_MAGIC", "EXACT_QUANT_MAX", "ExactPositions", "decode_exact", "encode_exact"]

EXACT_MAGIC = b"CHNX"
EXACT_CONTENT_TYPE = "application/vnd.haven.chnx"
EXACT_FORMAT_VERSION = 1
EXACT_HEADER_SIZE = 32
#: magic, format version, level, reserved, count, crc32 of the body, cell, node version
_HEADER = struct.Struct("<4sBBHIIQQ")
assert _HEADER.size == EXACT_HEADER_SIZE
EXACT_QUANT_MAX = 0xFFFFFFFF  # 32-bit quantization: q in 0..2^32 - 1


@dataclass(frozen=True, eq=False)
class ExactPositions:
    """A decoded CHNX: absolute coordinates (float64, light years) in the chunk's point order."""

    level: int
    cell: int
    version: int
    x_ly: np.ndarray
    y_ly: np.ndarray
    z_ly: np.ndarray

    @property
    def count(self) -> int:
        return int(self.x_ly.shape[0])


def _quantize32(v: np.ndarray, lo: float, side: float) -> np.ndarray:
    t = (v - lo) / side * EXACT_QUANT_MAX
    np.rint(t, out=t)
    np.clip(t, 0, EXACT_QUANT_MAX, out=t)
    return t.astype(np.uint32)


def encode_exact(level: int, cell: int, version: int, centre_ly: tuple[float, float, float], half_size_ly: float,
                 x_ly: Any, y_ly: Any, z_ly: Any) -> bytes:
    """The CHNX bytes of a node's members (uncompressed), in the order given."""
    level, cell = _check_level_cell(level, cell)
    if not 0 <= int(version) < 2**64:
        raise ValueError(f"version must fit 64 bits, got {version!r}")
    xs, ys, zs = (_as_coords(name, a) for name, a in (("x_ly", x_ly), ("y_ly", y_ly), ("z_ly", z_ly)))
    if not xs.shape == ys.shape == zs.shape:
        raise ValueError("x_ly, y_ly and z_ly must have the same length")
    mins, side = node_bounds(level, cell, centre_ly, half_size_ly)
    body = b"".join(_planes(_quantize32(v, lo, side), 4) for v, lo in zip((xs, ys, zs), mins))
    header = _HEADER.pack(EXACT_MAGIC, EXACT_FORMAT_VERSION, level, 0, xs.shape[0], zlib.crc32(body), cell,
                          int(version))
    return header + body


def decode_exact(data: bytes | bytearray | memoryview, centre_ly: tuple[float, float, float],
                 half_size_ly: float) -> ExactPositions:
    """Read CHNX bytes (uncompressed); :class:`ChunkFormatError` names what is wrong."""
    if len(data) < EXACT_HEADER_SIZE:
        raise ChunkFormatError(f"a CHNX needs {EXACT_HEADER_SIZE} header bytes, got {len(data)}")
    magic, fmt, level, reserved, count, crc, cell, version = _HEADER.unpack_from(data, 0)
    if magic != EXACT_MAGIC:
        raise ChunkFormatError(f"not a CHNX (magic {bytes(magic)!r})")
    if fmt != EXACT_FORMAT_VERSION:
        raise ChunkFormatError(f"CHNX format version {fmt} is not supported (this reader knows 1)")
    if reserved:
        raise ChunkFormatError("CHNX reserved bytes must be 0")
    if len(data) != EXACT_HEADER_SIZE + 12 * count:
        raise ChunkFormatError(f"a CHNX of {count} points is {EXACT_HEADER_SIZE + 12 * count} bytes, got {len(data)}")
    body = memoryview(data)[EXACT_HEADER_SIZE:]
    if zlib.crc32(body) != crc:
        raise ChunkFormatError("CHNX body does not match its CRC-32")
    try:
        mins, side = node_bounds(level, cell, centre_ly, half_size_ly)
    except ValueError as exc:
        raise ChunkFormatError(str(exc)) from None
    axes = [lo + _unplanes(body, 4 * count * a, count, 4).astype(np.float64) / EXACT_QUANT_MAX * side
            for a, lo in enumerate(mins)]
    return ExactPositions(level, cell, version, *axes)
