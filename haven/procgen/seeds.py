"""Counter-based 64-bit hashing (SplitMix64 finaliser), scalar and vectorised.

Used for per-system seeds and for the constants of the name-code permutation, so that
they depend only on (galaxy seed, global index) and never on batch boundaries.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MASK64: int = (1 << 64) - 1
_GAMMA: int = 0x9E3779B97F4A7C15
_M1: int = 0xBF58476D1CE4E5B9
_M2: int = 0x94D049BB133111EB

#: Domain tags so that different uses of the same seed never collide.
TAG_SYSTEM_SEED: int = 0x5EED_0001
TAG_NAME_CODE: int = 0xC0DE_0002
TAG_REGIONS: int = 0x4E61_0003
TAG_BATCH: int = 0xBA7C_0004
TAG_ARMS: int = 0xA4A5_0005


def mix64(value: int) -> int:
    """SplitMix64 finaliser of a Python int (taken mod 2**64); returns 0 <= h < 2**64."""
    z = (value + _GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def mix64_array(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Vectorised :func:`mix64` (uint64 arithmetic wraps mod 2**64 exactly)."""
    z = values.astype(np.uint64, copy=True)
    z += np.uint64(_GAMMA)
    z ^= z >> np.uint64(30)
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return z


def derive_key(galaxy_seed: int, tag: int) -> int:
    """A 64-bit key for one (galaxy seed, purpose) pair."""
    return mix64(mix64(galaxy_seed) ^ tag)


def system_seed(galaxy_seed: int, index: int) -> int:
    """Per-system seed in [0, 2**63) for one global index (matches :func:`system_seeds`)."""
    key = derive_key(galaxy_seed, TAG_SYSTEM_SEED)
    return mix64((key + index * _GAMMA) & MASK64) >> 1


def system_seeds(galaxy_seed: int, index: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per-system seeds in [0, 2**63) for an array of global indices (int64 result)."""
    key = np.uint64(derive_key(galaxy_seed, TAG_SYSTEM_SEED))
    z = index.astype(np.uint64) * np.uint64(_GAMMA) + key
    return (mix64_array(z) >> np.uint64(1)).astype(np.int64)
