"""Storage: the store contract and its engines.

``open_store()`` returns the engine named by ``HAVEN_DATABASE_URL`` (SQLite by
default). ``init_store()`` creates or upgrades the schema first.
"""

from __future__ import annotations

from haven.config import DatabaseUrl, database_url, sqlite_synchronous
from haven.errors import StoreUnavailable
from haven.store import migrate
from haven.store.base import MAX_LIMIT, MAX_OFFSET, ImportResult, Page, Store
from haven.store.sqlite import CONNECTION_CACHE_KIB, SQLiteStore


def open_store(url: DatabaseUrl | None = None, *, bulk: bool = False,
               cache_kib: int = CONNECTION_CACHE_KIB, read_only: bool = False) -> SQLiteStore:
    """Open the configured store; the schema must be current.

    ``bulk``: for ``haven generate`` and ``haven import``, which may finish a load
    that deferred the database's indexes (see :mod:`haven.store.deferred`);
    everything else is refused while such a load is unfinished. ``cache_kib``:
    each connection's page cache at most. ``read_only``: for commands that only
    read (``stats``, ``export``, ``map``, ``backup``); the file is left exactly as
    it was (a backup keeps its journal mode) and a write-protected copy can be read.
    """
    url = url or database_url()
    if url.engine != "sqlite":
        raise StoreUnavailable(f"the {url.engine} engine is not available in this version of Haven")
    return SQLiteStore(url.sqlite_path, synchronous=sqlite_synchronous(), bulk=bulk, cache_kib=cache_kib,
                       read_only=read_only)


def init_store(url: DatabaseUrl | None = None, *, bulk: bool = False) -> SQLiteStore:
    """Create the database if needed, bring its schema to the newest revision, open it."""
    url = url or database_url()
    migrate.upgrade(url)
    return open_store(url, bulk=bulk)


__all__ = ["MAX_LIMIT", "MAX_OFFSET", "ImportResult", "Page", "Store", "SQLiteStore", "init_store", "open_store"]
