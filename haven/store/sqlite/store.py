"""The SQLite engine of the store contract, composed of one part per concern."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

from haven.errors import Conflict, StoreUnavailable
from haven.store import scratch
from haven.store.migrate import head_revision

from .connection import CONNECTION_CACHE_KIB, DEFAULT_AUTOCHECKPOINT_PAGES, Connections
from .galaxies import GalaxyKey, Galaxies
from .octree import Octree
from .reads import Reads
from .space import Space
from .undo import Undo
from .writes import Writes


class SQLiteStore(Connections, Galaxies, Reads, Space, Octree, Writes, Undo):
    """The store contract over one SQLite file."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", bulk: bool = False,
                 cache_kib: int = CONNECTION_CACHE_KIB, read_only: bool = False) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.read_only = read_only  # every connection opened with mode=ro: the file is never changed
        if cache_kib < 1:
            raise ValueError(f"cache_kib must be at least 1, not {cache_kib!r}")
        self.cache_kib = cache_kib  # each connection's page cache at most
        self.bulk = bulk  # opened by a bulk job: may work on a database whose indexes it deferred
        if not self.path.exists():
            raise StoreUnavailable(f"no database at {self.path}; run `haven init` first")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._owners: list[tuple[threading.Thread, sqlite3.Connection]] = []  # the threads' connections
        self._lock = threading.Lock()
        # This process's writers take turns here, so they queue in microseconds
        # instead of meeting SQLite's busy handler, which sleeps 1, 2, 5… ms between
        # tries. Other processes still meet it. Housekeeping never waits for a turn.
        self._writer = threading.RLock()
        self._keys: dict[str, GalaxyKey] = {}
        self._keys_by_id: dict[int, GalaxyKey] = {}
        self._autocheckpoint_pages = DEFAULT_AUTOCHECKPOINT_PAGES
        self._maintenance: threading.Thread | None = None
        self._stop_maintenance = threading.Event()
        self._wal_truncate_after = 0.0  # monotonic time before which the WAL is not emptied (a reader kept it)
        self._wal_truncate_pause = 0.0
        self._commit_listeners: list[Callable[[], None]] = []
        self._wrote = False  # committed a write since opening: close() tidies the search index
        revision = self.conn.execute(
            "SELECT version_num FROM alembic_version"
        ).fetchone() if self._has_table("alembic_version") else None
        expected = head_revision()
        if revision is None or revision[0] != expected:
            found = revision[0] if revision else "none"
            raise StoreUnavailable(
                f"database {self.path} is at schema revision {found}, this Haven needs {expected}; "
                "run `haven db upgrade`"
            )
        if not bulk:
            self._refuse_unfinished_load(self.conn)

    # -- operations --------------------------------------------------------

    def explain(self, sql: str, params: list[Any] | tuple[Any, ...] | dict[str, Any]) -> list[str]:
        """``EXPLAIN QUERY PLAN`` details, for tests that prove a query uses an index."""
        return [r["detail"] for r in self.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]

    def backup(self, target: str | Path) -> None:
        """Copy the live database to ``target`` (a consistent snapshot; writers keep going)."""
        target = Path(target)
        if target.exists():
            raise Conflict(f"{target} already exists; choose a new file", field="path")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target under a hidden name and put in place once complete, so
        # a killed backup never leaves a partial file where the backup should be.
        with scratch.scratch_copy(target.parent, f".{target.name}.backup-") as partial:
            dst = sqlite3.connect(partial)
            try:
                self.conn.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
            scratch.place_without_replacing(partial, target)
