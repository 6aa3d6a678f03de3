"""When the disk, not the request, stops a write: a clear 507 or 503, never a 500, and nothing written."""

from __future__ import annotations

import sqlite3

from fastapi.testclient import TestClient

from haven.api import create_app
from haven.api.errors import storage_failure
from haven.config import DEFAULT_GALAXY as GALAXY, DatabaseUrl
from haven.store import SQLiteStore, open_store


def _fill_the_disk(store: SQLiteStore, monkeypatch) -> None:
    """SQLite's own limit on the file's pages, on every connection: a write that needs a new page
    fails with SQLITE_FULL, as on a full disk."""
    connect = SQLiteStore._connect

    def capped(self, **kwargs):
        conn = connect(self, **kwargs)
        conn.execute("PRAGMA max_page_count = 1").fetchone()  # never below the pages it has
        return conn

    monkeypatch.setattr(SQLiteStore, "_connect", capped)
    for conn in store._connections:
        conn.execute("PRAGMA max_page_count = 1").fetchone()


def test_a_write_on_a_full_disk_is_a_507_that_writes_nothing(store, monkeypatch) -> None:
    with TestClient(create_app(store), raise_server_exceptions=False) as client:
        assert client.post("/api/v1/systems", json={"name": "Before", "x": 0, "y": 0, "z": 0}).status_code == 201
        _fill_the_disk(store, monkeypatch)
        big = {"name": "Too big", "x": 1, "y": 2, "z": 3, "materials": "Gold " * 3000,
               "planets": [{"name": f"P{i}", "notes": "n" * 15000} for i in range(8)]}
        answer = client.post("/api/v1/systems", json=big)
        assert answer.status_code == 507, answer.text
        error = answer.json()["error"]
        assert error["code"] == "store_unavailable" and "disk holding the database is full" in error["message"]
        assert answer.headers["Retry-After"] == "60"
        listed = client.get("/api/v1/systems").json()
        assert [s["name"] for s in listed["items"]] == ["Before"] and listed["total"] == 1


def test_a_write_the_file_refuses_is_named_as_read_only(tmp_path) -> None:
    path = tmp_path / "probe.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    reader = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)  # what a read-only share gives a server
    try:
        reader.execute("INSERT INTO t VALUES (1)")
    except sqlite3.Error as exc:
        refused = exc
    finally:
        reader.close()
    assert storage_failure(refused) == (503, "the database is read-only for this server; nothing was written")
    assert storage_failure(sqlite3.OperationalError("no such table: x")) is None


def test_a_server_starts_on_a_database_it_may_only_read(store, db_url: DatabaseUrl) -> None:
    """Opening the galaxy it serves writes nothing when the galaxy is there (a read-only share)."""
    reader = open_store(db_url, read_only=True)
    try:
        with TestClient(create_app(reader), raise_server_exceptions=False) as client:
            assert client.get("/healthz").json()["galaxy"] == GALAXY
            assert client.get("/api/v1/systems").status_code == 200
            refused = client.post("/api/v1/systems", json={"name": "No", "x": 0, "y": 0, "z": 0})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only"
    finally:
        reader.close()
