"""Locks beside a database file, for the whole-file operations that must not overlap.

Two pairs of operations must never run at once on one database:

* **A bulk load and a restore, or another bulk load.** A restore replaces the
  whole database under every open connection. A bulk load running meanwhile
  would go on writing its batches, octree and side name index into the restored
  content, whose job table no longer knows it. Two loads would share the one
  side name index file beside the database (and two runs of one job would write
  the same batches). A load and a restore each hold ``<database>-load.lock``
  alone.
* **A schema change and a server.** A server checks the schema revision when it
  opens the database. A downgrade under it would leave it querying tables and
  indexes that are gone. Servers hold ``<database>-serve.lock`` shared;
  ``haven db upgrade``/``downgrade`` (and the upgrade ``haven init`` and
  ``haven serve`` run) hold it alone while they change anything.

Whichever comes second is refused at once, with a message naming who holds the
file. The locks are the operating system's (``flock``), so they go with the
process that held them: a killed load or server never blocks anything. The lock
files are empty and stay beside the database (removing one could race with a
process about to take it). In a folder where no file may be created, no lock is
taken: commands work there as they did before the locks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from haven.errors import StoreUnavailable

_LOAD, _SERVE = "-load.lock", "-serve.lock"
#: The lock files a database may have beside it (deleted with a scratch copy; never a live database's).
LOCK_SUFFIXES = (_LOAD, _SERVE)


class FileLock:
    """A held lock on one of a database's lock files; :meth:`release` (or process exit) lets go.

    ``shared_holders`` and ``exclusive_holder`` say who is in the way when the lock
    cannot be had: the first when it is held shared (loads, servers), the second when
    another process holds it alone (a restore, a schema change).
    """

    def __init__(self, db_path: Path | str, suffix: str, *, exclusive: bool,
                 shared_holders: str, exclusive_holder: str) -> None:
        self._fd: int | None = None
        # The real file's name: a symlink to the database must meet the same lock.
        path = f"{os.path.realpath(db_path)}{suffix}"
        fd = _open_lock_file(path)
        if fd is None:
            return  # a folder nobody may add files to: no other Haven can make this lock either
        try:
            _give_to_database_owner(fd, db_path)
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as exc:
            busy = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
            if busy and exclusive:
                try:  # held shared (loads, servers), or by one other process alone?
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                except OSError:
                    os.close(fd)
                    raise StoreUnavailable(exclusive_holder) from None
            os.close(fd)
            if busy:
                raise StoreUnavailable(exclusive_holder if not exclusive else shared_holders) from None
            raise StoreUnavailable(f"cannot lock {path}: {exc.strerror}") from None
        self._fd = fd

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None


def _open_lock_file(path: str) -> int | None:
    """The lock file, opened for writing where possible (an exclusive ``flock`` on NFS needs it).

    One that exists but may not be written (made by another user) is opened read-only,
    which local file systems lock just as well. None: there is none and none may be made.
    """
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise StoreUnavailable(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreUnavailable(f"cannot open the lock file {path}: {exc.strerror}") from None


def _give_to_database_owner(fd: int, db_path: Path | str) -> None:
    """As root, hand a lock file to the database's owner (as SQLite does with its WAL file)."""
    if os.geteuid() != 0:
        return
    try:
        db = os.stat(db_path)
        if os.fstat(fd).st_uid != db.st_uid:
            os.fchown(fd, db.st_uid, db.st_gid)
    except OSError:
        pass  # no database yet, or a file system without owners: nothing to hand over


@dataclass(frozen=True)
class _Pair:
    """One lock file and what to tell whoever cannot have it: who holds it shared, who alone."""

    suffix: str
    shared_holders: str
    exclusive_holder: str

    def lock(self, db_path: Path | str, *, exclusive: bool) -> FileLock:
        return FileLock(db_path, self.suffix, exclusive=exclusive,
                        shared_holders=self.shared_holders.format(db=db_path),
                        exclusive_holder=self.exclusive_holder.format(db=db_path))


_LOADS_AND_RESTORES = _Pair(
    _LOAD,
    shared_holders="a bulk load (haven generate or haven import) is writing to {db}; "
                   "let it finish or stop it, then run this again",
    exclusive_holder="a bulk load (haven generate or haven import), a restore or a schema change is writing "
                     "to {db}; let it finish, then run this again",
)
_SERVERS_AND_SCHEMA_CHANGES = _Pair(
    _SERVE,
    shared_holders="a server (haven serve) has {db} open, and it reads the schema only when it starts; "
                   "stop it, change the schema, then start it again",
    exclusive_holder="the schema of {db} is being changed (haven db upgrade or downgrade); "
                     "run this again when that has finished",
)


class _CountedLock:
    """One process's hold of a lock that several of its parts take in turn (a load's entry point,
    then its loader): the lock is let go when the last part releases it."""

    def __init__(self, lock: FileLock, key: str) -> None:
        self._lock, self._key, self.count = lock, key, 1

    def release(self) -> None:
        with _HOLDS_GUARD:
            self.count -= 1
            if self.count == 0:
                _LOAD_HOLDS.pop(self._key, None)
                self._lock.release()


_LOAD_HOLDS: dict[str, _CountedLock] = {}
_HOLDS_GUARD = threading.Lock()


class _LoadHold:
    """A part's share of the process's load lock; :meth:`release` once."""

    def __init__(self, counted: _CountedLock) -> None:
        self._counted: _CountedLock | None = counted

    def release(self) -> None:
        if self._counted is not None:
            self._counted.release()
            self._counted = None


def loading(db_path: Path | str | None) -> _LoadHold | None:
    """What a bulk load holds while it runs: the load lock alone, so one load at a time writes to a
    database (None for a database that is not a file). Taking it again in the same process shares
    the hold."""
    if not is_file_database(db_path):
        return None
    key = os.path.realpath(db_path)  # type: ignore[arg-type]
    with _HOLDS_GUARD:
        counted = _LOAD_HOLDS.get(key)
        if counted is None:
            counted = _LOAD_HOLDS[key] = _CountedLock(_LOADS_AND_RESTORES.lock(db_path, exclusive=True), key)
        else:
            counted.count += 1
        return _LoadHold(counted)


def load_running(db_path: Path | str) -> bool:
    """Whether the load lock is held now (by any process, this one included): a bulk load (or,
    briefly, a restore or a schema change) is running."""
    try:
        fd = os.open(f"{os.path.realpath(db_path)}{_LOAD}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also lets go of the shared lock, if it was had
    return False


def restoring(db_path: Path | str) -> FileLock:
    """What a restore holds while it checks and writes the backup."""
    return _LOADS_AND_RESTORES.lock(db_path, exclusive=True)


def serving(db_path: Path | str | None) -> FileLock | None:
    """What a server holds while it has the database open (None for a database that is not a file)."""
    return _SERVERS_AND_SCHEMA_CHANGES.lock(db_path, exclusive=False) if is_file_database(db_path) else None


def changing_schema(db_path: Path | str) -> FileLock:
    """What a schema upgrade or downgrade holds while it runs."""
    return _SERVERS_AND_SCHEMA_CHANGES.lock(db_path, exclusive=True)


def is_file_database(db_path: Path | str | None) -> bool:
    """Whether the store opens ``db_path`` as a file (it never takes URIs; ``:memory:`` is no file)."""
    return db_path is not None and str(db_path) not in ("", ":memory:")
