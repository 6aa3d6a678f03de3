"""Flat exports (Parquet, CSV, JSONL): one record per system, read back by the bulk importer."""

from __future__ import annotations

import io
import json

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.config import DatabaseUrl
from haven.errors import InvalidInput, NotFound
from haven.ingest import export_galaxy, import_file
from haven.ingest.bulk import bulk_import, generate_galaxy
from haven.ingest.export import FLAT_COLUMNS, format_for_path
from haven.model import validate_system
from haven.store import init_store
from haven.store.bulk import BulkRowError

COPY = "Copy"
TRICKY = {
    "name": "AMOT 16/O5, \"the quoted\" — ✶",
    "x": 1.0 / 3.0, "y": -2.5e-7, "z": 12345.678901234567, "region": "Ring, outer",
    "legacy_id": "L-1", "materials": "Gold, Carbon\nsecond line", "attributes": '{"star": "Red"}',
    "confidence": 0.25, "glyph": "0123ABCDEF01",
    "extra": {"name": "shadow", "seed": "not a procgen seed", "deep": {"list": [1, "two"]}, "plain": True},
    "planets": [
        {"name": "p", "sentinel": "Low", "extra": {"sentinels": "x", "moons": 1},
         "moons": [{"name": "m", "orbit_radius": 0.4, "extra": {"id": 7}}]},
        {"name": "q, the second", "properties": '{"biome": "Lush"}'},
    ],
    "space_station": {"name": "st", "x": 0, "y": 0, "z": 0, "race": "Gek", "extra": {"x": 1}},
}


def galaxy_with_everything(store, fixtures_dir) -> None:
    """Generated systems (a seed each), imported legacy systems with dates and children, a tricky one."""
    generate_galaxy(store, GALAXY, 1200, seed=5)
    import_file(store, GALAXY, fixtures_dir / "name_keyed.json")
    store.create(GALAXY, validate_system(TRICKY))


def without_unknown_dates(systems: list[dict], reference: list[dict]) -> list[dict]:
    """Dates Haven does not know (a generated system's) are stamped by an import; leave them out."""
    known = {s["name"]: (s["created_at"], s["modified_at"]) for s in reference}
    out = []
    for s in systems:
        created, modified = known[s["name"]]
        s = dict(s)
        if created is None:
            s.pop("created_at")
        if modified is None:
            s.pop("modified_at")
        out.append(s)
    return out


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_a_flat_export_imports_back_as_the_same_galaxy(store, snapshot, fixtures_dir, tmp_path, fmt):
    galaxy_with_everything(store, fixtures_dir)
    out = tmp_path / f"galaxy.{fmt}"
    written = export_galaxy(store, GALAXY, out, fmt=fmt)
    assert written == store.stats(GALAXY)["total_systems"] == 1200 + 6 + 1

    summary = bulk_import(store, COPY, out)
    assert summary["rows"] == written
    original, copy = snapshot(store, GALAXY), snapshot(store, COPY)
    assert [s["name"] for s in copy] == [s["name"] for s in original]
    # derived planets come from the seed, stored ones from the file, extra from its column
    assert without_unknown_dates(copy, original) == without_unknown_dates(original, original)
    tricky = store.system_by_name(COPY, TRICKY["name"])
    assert tricky["extra"] == TRICKY["extra"] and tricky["legacy_id"] == "L-1"


def test_generated_systems_are_written_as_their_seed(store, tmp_path):
    generate_galaxy(store, GALAXY, 50, seed=3)
    out = tmp_path / "g.jsonl"
    export_galaxy(store, GALAXY, out, fmt="jsonl")
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 50
    assert all(isinstance(r["seed"], int) and "planets" not in r and "created_at" not in r for r in lines)
    first = store.system_by_name(GALAXY, lines[0]["name"])
    assert (lines[0]["x"], lines[0]["region"], lines[0]["materials"]) == (first["x"], first["region"],
                                                                          first["materials"])


def test_parquet_is_typed_and_byte_identical_for_one_seed(store, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    generate_galaxy(store, GALAXY, 800, seed=11)
    other = init_store(DatabaseUrl("sqlite", str(tmp_path / "other.db")))
    try:
        generate_galaxy(other, GALAXY, 800, seed=11)
        a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
        export_galaxy(store, GALAXY, a, fmt="parquet")
        export_galaxy(other, GALAXY, b, fmt="parquet")
    finally:
        other.close()
    assert a.read_bytes() == b.read_bytes()

    schema = pq.read_schema(a)
    assert schema.names == [name for name, _ in FLAT_COLUMNS]
    assert schema.field("x").type == pa.float64() and schema.field("seed").type == pa.int64()
    assert schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    meta = orjson.loads(schema.metadata[b"haven"])
    assert meta["format"] == "parquet" and meta["galaxy"] == GALAXY and meta["count"] == 800
    assert meta["exported_at"] == "2023-11-14T22:13:20Z"


def test_csv_keeps_commas_quotes_and_newlines(store, tmp_path):
    store.create(GALAXY, validate_system(TRICKY))
    out = tmp_path / "one.csv"
    export_galaxy(store, GALAXY, out, fmt="csv")
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == [f'"{name}"' for name, _ in FLAT_COLUMNS]
    bulk_import(store, COPY, out)
    copy = store.system_by_name(COPY, TRICKY["name"])
    assert copy["materials"] == TRICKY["materials"] and copy["region"] == "Ring, outer"
    assert (copy["x"], copy["y"], copy["z"]) == (TRICKY["x"], TRICKY["y"], TRICKY["z"])
    assert [p["name"] for p in copy["planets"]] == ["p", "q, the second"]


def test_batches_stream_in_id_order_and_report_progress(store, tmp_path):
    generate_galaxy(store, GALAXY, 120, seed=1)
    batches = list(store.stored_batches(GALAXY, batch_size=50))
    assert [len(b) for b in batches] == [50, 50, 20]
    ids = [s["id"] for b in batches for s in b]
    assert ids == sorted(ids) and len(set(ids)) == 120
    with pytest.raises(InvalidInput) as exc:
        next(store.stored_batches(GALAXY, batch_size=0))
    assert exc.value.field == "batch_size"

    seen: list[int] = []
    export_galaxy(store, GALAXY, tmp_path / "p.csv", fmt="csv", progress=seen.append)
    assert seen[-1] == 120 and seen == sorted(seen)


def test_flat_export_errors_write_nothing(store, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(InvalidInput) as exc:
        export_galaxy(store, GALAXY, io.StringIO(), fmt="parquet")
    assert exc.value.field == "output"
    with pytest.raises(NotFound):
        export_galaxy(store, "Nowhere", folder / "x.parquet", fmt="parquet")
    with pytest.raises(InvalidInput) as exc:
        export_galaxy(store, GALAXY, folder / "x.tsv", fmt="tsv")
    assert exc.value.field == "format"
    assert list(folder.iterdir()) == []


def test_format_from_the_file_name():
    assert [format_for_path(p) for p in ("a.parquet", "b.PQ", "c.csv", "d.jsonl", "e.ndjson", "f.json", "g.txt")] \
        == ["parquet", "parquet", "csv", "jsonl", "jsonl", "haven-json", None]


def test_a_nested_column_that_is_not_json_names_its_row(store, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('name,x,y,z,planets\nGood,1,2,3,"[{""name"": ""b""}]"\nBad,1,2,4,[{name}\n', encoding="utf-8")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, path)
    assert "bad.csv row 2" in str(exc.value) and exc.value.field == "planets"
    assert store.stats(GALAXY)["total_systems"] == 0


def test_an_extra_column_of_plain_text_stays_text(store, tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text('name,x,y,z,extra\nA,1,2,3,"{""k"": 1}"\nB,1,2,4,just words\nC,1,2,5,{not json\n',
                    encoding="utf-8")
    bulk_import(store, GALAXY, path)
    assert store.system_by_name(GALAXY, "A")["extra"] == {"k": 1}
    assert store.system_by_name(GALAXY, "B")["extra"] == {"extra": "just words"}
    assert store.system_by_name(GALAXY, "C")["extra"] == {"extra": "{not json"}
