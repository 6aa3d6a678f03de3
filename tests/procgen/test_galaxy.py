"""Tests for haven.procgen.galaxy: determinism, names, distribution, regions, arrow."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haven.procgen import (
    BATCH_SIZE,
    GalaxySpec,
    SystemBatch,
    arm_distance_ly,
    batch_range,
    generate_batch,
    index_of_name,
    iter_batches,
    n_batches,
    region_bounds,
    region_names,
    region_of,
    system_seed,
    to_arrow,
)
from haven.procgen import naming, vocab

ARRAY_FIELDS = [f.name for f in dataclasses.fields(SystemBatch)
                if f.name not in ("batch_index", "start", "count")]


def assert_batches_identical(a: SystemBatch, b: SystemBatch) -> None:
    assert (a.batch_index, a.start, a.count) == (b.batch_index, b.start, b.count)
    for name in ARRAY_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        if x.dtype.kind == "f":  # bit-for-bit, not just numerically equal
            assert np.array_equal(x.view(np.uint64), y.view(np.uint64)), name
        else:
            assert np.array_equal(x, y), name


@pytest.fixture(scope="module")
def big() -> tuple[GalaxySpec, SystemBatch]:
    """A 200k-system galaxy, shared by the statistical tests."""
    spec = GalaxySpec(n_systems=200_000, seed=2024)
    return spec, generate_batch(spec, 0)


# ------------------------------------------------------------------------- spec, batches
def test_spec_validation() -> None:
    with pytest.raises(ValueError):
        GalaxySpec(n_systems=0, seed=1)
    with pytest.raises(ValueError):
        GalaxySpec(n_systems=2**40 + 1, seed=1)
    with pytest.raises(ValueError):
        GalaxySpec(n_systems=10, seed=-1)
    with pytest.raises(ValueError):
        GalaxySpec(n_systems=10, seed=1, core_radius_ly=60_000.0)
    assert GalaxySpec(n_systems=10, seed=1).batch_size == BATCH_SIZE == 1_000_000


def test_batches_partition_the_index_range() -> None:
    spec = GalaxySpec(n_systems=2_500, seed=5, batch_size=1_000)
    assert n_batches(spec) == 3
    batches = list(iter_batches(spec))
    assert [b.count for b in batches] == [1_000, 1_000, 500]
    assert [batch_range(spec, b) for b in range(3)] == [(0, 1000), (1000, 2000), (2000, 2500)]
    index = np.concatenate([b.index for b in batches])
    assert np.array_equal(index, np.arange(2_500))
    with pytest.raises(IndexError):
        generate_batch(spec, 3)
    with pytest.raises(IndexError):
        generate_batch(spec, -1)
    assert n_batches(GalaxySpec(n_systems=10**9, seed=1)) == 1_000


def test_same_spec_is_bit_identical() -> None:
    spec = GalaxySpec(n_systems=20_000, seed=99)
    assert_batches_identical(generate_batch(spec, 0), generate_batch(spec, 0))


def test_batch_alone_equals_batch_in_run_and_resume() -> None:
    spec = GalaxySpec(n_systems=4_300, seed=11, batch_size=1_000)
    run = list(iter_batches(spec))
    assert_batches_identical(generate_batch(spec, 3), run[3])  # generated alone
    resumed = list(iter_batches(spec, start_batch=2))
    assert len(resumed) == 3
    for got, want in zip(resumed, run[2:]):
        assert_batches_identical(got, want)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 5_000),
    seed=st.integers(0, 2**63 - 1),
    batch_size=st.integers(1, 2_000),
    data=st.data(),
)
def test_determinism_property(n: int, seed: int, batch_size: int, data: st.DataObject) -> None:
    spec = GalaxySpec(n_systems=n, seed=seed, batch_size=batch_size)
    b = data.draw(st.integers(0, n_batches(spec) - 1))
    first = generate_batch(spec, b)
    generate_batch(spec, 0)  # unrelated work in between must not matter
    assert_batches_identical(first, generate_batch(spec, b))
    assert first.count == min(batch_size, n - b * batch_size)


def test_different_seeds_differ() -> None:
    a = generate_batch(GalaxySpec(n_systems=1_000, seed=1), 0)
    b = generate_batch(GalaxySpec(n_systems=1_000, seed=2), 0)
    assert not np.array_equal(a.x_ly, b.x_ly)
    assert not np.array_equal(a.name, b.name)
    assert not np.array_equal(a.seed, b.seed)


# ---------------------------------------------------------------------------------- names
NAME_RE = re.compile(r"^[A-Z][a-z]+( [A-Z][a-z]+)? [A-Z]{2}-\d{3,}$")


def test_names_unique_exhaustive_300k() -> None:
    n = 300_000
    spec = GalaxySpec(n_systems=n, seed=31337)
    batch = generate_batch(spec, 0)
    names = batch.name
    assert np.unique(names).size == n
    suffixes = np.strings.rpartition(names, np.array(" ", dtype=names.dtype))[2]
    assert np.unique(suffixes).size == n
    assert np.unique(np.strings.str_len(suffixes)).size == 1  # fixed width per galaxy
    lengths = np.strings.str_len(names)
    assert lengths.max() <= 60 and lengths.min() > 0
    assert not np.any(np.strings.startswith(names, " ") | np.strings.endswith(names, " "))
    assert not np.any(np.strings.find(np.strings.lower(names), "gold") >= 0)
    assert all(NAME_RE.match(s) for s in names[:5_000].tolist())


def test_names_unique_across_batches() -> None:
    spec = GalaxySpec(n_systems=6_000, seed=8, batch_size=1_000)
    names = np.concatenate([b.name for b in iter_batches(spec)])
    assert np.unique(names).size == 6_000


def test_code_is_a_permutation_for_small_galaxy() -> None:
    scheme = naming.code_scheme(galaxy_seed=77, n_systems=5_000)
    everything = np.arange(1 << scheme.bits, dtype=np.int64)
    codes = naming.encode_codes(scheme, everything)
    assert np.array_equal(np.sort(codes), everything.astype(np.uint64))


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**63 - 1),
    n=st.integers(1, 2**40),
    frac=st.floats(0.0, 1.0, exclude_max=True),
)
def test_code_roundtrip_up_to_2_pow_40(seed: int, n: int, frac: float) -> None:
    index = int(frac * n)
    scheme = naming.code_scheme(seed, n)
    code = naming.encode_code(scheme, index)
    assert code == int(naming.encode_codes(scheme, np.array([index]))[0])
    assert naming.decode_code(scheme, code) == index
    suffix = naming.format_suffix(scheme, code)
    assert suffix == naming.format_suffixes(scheme, np.array([code], dtype=np.uint64))[0]
    assert len(suffix) <= 13
    assert naming.decode_suffix(scheme, suffix, n) == index


def test_huge_galaxy_last_batch() -> None:
    spec = GalaxySpec(n_systems=2**40, seed=4, batch_size=1_000)
    last = n_batches(spec) - 1
    batch = generate_batch(spec, last)
    assert batch.index[-1] == 2**40 - 1
    assert np.unique(batch.name).size == batch.count
    assert np.strings.str_len(batch.name).max() <= 60
    for i in (0, batch.count - 1):
        assert index_of_name(spec, str(batch.name[i])) == batch.index[i]


def test_index_of_name(big: tuple[GalaxySpec, SystemBatch]) -> None:
    spec, batch = big
    for i in (0, 1, 12_345, batch.count - 1):
        assert index_of_name(spec, str(batch.name[i])) == i
    assert index_of_name(spec, "Nothing Here") is None
    assert index_of_name(spec, "AB-1") is None  # wrong width


# ---------------------------------------------------------------------- fields and ranges
def test_fields_and_ranges(big: tuple[GalaxySpec, SystemBatch]) -> None:
    spec, b = big
    n = b.count
    for name in ARRAY_FIELDS:
        assert len(getattr(b, name)) == n, name
    assert b.index.dtype == np.int64 and b.seed.dtype == np.int64
    for arr in (b.x_ly, b.y_ly, b.z_ly):
        assert arr.dtype == np.float64 and np.isfinite(arr).all()
    assert np.hypot(b.x_ly, b.y_ly).max() <= spec.radius_ly + 0.01
    assert b.region_index.min() >= 0 and b.region_index.max() < spec.n_regions
    assert set(np.unique(b.fauna)) <= set(vocab.LIFE_LEVELS)
    assert set(np.unique(b.flora)) <= set(vocab.LIFE_LEVELS)
    assert set(np.unique(b.sentinel)) == set(vocab.SENTINEL_LEVELS)
    assert (b.seed >= 0).all() and np.unique(b.seed).size == n
    assert all(int(b.seed[i]) == system_seed(spec.seed, i) for i in (0, 7, n - 1))


def test_seed_depends_only_on_galaxy_seed_and_index() -> None:
    small = generate_batch(GalaxySpec(n_systems=3_000, seed=12, batch_size=1_000), 2)
    other = generate_batch(GalaxySpec(n_systems=50_000, seed=12), 0)
    assert np.array_equal(small.seed, other.seed[2_000:3_000])


def test_materials(big: tuple[GalaxySpec, SystemBatch]) -> None:
    _, b = big
    order = {m: i for i, m in enumerate(vocab.MATERIALS)}
    counts = {m: 0 for m in vocab.MATERIALS}
    sizes = []
    for text in np.unique(b.materials).tolist():
        items = text.split(", ")
        assert 2 <= len(items) <= 4 and len(set(items)) == len(items)
        assert [order[m] for m in items] == sorted(order[m] for m in items)
    for text in b.materials[:20_000].tolist():
        items = text.split(", ")
        sizes.append(len(items))
        for m in items:
            counts[m] += 1
    assert set(sizes) == {2, 3, 4}
    gold = np.mean(np.strings.find(b.materials, "Gold") >= 0)
    assert 0.045 < gold < 0.055
    freq = sorted(counts.values(), reverse=True)
    assert counts["Carbon"] == freq[0]
    assert freq[0] > 20 * freq[-1]  # Zipf-like: few common, many rare
    assert sum(f < 0.02 * 20_000 for f in freq) >= 15


def test_life_and_sentinel_skew(big: tuple[GalaxySpec, SystemBatch]) -> None:
    _, b = big
    for col in (b.fauna, b.flora):
        share = {lvl: np.mean(col == lvl) for lvl in vocab.LIFE_LEVELS}
        assert share["None"] > 0.25
        assert share["None"] > 4 * share["Bountiful"]
        assert share["None"] + share["Scarce"] > 3 * (share["Abundant"] + share["Bountiful"])
    level = {lvl: i for i, lvl in enumerate(vocab.LIFE_LEVELS)}
    flora = np.vectorize(level.__getitem__)(b.flora[:20_000])
    fauna = np.vectorize(level.__getitem__)(b.fauna[:20_000])
    assert (fauna <= flora + 1).all()  # animals need plants


def test_vocabulary_is_search_friendly() -> None:
    everything = (
        list(vocab.MATERIALS) + list(vocab.LIFE_LEVELS) + list(vocab.SENTINEL_LEVELS)
        + list(vocab.INNER_KINDS + vocab.MIDDLE_KINDS + vocab.OUTER_KINDS)
    )
    assert [w for w in everything if "gold" in w.lower()] == ["Gold"]
    assert len(vocab.MATERIALS) == len(set(vocab.MATERIALS)) >= 40
    assert not any(", " in m for m in vocab.MATERIALS)
    for syl in naming.FIRST_SYLLABLES + naming.MIDDLE_SYLLABLES + naming.FINAL_SYLLABLES:
        assert "ld" not in syl.lower() and not syl.lower().endswith("l")


# -------------------------------------------------------------------------- distribution
def test_density_contrast_core_vs_rim(big: tuple[GalaxySpec, SystemBatch]) -> None:
    _, b = big
    r_xy = np.hypot(b.x_ly, b.y_ly)
    r_3d = np.sqrt(r_xy**2 + b.z_ly**2)
    core_radius = 1_000.0
    core_density = np.count_nonzero(r_3d < core_radius) / (4 / 3 * math.pi * core_radius**3)
    # Rim: annulus 38k..42k LY, |z| < 500 LY.
    rim = (np.abs(r_xy - 40_000.0) < 2_000.0) & (np.abs(b.z_ly) < 500.0)
    rim_volume = 2 * math.pi * 40_000.0 * 4_000.0 * 1_000.0
    rim_density = np.count_nonzero(rim) / rim_volume
    assert np.count_nonzero(rim) > 500  # enough stars for a meaningful estimate
    assert core_density > 100 * rim_density


def test_disk_profile(big: tuple[GalaxySpec, SystemBatch]) -> None:
    spec, b = big
    r_xy = np.hypot(b.x_ly, b.y_ly)
    band = (r_xy > 8_000) & (r_xy < 25_000)
    # Laplace(0, h): median |z| = h ln 2 (bulge stars are negligible at these radii).
    median_z = np.median(np.abs(b.z_ly[band]))
    assert 0.8 * spec.scale_height_ly * math.log(2) < median_z < 1.2 * spec.scale_height_ly * math.log(2)
    # Surface density falls with radius: each 10k LY annulus is sparser than the previous.
    edges = np.arange(5_000, 50_001, 10_000)
    surface = [np.count_nonzero((r_xy >= lo) & (r_xy < hi)) / (hi**2 - lo**2)
               for lo, hi in zip(edges[:-1], edges[1:])]
    assert all(a > 1.5 * b for a, b in zip(surface, surface[1:]))


def test_spiral_arms_hold_many_disk_stars(big: tuple[GalaxySpec, SystemBatch]) -> None:
    spec, b = big
    r_xy = np.hypot(b.x_ly, b.y_ly)
    disk = (r_xy > 8_000) & (r_xy < 30_000)
    near = np.mean(arm_distance_ly(spec, b.x_ly[disk], b.y_ly[disk]) < spec.arm_width_ly)
    # Same radii with uniformly random angles: what an armless disk would give.
    angle = np.random.default_rng(0).uniform(0, 2 * math.pi, np.count_nonzero(disk))
    xs, ys = r_xy[disk] * np.cos(angle), r_xy[disk] * np.sin(angle)
    baseline = np.mean(arm_distance_ly(spec, xs, ys) < spec.arm_width_ly)
    assert near > 2.5 * baseline


# -------------------------------------------------------------------------------- regions
def test_region_names() -> None:
    spec = GalaxySpec(n_systems=10, seed=42)
    names = region_names(spec)
    assert len(names) == spec.n_regions == 199
    assert len(set(names)) == len(names)
    assert names == region_names(GalaxySpec(n_systems=10**9, seed=42))  # seed only
    assert names != region_names(GalaxySpec(n_systems=10, seed=43))
    assert names[0].endswith(" Core")
    for name in names:
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", name), name
        assert "gold" not in name.lower()


def test_region_is_a_function_of_position(big: tuple[GalaxySpec, SystemBatch]) -> None:
    spec, b = big
    assert np.array_equal(region_of(spec, b.x_ly, b.y_ly), b.region_index)
    assert np.unique(b.region_index).size == spec.n_regions  # every region is populated


def test_same_region_means_nearby(big: tuple[GalaxySpec, SystemBatch]) -> None:
    spec, b = big
    order = np.argsort(b.region_index, kind="stable")
    regions, starts = np.unique(b.region_index[order], return_index=True)
    for region, members in zip(regions, np.split(order, starts[1:])):
        x, y = b.x_ly[members], b.y_ly[members]
        r, angle = np.hypot(x, y), np.mod(np.arctan2(y, x), 2 * math.pi)
        r_lo, r_hi, a_lo, a_hi = region_bounds(spec, int(region))
        assert (r >= r_lo - 1e-6).all() and (r < r_hi + 1e-6).all()
        if region:
            assert (angle >= a_lo - 1e-9).all() and (angle <= a_hi + 1e-9).all()
        # Spatial compactness. For two points of an annular sector,
        # d**2 = (r1 - r2)**2 + 2 r1 r2 (1 - cos da) <= (r_hi - r_lo)**2 + (r_hi * da)**2.
        r_top = min(r_hi, spec.radius_ly + 0.01)
        diameter = math.hypot(r_top - r_lo, r_top * (a_hi - a_lo)) if region else 2 * r_top
        assert diameter < 25_000.0  # a quarter of the galaxy's diameter
        for anchor in (0, len(members) // 2, len(members) - 1):
            assert np.hypot(x - x[anchor], y - y[anchor]).max() <= diameter + 1e-6


@settings(max_examples=100, deadline=None)
@given(
    x=st.floats(-60_000, 60_000, allow_nan=False),
    y=st.floats(-60_000, 60_000, allow_nan=False),
)
def test_region_of_matches_bounds(x: float, y: float) -> None:
    spec = GalaxySpec(n_systems=10, seed=1)
    region = int(region_of(spec, np.array([x]), np.array([y]))[0])
    r_lo, r_hi, a_lo, a_hi = region_bounds(spec, region)
    r = math.hypot(x, y)
    assert r_lo <= r < r_hi or (region == 0 and r < spec.core_radius_ly)
    if region:
        angle = math.atan2(y, x) % (2 * math.pi)
        assert a_lo - 1e-9 <= angle <= a_hi + 1e-9


# ---------------------------------------------------------------------------------- arrow
def test_to_arrow(big: tuple[GalaxySpec, SystemBatch]) -> None:
    spec, b = big
    names = region_names(spec)
    table = to_arrow(b, names)
    assert table.num_rows == b.count
    assert table.column_names == [
        "index", "name", "x_ly", "y_ly", "z_ly", "region_index", "region",
        "fauna", "flora", "sentinel", "materials", "seed",
    ]
    assert table.schema.field("name").type == pa.string()
    assert table.schema.field("region_index").type == pa.int16()
    row = table.slice(123, 1).to_pylist()[0]
    assert row["name"] == b.name[123]
    assert row["region"] == names[b.region_index[123]]
    assert row["seed"] == b.seed[123]
    assert b.to_arrow(names).equals(table)
