"""Shared fixtures: every test gets real SQLite files in its own temporary folder."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from haven.cli import app
from haven.config import DatabaseUrl
from haven.store import SQLiteStore, init_store

from haven.config import DEFAULT_GALAXY as GALAXY

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # for the dbfiles module shared by the test folders
    sys.path.insert(0, HERE)


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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "haven.db"


@pytest.fixture
def haven(db_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run ``haven ARGS…`` in-process with HAVEN_DATABASE_URL pointing at a temporary file."""
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{db_path}")
    monkeypatch.delenv("HAVEN_SQLITE_SYNCHRONOUS", raising=False)
    runner = CliRunner(env={"COLUMNS": "240"})

    def invoke(*args: object, input: str | None = None) -> Result:
        return runner.invoke(app, [str(a) for a in args], input=input)

    invoke.db = db_path
    return invoke


@pytest.fixture
def edit_between_pages(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``edit_between_pages(store, batch, edit)``: the store's export iterations (``iter_systems``,
    ``stored_batches``) read pages of ``batch``, and ``edit()`` runs once their first page is
    consumed: a write in the middle of one export, on whichever thread advances it."""

    def arrange(store: SQLiteStore, batch: int, edit: Callable[[], None]) -> None:
        real_iter, real_batches = store.iter_systems, store.stored_batches

        def iter_systems(galaxy: str) -> Iterator[dict[str, Any]]:
            it = real_iter(galaxy, batch_size=batch)
            try:
                for i, s in enumerate(it):
                    yield s
                    if i == batch - 1:
                        edit()
            finally:
                it.close()

        def stored_batches(galaxy: str) -> Iterator[list[dict[str, Any]]]:
            it = real_batches(galaxy, batch_size=batch)
            try:
                for i, rows in enumerate(it):
                    yield rows
                    if i == 0:
                        edit()
            finally:
                it.close()

        monkeypatch.setattr(store, "iter_systems", iter_systems)
        monkeypatch.setattr(store, "stored_batches", stored_batches)

    return arrange
