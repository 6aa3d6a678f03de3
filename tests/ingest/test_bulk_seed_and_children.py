"""A bulk row with both a procgen ``seed`` and given children stores the children, not the seed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from haven.ingest.bulk import bulk_import
from haven.ingest.export import export_galaxy
from haven.store.bulk import BulkRowError

GALAXY = "Haven"
STATION = {"name": "Mine Dock", "x": 1.5, "y": 2, "z": 3}


def _write(tmp_path: Path, fmt: str, rows: list[dict]) -> Path:
    path = tmp_path / f"s.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        flat = [{k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()} for r in rows]
        keys = list(dict.fromkeys(k for r in flat for k in r))
        table = pa.table({k: [r.get(k) for r in flat] for k in keys})
        if fmt == "parquet":
            pq.write_table(table, path)
        else:
            path.write_text(",".join(keys) + "\n" + "".join(
                ",".join("" if r.get(k) is None else
                         ('"' + str(r[k]).replace('"', '""') + '"') for k in keys) + "\n" for r in flat),
                encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_given_children_are_stored_and_the_seed_dropped(store, tmp_path, fmt):
    rows = [
        {"name": "SP", "x": 1, "y": 2, "z": 3, "seed": 42, "planets": [{"name": "Mine"}]},
        {"name": "ST", "x": 4, "y": 5, "z": 6, "seed": 43, "space_station": STATION},
        {"name": "Seeded", "x": 7, "y": 8, "z": 9, "seed": 44},
    ]
    bulk_import(store, GALAXY, _write(tmp_path, fmt, rows))
    sp = store.system_by_name(GALAXY, "SP")
    assert [p["name"] for p in sp["planets"]] == ["Mine"] and sp["space_station"] is None
    assert not sp["derived"]
    st = store.system_by_name(GALAXY, "ST")
    assert st["planets"] == [] and st["space_station"]["name"] == "Mine Dock" and not st["derived"]
    seeds = dict(store.conn.execute("SELECT name, seed FROM system").fetchall())
    assert seeds == {"SP": None, "ST": None, "Seeded": 44}
    assert store.system_by_name(GALAXY, "Seeded")["derived"]

    # the given planet survives a flat round trip
    out = tmp_path / "again.jsonl"
    export_galaxy(store, GALAXY, out, fmt="jsonl")
    exported = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert exported["SP"]["planets"][0]["name"] == "Mine" and "seed" not in exported["SP"]
    assert exported["Seeded"]["seed"] == 44 and "planets" not in exported["Seeded"]


@pytest.mark.parametrize("seed, message", [("lots", "must be a whole number"), (-1, "must be between 0 and")])
def test_the_seed_of_such_a_row_is_still_checked(store, tmp_path, seed, message):
    rows = [{"name": "SP", "x": 1, "y": 2, "z": 3, "seed": seed, "planets": [{"name": "Mine"}]}]
    with pytest.raises(BulkRowError, match=rf"^s\.jsonl line 1: seed: {message}") as info:
        bulk_import(store, GALAXY, _write(tmp_path, "jsonl", rows))
    assert info.value.field == "seed"
    assert store.conn.execute("SELECT count(*) FROM system").fetchone()[0] == 0


def test_a_refused_import_leaves_no_running_job(store, tmp_path):
    """A file the first check refuses wrote nothing: no bulk_job row is left in state 'running'."""
    bulk_import(store, GALAXY, _write(tmp_path, "jsonl", [{"name": "Kept", "x": 1, "y": 2, "z": 3}]))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,x,y,z\nA,1,2,3\nB,far,2,3\n", encoding="utf-8")
    with pytest.raises(BulkRowError, match=r"^bad\.csv row 2: x: must be a number"):
        bulk_import(store, GALAXY, bad)
    jobs = store.conn.execute("SELECT source, state FROM bulk_job ORDER BY started_at").fetchall()
    assert [tuple(j) for j in jobs] == [("jsonl:s.jsonl", "done")]
    assert store.galaxy(GALAXY)["system_count"] == 1
    bad.write_text("name,x,y,z\nA,1,2,3\nB,3,2,3\n", encoding="utf-8")  # fixed: imports as a new job
    assert bulk_import(store, GALAXY, bad)["rows"] == 2
