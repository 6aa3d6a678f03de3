"""Scratch copies beside their destination: left-overs go, copies in work stay, nothing is replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from haven.errors import Conflict
from haven.store.scratch import place_without_replacing, remove_left_over_copies, scratch_copy


def test_a_copy_in_work_is_kept_and_one_left_over_is_removed(tmp_path: Path) -> None:
    left = tmp_path / ".b.db.backup-12345"  # a killed run's: nobody holds it
    left.write_bytes(b"old")
    Path(f"{left}-journal").write_bytes(b"j")
    # named after a process that is alive (in another container, say), but nobody holds it
    alive = tmp_path / f".b.db.backup-{os.getppid()}-0a1b2c3d4e5f"
    alive.write_bytes(b"old too")
    with scratch_copy(tmp_path, ".b.db.backup-") as mine:
        assert not left.exists() and not Path(f"{left}-journal").exists() and not alive.exists()
        mine.write_bytes(b"in work")
        remove_left_over_copies(tmp_path, ".b.db.backup-")  # another run starting meanwhile
        assert mine.read_bytes() == b"in work"
    assert list(tmp_path.iterdir()) == []


def test_placing_never_replaces_a_file_and_works_without_hard_links(tmp_path: Path, monkeypatch) -> None:
    copy, target = tmp_path / "copy", tmp_path / "target"
    copy.write_bytes(b"new")
    target.write_bytes(b"someone else's")
    with pytest.raises(Conflict, match="already exists"):
        place_without_replacing(copy, target)
    assert target.read_bytes() == b"someone else's"
    target.unlink()

    def no_links(src: object, dst: object) -> None:  # FAT, some network shares
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    place_without_replacing(copy, target)
    assert target.read_bytes() == b"new" and not copy.exists()


def test_two_runs_with_the_same_process_id_never_share_a_copy(tmp_path: Path) -> None:
    with scratch_copy(tmp_path, ".b.db.backup-") as first, scratch_copy(tmp_path, ".b.db.backup-") as second:
        assert first != second
        first.write_bytes(b"first")
        second.write_bytes(b"second")
        assert first.read_bytes() == b"first"


def test_a_link_that_fails_for_another_reason_leaves_nothing_at_the_target(tmp_path: Path, monkeypatch) -> None:
    import errno

    copy, target = tmp_path / "copy", tmp_path / "target"
    copy.write_bytes(b"new")

    def full_disk(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", full_disk)
    with pytest.raises(OSError, match="No space"):
        place_without_replacing(copy, target)
    assert not target.exists()


def test_a_folder_that_cannot_be_locked_is_a_clear_error_not_an_endless_retry(tmp_path: Path, monkeypatch) -> None:
    import errno
    import fcntl

    from haven.errors import StoreUnavailable

    def no_locks(fd: int, operation: int) -> None:  # an NFS mount without its lock daemon
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(StoreUnavailable, match="cannot lock .*No locks available"):
        with scratch_copy(tmp_path, ".b.db.backup-"):
            pass
    assert list(tmp_path.iterdir()) == []
