"""``haven import`` (all or nothing, every problem named) and ``haven export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from haven.config import DatabaseUrl
from haven.store import open_store

from cli_helpers import Invoke, assert_fails, assert_ok, system_count
from dbfiles import file_digest

LEGACY = {
    "_meta": {"version": "1.0.0", "description": "three systems charted by hand"},
    "VELLAN 4/C2": {
        "id": "SYS_VELLAN",
        "name": "VELLAN 4/C2",
        "x": 12.5, "y": -3.25, "z": 0.75,
        "region": "Test Reach",
        "fauna": "High", "flora": 5, "sentinel": "Low",
        "materials": "Copper, Gold",
        "planets": [
            {"name": "Vellan Prime", "sentinel": "Low", "fauna": "N/A", "flora": "N/A",
             "moons": [{"name": "Vellan a", "sentinel": "None"}]}
        ],
        "space_station": {"name": "Vellan Dock", "x": 12.6, "y": -3.2, "z": 0.8},
        "discovered_by": "a field the model does not know",
    },
    "Quiet Harbour": {"name": "Quiet Harbour", "x": 1, "y": 2, "z": 3, "region": "Test Reach"},
    "Øresund": {"name": "Øresund", "x": -4, "y": 5, "z": -6},
}


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _store(db_path: Path):
    return open_store(DatabaseUrl("sqlite", str(db_path)))


def test_import_legacy_json(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    data = _write(tmp_path / "data.json", LEGACY)
    result = haven("import", data)
    assert_ok(result)
    assert "Imported" in result.output and "name-keyed" in result.output
    store = _store(db_path)
    try:
        assert store.stats("Haven")["total_systems"] == 3
        vellan = store.system_by_name("Haven", "VELLAN 4/C2")
        assert vellan["planets"][0]["moons"][0]["name"] == "Vellan a"
        assert vellan["space_station"]["name"] == "Vellan Dock"
        assert vellan["extra"]["discovered_by"] == "a field the model does not know"
    finally:
        store.close()


def test_import_into_a_new_galaxy(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert_ok(haven("import", _write(tmp_path / "d.json", LEGACY), "--galaxy", "Elsewhere"))
    assert_ok(haven("stats", "--galaxy", "Elsewhere"))
    assert "3" in haven("stats", "--galaxy", "Elsewhere", "--json").stdout


def test_dry_run_writes_nothing(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    result = haven("import", _write(tmp_path / "d.json", LEGACY), "--dry-run")
    assert_ok(result)
    assert "Dry run" in result.output
    assert system_count(db_path) == 0


def test_a_dry_run_with_problems_does_not_claim_what_it_would_create(
        haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    path = _write(tmp_path / "d.json", LEGACY)
    assert_ok(haven("import", path))
    result = haven("import", path, "--dry-run")  # every name is taken now
    assert_fails(result, 1, "already exists")
    assert "the import would fail and write nothing" in result.output and "Created" not in result.output


def test_legacy_only_options_on_a_flat_file_are_a_usage_error(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    flat = tmp_path / "s.csv"
    flat.write_text("name,x,y,z\nA,1,2,3\n")
    for option in (["--dry-run"], ["--on-conflict", "skip"]):
        assert_fails(haven("import", flat, *option), 2, "apply to legacy JSON and haven.db files only")
    assert system_count(db_path) == 0


def test_bad_records_are_all_named_and_nothing_is_written(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    bad = dict(LEGACY)
    bad["BROKEN ONE"] = {"name": "BROKEN ONE", "x": "far away", "y": 0, "z": 0}
    bad["BROKEN TWO"] = {"name": "BROKEN TWO", "x": 0, "y": 0}
    path = _write(tmp_path / "bad.json", bad)
    before = file_digest(db_path)

    result = haven("import", path)
    assert_fails(result, 1, "BROKEN ONE", "BROKEN TWO", "x", "z")
    assert system_count(db_path) == 0
    assert file_digest(db_path) == before

    dry = haven("import", path, "--dry-run")
    assert_fails(dry, 1, "BROKEN ONE", "BROKEN TWO")


def test_conflicts(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    path = _write(tmp_path / "d.json", LEGACY)
    assert_ok(haven("import", path))
    assert_fails(haven("import", path), 1, "already exists", "VELLAN 4/C2")
    skipped = haven("import", path, "--on-conflict", "skip")
    assert_ok(skipped)
    changed = json.loads(json.dumps(LEGACY))
    changed["Quiet Harbour"]["fauna"] = "Bountiful"
    assert_ok(haven("import", _write(tmp_path / "e.json", changed), "--on-conflict", "replace"))
    store = _store(db_path)
    try:
        assert store.stats("Haven")["total_systems"] == 3
        assert store.system_by_name("Haven", "Quiet Harbour")["fauna"] == "Bountiful"
    finally:
        store.close()


def test_not_json(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    path = tmp_path / "notes.json"
    path.write_text("{ this is not json", encoding="utf-8")
    assert_fails(haven("import", path), 1, "notes.json")


def _systems(db_path: Path, galaxy: str) -> list[dict]:
    store = _store(db_path)
    try:
        out = []
        for s in store.iter_systems(galaxy):
            for key in ("id", "version", "created_at", "modified_at"):
                s.pop(key, None)
            for p in s["planets"]:
                p.pop("id", None)
                for m in p["moons"]:
                    m.pop("id", None)
            out.append(s)
        return out
    finally:
        store.close()


def test_export_and_import_back(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init"))
    assert_ok(haven("import", _write(tmp_path / "d.json", LEGACY)))
    for fmt in ("haven-json", "legacy-json"):
        out = tmp_path / f"export-{fmt}.json"
        result = haven("export", "--format", fmt, "--output", out)
        assert_ok(result)
        assert "Exported 3,015 systems" in result.output
        assert json.loads(out.read_text(encoding="utf-8"))["_meta"]["galaxy"] == "Haven"
        assert_ok(haven("import", out, "--galaxy", f"Copy {fmt}"))
        original = _systems(db_path, "Haven")
        copy = _systems(db_path, f"Copy {fmt}")
        assert len(copy) == len(original) == 3015
        assert copy == original


def test_export_to_stdout(haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert_ok(haven("import", _write(tmp_path / "d.json", LEGACY)))
    result = haven("export")
    assert_ok(result)
    data = json.loads(result.stdout)
    assert sorted(s["name"] for s in data["data"]) == sorted(k for k in LEGACY if k != "_meta")


def test_export_to_stdout_is_utf8_whatever_the_terminal(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """PYTHONIOENCODING=ascii (or latin-1) used to crash, or to write a file import refused."""
    import os
    import subprocess

    assert_ok(haven("init", "--no-demo"))
    names = {"Ærø Prime": {"name": "Ærø Prime", "x": 1, "y": 2, "z": 3}, "東京": {"name": "東京", "x": 4, "y": 5, "z": 6}}
    assert_ok(haven("import", _write(tmp_path / "d.json", names)))
    for encoding in ("ascii", "latin-1"):
        done = subprocess.run([sys.executable, "-m", "haven.cli", "export", "-d", str(db_path)],
                              capture_output=True, env={**os.environ, "PYTHONIOENCODING": encoding})
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout.decode("utf-8"))
        assert sorted(s["name"] for s in data["data"]) == sorted(names)


def test_flat_export_by_extension_and_import_back(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init"))
    assert_ok(haven("import", _write(tmp_path / "d.json", LEGACY)))
    for suffix, fmt in ((".parquet", "parquet"), (".csv", "csv"), (".jsonl", "jsonl")):
        out = tmp_path / f"galaxy{suffix}"
        result = haven("export", "-o", out)
        assert_ok(result)
        assert f"Exported 3,015 systems of Haven to {out} as {fmt}" in " ".join(result.output.split())
        assert_ok(haven("import", out, "--galaxy", f"Copy {fmt}"))
        assert _systems(db_path, f"Copy {fmt}") == _systems(db_path, "Haven")
    result = haven("export", "--format", "jsonl")
    assert_ok(result)
    assert len(result.stdout.splitlines()) == 3015


def test_export_errors(haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert_fails(haven("export", "--format", "tsv"), 2, "tsv")
    assert_fails(haven("export", "--format", "parquet"), 2, "parquet", "--output")
    assert_fails(haven("export", "-o", tmp_path), 2, "folder")
    assert_fails(haven("export", "--galaxy", "Nowhere", "-o", tmp_path / "x.json"), 1, "Nowhere")
    assert_fails(haven("export", "--galaxy", "Nowhere", "-o", tmp_path / "x.parquet"), 1, "Nowhere")
    assert not any(p.name.startswith(("x.", ".x.")) for p in tmp_path.iterdir())


def test_a_malformed_source_date_epoch_is_bad_usage(haven: Invoke, tmp_path: Path, monkeypatch) -> None:
    assert_ok(haven("init", "--no-demo"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "abc")
    assert_fails(haven("export", "-o", tmp_path / "x.json"), 2, "SOURCE_DATE_EPOCH", "'abc'")
    assert not (tmp_path / "x.json").exists()


def test_demo_file_imports_with_the_legacy_importer(haven: Invoke, db_path: Path) -> None:
    from haven.demo import DEMO_FILE, handmade_systems

    assert_ok(haven("init", "--no-demo"))
    assert_ok(haven("import", DEMO_FILE))
    assert system_count(db_path) == len(handmade_systems())


def test_every_extension_export_writes_is_one_import_reads_back(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init"))
    for suffix in (".pq", ".ndjson"):
        path = tmp_path / f"copy{suffix}"
        assert_ok(haven("export", "-o", path))
        assert_ok(haven("import", path, "--galaxy", f"Copy {suffix}"))
        store = open_store(DatabaseUrl("sqlite", str(db_path)))
        try:
            assert store.stats(f"Copy {suffix}")["total_systems"] == store.stats("Haven")["total_systems"]
        finally:
            store.close()


def test_dry_run_into_a_galaxy_that_does_not_exist_yet(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """The getting-started workflow: check a file first, then import it into a new galaxy."""
    assert_ok(haven("init", "--no-demo"))
    data = _write(tmp_path / "d.json", LEGACY)
    result = haven("import", data, "--dry-run", "--galaxy", "Brand New")
    assert_ok(result)
    assert "Dry run" in result.output and "Brand New (does not exist yet" in result.output
    assert "3 (3 valid)" in result.output
    store = _store(db_path)
    try:
        assert [g["name"] for g in store.galaxies()] == ["Haven"]  # nothing created
    finally:
        store.close()

    far = dict(LEGACY, Far={"name": "Far", "x": 200_000, "y": 0, "z": 0})  # outside the default cube
    result = haven("import", _write(tmp_path / "far.json", far), "--dry-run", "--galaxy", "Brand New")
    assert_fails(result, 1, 'record "Far" (#4): x: 200000 lies outside the galaxy')
    assert_ok(haven("import", data, "--galaxy", "Brand New"))
    assert system_count(db_path) == 3


def test_ctrl_c_during_a_legacy_import_leaves_no_new_galaxy(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """A legacy import is one transaction, which also creates its galaxy: interrupted, it leaves no galaxy."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    assert_ok(haven("init", "--no-demo"))
    big = {"_meta": {}, "data": [{"name": f"S{i}", "x": i % 1000, "y": i // 1000, "z": 1, "region": "R",
                                  "planets": [{"name": f"S{i} I", "moons": [{"name": f"S{i} I-a"}]}]}
                                 for i in range(60_000)]}
    path = _write(tmp_path / "big.json", big)
    proc = subprocess.Popen([sys.executable, "-m", "haven.cli", "import", str(path), "-g", "New Gal",
                             "-d", str(db_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            conn = sqlite3.connect(db_path, timeout=0)
            try:  # the import holds the write lock once its one transaction (galaxy and systems) has begun
                conn.execute("BEGIN IMMEDIATE")
                conn.rollback()
                writing = False
            except sqlite3.OperationalError:
                writing = True
            finally:
                conn.close()
            if writing:
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        proc.send_signal(signal.SIGINT)  # inside its one transaction: the galaxy goes with the systems
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, output
    conn = sqlite3.connect(db_path)
    try:
        galaxies = conn.execute("SELECT name, system_count FROM galaxy ORDER BY name").fetchall()
    finally:
        conn.close()
    assert galaxies == [("Haven", 0)], output


def test_legacy_json_export_writes_whole_station_percents_as_the_legacy_file_did(
        haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    legacy = json.loads(json.dumps(LEGACY))
    legacy["VELLAN 4/C2"]["space_station"].update({"race": "Korvax", "sell_percent": 80, "buy_percent": 64})
    legacy["Quiet Harbour"]["space_station"] = {"name": "Harbour Dock", "x": 1.5, "y": 2.5, "z": -3.5, "race": "Gek",
                                                "sell_percent": 75.5, "buy_percent": 70}
    assert_ok(haven("import", _write(tmp_path / "data.json", legacy)))
    out = tmp_path / "again.json"
    assert_ok(haven("export", "--format", "legacy-json", "--output", out))
    text = out.read_text(encoding="utf-8")
    assert '"sell_percent":80,"buy_percent":64}' in text and '"sell_percent":75.5,"buy_percent":70}' in text
    exported = json.loads(text)
    for name in ("VELLAN 4/C2", "Quiet Harbour"):
        station = exported[name]["space_station"]
        assert json.dumps(station) == json.dumps(legacy[name]["space_station"])
