"""The original Haven routes keep their shapes (docs/api.md, "Legacy routes")."""

from __future__ import annotations

import math

import pytest
from apihelpers import FULL_SYSTEM, dump, seed

from haven.model import validate_system
from haven.store.base import MAX_OFFSET

SYSTEM_KEYS = {
    "id", "name", "x", "y", "z", "region", "fauna", "flora", "sentinel", "materials",
    "base_location", "photo", "attributes", "created_at", "modified_at",
}
BODY_KEYS = {"name", "sentinel", "fauna", "flora", "properties", "materials", "base_location", "photo", "notes"}


def test_system_detail_shape(client, store):
    created = store.create("Haven", validate_system(FULL_SYSTEM))
    r = client.get("/api/systems/Rhea%20Prime")
    assert r.status_code == 200
    body = r.json()
    assert SYSTEM_KEYS <= set(body)
    assert body["id"] == str(created["id"])
    assert body["fauna"] == "Abundant" and body["photo"] == "rhea.png"
    assert len(body["planets"]) == 2
    p1 = body["planets"][0]
    assert BODY_KEYS | {"moons"} <= set(p1)
    assert p1["name"] == "Rhea I" and p1["fauna"] == "None"
    moon = p1["moons"][0]
    assert BODY_KEYS | {"orbit_radius", "orbit_speed"} <= set(moon)
    assert moon["orbit_radius"] == 1.5 and moon["orbit_speed"] == 0.2
    assert body["planets"][1]["moons"] == [] and body["planets"][1]["notes"] == "stormy"
    station = body["space_station"]
    assert {"name", "x", "y", "z"} <= set(station)
    assert station["name"] == "Rhea Hub" and station["x"] == 1.0


def test_whole_station_percents_are_integers_as_the_old_tool_gave_them(client, store):
    store.create("Haven", validate_system({"name": "Trader", "x": 0, "y": 0, "z": 0, "space_station": {
        "name": "Post", "x": 0, "y": 0, "z": 0, "sell_percent": 80, "buy_percent": 82.5}}))
    raw = client.get("/api/systems/Trader").content
    assert b'"sell_percent":80,' in raw and b'"buy_percent":82.5' in raw


def test_system_without_station_has_no_space_station_key(client, store):
    store.create("Haven", validate_system({"name": "Bare", "x": 0, "y": 0, "z": 0}))
    body = client.get("/api/systems/Bare").json()
    assert "space_station" not in body
    assert body["planets"] == []
    assert body["fauna"] is None and body["region"] is None


def test_legacy_id_is_used_as_id(client, store):
    store.create("Haven", validate_system({"name": "Old", "x": 0, "y": 0, "z": 0, "legacy_id": "sys-0042"}))
    assert client.get("/api/systems/Old").json()["id"] == "sys-0042"
    assert client.get("/api/systems/search", params={"q": "Old"}).json()[0]["id"] == "sys-0042"


def test_unknown_system_is_404_in_original_shape(client):
    r = client.get("/api/systems/Nope")
    assert r.status_code == 404
    assert r.json() == {"error": "System not found"}


def test_search_shape(client, store):
    rows = seed(store, 20)
    r = client.get("/api/systems/search", params={"q": "copper"})
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, list)
    assert [s["id"] for s in body] == [str(s["id"]) for s in rows if "Copper" in (s["materials"] or "")]
    assert all(set(s) == SYSTEM_KEYS for s in body)
    assert len(client.get("/api/systems/search", params={"q": "Sys", "limit": 3}).json()) == 3
    assert len(client.get("/api/systems/search", params={"q": "Sys"}).json()) == 20  # default limit 100
    assert client.get("/api/systems/search", params={"q": ""}).json() == []
    assert client.get("/api/systems/search").json() == []
    r = client.get("/api/systems/search", params={"q": "Sys", "limit": "lots"})
    assert r.status_code == 400 and isinstance(r.json()["error"], str)


def test_regions_and_stats(client, store):
    rows = seed(store, 9)
    assert client.get("/api/regions").json() == ["Calypso", "Euclid", "Hilbert"]
    stats = client.get("/api/stats").json()
    assert stats["total_systems"] == 9
    assert stats["regions"] == ["Calypso", "Euclid", "Hilbert"]
    assert isinstance(stats["database_size_mb"], float) and stats["database_size_mb"] > 0
    # a region that lost its last system disappears, as with the original's DISTINCT
    for s in rows:
        if s["region"] == "Hilbert":
            store.delete(s["id"])
    assert client.get("/api/regions").json() == ["Calypso", "Euclid"]
    assert client.get("/api/stats").json()["total_systems"] == 6


def test_region_systems_pages(client, store):
    rows = seed(store, 30)
    euclid = sorted(s["name"] for s in rows if s["region"] == "Euclid")
    body = client.get("/api/regions/Euclid/systems").json()
    assert set(body) == {"systems", "total", "page", "per_page", "total_pages", "next"}
    assert body["total"] == len(euclid) == 10
    assert body["page"] == 1 and body["per_page"] == 100 and body["total_pages"] == 1
    assert [s["name"] for s in body["systems"]] == euclid
    assert body["next"] is None
    assert all(set(s) == SYSTEM_KEYS for s in body["systems"])

    seen = []
    for page in (1, 2, 3, 4):
        body = client.get("/api/regions/Euclid/systems", params={"page": page, "per_page": 3}).json()
        assert body["total_pages"] == 4 and body["page"] == page
        seen += [s["name"] for s in body["systems"]]
    assert seen == euclid
    assert client.get("/api/regions/Euclid/systems", params={"page": 9, "per_page": 3}).json()["systems"] == []


def test_region_next_cursor_continues_on_v1(client, store):
    rows = seed(store, 30)
    euclid = sorted(s["name"] for s in rows if s["region"] == "Euclid")
    body = client.get("/api/regions/Euclid/systems", params={"page": 2, "per_page": 3}).json()
    v1 = client.get("/api/v1/systems", params={"region": "Euclid", "limit": 3, "cursor": body["next"]}).json()
    assert [s["name"] for s in v1["items"]] == euclid[6:9]
    assert v1["page"] == 3 and v1["pages"] == 4


def test_region_pages_beyond_the_offset_limit_point_to_the_cursor(client, store):
    seed(store, 3)
    ok_page = MAX_OFFSET // 100 + 1  # offset exactly MAX_OFFSET
    assert client.get("/api/regions/Euclid/systems", params={"page": ok_page}).status_code == 200
    r = client.get("/api/regions/Euclid/systems", params={"page": ok_page + 1})
    assert r.status_code == 400
    message = r.json()["error"]
    assert isinstance(message, str)
    assert "/api/v1/systems" in message and "cursor" in message
    r = client.get("/api/regions/Euclid/systems", params={"page": 10**12})
    assert r.status_code == 400


@pytest.mark.parametrize("params", [{"page": 0}, {"page": -1}, {"page": "two"}, {"per_page": 0}, {"per_page": 5001},
                                    {"per_page": "1e2"}])
def test_region_page_bad_params(client, params):
    r = client.get("/api/regions/Euclid/systems", params=params)
    assert r.status_code == 400
    assert isinstance(r.json()["error"], str)


def test_unknown_region_is_an_empty_page(client):
    body = client.get("/api/regions/Nowhere/systems").json()
    assert body["systems"] == [] and body["total"] == 0 and body["total_pages"] == 0


def test_legacy_errors_keep_the_original_shape(client, store):
    before = dump(store)
    for method, path in [
        ("GET", "/api/nothing/here"),
        ("POST", "/api/systems/visible"),
        ("DELETE", "/api/regions"),
        ("GET", "/api/systems/visible?limit=abc"),
        ("GET", "/api/regions/Euclid/systems?page=0"),
    ]:
        r = client.request(method, path)
        assert 400 <= r.status_code < 500, (method, path, r.status_code)
        body = r.json()
        assert list(body) == ["error"] and isinstance(body["error"], str), body
    assert dump(store) == before


def test_visible_distance_and_limit(client, store):
    for i in range(10):
        store.create("Haven", validate_system({"name": f"L{i}", "x": i, "y": 0, "z": 0}))
    body = client.get("/api/systems/visible", params={"cx": 0.5, "radius": 3.6, "limit": 3}).json()
    assert [s["name"] for s in body] == ["L0", "L1", "L2"]
    assert [s["distance"] for s in body] == [0.5, 0.5, 1.5]
    assert math.isclose(body[2]["distance"], 1.5)


def test_an_empty_legacy_id_is_answered_as_stored(client, store):
    """The export writes ``"id": ""`` for it; the legacy routes say the same."""
    store.create("Haven", validate_system({"name": "Blank Id", "x": 0, "y": 0, "z": 0, "legacy_id": ""}))
    assert client.get("/api/systems/Blank Id").json()["id"] == ""
