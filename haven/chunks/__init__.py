"""CHNK: binary chunks of star positions for the browser map.

See ``docs/formats/chnk.md`` for the byte-by-byte format.
"""

from __future__ import annotations

from .format import (
    FLAG_COLOUR16,
    FLAG_IDS,
    FLAG_METADATA,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    QUANT_MAX,
    ChunkFormatError,
    ChunkHeader,
    DecodedChunk,
    decode_chunk,
    encode_chunk,
    read_header,
)
from .geometry import MAX_LEVEL, cell_to_grid, grid_to_cell, node_bounds
from .transfer import CONTENT_TYPE, choose_encoding, compress, decompress

__all__ = [
    "CONTENT_TYPE",
    "FLAG_COLOUR16",
    "FLAG_IDS",
    "FLAG_METADATA",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_LEVEL",
    "QUANT_MAX",
    "ChunkFormatError",
    "ChunkHeader",
    "DecodedChunk",
    "cell_to_grid",
    "choose_encoding",
    "compress",
    "decode_chunk",
    "decompress",
    "encode_chunk",
    "grid_to_cell",
    "node_bounds",
    "read_header",
]
