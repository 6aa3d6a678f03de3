"""Timing helpers: run a callable over parameters, summarise in percentiles, read peak RSS."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import math
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Timing:
    """Samples (milliseconds) of one operation, with a note on what was timed."""

    name: str
    mode: str  # "in-process" or "http"
    samples_ms: list[float] = field(default_factory=list)
    note: str = ""
    results: int = 0  # items returned over all calls (sanity: a query that returns nothing is suspicious)

    def summary(self) -> dict[str, Any]:
        """p50/p95/p99/max (nearest-rank, so p50 ≤ p95 ≤ p99 always), calls and mean results per call."""
        pct = percentiles(self.samples_ms)
        return {
            "operation": self.name,
            "mode": self.mode,
            "calls": len(self.samples_ms),
            **pct,
            "mean_results": round(self.results / len(self.samples_ms), 1) if self.samples_ms else 0.0,
            "note": self.note,
        }


def percentile(sorted_samples: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted samples (monotone in ``p``)."""
    if not sorted_samples:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_samples)))
    return sorted_samples[rank - 1]


def percentiles(samples: Iterable[float]) -> dict[str, float]:
    """``p50``, ``p95``, ``p99`` and ``max`` in milliseconds, rounded to µs."""
    s = sorted(samples)
    return {
        "p50_ms": round(percentile(s, 50), 3),
        "p95_ms": round(percentile(s, 95), 3),
        "p99_ms": round(percentile(s, 99), 3),
        "max_ms": round(s[-1], 3) if s else 0.0,
    }


def time_calls(
    timing: Timing,
    fn: Callable[[Any], Any],
    params: Iterable[Any],
    *,
    count: Callable[[Any], int] | None = None,
    warmup: int = 0,
) -> Timing:
    """Call ``fn(p)`` for every ``p``, appending each call's wall time (ms) to ``timing``.

    ``count(result)`` (optional) adds the number of items a call returned to ``timing.results``.
    ``warmup`` first calls ``fn`` on that many of the parameters without timing them (reads only).
    """
    params = list(params)
    for p in params[:warmup]:
        fn(p)
    for p in params:
        t0 = time.perf_counter()
        result = fn(p)
        timing.samples_ms.append((time.perf_counter() - t0) * 1000.0)
        if count is not None:
            timing.results += count(result)
    return timing


def _status_kib(pid: int | str, key: str) -> int | None:
    """A ``kB`` field (``VmHWM``, ``VmRSS``) of ``/proc/<pid>/status``, or None off Linux."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def peak_rss_bytes(pid: int | None = None) -> int:
    """Peak resident set size of ``pid`` (default: this process) since start or the last reset."""
    kib = _status_kib(pid if pid is not None else "self", "VmHWM")
    if kib is not None:
        return kib * 1024
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return 0


def release_free_memory() -> None:
    """Hand memory that is already freed back to the system (glibc ``malloc_trim``), if possible.

    After a build, the allocator keeps the freed pages of its big arrays; without
    this the query phase's peak would start at what the build left behind.
    """
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs``); False when the kernel does not allow it.

    Memory already freed is handed back first (:func:`release_free_memory`).
    """
    release_free_memory()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
