"""Commands that only read (stats, export, map, backup, db current) leave the database file exactly as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cli_helpers import Invoke, assert_ok
from dbfiles import file_digest, journal_mode


@pytest.fixture
def backup_copy(haven: Invoke, tmp_path: Path) -> Path:
    """A backup of the demo galaxy: a file in rollback-journal mode, as `haven backup` leaves it."""
    assert_ok(haven("init"))
    target = tmp_path / "backups" / "copy.db"
    assert_ok(haven("backup", target))
    assert journal_mode(target) == "delete"
    return target


def _read_commands(out: Path) -> list[list[str]]:
    return [
        ["stats"],
        ["stats", "--json"],
        ["export", "-o", str(out / "all.json")],
        ["export", "-o", str(out / "all.parquet")],
        ["export", "-f", "legacy-json", "-o", str(out / "legacy.json")],
        ["map", "--system", "KORVAX 12/B3", "-o", str(out / "system.html")],
        ["backup", str(out / "second.db")],
        ["db", "current"],
    ]


def test_read_commands_leave_a_backup_unchanged(haven: Invoke, backup_copy: Path, tmp_path: Path) -> None:
    before = file_digest(backup_copy)
    out = tmp_path / "out"
    out.mkdir()
    for args in _read_commands(out):
        assert_ok(haven(*args, "--database", backup_copy))
    assert file_digest(backup_copy) == before
    assert journal_mode(backup_copy) == "delete"
    assert sorted(p.name for p in backup_copy.parent.iterdir()) == ["copy.db"]  # no -wal, -shm or lock files


def test_a_region_map_of_a_backup_stores_no_chunks(haven: Invoke, backup_copy: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(backup_copy)
    try:
        region = conn.execute("SELECT name FROM region ORDER BY name LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    before = file_digest(backup_copy)
    assert_ok(haven("map", "--region", region, "-o", tmp_path / "region.html", "--database", backup_copy))
    assert file_digest(backup_copy) == before
