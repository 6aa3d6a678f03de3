"""Connections and transactions: one connection per thread, writers taking turns,
the maintenance thread, and the process-wide limit on SQLite's memory."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from haven.errors import StoreReadOnly, StoreUnavailable
from haven.store import deferred, filelocks, search

BUSY_TIMEOUT_MS = 10_000
CONNECTION_CACHE_KIB = 16_384  # each connection's page cache at most, unless a server's budget allows more
DEFAULT_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default: checkpoint inside the commit past 1,000 WAL pages
MAINTENANCE_INTERVAL_S = 0.5
SEARCH_MERGE_PAGES = 64  # per maintenance round: a few milliseconds of holding the write lock
CLOSE_MERGE_STEPS = 32  # at most this many merge steps when a store that wrote is closed
#: Past this, the maintenance thread empties the WAL file (a TRUNCATE checkpoint) when it can get
#: in between readers; below it, the WAL is reused from its start and keeps its size.
WAL_TRUNCATE_BYTES = 64 << 20
WAL_TRUNCATE_WAIT_MS = 100  # how long that checkpoint may wait for readers (writers wait behind it)
WAL_TRUNCATE_BACKOFF_S = (1.0, 30.0)  # after a try that readers kept out: first pause, longest pause

log = logging.getLogger(__name__)


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


class Connections:
    """Per-thread connections, transactions, commit listeners and the maintenance thread."""

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
        conn = self._connect(cached_statements=512)
        conn.row_factory = sqlite3.Row
        search.register_functions(conn)  # the name index's triggers call them
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not self.read_only:  # a read-only store keeps the file's own journal mode (a backup's is DELETE)
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA cache_size = -{int(self.cache_kib):d}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {self._autocheckpoint_pages:d}")
        with self._lock:
            self._connections.append(conn)
            self._owners.append((thread, conn))
        return conn

    def _connect(self, *, cached_statements: int = 128) -> sqlite3.Connection:
        """A new connection to the store's file; read-only (SQLite's ``mode=ro``) for a read-only store.

        A read-only connection cannot change the file in any way, not even its
        journal mode, so reading a backup or a write-protected copy leaves it as it was.
        """
        if self.read_only:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                                   cached_statements=cached_statements)
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               cached_statements=cached_statements)

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
        conn = self._connect()
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
        if self.read_only:  # nothing to checkpoint or merge, and no right to
            return
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
                    self._bound_wal(conn)
                except sqlite3.Error as exc:  # busy, or the file went away: next round
                    log.debug("background maintenance skipped: %s", exc)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()

    def _bound_wal(self, conn: sqlite3.Connection) -> None:
        """Empty a WAL file grown past :data:`WAL_TRUNCATE_BYTES`.

        A PASSIVE checkpoint copies pages back but cannot restart the WAL while a reader
        still uses it, so under steady reads and writes the file only grows (to 800 MB
        for a 47 MB database under eight writing clients, kept after they stopped). A
        TRUNCATE checkpoint waits up to :data:`WAL_TRUNCATE_WAIT_MS` for the readers of
        the moment to finish, copies everything back and empties the file. Writers wait
        behind it, so when a reader stays (a long export holds one snapshot for minutes)
        the next try waits twice as long as the last pause, up to 30 s: writes are held
        up for 100 ms now and then, not every round.
        """
        now = time.monotonic()
        if now < self._wal_truncate_after:
            return
        try:
            wal_bytes = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return
        if wal_bytes <= WAL_TRUNCATE_BYTES:
            return
        conn.execute(f"PRAGMA busy_timeout = {WAL_TRUNCATE_WAIT_MS}")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute("PRAGMA busy_timeout = 0")
        first, longest = WAL_TRUNCATE_BACKOFF_S
        self._wal_truncate_pause = min(longest, self._wal_truncate_pause * 2 or first) if busy else 0.0
        self._wal_truncate_after = time.monotonic() + self._wal_truncate_pause
        log.debug("WAL of %d bytes %s", wal_bytes,
                  f"kept by a reader; next try in {self._wal_truncate_pause:g} s" if busy else "emptied")

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
        if self.read_only:
            raise StoreReadOnly(f"{self.path} was opened read-only; nothing can be written through it")
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

    def _refuse_unfinished_load(self, conn: sqlite3.Connection) -> None:
        """A bulk load that deferred the indexes owns the database until it finishes."""
        record = deferred.deferred_record(conn)
        if record is not None:
            running = filelocks.load_running(self.path) if filelocks.is_file_database(self.path) else False
            raise StoreUnavailable(deferred.unfinished_load_message(record, running=running))

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
