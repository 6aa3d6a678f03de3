"""The embedded engine: one SQLite file, WAL, foreign keys, busy timeout.

Each thread gets its own connection (SQLite connections are not shared
across threads); a thread that starts after another ended takes over the
ended thread's connection, so a server whose worker threads come and go
keeps as many connections as it has threads at once, not one per thread
ever. Writes run in ``BEGIN IMMEDIATE`` transactions so counters,
children and the search index change together or not at all.

:class:`SQLiteStore` is put together from one part per concern, each in its
own module:

========================  ===========================================================
``connection``            connections, transactions, writers' turns, maintenance thread
``galaxies``              galaxies, regions, counters
``rows``                  the column list every read uses and stored → API values
``reads``                 pages in name order, search, one system's detail, export
``space``                 spheres and boxes over Morton-code ranges
``octree``                LOD octree nodes, stored chunks, the change feed
``writes``                create, replace, patch, delete
``undo``                  change history and undo
``store``                 the class itself, backup and ``EXPLAIN``
========================  ===========================================================
"""

from .connection import (
    BUSY_TIMEOUT_MS, CONNECTION_CACHE_KIB, WriterBusy, connection_cache_kib, is_busy, sqlite_memory_limit,
    transaction,
)
from .galaxies import DEFAULT_HALF_SIZE_LY, GalaxyKey
from .octree import CHANGED_NODES_SQL
from .rows import SYSTEM_COLUMNS, SYSTEM_FROM
from .store import SQLiteStore

__all__ = [
    "BUSY_TIMEOUT_MS", "CHANGED_NODES_SQL", "CONNECTION_CACHE_KIB", "DEFAULT_HALF_SIZE_LY", "GalaxyKey",
    "SQLiteStore", "SYSTEM_COLUMNS", "SYSTEM_FROM", "WriterBusy", "connection_cache_kib", "is_busy",
    "sqlite_memory_limit", "transaction",
]
