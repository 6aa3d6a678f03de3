"""Scratch copies of a database, written beside where they end up.

``haven backup`` writes its copy under a hidden name and puts it in place once
it is complete; ``haven restore`` stages the backup beside the live database
before it writes it in. A run that is killed leaves its scratch copy behind,
so the next run removes what earlier runs left: a copy is left over when
nobody holds its ``flock`` (every run holds its own for as long as it writes),
which holds across containers sharing a folder, unlike a process id. Each copy's
name is new (a random part after the process id), so no two runs share one.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from haven.errors import Conflict, StoreUnavailable
from haven.store import filelocks


def remove_database_files(path: Path, *, lock_files: bool = False) -> None:
    """Delete an SQLite database file and its journal, WAL and shared-memory files, if any.

    ``lock_files``: its lock files too (see :mod:`haven.store.filelocks`); for scratch
    copies only, as a process may hold a live database's.
    """
    for suffix in ("", "-journal", "-wal", "-shm", *(filelocks.LOCK_SUFFIXES if lock_files else ())):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


#: The endings of a copy's companions (journals, locks), removed with it, never taken for a copy.
_COMPANIONS = ("-journal", "-wal", "-shm", ".lock")


@contextmanager
def scratch_copy(folder: Path, prefix: str) -> Iterator[Path]:
    """A new, empty file ``folder/<prefix><pid>-<random>``, locked while in use, removed (with its journals) on exit.

    The name is new (created exclusively) and locked before anything is written, so
    two runs never share a copy, even runs in containers that share the folder and
    happen to have the same process id.
    """
    remove_left_over_copies(folder, prefix)
    while True:
        path = folder / f"{prefix}{os.getpid()}-{secrets.token_hex(6)}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue  # another run's clean-up held it for the instant it looked: take a new name
            path.unlink(missing_ok=True)
            raise StoreUnavailable(f"cannot lock {path}: {exc.strerror}") from None
        if _same_file(fd, path):
            break
        os.close(fd)  # that clean-up removed it before we locked it
    try:
        try:
            yield path
        finally:
            remove_database_files(path, lock_files=True)
    finally:
        os.close(fd)


def remove_left_over_copies(folder: Path, prefix: str) -> None:
    """Delete the copies named ``<prefix>…`` in ``folder`` that no running process holds."""
    for path in folder.glob(f"{glob.escape(prefix)}*"):
        if path.name.endswith(_COMPANIONS):
            _remove_if_orphaned(path)  # otherwise it goes with its copy
            continue
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)  # for writing: an exclusive flock on NFS needs it
        except OSError:
            continue  # gone meanwhile, or not ours
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, path):
                remove_database_files(path, lock_files=True)  # while we hold it: nobody can take it back
        except OSError:
            pass  # a run is still writing it
        finally:
            os.close(fd)


def _remove_if_orphaned(companion: Path) -> None:
    """Delete a journal, WAL, shared-memory or lock file whose copy is gone (a run killed while it
    removed its copy: the copy goes first). Nobody writes it: a run's companions exist only while
    its copy does, and every run makes a copy of a new name."""
    name = companion.name
    for suffix in ("-journal", "-wal", "-shm", *filelocks.LOCK_SUFFIXES):
        if name.endswith(suffix):
            if not (companion.parent / name[: -len(suffix)]).exists():
                companion.unlink(missing_ok=True)
            return


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def place_without_replacing(copy: Path, target: Path) -> None:
    """Give the complete ``copy`` the name ``target``, which must not exist yet, durably.

    A hard link never replaces a file made meanwhile. Where the file system has no
    hard links (FAT, some network shares), the name is claimed with an exclusive
    create and the copy renamed over it (an empty file has the name for that moment).
    """
    fsync(copy)
    try:
        os.link(copy, target)
    except FileExistsError:
        raise _taken(target) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise _taken(target) from None
        try:
            os.replace(copy, target)
        except BaseException:
            target.unlink(missing_ok=True)  # our empty placeholder, never someone's file
            raise
    fsync(target.parent)


#: What ``link`` answers on a file system without hard links.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK})


def fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _taken(target: Path) -> Conflict:
    return Conflict(f"{target} already exists; choose a new file", field="path")
