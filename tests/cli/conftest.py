"""Fixtures for driving the ``haven`` command line against real temporary SQLite files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from haven.cli import app

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # for the cli_helpers module, whatever pytest's import mode
    sys.path.insert(0, HERE)


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

    return invoke
