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
    with scratch_copy(tmp_path, ".b.db.backup-") as mine:
        assert not left.exists() and not Path(f"{left}-journal").exists()
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
