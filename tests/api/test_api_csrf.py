"""Undo takes no body, yet a page of another origin must not be able to trigger it with a
"simple" request (a form, text, or a body-less POST), which browsers send without a CORS
preflight. Only a JSON Content-Type, which needs one, gets through from a web page."""

from __future__ import annotations

from typing import Any

import pytest
from apihelpers import dump

EVIL = {"Origin": "http://evil.example"}


@pytest.fixture
def created(client) -> dict[str, Any]:
    r = client.post("/api/v1/systems", json={"name": "Target", "x": 1.0, "y": 2.0, "z": 3.0})
    assert r.status_code == 201
    return r.json()


@pytest.mark.parametrize("headers, body", [
    ({**EVIL, "Content-Type": "application/x-www-form-urlencoded"}, b""),   # <form method=post>
    ({**EVIL, "Content-Type": "application/x-www-form-urlencoded"}, b"a=1"),
    ({**EVIL, "Content-Type": "multipart/form-data; boundary=x"}, b"--x--\r\n"),
    ({**EVIL, "Content-Type": "text/plain"}, b"{}"),                        # <form enctype=text/plain>
    (EVIL, b""),                                                            # fetch(url, {method: "POST", mode: "no-cors"})
    ({"Origin": "null"}, b""),                                              # a sandboxed frame, or no-referrer
    ({"Content-Type": "text/plain"}, b""),                                  # any form or text type, from anywhere
    ({"Content-Type": ""}, b""),
])
def test_a_cross_site_simple_request_cannot_undo(client, store, created, headers, body):
    before = dump(store)
    history = client.get(f"/api/v1/systems/{created['id']}/history").json()
    r = client.post(f"/api/v1/systems/{created['id']}/undo", headers=headers, content=body)
    assert r.status_code == 415, r.text
    error = r.json()["error"]
    assert error["code"] == "unsupported_media_type" and "application/json" in error["message"]
    assert dump(store) == before  # the system is still there: its create was not undone
    assert client.get(f"/api/v1/systems/{created['id']}/history").json() == history


@pytest.mark.parametrize("headers, body", [
    ({"Content-Type": "application/json"}, b""),
    ({"Content-Type": "application/json; charset=utf-8"}, b"{}"),
    ({**EVIL, "Content-Type": "application/json"}, b" { } "),  # a page may: the browser asked first (preflight)
    ({}, b""),                                                  # curl and scripts send no Origin
])
def test_undo_with_json_or_from_a_client_that_is_not_a_page(client, created, headers, body):
    r = client.post(f"/api/v1/systems/{created['id']}/undo", headers=headers, content=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"undone": "create", "system": None}


@pytest.mark.parametrize("body", [b'{"id": 1}', b"[]", b"null", b"{", b'"x"'])
def test_undo_takes_no_body(client, store, created, body):
    before = dump(store)
    r = client.post(f"/api/v1/systems/{created['id']}/undo", headers={"Content-Type": "application/json"},
                    content=body)
    assert r.status_code == 400 and r.json()["error"]["field"] == "body", r.text
    assert dump(store) == before


def test_a_cross_origin_preflight_for_undo_is_refused(client, created):
    """What makes a JSON type safe: the browser asks first, and the server says no to other origins."""
    r = client.options(f"/api/v1/systems/{created['id']}/undo", headers={
        **EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 400
    assert "access-control-allow-methods" not in r.headers or "POST" not in r.headers["access-control-allow-methods"]



@pytest.mark.parametrize("path, method, request_headers, field", [
    ("/api/v1/systems/1", "DELETE", None, "Access-Control-Request-Method"),
    ("/api/v1/systems", "POST", "content-type", "Access-Control-Request-Method"),
    ("/api/v1/systems/1/undo", "POST", None, "Access-Control-Request-Method"),
    ("/api/v1/systems/1", "GET", "if-none-match, x-token", "Access-Control-Request-Headers"),
])
def test_a_refused_preflight_is_a_json_error_naming_what_was_refused(client, store, created, path, method,
                                                                     request_headers, field):
    before = dump(store)
    headers = {**EVIL, "Access-Control-Request-Method": method}
    if request_headers:
        headers["Access-Control-Request-Headers"] = request_headers
    r = client.options(path, headers=headers)
    assert r.status_code == 400 and r.headers["content-type"] == "application/json", r.text
    error = r.json()["error"]
    assert error["code"] == "invalid" and error["field"] == field
    assert error["message"].startswith(f"{field}: ") and (method in error["message"] or "x-token" in error["message"])
    assert r.headers["access-control-allow-methods"] == "GET, HEAD"  # what the browser is told it may do
    assert dump(store) == before


def test_a_refused_preflight_on_a_legacy_route_keeps_the_original_error_shape(client):
    r = client.options("/api/stats", headers={**EVIL, "Access-Control-Request-Method": "PUT"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert isinstance(r.json()["error"], str) and "PUT" in r.json()["error"]


def test_an_allowed_preflight_is_unchanged(client):
    r = client.options("/api/v1/chunks/0/0", headers={**EVIL, "Access-Control-Request-Method": "GET",
                                                      "Access-Control-Request-Headers": "if-none-match"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
