"""Methods: HEAD answers like GET without a body, an unknown API path is a JSON 404 whatever
the method, and a known one with another method a 405 whose ``Allow`` is right, even with the
web front end mounted at ``/``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from haven.api import create_app
from haven.model import validate_system

# Headers a HEAD must repeat from the GET (Content-Length only where the GET has one).
SAME_HEADERS = ("content-type", "content-length", "content-encoding", "etag", "cache-control", "content-disposition",
                "x-haven-count")


@pytest.fixture
def web(tmp_path):
    """A web front end with an index page, so the catch-all mount at ``/`` is there."""
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>Haven</title>")
    (folder / "app.js").write_text("console.log('haven')")
    return folder


@pytest.fixture
def site(store, web, map_galaxy) -> Any:
    store.import_systems("Haven", [validate_system({"name": "Cinderhook", "x": 1.0, "y": 2.0, "z": 3.0})])
    with TestClient(create_app(store, static_dir=web), raise_server_exceptions=False) as c:
        yield c


GET_ROUTES = [
    "/healthz",
    "/api/v1/systems",
    "/api/v1/systems?galaxy=Map&limit=3",
    "/api/v1/systems/1",
    "/api/v1/systems/by-name/Cinderhook",
    "/api/v1/systems/search?q=cinder",
    "/api/v1/systems/near?x=0&y=0&z=0&radius=10",
    "/api/v1/systems/box?min_x=0&min_y=0&min_z=0&max_x=5&max_y=5&max_z=5",
    "/api/v1/systems/1/history",
    "/api/v1/regions",
    "/api/v1/stats",
    "/api/v1/galaxies",
    "/api/v1/chunks/hierarchy?galaxy=Map",
    "/api/v1/chunks/changes?galaxy=Map",
    "/api/v1/chunks/0/0?galaxy=Map",
    "/api/v1/chunks/0/0/0?galaxy=Map",
    "/api/systems/Cinderhook",
    "/api/systems/visible",
    "/api/systems/search?q=cinder",
    "/api/regions",
    "/api/stats",
    "/api/v1/systems/999",            # errors too: the same status and error headers
    "/api/v1/systems/abc",
    "/api/v1/nonexistent",
    "/api/nonexistent",
    "/api/v1/export?galaxy=Nope",
    "/openapi.json",
    "/",
    "/app.js",
]


@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_answers_like_get_without_a_body(site, path):
    got = site.get(path)
    head = site.head(path)
    assert head.status_code == got.status_code, (path, head.status_code, got.text)
    assert head.content == b""
    for name in SAME_HEADERS:
        assert head.headers.get(name) == got.headers.get(name), (path, name)
    if got.status_code == 200 and "content-length" in got.headers and "content-encoding" not in got.headers:
        assert int(head.headers["content-length"]) == len(got.content)


def test_head_of_a_chunk_keeps_its_etag_and_304(site):
    etag = site.get("/api/v1/chunks/0/0", params={"galaxy": "Map"}).headers["etag"]
    r = site.head("/api/v1/chunks/0/0", params={"galaxy": "Map"}, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.headers["etag"] == etag


def test_head_of_the_export_reads_no_system(site, store, monkeypatch):
    """The headers come from the checks alone; the streamed body is never started."""
    batches: list[str] = []

    def counting(method: str) -> Any:
        real = getattr(store, method)

        def counted(*args: Any, **kwargs: Any) -> Any:
            batches.append(method)
            return real(*args, **kwargs)
        return counted

    for method in ("stored_batches", "iter_systems"):  # what the flat and the JSON formats read
        monkeypatch.setattr(store, method, counting(method))
    for fmt in ("jsonl", "csv", "parquet", "haven-json", "legacy-json"):
        r = site.head("/api/v1/export", params={"galaxy": "Map", "format": fmt})
        assert r.status_code == 200 and r.content == b""
        assert r.headers["content-disposition"].startswith('attachment; filename="Map.')
    assert batches == []
    assert site.get("/api/v1/export", params={"galaxy": "Map"}).text.count("\n") == 200
    assert site.get("/api/v1/export", params={"galaxy": "Map", "format": "haven-json"}).status_code == 200
    assert set(batches) == {"stored_batches", "iter_systems"}  # a GET reads them, so a HEAD would show


def test_head_cors_headers_are_kept(site):
    r = site.head("/api/v1/stats", headers={"Origin": "null"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", ["/api/v1/nonexistent", "/api/v1/systems/1/nope", "/api/v1", "/api/nope",
                                  "/api", "/api/v1/chunks/0"])
def test_an_unknown_api_path_is_a_json_404_whatever_the_method(site, method, path):
    r = site.request(method, path, headers={"content-type": "application/json"}, content=b"{}")
    assert r.status_code == 404, (method, path, r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    assert "allow" not in r.headers
    if method != "HEAD":
        error = r.json()["error"]
        legacy = path in ("/api", "/api/nope")
        if legacy:
            assert isinstance(error, str)
        else:
            assert error["code"] == "not_found" and error["field"] is None


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/healthz", "GET, HEAD"),
    ("OPTIONS", "/healthz", "GET, HEAD"),
    ("POST", "/api/v1/stats", "GET, HEAD"),
    ("DELETE", "/api/v1/systems", "GET, HEAD, POST"),
    ("POST", "/api/v1/systems/1", "DELETE, GET, HEAD, PATCH, PUT"),
    ("GET", "/api/v1/systems/1/undo", "POST"),
    ("HEAD", "/api/v1/systems/1/undo", "POST"),
    ("PUT", "/api/v1/chunks/0/0", "GET, HEAD"),
    ("PUT", "/api/stats", "GET, HEAD"),
    ("POST", "/api/systems/Cinderhook", "GET, HEAD"),
    ("DELETE", "/maps/system-1.html", "GET, HEAD"),
    # literal paths that /systems/{id} would also match: theirs alone, not a 400 for a bad id
    ("DELETE", "/api/v1/systems/search", "GET, HEAD"),
    ("PUT", "/api/v1/systems/search?q=cinder", "GET, HEAD"),
    ("PATCH", "/api/v1/systems/near", "GET, HEAD"),
    ("DELETE", "/api/v1/systems/box", "GET, HEAD"),
    ("OPTIONS", "/api/v1/systems/search", "GET, HEAD"),
    ("DELETE", "/api/systems/visible", "GET, HEAD"),
])
def test_a_known_path_with_another_method_is_405_with_the_right_allow(site, method, path, allow):
    r = site.request(method, path, headers={"content-type": "application/json"}, content=b"{}")
    assert r.status_code == 405, (method, path, r.status_code, r.text)
    assert r.headers["allow"] == allow
    if method != "HEAD":
        message = r.json()["error"]
        message = message if isinstance(message, str) else message["message"]
        assert f"method {method} is not allowed" in message and allow in message


def test_every_literal_path_answers_405_for_the_methods_it_lacks(site, store):
    """Each path the schema lists without a parameter, with each method it does not list."""
    before = list(store.iter_systems("Haven"))
    for path, operations in site.get("/openapi.json").json()["paths"].items():
        if "{" in path:
            continue
        allowed = {m.upper() for m in operations} | ({"HEAD"} if "get" in operations else set())
        for method in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} - allowed:
            r = site.request(method, path, headers={"content-type": "application/json"}, content=b"{}")
            assert r.status_code == 405, (method, path, r.status_code, r.text)
            assert r.headers["allow"] == ", ".join(sorted(allowed)), (method, path)
    assert list(store.iter_systems("Haven")) == before


def test_ids_still_take_every_method_of_their_route(site):
    assert site.get("/api/v1/systems/search?q=cinder").status_code == 200
    assert site.request("PATCH", "/api/v1/systems/abc", json={}).json()["error"]["field"] == "id"
    assert site.delete("/api/v1/systems/1").status_code == 204


def test_the_web_front_end_still_answers_its_own_paths(site):
    assert site.get("/").status_code == 200 and "<title>Haven</title>" in site.get("/").text
    assert site.get("/app.js").text == "console.log('haven')"
    assert site.head("/app.js").headers["content-length"] == str(len("console.log('haven')"))
    r = site.put("/app.js")  # a file with another method: the static files' own 405
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"


def test_a_real_server_answers_head(tmp_path):
    """uvicorn in a child process, as `curl -I` or a load balancer's health check sees it."""
    import httpx

    from haven.bench.operations import http_server
    from haven.config import DatabaseUrl
    from haven.store import init_store

    db = tmp_path / "haven.db"
    writer = init_store(DatabaseUrl("sqlite", str(db)))
    writer.ensure_galaxy("Haven")
    writer.import_systems("Haven", [validate_system({"name": f"S{i}", "x": float(i), "y": 0.0, "z": 0.0})
                                    for i in range(30)])
    writer.close()
    with http_server(db, "Haven") as (base, _):
        for path in ("/healthz", "/api/v1/systems/1", "/api/v1/systems?limit=5"):
            got, head = httpx.get(base + path), httpx.head(base + path)
            assert head.status_code == got.status_code == 200
            assert head.content == b"" and head.headers["content-length"] == str(len(got.content))
            assert head.headers.get("etag") == got.headers.get("etag")
        export = httpx.head(base + "/api/v1/export?format=csv")
        assert export.status_code == 200 and export.content == b""
        assert export.headers["content-type"].startswith("text/csv")
        missing = httpx.put(base + "/api/v1/nonexistent", json={})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert httpx.get(base + "/healthz").json()["total_systems"] == 30  # still serving


def test_an_app_mounted_under_a_prefix_keeps_the_original_error_shape_on_legacy_routes(store, web):
    from starlette.applications import Starlette
    from starlette.routing import Mount

    parent = Starlette(routes=[Mount("/haven", app=create_app(store, static_dir=web))])
    with TestClient(parent, raise_server_exceptions=False) as c:
        legacy = c.delete("/haven/api/stats")
        assert legacy.status_code == 405 and isinstance(legacy.json()["error"], str)
        assert c.delete("/haven/api/v1/systems/search").json()["error"]["code"]  # Haven's own shape under /api/v1
