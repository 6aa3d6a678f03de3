"""The name search index of a large bulk load, built beside the database by a process of its own.

Filling the name index (:data:`haven.store.search.NAME_INDEX`) is the
largest single cost of a bulk load: every name has about two dozen keys, nearly
all of them distinct, and a load spent more time on them than on inserting
the rows. SQLite lets one connection write a database at a time, so the index
cannot be filled beside the rows *in* the database. It can in a file of its
own, and by another process: a thread would share the interpreter lock and
SQLite's memory mutex with the loading thread, and on two cores it gained
almost nothing.

* A load that writes every system of the database (one that deferred its
  secondary indexes, see :mod:`haven.store.deferred`) and is large enough to
  repay starting a process (:data:`MIN_ROWS`) tells a :class:`SideNameIndex`
  the id range of each batch it has committed. The helper process reads
  those names from the database, computes their keys and writes them into an
  index with the same definition in ``<database>-names``, one transaction per
  batch, recording the batch there too.
* When the load finishes, the helper merges the file's index into one segment
  while the loading process builds the secondary indexes and places the
  octree; then :meth:`SideNameIndex.copy_into` replaces the database's name
  index by the file's (its two FTS5 storage tables, copied row for row in one
  transaction; the index's settings stay the database's).

The file holds only what the database also holds: a batch goes to it after the
database committed it, and the file is removed once its index has been copied
in. After a kill, the next run finds the batches the database committed and
the file lacks (all of them, if the file is gone, not a database, another
load's, or holds a batch the database does not) and writes those first. The
choice is recorded with the deferred indexes, so every run of a load makes the
same one. Until the copy, name searches do not find the load's systems; only a
server that had the database open before the load can search it meanwhile
(the deferred indexes keep everyone else out).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import Any, TextIO

import orjson

import haven
from haven.store import search
from haven.store.scratch import remove_database_files
from haven.store.sqlite import transaction

__all__ = ["MIN_ROWS", "SIDE_SUFFIX", "SideNameIndex", "remove_side_file", "remove_unused_side_file", "side_path"]

#: The side file is the database's path with this appended.
SIDE_SUFFIX = "-names"
#: Loads of fewer systems fill the name index in their own transactions (starting the
#: helper takes about 0.2 s, and it reads the names back; 250,000 names take about 1.5 s).
MIN_ROWS = 250_000
#: Names read from the database, keyed and written per step (bounds the helper's memory).
READ_ROWS = 100_000
#: The storage tables of an FTS5 index that hold its entries (its settings are in ``_config``).
_ENTRY_TABLES = ("data", "idx")
_DONE = "done"
_END = "end"


def side_path(db_path: Path) -> Path:
    """Where the name index of a load into ``db_path`` is built."""
    return db_path.with_name(db_path.name + SIDE_SUFFIX)


def remove_side_file(db_path: Path) -> None:
    """Delete a load's side file, its WAL files and its lock file, if any."""
    remove_database_files(side_path(db_path))
    _lock_path(db_path).unlink(missing_ok=True)


def remove_unused_side_file(db_path: Path) -> bool:
    """Delete a side file no helper is using; False (and nothing deleted) while one still holds it.

    For a restore, which replaces the content a killed load's side file was built
    from: no later load of that content will come to remove it.
    """
    try:
        lock = open(_lock_path(db_path), "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:  # no helper ever ran, or the last one's lock file is gone with it
        remove_side_file(db_path)
        return True
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # an orphaned helper is finishing its batch
            return False
        remove_side_file(db_path)
    return True


def _lock_path(db_path: Path) -> Path:
    """The file a helper holds locked while it uses the side file (see :func:`_helper`)."""
    return Path(f"{side_path(db_path)}.lock")


class SideNameIndex:
    """Fills a copy of the name index in ``<database>-names`` from committed batches, in a helper process.

    ``db_path``: the database; ``job``: who the file belongs to (the load's
    job key and when it started: a file of another load, or of the same job in
    a database made again, is started afresh); ``galaxy_id``: the galaxy every
    row belongs to; ``committed``: ``(batch_index, first_id, last_id)`` of
    every batch the database holds for the job so far (a file holding any
    other batch is started afresh too). Call :meth:`add` after each commit,
    then :meth:`end_of_batches`, :meth:`wait` and :meth:`copy_into` (or
    :meth:`stop` to end the helper at once, leaving the file for the next run).

    The helper is ``python -m haven.store.sidenames``; it reads one JSON line of
    settings and then one line per batch on its standard input, and answers
    with one line on its standard output when it is done.
    """

    def __init__(self, db_path: Path, job: str, galaxy_id: int,
                 committed: Sequence[tuple[int, int, int]]) -> None:
        self.db_path = db_path
        self.path = side_path(db_path)
        self._ended = False
        # The helper imports the same haven as this process (-P: not one from its working directory),
        # and runs in its own process group: Ctrl-C reaches the loader, which ends the helper.
        package_root = str(Path(haven.__file__).resolve().parent.parent)
        python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            encoding="utf-8", env={**os.environ, "PYTHONPATH": python_path}, process_group=0,
        )
        self._send({"database": str(db_path), "job": job, "galaxy_id": galaxy_id,
                    "committed": [list(b) for b in committed], "loader_pid": os.getpid()})

    def add(self, batch_index: int, first_id: int, last_id: int) -> None:
        """Hand over a batch the database has committed (its systems have the ids ``first_id..last_id``)."""
        self._send([batch_index, first_id, last_id])

    def end_of_batches(self) -> None:
        """No more batches: the helper merges the file's index once it has written the ones handed over."""
        if not self._ended:
            self._ended = True
            self._send(_END)

    def wait(self) -> None:
        """Wait until the helper is done (after :meth:`end_of_batches`); raise what went wrong in it."""
        out, _ = self._process.communicate()
        outcome = out.strip().splitlines()[-1] if out.strip() else ""
        if outcome != _DONE:
            raise sqlite3.OperationalError(
                f"building the name search index in {self.path} failed: "
                f"{outcome or f'its process ended with exit code {self._process.returncode}'}; "
                "run the same load again to go on"
            )

    def copy_into(self, writer: AbstractContextManager[Any], busy_timeout_ms: int) -> None:
        """Replace the database's name index by the file's, in one transaction (after :meth:`wait`).

        ``writer``: the store's writer turn, held meanwhile. The copy runs on a
        connection of its own: the store's connections notice the new index as
        they notice any other connection's commit.
        """
        conn = sqlite3.connect(self.db_path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("ATTACH DATABASE ? AS side", (str(self.path),))
            with writer, transaction(conn, immediate=True):
                for table in _ENTRY_TABLES:
                    name = f"{search.NAME_INDEX}_{table}"
                    conn.execute(f"DELETE FROM main.{name}")
                    conn.execute(f"INSERT INTO main.{name} SELECT * FROM side.{name}")
        finally:
            conn.close()

    def stop(self) -> None:
        """End the helper now (the load failed or was interrupted); the file stays for a rerun."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()

    def _send(self, message: Any) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(orjson.dumps(message).decode() + "\n")
            stdin.flush()
        except BrokenPipeError:  # the helper has ended: say why
            self._ended = True
            self.wait()
            raise


# -- the helper process ----------------------------------------------------------------------


def _helper(lines: TextIO) -> str:
    """The helper's whole life: catch up, write each batch handed over, merge. Returns what to report.

    A loader killed outright (``kill -9``) cannot end its helper, which runs on to the
    end of its batch. So a helper holds a lock on the side file's lock file for its whole
    life (a rerun's helper waits for the one before to end, instead of finding the file
    locked or writing a batch twice), and stops between batches once its loader is gone.
    """
    try:
        settings = orjson.loads(lines.readline())
        db_path = Path(settings["database"])
        loader_pid = settings["loader_pid"]
        lock = open(_lock_path(db_path), "a")  # noqa: SIM115 - held until the process ends
        _wait_for_lock(lock)
        committed = [tuple(b) for b in settings["committed"]]
        side = _open_side(db_path, settings["job"], committed)
        main = sqlite3.connect(db_path, isolation_level=None)
        key = search.galaxy_key(settings["galaxy_id"])
        try:
            loaded = {r[0] for r in side.execute("SELECT batch_index FROM loaded_batch")}
            for batch in committed:
                if os.getppid() != loader_pid:
                    return "the loading process ended"
                if batch[0] not in loaded:
                    _write_batch(main, side, key, *batch)
            for line in lines:  # batches still queued in the pipe are not written once the loader is gone
                message = orjson.loads(line)
                if message == _END:
                    side.execute(f"INSERT INTO {search.NAME_INDEX} ({search.NAME_INDEX}) VALUES ('optimize')")
                    return _DONE
                if os.getppid() != loader_pid:
                    return "the loading process ended"
                _write_batch(main, side, key, *message)
        finally:
            main.close()
            side.close()
    except Exception as exc:  # noqa: BLE001 - reported to the loading process, which raises it
        return f"{type(exc).__name__}: {exc}"
    return "the loading process ended before the last batch"


#: How long a helper waits for the one before it (of a load killed outright) to end: that one
#: ends after the batch it is writing, so anything much longer means something else holds it.
LOCK_WAIT_S = 600.0


def _wait_for_lock(lock: TextIO) -> None:
    """Take the side file's lock, waiting up to ``LOCK_WAIT_S`` for another helper to let go of it."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lock.name} is still held after {LOCK_WAIT_S:.0f} s: another helper of a "
                                   "load into this database is running (`pgrep -af haven.store.sidenames`)") from None
            time.sleep(0.2)


def _open_side(db_path: Path, job: str, committed: list[tuple[int, int, int]]) -> sqlite3.Connection:
    """The side file with this job's index and record.

    A file of another job, one holding a batch the database does not (with
    the same ids), or one that is not an SQLite database, is started again.
    Other errors (locked, full disk) are raised: the file may still be good.
    """
    for attempt in range(2):
        conn = sqlite3.connect(side_path(db_path), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS side_job (job TEXT NOT NULL)")
            owner = conn.execute("SELECT job FROM side_job").fetchone()
            if owner is not None and owner[0] == job:
                loaded = conn.execute("SELECT batch_index, first_id, last_id FROM loaded_batch").fetchall()
                if set(map(tuple, loaded)) <= set(committed):
                    return conn
            elif owner is None and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 1:
                with closing(sqlite3.connect(db_path)) as main:
                    ddl = main.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                       (search.NAME_INDEX,)).fetchone()[0]
                with transaction(conn):
                    conn.execute(ddl)
                    conn.execute("CREATE TABLE loaded_batch (batch_index INTEGER PRIMARY KEY, "
                                 "first_id INTEGER NOT NULL, last_id INTEGER NOT NULL)")
                    conn.execute("INSERT INTO side_job (job) VALUES (?)", (job,))
                    # one batch's keys become a few large segments; merged once, at the end
                    search.set_fts_options(conn, search.NAME_INDEX, hashsize=search.LOAD_HASH_BYTES, automerge=0)
                return conn
        except sqlite3.DatabaseError as exc:
            if attempt or exc.sqlite_errorcode not in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
                conn.close()
                raise
        conn.close()
        remove_database_files(side_path(db_path))  # not its lock file: this helper holds it
    raise AssertionError("unreachable")


def _write_batch(main: sqlite3.Connection, side: sqlite3.Connection, galaxy_key: str,
                 batch_index: int, first_id: int, last_id: int) -> None:
    """One committed batch into the side file, its names' keys and its record, in one transaction."""
    with transaction(side):
        for lo in range(first_id, last_id + 1, READ_ROWS):
            rows = main.execute("SELECT id, name FROM system WHERE id BETWEEN ? AND ?",
                                (lo, min(last_id, lo + READ_ROWS - 1))).fetchall()
            folded, grams = search.name_index_values([name for _, name in rows])
            side.executemany(search.NAME_INDEX_INSERT,
                             zip([i for i, _ in rows], folded, grams, itertools.repeat(galaxy_key)))
        side.execute("INSERT INTO loaded_batch (batch_index, first_id, last_id) VALUES (?, ?, ?)",
                     (batch_index, first_id, last_id))


def _answer(result: str) -> None:
    """Hand the result to the load that started this helper; if that load was killed, leave quietly
    (no traceback on the user's terminal: the next run of the load takes the side file over)."""
    try:
        print(result, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exiting flushes nowhere
        sys.exit(1)


if __name__ == "__main__":
    _answer(_helper(sys.stdin))
