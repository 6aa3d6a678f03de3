"""The original API's map routes, ``/api/generate/system/{name}`` and ``/maps/{filename}``, and CORS."""

from __future__ import annotations

import json
import re

import pytest

from apihelpers import enc
from haven.model import validate_system

NAMES = (
    "Plain", "AMOT 16/O5", "a/b/c", "100% pure", "星系 銀河", "</script><b>x</b>", "<img src=x onerror=alert(1)>",
)


@pytest.fixture
def systems(store) -> dict[str, dict]:
    made = {}
    for i, name in enumerate(NAMES):
        made[name] = store.create("Haven", validate_system({
            "name": name, "x": i, "y": i, "z": i, "region": "Near",
            "planets": [{"name": "Rock", "moons": [{"name": "Pebble", "orbit_radius": 2, "orbit_speed": 1}]}],
        }))
    return made


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="haven-data">(.*?)</script>', html, re.S)
    assert m, "the page has no inlined data"
    return json.loads(m.group(1))


@pytest.mark.parametrize("name", NAMES)
def test_generate_answers_the_map_url_and_the_page_is_served(client, systems, name: str) -> None:
    r = client.get(f"/api/generate/system/{enc(name)}")
    assert r.status_code == 200, r.text
    body = r.json()
    s = systems[name]
    assert body == {"map_url": f"/maps/system-{s['id']}-v{s['version']}.html", "system_name": name}

    page = client.get(body["map_url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-type-options"] == "nosniff"
    data = page_data(page.text)
    assert data["kind"] == "system" and data["system"]["name"] == name
    assert data["system"]["planets"][0]["moons"][0]["name"] == "Pebble"
    if "<" in name:
        assert name not in page.text


def test_generating_again_gives_the_same_file_until_the_system_changes(client, store, systems) -> None:
    first = client.get("/api/generate/system/Plain").json()["map_url"]
    assert client.get("/api/generate/system/Plain").json()["map_url"] == first
    s = systems["Plain"]
    store.replace(s["id"], validate_system({"name": "Plain", "x": 9, "y": 9, "z": 9}))
    second = client.get("/api/generate/system/Plain").json()["map_url"]
    assert second != first and second.endswith("-v2.html")
    assert page_data(client.get(second).text)["system"]["x"] == 9
    assert client.get(first).status_code == 404  # the older version's page is gone


def test_unknown_system_is_404_in_the_original_shape(client, systems) -> None:
    for path in ("/api/generate/system/Nowhere", "/api/generate/system/plain", "/api/generate/system/" + "x" * 300):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.json() == {"error": "System not found"}


def test_invalid_utf8_in_the_name_is_400_in_the_original_shape(client, systems) -> None:
    r = client.get("/api/generate/system/%FF%FE")
    assert r.status_code == 400
    assert isinstance(r.json()["error"], str)


@pytest.mark.parametrize(
    "filename",
    [
        "system-999-v1.html",  # never generated
        "..%2F..%2Fetc%2Fpasswd",
        "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "..%5C..%5Cwindows%5Cwin.ini",
        "%2Fetc%2Fpasswd",
        "a/b.html",
        "system-1-v1.html%00",
        "x" * 500,
    ],
)
def test_unknown_map_files_are_404_and_never_touch_the_disk(client, systems, filename: str) -> None:
    client.get("/api/generate/system/Plain")  # the registry exists and holds a page
    r = client.get(f"/maps/{filename}")
    assert r.status_code == 404, filename
    assert r.json() == {"error": "Map not found"}


def test_map_file_names_are_exact_keys(client, systems) -> None:
    url = client.get("/api/generate/system/Plain").json()["map_url"]
    assert client.get(url).status_code == 200
    for variant in (url.upper(), url + "/", url.replace(".html", ""), url + "?x=1#y"):
        r = client.get(variant)
        if variant.endswith("?x=1#y"):  # a query string is not part of the name
            assert r.status_code == 200
        else:
            assert r.status_code == 404, variant


def test_map_routes_are_documented_in_openapi(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/generate/system/{name}" in paths
    assert "/maps/{filename}" in paths


# -- CORS: a map opened from disk (origin "null") reads from the server ------------------------


def test_reads_from_a_file_origin_are_allowed(client, systems) -> None:
    for path in ("/api/v1/systems?limit=2", "/api/v1/chunks/hierarchy", "/api/v1/chunks/0/0", "/healthz"):
        r = client.get(path, headers={"Origin": "null"})
        assert r.status_code == 200, path
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers


def test_chunk_etags_are_readable_cross_origin(client, systems) -> None:
    r = client.get("/api/v1/chunks/0/0", headers={"Origin": "null"})
    assert "etag" in r.headers["access-control-expose-headers"].lower()


def test_preflight_allows_conditional_gets_but_not_writes(client, systems) -> None:
    ok = client.options("/api/v1/chunks/0/0", headers={
        "Origin": "null", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match",
    })
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "*"
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        denied = client.options("/api/v1/systems/1", headers={
            "Origin": "https://elsewhere.example", "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        })
        assert denied.status_code == 400, method
        assert method not in denied.headers.get("access-control-allow-methods", "")


def test_same_origin_requests_are_unchanged(client, systems) -> None:
    r = client.get("/api/v1/systems?limit=1")
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
