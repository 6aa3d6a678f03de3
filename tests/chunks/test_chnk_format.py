"""CHNK encoder/decoder: layout, round trips (property based) and validation."""

from __future__ import annotations

import struct
import time
import zlib

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from haven.chunks import (
    FLAG_COLOUR16,
    FLAG_IDS,
    FLAG_METADATA,
    HEADER_SIZE,
    MAX_LEVEL,
    ChunkFormatError,
    decode_chunk,
    encode_chunk,
    grid_to_cell,
    node_bounds,
    read_header,
)

CENTRE = (100.0, -200.0, 50.0)
HALF = 1000.0


def reseal(data: bytes | bytearray) -> bytes:
    """Recompute the CRC so that a deliberately edited chunk gets past it."""
    data = bytearray(data)
    struct.pack_into("<I", data, 12, zlib.crc32(bytes(data[HEADER_SIZE:])))
    return bytes(data)


def points_in(level, cell, n, rng, centre=CENTRE, half=HALF):
    mn, side = node_bounds(level, cell, centre, half)
    return [mn[a] + rng.random(n) * side for a in range(3)]


def strip_metadata(data: bytes) -> bytes:
    """The same chunk without its metadata section (flag bit 0 cleared)."""
    hdr = read_header(data)
    end = HEADER_SIZE + hdr.count * hdr.bytes_per_system
    out = bytearray(data[:end])
    out[5] &= ~FLAG_METADATA
    return reseal(out)


# --------------------------------------------------------------------------
# layout


def test_header_and_body_layout_byte_by_byte():
    level, cell = 1, 0b011  # x=1, y=1, z=0
    mn, side = node_bounds(level, cell, CENTRE, HALF)
    # two systems with exactly representable quantized positions
    q = np.array([[0, 65535], [0x1234, 0xABCD], [65535, 0x0100]])
    xyz = [mn[a] + q[a] * (side / 65535) for a in range(3)]
    data = encode_chunk(level, cell, CENTRE, HALF, *xyz, np.array([7, 200]), metadata={"version": 3})

    assert data[0:4] == b"CHNK"
    assert data[4] == 1  # format version
    assert data[5] == FLAG_METADATA  # u8 colours, no ids
    assert data[6] == level
    assert data[7] == 0
    assert struct.unpack_from("<I", data, 8)[0] == 2
    assert struct.unpack_from("<I", data, 12)[0] == zlib.crc32(data[16:])

    body = data[16:]
    assert body[0:4] == bytes([0x00, 0xFF, 0x00, 0xFF])  # x: hi plane, lo plane
    assert body[4:8] == bytes([0x12, 0xAB, 0x34, 0xCD])  # y
    assert body[8:12] == bytes([0xFF, 0x01, 0xFF, 0x00])  # z
    assert body[12:14] == bytes([7, 200])  # colours
    (mlen,) = struct.unpack_from("<I", body, 14)
    assert len(body) == 14 + 4 + mlen
    assert msgpack.unpackb(body[18:]) == {"level": 1, "cell": 3, "version": 3}


def test_u16_colours_and_ids_layout():
    data = encode_chunk(
        0, 0, CENTRE, HALF, [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], np.array([0x0102, 0xFFFE]),
        ids=np.array([0x0A0B0C0D, 0xFFFFFFFF], dtype=np.uint32),
    )
    assert data[5] == FLAG_METADATA | FLAG_COLOUR16 | FLAG_IDS
    body = data[16:]
    assert body[12:16] == bytes([0x01, 0xFF, 0x02, 0xFE])  # colour hi plane, lo plane
    assert body[16:24] == bytes([0x0A, 0xFF, 0x0B, 0xFF, 0x0C, 0xFF, 0x0D, 0xFF])  # id planes, MSB first
    d = decode_chunk(data, CENTRE, HALF)
    assert d.colour_index.dtype == np.uint16 and d.colour_index.tolist() == [0x0102, 0xFFFE]
    assert d.ids.dtype == np.uint32 and d.ids.tolist() == [0x0A0B0C0D, 0xFFFFFFFF]


def test_colour_width_choice():
    def width(colours, **kw):
        data = encode_chunk(0, 0, CENTRE, HALF, [0.0] * 2, [0.0] * 2, [0.0] * 2, colours, **kw)
        return 16 if data[5] & FLAG_COLOUR16 else 8

    assert width(np.array([0, 255])) == 8
    assert width(np.array([0, 256])) == 16
    assert width(np.array([0, 3]), colour_bits=16) == 16
    with pytest.raises(ValueError):
        width(np.array([0, 256]), colour_bits=8)
    with pytest.raises(ValueError):
        width(np.array([0, 1]), colour_bits=12)


def test_corners_and_clamping():
    level, cell = 2, grid_to_cell(2, 3, 0, 2)
    mn, side = node_bounds(level, cell, CENTRE, HALF)
    x = np.array([mn[0], mn[0] + side, mn[0] - 5.0, mn[0] + side + 5.0, mn[0] + side / 2])
    data = encode_chunk(level, cell, CENTRE, HALF, x, np.full(5, mn[1]), np.full(5, mn[2]), np.zeros(5, np.uint8))
    d = decode_chunk(data, CENTRE, HALF)
    assert d.quantized[0].tolist() == [0, 65535, 0, 65535, 32768]  # round half to even: 32767.5 -> 32768
    assert d.x_ly[0] == mn[0] and d.x_ly[1] == pytest.approx(mn[0] + side, rel=1e-15)
    assert d.cell == cell and d.level == level
    assert d.node_min_ly == mn and d.side_ly == side


def test_order_is_preserved_not_sorted():
    rng = np.random.default_rng(3)
    x, y, z = points_in(0, 0, 500, rng)
    colours = np.arange(500) % 256
    d = decode_chunk(encode_chunk(0, 0, CENTRE, HALF, x, y, z, colours), CENTRE, HALF)
    step = d.step_ly
    assert np.all(np.abs(d.x_ly - x) <= step / 2 * (1 + 1e-9))
    assert d.colour_index.tolist() == colours.tolist()


def test_empty_chunk():
    e = np.zeros(0)
    data = encode_chunk(3, 5, CENTRE, HALF, e, e, e, np.zeros(0, np.uint8))
    d = decode_chunk(data, CENTRE, HALF)
    assert d.count == 0 and d.x_ly.shape == (0,) and d.ids is None
    assert d.metadata == {"level": 3, "cell": 5}


def test_metadata_reserved_keys():
    e = np.zeros(0)
    c = np.zeros(0, np.uint8)
    d = decode_chunk(
        encode_chunk(2, 9, CENTRE, HALF, e, e, e, c, metadata={"level": 2, "cell": 9, "version": 4}),
        CENTRE, HALF,
    )
    assert d.metadata == {"level": 2, "cell": 9, "version": 4}
    assert d.version == 4
    with pytest.raises(ValueError, match="disagrees"):
        encode_chunk(2, 9, CENTRE, HALF, e, e, e, c, metadata={"cell": 8})
    with pytest.raises(ValueError, match="disagrees"):
        encode_chunk(2, 9, CENTRE, HALF, e, e, e, c, metadata={"level": True})


def test_decode_accepts_bytearray_and_memoryview():
    rng = np.random.default_rng(0)
    data = encode_chunk(0, 0, CENTRE, HALF, *points_in(0, 0, 10, rng), np.arange(10))
    a = decode_chunk(bytearray(data), CENTRE, HALF)
    b = decode_chunk(memoryview(data), CENTRE, HALF)
    assert np.array_equal(a.x_ly, b.x_ly)


def test_chunk_without_metadata_needs_cell_below_root():
    rng = np.random.default_rng(1)
    cell = grid_to_cell(3, 1, 2, 3)
    data = strip_metadata(encode_chunk(3, cell, CENTRE, HALF, *points_in(3, cell, 20, rng), np.arange(20)))
    assert not data[5] & FLAG_METADATA
    with pytest.raises(ChunkFormatError, match="no cell"):
        decode_chunk(data, CENTRE, HALF)
    d = decode_chunk(data, CENTRE, HALF, cell=cell)
    assert d.metadata == {} and d.cell == cell
    # level 0 needs no cell
    root = strip_metadata(encode_chunk(0, 0, CENTRE, HALF, [1.0], [2.0], [3.0], [4]))
    assert decode_chunk(root, CENTRE, HALF).cell == 0


def test_cell_argument_must_match():
    e = np.zeros(0)
    data = encode_chunk(2, 9, CENTRE, HALF, e, e, e, np.zeros(0, np.uint8))
    assert decode_chunk(data, CENTRE, HALF, cell=9).cell == 9
    with pytest.raises(ChunkFormatError, match="expected cell"):
        decode_chunk(data, CENTRE, HALF, cell=10)


# --------------------------------------------------------------------------
# encoder input validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x=[0.0, 1.0]), "same length"),
        (dict(x=[[0.0]]), "1-D"),
        (dict(x=[float("nan")]), "NaN"),
        (dict(y=[float("inf")]), "NaN or infinite"),
        (dict(x=["a"]), "numeric"),
        (dict(colours=[1, 2]), "colour_index"),
        (dict(colours=[-1]), "0..65535"),
        (dict(colours=[70000]), "0..65535"),
        (dict(colours=[1.5]), "integers"),
        (dict(ids=[-1]), "0..4294967295"),
        (dict(ids=[2**32]), "0..4294967295"),
        (dict(ids=[1, 2]), "ids"),
        (dict(metadata={1: "x"}), "keys must be strings"),
        (dict(metadata={"x": object()}), "serialisable"),
        (dict(metadata={"x": {1: 2}}), "cannot be represented"),
        (dict(metadata={"x": 2**64}), "serialisable"),
        (dict(metadata=[1, 2]), "mapping"),
        (dict(level=22), "level"),
        (dict(cell=8), "cell"),
        (dict(half=0.0), "half_size"),
    ],
)
def test_encoder_rejects_bad_input(kwargs, match):
    args = dict(level=1, cell=3, half=HALF, x=[0.0], y=[0.0], z=[0.0], colours=[0], ids=None, metadata=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        encode_chunk(
            args["level"], args["cell"], CENTRE, args["half"], np.asarray(args["x"]), args["y"], args["z"],
            args["colours"], ids=args["ids"], metadata=args["metadata"],
        )


# --------------------------------------------------------------------------
# decoder validation


@pytest.fixture
def good() -> bytes:
    rng = np.random.default_rng(7)
    cell = grid_to_cell(2, 1, 3, 0)
    return encode_chunk(
        2, cell, CENTRE, HALF, *points_in(2, cell, 33, rng), np.arange(33), ids=np.arange(33) * 11,
        metadata={"version": 1, "region_names": ["a", "b"]},
    )


def edit(data: bytes, offset: int, value: bytes) -> bytes:
    out = bytearray(data)
    out[offset : offset + len(value)] = value
    return bytes(out)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: b"", "truncated chunk: 0 bytes"),
        (lambda d: d[:15], "shorter than the 16-byte header"),
        (lambda d: edit(d, 0, b"CHNX"), "bad magic"),
        (lambda d: edit(d, 0, b"\x89PNG"), "bad magic"),
        (lambda d: edit(d, 4, b"\x02"), "unsupported CHNK format version 2"),
        (lambda d: edit(d, 4, b"\x00"), "unsupported CHNK format version 0"),
        (lambda d: edit(d, 5, bytes([d[5] | 0x08])), "unknown flag bits 0x08"),
        (lambda d: edit(d, 6, b"\x16"), "deeper than the maximum"),
        (lambda d: edit(d, 7, b"\x01"), "reserved header byte"),
        (lambda d: d[:-1], "41-byte metadata .* would end at byte 424, but the buffer has 423"),
        (lambda d: d[:100], "truncated chunk: header says 33 systems"),
        (lambda d: d + b"\x00", "1 trailing bytes"),
        (lambda d: edit(d, 8, struct.pack("<I", 34)), "header says 34 systems"),
        (lambda d: edit(d, 8, struct.pack("<I", 32)), "header says 32 systems"),
        (lambda d: edit(d, 8, struct.pack("<I", 0xFFFFFFFF)), "truncated"),
        (lambda d: edit(d, 5, bytes([d[5] & ~FLAG_IDS])), "trailing bytes"),
        (lambda d: edit(d, 5, bytes([d[5] | FLAG_COLOUR16])), "truncated"),
        (lambda d: edit(d, 12, b"\x00\x00\x00\x00"), "CRC-32 mismatch"),
        (lambda d: edit(d, 40, bytes([d[40] ^ 1])), "CRC-32 mismatch"),
        (lambda d: reseal(edit(d, 6, b"\x03")), "disagrees with header level"),
    ],
)
def test_decoder_rejects(good, mutate, match):
    with pytest.raises(ChunkFormatError, match=match):
        decode_chunk(mutate(good), CENTRE, HALF)


def with_metadata(raw: bytes, count: int = 0) -> bytes:
    """A root chunk of `count` zero systems whose metadata section is `raw`."""
    body = bytes(7 * count) + struct.pack("<I", len(raw)) + raw
    header = struct.pack("<4sBBBBII", b"CHNK", 1, FLAG_METADATA, 0, 0, count, zlib.crc32(body))
    return header + body


@pytest.mark.parametrize(
    "raw, match",
    [
        (msgpack.packb([1, 2]), "must be a msgpack map"),
        (msgpack.packb("level"), "must be a msgpack map"),
        (b"", "not valid msgpack"),
        (b"\x81", "not valid msgpack"),
        (b"\xc1", "not valid msgpack"),
        (msgpack.packb({}) + b"\x00", "not valid msgpack"),
        (msgpack.packb({1: 2}), "keys must be strings|not valid msgpack"),
        (msgpack.packb({"a": {b"k": 1}}, use_bin_type=True), "keys must be strings"),
        (msgpack.packb({"a": msgpack.ExtType(5, b"xy")}), "extension type"),
        # type -1: msgpack decodes timestamps itself, never asking ext_hook (32, 64 and 96 bits)
        (msgpack.packb({"t": msgpack.Timestamp(5)}), "extension type -1"),
        (msgpack.packb({"t": [1, msgpack.Timestamp(5, 7)]}), "extension type -1"),
        (msgpack.packb({"t": {"u": msgpack.Timestamp(2**40)}}), "extension type -1"),
        (b"\x81\xa1a\xa2\xff\xfe", "not valid msgpack"),  # invalid UTF-8
        (msgpack.packb({"level": 1}), "disagrees with header level 0"),
        (msgpack.packb({"level": "0"}), "disagrees"),
        (msgpack.packb({"cell": 1}), "not a valid cell for level 0"),
        (msgpack.packb({"cell": -1}), "not a valid cell"),
        (msgpack.packb({"cell": 0.0}), "not a valid cell"),
    ],
)
def test_decoder_rejects_bad_metadata(raw, match):
    with pytest.raises(ChunkFormatError, match=match):
        decode_chunk(with_metadata(raw), CENTRE, HALF)


def test_the_encoder_refuses_metadata_the_format_does_not_allow():
    """What ``encode_chunk`` writes every decoder reads: a timestamp would pass msgpack and fail chnk.js."""
    with pytest.raises(ValueError, match="extension type -1"):
        encode_chunk(0, 0, CENTRE, HALF, np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1, dtype=np.uint8),
                     metadata={"t": msgpack.Timestamp(5)})


def test_metadata_only_root_chunk_is_fine():
    d = decode_chunk(with_metadata(msgpack.packb({"anything": [1, None]}), count=2), CENTRE, HALF)
    assert d.count == 2 and d.metadata == {"anything": [1, None]}
    assert d.x_ly.tolist() == [CENTRE[0] - HALF] * 2


def test_decode_type_errors_are_not_format_errors():
    with pytest.raises(TypeError):
        decode_chunk("CHNK", CENTRE, HALF)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# property tests

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
metadata_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
user_metadata = st.dictionaries(
    st.text(max_size=12).filter(lambda k: k not in ("level", "cell")), metadata_values, max_size=6
)


@st.composite
def chunks(draw):
    level = draw(st.integers(0, MAX_LEVEL))
    cell = draw(st.integers(0, 8**level - 1))
    half = draw(st.floats(1e-3, 1e7))
    centre = tuple(draw(st.floats(-half, half)) for _ in range(3))
    n = draw(st.integers(0, 200))
    frac = draw(hnp.arrays(np.float64, (3, n), elements=st.floats(0.0, 1.0)))
    colour_bits = draw(st.sampled_from([8, 16]))
    colours = draw(hnp.arrays(np.uint8 if colour_bits == 8 else np.uint16, n))
    ids = draw(st.none() | hnp.arrays(np.uint32, n))
    metadata = draw(st.none() | user_metadata)
    return level, cell, centre, half, frac, colour_bits, colours, ids, metadata


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks())
def test_roundtrip(case):
    level, cell, centre, half, frac, colour_bits, colours, ids, metadata = case
    mn, side = node_bounds(level, cell, centre, half)
    xyz = [mn[a] + frac[a] * side for a in range(3)]
    data = encode_chunk(
        level, cell, centre, half, *xyz, colours, ids=ids, metadata=metadata, colour_bits=colour_bits
    )
    d = decode_chunk(data, centre, half)

    n = frac.shape[1]
    assert (d.level, d.cell, d.count) == (level, cell, n)
    assert d.node_min_ly == mn and d.side_ly == side
    step = side / 65535
    for a, got in enumerate((d.x_ly, d.y_ly, d.z_ly)):
        assert got.dtype == np.float64 and got.shape == (n,)
        if n:
            # half a step, plus float64 rounding of absolute coordinates
            tol = 0.5 * step * (1 + 1e-9) + 4 * np.spacing(max(abs(mn[a]), abs(mn[a] + side)))
            err = np.abs(got - xyz[a])
            assert err.max() <= tol, (a, err.max(), tol)
            # decoded values are the centre of their quantization step
            q = d.quantized[a].astype(np.float64)
            assert np.allclose(got, mn[a] + q * step, rtol=0, atol=tol)
    assert d.colour_index.dtype == (np.uint8 if colour_bits == 8 else np.uint16)
    assert np.array_equal(d.colour_index, colours)
    if ids is None:
        assert d.ids is None
    else:
        assert d.ids.dtype == np.uint32 and np.array_equal(d.ids, ids)
    assert d.metadata == {"level": level, "cell": cell, **(metadata or {})}
    # re-encoding what we decoded gives the same bytes (quantization is stable)
    again = encode_chunk(
        level, cell, centre, half, d.x_ly, d.y_ly, d.z_ly, d.colour_index, ids=d.ids,
        metadata=d.metadata, colour_bits=colour_bits,
    )
    if side / 65535 > 8 * np.spacing(max(abs(c) for c in mn) + side):
        assert again == data


def _decode_or_format_error(data: bytes):
    try:
        return decode_chunk(data, CENTRE, HALF)
    except ChunkFormatError:
        return None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_format_error(data):
    _decode_or_format_error(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_after_a_valid_header_prefix(tail):
    for prefix in (b"CHNK", b"CHNK\x01", b"CHNK\x01\x01\x00\x00"):
        _decode_or_format_error(prefix + tail)
        _decode_or_format_error(reseal((prefix + tail).ljust(16, b"\x00")))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 3))
def test_random_metadata_bytes_raise_format_error(raw, count):
    _decode_or_format_error(with_metadata(raw, count))


@settings(max_examples=200, deadline=None)
@given(chunks(), st.data())
def test_truncation_and_corruption(case, data):
    level, cell, centre, half, frac, colour_bits, colours, ids, metadata = case
    mn, side = node_bounds(level, cell, centre, half)
    chunk = encode_chunk(
        level, cell, centre, half, *[mn[a] + frac[a] * side for a in range(3)], colours,
        ids=ids, metadata=metadata, colour_bits=colour_bits,
    )
    cut = data.draw(st.integers(0, len(chunk) - 1))
    with pytest.raises(ChunkFormatError):
        decode_chunk(chunk[:cut], centre, half)

    # any change to the body is caught (by the CRC, or by the length checks
    # when it hits the metadata length field)
    pos = data.draw(st.integers(HEADER_SIZE, len(chunk) - 1))
    flip = data.draw(st.integers(1, 255))
    with pytest.raises(ChunkFormatError):
        decode_chunk(edit(chunk, pos, bytes([chunk[pos] ^ flip])), centre, half)

    # a change to the header (or a resealed body change) either decodes or is a format error
    pos = data.draw(st.integers(0, len(chunk) - 1))
    mutated = edit(chunk, pos, bytes([chunk[pos] ^ flip]))
    for candidate in (mutated, reseal(mutated)):
        try:
            decode_chunk(candidate, centre, half)
        except ChunkFormatError:
            pass


# --------------------------------------------------------------------------
# vectorisation


def test_large_chunk_is_fast():
    """1M systems: only possible in reasonable time without per-point Python loops."""
    rng = np.random.default_rng(11)
    n = 1_000_000
    x, y, z = points_in(0, 0, n, rng)
    colours = rng.integers(0, 256, n).astype(np.uint8)
    ids = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    t0 = time.perf_counter()
    data = encode_chunk(0, 0, CENTRE, HALF, x, y, z, colours, ids=ids)
    d = decode_chunk(data, CENTRE, HALF)
    elapsed = time.perf_counter() - t0
    assert len(data) == 16 + 11 * n + 4 + len(msgpack.packb({"level": 0, "cell": 0}))
    assert np.array_equal(d.ids, ids)
    assert elapsed < 10.0, elapsed
