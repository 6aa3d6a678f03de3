"""CHNX, a node's exact positions: byte layout, precision, and what a reader refuses."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from haven.chunks import ChunkFormatError, node_bounds
from haven.chunks.exact import EXACT_HEADER_SIZE, decode_exact, encode_exact

CENTRE = (100.0, -50.0, 25.0)
HALF = 131_072.0


def _members(level: int, cell: int, n: int, seed: int = 3) -> tuple[np.ndarray, ...]:
    mins, side = node_bounds(level, cell, CENTRE, HALF)
    rng = np.random.default_rng(seed)
    return tuple(lo + rng.random(n) * side for lo in mins)


@pytest.mark.parametrize("level, cell", [(0, 0), (3, 301), (21, 8**21 - 1)])
def test_positions_come_back_within_half_a_32_bit_step(level, cell):
    xs, ys, zs = _members(level, cell, 500)
    data = encode_exact(level, cell, 77, CENTRE, HALF, xs, ys, zs)
    assert len(data) == EXACT_HEADER_SIZE + 12 * 500
    got = decode_exact(data, CENTRE, HALF)
    assert (got.level, got.cell, got.version, got.count) == (level, cell, 77, 500)
    _, side = node_bounds(level, cell, CENTRE, HALF)
    bound = side / 0xFFFFFFFF / 2 * 1.0001 + 1e-9 * HALF / 2**level
    for want, have in zip((xs, ys, zs), (got.x_ly, got.y_ly, got.z_ly)):
        assert np.abs(want - have).max() <= bound


def test_the_header_and_planes_are_as_documented():
    data = encode_exact(2, 9, 2**40 + 5, CENTRE, HALF, [CENTRE[0] - HALF], [CENTRE[1] - HALF / 2], [CENTRE[2]])
    magic, version, level, reserved, count, crc, cell, node_version = struct.unpack_from("<4sBBHIIQQ", data)
    assert (magic, version, level, reserved, count, cell, node_version) == (b"CHNX", 1, 2, 0, 1, 9, 2**40 + 5)
    body = data[EXACT_HEADER_SIZE:]
    assert crc == zlib.crc32(body) and len(body) == 12
    assert body[0:4] == bytes(4)  # x at the node's min corner: 0, most significant byte first
    # cell 9 at level 2 is grid (1, 0, 1): y's node spans [c - h, c - h/2], so y = c - h/2 is its far end
    assert body[4:8] == b"\xff\xff\xff\xff"


def test_an_empty_node_encodes_to_a_header():
    got = decode_exact(encode_exact(0, 0, 1, CENTRE, HALF, [], [], []), CENTRE, HALF)
    assert got.count == 0


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:20], "header bytes"),
    (lambda d: b"CHNK" + d[4:], "not a CHNX"),
    (lambda d: d[:4] + b"\x02" + d[5:], "format version 2"),
    (lambda d: d[:6] + b"\x01\x00" + d[8:], "reserved"),
    (lambda d: d[:-1], "bytes, got"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "CRC-32"),
])
def test_damaged_bytes_are_refused_with_what_is_wrong(damage, message):
    data = encode_exact(1, 3, 5, CENTRE, HALF, *_members(1, 3, 10))
    with pytest.raises(ChunkFormatError, match=message):
        decode_exact(damage(data), CENTRE, HALF)


def test_bad_positions_are_refused_when_encoding():
    with pytest.raises(ValueError, match="NaN or infinite"):
        encode_exact(0, 0, 1, CENTRE, HALF, [float("nan")], [0.0], [0.0])
    with pytest.raises(ValueError, match="same length"):
        encode_exact(0, 0, 1, CENTRE, HALF, [0.0, 1.0], [0.0], [0.0])


def test_the_map_decoder_reads_what_python_wrote(tmp_path):
    """haven/web/static/js/chnk.js decodeExact, run by node on bytes from encode_exact."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    chnk_js = Path(__file__).resolve().parents[2] / "haven" / "web" / "static" / "js" / "chnk.js"
    cases = [(0, 0, 9), (21, 8**21 - 5, 2**53 + 3)]  # a cell and a version past 2^53
    script = ["import { readFileSync } from 'node:fs';", f"import {{ decodeExact }} from {json.dumps(chnk_js.as_uri())};",
              "const out = [];"]
    want = []
    for k, (level, cell, version) in enumerate(cases):
        xs, ys, zs = _members(level, cell, 40, seed=k)
        (tmp_path / f"{k}.chnx").write_bytes(encode_exact(level, cell, version, CENTRE, HALF, xs, ys, zs))
        want.append((level, str(cell), str(version), np.stack([xs, ys, zs], axis=1).ravel()))
        script.append(
            f"{{ const e = decodeExact(readFileSync({json.dumps(str(tmp_path / f'{k}.chnx'))}), "
            f"{{ centre: {list(CENTRE)}, halfSize: {HALF} }}); "
            "out.push({ level: e.level, cell: String(e.cell), version: String(e.version), p: Array.from(e.positions) }); }"
        )
    script.append("console.log(JSON.stringify(out));")
    (tmp_path / "check.mjs").write_text("\n".join(script), encoding="utf-8")
    proc = subprocess.run([node, str(tmp_path / "check.mjs")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for got, (level, cell, version, positions) in zip(json.loads(proc.stdout), want):
        assert (got["level"], got["cell"], got["version"]) == (level, cell, version)
        _, side = node_bounds(level, int(cell), CENTRE, HALF)
        # absolute float32: its rounding at the galaxy's scale, plus half a 32-bit step
        bound = side / 0xFFFFFFFF + float(np.spacing(np.float32(2 * HALF)))
        assert np.abs(np.array(got["p"]) - positions).max() <= bound
