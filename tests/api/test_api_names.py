"""Any name, URL-encoded, reaches the right system: slashes, percent signs, ?, #, unicode, dots."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from apihelpers import AWKWARD_NAMES, enc

from haven.model import validate_system


@pytest.fixture(scope="module")
def named(module_store):
    store = module_store
    systems = [validate_system({"name": name, "x": i, "y": 0, "z": 0}) for i, name in enumerate(AWKWARD_NAMES)]
    # decoys that a wrong decoding would hit instead
    for decoy in ("AMOT 16", "a", "100", "what", "etc", "etc/passwd", "/ literally"):
        systems.append(validate_system({"name": decoy, "x": 0, "y": 1, "z": 0}))
    store.import_systems("Haven", systems)
    return {name: store.system_by_name("Haven", name)["id"] for name in AWKWARD_NAMES}


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_v1_by_name(module_client, named, name):
    client = module_client
    r = client.get(f"/api/v1/systems/by-name/{enc(name)}")
    assert r.status_code == 200, (name, r.text)
    assert r.json()["name"] == name
    assert r.json()["id"] == named[name]


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_legacy_by_name(module_client, named, name):
    client = module_client
    if name in ("visible", "search"):
        pytest.skip("legacy paths /api/systems/visible and /search are routes, as in the original")
    r = client.get(f"/api/systems/{enc(name)}")
    assert r.status_code == 200, (name, r.text)
    assert r.json()["name"] == name
    assert r.json()["id"] == str(named[name])


def test_plain_quote_encoding_works_too(module_client, named):
    client = module_client
    # what most clients send: quote() leaves dots alone, which is fine except for "." and ".."
    for name in AWKWARD_NAMES:
        if name in (".", ".."):
            continue
        r = client.get("/api/v1/systems/by-name/" + quote(name, safe=""))
        assert r.status_code == 200 and r.json()["name"] == name


def test_unencoded_slash_still_means_the_whole_name(module_client, named):
    client = module_client
    r = client.get("/api/v1/systems/by-name/AMOT%2016/O5")
    assert r.status_code == 200 and r.json()["name"] == "AMOT 16/O5"
    r = client.get("/api/systems/a/b/c")
    assert r.status_code == 200 and r.json()["name"] == "a/b/c"


def test_percent_is_decoded_exactly_once(module_client, named):
    client = module_client
    # "%2F literally" must be sent as %252F...; %2F alone means "/"
    r = client.get("/api/v1/systems/by-name/%252F%20literally")
    assert r.json()["name"] == "%2F literally"
    r = client.get("/api/v1/systems/by-name/%2F%20literally")
    assert r.json()["name"] == "/ literally"


def test_unknown_and_empty_names(module_client, named):
    client = module_client
    r = client.get("/api/v1/systems/by-name/" + enc("No Such System"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = client.get("/api/v1/systems/by-name/")
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "name"
    r = client.get("/api/v1/systems/by-name/" + "x" * 300)
    assert r.status_code == 400
    # invalid UTF-8 after decoding
    r = client.get("/api/v1/systems/by-name/%ff%fe")
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "name"
    for path in ("/api/systems/%ff", "/api/systems/" + "y" * 300, "/api/systems/No%20Such"):
        r = client.get(path)
        assert r.status_code in (400, 404)
        assert isinstance(r.json()["error"], str)


def test_create_and_patch_awkward_names_round_trip(client):
    for name in ("new/one", "new%one", "new?one#two", "🌌/🪐"):
        r = client.post("/api/v1/systems", json={"name": name, "x": 0, "y": 0, "z": 0})
        assert r.status_code == 201
        got = client.get(f"/api/v1/systems/by-name/{enc(name)}").json()
        assert got["id"] == r.json()["id"]


def test_region_names_with_slashes_in_legacy_route(client, store):
    store.create("Haven", validate_system({"name": "R1", "x": 0, "y": 0, "z": 0, "region": "Near/Far Reach"}))
    store.create("Haven", validate_system({"name": "R2", "x": 0, "y": 0, "z": 0, "region": "Near"}))
    body = client.get("/api/regions/" + enc("Near/Far Reach") + "/systems").json()
    assert [s["name"] for s in body["systems"]] == ["R1"]
    body = client.get("/api/regions/Near/systems").json()
    assert [s["name"] for s in body["systems"]] == ["R2"]
