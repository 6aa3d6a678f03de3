"""``haven generate`` and bulk ``haven import`` of Parquet/CSV/JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cli_helpers import Invoke, assert_fails, assert_ok, system_count
from dbfiles import file_digest


def test_generate_is_deterministic_and_idempotent(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("generate", "--systems", "2500", "--seed", "7"))
    assert system_count(db_path) == 2500
    assert_ok(haven("generate", "--systems", "2500", "--seed", "7"))  # finished job: nothing more
    assert system_count(db_path) == 2500
    other = tmp_path / "other.db"
    assert_ok(haven("generate", "--systems", "2500", "--seed", "7", "--database", str(other)))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert_ok(haven("export", "--output", str(a)))
    assert_ok(haven("export", "--output", str(b), "--database", str(other)))
    strip = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k != "_meta"}  # noqa: E731
    assert strip(a) == strip(b)


def test_another_generate_into_a_generated_galaxy_says_how_to_go_on(haven: Invoke, db_path: Path) -> None:
    assert_ok(haven("generate", "--systems", "300", "--seed", "7"))
    refused = haven("generate", "--systems", "300", "--seed", "8")
    assert_fails(refused, 1, "n=300, seed=7", "it holds 300 systems", "Run that generate again",
                 "rename that system first", "--galaxy NAME")
    assert system_count(db_path) == 300


def test_generate_refuses_bad_counts(haven: Invoke) -> None:
    assert_fails(haven("generate", "--systems", "0"), 2)


def test_bulk_parquet_import_all_or_nothing(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"name": ["Pq One", "Pq Two"], "x": [1.0, 2.0], "y": [0.0, 0.0],
                             "z": [0.0, float("nan")], "region": ["R", "R"]}), bad)
    before = file_digest(db_path)
    assert_fails(haven("import", str(bad)), 1, "row 2", "z")
    assert system_count(db_path) == 0
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"name": ["Pq One", "Pq Two"], "x": [1.0, 2.0], "y": [0.0, 0.0],
                             "z": [0.0, 1.0], "region": ["R", "R"]}), good)
    assert_ok(haven("import", str(good)))
    assert system_count(db_path) == 2
    assert before  # the database file existed throughout


def test_bulk_import_rejects_legacy_only_options(haven: Invoke, tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text('{"name": "J1", "x": 1, "y": 2, "z": 3}\n')
    assert_fails(haven("import", str(f), "--dry-run"), 2, "--dry-run")
