"""Bulk import of Parquet, CSV and JSONL files: round trips, nested details, errors, resume."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from haven.ingest.bulk import bulk_import, file_checksum
from haven.store.bulk import LEGACY_INDEX, BulkLoader, BulkRowError

GALAXY = "Haven"


class Killed(Exception):
    pass


def records(n: int) -> list[dict]:
    rng = np.random.default_rng(9)
    out = []
    for i in range(n):
        out.append({
            "id": f"uuid-{i:05d}",
            "name": f"AMOT {i}/O{i % 7}" if i % 5 == 0 else f"Wosanjo Q{i}X",
            "x": round(float(rng.uniform(-5000, 5000)), 2),
            "y": round(float(rng.uniform(-5000, 5000)), 2),
            "z": round(float(rng.uniform(-300, 300)), 2),
            "region": f"Ring {i % 4}",
            "fauna": "Bountiful" if i % 2 else None,
            "flora": "None",
            "sentinel": "Low",
            "materials": "Gold, Carbon" if i % 10 == 0 else "Carbon, Sodium",
            "base_location": None,
            "photo": f"photos/{i}.jpg" if i % 9 == 0 else None,
            "attributes": json.dumps({"star": "Yellow", "economy": "Trading"}),
        })
    return out


def write_parquet(path, rows, **extra_cols):
    table = pa.Table.from_pylist(rows)
    for name, values in extra_cols.items():
        table = table.append_column(name, pa.array(values))
    pq.write_table(table, path, row_group_size=700)
    return path


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return path


def write_jsonl(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def check_stored(store, rows):
    assert store.galaxy(GALAXY)["system_count"] == len(rows)
    for r in rows[:: max(1, len(rows) // 40)]:
        s = store.system_by_name(GALAXY, r["name"])
        assert s["legacy_id"] == r["id"]
        for f in ("x", "y", "z", "region", "fauna", "flora", "sentinel", "materials", "base_location", "photo",
                  "attributes"):
            assert s[f] == r[f], f
    counts = {r["name"]: r["system_count"] for r in store.regions(GALAXY)}
    assert counts == {f"Ring {k}": sum(1 for r in rows if r["region"] == f"Ring {k}") for k in range(4)}
    gold = {s["name"] for s in store.search(GALAXY, "Gold", limit=5000)}
    assert gold == {r["name"] for r in rows if "Gold" in r["materials"]}
    assert store.conn.execute("SELECT count(*) FROM system WHERE lod_level < 0").fetchone()[0] == 0


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_round_trip(store, tmp_path, fmt):
    rows = records(2_500)
    path = {
        "parquet": lambda: write_parquet(tmp_path / "s.parquet", rows),
        "csv": lambda: write_csv(tmp_path / "s.csv", rows),
        "jsonl": lambda: write_jsonl(tmp_path / "s.jsonl", rows),
    }[fmt]()
    summary = bulk_import(store, GALAXY, path, batch_rows=600)
    assert summary["rows"] == 2_500 and summary["batches"] == 5 and summary["format"] == fmt
    check_stored(store, rows)
    again = bulk_import(store, GALAXY, path, batch_rows=600)  # the same file: already done
    assert again["rows_this_run"] == 0 and store.galaxy(GALAXY)["system_count"] == 2_500


def test_unknown_columns_go_to_extra_and_aliases_work(store, tmp_path):
    rows = [{"name": "Keep Extra", "x_ly": 1.0, "y_ly": 2.0, "z_ly": 3.0, "discoverer": "Ana", "visits": 3,
             "created_at": "2024-05-01 10:00:00"}]
    bulk_import(store, GALAXY, write_parquet(tmp_path / "e.parquet", rows))
    s = store.system_by_name(GALAXY, "Keep Extra")
    assert (s["x"], s["y"], s["z"]) == (1.0, 2.0, 3.0)
    assert s["extra"] == {"discoverer": "Ana", "visits": 3}
    assert s["created_at"] == "2024-05-01T10:00:00Z" and s["modified_at"] == s["created_at"]


def test_jsonl_nested_details_and_details_lines(store, tmp_path):
    planet = {
        "name": "Zola I", "sentinels": "High", "properties": {"biome": "Lush", "temperature": 21.5},
        "moons": [{"name": "Zola I-a", "orbit_radius": 0.4, "orbit_speed": 0.05, "colour": "grey"}],
    }
    lines = [
        {"id": "a1", "name": "Zola", "x": 1, "y": 2, "z": 3, "planets": [planet],
         "space_station": {"name": "Zola Port", "x": 1.2, "y": 2, "z": 3, "race": "Gek"}},
        {"id": "b2", "name": "Brisa", "x": 4, "y": 5, "z": 6, "attributes": {"star": "Red"}},
        {"id": "b2", "planets": [{"name": "Brisa I", "moons": [{"name": "Brisa I-a"}]}],
         "space_station": {"name": "Brisa Station", "x": 4.1, "y": 5, "z": 6}},
    ]
    summary = bulk_import(store, GALAXY, write_jsonl(tmp_path / "d.jsonl", lines), batch_rows=2)
    assert summary["details_attached"] == 1 and summary["rows"] == 2
    zola = store.system_by_name(GALAXY, "Zola")
    p = zola["planets"][0]
    assert p["sentinel"] == "High" and json.loads(p["properties"]) == {"biome": "Lush", "temperature": 21.5}
    assert p["moons"][0]["orbit_radius"] == 0.4 and p["moons"][0]["extra"] == {"colour": "grey"}
    assert zola["space_station"]["race"] == "Gek" and not zola["derived"]
    brisa = store.system_by_name(GALAXY, "Brisa")
    assert brisa["attributes"] == '{"star":"Red"}'
    assert [m["name"] for m in brisa["planets"][0]["moons"]] == ["Brisa I-a"]
    assert brisa["space_station"]["name"] == "Brisa Station" and brisa["version"] == 2
    # the lookup index was built for the attach and dropped when the job finished
    assert store.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (LEGACY_INDEX,)).fetchone() is None

    # a separate details file (as the benchmark ships it) attaches to stored systems
    again = [{"id": "a1", "planets": [{"name": "Replaced"}]}]
    bulk_import(store, GALAXY, write_jsonl(tmp_path / "details.jsonl", again))
    zola = store.system_by_name(GALAXY, "Zola")
    assert [p["name"] for p in zola["planets"]] == ["Replaced"] and zola["space_station"] is None


def test_details_in_many_batches_use_a_lookup_index_then_drop_it(store, tmp_path):
    rows = records(12)
    bulk_import(store, GALAXY, write_jsonl(tmp_path / "s.jsonl", rows))
    lines = [{"id": r["id"], "planets": [{"name": f"{r['name']} I"}]} for r in rows]
    built: list[str] = []
    store.conn.set_trace_callback(lambda sql: built.append(sql) if sql.startswith("CREATE INDEX") else None)
    summary = bulk_import(store, GALAXY, write_jsonl(tmp_path / "d.jsonl", lines), batch_rows=3)
    store.conn.set_trace_callback(None)
    assert summary["details_attached"] == 12
    # the first batches read the table once each; the later ones share one index
    assert [sql.split(" ON ")[0] for sql in built] == [f"CREATE INDEX {LEGACY_INDEX}"]
    for r in rows:
        assert [p["name"] for p in store.system_by_name(GALAXY, r["name"])["planets"]] == [f"{r['name']} I"]
    assert store.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (LEGACY_INDEX,)).fetchone() is None


def test_details_for_a_legacy_id_two_systems_share_change_nothing(store, tmp_path):
    twins = [{"id": "t1", "name": "Twin A", "x": 0, "y": 0, "z": 0}, {"id": "t1", "name": "Twin B", "x": 1, "y": 0, "z": 0}]
    bulk_import(store, GALAXY, write_jsonl(tmp_path / "s.jsonl", twins))
    with pytest.raises(BulkRowError, match=r"^d\.jsonl line 1: id: more than one system has the id 't1'"):
        bulk_import(store, GALAXY, write_jsonl(tmp_path / "d.jsonl", [{"id": "t1", "planets": [{"name": "T I"}]}]))
    assert store.system_by_name(GALAXY, "Twin A")["planets"] == []


def test_details_for_an_id_the_same_file_gives_twice_are_refused_before_any_write(store, tmp_path):
    """The first check counts the systems a details line would match: two in an earlier batch
    used to pass it, and the write failed after that batch was committed."""
    rows = records(6)
    rows[1]["id"] = rows[2]["id"] = "DUP"
    lines = [*rows, {"id": "DUP", "planets": [{"name": "D I"}]}]
    with pytest.raises(BulkRowError, match=r"^d\.jsonl line 7: id: 2 systems have the id 'DUP'") as info:
        bulk_import(store, GALAXY, write_jsonl(tmp_path / "d.jsonl", lines), batch_rows=3)
    assert info.value.message.endswith("nothing was written")
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_details_for_an_unknown_id_change_nothing(store, tmp_path):
    bulk_import(store, GALAXY, write_jsonl(tmp_path / "s.jsonl", [{"id": "a1", "name": "A", "x": 0, "y": 0, "z": 0}]))
    lines = [{"id": "a1", "planets": [{"name": "A I"}]}, {"id": "nope", "planets": [{"name": "X I"}]}]
    with pytest.raises(BulkRowError, match=r"^d\.jsonl line 2: id: no system with the id 'nope'") as info:
        bulk_import(store, GALAXY, write_jsonl(tmp_path / "d.jsonl", lines))
    assert info.value.field == "id"
    assert store.system_by_name(GALAXY, "A")["planets"] == []
    # nothing was committed, so nothing is left to resume: no job row says "running" for good
    jobs = store.conn.execute("SELECT source, state FROM bulk_job").fetchall()
    assert [tuple(j) for j in jobs] == [("jsonl:s.jsonl", "done")]


@pytest.mark.parametrize(
    "fmt, damage, message",
    [
        ("csv", lambda rows: rows[1806].update(x="far"), r"^s\.csv row 1807: x: must be a number, not 'far'"),
        ("parquet", lambda rows: rows[1806].update(x=float("nan")), r"^s\.parquet row 1807: x: must be a finite"),
        ("jsonl", lambda rows: rows[1806].update(name=""), r"^s\.jsonl line 1807: name: must not be empty"),
        ("jsonl", lambda rows: rows[1806].update(name=rows[3]["name"]),
         r"^s\.jsonl line 1807: name: '.*' is also the name of s\.jsonl line 4"),
        ("parquet", lambda rows: rows[1806].update(name=rows[3]["name"]),
         r"^s\.parquet row 1807: name: '.*' is also the name of s\.parquet row 4"),
        ("jsonl", lambda rows: rows[1806].update(planets=[{"name": "P", "moons": [{"name": "m", "orbit_speed": "x"}]}]),
         r"^s\.jsonl line 1807: planets\[0\]\.moons\[0\]\.orbit_speed: "),
    ],
)
def test_a_bad_record_is_named_and_nothing_is_written(store, tmp_path, fmt, damage, message):
    rows = records(2_000)
    damage(rows)
    writer = {"csv": write_csv, "parquet": write_parquet, "jsonl": write_jsonl}[fmt]
    path = writer(tmp_path / f"s.{fmt}", rows)
    with pytest.raises(BulkRowError, match=message) as info:
        bulk_import(store, GALAXY, path, batch_rows=500)
    assert info.value.message.endswith("nothing was written")
    assert store.galaxy(GALAXY)["system_count"] == 0
    assert store.conn.execute("SELECT count(*) FROM system").fetchone()[0] == 0


def test_a_name_already_in_the_galaxy_is_refused_before_writing(store, tmp_path):
    rows = records(1_000)
    bulk_import(store, GALAXY, write_jsonl(tmp_path / "one.jsonl", [rows[700]]))
    with pytest.raises(BulkRowError, match=r"^s\.parquet row 701: name: a system named .* already exists"):
        bulk_import(store, GALAXY, write_parquet(tmp_path / "s.parquet", rows), batch_rows=300)
    assert store.galaxy(GALAXY)["system_count"] == 1


def test_a_killed_import_resumes_without_duplicates(store, tmp_path, db_url):
    rows = records(3_000)
    path = write_parquet(tmp_path / "s.parquet", rows)

    def kill_after_batch_2(p):
        if p.batch_index == 2 and not p.skipped:
            raise Killed()

    with pytest.raises(Killed):
        bulk_import(store, GALAXY, path, batch_rows=500, progress=kill_after_batch_2)
    assert store.galaxy(GALAXY)["system_count"] == 1_500

    original = BulkLoader._record

    def crash_in_batch_4(self, conn, p):  # dies inside the transaction of batch 4
        if p.batch_index == 4:
            raise Killed()
        original(self, conn, p)

    BulkLoader._record = crash_in_batch_4
    try:
        with pytest.raises(Killed):
            bulk_import(store, GALAXY, path, batch_rows=100)  # a resumed job keeps its own batch size
    finally:
        BulkLoader._record = original
    assert store.galaxy(GALAXY)["system_count"] == 2_000

    seen = []
    summary = bulk_import(store, GALAXY, path, progress=seen.append)
    assert summary["rows"] == 3_000 and summary["rows_this_run"] == 1_000
    assert [p.batch_index for p in seen if p.skipped] == [0, 1, 2, 3]
    check_stored(store, rows)
    ids = [r[0] for r in store.conn.execute("SELECT id FROM system ORDER BY id")]
    assert ids == list(range(1, 3_001))  # no gaps: the rolled-back batch left nothing behind


def test_checksum_changes_with_the_content_not_the_modification_time(tmp_path):
    """A file touched, copied or downloaded again after a kill is the same job; an edited one is not."""
    import os
    import shutil

    rows = records(3_000)
    a = write_jsonl(tmp_path / "a.jsonl", rows)
    first = file_checksum(a)
    os.utime(a, (1, 1))
    assert file_checksum(a) == file_checksum(shutil.copy(a, tmp_path / "b.jsonl")) == first
    rows[1_500]["name"] = rows[1_500]["name"][::-1]  # a change in the middle, same size
    write_jsonl(a, rows)
    assert a.stat().st_size == (tmp_path / "b.jsonl").stat().st_size and file_checksum(a) != first


def test_unknown_format_is_refused(store, tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("name\n")
    with pytest.raises(Exception, match="format"):
        bulk_import(store, GALAXY, path)


def test_parquet_nested_planets_column(store, tmp_path):
    rows = [
        {"name": "Nested", "x": 1.0, "y": 1.0, "z": 1.0,
         "planets": [{"name": "N I", "moons": [{"name": "N I-a", "orbit_radius": 2.0}]}],
         "space_station": {"name": "N Dock", "x": 1.0, "y": 1.0, "z": 1.5}},
        {"name": "Bare", "x": 2.0, "y": 2.0, "z": 2.0, "planets": None, "space_station": None},
    ]
    bulk_import(store, GALAXY, write_parquet(tmp_path / "n.parquet", rows))
    nested = store.system_by_name(GALAXY, "Nested")
    assert nested["planets"][0]["moons"][0]["orbit_radius"] == 2.0
    assert nested["space_station"]["name"] == "N Dock"
    assert store.system_by_name(GALAXY, "Bare")["planets"] == []


def test_csv_text_that_looks_like_a_null_is_kept(store, tmp_path):
    """Only an empty unquoted field is "no value": N/A, null and a quoted "" are what the mapper typed."""
    path = tmp_path / "nulls.csv"
    path.write_text('name,x,y,z,fauna,flora,sentinel,materials\nA,1,2,3,N/A,null,"",\n', encoding="utf-8")
    bulk_import(store, GALAXY, path)
    a = store.system_by_name(GALAXY, "A")
    assert (a["fauna"], a["flora"], a["sentinel"], a["materials"]) == ("N/A", "null", "", None)


def test_a_column_without_values_is_as_if_missing(store, tmp_path):
    """An export's unused columns (no seeds, no dates, no children) change nothing; required ones still must hold values."""
    nothing = [None, None]
    table = pa.table({"name": ["N1", "N2"], "x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0],
                      "seed": pa.array(nothing, pa.int64()), "created_at": pa.array(nothing, pa.timestamp("ms")),
                      "planets": pa.array(nothing, pa.string()), "extra": pa.array(nothing, pa.string()),
                      "glyph": pa.array(nothing, pa.string())})
    pq.write_table(table, tmp_path / "sparse.parquet")
    bulk_import(store, GALAXY, tmp_path / "sparse.parquet")
    n1 = store.system_by_name(GALAXY, "N1")
    assert n1["extra"] == {} and n1["glyph"] is None and n1["planets"] == [] and n1["created_at"] is not None

    pq.write_table(table.set_column(0, "name", pa.array(nothing, pa.string())), tmp_path / "nameless.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "nameless.parquet")
    assert exc.value.field == "name"
    assert store.stats(GALAXY)["total_systems"] == 2


@pytest.mark.parametrize("field, value", [("created_at", 253_402_300_800_000), ("modified_at", -62_135_596_800_001),
                                          ("created_at", "9999-12-31T23:59:59-14:00"),
                                          ("region", "r\u0000"), ("region", "R" * 201),
                                          ("region", {"name": "Core"}), ("region", ["Core"])])
def test_stamps_beyond_years_1_to_9999_and_bad_regions_are_refused_by_row(store, tmp_path, field, value):
    lines = [{"name": "Fine", "x": 1, "y": 2, "z": 3}, {"name": "Odd", "x": 1, "y": 2, "z": 3, field: value}]
    with pytest.raises(BulkRowError, match=rf"^e\.jsonl line 2: {field}: "):
        bulk_import(store, GALAXY, write_jsonl(tmp_path / "e.jsonl", lines))
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_csv_digits_are_epoch_milliseconds(store, tmp_path):
    """A CSV cell is text, so a date given as epoch milliseconds arrives as digits (optionally a leading minus)."""
    path = tmp_path / "ms.csv"
    path.write_text("name,x,y,z,created_at,modified_at\n"
                    "Now,1,2,3,1700000000000,1700000000123\n"
                    "Before 1970,1,2,4,-1000,\n"
                    "Year one,1,2,5,-62135596800000,253402300799999\n"
                    "Text,1,2,6,2024-05-01 10:00:00, 1700000000000 \n"
                    "Digits only,1,2,7,20231114,\n"
                    f"Many zeros,1,2,8,{'0' * 4400}1700000000000,-{'0' * 5000}1\n", encoding="utf-8")
    bulk_import(store, GALAXY, path)
    now = store.system_by_name(GALAXY, "Now")
    assert (now["created_at"], now["modified_at"]) == ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123Z")
    assert store.system_by_name(GALAXY, "Before 1970")["created_at"] == "1969-12-31T23:59:59Z"
    first = store.system_by_name(GALAXY, "Year one")
    assert (first["created_at"], first["modified_at"]) == ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z")
    text = store.system_by_name(GALAXY, "Text")
    assert (text["created_at"], text["modified_at"]) == ("2024-05-01T10:00:00Z", "2023-11-14T22:13:20Z")
    # eight digits or fewer are a date in ISO 8601's basic form, not a moment on 1 January 1970
    assert store.system_by_name(GALAXY, "Digits only")["created_at"] == "2023-11-14T00:00:00Z"
    # leading zeros do not count, however many (int() refuses texts of over 4,300 digits)
    zeros = store.system_by_name(GALAXY, "Many zeros")
    assert (zeros["created_at"], zeros["modified_at"]) == ("2023-11-14T22:13:20Z", "1969-12-31T23:59:59.999Z")


@pytest.mark.parametrize("cell", ["253402300800000", "-62135596800001", "9" * 30, "-" + "9" * 5000])
def test_csv_epoch_milliseconds_outside_years_1_to_9999_name_their_row(store, tmp_path, cell):
    path = tmp_path / "far.csv"
    path.write_text(f"name,x,y,z,modified_at\nFine,1,2,3,1700000000000\nFar,1,2,4,{cell}\n", encoding="utf-8")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, path)
    assert str(exc.value).startswith("far.csv row 2: modified_at: must lie between the years 1 and 9999 (UTC)")
    assert exc.value.field == "modified_at" and len(str(exc.value)) < 300
    assert store.galaxy(GALAXY)["system_count"] == 0


@pytest.mark.parametrize("cell", ["1.7e12", "+1700000000000", "17000000000 00", "--5"])
def test_csv_dates_that_are_neither_digits_nor_a_date_name_their_row(store, tmp_path, cell):
    path = tmp_path / "odd.csv"
    path.write_text(f"name,x,y,z,created_at\nOdd,1,2,3,{cell}\n", encoding="utf-8")
    with pytest.raises(BulkRowError, match=r"^odd\.csv row 1: created_at: .* is not a date and time"):
        bulk_import(store, GALAXY, path)
    assert store.galaxy(GALAXY)["system_count"] == 0


@pytest.mark.parametrize("value", [253_402_300_800_000, -62_135_596_800_001, 2**70, -(2**70)])
def test_jsonl_epoch_milliseconds_get_the_same_range_error(store, tmp_path, value):
    lines = [{"name": "Fine", "x": 1, "y": 2, "z": 3, "created_at": 1_700_000_000_000},
             {"name": "Far", "x": 1, "y": 2, "z": 3, "created_at": value}]
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, write_jsonl(tmp_path / "far.jsonl", lines))
    assert str(exc.value).startswith("far.jsonl line 2: created_at: must lie between the years 1 and 9999 (UTC)")
    assert exc.value.field == "created_at"
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_parquet_integer_dates_get_the_same_range_error(store, tmp_path):
    table = pa.table({"name": ["Fine", "Far"], "x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0],
                      "modified_at": pa.array([1_700_000_000_000, -62_135_596_800_001], pa.int64())})
    pq.write_table(table, tmp_path / "far.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "far.parquet")
    assert str(exc.value).startswith("far.parquet row 2: modified_at: must lie between the years 1 and 9999 (UTC)")
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_a_value_that_cannot_be_stored_names_its_own_column(store, tmp_path):
    """The error names the column whose value failed, not the row's first extra column."""
    table = pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0],
                      "visits": [3, 4], "blob": pa.array([None, b"\x00\x01"], pa.binary())})
    pq.write_table(table, tmp_path / "blob.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "blob.parquet")
    assert str(exc.value).startswith("blob.parquet row 2: blob: cannot be stored (") and exc.value.field == "blob"

    from decimal import Decimal
    table = pa.table({"name": ["A"], "x": [1.0], "y": [0.0], "z": [0.0], "visits": [3],
                      "price": pa.array([Decimal("1.50")], pa.decimal128(5, 2))})
    pq.write_table(table, tmp_path / "price.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "price.parquet")
    assert str(exc.value).startswith("price.parquet row 1: price: cannot be stored (") and exc.value.field == "price"

    # a key of an ``extra`` column of objects is named inside that column
    extra = pa.array([{"note": "n", "payload": b"\x00"}],
                     pa.struct([("note", pa.string()), ("payload", pa.binary())]))
    table = pa.table({"name": ["A"], "x": [1.0], "y": [0.0], "z": [0.0], "visits": [3], "extra": extra})
    pq.write_table(table, tmp_path / "nested.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "nested.parquet")
    assert str(exc.value).startswith("nested.parquet row 1: extra.payload: cannot be stored (")
    assert exc.value.field == "extra.payload"
    assert store.galaxy(GALAXY)["system_count"] == 0


def _write_csv(path, row: dict) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(row))
        writer.writerow(list(row.values()))


@pytest.mark.parametrize("cell, field, message", [
    ('{"big": 123456789012345678901234567890}', "extra.big", "is an integer beyond 64 bits"),
    ('{"big": 9223372036854775808}', "extra.big", "is an integer beyond 64 bits"),
    ('{"deep": {"list": [1, -99999999999999999999]}}', "extra.deep.list[1]", "is an integer beyond 64 bits"),
    ('{"k": 1, "k": 2}', "extra.k", 'the key "k" appears more than once'),
])
def test_csv_extra_json_is_read_exactly_or_refused(store, tmp_path, cell, field, message):
    """An ``extra`` cell of JSON text is never changed silently: orjson alone would turn a huge
    integer into a float and keep only a repeated key's last value."""
    path = tmp_path / "extra.csv"
    _write_csv(path, {"name": "A", "x": "1", "y": "0", "z": "0", "extra": cell})
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, path)
    assert str(exc.value).startswith(f"extra.csv row 1: {field}: {message}")
    assert exc.value.field == field
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_csv_extra_json_keeps_every_integer_that_fits(store, tmp_path):
    path = tmp_path / "extra.csv"
    _write_csv(path, {"name": "A", "x": "1", "y": "0", "z": "0",
                      "extra": '{"top": 9223372036854775807, "low": -9223372036854775808, "f": 0.1}'})
    bulk_import(store, GALAXY, path)
    (item,) = store.page(GALAXY, limit=5).items
    assert item["extra"] == {"top": 9223372036854775807, "low": -9223372036854775808, "f": 0.1}


@pytest.mark.parametrize("cell, field, message", [
    ('[{"name": "p", "name": "q"}]', "planets[0].name", 'the key "name" appears more than once'),
    ('[{"name": "p", "extra": {"n": 123456789012345678901234567890}}]', "planets[0].n",
     "integer is too large to store"),
])
def test_csv_planets_json_is_read_exactly_or_refused(store, tmp_path, cell, field, message):
    path = tmp_path / "bodies.csv"
    _write_csv(path, {"name": "A", "x": "1", "y": "0", "z": "0", "planets": cell})
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, path)
    assert str(exc.value).startswith(f"bodies.csv row 1: {field}: {message}")
    assert store.galaxy(GALAXY)["system_count"] == 0


@pytest.mark.parametrize("column, value, field", [
    ("score", pa.array([1.5, float("nan")]), "score"),
    ("score", pa.array([None, float("-inf")], pa.float32()), "score"),
    ("readings", pa.array([[1.0], [2.0, float("inf")]]), "readings[1]"),
    ("extra", pa.array([{"m": 1.0}, {"m": float("nan")}]), "extra.m"),
    # a map cell comes as (key, value) tuples and is stored as [[key, value], …]
    ("scores", pa.array([[("a", 1.0)], [("a", 2.0), ("b", float("nan"))]], pa.map_(pa.string(), pa.float64())),
     "scores[1][1]"),
    ("scores", pa.array([None, [("a", float("inf"))]], pa.map_(pa.string(), pa.float32())), "scores[0][1]"),
])
def test_parquet_nan_and_infinity_in_extra_are_refused_naming_the_column(store, tmp_path, column, value, field):
    """JSON has no NaN or infinity: stored, they would come back as null."""
    table = pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0], column: value})
    pq.write_table(table, tmp_path / "nan.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "nan.parquet")
    assert str(exc.value).startswith(
        f"nan.parquet row 2: {field}: must be a finite number (NaN and infinity cannot be stored)")
    assert exc.value.field == field
    assert store.galaxy(GALAXY)["system_count"] == 0


@pytest.mark.parametrize("column, value, field", [
    ("count", pa.array([1, 2**63], pa.uint64()), "count"),
    ("count", pa.array([None, 2**64 - 1], pa.uint64()), "count"),
    ("counts", pa.array([[1], [2, 2**63]], pa.list_(pa.uint64())), "counts[1]"),
    ("extra", pa.array([{"n": 1}, {"n": 2**63}], pa.struct([("n", pa.uint64())])), "extra.n"),
    ("tally", pa.array([[("a", 1)], [("b", 2**63)]], pa.map_(pa.string(), pa.uint64())), "tally[0][1]"),
])
def test_parquet_uint64_above_2_63_in_extra_names_its_column_and_row(store, tmp_path, column, value, field):
    """``extra`` keeps signed 64-bit integers, as CSV, JSONL and the API say: the error names
    the column (or the place inside it) and the row, not ``extra``."""
    table = pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0], column: value})
    pq.write_table(table, tmp_path / "u64.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "u64.parquet")
    assert str(exc.value).startswith(f"u64.parquet row 2: {field}: is an integer beyond 64 bits")
    assert exc.value.field == field
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_parquet_uint64_up_to_2_63_minus_1_is_kept(store, tmp_path):
    table = pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0],
                      "count": pa.array([2**63 - 1, None], pa.uint64())})
    pq.write_table(table, tmp_path / "u64.parquet")
    bulk_import(store, GALAXY, tmp_path / "u64.parquet")
    assert store.system_by_name(GALAXY, "A")["extra"] == {"count": 2**63 - 1}
    assert not store.system_by_name(GALAXY, "B")["extra"]


def test_parquet_whole_numbers_beyond_2_53_in_coordinates_get_the_range_error(store, tmp_path):
    table = pa.table({"name": ["A"], "x": pa.array([2**53 + 1], pa.int64()), "y": [2.0], "z": [3.0]})
    pq.write_table(table, tmp_path / "far.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "far.parquet")
    assert str(exc.value).startswith("far.parquet row 1: x")
    assert "outside" in str(exc.value)
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_parquet_time_beyond_year_9999_in_an_extra_column_names_it(store, tmp_path):
    table = pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0],
                      "seen": pa.array([0, 2**62], pa.timestamp("us"))})
    pq.write_table(table, tmp_path / "late.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "late.parquet")
    assert str(exc.value).startswith("late.parquet row 2: seen: cannot be stored (a date or time outside")
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_parquet_dictionary_columns_are_read_as_their_values(store, tmp_path):
    """A pandas categorical is stored as a dictionary column: its values are plain text."""
    planets = pa.array(['[{"name": "P"}]', '[{"name": "P"}]']).dictionary_encode()
    table = pa.table({"name": pa.array(["Cat A", "Cat B"]).dictionary_encode(), "x": [1.0, 2.0],
                      "y": [0.0, 0.0], "z": [0.0, 0.0], "region": pa.array(["R", "R"]).dictionary_encode(),
                      "planets": planets})
    pq.write_table(table, tmp_path / "cat.parquet")
    bulk_import(store, GALAXY, tmp_path / "cat.parquet")
    items = store.page(GALAXY, limit=5).items
    assert sorted(s["name"] for s in items) == ["Cat A", "Cat B"]
    assert [p["name"] for p in store.system(items[0]["id"])["planets"]] == ["P"]


def test_jsonl_lines_may_spell_an_axis_either_way_but_not_both(store, tmp_path):
    path = tmp_path / "axes.jsonl"
    path.write_text('{"name": "A", "x": 1, "y": 2, "z": 3}\n{"name": "B", "x_ly": 4, "y": 5, "z": 6}\n')
    bulk_import(store, GALAXY, path)
    xs = {s["name"]: s["x"] for s in store.page(GALAXY, limit=5).items}
    assert xs == {"A": 1.0, "B": 4.0}

    both = tmp_path / "both.jsonl"
    both.write_text('{"name": "C", "x": null, "x_ly": 1, "y": 2, "z": 3}\n'
                    '{"name": "D", "x": 1, "x_ly": 2, "y": 2, "z": 3}\n')
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, both)
    assert str(exc.value).startswith("both.jsonl line 2: x_ly: the keys 'x' and 'x_ly' both give x; keep one")
    assert store.galaxy(GALAXY)["system_count"] == 2


@pytest.mark.parametrize("cell, field, message", [
    ('{"a": 1e400}', "extra.a", "must be a finite number"),
    ('{"a": [NaN]}', "extra.a[0]", "must be a finite number"),
    ('{"a": ' + "9" * 400 + "}", "extra.a", "is an integer beyond 64 bits"),
    # more digits than Python's int() reads (4,300 by default): not kept as text either
    ('{"a": ' + "9" * 4301 + "}", "extra.a", "is an integer beyond 64 bits"),
    ('{"n": "x", "a": [1, -' + "9" * 5000 + "]}", "extra.a[1]", "is an integer beyond 64 bits"),
])
def test_csv_extra_objects_with_numbers_json_cannot_hold_are_refused(store, tmp_path, cell, field, message):
    path = tmp_path / "odd.csv"
    _write_csv(path, {"name": "A", "x": "1", "y": "0", "z": "0", "extra": cell})
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, path)
    assert str(exc.value).startswith(f"odd.csv row 1: {field}: {message}")
    assert exc.value.field == field
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_parquet_string_extra_with_an_integer_of_thousands_of_digits_is_refused(store, tmp_path):
    table = pa.table({"name": ["A", "B"], "x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0],
                      "extra": ['{"ok": 1}', '{"big": ' + "9" * 4301 + "}"]})
    pq.write_table(table, tmp_path / "digits.parquet")
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, tmp_path / "digits.parquet")
    assert str(exc.value).startswith("digits.parquet row 2: extra.big: is an integer beyond 64 bits")
    assert exc.value.field == "extra.big"
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_csv_extra_text_that_is_not_json_is_kept_whatever_its_digits(store, tmp_path):
    """Only a JSON object is read as extra fields: a cut-off one stays text, long digits or not."""
    cell = '{"a": ' + "9" * 4301
    path = tmp_path / "cut.csv"
    _write_csv(path, {"name": "A", "x": "1", "y": "0", "z": "0", "extra": cell})
    bulk_import(store, GALAXY, path)
    assert store.system_by_name(GALAXY, "A")["extra"] == {"extra": cell}


def test_nul_in_a_text_column_is_refused(store, tmp_path):
    path = tmp_path / "nul.csv"
    _write_csv(path, {"name": "A", "x": "1", "y": "0", "z": "0", "materials": "Iron\x00Zinc"})
    with pytest.raises(BulkRowError) as exc:
        bulk_import(store, GALAXY, path)
    assert str(exc.value).startswith("nul.csv row 1: materials: must not contain the control character U+0000")
    assert store.galaxy(GALAXY)["system_count"] == 0


def test_importing_a_finished_file_again_says_nothing_was_written(store, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", records(2))
    assert "note" not in bulk_import(store, GALAXY, path)
    for s in store.page(GALAXY).items:
        store.delete(s["id"])
    again = bulk_import(store, GALAXY, path)
    assert again["rows_this_run"] == 0 and store.galaxy(GALAXY)["system_count"] == 0
    assert again["note"].startswith(f"this file was imported into {GALAXY!r} before")
