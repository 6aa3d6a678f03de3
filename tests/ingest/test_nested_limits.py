"""Nested planets and moons in bulk files keep the model's limits (those the API keeps):
too many is a row error naming the line and field, exit code 1, and nothing written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from import_checks import import_refused

from haven.config import DatabaseUrl
from haven.ingest.bulk import bulk_import
from haven.model import MAX_MOONS_PER_PLANET, MAX_PLANETS
from haven.store import open_store
from haven.store.bulk import BulkRowError

STORED = {"name": "KEPT", "id": "kept-1", "x": 1, "y": 2, "z": 3}


def planets(n: int, moons: int = 0) -> list[dict[str, Any]]:
    return [{"name": f"P{i}", "moons": [{"name": f"P{i}-{j}"} for j in range(moons)]} for i in range(n)]


def write_jsonl(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in lines), encoding="utf-8")
    return path


def db_state(db: Path) -> tuple[list, list, list]:
    """Galaxies, systems and planets as stored (what a refused import must leave alone)."""
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("SELECT id, name, system_count FROM galaxy ORDER BY id").fetchall(),
                conn.execute("SELECT id, name, version, seed FROM system ORDER BY id").fetchall(),
                conn.execute("SELECT id, system_id, name FROM planet ORDER BY id").fetchall())
    finally:
        conn.close()


@pytest.fixture
def haven(haven, tmp_path: Path):
    """``haven ARGS…`` against a database holding one system (legacy id ``kept-1``)."""
    assert haven("init", "--no-demo").exit_code == 0
    result = haven("import", write_jsonl(tmp_path / "stored.jsonl", STORED))
    assert result.exit_code == 0, result.output
    return haven


def refused(haven, path: Path, *fragments: str, galaxy: str | None = None) -> str:
    """``haven import PATH`` fails with one error line holding every fragment; nothing changes."""
    return import_refused(haven, [path, *(["-g", galaxy] if galaxy else [])], fragments, db_state)


def test_a_system_line_with_too_many_planets_is_refused(haven, tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl",
                       {"name": "A", "x": 1, "y": 2, "z": 3},
                       {"name": "B", "x": 1, "y": 2, "z": 3, "planets": planets(70)})
    refused(haven, path, "many.jsonl line 2: planets:", f"at most {MAX_PLANETS} planets", "not 70",
            "nothing was written", galaxy="NEW")


def test_a_details_line_with_too_many_planets_is_refused(haven, tmp_path):
    path = write_jsonl(tmp_path / "details.jsonl", {"id": "kept-1", "planets": planets(MAX_PLANETS + 1)})
    refused(haven, path, "details.jsonl line 1: planets:", f"at most {MAX_PLANETS} planets")


def test_a_csv_planets_cell_with_too_many_planets_is_refused(haven, tmp_path):
    path = tmp_path / "flat.csv"
    cell = json.dumps(planets(MAX_PLANETS + 6)).replace('"', '""')
    path.write_text(f'name,x,y,z,planets\nC,1,2,3,[]\nD,1,2,3,"{cell}"\n', encoding="utf-8")
    refused(haven, path, "flat.csv row 2: planets:", f"at most {MAX_PLANETS} planets")


def test_too_many_moons_on_a_planet_is_refused(haven, tmp_path):
    path = write_jsonl(tmp_path / "moons.jsonl",
                       {"name": "M", "x": 1, "y": 2, "z": 3, "planets": planets(2, MAX_MOONS_PER_PLANET + 1)})
    refused(haven, path, "moons.jsonl line 1: planets[0].moons", f"at most {MAX_MOONS_PER_PLANET}")


def test_the_limits_themselves_are_accepted(haven, tmp_path):
    path = write_jsonl(tmp_path / "full.jsonl",
                       {"name": "FULL", "x": 1, "y": 2, "z": 3, "planets": planets(MAX_PLANETS, 1)},
                       {"id": "kept-1", "planets": planets(MAX_PLANETS)})
    result = haven("import", path)
    assert result.exit_code == 0, result.output
    counts = dict(sqlite3.connect(haven.db).execute(
        "SELECT s.name, COUNT(p.id) FROM system s JOIN planet p ON p.system_id = s.id GROUP BY s.name"))
    assert counts == {"FULL": MAX_PLANETS, "KEPT": MAX_PLANETS}


def test_without_checking_first_the_batch_with_too_many_planets_writes_nothing(haven, tmp_path):
    """Batches before the bad one are committed; the bad one's systems are not."""
    path = write_jsonl(tmp_path / "batches.jsonl",
                       {"name": "FIRST", "x": 1, "y": 2, "z": 3},
                       {"name": "SECOND", "x": 1, "y": 2, "z": 3},
                       {"name": "THIRD", "x": 1, "y": 2, "z": 3, "planets": planets(70)})
    store = open_store(DatabaseUrl("sqlite", str(haven.db)))
    try:
        with pytest.raises(BulkRowError, match="batches.jsonl line 3: planets: .*at most 64 planets") as error:
            bulk_import(store, "Haven", path, batch_rows=2, check_first=False)
        assert error.value.field == "planets" and error.value.batch_index == 1
    finally:
        store.close()
    names = {name for _, name, _, _ in db_state(haven.db)[1]}
    assert names == {"KEPT", "FIRST", "SECOND"}
