"""Create, read, replace, patch, delete through /api/v1, with optimistic locking."""

from __future__ import annotations

import copy

import pytest
from apihelpers import FULL_SYSTEM, dump


def _create(client, body=None):
    r = client.post("/api/v1/systems", json=body or FULL_SYSTEM)
    assert r.status_code == 201, r.text
    return r.json()


def test_crud_round_trip(client, store):
    created = _create(client)
    sid = created["id"]
    assert created["version"] == 1
    assert created["galaxy"] == "Haven"
    assert [p["name"] for p in created["planets"]] == ["Rhea I", "Rhea II"]
    assert created["planets"][0]["moons"][0]["orbit_radius"] == 1.5
    assert created["space_station"]["race"] == "Gek"
    assert created["extra"] == {"discoverer": "Ana"}

    r = client.get(f"/api/v1/systems/{sid}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["etag"] == '"1"'
    assert r.json() == created

    # PUT replaces everything (children too)
    body = copy.deepcopy(FULL_SYSTEM)
    body.update(version=1, fauna="Rich", planets=[{"name": "Only"}], space_station=None)
    r = client.put(f"/api/v1/systems/{sid}", json=body)
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert replaced["version"] == 2 and replaced["fauna"] == "Rich"
    assert [p["name"] for p in replaced["planets"]] == ["Only"]
    assert replaced["space_station"] is None
    assert r.headers["etag"] == '"2"'

    # PATCH changes only what it names
    r = client.patch(f"/api/v1/systems/{sid}", json={"flora": "Lush", "version": 2})
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["flora"] == "Lush" and patched["fauna"] == "Rich" and patched["version"] == 3
    assert [p["name"] for p in patched["planets"]] == ["Only"]

    # rename, then find by the new name
    r = client.patch(f"/api/v1/systems/{sid}", json={"name": "Rhea Secundus"})
    assert r.status_code == 200
    assert client.get("/api/v1/systems/by-name/Rhea%20Secundus").json()["id"] == sid
    assert client.get("/api/v1/systems/by-name/Rhea%20Prime").status_code == 404

    # DELETE with the current version
    r = client.delete(f"/api/v1/systems/{sid}", params={"version": 4})
    assert r.status_code == 204 and r.content == b""
    r = client.get(f"/api/v1/systems/{sid}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert store.stats("Haven")["total_systems"] == 0


def test_create_answers_location(client):
    r = client.post("/api/v1/systems", json={"name": "Loc", "x": 0, "y": 0, "z": 0})
    assert r.status_code == 201
    assert r.headers["location"] == f"/api/v1/systems/{r.json()['id']}"
    assert client.get(r.headers["location"]).status_code == 200


def test_duplicate_name_is_409_and_changes_nothing(client, store):
    _create(client)
    before = dump(store)
    r = client.post("/api/v1/systems", json=FULL_SYSTEM)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    assert r.json()["error"]["field"] == "name"
    assert dump(store) == before


@pytest.mark.parametrize("how", ["body", "if-match", "weak-if-match"])
@pytest.mark.parametrize("method", ["put", "patch"])
def test_stale_version_is_409_and_changes_nothing(client, store, how, method):
    sid = _create(client)["id"]
    assert client.patch(f"/api/v1/systems/{sid}", json={"fauna": "v2"}).status_code == 200  # now at version 2
    before = dump(store)
    body = copy.deepcopy(FULL_SYSTEM) if method == "put" else {"fauna": "lost update"}
    body["fauna"] = "lost update"
    headers = {}
    if how == "body":
        body["version"] = 1
    else:
        headers["If-Match"] = '"1"' if how == "if-match" else 'W/"1"'
    r = client.request(method.upper(), f"/api/v1/systems/{sid}", json=body, headers=headers)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "stale_version"
    assert err["field"] == "version"
    assert err["current_version"] == 2
    assert dump(store) == before


def test_if_match_current_version_succeeds(client):
    sid = _create(client)["id"]
    r = client.patch(f"/api/v1/systems/{sid}", json={"fauna": "x"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.patch(f"/api/v1/systems/{sid}", json={"fauna": "y"}, headers={"If-Match": "*"})
    assert r.status_code == 200 and r.json()["version"] == 3


def test_if_match_and_body_version_must_agree(client, store):
    sid = _create(client)["id"]
    before = dump(store)
    r = client.patch(f"/api/v1/systems/{sid}", json={"fauna": "x", "version": 1}, headers={"If-Match": '"2"'})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "version"
    r = client.patch(f"/api/v1/systems/{sid}", json={"fauna": "x"}, headers={"If-Match": "three"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "If-Match"
    assert dump(store) == before


def test_stale_delete_is_409(client, store):
    sid = _create(client)["id"]
    client.patch(f"/api/v1/systems/{sid}", json={"fauna": "v2"})
    before = dump(store)
    r = client.delete(f"/api/v1/systems/{sid}", params={"version": 1})
    assert r.status_code == 409
    assert r.json()["error"]["current_version"] == 2
    r = client.delete(f"/api/v1/systems/{sid}", headers={"If-Match": '"1"'})
    assert r.status_code == 409
    assert dump(store) == before
    assert client.delete(f"/api/v1/systems/{sid}", headers={"If-Match": '"2"'}).status_code == 204


def test_missing_ids_are_404(client):
    for method in ("GET", "DELETE"):
        r = client.request(method, "/api/v1/systems/424242")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    r = client.put("/api/v1/systems/424242", json={"name": "n", "x": 0, "y": 0, "z": 0})
    assert r.status_code == 404
    r = client.patch("/api/v1/systems/424242", json={"fauna": "n"})
    assert r.status_code == 404


@pytest.mark.parametrize("bad", ["abc", "1.5", "-1", "0", "99999999999999999999999", "%20"])
def test_non_integer_ids_are_400(client, bad):
    r = client.get(f"/api/v1/systems/{bad}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "id"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"x": 0, "y": 0, "z": 0}, "name"),
        ({"name": "", "x": 0, "y": 0, "z": 0}, "name"),
        ({"name": "n", "x": "far", "y": 0, "z": 0}, "x"),
        ({"name": "n", "x": 0, "y": 0, "z": 1e300}, "z"),
        ({"name": "n", "x": 0, "y": 0, "z": 0, "planets": [{"fauna": "x"}]}, "planets[0].name"),
        ({"name": "n", "x": 0, "y": 0, "z": 0, "planets": [{"name": "p", "moons": [{"name": "m"}, {"name": "m2", "orbit_radius": "far"}]}]},
         "planets[0].moons[1].orbit_radius"),
        ({"name": "n", "x": 0, "y": 0, "z": 0, "colour": "red"}, "colour"),
        ({"name": "n", "x": 0, "y": 0, "z": 0, "confidence": 2}, "confidence"),
        ({"name": "n", "x": 0, "y": 0, "z": 0, "space_station": {"name": "s", "x": 0, "y": "up"}}, "space_station.y"),
        ({"name": "n", "x": 0, "y": 0, "z": 0, "space_station": {"x": 0}}, "space_station.name"),
    ],
)
def test_validation_errors_name_the_field(client, store, body, field):
    before = dump(store)
    r = client.post("/api/v1/systems", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid"
    assert err["field"] == field
    assert field in err["message"]
    assert dump(store) == before


def test_patch_validation_names_the_field(client, store):
    sid = _create(client)["id"]
    before = dump(store)
    r = client.patch(f"/api/v1/systems/{sid}", json={"planets": [{"name": "a"}, {"moons": []}]})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "planets[1].name"
    r = client.patch(f"/api/v1/systems/{sid}", json={"name": None})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "name"
    r = client.put(f"/api/v1/systems/{sid}", json={"name": "n", "x": 0, "y": 0})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "z"
    assert dump(store) == before


@pytest.mark.parametrize("method", ["post", "put", "patch"])
@pytest.mark.parametrize(("planets", "field", "what"), [
    ([{"name": "a"}, {"name": "a"}], "planets", "planets"),
    ([{"name": "a", "moons": [{"name": "m"}, {"name": "m"}]}], "planets[0].moons", "moons"),
])
def test_repeated_body_names_are_refused_by_every_write(client, store, method, planets, field, what):
    """Planets and moons are addressed by name, so no write may store two with one name
    (a stored pair could never be restored by undo, nor exported and imported again)."""
    sid = _create(client)["id"]
    before = dump(store)
    body: dict = {"planets": planets}
    if method != "patch":
        body |= {"name": "Dup", "x": 1, "y": 2, "z": 3}
    path = "/api/v1/systems" if method == "post" else f"/api/v1/systems/{sid}"
    r = getattr(client, method)(path, json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["field"] == field
    assert f"two {what} are named" in err["message"]
    assert dump(store) == before


def test_rename_onto_existing_name_is_409(client, store):
    a = _create(client)
    _create(client, {"name": "Other", "x": 0, "y": 0, "z": 0})
    before = dump(store)
    r = client.patch(f"/api/v1/systems/{a['id']}", json={"name": "Other"})
    assert r.status_code == 409
    assert dump(store) == before


def test_galaxy_parameter(client, store):
    store.ensure_galaxy("Andromeda")
    r = client.post("/api/v1/systems", params={"galaxy": "Andromeda"}, json={"name": "M31-1", "x": 0, "y": 0, "z": 0})
    assert r.status_code == 201
    assert r.json()["galaxy"] == "Andromeda"
    assert client.get("/api/v1/systems").json()["total"] == 0
    assert client.get("/api/v1/systems", params={"galaxy": "Andromeda"}).json()["total"] == 1
    assert client.get("/api/v1/systems/by-name/M31-1").status_code == 404
    assert client.get("/api/v1/systems/by-name/M31-1", params={"galaxy": "Andromeda"}).status_code == 200
    r = client.get("/api/v1/systems", params={"galaxy": "Nowhere"})
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "galaxy"
    names = [g["name"] for g in client.get("/api/v1/galaxies").json()["items"]]
    assert names == ["Andromeda", "Haven"]
