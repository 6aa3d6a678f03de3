"""Deterministic procedural galaxy generation (vectorised, batched, resumable).

Systems are generated in fixed-size batches by :func:`generate_batch`; planets, moons
and space stations are derived on demand from a system's seed by :func:`derive_details`.
"""

from .details import derive_details, derive_system_details
from .galaxy import (
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
    ring_edges_ly,
    to_arrow,
)
from .seeds import system_seed, system_seeds

__all__ = [
    "BATCH_SIZE",
    "GalaxySpec",
    "SystemBatch",
    "arm_distance_ly",
    "batch_range",
    "derive_details",
    "derive_system_details",
    "generate_batch",
    "index_of_name",
    "iter_batches",
    "n_batches",
    "region_bounds",
    "region_names",
    "region_of",
    "ring_edges_ly",
    "system_seed",
    "system_seeds",
    "to_arrow",
]
