"""``haven db current | upgrade | downgrade``."""

from __future__ import annotations

import sqlite3
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


def test_the_confirmation_names_the_revision_a_step_back_reaches(haven: Invoke, db_path: Path) -> None:
    url = DatabaseUrl("sqlite", str(db_path))
    assert_ok(haven("init", "--no-demo"))
    head, previous = migrate.known_revisions()[:2]
    asked = haven("db", "downgrade", input="n\n")
    assert f"from revision {head} to {previous}?" in " ".join(asked.output.split())
    asked = haven("db", "downgrade", "base", input="n\n")
    assert "to base (an empty schema)?" in " ".join(asked.output.split())
    assert migrate.downgrade_target(migrate.known_revisions()[-1], "-1") == "base"
    assert migrate.downgrade_target(head, "-99") == "-99"  # past the oldest: Alembic refuses it
    assert migrate.current_revision(url) == head


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


def _foreign_db(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE systems (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
    conn.execute("INSERT INTO systems VALUES ('SYS_1', 'Old Star')")
    conn.commit()
    conn.close()


def test_init_and_upgrade_leave_another_programs_database_alone(haven: Invoke, tmp_path: Path) -> None:
    """The original tool's haven.db is imported, never upgraded in place with Haven's tables beside its own."""
    import sqlite3

    from dbfiles import file_digest

    old = tmp_path / "haven.db"
    _foreign_db(old)
    before = file_digest(old)
    for table in ("meta", "alembic_version"):  # names Haven uses too do not make it Haven's
        other = tmp_path / f"{table}.db"
        _foreign_db(other)
        sqlite3.connect(other).execute(f"CREATE TABLE {table} (v TEXT)").connection.commit()
        digest = file_digest(other)
        assert_fails(haven("init", "--no-demo", "-d", str(other)), 1, "a Haven database")
        assert file_digest(other) == digest
    for args in (("init",), ("init", "--no-demo"), ("db", "upgrade")):
        assert_fails(haven(*args, "-d", str(old)), 1, "is not a Haven database", "systems",
                     f"haven import {old}")
        assert file_digest(old) == before


def test_init_on_a_folder_says_so(haven: Invoke, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    assert_fails(haven("init", "-d", str(folder)), 1, "is a folder")


def test_downgrade_to_an_empty_revision_is_refused(haven: Invoke, db_path: Path) -> None:
    url = DatabaseUrl("sqlite", str(db_path))
    assert_ok(haven("init", "--no-demo"))
    assert_fails(haven("db", "downgrade", "", "--yes"), 1, "revision must not be empty")
    assert_fails(haven("db", "upgrade", ""), 1, "revision must not be empty")
    assert migrate.current_revision(url) == migrate.head_revision()


def test_the_head_written_down_is_alembics() -> None:
    """Stores check the schema against ``HEAD_REVISION`` without loading Alembic: a new migration must move it."""
    assert migrate.head_revision() == migrate.HEAD_REVISION == migrate.alembic_head()


def test_a_migration_that_fails_halfway_changes_nothing_and_a_rerun_finishes(haven: Invoke, db_path: Path) -> None:
    """Each migration is one transaction with the revision it records: revision 0004 creates
    a table, then an index whose name is taken here, so it fails after its first statement."""
    url = DatabaseUrl("sqlite", str(db_path))
    migrate.upgrade(url, "0003")
    con = sqlite3.connect(db_path)
    con.execute("CREATE INDEX system_change_system ON meta (key)")  # 0004's second statement collides
    con.commit()
    schema_before = con.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
    failed = haven("db", "upgrade", "--database", str(db_path))
    assert failed.exit_code != 0 and "Traceback" not in failed.output
    assert "system_change_system" in failed.output  # says what went wrong
    assert migrate.current_revision(url) == "0003"
    assert con.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall() == schema_before
    con.execute("DROP INDEX system_change_system")
    con.commit()
    con.close()
    assert_ok(haven("db", "upgrade", "--database", str(db_path)))
    assert migrate.current_revision(url) == migrate.head_revision()


def test_an_upgrade_with_nothing_to_do_says_so(haven: Invoke, db_path: Path) -> None:
    assert_ok(haven("db", "upgrade", "--database", str(db_path)))
    head = migrate.head_revision()
    same = haven("db", "upgrade", "--database", str(db_path))
    assert_ok(same)
    assert f"Schema revision: {head}, nothing to upgrade" in same.output
    older = haven("db", "upgrade", "0001", "--database", str(db_path))
    assert_ok(older)
    assert "0001 is not newer; `haven db downgrade 0001` goes back to it" in " ".join(older.output.split())
    assert migrate.current_revision(DatabaseUrl("sqlite", str(db_path))) == head


def test_schema_changes_are_refused_while_a_server_has_the_database_open(
        haven: Invoke, db_path: Path, monkeypatch) -> None:
    """A server reads the revision when it starts; a downgrade under it left searches missing
    systems and routes failing on tables that were gone."""
    import pytest
    from fastapi.testclient import TestClient

    from haven.api import create_app
    from haven.errors import StoreUnavailable
    from haven.store.filelocks import changing_schema

    url = DatabaseUrl("sqlite", str(db_path))
    head = migrate.head_revision()
    assert_ok(haven("init", "--no-demo"))
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{db_path}")
    with TestClient(create_app()) as client:
        assert_fails(haven("db", "downgrade", "--yes"), 1, "a server (haven serve) has", "stop it")
        assert migrate.current_revision(url) == head
        assert_ok(haven("db", "upgrade"))  # nothing to change: allowed, as is a second server
        assert client.get("/healthz").status_code == 200
    assert_ok(haven("db", "downgrade", "--yes"))  # the server stopped
    assert_ok(haven("db", "upgrade"))
    with changing_schema(db_path):  # a server that starts during a schema change does not start
        with pytest.raises(StoreUnavailable, match="is being changed"):
            with TestClient(create_app()):
                pass
        assert_fails(haven("serve", "--port", "8399"), 1, "is being changed")  # one line, before uvicorn
