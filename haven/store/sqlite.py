"""The embedded engine: one SQLite file, WAL, foreign keys, busy timeout.

Each thread gets its own connection (SQLite connections are not shared
across threads); a thread that starts after another ended takes over the
ended thread's connection, so a server whose worker threads come and go
keeps as many connections as it has threads at once, not one per thread
ever. Writes run in ``BEGIN IMMEDIATE`` transactions so counters,
children and the search index change together or not at all.
"""

from __future__ import annotations

import itertools
import logging
import math
import operator
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import orjson

from haven.errors import Conflict, InvalidInput, NotFound, StaleVersion, StoreUnavailable
from haven.model import (
    BODY_TEXT_FIELDS, CONTROL_CHARS, END_OF_NAMES, INT64_MAX, NAME_MAX_CHARS, SYSTEM_TEXT_FIELDS, PlanetIn,
    StationIn, SystemIn, SystemPatch, clean_name,
)
from haven.procgen.details import derive_system_details
from haven.spatial import MAX_LEVEL, Cube
from haven.spatial.nearest import (
    Box, Candidates, Shape, Sphere, box_shells, sphere_shells, squared_distance_sql,
)
from haven.store import deferred, history, scratch, search
from haven.store.gcpause import gc_paused
from haven.store.ids import next_row_id, note_deleted
from haven.store.lod import (
    DEFAULT_CAPACITY, LodTree, Member, first_clock, next_clock, priority_of, systems_per_ly3_at,
)
from haven.store.base import MAX_LIMIT, MAX_OFFSET, MIN_SEARCH_CHARS, ImportResult, OnConflict, Page
from haven.store.migrate import head_revision
from haven.timeutil import now_ms, parse_ms, to_iso

DEFAULT_HALF_SIZE_LY = 131_072.0  # 2^17 LY: the Milky Way's disk with room to spare
BUSY_TIMEOUT_MS = 10_000
CONNECTION_CACHE_KIB = 16_384  # each connection's page cache at most, unless a server's budget allows more
DEFAULT_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default: checkpoint inside the commit past 1,000 WAL pages
MAINTENANCE_INTERVAL_S = 0.5
SEARCH_MERGE_PAGES = 64  # per maintenance round: a few milliseconds of holding the write lock
CLOSE_MERGE_STEPS = 32  # at most this many merge steps when a store that wrote is closed

log = logging.getLogger(__name__)

#: A system's API fields in response order, each with the SQL that reads it.
_SYSTEM_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "s.id"), ("name", "s.name"), ("x", "s.x"), ("y", "s.y"), ("z", "s.z"), ("region", "r.name"),
    ("fauna", "s.fauna"), ("flora", "s.flora"), ("sentinel", "s.sentinel"), ("materials", "s.materials"),
    ("base_location", "s.base_location"), ("photo", "s.photo"), ("attributes", "s.attributes"),
    ("glyph", "s.glyph"), ("legacy_id", "s.legacy_id"), ("provenance", "s.provenance"),
    ("confidence", "s.confidence"), ("extra", "s.extra"), ("version", "s.version"),
    ("created_at", "s.created_at"), ("modified_at", "s.modified_at"),
)
SYSTEM_FIELD_NAMES = tuple(name for name, _ in _SYSTEM_FIELDS)
SYSTEM_COLUMNS = ", ".join(f"{sql} AS {name}" for name, sql in _SYSTEM_FIELDS)
SYSTEM_FROM = "system s LEFT JOIN region r ON r.id = s.region_id"

# Many rows at once (a 5,000-system sphere) cost mostly the Python objects the sqlite3
# module makes for each of their 21 values. Packed, SQLite writes the integer and
# text fields of a row as one JSON array that orjson decodes for all rows in one call,
# about half the cost; the REAL fields stay SQLite values because json_array prints
# them with 15 significant digits, and a double needs 17 to come back unchanged.
# Text fields are cast to TEXT: ``extra`` is stored as the bytes orjson writes (a BLOB).
_REAL_FIELDS = ("x", "y", "z", "confidence")
_INTEGER_FIELDS = ("id", "version", "created_at", "modified_at")
_REAL_SLOTS = tuple(SYSTEM_FIELD_NAMES.index(name) for name in _REAL_FIELDS)


def _packed_sql(name: str, sql: str) -> str:
    if name in _REAL_FIELDS:
        return "NULL"
    return sql if name in _INTEGER_FIELDS else f"CAST({sql} AS TEXT)"


PACKED_SYSTEM_COLUMNS = (
    "json_array(" + ", ".join(_packed_sql(name, sql) for name, sql in _SYSTEM_FIELDS) + "), "
    + ", ".join(sql for name, sql in _SYSTEM_FIELDS if name in _REAL_FIELDS)
)
#: The octree's change feed: nodes by version, on the index ``lod_node_version``.
CHANGED_NODES_SQL = (
    "SELECT level, cell, count, version FROM lod_node "
    "WHERE galaxy_id = ? AND version > ? ORDER BY version LIMIT ?"
)
_DISTANCE_THEN_ID = operator.itemgetter(-2, -1)  # rows of _rows_by_distance end with (d2, id)


class GalaxyKey(NamedTuple):
    """What every query needs to know about a galaxy; immutable once the galaxy exists."""

    id: int
    cube: Cube
    capacity: int


class _ReadTransaction:
    """``with``: BEGIN, then COMMIT on leaving, on one connection.

    A plain class rather than a generator context manager: reads such as a
    system's detail take about 10 µs, and the generator's machinery costs one.
    """

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN")
        return self.conn

    def __exit__(self, *exc_info: object) -> None:
        self.conn.execute("COMMIT")


def _finish_system(d: dict[str, Any]) -> dict[str, Any]:
    """Stored values → API values: ``extra`` parsed, times as ISO text."""
    d["extra"] = orjson.loads(d["extra"]) if d["extra"] else {}
    d["created_at"] = to_iso(d["created_at"])
    d["modified_at"] = to_iso(d["modified_at"])
    return d


def _fetch_systems(conn: sqlite3.Connection, sql: str, params: Any) -> list[dict[str, Any]]:
    """Rows of a ``SYSTEM_COLUMNS`` query as API dicts (plain tuples: ~3x cheaper than ``sqlite3.Row``)."""
    cur = conn.cursor()
    cur.row_factory = None
    rows = cur.execute(sql, params).fetchall()
    names = [c[0] for c in cur.description]
    return [_finish_system(dict(zip(names, row))) for row in rows]


def _unpack_systems(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows that start with ``PACKED_SYSTEM_COLUMNS`` as API dicts, in the same order."""
    if not rows:
        return []
    packed = orjson.loads("[" + ",".join([row[0] for row in rows]) + "]")
    out = []
    for row, values in zip(rows, packed):
        for slot, value in zip(_REAL_SLOTS, row[1:]):
            values[slot] = value
        out.append(_finish_system(dict(zip(SYSTEM_FIELD_NAMES, values))))
    return out


def _body_row(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["extra"] = orjson.loads(d["extra"]) if d["extra"] else {}
    return d


def _derived_children(seed: int, system: Mapping[str, Any]) -> dict[str, Any]:
    """Planets, moons and station of a procedurally generated system, shaped like stored ones."""
    details = derive_system_details(seed, system)
    for planet in details["planets"]:
        planet["extra"] = {}
        for moon in planet["moons"]:
            moon["extra"] = {}
    if details["space_station"] is not None:
        details["space_station"]["extra"] = {}
    return details


def _pending_lod(row: sqlite3.Row) -> bool:
    """Written by a bulk job that has not placed it in the octree yet (see haven.store.bulk)."""
    return row["lod_level"] is None or row["lod_level"] < 0


def _deletion_version(entry: sqlite3.Row) -> int | None:
    """The version a recorded delete made. Entries of older Havens lack it: then one above the
    version their snapshot kept, or None when that is missing too."""
    if entry["version_after"] is not None:
        return int(entry["version_after"])
    before = orjson.loads(entry["before"]).get("version")
    return before + 1 if isinstance(before, int) else None


def _check_undo_target(system_id: int, entry: sqlite3.Row, row: sqlite3.Row | None, expected_version: int) -> None:
    """Refuse an undo whose caller meant another change than the latest (see :meth:`SQLiteStore.undo`)."""
    if entry["op"] == "delete":
        made = _deletion_version(entry)
    else:
        made = row["version"] if row is not None else None
    if made != expected_version:
        now = (f"is at version {row['version']}" if row is not None
               else f"was deleted (the deletion is version {made})" if made is not None else "was deleted")
        raise StaleVersion(
            f"system {system_id} {now}, not {expected_version}: it changed after the change you meant "
            "to undo, so nothing was undone; reload it to see the change",
            current_version=row["version"] if row is not None else None,
        )


def _json_or_null(value: dict[str, Any]) -> bytes | None:
    return orjson.dumps(value) if value else None


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
    """``BEGIN`` … ``COMMIT`` on a connection opened with ``isolation_level=None``; ``ROLLBACK`` if either raises.

    ``immediate`` takes the write lock at ``BEGIN`` instead of at the first write.
    If the block raises, or the commit fails (a full disk), the transaction is
    rolled back, unless SQLite has already ended it, so the error raised is the
    one that stopped the block and the connection is left with no transaction.
    """
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def connection_cache_kib(total_mib: int, connections: int) -> int:
    """Each connection's page cache in KiB when ``connections`` share a budget of ``total_mib``.

    Never below :data:`CONNECTION_CACHE_KIB`: a server's default (64 MiB for 4 worker
    threads) gives exactly that, and a larger budget lets every cache grow with it
    (the process-wide limit of :func:`sqlite_memory_limit` still holds them together).
    """
    return max(CONNECTION_CACHE_KIB, (total_mib << 10) // max(1, connections))


def _soft_heap_limit(total_bytes: int) -> int:
    """Set SQLite's process-wide soft heap limit (0: none); returns the one before. Touches no database file."""
    conn = sqlite3.connect(":memory:")
    try:
        before = conn.execute("PRAGMA soft_heap_limit").fetchone()[0]
        conn.execute(f"PRAGMA soft_heap_limit = {int(total_bytes):d}").fetchone()
        return int(before)
    finally:
        conn.close()


class _HeapLimitHolders:
    """Who holds the process-wide limit of :func:`sqlite_memory_limit`: the first puts the old one aside,
    the last one out puts it back, so apps started and stopped in any order leave it as they found it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.before = 0


_HEAP_LIMIT = _HeapLimitHolders()


@contextmanager
def sqlite_memory_limit(total_bytes: int) -> Iterator[None]:
    """Keep the heap memory of every SQLite connection in this process near ``total_bytes`` together, while inside.

    SQLite's soft heap limit is one number for the whole process and counts all
    of SQLite's heap (page caches, prepared statements, schemas, sorters). Past
    it, a connection reuses its own least recently used cached pages instead of
    allocating more, so page caches give way first; a sort spills to a temporary
    file sooner. A server holds it while it runs, so its memory does not grow
    with the number of connections its worker threads open.
    """
    with _HEAP_LIMIT.lock:
        before = _soft_heap_limit(total_bytes)
        if _HEAP_LIMIT.count == 0:
            _HEAP_LIMIT.before = before
        _HEAP_LIMIT.count += 1
    try:
        yield
    finally:
        with _HEAP_LIMIT.lock:
            _HEAP_LIMIT.count -= 1
            if _HEAP_LIMIT.count == 0:
                _soft_heap_limit(_HEAP_LIMIT.before)


class WriterBusy(sqlite3.OperationalError):
    """Another thread of this process holds the writer's turn (past the busy timeout, or at once for
    housekeeping that asked not to wait). A "database is locked" error like SQLite's own, handled alike."""


_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked / busy" (past the busy timeout) or
    :class:`WriterBusy`: load that passes, not a bug. Told by SQLite's error code
    (extended codes included), not by the message's words."""
    if isinstance(exc, WriterBusy):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and code & 0xFF in _BUSY_CODES


class SQLiteStore:
    """The store contract over one SQLite file."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", bulk: bool = False,
                 cache_kib: int = CONNECTION_CACHE_KIB) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
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

    # -- connections -------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection: its own, one left by a thread that ended, or a new one."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connection_for(threading.current_thread())
        return conn

    def _connection_for(self, thread: threading.Thread) -> sqlite3.Connection:
        """The connection of a thread that ended, now ``thread``'s; a new one when every owner is alive."""
        with self._lock:
            for i, (owner, conn) in enumerate(self._owners):
                if not owner.is_alive():  # a server's worker threads end after idling; their caches stay warm
                    self._owners[i] = (thread, conn)
                    break
            else:
                conn = None
        if conn is not None:
            if conn.in_transaction:  # never: every transaction ends in its with-block; cheap to be sure
                conn.execute("ROLLBACK")
            return conn
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, cached_statements=512)
        conn.row_factory = sqlite3.Row
        search.register_functions(conn)  # the name index's triggers call them
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA cache_size = -{int(self.cache_kib):d}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {self._autocheckpoint_pages:d}")
        with self._lock:
            self._connections.append(conn)
            self._owners.append((thread, conn))
        return conn

    def connection_count(self) -> int:
        """How many connections this store holds open (for tests and operators)."""
        with self._lock:
            return len(self._connections)

    def commit_watch(self) -> Callable[[], bool]:
        """A check, cheap enough to call many times a second, for commits since its last call.

        It sees commits of every connection, this process's and other processes'
        (``PRAGMA data_version`` on a connection of its own, which reads only the
        WAL's shared-memory header). It answers True on its first call (it cannot
        know what happened before) and whenever it cannot tell (the database is
        busy or closed), so a caller never misses a change.
        """
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 0")
        with self._lock:
            self._connections.append(conn)
        lock = threading.Lock()
        seen: list[int | None] = [None]

        def committed() -> bool:
            with lock:
                try:
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error:
                    return True
                changed, seen[0] = version != seen[0], version
                return changed

        return committed

    def _has_table(self, name: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone() is not None

    def start_background_maintenance(self, interval_s: float = MAINTENANCE_INTERVAL_S) -> None:
        """Do SQLite's housekeeping from a thread of its own instead of inside users' commits.

        Two jobs would otherwise land on whichever write happens to trigger them,
        and that user waits: copying the WAL into the database file (SQLite's
        automatic checkpoint, seconds on a multi-gigabyte file) and merging
        search-index segments (milliseconds per insert on a large galaxy; the
        schema leaves FTS5's ``automerge`` off). A server calls this once. Every
        ``interval_s`` the thread merges a few pages of the search index if
        anybody wrote or a merge is under way (a short write transaction that is
        skipped when the database is busy) and runs a PASSIVE checkpoint, which
        never blocks readers or writers. :meth:`close` stops it. Merges are
        carried on to the end even when nobody writes any more: a merge that
        includes a big segment takes thousands of steps, and stopping halfway
        leaves every later write's small segment for each search to visit.
        """
        with self._lock:
            if self._maintenance is not None:
                return
            self._autocheckpoint_pages = 0
            for conn in self._connections:
                conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._stop_maintenance.clear()
            self._maintenance = threading.Thread(
                target=self._maintenance_loop, args=(interval_s,), name="haven-maintenance", daemon=True
            )
            self._maintenance.start()

    def _maintenance_loop(self, interval_s: float) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 0")  # never queue behind a user's write: try next round
            seen = None
            merging = False  # the last step did work: a merge is under way, keep at it without new writes
            while not self._stop_maintenance.wait(interval_s):
                try:
                    version = conn.execute("PRAGMA data_version").fetchone()[0]  # moves when others commit
                    if version != seen or merging:
                        with self._housekeeping_turn() as turn:
                            if turn:  # else a user is writing: merge next round
                                seen = version
                                merging = self._merge_search_segments(conn, SEARCH_MERGE_PAGES)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # busy, or the file went away: next round
                    log.debug("background maintenance skipped: %s", exc)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()

    @staticmethod
    def _merge_search_segments(conn: sqlite3.Connection, pages: int = SEARCH_MERGE_PAGES) -> bool:
        """One bounded step of merging per search index, in one transaction; False when nothing was left to merge.

        FTS5 merges only levels holding at least ``usermerge`` (4) segments, so
        repeating this until it returns False leaves every level with a few.
        """
        worked = False
        with transaction(conn, immediate=True):  # one commit for both indexes: one WAL sync, one wait for writers
            for index in search.SEARCH_INDEXES:
                before = conn.total_changes
                conn.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('merge', ?)", (pages,))
                worked |= conn.total_changes - before >= 2  # FTS5: fewer than 2 changes means no merge work
        return worked

    def merge_search_index(self, pages_per_step: int = 1000) -> None:
        """Merge the search index until no level holds several segments, a step per transaction.

        Bulk loads call it when they finish: they leave many segments behind, and
        otherwise the next user's write would pay for merging them (FTS5's
        ``crisismerge``). Other writers get in between the steps.
        """
        while True:
            with self._writer:
                if not self._merge_search_segments(self.conn, pages_per_step):
                    break

    def _merge_before_close(self) -> None:
        """Fold in the small search-index segments this store's writes left, if that takes no waiting.

        Each commit adds a segment to each search index, and a process that writes
        and exits (``haven import`` of a small file, a server stopping) used to leave
        them for every later search to visit until some server's maintenance thread
        merged them. A few bounded steps, skipped when another process holds the
        write lock, and nothing at all for a store that only read.
        """
        if not self._wrote or self.bulk:
            return
        conn = self.conn
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            for _ in range(CLOSE_MERGE_STEPS):
                with self._housekeeping_turn() as turn:
                    if not turn or not self._merge_search_segments(conn):
                        break
        except sqlite3.Error as exc:  # busy or read-only: a later process or server merges them
            log.debug("search-index merge at close skipped: %s", exc)

    def close(self) -> None:
        thread = self._maintenance
        if thread is not None:
            self._stop_maintenance.set()
            thread.join()
            self._maintenance = None
            self._autocheckpoint_pages = DEFAULT_AUTOCHECKPOINT_PAGES
        self._merge_before_close()
        self._wrote = False
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
            self._owners.clear()
        self._local = threading.local()

    @contextmanager
    def _write(self, *, wait: bool = True, data: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside commits together or not at all.

        Writers of this process wait for their turn up to the busy timeout; with
        ``wait=False`` it raises :class:`WriterBusy` at once if another thread of
        this process is writing (housekeeping that can be skipped). ``data=False``:
        a cache write (a stored chunk) that changes no system, so the commit
        listeners are not called.
        """
        got_turn = self._writer.acquire(timeout=BUSY_TIMEOUT_MS / 1000) if wait else self._writer.acquire(blocking=False)
        if not got_turn:
            raise WriterBusy("database is locked: another write of this process is under way")
        try:
            with transaction(self.conn, immediate=True) as conn:
                if not self.bulk:
                    self._refuse_unfinished_load(conn)
                yield conn
            if data:
                self._wrote = True
                for listener in self._commit_listeners:
                    listener()
        finally:
            self._writer.release()

    @contextmanager
    def _housekeeping_turn(self) -> Iterator[bool]:
        """Whether housekeeping may write now (no writer of this process is busy); holds the turn while inside."""
        got = self._writer.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                self._writer.release()

    def on_commit(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every write this store commits; returns a function that stops it.

        It runs on the writer's thread, right after the commit, so it must be quick
        and must not raise (a live feed wakes its reader here instead of waiting for
        its next poll). Writes by other processes are not seen; poll for those.
        """
        self._commit_listeners = [*self._commit_listeners, listener]

        def remove() -> None:
            self._commit_listeners = [f for f in self._commit_listeners if f is not listener]

        return remove

    @staticmethod
    def _refuse_unfinished_load(conn: sqlite3.Connection) -> None:
        """A bulk load that deferred the indexes owns the database until it finishes."""
        record = deferred.deferred_record(conn)
        if record is not None:
            raise StoreUnavailable(deferred.unfinished_load_message(record))

    def _read(self) -> "_ReadTransaction":
        """A read transaction: several statements see one snapshot."""
        return _ReadTransaction(self.conn)

    def meta_value(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def setdefault_meta_value(self, key: str, value: str) -> str:
        """Store ``value`` unless the key exists; return what is stored (first writer wins)."""
        with self._write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
            return conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def set_meta_value(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- galaxies and regions ---------------------------------------------

    def ensure_galaxy(
        self, name: str, *, half_size_ly: float | None = None, lod_capacity: int = DEFAULT_CAPACITY
    ) -> dict[str, Any]:
        """Create the galaxy if it does not exist; its cube and node capacity are fixed once created."""
        return self.add_galaxy(name, half_size_ly=half_size_ly, lod_capacity=lod_capacity)[0]

    def add_galaxy(
        self, name: str, *, half_size_ly: float | None = None, lod_capacity: int = DEFAULT_CAPACITY
    ) -> tuple[dict[str, Any], bool]:
        """:meth:`ensure_galaxy`, and whether this call created the galaxy (decided in its own write)."""
        try:
            name = clean_name(name)  # the rules of every name: trimmed, 1-200 characters, no control characters
        except ValueError as exc:
            raise InvalidInput(f"the galaxy name {exc}", field="galaxy") from None
        half = DEFAULT_HALF_SIZE_LY if half_size_ly is None else half_size_ly
        if not (math.isfinite(half) and half > 0):
            raise InvalidInput("half_size_ly must be a positive number", field="half_size_ly")
        if not 1 <= lod_capacity <= 1_000_000:
            raise InvalidInput("lod_capacity must be between 1 and 1,000,000", field="lod_capacity")
        with self._write() as conn:
            created = conn.execute(
                "INSERT INTO galaxy (id, name, half_size_ly, lod_capacity, created_at, lod_clock) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (next_row_id(conn, "galaxy"), name, half, lod_capacity, now_ms(), first_clock()),
            ).rowcount > 0
        return self.galaxy(name), created

    def drop_empty_galaxy(self, galaxy_id: int) -> bool:
        """Remove a galaxy that holds no system (the one a failed import created); True if it was removed.

        Nothing happens while a bulk load holds the database's indexes back (it may
        resume into the galaxy) or once a system is stored in it. Its bookkeeping rows
        (bulk jobs, chunks, change entries) cascade; its octree nodes are deleted.
        """
        with self._write() as conn:
            if deferred.deferred_record(conn) is not None:
                return False
            gone = conn.execute(
                "DELETE FROM galaxy WHERE id = ? AND system_count = 0 "
                "AND NOT EXISTS (SELECT 1 FROM system WHERE galaxy_id = ?)",
                (galaxy_id, galaxy_id),
            ).rowcount > 0
            if gone:
                conn.execute("DELETE FROM lod_node WHERE galaxy_id = ?", (galaxy_id,))
                note_deleted(conn, galaxy_id, "galaxy")  # other processes may still map a name to it
        if gone:
            self._forget_galaxy(galaxy_id)
        return gone

    def _drop_keys_if_written(self) -> None:
        """Forget every cached galaxy key once another connection committed (``PRAGMA
        data_version``, a few microseconds): it may have removed a galaxy whose name
        this store still maps to an id (``drop_empty_galaxy`` after a failed import)."""
        # data_version counts per connection, and each thread has its own: compare with what
        # this thread's connection said last time, not with another thread's number
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != getattr(self._local, "keys_version", None):
            self._local.keys_version = version
            self._keys, self._keys_by_id = {}, {}

    def _forget_galaxy(self, galaxy_id: int) -> None:
        """Drop a removed galaxy from the key caches (by name and by id)."""
        self._keys = {name: key for name, key in self._keys.items() if key.id != galaxy_id}
        self._keys_by_id.pop(galaxy_id, None)

    @staticmethod
    def _galaxy_row(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        d["created_at"] = to_iso(d["created_at"])
        return d

    def galaxy(self, name: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM galaxy WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no galaxy named {name!r}", field="galaxy")
        return self._galaxy_row(row)

    def galaxies(self) -> list[dict[str, Any]]:
        """Every galaxy, by name, in one read (the chunk refresher asks after every commit)."""
        return [self._galaxy_row(r) for r in self.conn.execute("SELECT * FROM galaxy ORDER BY name")]

    def _galaxy_key(self, name: str) -> GalaxyKey:
        """Galaxy id, cube and node capacity (fixed once created, so cached while nobody else writes)."""
        self._drop_keys_if_written()
        key = self._keys.get(name)
        if key is None:
            g = self.galaxy(name)
            cube = Cube.of_galaxy(g)
            key = GalaxyKey(g["id"], cube, g["lod_capacity"])
            self._keys[name] = key
            self._keys_by_id[key.id] = key
        return key

    def _galaxy_key_by_id(self, galaxy_id: int) -> GalaxyKey:
        key = self._keys_by_id.get(galaxy_id)
        if key is None:
            row = self.conn.execute("SELECT name FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()
            if row is None:
                raise NotFound(f"no galaxy with id {galaxy_id}", field="galaxy")
            key = self._galaxy_key(row[0])
        return key

    def _region_id(self, conn: sqlite3.Connection, galaxy_id: int, name: str | None) -> int | None:
        if name is None:
            return None
        row = conn.execute(
            "SELECT id FROM region WHERE galaxy_id = ? AND name = ?", (galaxy_id, name)
        ).fetchone()
        if row:
            return row[0]
        return conn.execute(
            "INSERT INTO region (galaxy_id, name) VALUES (?, ?)", (galaxy_id, name)
        ).lastrowid

    def regions(self, galaxy: str) -> list[dict[str, Any]]:
        galaxy_id = self._galaxy_key(galaxy).id
        rows = self.conn.execute(
            "SELECT name, system_count FROM region WHERE galaxy_id = ? ORDER BY name", (galaxy_id,)
        ).fetchall()
        return [dict(r) for r in rows]

    def stats(self, galaxy: str) -> dict[str, Any]:
        g = self.galaxy(galaxy)
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = self.conn.execute("PRAGMA page_count").fetchone()[0]
        return {
            "galaxy": g["name"],
            "total_systems": g["system_count"],
            "regions": self.regions(galaxy),
            "database_size_bytes": page_size * page_count,
        }

    def _bump_counts(self, conn: sqlite3.Connection, galaxy_id: int, region_id: int | None, delta: int) -> None:
        conn.execute("UPDATE galaxy SET system_count = system_count + ? WHERE id = ?", (delta, galaxy_id))
        if region_id is not None:
            conn.execute("UPDATE region SET system_count = system_count + ? WHERE id = ?", (delta, region_id))

    # -- reads -------------------------------------------------------------

    def _page_query(
        self,
        galaxy_id: int,
        region_id: int | None,
        after: str | None,
        before: str | None,
        limit: int,
        offset: int,
    ) -> tuple[str, list[Any]]:
        """The one query builder for name-ordered pages (keyset, optional region)."""
        where: list[str] = []
        params: list[Any] = []
        if region_id is not None:
            where.append("s.region_id = ?")  # (region_id, name) index: region implies galaxy
            params.append(region_id)
        else:
            where.append("s.galaxy_id = ?")
            params.append(galaxy_id)
        order = "ASC"
        if after is not None:
            where.append("s.name > ?")
            params.append(after)
        elif before is not None:
            where.append("s.name < ?")
            params.append(before)
            order = "DESC"
        sql = (
            f"SELECT {SYSTEM_COLUMNS} FROM {SYSTEM_FROM} WHERE {' AND '.join(where)} "
            f"ORDER BY s.name {order} LIMIT ? OFFSET ?"
        )
        params += [limit + 1, offset]
        return sql, params

    def page(
        self,
        galaxy: str,
        *,
        region: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """Systems in name order after (or before) a name, with the O(1) total."""
        _check_limit(limit)
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}; use a cursor", field="offset")
        galaxy_id = self._galaxy_key(galaxy).id
        with self._read() as conn:
            if region is not None:
                row = conn.execute(
                    "SELECT id, system_count FROM region WHERE galaxy_id = ? AND name = ?",
                    (galaxy_id, region),
                ).fetchone()
                if row is None:
                    raise NotFound(f"no region named {region!r}", field="region")
                region_id, total = row
            else:
                region_id = None
                row = conn.execute("SELECT system_count FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()
                if row is None:  # another process removed it; the next key lookup sees the commit
                    raise NotFound(f"no galaxy named {galaxy!r}", field="galaxy")
                total = row[0]
            sql, params = self._page_query(galaxy_id, region_id, after, before, limit, offset)
            rows = _fetch_systems(conn, sql, params)
            if before is not None:  # a page before a name has a next page if that name or a later one exists
                later = conn.execute(*self._name_at_or_after_query(galaxy_id, region_id, before)).fetchone()
        more = len(rows) > limit
        items = rows[:limit]
        if before is not None:
            items.reverse()
            return Page(items, total, has_more=later is not None, has_previous=more)
        return Page(items, total, has_more=more, has_previous=after is not None or offset > 0)

    @staticmethod
    def _name_at_or_after_query(galaxy_id: int, region_id: int | None, name: str) -> tuple[str, tuple[Any, ...]]:
        """Whether the galaxy (or region) has a system named ``name`` or later: one index probe."""
        if region_id is not None:
            return "SELECT 1 FROM system WHERE region_id = ? AND name >= ? LIMIT 1", (region_id, name)
        return "SELECT 1 FROM system WHERE galaxy_id = ? AND name >= ? LIMIT 1", (galaxy_id, name)

    def search_query(
        self,
        galaxy_id: int,
        q: str,
        limit: int,
        after_id: int | None,
        after_name: str | None = None,
        *,
        before_id: int | None = None,
        before_name: str | None = None,
    ) -> list[tuple[str, list[Any]]]:
        """The one query builder for search: one query per index, or one for short terms.

        Terms of three characters or more: for each index of :mod:`haven.store.search`,
        its candidates in id order and without a limit (the caller merges them and
        reads until its page is full). For a galaxy that holds less than half of the
        database's systems the index itself is asked for that galaxy's rows only
        (:func:`haven.store.search.galaxy_key`), so its searches never walk a bigger
        galaxy's matches. A bigger share is searched without the key, which costs it
        at most twice the candidates and keeps its rare terms cheap (FTS5's ``AND``
        with the galaxy's long id list costs 0.6 ms at a million systems). Shorter
        terms: names that start with the term in any case, in name order after
        ``after_name``: one range of the name index per spelling of the term
        (:func:`haven.store.search.prefix_variants`), each with the limit.

        ``before_id`` / ``before_name`` read the other way (the page before a
        cursor): every query runs in descending order below that bound, each name
        range ending there, so the index still starts each query at its bound.
        """
        backward = before_id is not None or before_name is not None
        if backward and (after_id is not None or after_name is not None):
            raise ValueError("a search reads after a position or before one, not both")
        order = " DESC" if backward else ""
        if len(q) < MIN_SEARCH_CHARS:
            sql = (
                f"SELECT {SYSTEM_COLUMNS} FROM {SYSTEM_FROM} "
                f"WHERE s.galaxy_id = ? AND s.name >= ? AND s.name < ? ORDER BY s.name{order} LIMIT ?"
            )
            ranges = [(p, search.prefix_end(p) or END_OF_NAMES) for p in search.prefix_variants(q)]
            if after_name is not None:  # one lower bound per range, so the index starts there
                after = after_name + "\x00"  # the first string above after_name
                ranges = [(max(low, after), high) for low, high in ranges if after < high]
            if before_name is not None:  # one upper bound per range, so the index starts there
                ranges = [(low, min(high, before_name)) for low, high in ranges if low < before_name]
            return [(sql, [galaxy_id, low, high, limit]) for low, high in ranges]
        bound = f"f.rowid < ? ORDER BY f.rowid{order}" if backward else "f.rowid > ? ORDER BY f.rowid"
        return [
            (
                f"SELECT {SYSTEM_COLUMNS} FROM {index} f JOIN system s ON s.id = f.rowid "
                "LEFT JOIN region r ON r.id = s.region_id "
                f"WHERE {index} MATCH ? AND s.galaxy_id = ? AND {bound}",
                [match, galaxy_id, before_id if backward else after_id or 0],
            )
            for index, match in search.candidate_matches(
                self.conn, q, galaxy_id if self._a_minority(galaxy_id) else None)
        ]

    def _a_minority(self, galaxy_id: int) -> bool:
        """Whether the galaxy holds less than half of the database's systems (the galaxies' counters)."""
        return self.conn.execute(
            "SELECT 2 * (SELECT system_count FROM galaxy WHERE id = ?1) < (SELECT sum(system_count) FROM galaxy)",
            (galaxy_id,),
        ).fetchone()[0] == 1

    def search(
        self,
        galaxy: str,
        q: str,
        *,
        limit: int = 100,
        after_id: int | None = None,
        after_name: str | None = None,
        before_id: int | None = None,
        before_name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Systems whose name, materials or attributes contain ``q`` (any case), in id order.

        Terms shorter than three characters match the start of names instead, in any
        case, in name order (``after_name`` continues such a search). ``before_id`` /
        ``before_name`` give the ``limit`` answers just before that position instead
        (a previous page), still in ascending order.
        """
        _check_limit(limit)
        q = q.strip()
        if not q:
            raise InvalidInput("q must not be empty", field="q")
        if len(q) > NAME_MAX_CHARS:
            raise InvalidInput(f"q must be at most {NAME_MAX_CHARS} characters", field="q")
        if CONTROL_CHARS.search(q):  # no name holds one (and the full-text parser stops at NUL)
            raise InvalidInput("q must not contain control characters", field="q")
        galaxy_id = self._galaxy_key(galaxy).id
        backward = before_id is not None or before_name is not None
        with self._read():  # one read transaction for every query of the page
            queries = self.search_query(
                galaxy_id, q, limit, after_id, after_name, before_id=before_id, before_name=before_name)
            if len(q) < MIN_SEARCH_CHARS:  # name ranges, one per spelling
                found = self._first_merged(queries, "name", limit, descending=backward)
            else:
                needle = q.casefold()  # candidates in id order, kept if they really contain the term
                found = self._first_merged(
                    queries, "id", limit, lambda text: search.contains_term(needle, text), descending=backward)
        if backward:  # read nearest-first; a page is shown in ascending order
            found.reverse()
        return found

    def _first_merged(
        self,
        queries: list[tuple[str, list[Any]]],
        order: str,
        limit: int,
        keep: Callable[[list[Any]], bool] | None = None,
        *,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """The first ``limit`` rows of several queries ordered by the same column, merged.

        ``keep`` (optional) gets a row's name, materials and attributes and drops the
        rows it refuses (see :mod:`haven.store.search`). Each cursor steps only as far as
        the merge needs, and only the rows returned become dicts: a query whose rows come
        late is not read ahead of the page. ``descending``: the queries come largest
        first, and so do the rows returned.
        """
        cursors = [self.conn.cursor() for _ in queries]
        try:
            for cur, (sql, params) in zip(cursors, queries):
                cur.row_factory = None
                cur.execute(sql, params)
            if not cursors:
                return []
            names = [c[0] for c in cursors[0].description]  # every query has the same columns
            text = [names.index(c) for c in ("name", "materials", "attributes")]
            out: list[dict[str, Any]] = []
            for row in search.merged_by(cursors, names.index(order), descending=descending):
                if keep is None or keep([row[i] for i in text]):
                    out.append(_finish_system(dict(zip(names, row))))
                    if len(out) == limit:
                        break
            return out
        finally:
            for cur in cursors:
                cur.close()

    def _children(self, conn: sqlite3.Connection, system_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Planets (with moons) and stations for a batch of systems."""
        out: dict[int, dict[str, Any]] = {sid: {"planets": [], "space_station": None} for sid in system_ids}
        if not system_ids:
            return out
        marks = ",".join("?" * len(system_ids))
        planets = conn.execute(
            f"SELECT * FROM planet WHERE system_id IN ({marks}) ORDER BY system_id, position", system_ids
        ).fetchall()
        by_planet: dict[int, dict[str, Any]] = {}
        for row in planets:
            p = _body_row(row)
            p["moons"] = []
            by_planet[p["id"]] = p
            out[p["system_id"]]["planets"].append(p)
        if by_planet:
            pmarks = ",".join("?" * len(by_planet))
            for row in conn.execute(
                f"SELECT * FROM moon WHERE planet_id IN ({pmarks}) ORDER BY planet_id, position", list(by_planet)
            ):
                m = _body_row(row)
                by_planet[m["planet_id"]]["moons"].append(m)
        for row in conn.execute(f"SELECT * FROM space_station WHERE system_id IN ({marks})", system_ids):
            out[row["system_id"]]["space_station"] = _body_row(row)
        for sid in system_ids:
            for p in out[sid]["planets"]:
                del p["system_id"], p["position"]
                for m in p["moons"]:
                    del m["planet_id"], m["position"]
            if out[sid]["space_station"]:
                del out[sid]["space_station"]["system_id"]
        return out

    @staticmethod
    def _detail_query(where: str) -> str:
        """A system's row, its galaxy's name, its seed, and whether it has stored children."""
        return (
            f"SELECT {SYSTEM_COLUMNS}, (SELECT g.name FROM galaxy g WHERE g.id = s.galaxy_id) AS galaxy, "
            "s.seed AS seed, (s.seed IS NULL AND (EXISTS (SELECT 1 FROM planet p WHERE p.system_id = s.id) "
            "OR EXISTS (SELECT 1 FROM space_station t WHERE t.system_id = s.id))) AS stored_children "
            f"FROM {SYSTEM_FROM} WHERE {where}"
        )

    def _detail(self, where: str, params: tuple[Any, ...], missing: str,
                *, inside: sqlite3.Connection | None = None) -> dict[str, Any]:
        """One system with its children, from one snapshot.

        The row says whether stored planets or a station exist, so a system
        without any costs one statement (one snapshot by itself, no BEGIN and
        COMMIT around it) instead of four. A system with stored children has
        them read in a read transaction that first checks the row's version
        (every write to a system or its children bumps it), so row and
        children are one snapshot. ``inside``: a connection in a transaction
        already (a write's answer), whose snapshot is used as it is.
        """
        query = self._detail_query(where)
        d = self._detail_row(inside or self.conn, query, params, missing)
        if d.pop("stored_children"):
            if inside is not None:
                d.update(self._children(inside, [d["id"]])[d["id"]])
            else:
                with self._read() as conn:
                    now = conn.execute("SELECT version FROM system WHERE id = ?", (d["id"],)).fetchone()
                    if now is None or now[0] != d["version"]:  # written in between: read it again
                        d = self._detail_row(conn, query, params, missing)
                        del d["stored_children"]
                    d.update(self._children(conn, [d["id"]])[d["id"]])
        seed = d.pop("seed")
        if seed is None:
            d.setdefault("planets", [])
            d.setdefault("space_station", None)
        d["derived"] = seed is not None
        if seed is not None:
            d.update(_derived_children(seed, d))
        return d

    @staticmethod
    def _detail_row(conn: sqlite3.Connection, query: str, params: tuple[Any, ...], missing: str) -> dict[str, Any]:
        """The row of :meth:`_detail_query` as a dict; :class:`NotFound` with ``missing`` if there is none."""
        cur = conn.cursor()
        cur.row_factory = None  # a plain tuple: cheaper than sqlite3.Row for one wide row
        row = cur.execute(query, params).fetchone()
        if row is None:
            raise NotFound(missing)
        return _finish_system(dict(zip([c[0] for c in cur.description], row)))

    def system(self, system_id: int) -> dict[str, Any]:
        """One system with its planets, moons and station."""
        return self._detail("s.id = ?", (system_id,), f"no system with id {system_id}")

    def _as_written(self, conn: sqlite3.Connection, system_id: int) -> dict[str, Any]:
        """:meth:`system` as ``conn``'s open transaction sees it: a write's answer.

        Read before the commit, so the answer (and the version an API answer
        gives as its ``ETag``) is what this write made, never another writer's
        change committed just after it, and a delete committed just after it
        cannot turn a write that happened into a 404.
        """
        return self._detail("s.id = ?", (system_id,), f"no system with id {system_id}", inside=conn)

    def system_galaxy(self, system_id: int) -> str | None:
        """The name of the galaxy a system id belongs to: its row's or, for a deleted system
        (whose history and undo are still served), the galaxy its latest change was recorded
        in; None for an id never used. Ids are never reused and systems never change galaxy."""
        row = self.conn.execute(
            "SELECT name FROM galaxy WHERE id = coalesce((SELECT galaxy_id FROM system WHERE id = :id), "
            "(SELECT galaxy_id FROM system_change WHERE system_id = :id ORDER BY id DESC LIMIT 1))",
            {"id": system_id},
        ).fetchone()
        return row[0] if row else None

    def system_by_name(self, galaxy: str, name: str) -> dict[str, Any]:
        galaxy_id = self._galaxy_key(galaxy).id
        return self._detail("s.galaxy_id = ? AND s.name = ?", (galaxy_id, name), f"no system named {name!r}")

    def _code_scan_query(self, galaxy_id: int, n_ranges: int) -> str:
        """The one query builder for space: ``code,id,code,id,…`` of every system in some code ranges.

        Each range is its own range search on the ``(galaxy_id, code)`` index, which
        holds both values, so the table is never read (a correlated subquery per
        range: the planner cannot turn it into a scan or a Bloom filter over the
        galaxy). Positions are read afterwards for the few candidates that need
        them (:mod:`haven.spatial.nearest`). One text value comes back instead of a
        Python tuple per row: about 2x faster on large shells.
        """
        values = ", ".join(["(?, ?)"] * n_ranges)
        return (
            f"WITH ranges (lo, hi) AS (VALUES {values}) "
            "SELECT group_concat(part, ',') FROM (SELECT ("
            "SELECT group_concat(s.code || ',' || s.id, ',') FROM system s INDEXED BY system_code "
            f"WHERE s.galaxy_id = {galaxy_id:d} AND s.code BETWEEN ranges.lo AND ranges.hi"
            ") AS part FROM ranges)"
        )

    def _codes_in(self, galaxy_id: int, ranges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, ids)`` of the galaxy's systems inside the code ranges."""
        if not ranges:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        text = self.conn.execute(
            self._code_scan_query(galaxy_id, len(ranges)), list(itertools.chain.from_iterable(ranges))
        ).fetchone()[0]
        pairs = np.fromstring(text or "", dtype=np.int64, sep=",").reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def _positions(self, ids: np.ndarray) -> list[tuple[int, float, float, float]]:
        """True ``(id, x, y, z)`` of systems by id."""
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur.execute(
            "SELECT s.id, s.x, s.y, s.z FROM json_each(?) j JOIN system s ON s.id = j.value",
            (orjson.dumps(sorted(ids.tolist())),),
        ).fetchall()

    def _nearest(
        self, galaxy: str, shape: Shape,
        shells: Callable[[Cube, Candidates], Iterable[tuple[float, list[tuple[int, int]]]]], limit: int,
    ) -> list[dict[str, Any]]:
        """Systems inside ``shape``, nearest its centre first, at most ``limit``, exact.

        ``shells(cube, found)`` covers the shape with code ranges in shells, nearest first
        (``(bound_ly, ranges)``: nothing in later shells is nearer than ``bound_ly``);
        the scan stops once the ``limit`` nearest are known.
        """
        galaxy_id, cube, _ = self._galaxy_key(galaxy)
        found = Candidates(shape, cube, limit)
        with self._read():
            for bound_ly, ranges in shells(cube, found):
                maybe = found.add(*self._codes_in(galaxy_id, ranges))
                if len(maybe):
                    found.resolve(self._positions(maybe))
                if found.enough(bound_ly):
                    break
            return self._rows_by_distance(shape, found.finalists(), limit)

    def _rows_by_distance(self, shape: Shape, ids: list[int], limit: int) -> list[dict[str, Any]]:
        """Full rows of ``ids`` inside ``shape``, nearest first (ties by id), with ``distance`` in LY.

        SQLite tests the shape and computes squared distances (on the same doubles
        Python would use); Python sorts the plain tuples, which is cheaper than
        SQLite's sorter carrying whole rows, and unpacks the ``limit`` first.
        """
        if not ids:
            return []
        d2_sql, d2_params = squared_distance_sql(shape.centre_ly)
        where_sql, where_params = shape.sql_condition()
        cur = self.conn.cursor()
        cur.row_factory = None
        with gc_paused(collect=False):  # thousands of tuples and dicts that all stay alive
            rows = cur.execute(
                f"SELECT {PACKED_SYSTEM_COLUMNS}, {d2_sql} AS d2, s.id FROM json_each(?) j JOIN system s ON s.id = j.value "
                f"LEFT JOIN region r ON r.id = s.region_id WHERE {where_sql}",
                # ids in order: table pages are read in order
                (*d2_params, orjson.dumps(ids), *where_params),
            ).fetchall()
            rows.sort(key=_DISTANCE_THEN_ID)
            del rows[limit:]
            out = _unpack_systems(rows)
            for d, row in zip(out, rows):
                d["distance"] = math.sqrt(row[-2])
        return out

    def near(
        self, galaxy: str, x_ly: float, y_ly: float, z_ly: float, radius_ly: float, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Systems within ``radius_ly`` of a point: exact distance, nearest first, at most ``limit``.

        The cover is scanned shell by shell, nearest first, and stops once ``limit``
        systems lie nearer than anything the remaining shells could hold; a dense
        sphere costs about what its ``limit`` nearest cost, not everything inside it.
        """
        _check_limit(limit)
        for field, v in (("x", x_ly), ("y", y_ly), ("z", z_ly)):
            if not math.isfinite(v):
                raise InvalidInput(f"{field} must be a finite number", field=field)
        if not (math.isfinite(radius_ly) and radius_ly > 0):
            raise InvalidInput("radius must be a finite number above 0", field="radius")
        sphere = Sphere((x_ly, y_ly, z_ly), radius_ly)

        def shells(cube: Cube, found: Candidates) -> Iterator[tuple[float, list[tuple[int, int]]]]:
            return sphere_shells(cube, sphere, found, density_per_ly3=self._density_at(galaxy, cube, sphere.centre_ly))

        return self._nearest(galaxy, sphere, shells, limit)

    def box(
        self,
        galaxy: str,
        lo_ly: tuple[float, float, float],
        hi_ly: tuple[float, float, float],
        *,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Systems inside an axis-aligned box, ordered by distance from its centre (nearest first, like
        :meth:`near`: the scan grows from the centre and stops once the ``limit`` nearest are known)."""
        _check_limit(limit)
        for axis, (a, b) in enumerate(zip(lo_ly, hi_ly)):
            if not (math.isfinite(a) and math.isfinite(b)) or a > b:
                name = "xyz"[axis]
                raise InvalidInput(f"box {name} bounds must be finite with min ≤ max", field=name)
        shape = Box(tuple(lo_ly), tuple(hi_ly))  # type: ignore[arg-type]

        def shells(cube: Cube, found: Candidates) -> Iterator[tuple[float, list[tuple[int, int]]]]:
            return box_shells(cube, shape, found, density_per_ly3=self._density_at(galaxy, cube, shape.centre_ly))

        return self._nearest(galaxy, shape, shells, limit)

    def _density_at(self, galaxy: str, cube: Cube, point_ly: tuple[float, float, float]) -> float | None:
        """Systems per cubic LY around a point, or around the cube's point nearest it when it lies
        outside (:meth:`Cube.code` clamps to the cube), from the octree's node counts (None
        before the octree has any)."""
        return systems_per_ly3_at(self.conn, self._galaxy_key(galaxy).id, cube.code(*point_ly), cube.side_ly)

    def iter_systems(self, galaxy: str, *, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every system of a galaxy with its children (derived ones for generated systems), in name order."""
        after: str | None = None
        while True:
            page = self.page(galaxy, after=after, limit=batch_size)
            if not page.items:
                return
            ids = [s["id"] for s in page.items]
            with self._read() as conn:
                children = self._children(conn, ids)
                seeds = dict(conn.execute(
                    f"SELECT id, seed FROM system WHERE id IN ({','.join('?' * len(ids))}) AND seed IS NOT NULL",
                    ids,
                ).fetchall())
            for s in page.items:
                seed = seeds.get(s["id"])
                # a generated system's details are derived, as GET /systems/{id} shows them
                s.update(children[s["id"]] if seed is None else _derived_children(seed, s))
                yield s
            if not page.has_more:
                return
            after = page.items[-1]["name"]

    #: One batch of :meth:`stored_batches`: a range of the primary key. ``+s.galaxy_id``
    #: keeps the planner off the indexes that start with ``galaxy_id``, which would read
    #: the whole galaxy and sort it for every batch.
    STORED_BATCH_SQL = (f"SELECT {SYSTEM_COLUMNS}, s.seed AS seed FROM {SYSTEM_FROM} "
                        "WHERE s.id > ? AND +s.galaxy_id = ? ORDER BY s.id LIMIT ?")

    def stored_batches(self, galaxy: str, *, batch_size: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """Every system of a galaxy as stored, in id order, ``batch_size`` per read snapshot.

        Unlike :meth:`iter_systems`, a generated system comes with its ``seed``
        and no planets (they are derived from the seed, so the seed stands for
        them); a stored system comes with its stored planets, moons and station
        and ``seed`` None. Each batch is one key range of the primary key, so a
        galaxy of any size streams in O(batch) memory.
        """
        if batch_size < 1:
            raise InvalidInput("batch_size must be at least 1", field="batch_size")
        galaxy_id = self._galaxy_key(galaxy).id
        sql = self.STORED_BATCH_SQL
        after = 0
        while True:
            with self._read() as conn:
                batch = _fetch_systems(conn, sql, (after, galaxy_id, batch_size))
                children = self._children(conn, [s["id"] for s in batch if s["seed"] is None])
            for s in batch:
                s.update(children.get(s["id"], {"planets": [], "space_station": None}))
            if batch:
                yield batch
            if len(batch) < batch_size:
                return
            after = batch[-1]["id"]

    # -- the LOD octree ----------------------------------------------------

    def _check_node(self, level: int, cell: int) -> None:
        if not 0 <= level <= MAX_LEVEL:
            raise InvalidInput(f"level must be between 0 and {MAX_LEVEL}", field="level")
        if not 0 <= cell < 8**level:
            raise InvalidInput(f"cell must be between 0 and 8^{level} - 1 at level {level}", field="cell")

    def lod_node(self, galaxy: str, level: int, cell: int) -> dict[str, Any]:
        """A node's metadata: member count and version (404 when the node holds nothing)."""
        self._check_node(level, cell)
        galaxy_id = self._galaxy_key(galaxy).id
        row = self.conn.execute(
            "SELECT level, cell, count, version FROM lod_node WHERE galaxy_id = ? AND level = ? AND cell = ?",
            (galaxy_id, level, cell),
        ).fetchone()
        if row is None or row["count"] == 0:
            raise NotFound(f"node {level}/{cell} holds no systems", field="cell")
        return dict(row)

    def stored_chunk(self, galaxy: str, level: int, cell: int) -> tuple[int, bytes] | None:
        """The node's stored gzip CHNK bytes and the node version they were built from."""
        galaxy_id = self._galaxy_key(galaxy).id
        row = self.conn.execute(
            "SELECT version, body FROM lod_chunk WHERE galaxy_id = ? AND level = ? AND cell = ?",
            (galaxy_id, level, cell),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def store_chunk(self, galaxy: str, level: int, cell: int, version: int, body: bytes) -> bool:
        """Keep a node's freshly built chunk; skipped (False) rather than waiting if a writer holds the lock.

        A reader must never queue behind a bulk load just to save a cache entry.
        """
        galaxy_id = self._galaxy_key(galaxy).id
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            with self._write(wait=False, data=False):
                conn.execute(
                    "INSERT INTO lod_chunk (galaxy_id, level, cell, version, body) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (galaxy_id, level, cell) DO UPDATE SET version = excluded.version, "
                    "body = excluded.body WHERE excluded.version > lod_chunk.version",
                    (galaxy_id, level, cell, version, body),
                )
            return True
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def lod_members(self, galaxy: str, level: int, cell: int) -> dict[str, Any]:
        """Positions, region ids and system ids of a node's members, highest priority first."""
        galaxy_id = self._galaxy_key(galaxy).id
        with self._read() as conn:
            node = conn.execute(
                "SELECT version FROM lod_node WHERE galaxy_id = ? AND level = ? AND cell = ?",
                (galaxy_id, level, cell),
            ).fetchone()
            rows = conn.execute(
                "SELECT id, x, y, z, coalesce(region_id, 0) FROM system "
                "WHERE galaxy_id = ? AND lod_level = ? AND lod_cell = ? ORDER BY priority DESC",
                (galaxy_id, level, cell),
            ).fetchall()
        cols = list(zip(*rows)) if rows else [(), (), (), (), ()]
        return {
            "version": node["version"] if node else 0,
            "id": np.array(cols[0], dtype=np.int64),
            "x_ly": np.array(cols[1], dtype=np.float64),
            "y_ly": np.array(cols[2], dtype=np.float64),
            "z_ly": np.array(cols[3], dtype=np.float64),
            "region_id": np.array(cols[4], dtype=np.int64),
        }

    def lod_member(self, galaxy: str, level: int, cell: int, index: int) -> dict[str, Any]:
        """The system at ``index`` in a node's priority order (how a map click is resolved)."""
        self._check_node(level, cell)
        galaxy_id, _, capacity = self._galaxy_key(galaxy)
        if index < 0 or index > INT64_MAX or (index >= capacity and level < MAX_LEVEL):
            raise InvalidInput("index is outside the node", field="index")
        row = self.conn.execute(
            "SELECT id FROM system WHERE galaxy_id = ? AND lod_level = ? AND lod_cell = ? "
            "ORDER BY priority DESC LIMIT 1 OFFSET ?",
            (galaxy_id, level, cell, index),
        ).fetchone()
        if row is None:
            raise NotFound(f"node {level}/{cell} has no system at index {index}", field="index")
        return self.system(row["id"])

    def lod_hierarchy(self, galaxy: str, level: int, cell: int, depth: int) -> list[dict[str, Any]]:
        """Metadata of a node and its descendants down to ``depth`` levels below it."""
        self._check_node(level, cell)
        if not 0 <= depth <= 4:
            raise InvalidInput("depth must be between 0 and 4", field="depth")
        galaxy_id = self._galaxy_key(galaxy).id
        out: list[dict[str, Any]] = []
        with self._read() as conn:
            for d in range(depth + 1):
                lvl = level + d
                if lvl > MAX_LEVEL:
                    break
                lo, hi = cell << (3 * d), ((cell + 1) << (3 * d)) - 1
                out += [dict(r) for r in conn.execute(
                    "SELECT level, cell, count, version FROM lod_node "
                    "WHERE galaxy_id = ? AND level = ? AND cell BETWEEN ? AND ? AND count > 0 ORDER BY cell",
                    (galaxy_id, lvl, lo, hi),
                )]
        return out

    def changed_nodes(self, galaxy: str, since_version: int, *, limit: int = 1000) -> dict[str, Any]:
        """Octree nodes changed after ``since_version``: the change feed of live maps.

        Returns ``{"clock", "nodes", "reset", "total_systems"}``: ``clock`` is the galaxy's LOD clock
        (pass it as ``since_version`` next time) and ``nodes`` the changed nodes
        (``level, cell, count, version``; a node with ``count`` 0 was emptied),
        oldest change first. When more than ``limit`` nodes changed (a bulk load
        rebuilds the whole octree) ``nodes`` is empty and ``reset`` is true: reload
        the hierarchy instead. ``total_systems`` is the galaxy's count as of the
        same snapshot. One read of an index on ``(galaxy_id, version)``.
        """
        if since_version < 0:
            raise InvalidInput("since must be 0 or more", field="since")
        _check_limit(limit)
        galaxy_id = self._galaxy_key(galaxy).id
        with self._read() as conn:
            row = conn.execute("SELECT lod_clock, system_count FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()
            if row is None:  # removed since its key was cached
                raise NotFound(f"no galaxy named {galaxy!r}", field="galaxy")
            clock, total = row
            rows = conn.execute(CHANGED_NODES_SQL, (galaxy_id, since_version, limit + 1)).fetchall()
        if len(rows) > limit:
            return {"clock": clock, "nodes": [], "reset": True, "total_systems": total}
        return {"clock": clock, "nodes": [dict(r) for r in rows], "reset": False, "total_systems": total}

    # -- writes ------------------------------------------------------------

    def _position(self, cube: Cube, x: float, y: float, z: float) -> int:
        for name, v in (("x", x), ("y", y), ("z", z)):
            if abs(v - cube.centre_on(name)) > cube.half_size_ly:
                raise InvalidInput(f"{name} = {cube.outside_message(name, v)}", field=name)
        return cube.code(x, y, z)

    def _name_taken(self, conn: sqlite3.Connection, galaxy_id: int, name: str, except_id: int | None = None) -> bool:
        row = conn.execute("SELECT id FROM system WHERE galaxy_id = ? AND name = ?", (galaxy_id, name)).fetchone()
        return row is not None and row[0] != except_id

    @staticmethod
    def _insert_children(conn: sqlite3.Connection, system_id: int, planets: list[PlanetIn], station: StationIn | None) -> None:
        for pos, p in enumerate(planets):
            planet_id = conn.execute(
                "INSERT INTO planet (system_id, position, name, sentinel, fauna, flora, properties, materials, "
                "base_location, photo, notes, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (system_id, pos, p.name, *(getattr(p, f) for f in BODY_TEXT_FIELDS), _json_or_null(p.extra)),
            ).lastrowid
            if p.moons:
                conn.executemany(
                    "INSERT INTO moon (planet_id, position, name, sentinel, fauna, flora, properties, materials, "
                    "base_location, photo, notes, orbit_radius, orbit_speed, extra) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (planet_id, mpos, m.name, *(getattr(m, f) for f in BODY_TEXT_FIELDS),
                         m.orbit_radius, m.orbit_speed, _json_or_null(m.extra))
                        for mpos, m in enumerate(p.moons)
                    ],
                )
        if station is not None:
            conn.execute(
                "INSERT INTO space_station (system_id, name, x, y, z, race, sell_percent, buy_percent, extra) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (system_id, station.name, station.x, station.y, station.z, station.race,
                 station.sell_percent, station.buy_percent, _json_or_null(station.extra)),
            )

    def _delete_children(self, conn: sqlite3.Connection, system_id: int, planets: bool, station: bool) -> None:
        if planets:
            conn.execute("DELETE FROM planet WHERE system_id = ?", (system_id,))
        if station:
            conn.execute("DELETE FROM space_station WHERE system_id = ?", (system_id,))

    def _insert_system(
        self, conn: sqlite3.Connection, galaxy_id: int, cube: Cube, s: SystemIn, lod: LodTree,
        *, system_id: int | None = None, seed: int | None = None, created_ms: int | None = None,
        version: int = 1,
    ) -> int:
        """Insert one system with its children; ``system_id``/``seed``/``created_ms`` restore an undone delete."""
        code = self._position(cube, s.x, s.y, s.z)
        region_id = self._region_id(conn, galaxy_id, s.region)
        now = now_ms()
        created = created_ms if created_ms is not None else (
            parse_ms(s.created_at, "created_at") if s.created_at else now)
        modified = now if created_ms is not None else (
            parse_ms(s.modified_at, "modified_at") if s.modified_at else created)
        if system_id is None:
            system_id = next_row_id(conn)
        conn.execute(
            "INSERT INTO system (id, galaxy_id, region_id, name, x, y, z, code, "
            + ", ".join(SYSTEM_TEXT_FIELDS)
            + ", confidence, extra, seed, version, created_at, modified_at) VALUES ("
            + ", ".join("?" * (8 + len(SYSTEM_TEXT_FIELDS) + 6))
            + ")",
            (system_id, galaxy_id, region_id, s.name, s.x, s.y, s.z, code,
             *(getattr(s, f) for f in SYSTEM_TEXT_FIELDS),
             s.confidence, _json_or_null(s.extra), seed, version, created, modified),
        )
        self._insert_children(conn, system_id, s.planets, s.space_station)
        self._bump_counts(conn, galaxy_id, region_id, +1)
        lod.insert(Member(system_id, code, priority_of(system_id)))
        return system_id

    def create(self, galaxy: str, system: SystemIn) -> dict[str, Any]:
        """Add a system with its children; names are unique per galaxy."""
        galaxy_id, cube, _ = self._galaxy_key(galaxy)
        with self._write() as conn:
            if self._name_taken(conn, galaxy_id, system.name):
                raise Conflict(f"a system named {system.name!r} already exists", field="name")
            system_id = self._insert_system(conn, galaxy_id, cube, system, self._lod(conn, galaxy_id))
            history.record(conn, galaxy_id, system_id, "create", None, 1)
            return self._as_written(conn, system_id)

    @staticmethod
    def _write_row(conn: sqlite3.Connection, system_id: int) -> sqlite3.Row | None:
        """The columns a write needs to change a system (position, octree node, version, seed,
        the id it was imported with, the fields its derived children follow), or None."""
        return conn.execute(
            "SELECT id, galaxy_id, region_id, name, x, y, z, code, priority, lod_level, lod_cell, version, seed, "
            "legacy_id, materials, fauna, flora, sentinel FROM system WHERE id = ?",
            (system_id,),
        ).fetchone()

    def _current(self, conn: sqlite3.Connection, system_id: int, expected_version: int | None) -> sqlite3.Row:
        row = self._write_row(conn, system_id)
        if row is None:
            raise NotFound(f"no system with id {system_id}")
        if expected_version is not None and row["version"] != expected_version:
            raise StaleVersion(
                f"system {system_id} is at version {row['version']}, not {expected_version}; "
                "reload it and apply your change again",
                current_version=row["version"],
            )
        return row

    def _update_fields(self, conn: sqlite3.Connection, current: sqlite3.Row, fields: dict[str, Any]) -> None:
        """Apply changed top-level fields, keeping code, counters and version in step."""
        galaxy_id = current["galaxy_id"]
        if "name" in fields and fields["name"] != current["name"]:
            if self._name_taken(conn, galaxy_id, fields["name"], except_id=current["id"]):
                raise Conflict(f"a system named {fields['name']!r} already exists", field="name")
        chunk_changed = moved = False  # what the system's chunk shows: position and region colour
        if {"x", "y", "z"} & fields.keys():
            cube = self._galaxy_key_by_id(galaxy_id).cube
            pos = [fields.get(k, current[k]) for k in ("x", "y", "z")]
            chunk_changed = pos != [current[k] for k in ("x", "y", "z")]
            fields["code"] = self._position(cube, *pos)
            if fields["code"] != current["code"]:
                self._move_in_octree(conn, current, fields["code"])
                moved = True
        if "region" in fields:
            region_id = self._region_id(conn, galaxy_id, fields.pop("region"))
            if region_id != current["region_id"]:
                conn.execute("UPDATE region SET system_count = system_count - 1 WHERE id = ?", (current["region_id"],))
                conn.execute("UPDATE region SET system_count = system_count + 1 WHERE id = ?", (region_id,))
                chunk_changed = True
            fields["region_id"] = region_id
        if chunk_changed and not moved and not _pending_lod(current):  # a move stamped both nodes already
            self._lod(conn, galaxy_id).touch(current["lod_level"], current["lod_cell"])
        if "extra" in fields:
            fields["extra"] = _json_or_null(fields["extra"] or {})
        fields["modified_at"] = now_ms()
        assignments = ", ".join(f"{k} = :{k}" for k in fields)
        conn.execute(
            f"UPDATE system SET {assignments}, version = version + 1 WHERE id = :id", {**fields, "id": current["id"]}
        )

    def _move_in_octree(self, conn: sqlite3.Connection, current: sqlite3.Row, new_code: int) -> None:
        if _pending_lod(current):
            return  # written by a bulk job that has not placed it yet: its finish() will
        lod = self._lod(conn, current["galaxy_id"])
        lod.remove(current["lod_level"], current["lod_cell"], current["id"])
        lod.insert(Member(current["id"], new_code, current["priority"]))

    def replace(self, system_id: int, system: SystemIn) -> dict[str, Any]:
        """Replace every field and child; ``system.version``, when given, must be current."""
        with self._write() as conn:
            current = self._current(conn, system_id, system.version)
            if system.legacy_id is not None and system.legacy_id != current["legacy_id"]:
                raise InvalidInput(
                    f"legacy_id is the id the system had in the file it was imported from "
                    f"({current['legacy_id']!r}); it cannot be changed", field="legacy_id")
            self._record_change(conn, current, "update")
            fields = system.model_dump(exclude={"planets", "space_station", "version", "created_at", "modified_at", "legacy_id"})
            if current["seed"] is not None:
                fields["seed"] = None  # the children are stored from now on
            self._update_fields(conn, current, fields)
            self._delete_children(conn, system_id, planets=True, station=True)
            self._insert_children(conn, system_id, system.planets, system.space_station)
            return self._as_written(conn, system_id)

    def patch(self, system_id: int, patch: SystemPatch) -> dict[str, Any]:
        """Change only the fields present in the patch."""
        given = patch.model_fields_set - {"version"}
        if not given:  # nothing to change: no new version, no history entry; a stale version is still a 409
            with self._read() as conn:
                self._current(conn, system_id, patch.version)
                return self._as_written(conn, system_id)  # the version just checked
        with self._write() as conn:
            current = self._current(conn, system_id, patch.version)
            self._record_change(conn, current, "update")
            fields = {k: getattr(patch, k) for k in given - {"planets", "space_station"}}
            if "region" in fields and fields["region"] is not None:
                fields["region"] = fields["region"].strip() or None
            if current["seed"] is not None and {"planets", "space_station"} & given:
                # The first edit of a derived system's children stores them: the edited part
                # from the patch, the other part as it was derived (what the user saw).
                from haven.store.bulk import materialize_seeded

                materialize_seeded(self, conn, current, planets="planets" not in given,
                                   station="space_station" not in given)
                fields["seed"] = None
            self._update_fields(conn, current, fields)
            if "planets" in given:
                self._delete_children(conn, system_id, planets=True, station=False)
                self._insert_children(conn, system_id, patch.planets or [], None)
            if "space_station" in given:
                self._delete_children(conn, system_id, planets=False, station=True)
                self._insert_children(conn, system_id, [], patch.space_station)
            return self._as_written(conn, system_id)

    def _lod(self, conn: sqlite3.Connection, galaxy_id: int) -> LodTree:
        """Octree maintenance for this write; advances the galaxy's node clock once."""
        capacity = self._galaxy_key_by_id(galaxy_id).capacity
        return LodTree(conn, galaxy_id, capacity, next_clock(conn, galaxy_id))

    def delete(self, system_id: int, *, expected_version: int | None = None) -> int:
        """Delete a system and (by cascade) its planets, moons and station.

        Returns the deletion's own version, one above the system's last: like any change
        it makes a new version, which an undo meant for this delete names (:meth:`undo`).
        """
        with self._write() as conn:
            current = self._current(conn, system_id, expected_version)
            deleted_as = self._record_change(conn, current, "delete")
            self._delete_row(conn, current, self._lod(conn, current["galaxy_id"]))
        assert deleted_as is not None
        return deleted_as

    # -- history and undo ----------------------------------------------------

    def _record_change(self, conn: sqlite3.Connection, current: sqlite3.Row, op: str) -> int | None:
        """Remember the system as stored before this change (see haven.store.history); returns
        the version the change makes (an update's or a delete's)."""
        system_id = current["id"]
        before = history.snapshot(conn, system_id, self._children(conn, [system_id])[system_id])
        version_after = current["version"] + 1 if op in ("update", "delete") else None
        history.record(conn, current["galaxy_id"], system_id, op, before, version_after)
        return version_after

    def history(self, system_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
        """A system's recorded changes, newest first (``op``, ``version`` it produced, ``at``).

        Empty for a system with nothing recorded (generated, bulk loaded); a deleted system
        answers while any of its history is kept. NotFound for an id with neither a system
        nor a recorded change, as :meth:`system` answers it.
        """
        _check_limit(limit)
        with self._read() as conn:  # one snapshot: the entries and the row agree
            items = history.entries(conn, system_id, limit)
            # only when nothing is recorded: one primary-key lookup
            if not items and self._write_row(conn, system_id) is None:
                raise NotFound(f"no system with id {system_id}")
        for item in items:
            item["at"] = to_iso(item.pop("at_ms"))
        return items

    def undo(self, system_id: int, *, expected_version: int | None = None) -> dict[str, Any]:
        """Undo the latest recorded change of a system and forget it.

        ``expected_version``: the version the change to undo made (what its answer's
        ``ETag`` said; for a delete, the deletion's version). When the latest change made
        another one, someone changed the system since, and undoing theirs instead is
        refused with StaleVersion.

        Returns ``{"undone": op, "system": <the system now, or None if undoing removed it>}``.
        Raises NotFound when nothing is recorded, Conflict when the system changed
        outside the history (a bulk load) or its old name or id is taken since.
        """
        with self._write() as conn:
            entry = history.latest(conn, system_id)
            if entry is None:
                raise NotFound(f"system {system_id} has no change to undo")
            row = self._write_row(conn, system_id)
            op = entry["op"]
            if expected_version is not None:
                _check_undo_target(system_id, entry, row, expected_version)
            if op == "delete":
                if row is not None:
                    raise Conflict(f"cannot undo the delete: id {system_id} is in use again")
                galaxy_id = entry["galaxy_id"]
                system, seed, created_ms = history.restored_system(entry["before"])
                if self._name_taken(conn, galaxy_id, system.name):
                    raise Conflict(f"cannot undo the delete: a system named {system.name!r} exists now", field="name")
                cube = self._galaxy_key_by_id(galaxy_id).cube
                self._insert_system(conn, galaxy_id, cube, system, self._lod(conn, galaxy_id),
                                    system_id=system_id, seed=seed, created_ms=created_ms,
                                    version=self._version_after_undone_delete(
                                        conn, system_id, _deletion_version(entry)))
            else:
                if row is None or (entry["version_after"] is not None and row["version"] != entry["version_after"]):
                    raise Conflict(f"system {system_id} changed outside its history; it cannot be undone")
                if op == "create":
                    self._delete_row(conn, row, self._lod(conn, row["galaxy_id"]))
                else:
                    system, seed, _ = history.restored_system(entry["before"])
                    fields = system.model_dump(
                        exclude={"planets", "space_station", "version", "created_at", "modified_at"})
                    fields["seed"] = seed
                    self._update_fields(conn, row, fields)
                    self._delete_children(conn, system_id, planets=True, station=True)
                    self._insert_children(conn, system_id, system.planets, system.space_station)
            history.forget(conn, entry["id"])
            restored = None
            if op != "create":
                version = conn.execute("SELECT version FROM system WHERE id = ?", (system_id,)).fetchone()[0]
                history.now_at_version(conn, system_id, version)
                restored = self._as_written(conn, system_id)
        return {"undone": op, "system": restored}

    @staticmethod
    def _version_after_undone_delete(conn: sqlite3.Connection, system_id: int, deleted_at: int | None) -> int:
        """The version a system comes back at when its delete is undone: above every version
        it had and above the deletion's, so an editor still holding an older one gets 409,
        as after any other change, and an undo naming the deletion's version cannot match
        the system that came back.

        ``deleted_at`` is the deletion's version (:func:`_deletion_version`); when unknown
        (an entry written before snapshots kept the system's version), the system comes back
        above every version the remaining history names.
        """
        if deleted_at is not None:
            return deleted_at + 1
        seen = conn.execute(
            "SELECT max(version_after) FROM system_change WHERE system_id = ?", (system_id,)
        ).fetchone()[0]
        return (seen or 1) + 1

    def _delete_row(self, conn: sqlite3.Connection, current: sqlite3.Row, lod: LodTree) -> None:
        if not _pending_lod(current):
            lod.remove(current["lod_level"], current["lod_cell"], current["id"])
        conn.execute("DELETE FROM system WHERE id = ?", (current["id"],))
        note_deleted(conn, current["id"])
        self._bump_counts(conn, current["galaxy_id"], current["region_id"], -1)

    def import_systems(
        self, galaxy: str, systems: Iterable[SystemIn], *, on_conflict: OnConflict = "error"
    ) -> ImportResult:
        """Write a batch in one transaction: all of it or, on any error, none of it."""
        galaxy_id, cube, _ = self._galaxy_key(galaxy)
        result = ImportResult()
        with self._write() as conn:
            lod = self._lod(conn, galaxy_id)
            for s in systems:
                row = conn.execute(
                    "SELECT id, galaxy_id, region_id, lod_level, lod_cell FROM system WHERE galaxy_id = ? AND name = ?",
                    (galaxy_id, s.name),
                ).fetchone()
                if row is not None:
                    if on_conflict == "error":
                        raise Conflict(f"a system named {s.name!r} already exists", field="name")
                    if on_conflict == "skip":
                        result.skipped += 1
                        continue
                    self._delete_row(conn, row, lod)
                    result.replaced += 1
                else:
                    result.created += 1
                self._insert_system(conn, galaxy_id, cube, s, lod)
                result.names.append(s.name)
        return result

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
