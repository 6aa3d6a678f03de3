"""Flat-file imports at their edges: CSV values with line breaks across Arrow's read blocks, a key
given both as a field and inside ``extra``, how a JSONL line's ``id`` is read, and Parquet text
columns of every Arrow text type."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from import_checks import import_refused

from haven.errors import InvalidInput
from haven.ingest.bulk import bulk_import
from haven.ingest.export import export_galaxy
from haven.store.bulk import BulkRowError

GALAXY = "Haven"
#: Text of 300 lines, 15,000 characters: 600 such rows are more CSV than one 8 MiB read block.
MULTILINE = ("x" * 49 + "\n") * 300


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def systems_stored(store: Any) -> int:
    """Systems in the database, in any galaxy."""
    return store.conn.execute("SELECT count(*) FROM system").fetchone()[0]


def db_state(db: Path) -> list[tuple[Any, ...]]:
    """Every galaxy and system as stored (what a refused import must leave alone)."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT g.name, s.name, s.extra FROM galaxy g LEFT JOIN system s ON s.galaxy_id = g.id "
                            "ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


# -- 1. CSV values holding line breaks, in files larger than one read block ---------------


def test_a_csv_export_with_multiline_values_over_8_mib_imports_back(store, tmp_path):
    systems = [{"name": f"S{i}", "x": i, "y": 0, "z": 0, "attributes": MULTILINE} for i in range(700)]
    bulk_import(store, GALAXY, write_jsonl(tmp_path / "ml.jsonl", systems))
    out = tmp_path / "ml.csv"
    assert export_galaxy(store, GALAXY, out, fmt="csv") == 700
    assert out.stat().st_size > 8 << 20

    summary = bulk_import(store, "Copy", out)

    assert summary["rows"] == 700 and store.galaxy("Copy")["system_count"] == 700
    for i in (0, 556, 557, 699):
        s = store.system_by_name("Copy", f"S{i}")
        assert (s["x"], s["attributes"]) == (i, MULTILINE)


def test_a_bad_csv_row_after_multiline_values_is_named_by_its_record_number(store, tmp_path):
    rows: list[list[Any]] = [[f"S{i}", i, 0, 0, MULTILINE] for i in range(700)]
    rows[650] = ["S650", 650, 0, 0, MULTILINE, "one too many"]
    path = write_csv(tmp_path / "bad.csv", ["name", "x", "y", "z", "attributes"], rows)
    assert path.stat().st_size > 8 << 20

    with pytest.raises(InvalidInput) as info:
        bulk_import(store, GALAXY, path)

    assert info.value.message.startswith("bad.csv row 651: expected 5 columns (as in the header), got 6: ")
    assert systems_stored(store) == 0


def test_a_multiline_csv_value_longer_than_a_read_block_is_read_whole(store, tmp_path):
    long_text = ("y" * 99 + "\n") * 90_000  # 9 MB in one cell
    path = write_csv(tmp_path / "long.csv", ["name", "x", "y", "z", "note"],
                     [["A", 1, 0, 0, "short"], ["B", 2, 0, 0, long_text], ["C", 3, 0, 0, "s"]])

    bulk_import(store, GALAXY, path)

    assert store.system_by_name(GALAXY, "B")["extra"] == {"note": long_text}
    assert store.system_by_name(GALAXY, "C")["x"] == 3


# -- 2. a key given both as a field and inside extra ----------------------------------------

BOTH = "'k' is given both as a field and inside \"extra\"; keep one"


def _write_both(path: Path, fmt: str, extra_first: bool) -> Path:
    """Row 1 is fine; row 2 gives ``k`` as a field and inside its ``extra`` object."""
    fields = [("k", ["ok", "top"]), ("extra", [None, {"k": "inner"}])]
    if extra_first:
        fields.reverse()
    base = {"name": ["A", "B"], "x": [1.0, 2.0], "y": [1.0, 1.0], "z": [1.0, 1.0]}
    columns = {**base, **dict(fields)}
    if fmt == "jsonl":
        lines = [{k: v[i] for k, v in columns.items() if v[i] is not None} for i in range(2)]
        return write_jsonl(path, lines)
    text = {k: [None if v is None else (json.dumps(v) if isinstance(v, dict) else str(v)) for v in vs]
            for k, vs in columns.items()}
    if fmt == "csv":
        return write_csv(path, list(text), [["" if v is None else v for v in row] for row in zip(*text.values())])
    pq.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in text.items()}), path)
    return path


@pytest.mark.parametrize("extra_first", [False, True], ids=["field-first", "extra-first"])
@pytest.mark.parametrize("fmt, where", [("jsonl", "line 2"), ("csv", "row 2"), ("parquet", "row 2")])
def test_a_key_both_a_field_and_inside_extra_is_refused(store, tmp_path, fmt, where, extra_first):
    path = _write_both(tmp_path / f"s.{fmt}", fmt, extra_first)

    with pytest.raises(BulkRowError) as info:
        bulk_import(store, GALAXY, path)

    assert info.value.message.startswith(f"s.{fmt} {where}: extra.k: {BOTH}")
    assert info.value.message.endswith("nothing was written")
    assert info.value.field == "extra.k"
    assert systems_stored(store) == 0


def test_haven_import_refuses_a_key_both_a_field_and_inside_extra(haven, tmp_path):
    assert haven("init", "--no-demo").exit_code == 0
    path = write_jsonl(tmp_path / "both.jsonl", [
        {"name": "A", "x": 1, "y": 1, "z": 1},
        {"name": "B", "x": 1, "y": 1, "z": 1, "k": "top", "extra": {"k": "inner"}},
    ])

    import_refused(haven, [path], [f"both.jsonl line 2: extra.k: {BOTH}"], db_state)

    # an empty field is no value, so it does not conflict with the key inside extra
    fixed = write_csv(tmp_path / "fixed.csv", ["name", "x", "y", "z", "k", "extra"],
                      [["A", 1, 1, 1, "", '{"k": "inner"}'], ["B", 1, 1, 1, "own", '{"j": 1}']])
    assert haven("import", fixed).exit_code == 0
    stored = {name: json.loads(extra) for _, name, extra in db_state(haven.db) if name}
    assert stored == {"A": {"k": "inner"}, "B": {"k": "own", "j": 1}}


# -- 3. a JSONL line's id is its own business -----------------------------------------------


def test_a_jsonl_lines_id_does_not_depend_on_other_lines(store, tmp_path):
    path = write_jsonl(tmp_path / "ids.jsonl", [
        {"name": "A", "x": 1, "y": 1, "z": 1, "id": "X", "legacy_id": "LX"},
        {"name": "B", "x": 2, "y": 1, "z": 1, "id": "Y"},
        {"name": "C", "x": 3, "y": 1, "z": 1, "id": "Z", "legacy_id": None},
        {"id": "Y", "planets": [{"name": "B I"}]},
    ])

    bulk_import(store, GALAXY, path)

    a, b, c = (store.system_by_name(GALAXY, n) for n in "ABC")
    assert (a["legacy_id"], a["extra"]) == ("LX", {"id": "X"})
    assert (b["legacy_id"], b["extra"]) == ("Y", {})
    assert (c["legacy_id"], c["extra"]) == ("Z", {})
    assert [p["name"] for p in b["planets"]] == ["B I"]


def test_a_jsonl_line_reads_its_id_alike_in_any_batch(store, tmp_path):
    lines = [{"name": "A", "x": 1, "y": 1, "z": 1, "id": "X", "legacy_id": "LX"},
             {"name": "B", "x": 2, "y": 1, "z": 1, "id": "Y"}]
    path = write_jsonl(tmp_path / "ids.jsonl", lines)

    bulk_import(store, "Together", path, batch_rows=2)
    bulk_import(store, "Apart", path, batch_rows=1)

    for name in "AB":
        together, apart = store.system_by_name("Together", name), store.system_by_name("Apart", name)
        assert (together["legacy_id"], together["extra"]) == (apart["legacy_id"], apart["extra"])


# -- 4. Parquet text of any Arrow text type ---------------------------------------------------

TEXT_TYPES = [pa.string(), pa.large_string(), pa.string_view()]


def _text_table(t: pa.DataType) -> pa.Table:
    """Every kind of column Haven reads from text, all of Arrow type ``t``."""
    planets = json.dumps([{"name": "Alpha I", "moons": [{"name": "Alpha I-a"}]}])
    columns = {
        "name": ["Alpha", "Beta"], "x": ["1.5", "-2"], "y": ["0", "3.25"], "z": ["7", "0"],
        "region": ["Rim", None], "attributes": ["warm\nwet", None], "confidence": ["0.5", None],
        "seed": [None, "42"], "created_at": ["2024-05-01T10:00:00Z", "2023-11-14 22:13:20"],
        "planets": [planets, None], "extra": ['{"k": 1}', None], "note": ["hi", None], "id": ["L1", "L2"],
    }
    return pa.table({k: pa.array(v, t) for k, v in columns.items()})


def _stored(store: Any, galaxy: str) -> list[dict[str, Any]]:
    keep = ("name", "x", "y", "z", "region", "attributes", "confidence", "derived", "created_at", "legacy_id",
            "extra")
    out = []
    for name in ("Alpha", "Beta"):
        s = store.system_by_name(galaxy, name)
        out.append({**{k: s[k] for k in keep}, "planets": [p["name"] for p in s["planets"]]})
    return out


@pytest.mark.parametrize("t", TEXT_TYPES[1:], ids=str)
def test_parquet_text_columns_of_any_text_type_read_as_string_ones(store, tmp_path, t):
    pq.write_table(_text_table(pa.string()), tmp_path / "plain.parquet")
    pq.write_table(_text_table(t), tmp_path / "other.parquet")
    assert pq.read_schema(tmp_path / "other.parquet").field("name").type == t

    bulk_import(store, "Plain", tmp_path / "plain.parquet")
    bulk_import(store, "Other", tmp_path / "other.parquet")

    plain = _stored(store, "Plain")
    assert _stored(store, "Other") == plain
    assert (plain[0]["x"], plain[0]["planets"], plain[0]["extra"]) == (1.5, ["Alpha I"], {"k": 1, "note": "hi"})
    assert plain[1]["derived"] is True


@pytest.mark.parametrize("t", TEXT_TYPES[1:], ids=str)
def test_parquet_text_that_is_no_number_names_its_row_in_any_text_type(store, tmp_path, t):
    table = pa.table({"name": pa.array(["A", "B"], t), "x": pa.array(["1.5", "far"], t),
                      "y": [0.0, 0.0], "z": [0.0, 0.0]})
    pq.write_table(table, tmp_path / "s.parquet")

    with pytest.raises(BulkRowError) as info:
        bulk_import(store, GALAXY, tmp_path / "s.parquet")

    assert info.value.message.startswith("s.parquet row 2: x: must be a number, not 'far'")
    assert systems_stored(store) == 0


# -- 5. what Arrow alone would let through ---------------------------------------------------


@pytest.mark.parametrize("text, where", [
    # a quote never closed on its line swallows the rows up to the next quote
    ('name,x,y,z,attributes\nA,1,2,3,"unclosed\nB,4,5,6,ok\nC,7,8,9,"x"\nD,1,1,1,d\n', "row 1 (from line 2)"),
    ('name,x,y,z,attributes\nA,1,2,3,ok\nB,1,2,3,"Bobs "big" base"\n', "row 2 (from line 3)"),
], ids=["unclosed", "inner-quotes"])
def test_text_after_a_closing_quote_is_refused_naming_its_row(haven, tmp_path, text, where):
    assert haven("init", "--no-demo").exit_code == 0
    path = tmp_path / "quotes.csv"
    path.write_text(text, encoding="utf-8")
    import_refused(haven, [path], [f"quotes.csv {where}", "',' expected after '\"'", "two quotes"], db_state)


def test_quotes_written_as_csv_writes_them_import(store, tmp_path):
    path = write_csv(tmp_path / "fine.csv", ["name", "x", "y", "z", "attributes", "extra"],
                     [["A", 1, 1, 1, 'say "hi"\nthere', ""],
                      ["B", 1, 1, 1, "", json.dumps({"long": "x" * 200_000})]])  # past csv's 128 KiB default
    with path.open("a", encoding="utf-8") as fh:
        fh.write('C,1,1,1,plain "quoted" text,\n')  # a quote inside an unquoted value is text
    bulk_import(store, GALAXY, path)
    assert store.system_by_name(GALAXY, "A")["attributes"] == 'say "hi"\nthere'
    assert store.system_by_name(GALAXY, "C")["attributes"] == 'plain "quoted" text'


def test_a_details_line_takes_its_id_as_a_system_line_does(store, tmp_path):
    bulk_import(store, GALAXY, write_jsonl(tmp_path / "systems.jsonl", [
        {"name": "S1", "x": 1, "y": 1, "z": 1, "legacy_id": "L1"},
        {"name": "S2", "x": 2, "y": 1, "z": 1, "legacy_id": "L2"}]))
    bulk_import(store, GALAXY, write_jsonl(tmp_path / "details.jsonl", [
        {"id": None, "legacy_id": "L1", "planets": [{"name": "P"}]}]))
    assert [p["name"] for p in store.system_by_name(GALAXY, "S1")["planets"]] == ["P"]
    with pytest.raises(BulkRowError, match="different values"):
        bulk_import(store, GALAXY, write_jsonl(tmp_path / "both.jsonl", [
            {"id": "L2", "legacy_id": "L1", "planets": [{"name": "Q"}]}]))
    assert [p["name"] for p in store.system_by_name(GALAXY, "S2")["planets"]] != ["Q"]


def test_a_jsonl_line_that_is_not_utf8_names_the_byte(haven, tmp_path):
    assert haven("init", "--no-demo").exit_code == 0
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"name":"Caf\xe9","x":1,"y":2,"z":3}\n')
    import_refused(haven, [path], ["latin1.jsonl line 1: not UTF-8 text (byte 0xe9 at position 13"], db_state)
