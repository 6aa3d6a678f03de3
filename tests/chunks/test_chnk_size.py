"""Bytes per system on the wire (after gzip) for 4000-system chunks.

Run with ``-s`` to see the figures; docs/formats/chnk.md quotes them.
"""

from __future__ import annotations

import numpy as np
import pytest

from haven.chunks import compress, encode_chunk, node_bounds

N = 4000
CENTRE = (0.0, 0.0, 0.0)
HALF = 50_000.0


def _uniform(rng):
    level, cell = 0, 0
    mn, side = node_bounds(level, cell, CENTRE, HALF)
    xyz = [mn[a] + rng.random(N) * side for a in range(3)]
    colours = rng.integers(0, 256, N)  # worst case: colour carries 8 random bits
    return level, cell, xyz, colours


def _uniform_regions(rng):
    level, cell, xyz, _ = _uniform(rng)
    return level, cell, xyz, rng.integers(0, 12, N)  # a dozen regions


def _clustered(rng):
    """Star clusters/associations in a field: 24 Gaussian blobs + 20 % field stars."""
    level, cell = 3, 0o416
    mn, side = node_bounds(level, cell, CENTRE, HALF)
    k = 24
    centres = rng.uniform(0.1, 0.9, (k, 3))
    sigma = rng.uniform(0.005, 0.05, k)
    label = rng.integers(0, k, N)
    t = centres[label] + rng.normal(size=(N, 3)) * sigma[label, None]
    field = rng.random(N) < 0.2
    t[field] = rng.random((int(field.sum()), 3))
    label[field] = k
    t = np.clip(t, 0.0, 1.0)
    xyz = [mn[a] + t[:, a] * side for a in range(3)]
    colours = label % 12  # region index: a dozen regions
    return level, cell, xyz, colours


def _disc(rng):
    """Root node of a disc galaxy: exponential disc, two log-spiral arms, thin in z."""
    level, cell = 0, 0
    mn, side = node_bounds(level, cell, CENTRE, HALF)
    r = rng.exponential(0.15, N)
    theta = rng.uniform(0, 2 * np.pi, N)
    arm = rng.random(N) < 0.6
    theta[arm] = np.log(r[arm] + 1e-3) * 2.5 + rng.integers(0, 2, int(arm.sum())) * np.pi + rng.normal(0, 0.25, int(arm.sum()))
    z = rng.laplace(0, 0.01, N)
    t = np.stack([0.5 + r * np.cos(theta) / 2, 0.5 + r * np.sin(theta) / 2, 0.5 + z]).clip(0, 1)
    xyz = [mn[a] + t[a] * side for a in range(3)]
    colours = (np.floor(theta / (2 * np.pi) * 8) % 8).astype(int) + 8 * (r > 0.3)
    return level, cell, xyz, colours


def bytes_per_system(make, seed=2024):
    level, cell, xyz, colours = make(np.random.default_rng(seed))
    raw = encode_chunk(level, cell, CENTRE, HALF, *xyz, np.asarray(colours, dtype=np.uint8),
                       metadata={"version": 1})
    gz = compress(raw, "gzip")
    return len(raw) / N, len(gz) / N


@pytest.mark.parametrize(
    "name, make",
    [("uniform", _uniform), ("uniform12", _uniform_regions), ("clustered", _clustered), ("disc", _disc)],
)
def test_gzip_bytes_per_system(name, make):
    raw, gz = bytes_per_system(make)
    print(f"\nCHNK {N} systems, {name:9s}: {raw:.3f} B/system raw, {gz:.3f} B/system gzip")
    assert raw == pytest.approx(7.0, abs=0.02)  # 6 position bytes + 1 colour byte + header/metadata
    assert gz <= 8.0
