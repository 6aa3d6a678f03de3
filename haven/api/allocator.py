"""The C allocator of a server process: two arenas, and large blocks mapped on their own.

A server builds its answers in worker threads. Two defaults of glibc's ``malloc``
keep memory that a server has finished with:

- every thread gets an arena of its own on its first allocation (up to eight
  per core), and each arena keeps the pages it grew by;
- after a large block (above 128 KiB, so mapped on its own) is freed, the size
  above which blocks are mapped rises to that block's size, so the next 1–2 MB
  answer comes from an arena instead, and the arena keeps those pages too.

So :func:`tune_allocator` asks for at most :data:`ARENAS` arenas and a fixed
threshold of :data:`MMAP_THRESHOLD_BYTES`. On the 10M galaxy, four bursts of 32
clients (pages, searches and 500 LY spheres of up to 5,000 systems) raised a
server's peak RSS to 204 MiB with glibc's defaults and to 180 MiB with these,
at the same request rate.

Only glibc has these settings; elsewhere nothing changes. An operator who sets
any of glibc's ``malloc`` settings, as a ``glibc.malloc.`` tunable in
``GLIBC_TUNABLES`` or as a ``MALLOC_`` variable (``MALLOC_ARENA_MAX``…), keeps
them, and glibc's defaults for the rest.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: Arenas at most: one per core of the machines Haven is measured on. A request's
#: Python objects come from CPython's own allocator under the GIL; what the arenas
#: serve is mostly SQLite's page caches and the answers' byte buffers.
ARENAS = 2
#: Blocks at least this large are mapped on their own and unmapped when freed
#: (glibc's starting value, kept instead of rising after each large free).
MMAP_THRESHOLD_BYTES = 128 << 10

# mallopt(3) parameter numbers, from glibc's <malloc.h>.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def operator_tunables() -> bool:
    """Whether the environment sets any of glibc's ``malloc`` settings (they win)."""
    return "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "") or any(
        name.startswith("MALLOC_") for name in os.environ
    )


def _left_alone() -> str | None:
    """Why the allocator is left as it is (not glibc, or the operator's settings), or None."""
    if platform.libc_ver()[0] != "glibc":
        return "not glibc: left alone"
    if operator_tunables():
        return "glibc, the environment's malloc settings"
    return None


def tune_allocator() -> bool:
    """Bound glibc's arenas to :data:`ARENAS` and fix its mapping threshold at
    :data:`MMAP_THRESHOLD_BYTES` for this process; True if both took.

    Arenas that threads already made stay, and none is added past the bound
    provided at most eight exist yet (glibc fixes its limit after that): call it
    before the server's worker threads start. A no-op (False) on other C
    libraries and when the operator set ``malloc`` settings (:func:`operator_tunables`).
    """
    if _left_alone() is not None:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, ARENAS)) and bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def allocator_setting() -> str:
    """What :func:`tune_allocator` does in a process started with this environment, in words.

    The benchmark prints it beside its memory figures, which depend on it.
    """
    return _left_alone() or f"glibc, {ARENAS} arenas, blocks from {MMAP_THRESHOLD_BYTES >> 10} KiB mapped"
