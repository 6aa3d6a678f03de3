"""A refused write lists every problem at once, in plain words, and what GET answers can be sent back.

- ``error.problems`` lists every problem as ``{"field", "message"}``; ``error.field`` and
  ``error.message`` stay the first one's, so older clients see what they always saw;
- messages say what to do in plain words (``x: is required``, ``confidence: must be at most 1``),
  never pydantic's ("Input should be a valid number", "Value error, ..."), in the API and the
  importers alike;
- a system as ``GET /api/v1/systems/{id}`` answers it, ids, ``galaxy`` and ``derived``
  included, is a valid body for ``PUT`` (and its planets for ``PATCH``).
"""

from __future__ import annotations

import copy
import json

import pytest
from apihelpers import FULL_SYSTEM, dump
from pydantic import ValidationError

from haven import model
from haven.model import SystemIn, invalid_from_validation, validation_message

PYDANTIC_WORDING = ("Input should", "Value error", "String should", "List should", "Field required",
                    "Extra inputs", "valid dictionary", "Assertion failed")


def refused(r, field: str | None = "__any__") -> dict:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid"
    if field != "__any__":
        assert err["field"] == field, err
    for text in [err["message"], *(p["message"] for p in err["problems"])]:
        assert not any(words in text for words in PYDANTIC_WORDING), text
    return err


# -- every problem at once ------------------------------------------------------------------


def test_an_empty_name_and_position_are_four_problems_in_one_answer(client, store):
    before = dump(store)
    r = client.post("/api/v1/systems", json={"name": "", "x": None, "y": None, "z": None})
    err = refused(r, "name")
    assert err["message"] == "name: must not be empty"  # the first problem, as before
    assert err["problems"] == [
        {"field": "name", "message": "name: must not be empty"},
        {"field": "x", "message": "x: is required"},
        {"field": "y", "message": "y: is required"},
        {"field": "z", "message": "z: is required"},
    ]
    assert dump(store) == before


def test_problems_come_in_field_order_from_every_level(client):
    body = {"name": "Deep", "x": 1, "y": 2, "z": None, "confidence": 1.5,
            "planets": [{"name": "P", "notes": "n" * 20_001,
                         "moons": [{"name": "", "orbit_radius": "far"}]}],
            "space_station": {"name": "S", "sell_percent": 5000}, "bogus": 1}
    err = refused(client.post("/api/v1/systems", json=body), "z")
    assert [p["field"] for p in err["problems"]] == [
        "z", "confidence", "planets[0].notes", "planets[0].moons[0].name", "planets[0].moons[0].orbit_radius",
        "space_station.sell_percent", "bogus"]
    assert err["problems"][0] == {"field": err["field"], "message": err["message"]}
    messages = {p["field"]: p["message"] for p in err["problems"]}
    assert messages["bogus"] == "bogus: is not a known field (put custom data under 'extra')"
    assert messages["space_station.sell_percent"] == "space_station.sell_percent: must be a percentage from -100 to 1000"


def test_put_and_patch_list_every_problem_too(client):
    created = client.post("/api/v1/systems", json={"name": "Edited", "x": 1, "y": 2, "z": 3}).json()
    r = client.put(f"/api/v1/systems/{created['id']}", json={"name": " ", "x": "1", "y": True, "z": 3})
    assert [(p["field"], p["message"]) for p in refused(r, "name")["problems"]] == [
        ("name", "name: must not be empty"), ("x", "x: must be a number, not text"),
        ("y", "y: must be a number, not true/false")]
    r = client.patch(f"/api/v1/systems/{created['id']}", json={"name": None, "x": None, "confidence": -1})
    assert [(p["field"], p["message"]) for p in refused(r, "name")["problems"]] == [
        ("name", "name: cannot be null"), ("x", "x: cannot be null"), ("confidence", "confidence: must be at least 0")]
    assert client.get(f"/api/v1/systems/{created['id']}").json()["version"] == 1


def test_one_problem_is_a_list_of_one(client):
    err = refused(client.post("/api/v1/systems", json={"name": "One", "x": 1, "y": 2, "z": 3, "confidence": 2}),
                  "confidence")
    assert err == {"code": "invalid", "field": "confidence", "message": "confidence: must be at most 1",
                   "problems": [{"field": "confidence", "message": "confidence: must be at most 1"}]}


@pytest.mark.parametrize("request_args", [
    ("POST", "/api/v1/systems", {"content": b"{bad", "headers": {"content-type": "application/json"}}),
    ("GET", "/api/v1/systems?limit=0", {}),
    ("GET", "/api/v1/systems/abc", {}),
    ("PUT", "/api/v1/systems/1", {"json": {"name": "A", "x": 1, "y": 2, "z": 3, "version": 2},
                                  "headers": {"If-Match": '"3"'}}),
])
def test_every_invalid_answer_has_problems_and_the_first_is_the_error_itself(client, request_args):
    method, url, kwargs = request_args
    err = refused(client.request(method, url, **kwargs))
    assert err["problems"][0] == {"field": err["field"], "message": err["message"]}


def test_other_errors_have_no_problems(client):
    err = client.get("/api/v1/systems/987654").json()["error"]
    assert err["code"] == "not_found" and "problems" not in err


def test_several_query_parameters_are_listed_together(client):
    err = refused(client.get("/api/v1/systems/near?x=1&y=2&z=3&radius=1&limit=0&galaxy=" + "g" * 201))
    fields = [p["field"] for p in err["problems"]]
    assert "limit" in fields and len(fields) >= 2, err
    assert err["problems"][fields.index("limit")]["message"] == "limit: must be at least 1"


def test_the_list_is_capped(client):
    planets = [{"name": "", "notes": "n" * 20_001} for _ in range(40)]  # 80 problems
    err = refused(client.post("/api/v1/systems", json={"name": "Many", "x": 0, "y": 0, "z": 0, "planets": planets}))
    problems = err["problems"]
    assert len(problems) == getattr(model, "MAX_PROBLEMS", None) == 50
    assert problems[0] == {"field": "planets[0].name", "message": "planets[0].name: must not be empty"}
    assert problems[-1] == {"field": None, "message": "… and 31 more problems"}
    assert all(p["field"] for p in problems[:-1])


# -- plain words ----------------------------------------------------------------------------


@pytest.mark.parametrize("change, field, message", [
    ({"x": None}, "x", "x: is required"),
    ({"x": ...}, "x", "x: is required"),
    ({"name": ...}, "name", "name: is required"),
    ({"x": "12"}, "x", "x: must be a number, not text"),
    ({"confidence": 1.5}, "confidence", "confidence: must be at most 1"),
    ({"confidence": -0.5}, "confidence", "confidence: must be at least 0"),
    ({"materials": "m" * 20_001}, "materials", "materials: must be at most 20,000 characters"),
    ({"planets": [{"name": "P", "notes": "n" * 20_001}]}, "planets[0].notes",
     "planets[0].notes: must be at most 20,000 characters"),
    ({"planets": [{"name": f"P{i}"} for i in range(65)]}, "planets", "planets: must have at most 64 items, not 65"),
    ({"planets": "none"}, "planets", "planets: must be a list, not text"),
    ({"planets": [5]}, "planets[0]", "planets[0]: must be an object, not a number"),
    ({"extra": [1]}, "extra", "extra: must be an object, not a list"),
    ({"space_station": "Hub"}, "space_station", "space_station: must be an object, not text"),
    ({"version": 0}, "version", "version: must be from 1 to 9223372036854775807"),
])
def test_messages_are_in_plain_words(client, change, field, message):
    body = {"name": "Plain", "x": 1, "y": 2, "z": 3}
    for key, value in change.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    err = refused(client.post("/api/v1/systems", json=body), field)
    assert err["message"] == message


@pytest.mark.parametrize("url, field, message", [
    ("/api/v1/systems?limit=0", "limit", "limit: must be at least 1"),
    ("/api/v1/systems?limit=5001", "limit", "limit: must be at most 5000"),
    ("/api/v1/export?format=zip", "format",
     "format: must be 'haven-json', 'legacy-json', 'parquet', 'csv' or 'jsonl'"),
    ("/api/v1/systems/near?x=1&y=2&z=3", "radius", "radius: is required"),
])
def test_query_parameter_messages_are_in_plain_words(client, url, field, message):
    assert refused(client.get(url), field)["message"] == message


def test_a_number_too_large_for_a_double_says_so(client):
    r = client.post("/api/v1/systems", content=b'{"name": "Huge", "x": 1e400, "y": 0, "z": 0}',
                    headers={"content-type": "application/json"})
    assert "too large" in refused(r)["message"]


def test_importers_and_the_model_share_the_wording():
    """One function turns pydantic's errors into words: the API's, the importers' and the CLI's."""
    with pytest.raises(ValidationError) as info:
        SystemIn.model_validate({"name": "W", "x": None, "y": 0, "z": 0, "confidence": 3})
    first, second = info.value.errors()
    assert model.plain_message(first) == "is required"
    assert model.plain_message(second) == "must be at most 1"
    assert validation_message(info.value) == "is required"
    assert invalid_from_validation(info.value).message == "x: is required"
    assert invalid_from_validation(info.value).to_dict()["problems"] == [
        {"field": "x", "message": "x: is required"}, {"field": "confidence", "message": "confidence: must be at most 1"}]


def test_a_legacy_import_words_its_problems_the_same_way(store, tmp_path):
    from haven.errors import ImportFailed
    from haven.ingest import import_file

    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"Plain": {"x": 1, "y": 2, "z": 3, "confidence": 1.5,
                                          "planets": [{"name": "P", "notes": "n" * 20_001}]}}))
    with pytest.raises(ImportFailed) as info:
        import_file(store, "Haven", path)
    text = "\n".join(info.value.problems)
    assert "confidence: must be at most 1" in text
    assert "planets[0].notes: must be at most 20,000 characters" in text
    assert not any(words in text for words in PYDANTIC_WORDING), text


# -- GET → PUT --------------------------------------------------------------------------------


def test_a_system_as_get_answers_it_can_be_put_back(client):
    body = {**copy.deepcopy(FULL_SYSTEM), "legacy_id": "OLD-7", "confidence": 0.5, "provenance": "test",
            "created_at": "2024-01-02T03:04:05Z"}
    created = client.post("/api/v1/systems", json=body)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    got = client.get(f"/api/v1/systems/{sid}")
    doc = got.json()
    assert {"id", "galaxy", "version", "derived", "created_at", "modified_at"} <= set(doc)
    assert doc["planets"][0]["id"] and doc["planets"][0]["moons"][0]["id"]

    again = client.put(f"/api/v1/systems/{sid}", json=doc)  # the whole answer, exactly as it came
    assert again.status_code == 200, again.text
    saved = again.json()
    assert saved["version"] == doc["version"] + 1 and again.headers["ETag"] == f'"{saved["version"]}"'

    def content(d):
        d = copy.deepcopy(d)
        for key in ("version", "modified_at"):
            d.pop(key)
        for planet in d["planets"]:
            planet.pop("id")
            for moon in planet["moons"]:
                moon.pop("id")
        return d

    assert content(saved) == content(doc)  # nothing changed but the version

    # The answer's version is the version the PUT is based on: the old answer is now stale.
    stale = client.put(f"/api/v1/systems/{sid}", json=doc)
    assert stale.status_code == 409 and stale.json()["error"]["current_version"] == saved["version"]
    # ... and so is an If-Match naming it, whatever the body holds.
    stale = client.put(f"/api/v1/systems/{sid}", json={**saved, "version": None}, headers={"If-Match": got.headers["ETag"]})
    assert stale.status_code == 409


def test_ids_sent_back_are_ignored_the_server_assigns_them(client):
    first = client.post("/api/v1/systems", json=copy.deepcopy(FULL_SYSTEM)).json()
    other = client.post("/api/v1/systems", json={**copy.deepcopy(FULL_SYSTEM), "name": "Other"}).json()
    doc = copy.deepcopy(first)
    doc["id"] = other["id"]  # read-only: says nothing about which system is replaced
    doc["galaxy"] = "Haven"  # its own galaxy (another one is refused: see below)
    doc["derived"] = True
    doc["planets"] = list(reversed(doc["planets"]))
    doc["planets"][0]["id"] = other["planets"][0]["id"]
    r = client.put(f"/api/v1/systems/{first['id']}", json=doc)
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["id"] == first["id"] and saved["galaxy"] == "Haven" and saved["derived"] is False
    assert [p["name"] for p in saved["planets"]] == ["Rhea II", "Rhea I"]
    assert client.get(f"/api/v1/systems/{other['id']}").json() == other  # untouched


def test_a_generated_system_as_get_answers_it_can_be_put_back(client, store):
    """Its planets were derived from its seed for the answer (no ids); sent back, they are stored."""
    from haven.ingest.bulk import generate_galaxy

    generate_galaxy(store, "Haven", 3, seed=3)
    sid = client.get("/api/v1/systems?limit=1").json()["items"][0]["id"]
    doc = client.get(f"/api/v1/systems/{sid}").json()
    assert doc["derived"] is True and doc["planets"]
    r = client.put(f"/api/v1/systems/{sid}", json=doc)
    assert r.status_code == 200, r.text
    assert r.json()["derived"] is False
    assert [p["name"] for p in r.json()["planets"]] == [p["name"] for p in doc["planets"]]


def test_patch_takes_planets_as_get_answers_them(client):
    created = client.post("/api/v1/systems", json=copy.deepcopy(FULL_SYSTEM)).json()
    planets = created["planets"]
    planets[1]["notes"] = "calm"
    r = client.patch(f"/api/v1/systems/{created['id']}",
                     json={"planets": planets, "version": created["version"], "id": created["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["planets"][1]["notes"] == "calm"
    assert r.json()["planets"][0]["moons"][0]["name"] == "Rhea I a"


def test_the_openapi_document_lists_problems_and_the_read_only_fields(client):
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "problems" in schemas["ErrorDetail"]["properties"]
    for name in ("SystemIn", "SystemPatch"):
        assert {"id", "galaxy", "derived"} <= set(schemas[name]["properties"]), name
    assert "id" in schemas["PlanetIn"]["properties"] and "id" in schemas["MoonIn"]["properties"]


def test_a_body_galaxy_must_name_the_galaxy_written_to(client) -> None:
    created = client.post("/api/v1/systems", json={"name": "Home", "x": 1, "y": 2, "z": 3}).json()
    fetched = client.get(f"/api/v1/systems/{created['id']}").json()
    assert client.put(f"/api/v1/systems/{created['id']}", json=fetched).status_code == 200  # its own: fine
    copy = {**fetched, "name": "Copy", "galaxy": "Elsewhere"}
    refused = client.post("/api/v1/systems", json=copy)
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "galaxy"
    moved = client.put(f"/api/v1/systems/{created['id']}",
                       json={**client.get(f"/api/v1/systems/{created['id']}").json(), "galaxy": "Elsewhere"})
    assert moved.status_code == 400 and "never changes galaxy" in moved.json()["error"]["message"]
    assert client.get("/api/v1/systems").json()["total"] == 1
