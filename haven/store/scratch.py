"""Scratch copies of a database, written beside where they end up.

``haven backup`` writes its copy under a hidden name and puts it in place once
it is complete; ``haven restore`` stages the backup beside the live database
before it writes it in. A run that is killed leaves its scratch copy behind,
so the next run removes what earlier runs left: a copy is left over when
nobody holds its ``flock`` (every run holds its own for as long as it writes),
which holds across containers sharing a folder, unlike a process id.
"""

from __future__ import annotations

import fcntl
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from haven.errors import Conflict
from haven.store.sqlite import remove_database_files


@contextmanager
def scratch_copy(folder: Path, prefix: str) -> Iterator[Path]:
    """A new, empty, locked file ``folder/<prefix><pid>``, removed (with its journals) on exit."""
    remove_left_over_copies(folder, prefix)
    path = folder / f"{prefix}{os.getpid()}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # ours alone and new: never waits
        try:
            yield path
        finally:
            remove_database_files(path, lock_files=True)
    finally:
        os.close(fd)


def remove_left_over_copies(folder: Path, prefix: str) -> None:
    """Delete the ``<prefix><digits>`` copies in ``folder`` that no running process holds."""
    for path in folder.glob(f"{glob.escape(prefix)}*"):
        if not path.name[len(prefix):].isdigit():
            continue  # a -journal or lock file of one: goes with its copy
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # gone meanwhile, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a run is still writing it
        finally:
            os.close(fd)
        remove_database_files(path, lock_files=True)


def place_without_replacing(copy: Path, target: Path) -> None:
    """Give the complete ``copy`` the name ``target``, which must not exist yet, durably.

    A hard link never replaces a file made meanwhile; where the file system has no
    hard links (FAT, some network shares), the name is claimed with an exclusive
    create and the copy renamed over it.
    """
    fsync(copy)
    try:
        os.link(copy, target)
    except FileExistsError:
        raise _taken(target) from None
    except OSError:
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise _taken(target) from None
        os.replace(copy, target)
    fsync(target.parent)


def fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _taken(target: Path) -> Conflict:
    return Conflict(f"{target} already exists; choose a new file", field="path")
