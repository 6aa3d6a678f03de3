"""Shared fixtures: every test gets real SQLite files in its own temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven.config import DatabaseUrl
from haven.store import SQLiteStore, init_store

from haven.config import DEFAULT_GALAXY as GALAXY


@pytest.fixture
def db_url(tmp_path: Path) -> DatabaseUrl:
    return DatabaseUrl("sqlite", str(tmp_path / "haven.db"))


@pytest.fixture
def store(db_url: DatabaseUrl):
    """A fresh, migrated SQLite store with the default galaxy."""
    s: SQLiteStore = init_store(db_url)
    s.ensure_galaxy(GALAXY)
    yield s
    s.close()
