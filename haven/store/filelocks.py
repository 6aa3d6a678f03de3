"""Locks beside a database file, for the whole-file operations that must not overlap.

Two pairs of operations must never run at once on one database:

* **A restore and a bulk load.** A restore replaces the whole database under
  every open connection. A bulk load running meanwhile would go on writing its
  batches, octree and side name index into the restored content, whose job table
  no longer knows it. Loads hold ``<database>-load.lock`` shared (two loads into
  different galaxies may run at once); a restore holds it alone.
* **A schema change and a server.** A server checks the schema revision when it
  opens the database. A downgrade under it would leave it querying tables and
  indexes that are gone. Servers hold ``<database>-serve.lock`` shared;
  ``haven db upgrade``/``downgrade`` (and the upgrade ``haven init`` and
  ``haven serve`` run) hold it alone while they change anything.

Whichever comes second is refused at once, with a message naming who holds the
file. The locks are the operating system's (``flock``), so they go with the
process that held them: a killed load or server never blocks anything. The lock
files are empty and stay beside the database (removing one could race with a
process about to take it).
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import TextIO

from haven.errors import StoreUnavailable

_LOAD, _SERVE = "-load.lock", "-serve.lock"
#: The lock files a database may have beside it (deleted with a scratch copy; never a live database's).
LOCK_SUFFIXES = (_LOAD, _SERVE)


class FileLock:
    """A held lock on one of a database's lock files; :meth:`release` (or process exit) lets go."""

    def __init__(self, db_path: Path | str, suffix: str, *, exclusive: bool, held_by_others: str) -> None:
        self._file: TextIO | None = None
        path = f"{db_path}{suffix}"
        try:
            handle = open(path, "a")  # noqa: SIM115 - held until release()
        except OSError as exc:  # a folder that may not be written: SQLite could not write its WAL there either
            raise StoreUnavailable(f"cannot create the lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StoreUnavailable(held_by_others) from None
        self._file = handle

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the lock
            self._file = None


def loading(db_path: Path | str | None) -> FileLock | None:
    """What a bulk load holds while it runs (None for a database that is not a file)."""
    if not _is_file_database(db_path):
        return None
    return FileLock(db_path, _LOAD, exclusive=False,
                    held_by_others=f"a restore is replacing {db_path}; run this again when it has finished")


def restoring(db_path: Path | str) -> FileLock:
    """What a restore holds while it checks and writes the backup."""
    return FileLock(db_path, _LOAD, exclusive=True,
                    held_by_others=f"a bulk load (haven generate or haven import) is writing to {db_path}; "
                                   "let it finish or stop it, then run this again")


def serving(db_path: Path | str | None) -> FileLock | None:
    """What a server holds while it has the database open (None for a database that is not a file)."""
    if not _is_file_database(db_path):
        return None
    return FileLock(db_path, _SERVE, exclusive=False,
                    held_by_others=f"the schema of {db_path} is being changed (haven db upgrade or downgrade); "
                                   "start the server when that has finished")


def changing_schema(db_path: Path | str) -> FileLock:
    """What a schema upgrade or downgrade holds while it runs."""
    return FileLock(db_path, _SERVE, exclusive=True,
                    held_by_others=f"a server (haven serve) has {db_path} open, and it reads the schema only "
                                   "when it starts; stop it, change the schema, then start it again")


def _is_file_database(db_path: Path | str | None) -> bool:
    return db_path is not None and str(db_path) not in ("", ":memory:") and not str(db_path).startswith("file:")
