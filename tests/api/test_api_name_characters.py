"""Names through the API: a name holding a bidirectional control, a line separator or a C1 control,
or nothing visible, is a 400 naming the field and the character, and changes nothing. Legitimate
Unicode goes through unchanged; names stored before the rule are still found and restored by undo."""

from __future__ import annotations

from typing import Any

import pytest
from apihelpers import dump, enc

BASE = {"name": "Vex", "x": 1.0, "y": 2.0, "z": 3.0}

BAD = {
    "bidi override": ("Evil\u202eXT", "must not contain U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    "isolate": ("A\u2067B", "must not contain U+2067 (RIGHT-TO-LEFT ISOLATE)"),
    "line separator": ("Two\u2028Lines", "must not contain U+2028 (LINE SEPARATOR)"),
    "C1 control": ("A\x9bB", "must not contain the control character U+009B"),
    "zero width space": ("\u200b", "must contain a visible character"),
    "invisible mix": (" \u2060\ufeff\u00ad ", "must contain a visible character"),
    "hangul filler": ("\u3164", "must contain a visible character"),
}

#: Where a name sits in a body, and how to put one there.
FIELDS = {
    "name": lambda v: {**BASE, "name": v},
    "region": lambda v: {**BASE, "region": v},
    "planets[0].name": lambda v: {**BASE, "planets": [{"name": v}]},
    "planets[0].moons[0].name": lambda v: {**BASE, "planets": [{"name": "P", "moons": [{"name": v}]}]},
    "space_station.name": lambda v: {**BASE, "space_station": {"name": v}},
}

#: ZWJ emoji, Persian with ZWNJ, Arabic, Hebrew, a combining accent, an RLM mark, a ZWJ flag.
GOOD = ["👩\u200d🚀 Station", "می\u200cخواهم", "السلام", "שלום 7", "e\u0301toile", "Nova\u200f",
        "🏳\ufe0f\u200d🌈"]


def refused(r: Any, field: str, said: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid" and error["field"] == field, error
    assert said in error["message"], error


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_create_replace_and_patch_refuse_the_name(client, store, field, bad):
    value, said = bad
    existing = client.post("/api/v1/systems", json={**BASE, "name": "Kept"}).json()
    before = dump(store)
    refused(client.post("/api/v1/systems", json=FIELDS[field](value)), field, said)
    refused(client.put(f"/api/v1/systems/{existing['id']}", json={**FIELDS[field](value), "name": "Kept"}
                       if field != "name" else FIELDS[field](value)), field, said)
    patch = FIELDS[field](value)
    patch.pop("x"), patch.pop("y"), patch.pop("z")
    if field != "name":
        patch.pop("name")
    refused(client.patch(f"/api/v1/systems/{existing['id']}", json=patch), field, said)
    assert dump(store) == before


@pytest.mark.parametrize("name", GOOD, ids=ascii)
def test_legitimate_names_go_through_unchanged(client, name):
    created = client.post("/api/v1/systems", json={**BASE, "name": name, "region": name,
                                                   "planets": [{"name": name, "moons": [{"name": name}]}],
                                                   "space_station": {"name": name}})
    assert created.status_code == 201, created.text
    got = client.get(f"/api/v1/systems/by-name/{enc(name)}").json()
    assert (got["name"], got["region"], got["planets"][0]["name"], got["planets"][0]["moons"][0]["name"],
            got["space_station"]["name"]) == (name,) * 5
    assert client.get("/api/v1/systems", params={"region": name}).json()["total"] == 1


def _store_old_names(store, system_id: int) -> None:
    """As a database written before the characters were checked may hold them."""
    with store.conn:
        store.conn.execute("UPDATE system SET name = 'Old\u202eName' WHERE id = ?", (system_id,))
        store.conn.execute("UPDATE planet SET name = '\u200b' WHERE system_id = ?", (system_id,))
        store.conn.execute("UPDATE space_station SET name = 'St\u2028ation' WHERE system_id = ?", (system_id,))
        store.conn.execute("UPDATE region SET name = '\u2060' WHERE name = 'Old Region'")


@pytest.fixture
def old(client, store) -> dict[str, Any]:
    created = client.post("/api/v1/systems", json={**BASE, "name": "Old", "region": "Old Region",
                                                   "planets": [{"name": "P"}], "space_station": {"name": "S"}})
    assert created.status_code == 201, created.text
    _store_old_names(store, created.json()["id"])
    return client.get(f"/api/v1/systems/{created.json()['id']}").json()


def test_names_stored_before_the_rule_are_still_found(client, old):
    assert old["name"] == "Old\u202eName" and old["region"] == "\u2060"
    assert client.get(f"/api/v1/systems/by-name/{enc('Old' + chr(0x202E) + 'Name')}").json()["id"] == old["id"]
    assert client.get("/api/v1/systems", params={"region": "\u2060"}).json()["total"] == 1


def test_an_edit_of_another_field_keeps_a_name_stored_before_the_rule(client, old):
    edited = client.patch(f"/api/v1/systems/{old['id']}", json={"fauna": "edited"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Old\u202eName"


def test_undo_restores_names_stored_before_the_rule(client, old):
    assert client.delete(f"/api/v1/systems/{old['id']}").status_code == 204
    r = client.post(f"/api/v1/systems/{old['id']}/undo")
    assert r.status_code == 200, r.text
    got = client.get(f"/api/v1/systems/{old['id']}").json()
    assert (got["name"], got["region"], got["planets"][0]["name"], got["space_station"]["name"]) == \
        ("Old\u202eName", "\u2060", "\u200b", "St\u2028ation")


def test_undo_of_an_edit_brings_the_old_names_back(client, old):
    renamed = client.patch(f"/api/v1/systems/{old['id']}", json={"name": "New", "planets": [{"name": "Q"}]})
    assert renamed.status_code == 200, renamed.text
    r = client.post(f"/api/v1/systems/{old['id']}/undo")
    assert r.status_code == 200, r.text
    got = client.get(f"/api/v1/systems/{old['id']}").json()
    assert got["name"] == "Old\u202eName" and [p["name"] for p in got["planets"]] == ["\u200b"]


def test_a_new_name_in_a_replace_is_checked_even_when_the_old_one_was_stored_before(client, old):
    r = client.put(f"/api/v1/systems/{old['id']}", json={**BASE, "name": "Old\u202eName"})
    refused(r, "name", "U+202E")
