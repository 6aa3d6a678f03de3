"""Assertions and database probes shared by the CLI tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Invoke = Callable[..., Result]


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


def assert_fails(result: Result, code: int, *fragments: str) -> None:
    """Failed with ``code``, said each fragment, and raised nothing but a clean exit (no traceback)."""
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"


def system_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COALESCE(SUM(system_count), 0) FROM galaxy").fetchone()[0]
    finally:
        conn.close()


