"""``haven db current | upgrade | downgrade``."""

from __future__ import annotations

from pathlib import Path

from haven.config import DatabaseUrl
from haven.store import migrate

from cli_helpers import Invoke, assert_fails, assert_ok


def test_downgrade_to_base_and_back(haven: Invoke, db_path: Path) -> None:
    url = DatabaseUrl("sqlite", str(db_path))
    head = migrate.head_revision()
    assert_ok(haven("init", "--no-demo"))
    assert f"{head} (head)" in haven("db", "current").output

    assert_ok(haven("db", "downgrade", "base", "--yes"))
    assert migrate.current_revision(url) is None
    current = haven("db", "current")
    assert_ok(current)
    assert "none" in current.output

    assert_ok(haven("db", "upgrade"))
    assert migrate.current_revision(url) == head
    assert f"{head} (head)" in haven("db", "current").output


def test_downgrade_one_step_by_default(haven: Invoke, db_path: Path) -> None:
    url = DatabaseUrl("sqlite", str(db_path))
    assert_ok(haven("init", "--no-demo"))
    assert_ok(haven("db", "downgrade", "--yes"))
    after_one = migrate.current_revision(url)
    assert after_one != migrate.head_revision()
    # "-1" is taken as the revision, not as an option
    assert_ok(haven("db", "upgrade"))
    assert_ok(haven("db", "downgrade", "-1", "--yes"))
    assert migrate.current_revision(url) == after_one


def test_downgrade_asks_first(haven: Invoke, db_path: Path) -> None:
    url = DatabaseUrl("sqlite", str(db_path))
    assert_ok(haven("init", "--no-demo"))
    assert_fails(haven("db", "downgrade", "base", input="n\n"), 1)
    assert migrate.current_revision(url) == migrate.head_revision()


def test_commands_refuse_an_old_schema(haven: Invoke) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert_ok(haven("db", "downgrade", "--yes"))
    assert_fails(haven("stats"), 1, "haven db upgrade")


def test_unknown_revision(haven: Invoke) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert_fails(haven("db", "upgrade", "nonsense"), 1, "nonsense")
    assert_fails(haven("db", "downgrade", "nonsense", "--yes"), 1, "nonsense")


def test_downgrade_of_an_empty_database(haven: Invoke) -> None:
    assert_fails(haven("db", "downgrade", "--yes"), 1, "no schema")
