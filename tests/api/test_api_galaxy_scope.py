"""``?galaxy=`` on the id routes (read, replace, change, delete, history, undo): an unknown
galaxy is a 404 naming ``galaxy``, an id of another galaxy a 404 like an unknown id, and
nothing is written. Without it, ids work across galaxies as before."""

from __future__ import annotations

from typing import Any

import pytest
from apihelpers import dump

JSON = {"Content-Type": "application/json"}
WHOLE = {"name": "Home", "x": 1.0, "y": 2.0, "z": 3.0, "fauna": "replaced"}


@pytest.fixture
def home(client, store) -> dict[str, Any]:
    """A system of the default galaxy Haven (with a change recorded), and an empty galaxy Second."""
    store.ensure_galaxy("Second")
    created = client.post("/api/v1/systems", json={"name": "Home", "x": 1.0, "y": 2.0, "z": 3.0}).json()
    assert client.patch(f"/api/v1/systems/{created['id']}", json={"fauna": "first"}).status_code == 200
    return client.get(f"/api/v1/systems/{created['id']}").json()


def _everything(store) -> tuple[Any, ...]:
    return dump(store, "Haven"), dump(store, "Second")


def requests_for(system_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    path = f"/api/v1/systems/{system_id}"
    return [
        ("GET", path, {}),
        ("PUT", path, {"json": WHOLE}),
        ("PATCH", path, {"json": {"fauna": "zz"}}),
        ("DELETE", path, {"params": {"version": 2}}),
        ("GET", f"{path}/history", {}),
        ("POST", f"{path}/undo", {"headers": JSON}),
    ]


@pytest.mark.parametrize("which", range(6))
def test_an_id_of_another_galaxy_is_404_and_nothing_changes(client, store, home, which):
    method, path, kwargs = requests_for(home["id"])[which]
    before = _everything(store)
    history = store.history(home["id"])
    params = {**kwargs.pop("params", {}), "galaxy": "Second"}
    r = client.request(method, path, params=params, **kwargs)
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "not_found" and error["field"] is None
    assert f"no system with id {home['id']}" in error["message"]
    assert _everything(store) == before and store.history(home["id"]) == history


@pytest.mark.parametrize("which", range(6))
def test_an_unknown_galaxy_is_404_naming_it_before_anything_else(client, store, home, which):
    method, path, kwargs = requests_for(home["id"])[which]
    before = _everything(store)
    params = {**kwargs.pop("params", {}), "galaxy": "Nope"}
    params["version"] = 1 if method == "DELETE" else params.get("version")  # stale: the galaxy is said first
    r = client.request(method, path, params={k: v for k, v in params.items() if v is not None}, **kwargs)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["field"] == "galaxy"
    assert _everything(store) == before


def test_unknown_ids_stay_404_when_scoped(client, home):
    for method, path, kwargs in requests_for(987654):
        params = {**kwargs.pop("params", {}), "galaxy": "Haven"}
        r = client.request(method, path, params=params, **kwargs)
        assert r.status_code == 404, (method, path, r.text)


@pytest.mark.parametrize("galaxy", ["Haven", " Haven ", None, ""])
def test_the_right_galaxy_or_none_works_as_before(client, store, home, galaxy):
    sid = home["id"]
    params = {"galaxy": galaxy} if galaxy is not None else {}
    r = client.get(f"/api/v1/systems/{sid}", params=params)
    assert r.status_code == 200 and r.json()["name"] == "Home"
    assert client.get(f"/api/v1/systems/{sid}/history", params=params).json()["items"][0]["op"] == "update"
    assert client.patch(f"/api/v1/systems/{sid}", params=params, json={"fauna": "second"}).status_code == 200
    assert client.put(f"/api/v1/systems/{sid}", params=params, json=WHOLE).status_code == 200
    undone = client.post(f"/api/v1/systems/{sid}/undo", params=params, headers=JSON)
    assert undone.status_code == 200 and undone.json()["system"]["fauna"] == "second"
    assert client.delete(f"/api/v1/systems/{sid}", params=params).status_code == 204
    assert store.stats("Haven")["total_systems"] == 0


def test_a_deleted_system_keeps_its_galaxy_for_history_and_undo(client, store, home):
    sid = home["id"]
    assert client.delete(f"/api/v1/systems/{sid}").status_code == 204
    assert client.get(f"/api/v1/systems/{sid}/history", params={"galaxy": "Second"}).status_code == 404
    assert client.post(f"/api/v1/systems/{sid}/undo", params={"galaxy": "Second"}, headers=JSON).status_code == 404
    assert client.get(f"/api/v1/systems/{sid}/history", params={"galaxy": "Haven"}).json()["items"][0]["op"] == "delete"
    r = client.post(f"/api/v1/systems/{sid}/undo", params={"galaxy": "Haven"}, headers=JSON)
    assert r.status_code == 200 and r.json()["undone"] == "delete"
    assert client.get(f"/api/v1/systems/{sid}", params={"galaxy": "Haven"}).json()["name"] == "Home"


def test_a_system_of_the_other_galaxy_is_reached_with_its_own_name(client, store, home):
    other = client.post("/api/v1/systems", params={"galaxy": "Second"}, json={"name": "Away", "x": 0, "y": 0, "z": 0})
    assert other.status_code == 201
    oid = other.json()["id"]
    assert client.get(f"/api/v1/systems/{oid}", params={"galaxy": "Second"}).json()["name"] == "Away"
    assert client.get(f"/api/v1/systems/{oid}", params={"galaxy": "Haven"}).status_code == 404
    assert client.get(f"/api/v1/systems/{oid}").json()["galaxy"] == "Second"  # ids are global without it
