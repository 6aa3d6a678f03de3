"""A store opened read-only reads everything and cannot change its file in any way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from haven.config import DEFAULT_GALAXY as GALAXY, DatabaseUrl
from haven.errors import StoreReadOnly
from haven.model import validate_system
from haven.store import SQLiteStore, open_store

from dbfiles import file_digest, journal_mode


@pytest.fixture
def backup_copy(store: SQLiteStore, tmp_path: Path) -> Path:
    """A backup (rollback journal, as `haven backup` writes it) of a store holding one system."""
    store.create(GALAXY, validate_system({"name": "KEEP 1/A", "x": 1.0, "y": 2.0, "z": 3.0, "region": "R"}))
    target = tmp_path / "copy.db"
    store.backup(target)
    return target


def test_reads_leave_a_backup_byte_for_byte_as_it_was(backup_copy: Path) -> None:
    before = file_digest(backup_copy)
    assert journal_mode(backup_copy) == "delete"
    store = open_store(DatabaseUrl("sqlite", str(backup_copy)), read_only=True)
    try:
        assert store.system_by_name(GALAXY, "KEEP 1/A")["x"] == 1.0
        assert store.stats(GALAXY)["total_systems"] == 1
        assert [s["name"] for s in store.page(GALAXY).items] == ["KEEP 1/A"]
        store.start_background_maintenance(interval_s=0.01)  # nothing to do for a reader: never started
        assert store._maintenance is None
    finally:
        store.close()
    assert file_digest(backup_copy) == before
    assert journal_mode(backup_copy) == "delete"  # a writable open would have switched it to WAL
    assert sorted(p.name for p in backup_copy.parent.glob("copy.db*")) == ["copy.db"]


def test_a_write_is_refused_with_a_typed_error_and_changes_nothing(backup_copy: Path) -> None:
    before = file_digest(backup_copy)
    store = open_store(DatabaseUrl("sqlite", str(backup_copy)), read_only=True)
    try:
        with pytest.raises(StoreReadOnly, match="read-only") as refused:
            store.create(GALAXY, validate_system({"name": "NEW 1/A", "x": 0.0, "y": 0.0, "z": 0.0}))
        assert refused.value.status == 403
        assert store.store_chunk(GALAXY, 0, 0, 1, b"chunk") is False  # a cache entry: skipped, not an error
        with pytest.raises(sqlite3.OperationalError, match="readonly"):  # even SQL around the store's turns
            store.conn.execute("DELETE FROM system")
    finally:
        store.close()
    assert file_digest(backup_copy) == before

