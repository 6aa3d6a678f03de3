"""Every bad request is a 4xx JSON answer in the right shape; nothing is a 500."""

from __future__ import annotations

import pytest
from apihelpers import dump
from fastapi.testclient import TestClient

from haven.api import create_app
from haven.api.common import MAX_BODY_BYTES
from haven.exactjson import MAX_JSON_DEPTH

SYSTEM = {"name": "Err", "x": 0, "y": 0, "z": 0}


def v1_error(r, status, field="__any__"):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) >= {"code", "message", "field"}
    if field != "__any__":
        assert err["field"] == field, err
    return err


@pytest.mark.parametrize(
    "raw",
    [b"{bad", b"{\"name\": }", b"[1, 2", b"\xff\xfe", b"NaN", b"{\"name\": \"\\ud800\"}", b"{\"x\": 1e999}", b"   "],
)
def test_malformed_json_is_400(client, store, raw):
    before = dump(store)
    r = client.post("/api/v1/systems", content=raw, headers={"content-type": "application/json"})
    v1_error(r, 400, "body")
    assert dump(store) == before


@pytest.mark.parametrize("body", [[], [SYSTEM], "text", 5, None, True])
def test_non_object_bodies_are_400(client, body):
    import orjson

    r = client.post("/api/v1/systems", content=orjson.dumps(body), headers={"content-type": "application/json"})
    v1_error(r, 400)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
     "json", "application/jsonx"],
)
def test_wrong_content_types_are_415(client, store, content_type):
    import orjson

    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/api/v1/systems", content=orjson.dumps(SYSTEM), headers=headers)
    if content_type is None:
        assert "content-type" not in {k.lower() for k in r.request.headers}
    v1_error(r, 415, "body")
    assert store.stats("Haven")["total_systems"] == 0


def test_json_content_type_variants_are_accepted(client):
    import orjson

    for i, ct in enumerate(["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]):
        r = client.post("/api/v1/systems", content=orjson.dumps({**SYSTEM, "name": f"ct{i}"}), headers={"content-type": ct})
        assert r.status_code == 201, (ct, r.text)


def test_form_post_is_415(client):
    r = client.post("/api/v1/systems", data={"name": "x"})
    v1_error(r, 415)


def test_too_large_body_is_413(client, store):
    big = b'{"name": "big", "x": 0, "y": 0, "z": 0, "notes": "' + b"a" * MAX_BODY_BYTES + b'"}'
    r = client.post("/api/v1/systems", content=big, headers={"content-type": "application/json"})
    v1_error(r, 413, "body")

    def chunks():  # no Content-Length: the limit is enforced while streaming
        yield big[: len(big) // 2]
        yield big[len(big) // 2:]

    r = client.post("/api/v1/systems", content=chunks(), headers={"content-type": "application/json"})
    v1_error(r, 413, "body")
    assert store.stats("Haven")["total_systems"] == 0


def test_bad_content_length_is_4xx(client):
    r = client.post("/api/v1/systems", content=b"{}", headers={"content-type": "application/json", "content-length": "zz"})
    assert 400 <= r.status_code < 500


def test_deep_nesting_is_400(client, store):
    deep: object = "leaf"
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = {"k": deep}
    r = client.post("/api/v1/systems", json={**SYSTEM, "extra": deep})
    v1_error(r, 400, "body")
    # the JSON parser's own limit
    raw = b'{"extra": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = client.post("/api/v1/systems", content=raw, headers={"content-type": "application/json"})
    v1_error(r, 400, "body")
    assert r.json()["error"]["message"] == f"the body is nested deeper than {MAX_JSON_DEPTH} levels"
    assert store.stats("Haven")["total_systems"] == 0


def test_unknown_routes_are_404_json(client):
    err = v1_error(client.get("/nope"), 404)
    assert err["code"] == "not_found"
    v1_error(client.get("/api/v1/nope"), 404)
    r = client.get("/api/nope")
    assert r.status_code == 404 and isinstance(r.json()["error"], str)


def test_wrong_method_is_405_json_with_allow(client):
    r = client.delete("/api/v1/systems")
    err = v1_error(r, 405)
    assert err["code"] == "method_not_allowed"
    assert "GET" in r.headers["allow"] and "POST" in r.headers["allow"]
    r = client.post("/api/v1/stats", json={})
    v1_error(r, 405)
    r = client.put("/api/stats")
    assert r.status_code == 405 and isinstance(r.json()["error"], str)


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/v1/systems?limit=5001", "limit"),
        ("/api/v1/systems?limit=0", "limit"),
        ("/api/v1/systems?limit=1e3", "limit"),
        ("/api/v1/systems?region=" + "r" * 201, "region"),
        ("/api/v1/systems?galaxy=" + "g" * 201, "galaxy"),
        ("/api/v1/systems?cursor=" + "c" * 5000, "cursor"),
        ("/api/v1/systems/search?q=abc&limit=99999", "limit"),
        ("/api/v1/systems/box?min_x=0&min_y=0&min_z=0&max_x=1&max_y=1", "max_z"),
        ("/api/v1/systems/7?version=x", None),
    ],
)
def test_query_errors_name_the_parameter(client, path, field):
    r = client.get(path)
    if field is None:
        assert r.status_code in (400, 404)
    else:
        v1_error(r, 400, field)


def test_delete_with_bad_version(client, store):
    sid = client.post("/api/v1/systems", json=SYSTEM).json()["id"]
    before = dump(store)
    for params in ({"version": "x"}, {"version": 0}, {"version": 10**30}):
        v1_error(client.delete(f"/api/v1/systems/{sid}", params=params), 400, "version")
    v1_error(client.delete(f"/api/v1/systems/{sid}", params={"version": 1}, headers={"If-Match": '"2"'}), 400)
    assert dump(store) == before


def test_catch_all_answers_json_500(store, tmp_path):
    app = create_app(store, static_dir=tmp_path)  # no web pages: the routes added below must be reachable

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/api/boom")
    def legacy_boom():
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/boom")
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "internal"
        assert "secret" not in r.text
        r = c.get("/api/boom")
        assert r.status_code == 500 and isinstance(r.json()["error"], str)


def test_store_unavailable_is_503(store):
    app = create_app(store)
    with TestClient(app, raise_server_exceptions=False) as c:
        app.state.store = None
        err = v1_error(c.get("/api/v1/systems"), 503)
        assert err["code"] == "store_unavailable"
        assert c.get("/healthz").status_code == 503


def _sqlites_own_busy_error(path) -> Exception:
    """The error SQLite raises when another connection holds the lock (its error code, not just words)."""
    import sqlite3

    holder, other = sqlite3.connect(path), sqlite3.connect(path, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        try:
            other.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            return exc
        raise AssertionError("the second connection got the lock")
    finally:
        holder.close()
        other.close()


def test_busy_database_is_503(store, monkeypatch, tmp_path):
    import sqlite3

    busy = _sqlites_own_busy_error(tmp_path / "locked.db")

    def locked(*args, **kwargs):
        raise busy

    app = create_app(store)
    with TestClient(app, raise_server_exceptions=False) as c:
        monkeypatch.setattr(store, "page", locked)
        r = c.get("/api/v1/systems")
        err = v1_error(r, 503)
        assert err["code"] == "store_unavailable"
        assert r.headers["retry-after"] == "1"
        # an OperationalError that only says "locked" is not taken for one: a bug is a 500, not a retry
        monkeypatch.setattr(store, "page", lambda *a, **k: (_ for _ in ()).throw(
            sqlite3.OperationalError("no column named locked")))
        assert c.get("/api/v1/systems").status_code == 500


def test_a_stored_cursor_secret_is_read_without_a_write(store, monkeypatch):
    """A server meeting another process's long write must not wait to learn a secret that is stored."""
    from haven.api.cursor import SECRET_META_KEY, codec_for_store

    stored = store.setdefault_meta_value(SECRET_META_KEY, "ab" * 32)

    def no_write(*args, **kwargs):
        raise AssertionError("wrote the secret again")

    monkeypatch.setattr(store, "setdefault_meta_value", no_write)
    codec = codec_for_store(store)
    assert codec.lasting and codec._secret == stored.encode()


def test_a_stand_in_cursor_secret_gives_way_to_the_databases_once_stored(store, monkeypatch):
    from apihelpers import seed

    from haven.api.cursor import SECRET_META_KEY

    seed(store, 5)
    real_setdefault = store.setdefault_meta_value

    def busy(*args, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store, "setdefault_meta_value", busy)
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        first = c.get("/api/v1/systems", params={"limit": 2}).json()
        assert c.get("/api/v1/systems", params={"limit": 2, "cursor": first["next"]}).status_code == 200
        real_setdefault(SECRET_META_KEY, "cd" * 32)  # stored meanwhile (another server, a later try)
        fresh = c.get("/api/v1/systems", params={"limit": 2}).json()
        assert c.app.state.cursor_codec.lasting
        assert c.get("/api/v1/systems", params={"limit": 2, "cursor": fresh["next"]}).status_code == 200


def test_cursor_secret_falls_back_when_it_cannot_be_stored(store, monkeypatch):
    from apihelpers import seed

    seed(store, 5)

    def read_only(*args, **kwargs):
        raise RuntimeError("attempt to write a readonly database")

    monkeypatch.setattr(store, "setdefault_meta_value", read_only)
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        first = c.get("/api/v1/systems", params={"limit": 2}).json()
        second = c.get("/api/v1/systems", params={"limit": 2, "cursor": first["next"]})
        assert second.status_code == 200 and second.json()["page"] == 2


# -- values at the edges of what is stored ----------------------------------------------


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0000-12-31"])
def test_dates_outside_years_1_to_9999_are_400_and_store_nothing(client, store, stamp):
    before = dump(store)
    r = client.post("/api/v1/systems", json={**SYSTEM, "created_at": stamp})
    v1_error(r, 400, "created_at")
    assert dump(store) == before
    assert client.post("/api/v1/systems", json={**SYSTEM, "created_at": "0001-01-01T00:00:00Z"}).status_code == 201


@pytest.mark.parametrize("path", [
    "/api/v1/systems/near?x=0&y=0&z=0&radius=1e-320",
    "/api/v1/systems/near?x=0&y=0&z=0&radius=5e-324",
    "/api/v1/systems/box?min_x=0&min_y=0&min_z=0&max_x=1e-320&max_y=1e-320&max_z=1e-320",
    "/api/systems/visible?radius=1e-320",
])
def test_vanishingly_small_spheres_and_boxes_are_answered(client, path):
    r = client.post("/api/v1/systems", json=SYSTEM)
    assert r.status_code == 201
    r = client.get(path)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("region, message", [("R" * 201, "at most 200"), ("a\u0000b", "control"), ("a\nb", "control")])
def test_a_patch_checks_the_region_as_a_create_does(client, store, region, message):
    created = client.post("/api/v1/systems", json=SYSTEM).json()
    before = dump(store)
    r = client.patch(f"/api/v1/systems/{created['id']}", json={"region": region})
    assert message in v1_error(r, 400, "region")["message"]
    assert dump(store) == before
    r = client.post("/api/v1/systems", json={**SYSTEM, "name": "Other", "region": region})
    assert message in v1_error(r, 400, "region")["message"]


def test_a_stored_date_outside_years_1_to_9999_reads_as_unknown(client, store):
    created = client.post("/api/v1/systems", json=SYSTEM).json()
    with store.conn:  # as a database written before dates were checked may hold it
        store.conn.execute("UPDATE system SET created_at = ? WHERE id = ?", (-62_135_596_800_001 - 50_400_000, created["id"]))
    r = client.get(f"/api/v1/systems/{created['id']}")
    assert r.status_code == 200 and r.json()["created_at"] is None
    assert client.get("/api/v1/systems").status_code == 200
    assert client.get("/api/v1/export", params={"format": "jsonl"}).status_code == 200


def test_a_client_that_leaves_mid_body_is_not_a_server_error(app, store, caplog):
    """An upload cut short (the client closed the connection) is logged as that, not as a 500 with a traceback."""
    import asyncio
    import logging

    before = dump(store)
    sent: list[dict] = []
    incoming = [{"type": "http.request", "body": b'{"name": "Cut', "more_body": True}, {"type": "http.disconnect"}]

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/v1/systems", "raw_path": b"/api/v1/systems", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }
    with TestClient(app):  # runs the app's startup (the store, the hub)
        with caplog.at_level(logging.INFO):
            asyncio.run(app(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert starts and starts[0]["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "client left during the body" in caplog.text
    assert dump(store) == before


def test_nul_in_a_text_field_is_refused(client, store):
    """Full-text search stops reading a value at U+0000: words after it could never be found."""
    r = client.post("/api/v1/systems", json={**SYSTEM, "materials": "Iron\u0000Zinc"})
    err = v1_error(r, 400, "materials")
    assert "U+0000" in err["message"]
    r = client.post("/api/v1/systems", json={**SYSTEM, "planets": [{"name": "P", "notes": "a\u0000b"}]})
    v1_error(r, 400, "planets[0].notes")



def test_a_body_that_is_not_utf8_says_so(client, store):
    for raw, byte in ((b'{"name": "\xff"}', "0xff"), ('{"name": "x"}'.encode("utf-16"), "0xff")):
        r = client.post("/api/v1/systems", content=raw, headers={"content-type": "application/json"})
        v1_error(r, 400, "body")
        message = r.json()["error"]["message"]
        assert message.startswith(f"the body is not UTF-8 text (byte {byte} at offset")
        assert "surrogates" not in message
    assert store.stats("Haven")["total_systems"] == 0


def test_every_haven_error_class_names_an_error_status():
    """Each error class carries its HTTP status; the handler answers with it (one place, no table)."""
    import haven.api.app  # noqa: F401 - loads every module that defines an error class
    import haven.cli.backups  # noqa: F401
    import haven.web.export  # noqa: F401
    from haven.api.errors import status_for
    from haven.errors import HavenError, ImportFailed, StaleVersion

    def every(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from every(sub)

    classes = list(every(HavenError))
    assert len(classes) >= 10
    for cls in classes:
        assert 400 <= cls.status <= 599, cls
    assert status_for(StaleVersion("old", current_version=3)) == 409
    assert ImportFailed("bad file", ["line 2: x"]).to_dict()["problems"] == ["line 2: x"]
