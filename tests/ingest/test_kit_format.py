"""The benchmark kit's file layout through ``haven import``: a flat ``systems.parquet`` and a
``details.jsonl`` of planets/moons/station attached by the kit's ``id``.

The fixture is a few invented rows written here in the kit's shape (the same columns and
types, the same details records), not the kit's files.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from haven.config import DatabaseUrl
from haven.ingest.bulk import bulk_import
from haven.store import init_store, open_store
from haven.store.bulk import BulkRowError

GALAXY = "Haven"
KIT_SCHEMA = pa.schema([
    ("id", pa.string()), ("name", pa.string()), ("x", pa.float64()), ("y", pa.float64()), ("z", pa.float64()),
    ("region", pa.string()), ("fauna", pa.string()), ("flora", pa.string()), ("sentinel", pa.string()),
    ("materials", pa.string()), ("base_location", pa.string()), ("photo", pa.string()),
    ("attributes", pa.string()),
])


def kit_rows() -> list[dict]:
    rows = []
    for i, (name, region) in enumerate([("WOSANJO Q37X", "Tessel Expanse"), ("BRAIKEE A0B", "Tessel Expanse"),
                                        ("OCHANJ C12D", "Gorraur Void"), ("STEEMA E5F", "Gorraur Void"),
                                        ("KOUYEN O10X", "Tessel Expanse"), ("PLAIRUS Z9Z", "Gorraur Void")]):
        rows.append({
            "id": f"00000000-0000-4000-8000-{i:012d}", "name": name,
            "x": 1000.5 * i - 2500, "y": -300.25 * i, "z": 12.5 * (i - 3), "region": region,
            "fauna": "Average", "flora": "Sparse", "sentinel": "Low",
            "materials": "Gold, Carbon" if i == 2 else "Carbon, Oxygen",
            "base_location": "Planet 2 / +10.00, -20.00" if i == 1 else None,
            "photo": None,
            "attributes": json.dumps({"star": "Yellow", "economy": "Trading", "planet_count": 2,
                                      "discovered": i % 2 == 0}),
        })
    return rows


def body(name: str) -> dict:
    return {"name": name, "sentinel": "High", "fauna": "Low", "flora": "Full",
            "properties": {"biome": "Lush", "temperature": -4.5, "radius_km": 3200},
            "materials": "Emeril, Sodium, Carbon", "base_location": None, "photo": None,
            "notes": "Surveyed by Onheek"}


def details_record(row: dict) -> dict:
    base = row["name"].split(" ")[0]
    planets = []
    for p, roman in enumerate(["I", "II"]):
        planet = body(f"{base} {roman}")
        planet["moons"] = [dict(body(f"{base} {roman}-{ab}"), orbit_radius=0.4 + m, orbit_speed=0.05)
                           for m, ab in enumerate("ab")]
        planets.append(planet)
    station = {"name": f"{base} Station", "x": row["x"] + 0.25, "y": row["y"], "z": row["z"] - 0.25}
    return {"id": row["id"], "planets": planets, "space_station": station}


def write_kit(folder: Path, rows: list[dict], details: list[dict]) -> tuple[Path, Path]:
    systems = folder / "systems.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=KIT_SCHEMA), systems, compression="zstd")
    lines = folder / "details.jsonl"
    lines.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n" for d in details), encoding="utf-8")
    return systems, lines


@pytest.fixture
def haven(haven):
    """The ``haven`` command on an initialised, empty database."""
    result = haven("init", "--no-demo")
    assert result.exit_code == 0, result.output
    return haven


def counts(db: Path) -> tuple[int, int, int, int]:
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
                     for t in ("system", "planet", "moon", "space_station"))
    finally:
        conn.close()


def test_kit_files_import_with_details_attached_by_id(haven, tmp_path):
    rows = kit_rows()
    systems, details = write_kit(tmp_path, rows, [details_record(rows[1]), details_record(rows[4])])
    first = haven("import", systems)
    assert first.exit_code == 0, first.output
    second = haven("import", details)
    assert second.exit_code == 0, second.output
    assert "Details attached  2" in second.output
    assert counts(haven.db) == (6, 4, 8, 2)

    store = open_store(DatabaseUrl("sqlite", str(haven.db)))
    try:
        for r in rows:
            s = store.system_by_name(GALAXY, r["name"])
            assert s["legacy_id"] == r["id"]
            for f in ("x", "y", "z", "region", "fauna", "flora", "sentinel", "materials", "base_location", "photo",
                      "attributes"):
                assert s[f] == r[f], f
            assert not s["derived"]
        rich = store.system_by_name(GALAXY, "BRAIKEE A0B")
        want = details_record(rows[1])
        assert [p["name"] for p in rich["planets"]] == ["BRAIKEE I", "BRAIKEE II"]
        moon = rich["planets"][1]["moons"][1]
        assert moon["name"] == "BRAIKEE II-b" and moon["orbit_radius"] == 1.4 and moon["orbit_speed"] == 0.05
        assert json.loads(moon["properties"]) == want["planets"][1]["moons"][1]["properties"]
        assert rich["planets"][0]["notes"] == "Surveyed by Onheek" and rich["planets"][0]["extra"] == {}
        st = rich["space_station"]
        assert (st["name"], st["x"], st["y"], st["z"]) == ("BRAIKEE Station", *(want["space_station"][k] for k in "xyz"))
        plain = store.system_by_name(GALAXY, "OCHANJ C12D")
        assert plain["planets"] == [] and plain["space_station"] is None
        assert [s["name"] for s in store.search(GALAXY, "Gold")] == ["OCHANJ C12D"]
        assert [s["name"] for s in store.search(GALAXY, "C12D")] == ["OCHANJ C12D"]
        assert {r["name"]: r["system_count"] for r in store.regions(GALAXY)} == {
            "Tessel Expanse": 3, "Gorraur Void": 3}
    finally:
        store.close()


def damage_details(tmp_path: Path, rows: list[dict], change) -> Path:
    records = [details_record(rows[0]), details_record(rows[3])]
    change(records)
    return write_kit(tmp_path, rows, records)[1]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d[1].update(id="ffffffff-0000-4000-8000-000000000000"),
         "details.jsonl line 2: id: no system with the id 'ffffffff-0000-4000-8000-000000000000' in galaxy 'Haven'"),
        (lambda d: d[0]["planets"][0]["moons"][1].update(orbit_radius="far"),
         "details.jsonl line 1: planets[0].moons[1].orbit_radius: must be a number, not text"),
        (lambda d: d[1]["space_station"].pop("name"),
         "details.jsonl line 2: space_station.name: is required"),
        (lambda d: d[1]["planets"][1].update(moons={"name": "x"}),
         "details.jsonl line 2: planets[1].moons: must be a list, not an object"),
        (lambda d: d[0].update(planet_count=2),
         "details.jsonl line 1: planet_count: a details line (no name) holds only id, planets and space_station"),
        (lambda d: d[1].update(id=None),
         "details.jsonl line 2: id: a details line needs the id of its system"),
        (lambda d: d[0]["planets"][1].update(name=d[0]["planets"][0]["name"]),
         "details.jsonl line 1: planets: two planets have the same name"),
    ],
)
def test_a_bad_details_line_is_named_and_nothing_is_attached(haven, tmp_path, change, message):
    rows = kit_rows()
    systems, _ = write_kit(tmp_path, rows, [])
    assert haven("import", systems).exit_code == 0
    details = damage_details(tmp_path, rows, change)
    result = haven("import", details)
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert message in " ".join(result.output.split()), result.output
    assert counts(haven.db) == (6, 0, 0, 0)


def test_a_details_line_that_is_not_json_is_named(haven, tmp_path):
    rows = kit_rows()
    systems, details = write_kit(tmp_path, rows, [details_record(rows[0])])
    assert haven("import", systems).exit_code == 0
    details.write_text(details.read_text() + '{"id": "x", "planets": [\n', encoding="utf-8")
    result = haven("import", details)
    assert result.exit_code != 0
    assert "details.jsonl line 2: not valid JSON" in " ".join(result.output.split())
    assert counts(haven.db) == (6, 0, 0, 0)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda rows: rows[2].update(name=None), "systems.parquet row 3: name: is missing"),
        (lambda rows: rows[4].update(z=None), "systems.parquet row 5: z: is missing"),
        (lambda rows: rows[5].update(name=rows[0]["name"]),
         "systems.parquet row 6: name: 'WOSANJO Q37X' is also the name of systems.parquet row 1"),
        (lambda rows: rows[3].update(x=1e9), "systems.parquet row 4: x: "),
    ],
)
def test_a_bad_kit_row_is_named_and_nothing_is_written(haven, tmp_path, change, message):
    rows = kit_rows()
    change(rows)
    systems, _ = write_kit(tmp_path, rows, [])
    result = haven("import", systems)
    assert result.exit_code != 0
    assert message in " ".join(result.output.split()), result.output
    assert counts(haven.db) == (0, 0, 0, 0)


def test_details_over_several_batches_are_all_or_nothing(tmp_path):
    """An unknown id in a later batch fails the check before the first batch is attached."""
    store = init_store(DatabaseUrl("sqlite", str(tmp_path / "h.db")))
    try:
        store.ensure_galaxy(GALAXY)
        rows = kit_rows()
        bad = details_record(rows[5])
        bad["id"] = "not-in-the-galaxy"
        systems, details = write_kit(tmp_path, rows, [details_record(rows[0]), details_record(rows[1]),
                                                      details_record(rows[2]), bad])
        bulk_import(store, GALAXY, systems)
        with pytest.raises(BulkRowError, match=r"^details\.jsonl line 4: id: no system with the id "
                                               r"'not-in-the-galaxy'.*nothing was written$") as info:
            bulk_import(store, GALAXY, details, batch_rows=2)
        assert info.value.field == "id"
        assert counts(tmp_path / "h.db")[1:] == (0, 0, 0)

        details.write_text("".join(json.dumps(details_record(r)) + "\n" for r in rows[:4]), encoding="utf-8")
        assert bulk_import(store, GALAXY, details, batch_rows=2)["details_attached"] == 4
        assert counts(tmp_path / "h.db") == (6, 8, 16, 4)
    finally:
        store.close()


def test_a_details_line_before_its_system_in_a_later_batch_is_refused(tmp_path):
    store = init_store(DatabaseUrl("sqlite", str(tmp_path / "h.db")))
    try:
        store.ensure_galaxy(GALAXY)
        rows = kit_rows()
        mixed = [rows[0], details_record(rows[2]), rows[1], rows[2]]  # batches of 2: the system comes later
        path = tmp_path / "mixed.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in mixed), encoding="utf-8")
        with pytest.raises(BulkRowError, match=r"^mixed\.jsonl line 2: id: .* before this line"):
            bulk_import(store, GALAXY, path, batch_rows=2)
        assert counts(tmp_path / "h.db") == (0, 0, 0, 0)

        mixed = [rows[0], rows[2], details_record(rows[2]), rows[1]]
        path.write_text("".join(json.dumps(r) + "\n" for r in mixed), encoding="utf-8")
        assert bulk_import(store, GALAXY, path, batch_rows=2)["details_attached"] == 1
        assert len(store.system_by_name(GALAXY, rows[2]["name"])["planets"]) == 2
    finally:
        store.close()
