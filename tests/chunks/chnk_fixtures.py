"""Deterministic CHNK fixtures shared by the Python tests and the node test.

``tests/chunks/fixtures/*.chnk`` are produced by the Python encoder and
decoded by ``haven/web/static/js/chnk.js`` in ``chnk_decode.test.mjs``; the
matching ``*.json`` files hold what the Python decoder reads from them.  The
pytest suite checks that the committed files equal what this module builds.

Regenerate after a deliberate format change::

    .venv/bin/python tests/chunks/chnk_fixtures.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
if str(HERE.parents[1]) not in sys.path:
    sys.path.insert(0, str(HERE.parents[1]))

from haven.chunks import decode_chunk, encode_chunk, grid_to_cell, node_bounds  # noqa: E402

SAFE = 2**53 - 1


def _hash(i: np.ndarray, salt: int) -> np.ndarray:
    """A fixed integer hash in [0, 1): deterministic across numpy versions."""
    v = (i.astype(np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B1)
    v ^= v >> np.uint64(15)
    v = (v * np.uint64(0x85EBCA77)) & np.uint64(0xFFFFFFFF)
    v ^= v >> np.uint64(13)
    return v.astype(np.float64) / 2.0**32


def _points(level: int, cell: int, centre, half: float, n: int):
    mn, side = node_bounds(level, cell, centre, half)
    i = np.arange(n)
    return [mn[a] + _hash(i, 1000 * a + 17) * side for a in range(3)]


def _specs() -> list[dict[str, Any]]:
    specs = []

    centre = (120.5, -40.25, 8.0)
    half = 50000.0
    level, cell = 2, grid_to_cell(2, 1, 2, 3)
    n = 64
    x, y, z = _points(level, cell, centre, half, n)
    # pin a few exact corners: min corner, max corner, and one point outside (clamped)
    mn, side = node_bounds(level, cell, centre, half)
    x[0], y[0], z[0] = mn
    x[1], y[1], z[1] = (m + side for m in mn)
    x[2], y[2], z[2] = mn[0] - 10.0, mn[1] + side + 10.0, mn[2] + side / 2
    specs.append(
        dict(
            name="sample",
            level=level,
            cell=cell,
            centre=centre,
            half=half,
            xyz=(x, y, z),
            colours=(np.arange(n) * 7 % 13).astype(np.uint8),
            ids=None,
            metadata={
                "version": 7,
                "region_names": ["Core", "Orion Arm", "Perseus Arm", "Halo"],
                "galaxy": {"centre": list(centre), "half_size": half},
            },
        )
    )

    centre = (0.0, 0.0, 0.0)
    half = 65536.0
    level = 19
    cell = grid_to_cell(19, 2**19 - 3, 2**18 + 5, 2**19 - 1)
    assert cell > SAFE  # exercises the BigInt path in the JS decoder
    n = 37
    x, y, z = _points(level, cell, centre, half, n)
    specs.append(
        dict(
            name="sample_deep",
            level=level,
            cell=cell,
            centre=centre,
            half=half,
            xyz=(x, y, z),
            colours=(np.arange(n) * 1777 % 65536).astype(np.uint16),
            ids=(np.arange(n, dtype=np.uint64) * 2654435761 % 2**32).astype(np.uint32),
            metadata={
                "version": 2**40 + 1,
                "big": 2**63 + 5,
                "neg": -(2**62),
                "small_neg": -7,
                "byte_neg": -100,
                "pi": 3.141592653589793,
                "ok": True,
                "no": False,
                "nothing": None,
                "name": "Ωmega ☆ station",
                "long": "x" * 300,
                "blob": b"\x00\x01\xff",
                "nested": {"a": [1, [2, {"b": None}]], "__proto__": "plain key", "": 0},
                "many": list(range(20)),
                "galaxy": {"centre": list(centre), "half_size": half},
            },
        )
    )

    specs.append(
        dict(
            name="sample_empty",
            level=0,
            cell=0,
            centre=(1.0, 2.0, 3.0),
            half=10.0,
            xyz=(np.zeros(0), np.zeros(0), np.zeros(0)),
            colours=np.zeros(0, dtype=np.uint8),
            ids=None,
            metadata=None,
        )
    )
    return specs


def _tag(v: Any) -> Any:
    """JSON form of a metadata value, tagging what JSON cannot hold."""
    if isinstance(v, bool) or v is None or isinstance(v, (float, str)):
        return v
    if isinstance(v, int):
        return v if -SAFE <= v <= SAFE else {"$bigint": str(v)}
    if isinstance(v, bytes):
        return {"$bytes": list(v)}
    if isinstance(v, list):
        return [_tag(x) for x in v]
    if isinstance(v, dict):
        return {"$map": [[k, _tag(x)] for k, x in v.items()]}
    raise TypeError(type(v))


def build() -> dict[str, tuple[bytes, str]]:
    """name -> (chunk bytes, expected JSON text)."""
    out = {}
    for s in _specs():
        data = encode_chunk(
            s["level"], s["cell"], s["centre"], s["half"], *s["xyz"], s["colours"],
            ids=s["ids"], metadata=s["metadata"],
            colour_bits=8 * s["colours"].dtype.itemsize,
        )
        d = decode_chunk(data, s["centre"], s["half"])
        expected = {
            "name": s["name"],
            "level": d.level,
            "cell": str(d.cell),
            "count": d.count,
            "centre": list(s["centre"]),
            "half_size": s["half"],
            "origin": list(d.node_min_ly),
            "side": d.side_ly,
            "colour_bits": 8 * d.colour_index.dtype.itemsize,
            "positions": np.stack([d.x_ly, d.y_ly, d.z_ly], axis=1).ravel().tolist(),
            "quantized": d.quantized.T.ravel().tolist(),
            "colours": d.colour_index.tolist(),
            "ids": None if d.ids is None else d.ids.tolist(),
            "metadata": _tag(d.metadata),
        }
        out[s["name"]] = (data, json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    return out


def write() -> list[Path]:
    FIXTURES.mkdir(exist_ok=True)
    written = []
    for name, (data, text) in build().items():
        (FIXTURES / f"{name}.chnk").write_bytes(data)
        (FIXTURES / f"{name}.json").write_text(text, encoding="utf-8")
        written += [FIXTURES / f"{name}.chnk", FIXTURES / f"{name}.json"]
    return written


if __name__ == "__main__":
    for p in write():
        print(p.relative_to(HERE.parents[1]))
