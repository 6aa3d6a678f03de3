"""Deterministic, vectorised generation of a Milky-Way-like galaxy in fixed-size batches.

Batch ``b`` holds global indices ``[b * batch_size, min((b + 1) * batch_size, n_systems))``
and is a pure function of the spec and ``b``: its random stream is a
``numpy.random.SeedSequence`` built from ``(seed, batch_index)``, so any batch can be
(re)generated alone, in any order, by any process. A killed run resumes with
``iter_batches(spec, start_batch=k)``.

Geometry (light years, galactic centre at the origin, disk in the x/y plane):
  * bulge (``bulge_fraction``): axisymmetric gaussian, ``bulge_sigma_ly`` in x/y and
    ``bulge_sigma_z_ly`` in z;
  * disk: surface density ``∝ exp(-r / disk_scale_length_ly)`` cut at ``radius_ly``
    (radius drawn from Gamma(2, h), i.e. ``p(r) ∝ r exp(-r/h)``), vertical Laplace profile
    with scale height ``scale_height_ly``, flaring beyond ``flare_start_ly`` as
    ``exp((r - flare_start_ly) / flare_scale_length_ly)`` (the outer disk thickens, as the
    Milky Way's does; use ``math.inf`` to disable); ``arm_fraction`` of disk stars sit on
    ``n_arms`` logarithmic spirals ``theta = ln(r / r0) / tan(pitch) + 2 pi k / n_arms``.
Regions are places: a core disc plus ``n_rings`` geometric rings x ``n_sectors`` sectors,
and :func:`region_of` maps a position to its region.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

from . import naming, vocab
from .seeds import TAG_ARMS, TAG_BATCH, TAG_REGIONS, derive_key, system_seeds

if TYPE_CHECKING:  # imported where used: a server derives planets from here and never needs pyarrow
    import pyarrow as pa

#: Systems per batch; batch ``b`` depends only on ``(seed, n_systems, b)``.
BATCH_SIZE: int = 1_000_000
#: Positions are rounded to this many decimals (region indices use the rounded values).
POSITION_DECIMALS: int = 2

_TWO_PI = 2.0 * math.pi
#: Variable-width numpy string dtype used for every string column of a batch.
STR_DTYPE = np.dtypes.StringDType()
#: A 1-d numpy array of dtype ``STR_DTYPE``.
StrArray: TypeAlias = np.ndarray


@dataclass(frozen=True)
class GalaxySpec:
    """Parameters of a generated galaxy; two equal specs generate identical galaxies."""

    n_systems: int
    seed: int
    disk_scale_length_ly: float = 10_000.0
    radius_ly: float = 50_000.0
    bulge_fraction: float = 0.15
    bulge_sigma_ly: float = 1_400.0
    bulge_sigma_z_ly: float = 900.0
    scale_height_ly: float = 300.0
    flare_start_ly: float = 30_000.0
    flare_scale_length_ly: float = 12_000.0
    n_arms: int = 4
    arm_fraction: float = 0.5
    arm_pitch_deg: float = 13.0
    arm_width_ly: float = 1_400.0
    arm_start_ly: float = 3_000.0
    core_radius_ly: float = 2_500.0
    n_rings: int = 11
    n_sectors: int = 18
    batch_size: int = field(default=BATCH_SIZE)

    def __post_init__(self) -> None:
        if not 1 <= self.n_systems <= naming.MAX_SYSTEMS:
            raise ValueError(f"n_systems must be in [1, 2**40], got {self.n_systems}")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be in [0, 2**63), got {self.seed}")
        if not 0.0 < self.core_radius_ly < self.radius_ly:
            raise ValueError("need 0 < core_radius_ly < radius_ly")
        if not (0.0 <= self.bulge_fraction <= 1.0 and 0.0 <= self.arm_fraction <= 1.0):
            raise ValueError("bulge_fraction and arm_fraction must be in [0, 1]")
        if min(self.disk_scale_length_ly, self.bulge_sigma_ly, self.bulge_sigma_z_ly,
               self.scale_height_ly, self.arm_width_ly, self.flare_scale_length_ly) <= 0:
            raise ValueError("lengths must be positive")
        if self.n_arms < 1 or self.n_rings < 1 or self.n_sectors < 1 or self.batch_size < 1:
            raise ValueError("n_arms, n_rings, n_sectors and batch_size must be >= 1")
        if 1 + self.n_rings * self.n_sectors > np.iinfo(np.int16).max:
            raise ValueError("too many regions for an int16 region index")

    @property
    def n_regions(self) -> int:
        """Number of regions: the core plus rings x sectors."""
        return 1 + self.n_rings * self.n_sectors


@dataclass
class SystemBatch:
    """``count`` consecutive star systems (global indices ``start .. start + count - 1``).

    String columns are numpy arrays of variable-width strings (``StringDType``): about
    16 bytes a row instead of 4 bytes per character of the longest value.
    """

    batch_index: int
    start: int
    count: int
    index: npt.NDArray[np.int64]
    name: StrArray
    x_ly: npt.NDArray[np.float64]
    y_ly: npt.NDArray[np.float64]
    z_ly: npt.NDArray[np.float64]
    region_index: npt.NDArray[np.int16]
    fauna: StrArray
    flora: StrArray
    sentinel: StrArray
    materials: StrArray
    seed: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return self.count

    def to_arrow(self, region_names: Sequence[str]) -> pa.Table:
        """This batch as a pyarrow Table (see :func:`to_arrow`)."""
        return to_arrow(self, region_names)


# ------------------------------------------------------------------------------ batches
def n_batches(spec: GalaxySpec) -> int:
    """Number of batches of ``spec.batch_size`` systems (the last may be partial)."""
    return -(-spec.n_systems // spec.batch_size)


def batch_range(spec: GalaxySpec, batch_index: int) -> tuple[int, int]:
    """Global index range ``[start, stop)`` of one batch."""
    if not 0 <= batch_index < n_batches(spec):
        raise IndexError(f"batch {batch_index} out of range [0, {n_batches(spec)})")
    start = batch_index * spec.batch_size
    return start, min(start + spec.batch_size, spec.n_systems)


def iter_batches(spec: GalaxySpec, start_batch: int = 0) -> Iterator[SystemBatch]:
    """Yield batches ``start_batch, start_batch + 1, ...`` in order (resumable)."""
    for b in range(start_batch, n_batches(spec)):
        yield generate_batch(spec, b)


def generate_batch(spec: GalaxySpec, batch_index: int) -> SystemBatch:
    """Generate one batch; bit-for-bit identical whenever called with equal arguments."""
    start, stop = batch_range(spec, batch_index)
    count = stop - start
    root = np.random.SeedSequence([spec.seed, batch_index, TAG_BATCH])
    pos_seq, name_seq, cat_seq, mat_seq = root.spawn(4)

    x, y, z = _positions(spec, np.random.default_rng(pos_seq), count)
    region = region_of(spec, x, y)
    r_ly = np.hypot(x, y)

    index = np.arange(start, stop, dtype=np.int64)
    scheme = naming.code_scheme(spec.seed, spec.n_systems)
    suffix = naming.format_suffixes(scheme, naming.encode_codes(scheme, index))
    base = naming.make_base_names(np.random.default_rng(name_seq), count)
    # Built as fixed-width <U (fast concatenation), stored variable-width (compact).
    name = np.strings.add(np.strings.add(base, " "), suffix).astype(STR_DTYPE)

    flora, fauna, sentinel = _life_and_sentinels(spec, np.random.default_rng(cat_seq), r_ly)
    materials = _materials(np.random.default_rng(mat_seq), count)

    return SystemBatch(
        batch_index=batch_index,
        start=start,
        count=count,
        index=index,
        name=name,
        x_ly=x,
        y_ly=y,
        z_ly=z,
        region_index=region,
        fauna=fauna,
        flora=flora,
        sentinel=sentinel,
        materials=materials,
        seed=system_seeds(spec.seed, index),
    )


# ---------------------------------------------------------------------------- positions
def _arm_phase_rad(spec: GalaxySpec) -> float:
    return (derive_key(spec.seed, TAG_ARMS) / 2.0**64) * _TWO_PI


def _positions(
    spec: GalaxySpec, rng: np.random.Generator, count: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Sample ``count`` positions (LY) from the bulge + spiral disk model."""
    in_bulge = rng.random(count) < spec.bulge_fraction
    n_bulge = int(in_bulge.sum())
    n_disk = count - n_bulge
    r_max = spec.radius_ly

    # Bulge: gaussian, redrawn (rarely) if it lands outside the galaxy radius.
    bx = rng.normal(0.0, spec.bulge_sigma_ly, n_bulge)
    by = rng.normal(0.0, spec.bulge_sigma_ly, n_bulge)
    while (bad := np.flatnonzero(np.hypot(bx, by) > r_max)).size:
        bx[bad] = rng.normal(0.0, spec.bulge_sigma_ly, bad.size)
        by[bad] = rng.normal(0.0, spec.bulge_sigma_ly, bad.size)
    bz = rng.normal(0.0, spec.bulge_sigma_z_ly, n_bulge)

    # Disk radius: Gamma(2, h) gives surface density ∝ exp(-r/h); truncated at r_max.
    h = spec.disk_scale_length_ly
    r = rng.gamma(2.0, h, n_disk)
    while (bad := np.flatnonzero(r > r_max)).size:
        r[bad] = rng.gamma(2.0, h, bad.size)
    theta = rng.uniform(0.0, _TWO_PI, n_disk)
    on_arm = (rng.random(n_disk) < spec.arm_fraction) & (r >= spec.arm_start_ly)
    arm = rng.integers(0, spec.n_arms, n_disk)
    offset_ly = rng.normal(0.0, spec.arm_width_ly, n_disk)
    pitch = math.radians(spec.arm_pitch_deg)
    arm_theta = (
        np.log(np.maximum(r, 1.0) / spec.arm_start_ly) / math.tan(pitch)
        + arm * (_TWO_PI / spec.n_arms)
        + _arm_phase_rad(spec)
        + offset_ly / np.maximum(r, 1.0)
    )
    theta = np.where(on_arm, arm_theta, theta)
    flare = np.exp(np.maximum(r - spec.flare_start_ly, 0.0) / spec.flare_scale_length_ly)
    dz = rng.laplace(0.0, 1.0, n_disk) * (spec.scale_height_ly * flare)

    x = np.empty(count)
    y = np.empty(count)
    z = np.empty(count)
    x[in_bulge], y[in_bulge], z[in_bulge] = bx, by, bz
    disk = ~in_bulge
    x[disk] = r * np.cos(theta)
    y[disk] = r * np.sin(theta)
    z[disk] = dz
    # Rounding can push a point a hair past r_max; region_of clips, so that is harmless.
    return (
        np.round(x, POSITION_DECIMALS),
        np.round(y, POSITION_DECIMALS),
        np.round(z, POSITION_DECIMALS),
    )


def arm_distance_ly(
    spec: GalaxySpec, x_ly: npt.ArrayLike, y_ly: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Azimuthal arc length (LY) from positions to the centre line of the nearest arm."""
    x = np.asarray(x_ly, dtype=np.float64)
    y = np.asarray(y_ly, dtype=np.float64)
    r = np.maximum(np.hypot(x, y), 1.0)
    arm0 = np.log(r / spec.arm_start_ly) / math.tan(math.radians(spec.arm_pitch_deg))
    spacing = _TWO_PI / spec.n_arms
    delta = np.mod(np.arctan2(y, x) - arm0 - _arm_phase_rad(spec), spacing)
    return np.minimum(delta, spacing - delta) * r


# ------------------------------------------------------------------------------ regions
def ring_edges_ly(spec: GalaxySpec) -> npt.NDArray[np.float64]:
    """``n_rings + 1`` radii: core radius to galaxy radius, geometrically spaced."""
    k = np.arange(spec.n_rings + 1) / spec.n_rings
    edges = spec.core_radius_ly * (spec.radius_ly / spec.core_radius_ly) ** k
    edges[-1] = spec.radius_ly
    return edges


def region_of(
    spec: GalaxySpec, x_ly: npt.ArrayLike, y_ly: npt.ArrayLike
) -> npt.NDArray[np.int16]:
    """Region index of positions: 0 for the core, else ``1 + ring * n_sectors + sector``.

    Points beyond ``radius_ly`` belong to the outermost ring. The z coordinate is ignored.
    """
    x = np.asarray(x_ly, dtype=np.float64)
    y = np.asarray(y_ly, dtype=np.float64)
    r = np.hypot(x, y)
    edges = ring_edges_ly(spec)
    ring = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, spec.n_rings - 1)
    angle = np.mod(np.arctan2(y, x), _TWO_PI)
    sector = np.minimum((angle * (spec.n_sectors / _TWO_PI)).astype(np.int64),
                        spec.n_sectors - 1)
    region = 1 + ring * spec.n_sectors + sector
    return np.where(r < spec.core_radius_ly, 0, region).astype(np.int16)


def region_bounds(spec: GalaxySpec, region_index: int) -> tuple[float, float, float, float]:
    """``(r_min_ly, r_max_ly, angle_min_rad, angle_max_rad)`` of a region (angles in [0, 2pi]).

    The outermost ring's ``r_max_ly`` is ``inf`` because it also holds stray points.
    """
    if not 0 <= region_index < spec.n_regions:
        raise IndexError(f"region {region_index} out of range")
    if region_index == 0:
        return 0.0, spec.core_radius_ly, 0.0, _TWO_PI
    ring, sector = divmod(region_index - 1, spec.n_sectors)
    edges = ring_edges_ly(spec)
    r_hi = math.inf if ring == spec.n_rings - 1 else float(edges[ring + 1])
    width = _TWO_PI / spec.n_sectors
    return float(edges[ring]), r_hi, sector * width, (sector + 1) * width


def region_names(spec: GalaxySpec) -> list[str]:
    """Unique pronounceable region names, indexed like :func:`region_of`.

    Depends only on ``spec.seed`` and the ring/sector layout. The kind word follows the
    zone: ``Core`` for the centre, then inner / middle / outer disk kinds.
    """
    rnd = random.Random(derive_key(spec.seed, TAG_REGIONS))
    names: list[str] = []
    seen: set[str] = set()
    for region in range(spec.n_regions):
        if region == 0:
            kinds: tuple[str, ...] = (vocab.CORE_KIND,)
        else:
            zone = 3 * ((region - 1) // spec.n_sectors) // spec.n_rings
            kinds = (vocab.INNER_KINDS, vocab.MIDDLE_KINDS, vocab.OUTER_KINDS)[zone]
        while True:
            word = naming.make_word(rnd, rnd.choice((2, 2, 3)))
            name = f"{word} {rnd.choice(kinds)}"
            if name not in seen:
                seen.add(name)
                names.append(name)
                break
    return names


def index_of_name(spec: GalaxySpec, name_or_suffix: str) -> int | None:
    """Global index of the system with this name (or just its ``LL-ddd`` suffix), or None.

    Inverts the name-code bijection in O(1): no table and no batch generation needed.
    Only the suffix is checked; regenerate the batch to compare the full name.
    """
    scheme = naming.code_scheme(spec.seed, spec.n_systems)
    return naming.decode_suffix(scheme, name_or_suffix, spec.n_systems)


# ------------------------------------------------------------------------- categoricals
def _draw_levels(
    rng: np.random.Generator, weights: Sequence[float], exponent: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """Level codes from a categorical; ``u ** exponent`` with exponent < 1 shifts upward."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    u = rng.random(exponent.shape[0]) ** exponent
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(weights) - 1)


def _life_and_sentinels(
    spec: GalaxySpec, rng: np.random.Generator, r_ly: npt.NDArray[np.float64]
) -> tuple[StrArray, StrArray, StrArray]:
    """Flora, fauna and sentinel levels; life peaks mid-disk, sentinels swarm the core."""
    rel = np.minimum(r_ly / spec.radius_ly, 1.0)
    habitable = np.exp(-(((rel - 0.5) / 0.25) ** 2))
    life_exp = 1.4 - 0.6 * habitable
    flora = _draw_levels(rng, vocab.LIFE_WEIGHTS, life_exp)
    fauna = np.minimum(_draw_levels(rng, vocab.LIFE_WEIGHTS, life_exp), flora + 1)
    sentinel = _draw_levels(rng, vocab.SENTINEL_WEIGHTS, 0.55 + 0.9 * rel)
    life = np.array(vocab.LIFE_LEVELS, dtype=STR_DTYPE)
    return life[flora], life[fauna], np.array(vocab.SENTINEL_LEVELS, dtype=STR_DTYPE)[sentinel]


_N_MATERIALS = len(vocab.MATERIALS)
_GOLD_INDEX = vocab.MATERIALS.index(vocab.GOLD)
_N_CANDIDATES = 7
_TABLE_BITS = 16


def _material_table() -> npt.NDArray[np.int8]:
    """Lookup table: a uniform 16-bit integer -> material index with Zipf frequencies.

    Equivalent to inverse-CDF sampling with weights quantised to multiples of 2**-16
    (every material keeps a non-zero share); much faster than ``searchsorted``.
    """
    cdf = np.cumsum(vocab.material_weights())
    cdf /= cdf[-1]
    mid = (np.arange(1 << _TABLE_BITS) + 0.5) / (1 << _TABLE_BITS)
    return np.minimum(np.searchsorted(cdf, mid, side="right"), _N_MATERIALS - 1).astype(np.int8)


_MATERIAL_TABLE = _material_table()


def _materials(rng: np.random.Generator, count: int) -> StrArray:
    """2-4 distinct materials per system, Zipf-weighted, Gold in ~5 % of systems.

    Gold is an independent Bernoulli(GOLD_PROBABILITY); the other ``k - gold`` materials
    are the first distinct values among Zipf draws with replacement (rows that do not
    reach ``k`` distinct values are redrawn). Output is in canonical vocabulary order.
    Strings are built once per distinct combination and then gathered.
    """
    k = 2 + np.searchsorted(
        np.cumsum(vocab.MATERIAL_COUNT_WEIGHTS) / sum(vocab.MATERIAL_COUNT_WEIGHTS),
        rng.random(count), side="right",
    )
    k = np.minimum(k, 4)
    gold = rng.random(count) < vocab.GOLD_PROBABILITY
    need = k - gold

    # Columns 0-3: non-gold picks, column 4: Gold; the value _N_MATERIALS means "empty".
    chosen = np.full((count, 5), _N_MATERIALS, dtype=np.int8)
    chosen[:, 4] = np.where(gold, _GOLD_INDEX, _N_MATERIALS)
    todo = np.arange(count)
    while todo.size:
        draws = rng.integers(0, 1 << _TABLE_BITS, (todo.size, _N_CANDIDATES), dtype=np.uint16)
        cand = _MATERIAL_TABLE[draws]
        is_new = np.ones(cand.shape, dtype=bool)
        for j in range(1, _N_CANDIDATES):
            is_new[:, j] = (cand[:, j : j + 1] != cand[:, :j]).all(axis=1)
        rank = np.cumsum(is_new, axis=1, dtype=np.int8)
        row_need = need[todo]
        ok = rank[:, -1] >= row_need
        keep = is_new & (rank <= row_need[:, None])
        picked = np.sort(np.where(keep, cand, np.int8(_N_MATERIALS)), axis=1)[:, :4]
        chosen[todo[ok], :4] = picked[ok]
        todo = todo[~ok]

    # At most k <= 4 entries are non-empty; after sorting they come first, in vocab order.
    chosen.sort(axis=1)
    combo_key = np.ascontiguousarray(chosen[:, :4]).view(np.int32).ravel()
    unique_keys, inverse = np.unique(combo_key, return_inverse=True)
    combos = unique_keys.view(np.int8).reshape(-1, 4).tolist()
    texts = [
        vocab.MATERIAL_SEPARATOR.join(vocab.MATERIALS[i] for i in combo if i < _N_MATERIALS)
        for combo in combos
    ]
    return np.array(texts, dtype=STR_DTYPE)[inverse.ravel()]


# -------------------------------------------------------------------------------- arrow
def to_arrow(batch: SystemBatch, region_names: Sequence[str]) -> pa.Table:
    """Flat pyarrow Table: index, name, x_ly, y_ly, z_ly, region_index, region, fauna,
    flora, sentinel, materials, seed (region is the name looked up in ``region_names``)."""
    import pyarrow as pa

    region_idx = pa.array(batch.region_index, type=pa.int16())
    return pa.table(
        {
            "index": pa.array(batch.index, type=pa.int64()),
            "name": pa.array(batch.name, type=pa.string()),
            "x_ly": pa.array(batch.x_ly, type=pa.float64()),
            "y_ly": pa.array(batch.y_ly, type=pa.float64()),
            "z_ly": pa.array(batch.z_ly, type=pa.float64()),
            "region_index": region_idx,
            "region": pa.array(list(region_names), type=pa.string()).take(region_idx),
            "fauna": pa.array(batch.fauna, type=pa.string()),
            "flora": pa.array(batch.flora, type=pa.string()),
            "sentinel": pa.array(batch.sentinel, type=pa.string()),
            "materials": pa.array(batch.materials, type=pa.string()),
            "seed": pa.array(batch.seed, type=pa.int64()),
        }
    )
