"""The locks beside a database file: who may run beside whom, and that they let go."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven.errors import StoreUnavailable
from haven.store import filelocks


def test_parts_of_one_load_share_its_lock_and_a_restore_waits_for_it(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    first, second = filelocks.loading(db), filelocks.loading(db)  # the entry point, then the loader
    with pytest.raises(StoreUnavailable, match="a bulk load .* is writing to"):
        filelocks.restoring(db)
    first.release()
    with pytest.raises(StoreUnavailable, match="a bulk load .* is writing to"):
        filelocks.restoring(db)  # held until the last part lets go
    second.release()
    second.release()  # a second release of one part changes nothing
    with filelocks.restoring(db):
        with pytest.raises(StoreUnavailable, match="a restore or a schema change is writing to"):
            filelocks.loading(db)
    filelocks.loading(db).release()  # released when the restore ended


def test_a_second_load_of_a_database_is_refused_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "h.db"
    assert not filelocks.load_running(db)
    held = filelocks.loading(db)
    assert filelocks.load_running(db)
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from haven.store import filelocks; filelocks.loading(sys.argv[1])", str(db)],
        capture_output=True, text=True)
    assert other.returncode == 1 and "a bulk load (haven generate or haven import)" in other.stderr
    held.release()
    assert not filelocks.load_running(db)


def test_servers_share_theirs_and_a_schema_change_needs_it_alone(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with filelocks.serving(db), filelocks.serving(db):
        with pytest.raises(StoreUnavailable, match=r"a server \(haven serve\) has .* open"):
            filelocks.changing_schema(db)
    with filelocks.changing_schema(db):
        with pytest.raises(StoreUnavailable, match="is being changed"):
            filelocks.serving(db)
        filelocks.loading(db).release()  # the two pairs never block each other


def test_a_lock_file_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open the lock file .*missing"):
        filelocks.restoring(tmp_path / "missing" / "h.db")


def test_databases_that_are_not_files_take_no_lock() -> None:
    assert filelocks.loading(":memory:") is None and filelocks.serving(None) is None


def test_a_second_restore_or_schema_change_is_told_what_holds_the_file(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with filelocks.restoring(db):
        with pytest.raises(StoreUnavailable, match="a restore or a schema change is writing to"):
            filelocks.restoring(db)
    with filelocks.changing_schema(db):
        with pytest.raises(StoreUnavailable, match="is being changed"):
            filelocks.changing_schema(db)


def test_a_symlink_to_the_database_meets_the_same_lock(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    db = tmp_path / "real" / "h.db"
    db.write_bytes(b"")
    link = tmp_path / "link.db"
    link.symlink_to(db)
    with filelocks.serving(db):
        with pytest.raises(StoreUnavailable, match=r"a server \(haven serve\)"):
            filelocks.changing_schema(link)


def test_a_folder_nobody_may_add_files_to_takes_no_lock_and_refuses_nothing(tmp_path: Path, monkeypatch) -> None:
    """A database in a read-only folder (its WAL files already there) kept working before the locks."""
    import errno
    import os

    real_open = os.open

    def read_only_folder(path, flags, *args):  # what the kernel answers there, for a file not there yet
        if str(path).endswith(".lock"):
            if flags & os.O_CREAT:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only_folder)
    db = tmp_path / "h.db"
    with filelocks.serving(db), filelocks.changing_schema(db), filelocks.restoring(db):
        pass


def test_a_lock_file_another_user_made_is_still_locked_read_only(tmp_path: Path, monkeypatch) -> None:
    """Not taken for "no lock": the other user's process may hold it."""
    import errno
    import os

    db = tmp_path / "h.db"
    theirs = filelocks.serving(db)  # the other user's server
    real_open = os.open

    def not_writable(path, flags, *args):
        if str(path).endswith(".lock") and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", not_writable)
    with pytest.raises(StoreUnavailable, match=r"a server \(haven serve\)"):
        filelocks.changing_schema(db)
    theirs.release()
