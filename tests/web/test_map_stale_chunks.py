"""The map with chunks that changed on the server since it drew them.

* A ``resync`` on the chunk socket (after a bulk load rebuilt the octree, or when the
  server dropped messages for a map that read too slowly) makes the map read the tree
  again from the root; until the new tree's chunks arrive the old tree's stay drawn
  (each goes as it is replaced), so the map never goes blank.
* A click on a star names the version of the chunk it was drawn from, so a node changed
  since answers 409 instead of naming another system.

The chunk loader's own rules for changed chunks (one the view stops wanting before its
new copy arrives is dropped; `settled` waits for the new copy) are tested under node:
tests/web/chunk_loader.test.mjs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from playwright.sync_api import expect

from haven.ingest.bulk import generate_galaxy

from webhelpers_map import open_map, stats, wait_settled

#: A chunk's data (/api/v1/chunks/L/C), not the hierarchy nor one star (/L/C/I).
CHUNK_DATA = re.compile(r"/api/v1/chunks/\d+/\d+(\?[^/]*)?$")

def test_a_resync_keeps_the_old_stars_drawn_until_the_new_tree_replaces_them(page, module_web_store, live_server):
    galaxy = "Resynced"
    generate_galaxy(module_web_store, galaxy, 20_000, seed=21)
    base = live_server(module_web_store, galaxy=galaxy)
    sockets: list[Any] = []

    def proxy(ws: Any) -> None:
        ws.connect_to_server()  # messages pass both ways; the test may add its own
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/api/v1/chunks/ws"), proxy)
    open_map(page, base)
    before = wait_settled(page)
    page.wait_for_function("() => window.havenMap.stats().liveTransport === 'websocket'", timeout=15_000)
    assert before["totalSystems"] == 20_000
    assert before["chunksLoaded"] > 1 and before["drawnSystems"] > 0
    assert before["sceneChunks"] == before["chunksLoaded"]
    assert before["sceneChunksVisible"] == before["chunksVisible"]

    # Hold every chunk the map asks for from now on: only the new hierarchy answers.
    held: list[Any] = []
    release = False

    def hold(route: Any) -> None:
        if release:
            route.continue_()
        else:
            held.append(route)

    page.route(CHUNK_DATA, hold)
    sockets[-1].send(json.dumps({"type": "resync", "reason": "a test", "clock": before["liveClock"]}))
    for _ in range(200):  # the new tree's root chunk is asked for
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the map did not ask for the new tree's chunks"
    page.wait_for_timeout(300)
    meanwhile = stats(page)
    # The old stars are all still drawn, although the new tree has no chunk yet.
    assert meanwhile["chunksLoaded"] == 0
    assert meanwhile["drawnSystems"] == before["drawnSystems"], "the map went blank"
    assert meanwhile["chunksRetired"] == before["chunksLoaded"]
    assert meanwhile["sceneChunksVisible"] == before["chunksVisible"]
    assert not meanwhile["settled"]

    # The new root arrives: it replaces the old root, the old finer chunks stay (nothing twice).
    assert len(held) == 1
    held.pop().continue_()
    page.wait_for_function("() => window.havenMap.stats().chunksLoaded === 1", timeout=15_000, polling=20)
    partly = stats(page)
    assert partly["chunksRetired"] == before["chunksLoaded"] - 1
    assert partly["drawnSystems"] == before["drawnSystems"]
    assert partly["sceneChunks"] == before["chunksLoaded"]

    # The rest arrive: the old ones go as they are replaced, none stays behind.
    release = True
    for route in held:
        route.continue_()
    after = wait_settled(page)
    assert after["chunksRetired"] == 0 and after["retiredSystems"] == 0
    assert after["chunksLoaded"] == before["chunksLoaded"]
    assert after["drawnSystems"] == before["drawnSystems"]
    assert after["sceneChunks"] == after["chunksLoaded"]  # nothing of the old tree left in the scene
    assert after["sceneChunksVisible"] == after["chunksVisible"]
    assert page.dialogs == [] and page.page_errors == []


def test_a_click_names_the_version_of_the_chunk_it_picked_from(page, module_web_store, live_server):
    """A star's index names a system only for its chunk's version: the pick sends that version,
    and a node changed since it was drawn (here the map hears nothing of the edit) answers
    409, which the map takes as: fetch that chunk again, click again."""
    galaxy = "Picked"
    generate_galaxy(module_web_store, galaxy, 300, seed=22)
    base = live_server(module_web_store, galaxy=galaxy)
    page.route_web_socket(re.compile(r"/api/v1/chunks/ws"), lambda ws: None)  # a socket that never subscribes
    page.route(re.compile(r"/api/v1/chunks/changes"), lambda route: route.abort())  # nor does polling work
    picks: list[str] = []
    page.on("request", lambda r: picks.append(r.url) if re.search(r"/api/v1/chunks/\d+/\d+/\d+", r.url) else None)
    open_map(page, base)
    wait_settled(page)
    star = page.wait_for_function("() => window.havenMap.anyVisibleStar()").json_value()
    assert isinstance(star["version"], int)

    page.mouse.click(star["clientX"], star["clientY"])
    panel = page.locator("#map-details")
    expected = httpx.get(f"{base}/api/v1/chunks/{star['level']}/{star['cell']}/{star['index']}").json()
    expect(panel.locator(".map-details-name")).to_have_text(expected["name"])
    assert picks and f"version={star['version']}" in picks[-1]

    # An edit the map does not hear of changes the node the star was drawn from.
    added = httpx.post(f"{base}/api/v1/systems", json={"name": "Newcomer", "x": 1.5, "y": 2.5, "z": 0.5})
    assert added.status_code == 201, added.text
    page.mouse.click(star["clientX"], star["clientY"])
    expect(panel).to_contain_text("changed since it was drawn")
    assert f"version={star['version']}" in picks[-1]

    # The chunk is fetched again; a click on it now names its new version and shows the system.
    page.wait_for_function(
        "(v) => { const s = window.havenMap.anyVisibleStar(); return s && s.version > v; }",
        arg=star["version"], timeout=15_000, polling=100,
    )
    wait_settled(page)
    again = page.wait_for_function("() => window.havenMap.anyVisibleStar()").json_value()
    page.mouse.click(again["clientX"], again["clientY"])
    expected = httpx.get(f"{base}/api/v1/chunks/{again['level']}/{again['cell']}/{again['index']}").json()
    expect(panel.locator(".map-details-name")).to_have_text(expected["name"])
    assert f"version={again['version']}" in picks[-1]
    assert page.dialogs == [] and page.page_errors == []
