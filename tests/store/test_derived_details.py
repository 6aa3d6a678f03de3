"""Detail on demand: generated systems derive planets, moons and station from their seed until edited."""

from __future__ import annotations

import pytest

from haven.ingest.bulk import generate_galaxy
from haven.model import validate_patch, validate_system
from haven.procgen import derive_system_details

GALAXY = "Gen"


@pytest.fixture
def gen(store):
    generate_galaxy(store, GALAXY, 300, 5, batch_size=300, write_rows=300)
    return store


def stored_seed(store, system_id: int):
    return store.conn.execute("SELECT seed FROM system WHERE id = ?", (system_id,)).fetchone()[0]


def child_rows(store, system_id: int) -> tuple[int, int]:
    c = store.conn
    return (
        c.execute("SELECT count(*) FROM planet WHERE system_id = ?", (system_id,)).fetchone()[0],
        c.execute("SELECT count(*) FROM space_station WHERE system_id = ?", (system_id,)).fetchone()[0],
    )


def with_station(store) -> dict:
    """A generated system whose derived details include a station and a moon."""
    for item in store.page(GALAXY, limit=300).items:
        s = store.system(item["id"])
        if s["space_station"] and any(p["moons"] for p in s["planets"]):
            return s
    raise AssertionError("no generated system with a station and moons")


def strip(bodies):
    return [{k: v for k, v in b.items() if k not in ("id", "extra", "moons")} for b in bodies]


def test_reads_derive_children_from_the_seed(gen):
    s = with_station(gen)
    seed = stored_seed(gen, s["id"])
    assert seed is not None and child_rows(gen, s["id"]) == (0, 0)  # nothing stored
    expected = derive_system_details(seed, s)
    assert s["derived"] is True
    assert strip(s["planets"]) == strip(expected["planets"])
    assert strip(s["planets"][0]["moons"]) == strip(expected["planets"][0]["moons"])
    assert {k: v for k, v in s["space_station"].items() if k != "extra"} == expected["space_station"]
    assert s["planets"][0]["extra"] == {} and s["space_station"]["extra"] == {}
    assert gen.system_by_name(GALAXY, s["name"]) == s
    assert gen.system(s["id"]) == s  # the same every time


def test_stored_systems_are_not_derived(gen):
    made = gen.create(GALAXY, validate_system({"name": "Hand Made", "x": 1, "y": 2, "z": 3}))
    assert made["derived"] is False and made["planets"] == [] and made["space_station"] is None


def test_patching_other_fields_keeps_the_seed(gen):
    s = with_station(gen)
    after = gen.patch(s["id"], validate_patch({"base_location": "Charted ridge", "version": s["version"]}))
    assert after["derived"] and after["base_location"] == "Charted ridge" and after["version"] == s["version"] + 1
    assert after["planets"] == s["planets"] and after["space_station"] == s["space_station"]
    assert stored_seed(gen, s["id"]) is not None and child_rows(gen, s["id"]) == (0, 0)


def test_derived_bodies_follow_a_patched_summary(gen):
    """The system's materials and levels are what its bodies hold, after an edit too."""
    s = with_station(gen)
    after = gen.patch(s["id"], validate_patch({"fauna": "Bountiful", "flora": "Bountiful",
                                               "sentinel": "Frenzied", "materials": "Gold, Void Pearl"}))
    assert after["derived"] and stored_seed(gen, s["id"]) is not None
    bodies = [b for p in after["planets"] for b in (p, *p["moons"])]
    assert [b["name"] for b in bodies] == [b["name"] for p in s["planets"] for b in (p, *p["moons"])]
    assert {m for b in bodies for m in b["materials"].split(", ")} == {"Gold", "Void Pearl"}
    assert any(b["fauna"] == "Bountiful" and b["flora"] == "Bountiful" for b in bodies)
    assert any(b["sentinel"] == "Frenzied" for b in bodies)
    assert after["space_station"] == s["space_station"]


def test_every_gold_system_found_has_a_gold_body(gen):
    found = gen.search(GALAXY, "Gold", limit=300)
    assert found
    for item in found:
        s = gen.system(item["id"])
        bodies = [b for p in s["planets"] for b in (p, *p["moons"])]
        assert any("Gold" in b["materials"].split(", ") for b in bodies), s["name"]


def test_editing_planets_stores_them_and_the_derived_station(gen):
    s = with_station(gen)
    after = gen.patch(s["id"], validate_patch({"planets": [{"name": "New World", "moons": [{"name": "Tiny"}]}]}))
    assert after["derived"] is False
    assert [p["name"] for p in after["planets"]] == ["New World"]
    assert after["planets"][0]["moons"][0]["name"] == "Tiny"
    assert {k: v for k, v in after["space_station"].items() if k != "extra"} == \
        {k: v for k, v in s["space_station"].items() if k != "extra"}  # the station the user saw, now stored
    assert stored_seed(gen, s["id"]) is None and child_rows(gen, s["id"]) == (1, 1)
    renamed = gen.patch(s["id"], validate_patch({"name": "Renamed Later"}))
    assert renamed["space_station"] == after["space_station"]  # stored: no longer follows the name


def test_editing_the_station_stores_the_derived_planets(gen):
    s = with_station(gen)
    station = {"name": "Harbour", "x": s["x"], "y": s["y"], "z": s["z"], "race": "Gek"}
    after = gen.patch(s["id"], validate_patch({"space_station": station}))
    assert after["derived"] is False
    assert after["space_station"]["name"] == "Harbour"
    assert strip(after["planets"]) == strip(s["planets"])
    assert [strip(p["moons"]) for p in after["planets"]] == [strip(p["moons"]) for p in s["planets"]]
    assert child_rows(gen, s["id"]) == (len(s["planets"]), 1)


def test_removing_the_station_keeps_the_planets(gen):
    s = with_station(gen)
    after = gen.patch(s["id"], validate_patch({"space_station": None}))
    assert after["space_station"] is None and strip(after["planets"]) == strip(s["planets"])
    assert not after["derived"]


def test_replace_stores_the_given_children(gen):
    s = with_station(gen)
    body = {"name": s["name"], "x": s["x"], "y": s["y"], "z": s["z"], "planets": [{"name": "Only One"}]}
    after = gen.replace(s["id"], validate_system(body))
    assert after["derived"] is False
    assert [p["name"] for p in after["planets"]] == ["Only One"] and after["space_station"] is None
    assert stored_seed(gen, s["id"]) is None


def test_renaming_keeps_deriving_from_the_seed(gen):
    s = with_station(gen)
    after = gen.patch(s["id"], validate_patch({"name": "Zed Prime"}))
    assert after["derived"] and stored_seed(gen, s["id"]) is not None
    assert after["space_station"]["x"] == s["space_station"]["x"]  # the seed fixes the layout


def test_iter_systems_and_export_carry_derived_details(store, tmp_path):
    """An export of a generated galaxy keeps the planets people saw, so a re-import loses nothing."""
    from haven.ingest.bulk import generate_galaxy
    from haven.ingest.export import export_galaxy
    from haven.ingest.legacy import import_file

    generate_galaxy(store, "Gen", 40, seed=3)
    shown = {s["name"]: store.system(s["id"]) for s in store.page("Gen", limit=100).items}
    listed = {s["name"]: s for s in store.iter_systems("Gen", batch_size=7)}
    assert listed.keys() == shown.keys()
    for name, s in listed.items():
        assert s["planets"] == shown[name]["planets"]
        assert s["space_station"] == shown[name]["space_station"]
    assert any(s["planets"] for s in listed.values())

    path = tmp_path / "gen.json"
    export_galaxy(store, "Gen", path)
    store.ensure_galaxy("Copy")
    import_file(store, "Copy", path)
    for name, s in shown.items():
        copy = store.system_by_name("Copy", name)
        assert [p["name"] for p in copy["planets"]] == [p["name"] for p in s["planets"]]
        assert [[m["name"] for m in p["moons"]] for p in copy["planets"]] == \
            [[m["name"] for m in p["moons"]] for p in s["planets"]]
