"""The web pages' addresses: ``/map``, ``/wizard``, ``/system`` and ``/control-room`` lead to the
pages, and a page asked for with a slash added (``/system.html/``) is sent to its real address,
where its relative ``css/`` and ``js/`` links resolve. API paths keep their JSON errors."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("path", "location"), [
    ("/map", "/map.html"),
    ("/map/", "/map.html"),
    ("/wizard", "/wizard.html"),
    ("/system", "/system.html"),
    ("/control-room", "/"),
    # the query string goes along unchanged, escapes and all
    ("/system?id=3001", "/system.html?id=3001"),
    ("/wizard?id=4&galaxy=Far%20Away", "/wizard.html?id=4&galaxy=Far%20Away"),
    ("/map?focus=KORVAX%2012%2FB3&galaxy=Haven", "/map.html?focus=KORVAX%2012%2FB3&galaxy=Haven"),
    ("/control-room?galaxy=Eissentam", "/?galaxy=Eissentam"),
])
def test_page_names_without_html_redirect_to_the_page(client, path, location):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 307, r.text
    assert r.headers["location"] == location
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("path", "location"), [
    ("/system.html/?id=3001", "/system.html?id=3001"),
    ("/map.html/", "/map.html"),
    ("/map.html//?region=Clockwork%20Reach", "/map.html?region=Clockwork%20Reach"),
    ("/wizard.html/", "/wizard.html"),
    ("/index.html/", "/index.html"),
    ("/static/system.html/?id=7", "/static/system.html?id=7"),
])
def test_a_page_with_a_slash_added_redirects_to_the_page(client, path, location):
    """``/system.html/`` answered the page, whose ``css/haven.css`` then meant ``/system.html/css/haven.css``: a 404."""
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 308, r.text
    assert r.headers["location"] == location
    assert client.get(path).status_code == 200


def test_head_is_redirected_too(client):
    r = client.head("/system?id=1", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/system.html?id=1"


@pytest.mark.parametrize("path", [
    "/api/v1/map", "/api/map", "/api/v1/systems/", "/api/map.html/", "/api/v1/system", "/maps/system",
])
def test_api_paths_keep_their_json_errors(client, path):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 404, r.text
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("application/json")
    assert "error" in r.json()


@pytest.mark.parametrize("path", [
    "/nothing.html/",      # no such page: nothing to send the browser to
    "//evil.example/map.html/",  # never a redirect that a browser reads as another host
    "/\\evil.example/map.html/",
    "/map.html/extra",
    "/mapping",
])
def test_other_paths_are_not_redirected(client, path):
    r = client.get(f"http://testserver{path}", follow_redirects=False)  # a path, even one starting "//"
    assert r.request.url.raw_path.decode() == path
    assert r.status_code != 307 and r.status_code != 308, r.headers.get("location")
    assert "location" not in r.headers


def test_only_reads_are_redirected(client):
    r = client.post("/map", json={}, follow_redirects=False)
    assert "location" not in r.headers
    assert r.status_code in (404, 405)
