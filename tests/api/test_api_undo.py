"""``POST /api/v1/systems/{id}/undo`` and ``GET /api/v1/systems/{id}/history``."""

from __future__ import annotations

SYSTEM = {
    "name": "Undo Test", "x": 1.0, "y": 2.0, "z": 3.0, "region": "Core",
    "extra": {"kept": True},
    "planets": [{"name": "P1", "moons": [{"name": "M1", "orbit_radius": 2.0, "orbit_speed": 0.1}]}],
}


def test_undo_an_edit_then_the_creation(client) -> None:
    created = client.post("/api/v1/systems", json=SYSTEM).json()
    sid = created["id"]
    edited = client.put(f"/api/v1/systems/{sid}", json={**SYSTEM, "name": "Edited", "planets": [],
                                                          "version": created["version"]})
    assert edited.status_code == 200

    history = client.get(f"/api/v1/systems/{sid}/history").json()["items"]
    assert [h["op"] for h in history] == ["update", "create"]
    assert history[0]["version"] == 2 and history[0]["at"]

    undone = client.post(f"/api/v1/systems/{sid}/undo")
    assert undone.status_code == 200
    body = undone.json()
    assert body["undone"] == "update"
    assert body["system"]["name"] == "Undo Test"
    assert body["system"]["planets"][0]["moons"][0]["name"] == "M1"
    assert body["system"]["extra"] == {"kept": True}
    assert undone.headers["etag"] == f'"{body["system"]["version"]}"'

    assert client.post(f"/api/v1/systems/{sid}/undo").json() == {"undone": "create", "system": None}
    assert client.get(f"/api/v1/systems/{sid}").status_code == 404


def test_undo_a_delete(client) -> None:
    sid = client.post("/api/v1/systems", json=SYSTEM).json()["id"]
    assert client.delete(f"/api/v1/systems/{sid}").status_code == 204
    body = client.post(f"/api/v1/systems/{sid}/undo").json()
    assert body["undone"] == "delete"
    assert client.get(f"/api/v1/systems/{sid}").json()["name"] == "Undo Test"


def test_nothing_to_undo_is_a_404_and_a_taken_name_a_409(client) -> None:
    missing = client.post("/api/v1/systems/424242/undo")
    assert missing.status_code == 404
    assert "no change to undo" in missing.json()["error"]["message"]

    sid = client.post("/api/v1/systems", json=SYSTEM).json()["id"]
    client.patch(f"/api/v1/systems/{sid}", json={"name": "Moved Away"})
    client.post("/api/v1/systems", json=SYSTEM)  # takes the old name
    conflict = client.post(f"/api/v1/systems/{sid}/undo")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["field"] == "name"
    assert client.get(f"/api/v1/systems/{sid}").json()["name"] == "Moved Away"


def test_bad_ids_and_limits_are_400s(client) -> None:
    assert client.post("/api/v1/systems/0/undo").status_code == 400
    assert client.post("/api/v1/systems/abc/undo").status_code == 400
    assert client.get("/api/v1/systems/1/history?limit=0").status_code == 400
    assert client.get("/api/v1/systems/1/history?limit=1000").status_code == 400
    assert client.get("/api/v1/systems/0/history").status_code == 400


def test_the_history_of_an_id_no_system_had_is_a_404_like_the_system(client, store) -> None:
    client.post("/api/v1/systems", json=SYSTEM)
    before = store.stats("Haven")["total_systems"]
    for path in ("/api/v1/systems/999", "/api/v1/systems/999/history", "/api/v1/systems/999/history?limit=1"):
        r = client.get(path)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"] == {"code": "not_found", "message": "no system with id 999", "field": None}
    assert client.head("/api/v1/systems/999/history").status_code == 404
    assert store.stats("Haven")["total_systems"] == before


def test_a_system_with_nothing_recorded_answers_an_empty_history(client, seeded) -> None:
    """Systems written by a bulk load (or generated) exist without any entry: 200, not 404."""
    sid = seeded[0]["id"]
    r = client.get(f"/api/v1/systems/{sid}/history")
    assert r.status_code == 200 and r.json() == {"items": []}, r.text
    assert client.get(f"/api/v1/systems/{sid}/history", params={"galaxy": "Haven"}).json() == {"items": []}


def test_a_deleted_system_answers_its_history_until_nothing_is_recorded(client) -> None:
    sid = client.post("/api/v1/systems", json=SYSTEM).json()["id"]
    assert client.delete(f"/api/v1/systems/{sid}").status_code == 204
    r = client.get(f"/api/v1/systems/{sid}/history")
    assert r.status_code == 200 and [h["op"] for h in r.json()["items"]] == ["delete", "create"], r.text
    client.post(f"/api/v1/systems/{sid}/undo")  # the delete
    client.post(f"/api/v1/systems/{sid}/undo")  # the creation: no system, nothing recorded
    gone = client.get(f"/api/v1/systems/{sid}/history")
    assert gone.status_code == 404 and gone.json()["error"]["message"] == f"no system with id {sid}", gone.text


def test_an_undo_naming_its_change_refuses_to_undo_someone_elses(client, store) -> None:
    """The wizard and the Control Room send the version their change made: a later change by
    someone else is never undone in its place."""
    from apihelpers import dump

    sid = client.post("/api/v1/systems", json=SYSTEM).json()["id"]
    mine = client.patch(f"/api/v1/systems/{sid}", json={"fauna": "Mine"}).headers["etag"]  # "2"
    client.patch(f"/api/v1/systems/{sid}", json={"flora": "Theirs"}, headers={"If-Match": mine})  # "3"
    before = dump(store)
    for how in ({"headers": {"If-Match": mine}}, {"params": {"version": mine.strip('"')}}):
        r = client.post(f"/api/v1/systems/{sid}/undo", **how)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "stale_version" and r.json()["error"]["current_version"] == 3
        assert dump(store) == before
    r = client.post(f"/api/v1/systems/{sid}/undo", params={"version": 2}, headers={"If-Match": '"3"'})
    assert r.status_code == 400 and r.json()["error"]["field"] == "version"
    assert client.post(f"/api/v1/systems/{sid}/undo", headers={"If-Match": '"3"'}).json()["system"]["flora"] is None


def test_a_delete_answers_its_own_version_and_an_undo_naming_it_undoes_only_that_delete(client, store) -> None:
    from apihelpers import dump

    sid = client.post("/api/v1/systems", json=SYSTEM).json()["id"]
    deleted = client.delete(f"/api/v1/systems/{sid}", headers={"If-Match": '"1"'})
    assert deleted.status_code == 204 and deleted.headers["etag"] == '"2"'
    assert client.get(f"/api/v1/systems/{sid}/history").json()["items"][0] == {
        **client.get(f"/api/v1/systems/{sid}/history").json()["items"][0], "op": "delete", "version": 2}
    back = client.post(f"/api/v1/systems/{sid}/undo").json()["system"]  # someone else undoes it
    assert back["version"] == 3
    before = dump(store)
    r = client.post(f"/api/v1/systems/{sid}/undo", headers={"If-Match": deleted.headers["etag"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale_version"
    assert dump(store) == before  # the creation before the delete is still there
