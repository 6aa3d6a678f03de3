"""Export: the haven-json and legacy-json shapes, streamed, and lossless through import."""

from __future__ import annotations

import io
import json

import pytest

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.errors import InvalidInput, NotFound
from haven.ingest import export_galaxy, import_file
from haven.model import validate_system

COPY = "Copy"


def roundtrip(store, snapshot, tmp_path, fmt="haven-json"):
    """Export GALAXY, import the file into COPY, return both snapshots."""
    out = tmp_path / f"export-{fmt}.json"
    written = export_galaxy(store, GALAXY, out, fmt=fmt)
    store.ensure_galaxy(COPY)
    report = import_file(store, COPY, out)
    assert report.ok and report.created == written == store.stats(GALAXY)["total_systems"]
    return snapshot(store, GALAXY), snapshot(store, COPY)


@pytest.mark.parametrize("fixture", ["name_keyed.json", "array.json", "empty.json"])
@pytest.mark.parametrize("fmt", ["haven-json", "legacy-json"])
def test_fixture_files_roundtrip(store, snapshot, fixtures_dir, tmp_path, fixture, fmt):
    import_file(store, GALAXY, fixtures_dir / fixture)
    original, copy = roundtrip(store, snapshot, tmp_path, fmt)
    assert copy == original


def test_old_db_roundtrips(store, snapshot, legacy_db, tmp_path):
    import_file(store, GALAXY, legacy_db(unknown_column=True))
    original, copy = roundtrip(store, snapshot, tmp_path)
    assert copy == original
    assert len(original) == 3


def test_haven_json_shape(store, fixtures_dir):
    import_file(store, GALAXY, fixtures_dir / "name_keyed.json")
    buf = io.StringIO()
    assert export_galaxy(store, GALAXY, buf) == 6
    doc = json.loads(buf.getvalue())
    assert list(doc) == ["_meta", "data"]
    meta = doc["_meta"]
    assert meta["format"] == "haven-json" and meta["version"] == "1.0.0"
    assert meta["galaxy"] == GALAXY and meta["count"] == 6
    assert meta["exported_at"].endswith("Z")
    names = [s["name"] for s in doc["data"]]
    assert names == sorted(names)

    by_name = {s["name"]: s for s in doc["data"]}
    k = by_name["KORVENA PRIME"]
    assert k["id"] == "SYS_HOLLOW_5B1E22F0"
    assert "legacy_id" not in k and "extra" not in k and "version" not in k
    assert k["created_at"] == "2025-03-14T09:10:11Z"
    assert (k["glyph"], k["provenance"], k["confidence"]) == (None, "import:name_keyed.json", None)
    planet = k["planets"][0]
    assert planet["id"] == 4 and planet["system_id"] == "SYS_HOLLOW_5B1E22F0"  # legacy internals come back
    assert planet["moons"][0]["id"] == 9 and planet["moons"][0]["planet_id"] == 4
    assert planet["moons"][0]["orbit_radius"] == 0.7

    z = by_name["ZOLA 7"]
    assert z["planets_names"] == ["Zola b"]
    assert z["space_station"] == {
        "name": "ZOLA 7 Station", "x": None, "y": None, "z": None, "race": "Gek",
        "sell_percent": 75.0, "buy_percent": 125.0,
    }
    mirello = by_name["MIRELLO-IMPORT-01"]["planets"]
    assert mirello[0]["type"] == "Swamp" and mirello[0]["weather"] == "Humid"
    assert mirello[1]["resources"] == ["Salt", "Ammonia"]
    assert "id" not in by_name["Ubrid Hollow"]  # no legacy id: none invented
    assert by_name["Tessaly Reach"]["legacy_key"] == "OLD KEY"


def test_legacy_json_shape_is_name_keyed(store, fixtures_dir):
    import_file(store, GALAXY, fixtures_dir / "array.json")
    buf = io.StringIO()
    export_galaxy(store, GALAXY, buf, fmt="legacy-json")
    doc = json.loads(buf.getvalue())
    assert list(doc) == ["_meta", "Cinder Gate", "Oru Vash/3"]
    assert doc["_meta"]["format"] == "legacy-json"
    assert doc["Oru Vash/3"]["name"] == "Oru Vash/3" and doc["Oru Vash/3"]["id"] == "SYS_ASHFALL_2"


def test_empty_galaxy_exports_valid_json(store):
    for fmt, expected in (("haven-json", ["_meta", "data"]), ("legacy-json", ["_meta"])):
        buf = io.StringIO()
        assert export_galaxy(store, GALAXY, buf, fmt=fmt) == 0
        doc = json.loads(buf.getvalue())
        assert list(doc) == expected and doc["_meta"]["count"] == 0


def test_extra_keys_that_would_be_misread_go_under_nested_extra(store, snapshot, tmp_path):
    """Extra keys named like fields or aliases are written under "extra" so they come back as extra."""
    store.create(GALAXY, validate_system({
        "name": "Shadowed", "x": 1, "y": 2, "z": 3, "legacy_id": "L-1",
        "extra": {"name": "shadow", "id": 5, "extra": {"deep": 1}, "planets": 3, "version": 9,
                  "legacy_key": "k", "plain": True},
        "planets": [
            {"name": "p", "extra": {"sentinels": "x", "resources": ["Gold"], "moons": 1, "name": "n"},
             "moons": [{"name": "m", "extra": {"moons": 2, "orbit_radius": "r", "id": 7}}]},
            {"name": "q", "sentinel": "Low", "materials": "Salt",
             "extra": {"sentinels": "High", "resources": ["Salt"]}},
        ],
        "space_station": {"name": "st", "x": 0, "y": 0, "z": 0, "extra": {"x": 1, "extra": 2, "id": 3}},
    }))
    buf = io.StringIO()
    export_galaxy(store, GALAXY, buf)
    rec = json.loads(buf.getvalue())["data"][0]
    assert rec["name"] == "Shadowed" and rec["id"] == "L-1"
    assert rec["extra"] == {"name": "shadow", "id": 5, "extra": {"deep": 1}, "planets": 3}
    assert rec["version"] == 9 and rec["plain"] is True and rec["legacy_key"] == "k"
    p, q = rec["planets"]
    assert p["extra"] == {"sentinels": "x", "resources": ["Gold"], "moons": 1, "name": "n"}
    assert p["moons"][0]["extra"] == {"orbit_radius": "r"} and p["moons"][0]["moons"] == 2
    assert q["sentinels"] == "High" and q["resources"] == ["Salt"] and "extra" not in q
    assert rec["space_station"]["extra"] == {"x": 1, "extra": 2} and rec["space_station"]["id"] == 3

    original, copy = roundtrip(store, snapshot, tmp_path)
    # created directly, so no provenance; the copy keeps that (an explicit null is respected)
    assert copy == original


def test_export_to_path_is_atomic(store, fixtures_dir, tmp_path):
    import_file(store, GALAXY, fixtures_dir / "array.json")
    (tmp_path / "exports").mkdir()
    target = tmp_path / "exports" / "out.json"
    target.write_text("previous export")

    class Failing:
        def __init__(self, inner):
            self.inner = inner

        def galaxy(self, name):
            return self.inner.galaxy(name)

        def iter_systems(self, galaxy):
            it = self.inner.iter_systems(galaxy)
            yield next(it)
            raise OSError("disk went away")

    with pytest.raises(OSError):
        export_galaxy(Failing(store), GALAXY, target)
    assert target.read_text() == "previous export"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]

    assert export_galaxy(store, GALAXY, str(target)) == 2
    assert len(json.loads(target.read_text())["data"]) == 2


def test_export_streams(store, fixtures_dir, monkeypatch):
    """Systems are written a chunk at a time (here one per chunk) before the next ones are read."""
    from haven.ingest import export

    monkeypatch.setattr(export, "PROGRESS_EVERY", 1)
    import_file(store, GALAXY, fixtures_dir / "name_keyed.json")
    buf = io.StringIO()
    seen: list[str] = []

    class Watching:
        def galaxy(self, name):
            return store.galaxy(name)

        def iter_systems(self, galaxy):
            for s in store.iter_systems(galaxy):
                for earlier in seen:
                    assert f'"name":"{earlier}"' in buf.getvalue()
                seen.append(s["name"])
                yield s

    assert export_galaxy(Watching(), GALAXY, buf) == 6


def test_export_errors(store):
    with pytest.raises(InvalidInput):
        export_galaxy(store, GALAXY, io.StringIO(), fmt="tsv")
    with pytest.raises(NotFound):
        export_galaxy(store, "Andromeda", io.StringIO())
    store.create(GALAXY, validate_system({"name": "_meta", "x": 0, "y": 0, "z": 0}))
    with pytest.raises(InvalidInput, match="_meta"):
        export_galaxy(store, GALAXY, io.StringIO(), fmt="legacy-json")
    buf = io.StringIO()
    assert export_galaxy(store, GALAXY, buf) == 1  # haven-json holds any name
    assert json.loads(buf.getvalue())["data"][0]["name"] == "_meta"


def test_legacy_json_round_trip_keeps_whole_station_percents_whole(store, tmp_path):
    """The legacy tool wrote ``"sell_percent": 80``; a legacy-json export writes it back the same way."""
    legacy = {"_meta": {"version": "1.0.0"},
              "Whole": {"name": "Whole", "x": 1, "y": 2, "z": 3,
                        "space_station": {"name": "W", "x": 0.25, "y": 0.0, "z": -1.5, "race": "Gek",
                                          "sell_percent": 80, "buy_percent": -40}},
              "Part": {"name": "Part", "x": 1, "y": 2, "z": 4,
                       "space_station": {"name": "P", "x": 0.5, "y": 2.0, "z": 0.0, "race": None,
                                         "sell_percent": 82.5, "buy_percent": None}}}
    source = tmp_path / "data.json"
    source.write_text(json.dumps(legacy), encoding="utf-8")
    import_file(store, GALAXY, source)
    buf = io.StringIO()
    export_galaxy(store, GALAXY, buf, fmt="legacy-json")
    text = buf.getvalue()
    assert '"sell_percent":80,"buy_percent":-40}' in text and '"sell_percent":82.5,"buy_percent":null}' in text
    doc = json.loads(text)
    for name in ("Whole", "Part"):
        station = doc[name]["space_station"]
        assert json.dumps(station) == json.dumps(legacy[name]["space_station"])  # 80 stays 80, not 80.0

    # re-importing the export and exporting again gives the same records
    again = tmp_path / "again.json"
    again.write_text(text, encoding="utf-8")
    store.ensure_galaxy(COPY)
    import_file(store, COPY, again)
    second = io.StringIO()
    export_galaxy(store, COPY, second, fmt="legacy-json")
    records = {k: v for k, v in json.loads(second.getvalue()).items() if k != "_meta"}
    assert json.dumps(records) == json.dumps({k: v for k, v in doc.items() if k != "_meta"})


def test_haven_json_writes_stored_percents_as_before(store):
    """Only legacy-json writes a whole stored percent as an integer; haven-json keeps the stored double."""
    store.create(GALAXY, validate_system({"name": "S", "x": 1, "y": 2, "z": 3, "space_station": {
        "name": "st", "x": 0, "y": 0, "z": 0, "sell_percent": 80}}))
    buf = io.StringIO()
    export_galaxy(store, GALAXY, buf, fmt="haven-json")
    station = json.loads(buf.getvalue())["data"][0]["space_station"]
    assert station["sell_percent"] == 80 and isinstance(station["sell_percent"], float)


@pytest.mark.parametrize("fmt", ["haven-json", "legacy-json"])
def test_unknown_times_stay_unknown_through_an_export(store, tmp_path, fmt):
    """Generated systems have no known creation time; an edited one has a known modification time."""
    from haven.ingest.bulk import generate_galaxy
    from haven.model import SystemPatch

    generate_galaxy(store, GALAXY, 20, seed=4)
    edited = store.page(GALAXY, limit=1).items[0]
    store.patch(edited["id"], SystemPatch.model_validate({"fauna": "Rich"}))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    export_galaxy(store, GALAXY, first, fmt=fmt)
    store.ensure_galaxy(COPY)
    import_file(store, COPY, first)
    export_galaxy(store, COPY, second, fmt=fmt)

    def systems(path):
        doc = json.loads(path.read_text())
        return doc["data"] if fmt == "haven-json" else {k: v for k, v in doc.items() if k != "_meta"}

    assert systems(second) == systems(first)
    again = store.system_by_name(COPY, edited["name"])
    assert again["created_at"] is None and again["modified_at"] is not None
    assert store.system_by_name(COPY, store.page(GALAXY, limit=2).items[1]["name"])["modified_at"] is None
