"""Chunk routes: CHNK bytes with ETag/304, the hierarchy, picking, and bad ids."""

from __future__ import annotations

import gzip

import pytest

from haven.chunks import decode_chunk
from haven.chunks.exact import decode_exact


def test_hierarchy_lists_nodes_that_cover_every_system(client, map_galaxy):
    r = client.get("/api/v1/chunks/hierarchy", params={"galaxy": map_galaxy, "depth": 4})
    assert r.status_code == 200
    body = r.json()
    assert body["capacity"] == 25 and body["total_systems"] == 200
    assert body["cube"]["half_size_ly"] == 8192.0
    assert sum(n["count"] for n in body["nodes"]) == 200
    assert all(n["count"] <= 25 for n in body["nodes"])


def test_chunk_is_gzip_chnk_with_etag_and_304(client, map_galaxy):
    r = client.get("/api/v1/chunks/0/0", params={"galaxy": map_galaxy}, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.haven.chnk"
    assert r.headers["content-encoding"] == "gzip"
    raw = r.content  # the test client has already undone the gzip
    chunk = decode_chunk(raw, (0.0, 0.0, 0.0), 8192.0)
    assert chunk.count == 25 == int(r.headers["x-haven-count"])
    etag = r.headers["etag"]
    again = client.get("/api/v1/chunks/0/0", params={"galaxy": map_galaxy}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert len(gzip.compress(raw)) / chunk.count < 12


def test_exact_positions_follow_the_chunk_order_at_32_bits(client, map_galaxy):
    """A map zoomed in redraws a node from these: the same systems, in the same order, closer."""
    params = {"galaxy": map_galaxy}
    chunk = client.get("/api/v1/chunks/1/0", params=params)
    r = client.get("/api/v1/chunks/1/0/exact", params=params, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.haven.chnx" and r.headers["content-encoding"] == "gzip"
    assert r.headers["etag"] == chunk.headers["etag"] and r.headers["x-haven-count"] == chunk.headers["x-haven-count"]
    exact = decode_exact(r.content, (0.0, 0.0, 0.0), 8192.0)
    coarse = decode_chunk(chunk.content, (0.0, 0.0, 0.0), 8192.0)
    assert exact.count == coarse.count > 0 and exact.version == coarse.version
    side = coarse.side_ly
    for i in range(exact.count):
        s = client.get(f"/api/v1/chunks/1/0/{i}", params=params).json()
        got = (exact.x_ly[i], exact.y_ly[i], exact.z_ly[i])
        assert all(abs(g - w) <= side / 2**33 * 1.001 for g, w in zip(got, (s["x"], s["y"], s["z"])))
        assert abs(coarse.x_ly[i] - s["x"]) <= coarse.step_ly / 2 + 1e-9  # the chunk's own point i
    again = client.get("/api/v1/chunks/1/0/exact", params=params, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_an_edit_changes_the_etag(client, map_galaxy):
    etag = client.get("/api/v1/chunks/0/0", params={"galaxy": map_galaxy}).headers["etag"]
    picked = client.get("/api/v1/chunks/0/0/0", params={"galaxy": map_galaxy}).json()
    assert picked["name"].startswith("M")
    r = client.patch(f"/api/v1/systems/{picked['id']}", json={"x": 10.0})
    assert r.status_code == 200
    after = client.get("/api/v1/chunks/0/0", params={"galaxy": map_galaxy}, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag


@pytest.mark.parametrize("path, status", [
    ("/api/v1/chunks/22/0", 400),
    ("/api/v1/chunks/-1/0", 400),
    ("/api/v1/chunks/1/8", 400),
    ("/api/v1/chunks/abc/0", 400),
    ("/api/v1/chunks/0/0/999999", 400),
    ("/api/v1/chunks/0/0/-1", 400),
    ("/api/v1/chunks/0/0/24", 200),
    ("/api/v1/chunks/5/7", 404),
    ("/api/v1/chunks/5/7/exact", 404),
    ("/api/v1/chunks/22/0/exact", 400),
    ("/api/v1/chunks/1/8/exact", 400),
    ("/api/v1/chunks/hierarchy?depth=9", 400),
    ("/api/v1/chunks/hierarchy?level=1&cell=99", 400),
])
def test_bad_chunk_ids_are_typed_errors(client, map_galaxy, path, status):
    sep = "&" if "?" in path else "?"
    r = client.get(f"{path}{sep}galaxy={map_galaxy}")
    assert r.status_code == status, r.text
    if status >= 400:
        assert "error" in r.json()


def test_the_change_feed_lists_what_an_edit_changed(client, map_galaxy):
    start = client.get("/api/v1/chunks/changes", params={"galaxy": map_galaxy})
    assert start.status_code == 200
    clock = start.json()["clock"]
    assert start.json()["reset"] is False and start.json()["nodes"]  # from 0: every node
    assert client.get("/api/v1/chunks/changes", params={"galaxy": map_galaxy, "since": clock}).json()["nodes"] == []
    r = client.post("/api/v1/systems", params={"galaxy": map_galaxy}, json={"name": "Live", "x": 5.0, "y": 5.0, "z": 5.0})
    assert r.status_code == 201
    feed = client.get("/api/v1/chunks/changes", params={"galaxy": map_galaxy, "since": clock}).json()
    assert feed["galaxy"] == map_galaxy and feed["clock"] > clock and feed["nodes"]
    for node in feed["nodes"]:  # each listed node answers its new version
        if node["count"]:
            etag = client.get(f"/api/v1/chunks/{node['level']}/{node['cell']}", params={"galaxy": map_galaxy}).headers["etag"]
            assert etag == f'W/"{node["version"]}"'


@pytest.mark.parametrize("query", ["since=-1", "since=x", "limit=0", "limit=5001", "galaxy=Nowhere"])
def test_the_change_feed_answers_bad_input_with_a_4xx(client, map_galaxy, query):
    params = query if "galaxy=" in query else f"{query}&galaxy={map_galaxy}"
    r = client.get(f"/api/v1/chunks/changes?{params}")
    assert r.status_code in (400, 404), r.text
    assert "error" in r.json()


def test_a_server_rebuilds_edited_chunks_in_the_background(store, map_galaxy):
    import time

    from fastapi.testclient import TestClient

    from haven.api.app import create_app

    with TestClient(create_app(store, refresh_chunks=True)) as live:
        assert live.get("/api/v1/chunks/0/0", params={"galaxy": map_galaxy}).status_code == 200  # a map looks
        picked = live.get("/api/v1/chunks/0/0/0", params={"galaxy": map_galaxy}).json()
        assert live.patch(f"/api/v1/systems/{picked['id']}", json={"x": 11.0}).status_code == 200
        version = store.lod_node(map_galaxy, 0, 0)["version"]
        deadline = time.monotonic() + 30
        while (store.stored_chunk(map_galaxy, 0, 0) or (0,))[0] != version and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.stored_chunk(map_galaxy, 0, 0)[0] == version  # built before anybody asked for it


def test_a_pick_names_the_node_version_it_was_read_from(client, map_galaxy, store):
    """An index names a system only for one node version: ``?version=`` makes a changed node a 409."""
    params = {"galaxy": map_galaxy}
    etag = client.get("/api/v1/chunks/0/0", params=params).headers["etag"]
    version = int(etag.removeprefix('W/"').rstrip('"'))
    first = client.get("/api/v1/chunks/0/0/0", params={**params, "version": version})
    assert first.status_code == 200
    assert first.json() == client.get("/api/v1/chunks/0/0/0", params=params).json()

    assert client.patch(f"/api/v1/systems/{first.json()['id']}", json={"x": 2999.0}).status_code == 200
    current = store.lod_node(map_galaxy, 0, 0)["version"]
    assert current != version
    for index in (0, 24, 999):  # an index past the end says the node changed, too
        stale = client.get(f"/api/v1/chunks/0/0/{index}", params={**params, "version": version})
        assert stale.status_code == 409, stale.text
        error = stale.json()["error"]
        assert error["code"] == "stale_version" and error["field"] == "version"
        assert error["current_version"] == current
    assert client.get("/api/v1/chunks/0/0/0", params={**params, "version": current}).status_code == 200
    assert client.get("/api/v1/chunks/0/0/0", params=params).status_code == 200  # without it, as before


@pytest.mark.parametrize("version", ["1.0", "+1", "0", "x", "true", str(2**63)])
def test_a_pick_version_is_plain_digits(client, map_galaxy, version):
    r = client.get(f"/api/v1/chunks/0/0/0?galaxy={map_galaxy}&version={version}")
    assert r.status_code == 400 and r.json()["error"]["field"] == "version", r.text
