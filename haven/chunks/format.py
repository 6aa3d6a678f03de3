"""CHNK: the binary chunk format that carries one octree node's star systems.

The byte-by-byte specification lives in ``docs/formats/chnk.md``; this module
is the reference encoder/decoder and the two must agree.  In short (all
integers little-endian)::

    offset size  field
    0      4     magic  b"CHNK"
    4      1     format version (1)
    5      1     flags: bit0 metadata, bit1 ids, bit2 u16 colours; others 0
    6      1     level (0..21)
    7      1     reserved, 0
    8      4     count, u32: number of systems
    12     4     CRC-32 (zlib/IEEE) of every byte after the header
    16     ...   body:
                 x planes  (hi bytes[count], lo bytes[count])   \
                 y planes  (hi bytes[count], lo bytes[count])    } quantized u16
                 z planes  (hi bytes[count], lo bytes[count])   /
                 colour    u8[count], or u16 as hi plane + lo plane
                 ids       (flag bit1) u32 as 4 planes, most significant first
                 metadata  (flag bit0) u32 length + msgpack map

Every multi-byte per-system array is *byte-plane split*: all the most
significant bytes first, then the next plane, and so on.  Planes of similar
bytes compress better under gzip than interleaved little-endian words.

Positions are quantized to 16 bits per axis inside the node's cube::

    q = clamp(round((v - min) / side * 65535), 0, 65535)
    v' = min + q * (side / 65535)     # centre of q's rounding interval

so a position inside the cube comes back within half a step
(``side / 65535 / 2``) of where it was.

The encoder never reorders systems: the caller (the server) decides the order
(priority order: most important first) and index ``i`` within the chunk of
node ``(level, cell)`` at node version ``metadata["version"]`` names a system
for picking.
"""

from __future__ import annotations

import operator
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import msgpack
import numpy as np

from .geometry import MAX_LEVEL, node_bounds

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "FLAG_METADATA",
    "FLAG_IDS",
    "FLAG_COLOUR16",
    "QUANT_MAX",
    "ChunkFormatError",
    "DecodedChunk",
    "encode_chunk",
    "decode_chunk",
    "read_header",
    "ChunkHeader",
]

MAGIC = b"CHNK"
FORMAT_VERSION = 1
HEADER_SIZE = 16
_HEADER = struct.Struct("<4sBBBBII")  # magic, version, flags, level, reserved, count, crc32
assert _HEADER.size == HEADER_SIZE

FLAG_METADATA = 0x01
FLAG_IDS = 0x02
FLAG_COLOUR16 = 0x04
_KNOWN_FLAGS = FLAG_METADATA | FLAG_IDS | FLAG_COLOUR16

QUANT_MAX = 65535  # 16-bit quantization: q in 0..65535
MAX_COUNT = 0xFFFFFFFF

# Metadata keys the format itself defines (see docs/formats/chnk.md).
RESERVED_METADATA_KEYS = ("level", "cell")


class ChunkFormatError(ValueError):
    """The bytes are not a valid CHNK chunk (or not one this decoder supports)."""


@dataclass(frozen=True)
class ChunkHeader:
    """The fixed 16-byte header, parsed and checked."""

    version: int
    flags: int
    level: int
    count: int
    crc32: int

    @property
    def has_metadata(self) -> bool:
        return bool(self.flags & FLAG_METADATA)

    @property
    def has_ids(self) -> bool:
        return bool(self.flags & FLAG_IDS)

    @property
    def colour_bytes(self) -> int:
        return 2 if self.flags & FLAG_COLOUR16 else 1

    @property
    def bytes_per_system(self) -> int:
        """Body bytes per system, metadata excluded."""
        return 6 + self.colour_bytes + (4 if self.has_ids else 0)


@dataclass(frozen=True, eq=False)
class DecodedChunk:
    """One decoded chunk.

    ``x_ly``/``y_ly``/``z_ly`` are absolute galaxy coordinates (float64),
    each the centre of its quantization step.  ``colour_index`` is uint8 or
    uint16 as stored; ``ids`` is uint32 or ``None``.  ``metadata`` is the
    decoded msgpack map (``{}`` when the chunk carries none).
    """

    level: int
    cell: int
    count: int
    x_ly: np.ndarray
    y_ly: np.ndarray
    z_ly: np.ndarray
    colour_index: np.ndarray
    ids: np.ndarray | None
    metadata: dict[str, Any]
    node_min_ly: tuple[float, float, float]
    side_ly: float
    format_version: int = FORMAT_VERSION
    flags: int = 0
    quantized: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    """``(3, count)`` uint16: the raw quantized positions."""

    @property
    def step_ly(self) -> float:
        """Size of one quantization step along each axis."""
        return self.side_ly / QUANT_MAX

    @property
    def version(self) -> int | None:
        """Node version from the metadata (``None`` when absent)."""
        v = self.metadata.get("version")
        return v if isinstance(v, int) and not isinstance(v, bool) else None


# --------------------------------------------------------------------------
# helpers


def _planes(values: np.ndarray, width: int) -> bytes:
    """Byte-plane split: most significant byte of every value, then the next..."""
    n = values.shape[0]
    be = values.astype(f">u{width}", copy=False)
    return be.view(np.uint8).reshape(n, width).T.tobytes()


def _unplanes(buf: bytes | memoryview, offset: int, count: int, width: int) -> np.ndarray:
    """Inverse of :func:`_planes`; returns a native-endian unsigned array."""
    planes = np.frombuffer(buf, dtype=np.uint8, count=count * width, offset=offset)
    planes = planes.reshape(width, count)
    out = np.zeros(count, dtype=np.dtype(f"u{width}"))
    for k in range(width):
        out <<= 8
        out |= planes[k]
    return out


def _quantize(v: np.ndarray, lo: float, side: float) -> np.ndarray:
    t = (v - lo) / side * QUANT_MAX
    np.rint(t, out=t)
    np.clip(t, 0, QUANT_MAX, out=t)
    return t.astype(np.uint16)


def _as_coords(name: str, a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_uint(name: str, a: Any, count: int, limit: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1 or arr.shape[0] != count:
        raise ValueError(f"{name} must be a 1-D array of {count} values, got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    if count:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > limit:
            raise ValueError(f"{name} values must be in 0..{limit}, got {lo}..{hi}")
    return arr


def _pack_metadata(meta: Mapping[str, Any]) -> bytes:
    try:
        packed = msgpack.packb(dict(meta), use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"metadata is not msgpack-serialisable: {e}") from None
    # What we write must be what every decoder reads back: string keys only,
    # no ext types.  Round-trip once to make sure.
    try:
        _unpack_metadata(packed)
    except ChunkFormatError as e:
        raise ValueError(f"metadata cannot be represented in a chunk: {e}") from None
    return packed


def _unpack_metadata(raw: bytes | memoryview) -> dict[str, Any]:
    def no_ext(code: int, data: bytes) -> Any:
        raise ChunkFormatError(f"metadata uses msgpack extension type {code}, which CHNK does not allow")

    def string_keys(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        for k, _ in pairs:
            if not isinstance(k, str):
                raise ChunkFormatError(f"metadata map keys must be strings, got {k!r}")
        return dict(pairs)

    try:
        meta = msgpack.unpackb(
            bytes(raw),
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=no_ext,
            object_pairs_hook=string_keys,
        )
    except ChunkFormatError:
        raise
    except Exception as e:  # msgpack raises a zoo of types on garbage
        raise ChunkFormatError(f"metadata is not valid msgpack: {type(e).__name__}: {e}") from None
    if not isinstance(meta, dict):
        raise ChunkFormatError(f"metadata must be a msgpack map, got {type(meta).__name__}")
    _refuse_timestamps(meta)
    return meta


def _refuse_timestamps(value: Any) -> None:
    """msgpack decodes extension type -1 (timestamps) itself, without calling ``ext_hook``:
    CHNK allows no extension type, timestamps included (section 5), so look for them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, msgpack.Timestamp):
            raise ChunkFormatError("metadata uses msgpack extension type -1 (a timestamp), which CHNK does not allow")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# --------------------------------------------------------------------------
# encoder


def encode_chunk(
    level: int,
    cell: int,
    centre_ly: tuple[float, float, float],
    half_size_ly: float,
    x_ly: Any,
    y_ly: Any,
    z_ly: Any,
    colour_index: Any,
    *,
    ids: Any = None,
    metadata: Mapping[str, Any] | None = None,
    colour_bits: int | None = None,
) -> bytes:
    """Encode one octree node's systems as a CHNK chunk.

    ``x_ly``/``y_ly``/``z_ly`` are absolute galaxy coordinates in light years
    (1-D, same length); positions outside the node's cube are clamped onto
    its faces.  ``colour_index`` is a per-system colour/region index (0..255
    for u8, 0..65535 for u16); ``colour_bits`` forces 8 or 16, ``None`` picks
    the smallest width that fits.  ``ids`` (optional, 0..2**32-1) are stored
    for picking; without them the index within the chunk identifies a system.

    Systems are written in the order given -- the encoder sorts nothing.

    The metadata map always contains ``"level"`` and ``"cell"`` (so a decoder
    can place the chunk); the caller's ``metadata`` keys (strings) are merged
    in.  A caller value for ``"level"``/``"cell"`` must agree with the
    arguments.
    """
    node_min, side = node_bounds(level, cell, centre_ly, half_size_ly)
    level = operator.index(level)
    cell = operator.index(cell)

    xs = _as_coords("x_ly", x_ly)
    ys = _as_coords("y_ly", y_ly)
    zs = _as_coords("z_ly", z_ly)
    count = xs.shape[0]
    if ys.shape[0] != count or zs.shape[0] != count:
        raise ValueError(
            f"x_ly, y_ly, z_ly must have the same length, got {xs.shape[0]}, {ys.shape[0]}, {zs.shape[0]}"
        )
    if count > MAX_COUNT:
        raise ValueError(f"a chunk holds at most {MAX_COUNT} systems, got {count}")

    colours = _as_uint("colour_index", colour_index, count, 0xFFFF)
    if colour_bits is None:
        colour_bits = 16 if (count and int(colours.max()) > 0xFF) else 8
    if colour_bits not in (8, 16):
        raise ValueError(f"colour_bits must be 8, 16 or None, got {colour_bits!r}")
    if colour_bits == 8 and count and int(colours.max()) > 0xFF:
        raise ValueError("colour_index values exceed 255; use colour_bits=16")

    flags = FLAG_METADATA
    if colour_bits == 16:
        flags |= FLAG_COLOUR16
    id_arr = None
    if ids is not None:
        id_arr = _as_uint("ids", ids, count, 0xFFFFFFFF)
        flags |= FLAG_IDS

    meta: dict[str, Any] = {"level": level, "cell": cell}
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ValueError(f"metadata must be a mapping, got {type(metadata).__name__}")
        for k in metadata:
            if not isinstance(k, str):
                raise ValueError(f"metadata keys must be strings, got {k!r}")
        for key, want in (("level", level), ("cell", cell)):
            if key in metadata and (
                isinstance(metadata[key], bool) or metadata[key] != want
            ):
                raise ValueError(f"metadata[{key!r}]={metadata[key]!r} disagrees with {key}={want}")
        meta.update((k, v) for k, v in metadata.items() if k not in RESERVED_METADATA_KEYS)
    packed_meta = _pack_metadata(meta)

    parts: list[bytes] = []
    for arr, lo in ((xs, node_min[0]), (ys, node_min[1]), (zs, node_min[2])):
        parts.append(_planes(_quantize(arr, lo, side), 2))
    parts.append(_planes(colours, colour_bits // 8))
    if id_arr is not None:
        parts.append(_planes(id_arr, 4))
    parts.append(struct.pack("<I", len(packed_meta)))
    parts.append(packed_meta)
    body = b"".join(parts)

    header = _HEADER.pack(MAGIC, FORMAT_VERSION, flags, level, 0, count, zlib.crc32(body))
    return header + body


# --------------------------------------------------------------------------
# decoder


def read_header(data: bytes | bytearray | memoryview) -> ChunkHeader:
    """Parse and check the 16-byte header (does not look at the body)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"chunk data must be bytes-like, got {type(data).__name__}")
    if len(data) < HEADER_SIZE:
        raise ChunkFormatError(
            f"truncated chunk: {len(data)} bytes, shorter than the {HEADER_SIZE}-byte header"
        )
    magic, version, flags, level, reserved, count, crc = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ChunkFormatError(f"bad magic {bytes(magic)!r}: not a CHNK chunk (expected {MAGIC!r})")
    if version != FORMAT_VERSION:
        raise ChunkFormatError(
            f"unsupported CHNK format version {version} (this decoder reads version {FORMAT_VERSION})"
        )
    if flags & ~_KNOWN_FLAGS:
        raise ChunkFormatError(f"unknown flag bits 0x{flags & ~_KNOWN_FLAGS:02x} set in flags 0x{flags:02x}")
    if level > MAX_LEVEL:
        raise ChunkFormatError(f"level {level} is deeper than the maximum {MAX_LEVEL}")
    if reserved != 0:
        raise ChunkFormatError(f"reserved header byte 7 must be 0, got {reserved}")
    return ChunkHeader(version=version, flags=flags, level=level, count=count, crc32=crc)


def decode_chunk(
    data: bytes | bytearray | memoryview,
    centre_ly: tuple[float, float, float],
    half_size_ly: float,
    *,
    cell: int | None = None,
) -> DecodedChunk:
    """Decode and validate a CHNK chunk.

    ``centre_ly``/``half_size_ly`` describe the galaxy cube the chunk was
    encoded against.  The node's cell comes from the chunk's metadata; pass
    ``cell`` to place a chunk that carries none (or to check that the chunk is
    the one you asked for: a mismatch raises :class:`ChunkFormatError`).

    Raises :class:`ChunkFormatError` for anything malformed: bad magic,
    unknown version or flags, truncation, a count that does not match the
    length, trailing bytes, CRC mismatch, broken metadata.
    """
    if isinstance(data, memoryview):
        data = data.tobytes()
    hdr = read_header(data)
    n = hdr.count
    total = len(data)

    fixed_end = HEADER_SIZE + n * hdr.bytes_per_system
    need = fixed_end + (4 if hdr.has_metadata else 0)
    if total < need:
        raise ChunkFormatError(
            f"truncated chunk: header says {n} systems ({hdr.bytes_per_system} bytes each"
            f"{' + 4-byte metadata length' if hdr.has_metadata else ''}), which needs at least "
            f"{need} bytes, but the buffer has {total}"
        )
    meta_len = 0
    if hdr.has_metadata:
        (meta_len,) = struct.unpack_from("<I", data, fixed_end)
        need += meta_len
    if total < need:
        raise ChunkFormatError(
            f"truncated chunk: header says {n} systems, so the {meta_len}-byte metadata "
            f"(length at offset {fixed_end}) would end at byte {need}, but the buffer has {total}"
        )
    if total > need:
        raise ChunkFormatError(
            f"chunk length {total} does not match its header: {n} systems"
            f"{' and ' + str(meta_len) + ' metadata bytes' if hdr.has_metadata else ''} "
            f"need exactly {need} bytes ({total - need} trailing bytes)"
        )
    crc = zlib.crc32(memoryview(data)[HEADER_SIZE:])
    if crc != hdr.crc32:
        raise ChunkFormatError(
            f"CRC-32 mismatch: header says 0x{hdr.crc32:08x}, body hashes to 0x{crc:08x} (corrupt chunk)"
        )

    metadata: dict[str, Any] = {}
    if hdr.has_metadata:
        metadata = _unpack_metadata(memoryview(data)[fixed_end + 4 : need])

    # Level and cell: header level is authoritative, metadata must agree.
    if "level" in metadata:
        ml = metadata["level"]
        if isinstance(ml, bool) or not isinstance(ml, int) or ml != hdr.level:
            raise ChunkFormatError(f"metadata level {ml!r} disagrees with header level {hdr.level}")
    node_cell: int | None = None
    if "cell" in metadata:
        mc = metadata["cell"]
        if isinstance(mc, bool) or not isinstance(mc, int) or not 0 <= mc < (1 << (3 * hdr.level)):
            raise ChunkFormatError(f"metadata cell {mc!r} is not a valid cell for level {hdr.level}")
        node_cell = mc
    if cell is not None:
        cell = operator.index(cell)
        if node_cell is not None and node_cell != cell:
            raise ChunkFormatError(
                f"chunk is node (level {hdr.level}, cell {node_cell}), not the expected cell {cell}"
            )
        node_cell = cell
    if node_cell is None:
        if hdr.level != 0:
            raise ChunkFormatError(
                f"chunk at level {hdr.level} carries no cell in its metadata; pass cell= to place it"
            )
        node_cell = 0

    # A bad centre/half size (or cell= argument) is the caller's error: plain ValueError.
    node_min, side = node_bounds(hdr.level, node_cell, centre_ly, half_size_ly)

    off = HEADER_SIZE
    q = np.empty((3, n), dtype=np.uint16)
    for axis in range(3):
        q[axis] = _unplanes(data, off, n, 2)
        off += 2 * n
    colours = _unplanes(data, off, n, hdr.colour_bytes)
    off += n * hdr.colour_bytes
    ids = None
    if hdr.has_ids:
        ids = _unplanes(data, off, n, 4)
        off += 4 * n

    step = side / QUANT_MAX
    xyz = [node_min[a] + q[a].astype(np.float64) * step for a in range(3)]

    return DecodedChunk(
        level=hdr.level,
        cell=node_cell,
        count=n,
        x_ly=xyz[0],
        y_ly=xyz[1],
        z_ly=xyz[2],
        colour_index=colours,
        ids=ids,
        metadata=metadata,
        node_min_ly=node_min,
        side_ly=side,
        format_version=hdr.version,
        flags=hdr.flags,
        quantized=q,
    )
