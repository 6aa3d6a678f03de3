"""Request bodies are read as sent: a compressed one (``Content-Encoding`` other than
``identity``) is a 415 naming the header and its value, before a byte of it is read, and
nothing is stored. ``identity`` is no coding at all and works as a plain body does."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson
import pytest
from apihelpers import dump
from fastapi.routing import APIRoute

from haven.api import legacy, maps
from haven.api.common import MAX_BODY_BYTES, MAX_SHOWN_HEADER_CHARS
from haven.api.errors import is_legacy_path

JSON_TYPE = {"Content-Type": "application/json"}
NEW = {"name": "Packed", "x": 1.0, "y": 2.0, "z": 3.0, "region": "Core"}


@pytest.fixture
def existing(client) -> dict[str, Any]:
    r = client.post("/api/v1/systems", json={"name": "Kept", "x": 4.0, "y": 5.0, "z": 6.0, "fauna": "Rich"})
    assert r.status_code == 201, r.text
    return r.json()


def writes(existing: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route that reads a body: (method, path, JSON body)."""
    sid = existing["id"]
    return [
        ("POST", "/api/v1/systems", NEW),
        ("PUT", f"/api/v1/systems/{sid}", {**NEW, "version": existing["version"]}),
        ("PATCH", f"/api/v1/systems/{sid}", {"fauna": "Poor"}),
        ("POST", f"/api/v1/systems/{sid}/undo", {}),
    ]


def encoded(raw: bytes, coding: str) -> bytes:
    """The body as a client would compress it (unknown codings: as it was)."""
    first = coding.split(",")[0].strip().lower()
    if first == "gzip":
        return gzip.compress(raw)
    if first == "deflate":
        return zlib.compress(raw)
    return raw


def refused(r: Any, value: str) -> dict[str, Any]:
    assert r.status_code == 415, r.text
    assert r.headers["accept-encoding"] == "identity"
    error = r.json()["error"]
    assert error["code"] == "unsupported_media_type" and error["field"] == "Content-Encoding", error
    assert f"Content-Encoding: {value} " in error["message"], error
    return error


@pytest.mark.parametrize("which", range(4), ids=["POST", "PUT", "PATCH", "POST undo"])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd", "GZip", "x-custom", "gzip, identity",
                                    "identity, gzip"])
def test_a_compressed_body_is_415_naming_the_header_and_nothing_changes(client, store, existing, which, coding):
    method, path, body = writes(existing)[which]
    before, history = dump(store), store.history(existing["id"])
    r = client.request(method, path, content=encoded(orjson.dumps(body), coding),
                       headers={**JSON_TYPE, "Content-Encoding": coding})
    refused(r, coding)
    assert dump(store) == before and store.history(existing["id"]) == history


@pytest.mark.parametrize("which", range(4), ids=["POST", "PUT", "PATCH", "POST undo"])
def test_a_plain_body_labelled_gzip_is_refused_too(client, store, existing, which):
    """The header decides, not the bytes: a body that happens to be plain JSON is not guessed at."""
    method, path, body = writes(existing)[which]
    before = dump(store)
    r = client.request(method, path, content=orjson.dumps(body), headers={**JSON_TYPE, "Content-Encoding": "gzip"})
    refused(r, "gzip")
    assert dump(store) == before


def test_every_content_encoding_line_counts(client, store):
    before = dump(store)
    r = client.post("/api/v1/systems", content=orjson.dumps(NEW),
                    headers=[("Content-Type", "application/json"), ("Content-Encoding", "identity"),
                             ("Content-Encoding", "gzip")])
    refused(r, "identity, gzip")
    assert dump(store) == before


def test_a_long_value_is_cut_short_in_the_message(client):
    value = "x" * (MAX_SHOWN_HEADER_CHARS * 5)
    r = client.post("/api/v1/systems", content=orjson.dumps(NEW), headers={**JSON_TYPE, "Content-Encoding": value})
    error = refused(r, value[:MAX_SHOWN_HEADER_CHARS] + "…")
    assert value[:MAX_SHOWN_HEADER_CHARS + 1] not in error["message"]


def test_the_refusal_comes_before_the_size_check(client, store):
    """Nothing of a compressed body is read, however large it is."""
    r = client.post("/api/v1/systems", content=b"x" * (MAX_BODY_BYTES + 1),
                    headers={**JSON_TYPE, "Content-Encoding": "gzip"})
    refused(r, "gzip")
    assert store.stats("Haven")["total_systems"] == 0


def test_a_wrong_content_type_is_still_named_first(client):
    r = client.post("/api/v1/systems", content=b"name=x", headers={"Content-Type": "text/plain",
                                                                    "Content-Encoding": "gzip"})
    assert r.status_code == 415 and r.json()["error"]["field"] == "body", r.text


@pytest.mark.parametrize("coding", ["identity", "Identity", " identity ", "identity, identity", ""])
def test_identity_is_no_coding_and_works(client, existing, coding):
    sid, headers = existing["id"], {**JSON_TYPE, "Content-Encoding": coding}
    created = client.post("/api/v1/systems", content=orjson.dumps(NEW), headers=headers)
    assert created.status_code == 201, created.text
    patched = client.patch(f"/api/v1/systems/{sid}", content=b'{"fauna": "Poor"}', headers=headers)
    assert patched.status_code == 200 and patched.json()["fauna"] == "Poor", patched.text
    replaced = client.put(f"/api/v1/systems/{sid}", headers=headers,
                          content=orjson.dumps({**NEW, "name": "Kept", "version": patched.json()["version"]}))
    assert replaced.status_code == 200 and replaced.json()["region"] == "Core", replaced.text
    undone = client.post(f"/api/v1/systems/{sid}/undo", content=b"", headers=headers)
    assert undone.status_code == 200 and undone.json()["undone"] == "update", undone.text


def test_no_legacy_route_reads_a_body():
    """The original tool's routes are all reads, so the only bodies the API reads are /api/v1's
    (through :func:`haven.api.common.read_json_body` and ``read_no_body``, which refuse a coding).
    A legacy write added later must read its body the same way."""
    routes = [r for r in (*legacy.router.routes, *maps.router.routes) if isinstance(r, APIRoute)]
    assert routes and all(is_legacy_path(route.path) for route in routes)
    assert all(route.methods <= {"GET"} for route in routes), [(r.path, r.methods) for r in routes]
