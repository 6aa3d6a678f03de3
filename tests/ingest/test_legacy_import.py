"""Legacy import: every file shape, every mapping rule, all-or-nothing on bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.errors import ImportFailed, InvalidInput, NotFound
from haven.ingest import import_file, read_legacy
from haven.model import validate_system


def state(store):
    """Everything a failed import must leave untouched."""
    stats = store.stats(GALAXY)
    stats.pop("database_size_bytes")
    stats.pop("wal_size_bytes")  # files, not content
    page = store.page(GALAXY, limit=100)
    return stats, [(s["name"], s["version"], s["x"]) for s in page.items], page.total


def seed(store, *names):
    for i, name in enumerate(names):
        store.create(GALAXY, validate_system({"name": name, "x": float(i), "y": 0.0, "z": 0.0, "region": "Seed"}))


# -- shapes -------------------------------------------------------------------


def test_name_keyed_data_json(store, fixtures_dir):
    report = import_file(store, GALAXY, fixtures_dir / "name_keyed.json")
    assert report.shape == "name-keyed"
    assert report.records == report.systems == report.created == 6
    assert report.problems == [] and report.warnings == [
        "_meta ('last_modified', 'synced_from_database') describes the file, not a system, and is not stored; "
        "keep the file if you need it"]
    assert report.meta["synced_from_database"] is True

    v = store.system_by_name(GALAXY, "VESPERINE 12/K4")
    assert v["legacy_id"] == "SYS_DRIFT_1"
    assert (v["x"], v["y"], v["z"], v["region"]) == (0.4, -2.6, 1.9, "Drift")
    assert v["created_at"] == "2025-03-14T08:00:01Z" and v["modified_at"] == "2025-03-14T08:30:00Z"
    assert v["photo"] is None and v["base_location"] == "N/A"
    assert v["provenance"] == "import:name_keyed.json"
    assert v["extra"] == {}

    k = store.system_by_name(GALAXY, "KORVENA PRIME")
    planet = k["planets"][0]
    assert planet["name"] == "Korvena a" and planet["flora"] == "Lush"
    assert planet["extra"] == {"id": 4, "system_id": "SYS_HOLLOW_5B1E22F0"}
    moon = planet["moons"][0]
    assert (moon["name"], moon["orbit_radius"], moon["orbit_speed"]) == ("Korvena a-I", 0.7, 0.03)
    assert moon["extra"] == {"id": 9, "planet_id": 4}

    z = store.system_by_name(GALAXY, "ZOLA 7")
    assert z["extra"] == {"planets_names": ["Zola b"]}
    assert z["fauna"] is None  # absent in the file: not invented
    assert z["planets"][0]["moons"][0]["fauna"] == "2"
    st = z["space_station"]
    assert (st["name"], st["race"], st["sell_percent"], st["buy_percent"]) == ("ZOLA 7 Station", "Gek", 75, 125)
    assert (st["x"], st["y"], st["z"]) == (None, None, None)  # JSON stations carry no position: none is invented

    m = store.system_by_name(GALAXY, "MIRELLO-IMPORT-01")
    assert (m["x"], m["y"], m["z"]) == (1200.0, -800.0, 45.0)
    assert m["fauna"] == "7" and m["flora"] == "2"  # numbers where text belongs become text
    assert m["region"] is None  # region "" means no region
    assert m["sentinel"] == ""  # other empty strings are kept as given
    one, two = m["planets"]
    assert one["sentinel"] == "Aggressive"  # `sentinels` → sentinel
    assert one["materials"] == "Copper, Gold"  # `resources` list → materials
    assert one["fauna"] == "7"
    assert one["extra"] == {"type": "Swamp", "weather": "Humid", "discovered": True}
    assert two["materials"] == "Salt"  # materials given: resources stay in extra
    assert two["extra"] == {"resources": ["Salt", "Ammonia"]}

    u = store.system_by_name(GALAXY, "Ubrid Hollow")  # no "name": the key is the name
    assert [p["name"] for p in u["planets"]] == ["Ubrid I", "Ubrid II"]  # planets as a list of names
    assert u["planets"][0]["extra"] == {} and u["planets"][0]["moons"] == []
    assert u["extra"] == {"discord_user": "mapper#0042"}
    assert u["legacy_id"] is None

    t = store.system_by_name(GALAXY, "Tessaly Reach")  # key and name differ: name wins, key kept
    assert t["extra"] == {"legacy_key": "OLD KEY"}
    with pytest.raises(NotFound):
        store.system_by_name(GALAXY, "OLD KEY")


def test_a_name_keyed_record_shaped_like_a_region_marker_is_a_system(store, tmp_path):
    path = tmp_path / "keyed.json"
    path.write_text(json.dumps({"Sol": {"type": "region", "region": "Euclid", "x": 1, "y": 2, "z": 3}}))
    report = import_file(store, GALAXY, path)
    assert report.created == 1 and report.warnings == []
    sol = store.system_by_name(GALAXY, "Sol")
    assert sol["region"] == "Euclid" and sol["extra"] == {"type": "region"}


def test_array_shape_with_region_marker(store, fixtures_dir):
    report = import_file(store, GALAXY, fixtures_dir / "array.json")
    assert report.shape == "array"
    assert report.records == 3 and report.systems == 2 and report.created == 2
    assert report.names == ["Cinder Gate", "Oru Vash/3"]
    assert len(report.warnings) == 2
    assert report.warnings[0].startswith("_meta ('last_modified') describes the file")
    assert "record #1" in report.warnings[1] and "Ashfall" in report.warnings[1]

    c = store.system_by_name(GALAXY, "Cinder Gate")
    assert [p["name"] for p in c["planets"]] == ["Cinder I", "Cinder II"]
    assert c["extra"] == {"planets_names": ["Cinder I", "Cinder II"]}
    o = store.system_by_name(GALAXY, "Oru Vash/3")
    assert o["attributes"] == ""
    assert o["planets"][0]["moons"][0]["orbit_radius"] == 1.25
    assert o["space_station"]["race"] == "Korvax"
    assert store.regions(GALAXY) == [{"name": "Ashfall", "system_count": 2}]


def test_file_with_only_meta_imports_nothing(store, fixtures_dir):
    before = state(store)
    report = import_file(store, GALAXY, fixtures_dir / "empty.json")
    assert report.shape == "empty"
    assert report.records == report.created == 0 and report.ok
    assert report.meta["description"] == "A fresh map with no systems yet"
    assert state(store) == before


def test_old_haven_db(store, legacy_db):
    path = legacy_db(unknown_column=True)
    before = path.read_bytes()
    legacy = read_legacy(path)
    assert legacy.shape == "sqlite"
    assert legacy.meta == {"version": "1.0.0", "last_import": ""}

    report = import_file(store, GALAXY, path)
    assert path.read_bytes() == before  # opened read-only
    assert report.shape == "sqlite" and report.created == 3 and report.ok
    assert any("Orphan" in w and "SYS_GONE" in w for w in report.warnings)
    assert any("discoveries" in w and "1 rows" in w for w in report.warnings)

    g = store.system_by_name(GALAXY, "Gloamreach[VH]")
    assert g["legacy_id"] == "SYS_GLOAM_1A2B3C4D"
    assert g["attributes"].startswith("Region: Tessel Verge\nEconomy")
    assert g["created_at"] == "2025-06-01T10:00:00Z" and g["modified_at"] == "2025-06-02T11:30:00Z"
    assert g["provenance"] == "import:old_haven.db"
    assert [p["name"] for p in g["planets"]] == ["The Lantern", "Exo-4411"]
    lantern = g["planets"][0]
    assert lantern["materials"] == "Silver\nGold"
    assert lantern["extra"] == {"id": 1, "system_id": "SYS_GLOAM_1A2B3C4D", "biome": None}
    assert [(m["name"], m["orbit_radius"], m["orbit_speed"]) for m in lantern["moons"]] == [
        ("Mirra", 0.5, 0.05), ("Uko", 0.8, 0.02)
    ]
    assert lantern["moons"][0]["extra"] == {"id": 1, "planet_id": 1}
    st = g["space_station"]
    assert (st["name"], st["race"], st["sell_percent"], st["buy_percent"]) == (
        "Gloamreach[VH] Station", "Vy'keen", 80, 120
    )
    assert st["extra"] == {"id": 1, "system_id": "SYS_GLOAM_1A2B3C4D"}

    pell = store.system_by_name(GALAXY, "Pell")
    assert pell["extra"] == {"glyph_code": "0123ABCDEF01"}  # a column Haven does not know
    assert pell["fauna"] == "" and pell["base_location"] == "Planet 1"
    assert pell["planets"][0]["extra"]["biome"] == "Lush"
    quill = store.system_by_name(GALAXY, "Quill sixty")
    assert quill["legacy_id"] == "1749000123456"


def test_haven_database_is_not_a_legacy_db(store, db_url):
    with pytest.raises(ImportFailed) as info:
        read_legacy(db_url.sqlite_path)
    assert "not of the legacy tool" in info.value.problems[0]


# -- files that cannot be read --------------------------------------------------


def test_broken_json_names_line_and_column(store, fixtures_dir):
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, fixtures_dir / "broken.json")
    assert info.value.problems == ["broken.json: line 7, column 5: invalid JSON: Expecting ',' delimiter"]
    report = import_file(store, GALAXY, fixtures_dir / "broken.json", dry_run=True)
    assert not report.ok and "line 7, column 5" in report.problems[0]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"name,x,y,z\nA,1,2,3\n", "neither JSON nor a SQLite database"),
        (b'[{"name": "A", "x": 1, "y": 2, "z": 3}]', "top level is a JSON array"),
        (b'{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}', "JSON Schema"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),
        (b"SQLite format 3\x00" + b"\x00" * 200, "SQLite"),
    ],
)
def test_files_that_are_not_legacy_maps(store, tmp_path, content, expected):
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    before = state(store)
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert len(info.value.problems) == 1 and expected in info.value.problems[0]
    assert info.value.problems[0].startswith("upload.bin: ")
    assert state(store) == before


def test_csv_fixture_is_rejected(store, fixtures_dir):
    with pytest.raises(ImportFailed, match="cannot be read"):
        import_file(store, GALAXY, fixtures_dir / "not_a_map.csv")


def test_missing_file_and_galaxy(store, fixtures_dir, tmp_path):
    with pytest.raises(NotFound):
        import_file(store, GALAXY, tmp_path / "nope.json")
    with pytest.raises(NotFound):
        import_file(store, "Andromeda", fixtures_dir / "array.json")
    with pytest.raises(InvalidInput):
        import_file(store, GALAXY, fixtures_dir / "array.json", on_conflict="merge")


# -- bad records: every problem, nothing written ----------------------------------


def test_bad_records_are_all_named_and_nothing_is_written(store, fixtures_dir):
    seed(store, "Brisa One", "Someone Else")
    before = state(store)
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, fixtures_dir / "bad.json", on_conflict="replace")
    assert info.value.problems == [
        'record "Brisa Three" (#3): x: must be a number, not text',
        "record #5: name: must not be empty",
    ]
    assert "2 problems; nothing was imported" in info.value.message
    assert state(store) == before
    assert store.system_by_name(GALAXY, "Brisa One")["region"] == "Seed"  # not replaced


def test_every_problem_in_a_record_and_nested_paths(store, tmp_path):
    records = [
        {"name": "GOOD", "x": 1, "y": 2, "z": 3},
        {"name": "ZOLA 7", "x": True, "y": None, "z": 1e999, "confidence": 3,
         "planets": [
             {"name": "a"},
             {"name": "b", "moons": [{"name": "b-1", "orbit_radius": "far"}, 7]},
             42,
         ],
         "space_station": {"name": "", "x": "here"}},
        "just text",
        {"name": "FAR", "x": 1e7, "y": 0, "z": 0, "created_at": "last tuesday"},
        {"name": "ODD", "x": 0, "y": 0, "z": 0, "planets": "Ruva", "space_station": [1]},
        {"name": "SENT", "x": 0, "y": 0, "z": 0, "planets": [{"name": "p", "sentinels": {"level": 3}}]},
    ]
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"_meta": {}, "data": records}))
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    problems = info.value.problems
    zola = [p for p in problems if p.startswith('record "ZOLA 7" (#2): ')]
    assert 'record "ZOLA 7" (#2): planets[1].moons[0].orbit_radius: must be a number, not text' in zola
    assert 'record "ZOLA 7" (#2): planets[1].moons[1]: a moon must be an object or a moon name, not a number' in zola
    assert 'record "ZOLA 7" (#2): planets[2]: a planet must be an object or a planet name, not a number' in zola
    assert any(p.endswith(": x: must be a number, not true/false") for p in zola)
    assert any(": y: " in p for p in zola) and any(": z: " in p for p in zola)
    assert any(": confidence: " in p for p in zola)
    assert any(": space_station.name: must not be empty" in p for p in zola)
    assert any(": space_station.x: must be a number, not text" in p for p in zola)
    assert "record #3: a system must be an object, not text" in problems
    assert any(p.startswith('record "FAR" (#4): x: 10000000 lies outside the galaxy') for p in problems)
    assert "record \"FAR\" (#4): created_at: 'last tuesday' is not a date and time" in problems
    assert 'record "ODD" (#5): planets: must be a list, not text' in problems
    assert 'record "ODD" (#5): space_station: must be an object, not a list' in problems
    # the user's own spelling is named, not the model's
    assert any(p.startswith('record "SENT" (#6): planets[0].sentinels: ') for p in problems)
    assert not any('"GOOD"' in p for p in problems)
    assert store.stats(GALAXY)["total_systems"] == 0


def test_non_finite_and_huge_values_in_extra(store, tmp_path):
    path = tmp_path / "nan.json"
    path.write_text(
        '{"data": [{"name": "N", "x": 0, "y": 0, "z": 0, "score": NaN, '
        '"planets": [{"name": "p", "mass": Infinity, "atoms": 123456789012345678901234567890}]}]}'
    )
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert sorted(info.value.problems) == sorted([
        'record "N" (#1): score: must be a finite number (NaN and Infinity cannot be stored)',
        'record "N" (#1): planets[0].mass: must be a finite number (NaN and Infinity cannot be stored)',
        'record "N" (#1): planets[0].atoms: integer is too large to store (more than 64 bits)',
    ])


def test_unpaired_surrogates_are_reported(store, tmp_path):
    path = tmp_path / "sur.json"
    path.write_text('{"data": [{"name": "S\\ud800", "x": 0, "y": 0, "z": 0, "note": "\\udfff"}]}')
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert any(": name: contains an unpaired surrogate" in p for p in info.value.problems)
    assert any(": note: contains an unpaired surrogate" in p for p in info.value.problems)


# -- duplicates ---------------------------------------------------------------------


def test_duplicate_names_in_array_file(store, tmp_path):
    path = tmp_path / "dups.json"
    path.write_text(json.dumps({"data": [
        {"name": "Twin", "x": 0, "y": 0, "z": 0},
        {"name": "Other", "x": 1, "y": 0, "z": 0},
        {"name": " Twin ", "x": 2, "y": 0, "z": 0},
    ]}))
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert info.value.problems == [
        'record "Twin" (#3): name: "Twin" is also the name of record #1; names must be unique'
    ]
    assert store.stats(GALAXY)["total_systems"] == 0


def test_duplicate_keys_in_name_keyed_file(store, tmp_path):
    path = tmp_path / "dupkeys.json"
    path.write_text(
        '{"_meta": {},\n'
        ' "Twin": {"x": 0, "y": 0, "z": 0},\n'
        ' "Solo": {"x": 1, "y": 0, "z": 0, "fauna": "Low", "fauna": "High"},\n'
        ' "Twin": {"x": 2, "y": 0, "z": 0}}'
    )
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert info.value.problems == [
        'record "Solo" (#2): fauna: this key appears more than once in the same object',
        'record "Twin" (#3): name: "Twin" is also the name of record #1; names must be unique',
    ]


def test_name_and_key_in_both_places_are_not_silently_merged(store, tmp_path):
    path = tmp_path / "both.json"
    path.write_text(json.dumps({"S": {"name": "S", "x": 0, "y": 0, "z": 0, "tag": 1, "extra": {"tag": 2}}}))
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert info.value.problems == [
        "record \"S\" (#1): extra.tag: 'tag' is given both as a field and inside \"extra\"; keep one"
    ]


# -- dry run and conflicts ---------------------------------------------------------


def test_dry_run_writes_nothing_and_reports_what_would_happen(store, fixtures_dir):
    seed(store, "ZOLA 7", "Ubrid Hollow")
    before = state(store)
    size = store.stats(GALAXY)["database_size_bytes"]
    path = fixtures_dir / "name_keyed.json"

    report = import_file(store, GALAXY, path, dry_run=True, on_conflict="replace")
    assert report.dry_run and report.ok
    assert (report.created, report.replaced, report.skipped) == (4, 2, 0)
    assert report.replaced_names == ["ZOLA 7", "Ubrid Hollow"]

    report = import_file(store, GALAXY, path, dry_run=True, on_conflict="skip")
    assert (report.created, report.replaced, report.skipped) == (4, 0, 2)
    assert report.skipped_names == ["ZOLA 7", "Ubrid Hollow"]
    assert "ZOLA 7" not in report.names

    report = import_file(store, GALAXY, path, dry_run=True)  # on_conflict="error"
    assert not report.ok and len(report.problems) == 2
    assert report.problems[0].startswith('record "ZOLA 7" (#3): name: a system named "ZOLA 7" already exists')

    bad = import_file(store, GALAXY, fixtures_dir / "bad.json", dry_run=True)
    assert len(bad.problems) == 2 and bad.created == 0

    assert state(store) == before
    assert store.stats(GALAXY)["database_size_bytes"] == size


def test_on_conflict_error_names_every_clash_and_writes_nothing(store, fixtures_dir):
    seed(store, "ZOLA 7", "Ubrid Hollow")
    before = state(store)
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, fixtures_dir / "name_keyed.json")
    assert [p.split(":")[0] for p in info.value.problems] == ['record "ZOLA 7" (#3)', 'record "Ubrid Hollow" (#5)']
    assert state(store) == before


def test_on_conflict_skip_keeps_existing(store, fixtures_dir):
    seed(store, "ZOLA 7")
    report = import_file(store, GALAXY, fixtures_dir / "name_keyed.json", on_conflict="skip")
    assert (report.created, report.replaced, report.skipped) == (5, 0, 1)
    assert report.skipped_names == ["ZOLA 7"]
    assert store.system_by_name(GALAXY, "ZOLA 7")["region"] == "Seed"
    assert store.stats(GALAXY)["total_systems"] == 6


def test_on_conflict_replace_overwrites(store, fixtures_dir):
    seed(store, "ZOLA 7")
    report = import_file(store, GALAXY, fixtures_dir / "name_keyed.json", on_conflict="replace")
    assert (report.created, report.replaced, report.skipped) == (5, 1, 0)
    z = store.system_by_name(GALAXY, "ZOLA 7")
    assert z["region"] == "Rim" and z["space_station"]["race"] == "Gek"
    regions = {r["name"]: r["system_count"] for r in store.regions(GALAXY)}
    assert regions["Seed"] == 0 and regions["Rim"] == 2
    assert store.stats(GALAXY)["total_systems"] == 6


def test_replace_keeps_the_id_and_undo_brings_the_old_system_back(store, fixtures_dir):
    seed(store, "ZOLA 7")
    before = store.system_by_name(GALAXY, "ZOLA 7")
    import_file(store, GALAXY, fixtures_dir / "name_keyed.json", on_conflict="replace")
    after = store.system_by_name(GALAXY, "ZOLA 7")
    assert after["id"] == before["id"]  # links, ETags and history still name it
    assert after["version"] == before["version"] + 1
    assert after["created_at"] == before["created_at"]  # the record gives no creation time
    assert after["modified_at"] >= before["modified_at"]
    assert [h["op"] for h in store.history(before["id"])] == ["update", "create"]
    store.undo(before["id"])
    undone = store.system_by_name(GALAXY, "ZOLA 7")
    assert undone["region"] == "Seed" and undone["space_station"] is None
    assert store.stats(GALAXY)["total_systems"] == 6


def test_record_provenance_is_kept(store, tmp_path):
    path = tmp_path / "prov.json"
    path.write_text(json.dumps({"data": [
        {"name": "A", "x": 0, "y": 0, "z": 0, "provenance": "survey:2024"},
        {"name": "B", "x": 0, "y": 0, "z": 0, "provenance": None},
        {"name": "C", "x": 0, "y": 0, "z": 0},
    ]}))
    import_file(store, GALAXY, path)
    assert store.system_by_name(GALAXY, "A")["provenance"] == "survey:2024"
    assert store.system_by_name(GALAXY, "B")["provenance"] is None
    assert store.system_by_name(GALAXY, "C")["provenance"] == "import:prov.json"


def test_legacy_db_read_only_even_when_locked(store, legacy_db):
    path = legacy_db()
    writer = sqlite3.connect(path)
    writer.execute("BEGIN IMMEDIATE")  # another program is writing
    try:
        report = import_file(store, GALAXY, path, dry_run=True)
    finally:
        writer.rollback()
        writer.close()
    assert report.ok and report.created == 3


def test_problem_list_is_capped(store, tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({"data": [{"name": f"S{i}", "x": "?", "y": 0, "z": 0} for i in range(1200)]}))
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert len(info.value.problems) == 1001
    assert info.value.problems[-1] == "… and 200 more problems"
    assert "1200 problems" in info.value.message


def test_read_legacy_accepts_str_path(fixtures_dir):
    legacy = read_legacy(str(Path(fixtures_dir) / "array.json"))
    assert legacy.shape == "array" and [r.index for r in legacy.records()] == [1, 2, 3]


def test_file_level_problems(store, tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps({
        "_meta": "v1",
        "data": [{"name": "A", "x": 0, "y": 0, "z": 0}],
        "B": {"x": 0, "y": 0, "z": 0},
    }))
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert info.value.problems == [
        "mixed.json: _meta must be an object",
        "mixed.json: unexpected top-level key 'B' next to \"data\"; a file holds either a \"data\" array "
        "or systems keyed by name, not both",
    ]
    assert store.stats(GALAXY)["total_systems"] == 0


def test_name_keyed_file_may_hold_a_system_called_data(store, tmp_path):
    path = tmp_path / "data-named.json"
    path.write_text(json.dumps({"_meta": {}, "data": {"x": 1, "y": 2, "z": 3}}))
    report = import_file(store, GALAXY, path)
    assert report.shape == "name-keyed" and report.names == ["data"]


def test_an_integer_too_long_to_read_is_a_record_problem(store, tmp_path):
    """Python's int() refuses literals of over 4,300 digits; the record's field is named instead of a traceback."""
    path = tmp_path / "long.json"
    path.write_text('{"data": [{"name": "L", "x": ' + "9" * 5000 + ', "y": 0, "z": 0, "note": -' + "1" * 5000 + "}]}")
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    problems = info.value.problems
    assert any(p.startswith('record "L" (#1): x: ') for p in problems), problems
    assert any(p.startswith('record "L" (#1): note: must be a finite number') for p in problems), problems
    assert store.stats(GALAXY)["total_systems"] == 0


def test_a_name_keyed_record_named_meta_is_refused_so_it_exports_back(store, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"ATLAS": {"name": "_meta", "x": 1, "y": 1, "z": 1}}))
    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path)
    assert info.value.problems == ['record "_meta" (#1): name: a system named "_meta" cannot be kept in a '
                                   "name-keyed file, where that key is the file's header: rename it"]
    array = tmp_path / "a.json"  # the array shape holds it, as Haven's own export does
    array.write_text(json.dumps({"data": [{"name": "_meta", "x": 1, "y": 1, "z": 1}]}))
    assert import_file(store, GALAXY, array).names == ["_meta"]


def test_the_files_own_header_is_named_in_a_warning_but_not_haven_exports_own(store, tmp_path):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"_meta": {"description": "my map", "last_modified": "2025-11-05",
                                          "format": "legacy-json", "exported_at": "2026-01-01T00:00:00Z"},
                                "ST": {"x": 1, "y": 2, "z": 3}}))
    report = import_file(store, GALAXY, path)
    assert report.warnings == ["_meta ('description', 'last_modified') describes the file, not a system, "
                               "and is not stored; keep the file if you need it"]
    assert report.meta["description"] == "my map"
    exported = tmp_path / "e.json"
    exported.write_text(json.dumps({"_meta": {"format": "haven-json", "version": 1, "generator": "haven x",
                                              "exported_at": "2026-01-01T00:00:00Z", "galaxy": "G", "count": 1},
                                    "data": [{"name": "E", "x": 1, "y": 2, "z": 3}]}))
    store.ensure_galaxy("Other")
    assert import_file(store, "Other", exported).warnings == []


# -- large files: read a record at a time -------------------------------------


def _big_file(path: Path, count: int, *, notes_chars: int) -> Path:
    """A haven-json file whose text is mostly notes, so its size dwarfs the names kept."""
    with path.open("w") as fh:
        fh.write('{"_meta": {"format": "haven-json"},\n"data": [\n')
        fh.write(",\n".join(json.dumps({"name": f"BIG {i}", "x": i % 100, "y": 0, "z": 0, "region": "R",
                                        "planets": [{"name": "P", "notes": "n" * notes_chars}]})
                            for i in range(count)))
        fh.write("\n]}\n")
    return path


def test_a_large_file_is_imported_without_holding_it(store, tmp_path, monkeypatch):
    import tracemalloc

    from haven.ingest import jsonstream

    monkeypatch.setattr(jsonstream, "CHUNK_BYTES", 1 << 16)  # a window of tens of kB, not 1 MiB
    path = _big_file(tmp_path / "big.json", 2000, notes_chars=4000)
    size = path.stat().st_size  # about 8 MB
    tracemalloc.start()
    try:
        report = import_file(store, GALAXY, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.created == 2000
    assert store.system_by_name(GALAXY, "BIG 1999")["planets"][0]["notes"] == "n" * 4000
    assert peak < size / 4  # the file held in memory (as text, then parsed) took several times its size


def test_progress_names_each_stage_and_ends_complete(store, tmp_path):
    path = _big_file(tmp_path / "big.json", 1200, notes_chars=10)
    calls: list[tuple[str, int, int]] = []
    import_file(store, GALAXY, path, progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = [c[0] for c in calls]
    assert stages == sorted(stages, key=["reading", "checking", "writing"].index)
    last = {stage: (done, total) for stage, done, total in calls}
    assert last == {"reading": (path.stat().st_size,) * 2, "checking": (1200, 1200), "writing": (1200, 1200)}


def test_a_file_changed_after_its_check_writes_nothing(store, tmp_path):
    seed(store, "KEEP")
    before = state(store)
    path = _big_file(tmp_path / "big.json", 600, notes_chars=10)

    def edit_after_the_check(stage: str, done: int, total: int) -> None:
        if stage == "checking" and done == total:
            with path.open("a") as fh:
                fh.write(" ")

    with pytest.raises(ImportFailed) as info:
        import_file(store, GALAXY, path, progress=edit_after_the_check)
    assert "changed while it was being imported" in info.value.problems[0]
    assert state(store) == before


def test_a_repeated_id_is_kept_with_a_warning(store, tmp_path):
    """The original tool's id was its primary key: two records sharing one is worth saying."""
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"P1": {"id": "SYS_1", "x": 1, "y": 2, "z": 3},
                                "P7": {"id": "SYS_1", "x": 1, "y": 2, "z": 3},
                                "P8": {"id": "SYS_8", "x": 1, "y": 2, "z": 3}}))
    report = import_file(store, GALAXY, path)
    assert report.created == 3
    assert [w for w in report.warnings if "SYS_1" in w] == [
        "record \"P7\" (#2): id 'SYS_1' is also the id of record #1; legacy routes show both systems with it"]
