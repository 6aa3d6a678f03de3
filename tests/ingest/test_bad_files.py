"""Bad files through ``haven import``: a one-line error naming the file (and row and field), exit
code 1, no traceback, and the database as it was, with no galaxy left behind by a failed import.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from import_checks import import_refused

from haven.config import DatabaseUrl
from haven.errors import InvalidInput, NotFound
from haven.ingest.bulk import bulk_import
from haven.store import open_store

STORED = "name,x,y,z\nKEPT ONE,1,2,3\nKEPT TWO,4,5,6\n"


@pytest.fixture
def haven(haven, tmp_path: Path):
    """``haven ARGS…`` in-process against a fresh database that already holds two systems."""
    assert haven("init", "--no-demo").exit_code == 0
    stored = tmp_path / "stored.csv"
    stored.write_text(STORED, encoding="utf-8")
    result = haven("import", stored)
    assert result.exit_code == 0, result.output
    return haven


def db_state(db: Path) -> tuple[list, list]:
    """Every galaxy and every system as stored (what a failed import must leave alone)."""
    conn = sqlite3.connect(db)
    try:
        galaxies = conn.execute("SELECT id, name, system_count, half_size_ly FROM galaxy ORDER BY id").fetchall()
        systems = conn.execute("SELECT id, galaxy_id, name, x, y, z, seed, created_at, version FROM system "
                               "ORDER BY id").fetchall()
    finally:
        conn.close()
    return galaxies, systems


def galaxy_names(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM galaxy")}
    finally:
        conn.close()


def refused(haven, path: Path, *fragments: str, galaxy: str = "NEWG_A") -> str:
    """Import ``path`` into a new galaxy; it must fail cleanly and change nothing. Returns the error line."""
    error = import_refused(haven, [path, "-g", galaxy], fragments, db_state)
    assert galaxy not in galaxy_names(haven.db)
    return error


def good_parquet(path: Path, n: int = 2_000) -> Path:
    rows = [{"name": f"PQ {i}", "x": float(i), "y": 1.0, "z": 2.0, "region": f"R{i % 3}"} for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


# 1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["empty", "truncated", "text", "corrupt"])
def test_an_unreadable_parquet_file_is_named(haven, tmp_path, damage):
    good = good_parquet(tmp_path / "good.parquet").read_bytes()
    bad = tmp_path / "t.parquet"
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "truncated":
        bad.write_bytes(good[:5000])
    elif damage == "text":
        bad.write_text("name,x,y,z\nA,1,2,3\n", encoding="utf-8")
    else:
        data = bytearray(good)
        data[2000:2100] = bytes(100)
        bad.write_bytes(bytes(data))
    refused(haven, bad, "t.parquet: not a readable Parquet file (")


# 2 --------------------------------------------------------------------------------------


def test_a_csv_file_that_is_not_utf8_is_named_with_its_line(haven, tmp_path):
    bad = tmp_path / "c9.csv"
    bad.write_bytes(b"name,x,y,z\n\xff\xfe,1,2,3\n")
    refused(haven, bad, "c9.csv line 2: not UTF-8 text")
    late = tmp_path / "late.csv"  # past the header's first read: found by Arrow, named by its line all the same
    late.write_bytes(b"name,x,y,z\n" + b"".join(b"S%d,1,2,3\n" % i for i in range(3000)) + b"\xe9t\xe9,1,2,3\n")
    refused(haven, late, "late.csv line 3002: not UTF-8 text")
    stored_as_text = pa.array([b"ok", b"\xff\xfe"], pa.binary()).view(pa.string())  # Parquet keeps any bytes
    parquet_file = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [1.0, 1.0], "z": [1.0, 1.0],
                             "fauna": stored_as_text}), parquet_file)
    refused(haven, parquet_file, "bytes.parquet row 2: fauna: is not valid UTF-8 text")


# 3 --------------------------------------------------------------------------------------


def test_a_column_named_twice_is_refused(haven, tmp_path):
    csv_file = tmp_path / "c12.csv"
    csv_file.write_text("name,name,x,y,z\nA,B,1,2,3\n", encoding="utf-8")
    refused(haven, csv_file, "c12.csv: the column 'name' appears twice")
    parquet_file = tmp_path / "twice.parquet"
    pq.write_table(pa.table([pa.array(["A"]), pa.array(["B"]), pa.array([1.0]), pa.array([2.0]), pa.array([3.0])],
                            names=["name", "name", "x", "y", "z"]), parquet_file)
    refused(haven, parquet_file, "twice.parquet: the column 'name' appears twice")
    both = tmp_path / "both.csv"
    both.write_text("name,x,x_ly,y,z\nA,1,1,2,3\n", encoding="utf-8")
    refused(haven, both, "both.csv: the columns 'x' and 'x_ly' both give x")


# 4 --------------------------------------------------------------------------------------


def test_a_seed_too_large_names_its_row(haven, tmp_path):
    big = "1180591620717411303424"
    csv_file = tmp_path / "seed.csv"
    csv_file.write_text(f"name,x,y,z,seed\nA,1,2,3,5\nB,1,2,3,{big}\n", encoding="utf-8")
    refused(haven, csv_file, "seed.csv row 2: seed: must be a whole number", big)
    parquet_file = tmp_path / "seed.parquet"
    pq.write_table(pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [1.0, 1.0], "z": [1.0, 1.0],
                             "seed": ["5", big]}), parquet_file)
    refused(haven, parquet_file, "seed.parquet row 2: seed: must be a whole number")
    words = tmp_path / "words.csv"
    words.write_text("name,x,y,z,seed\nA,1,2,3,five\n", encoding="utf-8")
    refused(haven, words, "words.csv row 1: seed: must be a whole number, not 'five'")


# 5 --------------------------------------------------------------------------------------


def test_parquet_timestamps_finer_than_a_millisecond_or_out_of_range(haven, tmp_path):
    fine = tmp_path / "ns.parquet"
    pq.write_table(pa.table({"name": ["NANO"], "x": [1.0], "y": [1.0], "z": [1.0],
                             "created_at": pa.array([2**62], pa.timestamp("ns"))}), fine)
    result = haven("import", fine, "-g", "Stamps")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out.jsonl"
    assert haven("export", "-g", "Stamps", "-o", out).exit_code == 0
    # 2**62 ns after the epoch, cut to the millisecond (as text stamps are)
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["created_at"] == "2116-02-20T23:53:38.427Z"

    far = tmp_path / "far.parquet"
    pq.write_table(pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [1.0, 1.0], "z": [1.0, 1.0],
                             "created_at": pa.array([0, 10**15], pa.timestamp("s"))}), far)
    refused(haven, far, "far.parquet row 2: created_at: must lie between the years 1 and 9999")


# 6 --------------------------------------------------------------------------------------


def test_a_surrogate_in_a_name_keyed_key_is_a_problem_like_one_in_a_value(haven, tmp_path):
    in_key = tmp_path / "key.json"
    in_key.write_text('{"_meta":{},"\\ud800":{"x":1,"y":2,"z":3}}', encoding="utf-8")
    in_value = tmp_path / "value.json"
    in_value.write_text('{"_meta":{},"A":{"name":"\\ud800","x":1,"y":2,"z":3}}', encoding="utf-8")
    message = "name: contains an unpaired surrogate escape"
    for path in (in_key, in_value):
        before = db_state(haven.db)
        result = haven("import", path, "-g", "NEWG_A")
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert f"{path.name}: 1 problem; nothing was imported" in result.output
        assert message in result.output
        assert db_state(haven.db) == before
    beside = tmp_path / "beside.json"  # the record has its own name; the key it is filed under is still kept
    beside.write_text('{"\\udc00":{"name":"B","x":1,"y":2,"z":3}}', encoding="utf-8")
    result = haven("import", beside)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the key it is filed under" in result.output and "unpaired surrogate" in result.output


# 7 --------------------------------------------------------------------------------------


def test_a_failed_import_leaves_no_new_galaxy(haven, tmp_path):
    lines = [{"name": f"J{i}", "x": 1, "y": 2, "z": 3} for i in range(4)] + [{"name": "J5", "x": "bad", "y": 2, "z": 3}]
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text("".join(json.dumps(d) + "\n" for d in lines), encoding="utf-8")
    refused(haven, jsonl, "bad.jsonl line 5: x:", "nothing was written")
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("name,x,y,z\nA,1,2,3\nB,far,2,3\n", encoding="utf-8")
    refused(haven, csv_file, "bad.csv row 2: x: must be a number")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    refused(haven, broken, "broken.parquet: not a readable Parquet file")
    record = tmp_path / "record.json"
    record.write_text('{"_meta":{},"A":{"x":"no","y":2,"z":3}}', encoding="utf-8")
    refused(haven, record, "record.json: 1 problem; nothing was imported")
    unparseable = tmp_path / "broken.json"
    unparseable.write_text('{"a": ', encoding="utf-8")
    refused(haven, unparseable, "broken.json: cannot be read")
    clash = tmp_path / "clash.csv"  # a name already stored: refused before writing
    clash.write_text("name,x,y,z\nKEPT ONE,1,2,3\n", encoding="utf-8")
    result = haven("import", clash)
    assert result.exit_code == 1 and "KEPT ONE" in result.output

    # a galaxy that existed before the failed import stays, even when empty
    assert haven("init", "--no-demo", "--galaxy", "Empty").exit_code == 0
    refused_existing = haven("import", jsonl, "-g", "Empty")
    assert refused_existing.exit_code == 1
    assert "Empty" in galaxy_names(haven.db)
    # and a good import still creates its galaxy
    good = good_parquet(tmp_path / "good.parquet", n=10)
    assert haven("import", good, "-g", "NEWG_A").exit_code == 0
    assert "NEWG_A" in galaxy_names(haven.db)


def test_a_failed_bulk_import_then_a_good_one_into_the_same_new_galaxy(haven, tmp_path):
    """The store forgets the removed galaxy: a later import on the same store recreates it properly."""
    store = open_store(DatabaseUrl("sqlite", str(haven.db)))
    try:
        bad = tmp_path / "bad.csv"
        bad.write_text("name,x,y,z\nA,1,2,3\nB,far,2,3\n", encoding="utf-8")
        with pytest.raises(InvalidInput, match="bad.csv row 2: x"):
            bulk_import(store, "Later", bad)
        with pytest.raises(NotFound):
            store.galaxy("Later")
        store.ensure_galaxy("Other")  # may take the removed galaxy's id
        summary = bulk_import(store, "Later", good_parquet(tmp_path / "good.parquet", n=25))
        assert summary["systems"] == 25
        assert store.galaxy("Later")["system_count"] == 25
        assert store.galaxy("Other")["system_count"] == 0
    finally:
        store.close()


# 8 --------------------------------------------------------------------------------------


def test_a_missing_column_and_a_short_row_are_named_as_the_user_wrote_them(haven, tmp_path):
    no_z = tmp_path / "noz.csv"
    no_z.write_text("name,x,y\nA,1,2\n", encoding="utf-8")
    line = refused(haven, no_z, "noz.csv: the column 'z' is missing")
    assert "z_ly" not in line
    parquet_no_z = tmp_path / "noz.parquet"
    pq.write_table(pa.table({"name": ["A"], "x": [1.0], "y": [1.0]}), parquet_no_z)
    refused(haven, parquet_no_z, "noz.parquet: the column 'z' is missing")
    short = tmp_path / "short.csv"
    short.write_text("name,x,y,z\nA,1,2,3\nB,1,2\n", encoding="utf-8")
    refused(haven, short, "short.csv row 2: expected 4 columns", "got 3")


# 9 --------------------------------------------------------------------------------------


def test_a_legacy_db_with_an_oddly_named_extra_table_imports(haven, legacy_db):
    path = legacy_db()
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE "we""ird" (a)')
    conn.execute('INSERT INTO "we""ird" VALUES (1)')
    conn.commit()
    conn.close()
    result = haven("import", path, "-g", "Old")
    assert result.exit_code == 0, result.output
    assert "table 'we\"ird' has 1 rows; Haven does not import it" in result.output
    galaxies, _ = db_state(haven.db)
    assert [g[2] for g in galaxies if g[1] == "Old"] == [3]


# 10 -------------------------------------------------------------------------------------


def damage_last_page(path: Path, column: str) -> Path:
    """A copy of ``path`` with one bit flipped in the last byte of ``column``'s first column chunk.

    That byte is page data (a page's header comes before its data), which the
    page checksum covers.
    """
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(0).column(meta.schema.to_arrow_schema().names.index(column))
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + chunk.total_compressed_size - 1] ^= 0x01
    bad = path.with_name("damaged.parquet")
    bad.write_bytes(bytes(data))
    return bad


def test_a_damaged_page_of_a_haven_parquet_export_is_refused(haven, tmp_path):
    assert haven("generate", "-n", "3000", "-g", "Source").exit_code == 0
    exported = tmp_path / "galaxy.parquet"
    assert haven("export", "-g", "Source", "-o", exported).exit_code == 0
    bad = damage_last_page(exported, "x")
    refused(haven, bad, "damaged.parquet: a data page of the column 'x' in rows 1 to 3000 is damaged: "
                        "its checksum does not match its contents")
    result = haven("import", exported, "-g", "Copy")  # the undamaged file imports
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json"])
def test_a_pipe_is_refused_as_not_a_regular_file_not_as_missing(haven, tmp_path, suffix):
    """`haven import <(zcat f.gz)` hands over a pipe; an import reads its file more than once."""
    import os

    pipe = tmp_path / f"piped{suffix}"
    os.mkfifo(pipe)
    refused(haven, pipe, "is not a regular file", "save it to a file first")


@pytest.mark.parametrize(("name", "content", "said"), [
    ("none.jsonl", b"", "none.jsonl: is empty; nothing was imported"),
    ("blank.jsonl", b"\n  \n\n", "blank.jsonl: holds no systems (a header or blank lines only)"),
    ("header.csv", b"name,x,y,z,region\n", "header.csv: holds no systems (a header or blank lines only)"),
    ("rows0.parquet", None, "rows0.parquet: holds no systems"),
])
def test_a_file_without_systems_is_refused_and_makes_no_galaxy(haven, tmp_path, name, content, said):
    """Most likely the wrong file, or one cut short: said so, rather than an empty galaxy and a done job."""
    path = tmp_path / name
    if content is None:
        schema = pa.schema([(c, pa.float64()) for c in "xyz"] + [("name", pa.string())])
        pq.write_table(schema.empty_table(), path)
    else:
        path.write_bytes(content)
    refused(haven, path, said)
    import_refused(haven, [path, "-g", "Haven"], [said], db_state)  # into a galaxy that exists: no job either
    conn = sqlite3.connect(haven.db)
    try:
        assert conn.execute("SELECT count(*) FROM bulk_job WHERE source LIKE ?", (f"%{name}",)).fetchone()[0] == 0
    finally:
        conn.close()
