"""Imports refuse the names the model refuses (bidirectional controls, line separators, C1
controls, nothing visible): each is a problem naming the record and the field, never a crash,
and ``haven import`` of such a file changes nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from import_checks import import_refused

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.errors import ImportFailed
from haven.ingest import import_file

GOOD = {"x": 1, "y": 2, "z": 3, "region": "Core"}


def legacy_file(tmp_path: Path, systems: dict) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(systems), encoding="utf-8")
    return path


def jsonl_file(tmp_path: Path, *rows: dict) -> Path:
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def state(store) -> tuple:
    stats = store.stats(GALAXY)
    stats.pop("database_size_bytes")
    stats.pop("wal_size_bytes")
    return stats, list(store.iter_systems(GALAXY))


def test_the_legacy_importer_names_each_record_and_field(store, tmp_path):
    path = legacy_file(tmp_path, {
        "Fine": GOOD,
        "Evil\u202eX": {**GOOD, "z": 4},
        "Hidden": {**GOOD, "z": 5, "region": "\u200b", "planets": [
            {"name": "\u2060", "moons": [{"name": "M\u2029oon"}]}], "space_station": {"name": "A\x9bB"}},
    })
    before = state(store)
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    problems = info.value.problems
    assert any(p.endswith("(#2): name: must not contain U+202E (RIGHT-TO-LEFT OVERRIDE)") for p in problems), problems
    # the record is labelled with the override written out: printed live, it would reverse the line
    assert any(p.startswith('record "Evil\\u202eX" (#2)') for p in problems), problems
    assert not any("\u202e" in p for p in problems)
    hidden = [p for p in problems if p.startswith('record "Hidden" (#3): ')]
    for said in ("region: must contain a visible character",
                 "planets[0].name: must contain a visible character",
                 "planets[0].moons[0].name: must not contain U+2029 (PARAGRAPH SEPARATOR)",
                 "space_station.name: must not contain the control character U+009B"):
        assert any(said in p for p in hidden), (said, hidden)
    assert state(store) == before
    report = import_file(store, GALAXY, path, dry_run=True)
    assert not report.ok and len(report.problems) == len(problems)


def test_legitimate_names_import_unchanged(store, tmp_path):
    names = ["👩\u200d🚀 Base", "می\u200cخواهم", "שלום", "e\u0301toile"]
    path = legacy_file(tmp_path, {n: {**GOOD, "x": i, "planets": [{"name": n}]} for i, n in enumerate(names)})
    assert import_file(store, GALAXY, path).created == len(names)
    assert sorted(s["name"] for s in store.iter_systems(GALAXY)) == sorted(names)


# -- haven import ---------------------------------------------------------------------------------


def db_state(db: Path) -> tuple[list, list]:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("SELECT id, name, system_count FROM galaxy ORDER BY id").fetchall(),
                conn.execute("SELECT id, name, version FROM system ORDER BY id").fetchall())
    finally:
        conn.close()


@pytest.fixture
def haven(haven):
    assert haven("init", "--no-demo").exit_code == 0
    return haven


def test_haven_import_of_a_legacy_file_changes_nothing(haven, tmp_path):
    path = legacy_file(tmp_path, {"Fine": GOOD, "Also fine": {**GOOD, "planets": [{"name": "\u200b\u200c"}]}})
    error = import_refused(haven, [path], ["data.json", "1 problem", "nothing was imported"], db_state)
    assert "Traceback" not in error


def test_haven_import_names_the_problem(haven, tmp_path):
    path = legacy_file(tmp_path, {"Fine": GOOD, "Also fine": {**GOOD, "planets": [{"name": "\u200b\u200c"}]}})
    result = haven("import", path)
    assert result.exit_code == 1
    assert 'record "Also fine" (#2): planets[0].name: must contain a visible character' in result.output


@pytest.mark.parametrize("row, said", [
    ({"name": "Fine", **GOOD, "region": "R\u202dX"}, "s.jsonl line 1: region: must not contain U+202D"),
    ({"name": "Fine", **GOOD, "planets": [{"name": "\ufeff"}]},
     "s.jsonl line 1: planets[0].name: must contain a visible character"),
    ({"name": "Fine", **GOOD, "space_station": {"name": "S\u2069"}},
     "s.jsonl line 1: space_station.name: must not contain U+2069 (POP DIRECTIONAL ISOLATE)"),
], ids=["region", "planet", "station"])
def test_haven_import_of_a_jsonl_file_refuses_the_name(haven, tmp_path, row, said):
    import_refused(haven, [jsonl_file(tmp_path, {"name": "Before", **GOOD}, row)],
                   [said.replace("line 1", "line 2"), "nothing was written"], db_state)


@pytest.mark.parametrize("name", ["Evil\u202eX", "\u200b"], ids=["bidi", "zwsp"])
def test_haven_import_of_a_jsonl_file_refuses_a_system_name(haven, tmp_path, name):
    import_refused(haven, [jsonl_file(tmp_path, {"name": name, **GOOD})], ["s.jsonl line 1: name: must"], db_state)


@pytest.mark.parametrize("galaxy, said", [("Milky\u202eWay", "the galaxy name must not contain U+202E"),
                                          ("\u200b\u3164", "the galaxy name must contain a visible character")],
                         ids=["bidi", "invisible"])
def test_haven_import_into_a_galaxy_whose_name_is_refused_creates_nothing(haven, tmp_path, galaxy, said):
    path = legacy_file(tmp_path, {"Fine": GOOD})
    import_refused(haven, [path, "--galaxy", galaxy], [said], db_state)
    init = haven("init", "--no-demo", "--galaxy", galaxy)
    assert init.exit_code == 1 and said in init.output
