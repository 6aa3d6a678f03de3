"""The application shell: health, OpenAPI, lifespan-opened store, the web front end's mount point."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from haven.api import create_app
from haven.store import init_store, open_store


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "galaxy": "Haven", "total_systems": 0}


def test_openapi_documents_every_route_and_the_bodies(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = spec["paths"]
    for path in [
        "/api/v1/systems", "/api/v1/systems/{system_id}", "/api/v1/systems/by-name/{name}",
        "/api/v1/systems/search", "/api/v1/systems/near", "/api/v1/systems/box",
        "/api/v1/regions", "/api/v1/stats", "/api/v1/galaxies",
        "/api/systems/visible", "/api/systems/search", "/api/systems/{name}", "/api/regions",
        "/api/regions/{region}/systems", "/api/stats", "/healthz",
    ]:
        assert path in paths, path
    assert set(paths["/api/v1/systems/{system_id}"]) == {"get", "put", "patch", "delete"}
    body = paths["/api/v1/systems"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SystemIn"}
    schemas = spec["components"]["schemas"]
    assert {"SystemIn", "SystemPatch", "PlanetIn", "MoonIn", "StationIn"} <= set(schemas)
    assert "#/$defs" not in r.text  # every reference resolves inside components
    assert client.get("/docs").status_code == 200


def test_the_reference_page_loads_swagger_ui_from_this_server(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r"""(?:src|href)=["']?([^"' >]+)""", page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not on this server"
        assert client.get(asset).status_code == 200, asset


def test_without_swagger_ui_the_reference_page_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HAVEN_SWAGGER_UI_DIR", str(tmp_path))  # no swagger-ui-bundle.js there
    page = TestClient(create_app()).get("/docs")
    assert page.status_code == 503
    assert "run <code>make</code>" in page.text and 'href="/openapi.json"' in page.text


def test_routes_are_built_when_the_app_is_created():
    """FastAPI would build an included router's handlers on its first request; Haven builds them at startup."""
    app = create_app()  # no request made, no store opened
    assert app.openapi_schema is not None
    assert "/api/v1/chunks/{level}/{cell}" in app.openapi_schema["paths"]


def test_lifespan_opens_and_closes_the_configured_store(tmp_path, monkeypatch, db_url):
    init_store(db_url).close()
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{db_url.location}")
    app = create_app(galaxy="Lifespan")
    assert app.state.store is None
    with TestClient(app) as c:
        assert app.state.store is not None
        r = c.post("/api/v1/systems", json={"name": "Life", "x": 0, "y": 0, "z": 0})
        assert r.status_code == 201 and r.json()["galaxy"] == "Lifespan"
        assert c.get("/healthz").json()["galaxy"] == "Lifespan"
    assert app.state.store is None


def test_given_store_is_not_closed_by_the_app(store):
    with TestClient(create_app(store)) as c:
        assert c.get("/healthz").status_code == 200
    assert store.stats("Haven")["total_systems"] == 0  # still usable


def test_web_front_end_mount(store, tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "app.js").write_text("console.log('haven')")
    with TestClient(create_app(store, static_dir=web), raise_server_exceptions=False) as c:
        assert c.get("/static/app.js").text == "console.log('haven')"
        r = c.get("/static/missing.js")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert c.get("/").status_code == 404  # no index.html yet: nothing at /
    (web / "index.html").write_text("<!doctype html><title>Haven</title>")
    with TestClient(create_app(store, static_dir=web), raise_server_exceptions=False) as c:
        r = c.get("/")
        assert r.status_code == 200 and "<title>Haven</title>" in r.text
        # the API still wins over the catch-all mount
        assert c.get("/api/v1/stats").json()["total_systems"] == 0
        assert c.get("/api/v1/nope").json()["error"]["code"] == "not_found"
        assert c.get("/api/nope").json() == {"error": "no route or file at /api/nope"}


def test_no_web_directory_no_mount(store, tmp_path):
    app = create_app(store, static_dir=tmp_path / "missing")
    assert not any(getattr(r, "name", None) in ("static", "web") for r in app.routes)


def served_app(monkeypatch, db_url, *, worker_threads: int, cache_mib: int):
    """An app that opens its own store, as `haven serve` makes it, with these two settings."""
    init_store(db_url).close()
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{db_url.location}")
    monkeypatch.setenv("HAVEN_WORKER_THREADS", str(worker_threads))
    monkeypatch.setenv("HAVEN_CACHE_MIB", str(cache_mib))
    return create_app()


def test_a_served_app_bounds_its_threads_and_caches(monkeypatch, db_url):
    """The app that opens its own store (as `haven serve`) caps its worker threads and the caches of all
    connections, and puts SQLite's process-wide limit back when it stops."""
    import asyncio

    import httpx
    from anyio import to_thread

    app = served_app(monkeypatch, db_url, worker_threads=3, cache_mib=24)
    with TestClient(app) as c:
        store = app.state.store
        assert store.conn.execute("PRAGMA soft_heap_limit").fetchone()[0] == 24 << 20
        assert store.conn.execute("PRAGMA cache_size").fetchone()[0] == -16_384  # a budget this small: the floor

        async def many_at_once() -> tuple[float, list[int]]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://haven") as client:
                answers = await asyncio.gather(*(client.get("/api/v1/systems", params={"limit": 5})
                                                 for _ in range(40)))
            return to_thread.current_default_thread_limiter().total_tokens, [r.status_code for r in answers]

        tokens, statuses = c.portal.call(many_at_once)
        assert tokens == 3 and statuses == [200] * 40
        # the three worker threads' (the lifespan's open_store ran on one of them), the chunk
        # refresher's and its commit watch's, and this thread's own: not one per request
        assert store.connection_count() <= 3 + 3
    after = init_store(db_url)
    try:
        assert after.conn.execute("PRAGMA soft_heap_limit").fetchone()[0] == 0
    finally:
        after.close()


def test_a_larger_budget_lets_every_connection_cache_more(monkeypatch, db_url):
    """HAVEN_CACHE_MIB is shared by the worker threads' connections: 512 MiB for 2 threads, 256 MiB each."""
    app = served_app(monkeypatch, db_url, worker_threads=2, cache_mib=512)
    with TestClient(app) as c:
        assert c.get("/api/v1/systems", params={"limit": 5}).status_code == 200
        store = app.state.store
        assert store.cache_kib == 256 << 10
        assert store.conn.execute("PRAGMA cache_size").fetchone()[0] == -(256 << 10)
        assert store.conn.execute("PRAGMA soft_heap_limit").fetchone()[0] == 512 << 20


def test_a_server_loads_neither_pyarrow_nor_alembic():
    """They cost a server about 50 MiB of memory and it needs neither: flat exports and migrations load them."""
    import subprocess
    import sys

    code = ("import sys, haven.api.app, haven.cli.app; "
            "print(sorted(m for m in ('pyarrow', 'alembic', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_startup_that_fails_puts_everything_back(monkeypatch, db_url):
    """The galaxy cannot be created after the store opened: startup fails, the store is closed again
    and SQLite's process-wide limit is as it was."""
    import sqlite3

    import pytest

    from haven.errors import HavenError

    init_store(db_url).close()
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{db_url.location}")
    app = create_app(galaxy="\x00")  # refused by ensure_galaxy, after the store is open
    opened = []
    monkeypatch.setattr("haven.api.app.open_store", lambda **kw: opened.append(open_store(**kw)) or opened[-1])
    with pytest.raises(HavenError):
        with TestClient(app):
            pass
    assert app.state.store is None and opened and opened[0].connection_count() == 0  # closed
    assert sqlite3.connect(":memory:").execute("PRAGMA soft_heap_limit").fetchone()[0] == 0


def test_a_bad_memory_setting_is_refused_before_the_store_opens(monkeypatch, db_url):
    """Under plain uvicorn (no `haven serve` to check first) a bad setting stops startup with nothing opened."""
    import pytest

    init_store(db_url).close()
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{db_url.location}")
    monkeypatch.setenv("HAVEN_CACHE_MIB", "lots")
    app = create_app()
    with pytest.raises(ValueError, match="HAVEN_CACHE_MIB"):
        with TestClient(app):
            pass
    assert app.state.store is None
