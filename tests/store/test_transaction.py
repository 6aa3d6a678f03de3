"""The one BEGIN … COMMIT / ROLLBACK helper every hand-run transaction goes through."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from haven.store.sqlite import transaction


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, "
                 "parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    yield conn
    conn.close()


def _count(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_a_block_that_ends_normally_commits(conn: sqlite3.Connection) -> None:
    with transaction(conn) as same:
        assert same is conn and conn.in_transaction
        conn.execute("INSERT INTO parent (id) VALUES (1)")
    assert not conn.in_transaction
    assert _count(conn, "parent") == 1


def test_a_block_that_raises_changes_nothing_and_its_error_is_raised(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="stop here"):
        with transaction(conn):
            conn.execute("INSERT INTO parent (id) VALUES (1)")
            raise ValueError("stop here")
    assert not conn.in_transaction
    assert _count(conn, "parent") == 0


def test_an_interrupt_rolls_back_too(conn: sqlite3.Connection) -> None:
    with pytest.raises(KeyboardInterrupt):
        with transaction(conn):
            conn.execute("INSERT INTO parent (id) VALUES (1)")
            raise KeyboardInterrupt
    assert not conn.in_transaction
    assert _count(conn, "parent") == 0


def test_a_block_abandoned_by_its_generator_rolls_back(conn: sqlite3.Connection) -> None:
    """A ``@contextmanager`` that yields inside ``transaction`` and is closed (GeneratorExit) mid-way."""

    def writes():
        with transaction(conn):
            conn.execute("INSERT INTO parent (id) VALUES (1)")
            yield

    gen = writes()
    next(gen)
    assert conn.in_transaction
    gen.close()
    assert not conn.in_transaction
    assert _count(conn, "parent") == 0


def test_a_failed_commit_is_rolled_back(conn: sqlite3.Connection) -> None:
    # A deferred foreign key is checked at COMMIT, which then fails and leaves the transaction open.
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        with transaction(conn):
            conn.execute("INSERT INTO parent (id) VALUES (1)")
            conn.execute("INSERT INTO child (id, parent_id) VALUES (1, 99)")
    assert not conn.in_transaction
    assert _count(conn, "parent") == 0 and _count(conn, "child") == 0


def test_a_transaction_sqlite_already_ended_is_not_rolled_back_again(conn: sqlite3.Connection) -> None:
    # "cannot rollback - no transaction is active" must not hide the block's own error.
    with pytest.raises(KeyError, match="the block's own"):
        with transaction(conn):
            conn.execute("INSERT INTO parent (id) VALUES (1)")
            conn.execute("ROLLBACK")
            raise KeyError("the block's own")
    assert _count(conn, "parent") == 0


def test_immediate_takes_the_write_lock_at_begin(conn: sqlite3.Connection, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, timeout=0)
    try:
        with transaction(conn, immediate=True):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        with transaction(conn):  # deferred: no lock until the first write
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
