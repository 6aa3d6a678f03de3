"""The galaxy map at its edges: the deepest octree levels, small and portrait windows,
closing the details panel, Esc in the search box, an empty galaxy that fills and empties.

One server (and SQLite file) for the module; each test uses a galaxy of its own:

* the server's own galaxy: 300 generated systems plus "West End" and "East End", far apart in x;
* ``Deep``: 250 systems inside one cell of the octree's deepest level (level 21: 0.125 LY),
  with a node capacity of 8, so that levels 18-21 hold 106 of them;
* ``Empty Map``: no systems until a test adds one;
* ``Close Neighbours``: nine systems a few light years apart around the centre, as the
  legacy tool's files hold them; all in the root node, whose chunk steps 4 LY.

Pure logic has node tests instead: tests/web/chunk_loader.test.mjs (retries, a 404),
lod.test.mjs (cells beyond 2^53) and map_framing.test.mjs (the fit distance).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from playwright.sync_api import Page, expect

from haven.ingest.bulk import generate_galaxy

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for the webhelpers_map module
    sys.path.insert(0, str(HERE))

from webhelpers_map import GALAXY, create, fly, open_map, stats, wait_settled

ROOT = HERE.parents[1]
DEEP = "Deep"
DEEP_SYSTEMS = 250
#: The min corner of one level-21 cell of the default cube (±131,072 LY, cells 0.125 LY wide).
DEEP_CELL = (1000.0, -500.0, 20.0)
EMPTY = "Empty Map"
EMPTY_NOTICE = "This galaxy has no systems yet."
PORTRAIT = {"width": 375, "height": 667}
CLOSE = "Close Neighbours"
#: Positions from a legacy file: on the root chunk's 4 LY grid several share a point.
CLOSE_SYSTEMS = [(0.7, -1.3, 1.8), (-2.0, 4.0, -1.0), (-1.2, 1.5, -0.9), (3.0, 2.0, 1.0), (1.5, 0.8, 1.2),
                 (-1.8, -0.6, 1.1), (1.0, -3.0, 2.0), (10.0, 10.0, 0.0), (5.0, 5.0, 0.0)]


def no_script_ran(page: Page) -> None:
    assert page.dialogs == [], f"a dialog opened: {page.dialogs}"  # type: ignore[attr-defined]
    assert page.page_errors == [], f"page errors: {page.page_errors}"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def galaxies(module_web_store, module_server) -> SimpleNamespace:
    store = module_web_store
    generate_galaxy(store, GALAXY, 300, seed=31)
    west = create(store, name="West End", x=-20000.0, y=0.0, z=0.0)
    east = create(store, name="East End", x=20000.0, y=0.0, z=0.0)
    store.ensure_galaxy(DEEP, lod_capacity=8)
    for i in range(DEEP_SYSTEMS):
        offset = [0.01 + 0.01 * (i % 10), 0.01 + 0.02 * (i // 10 % 5), 0.01 + 0.02 * (i // 50)]  # a 10×5×5 grid
        create(store, DEEP, name=f"Deep {i}", **{a: c + o for a, c, o in zip("xyz", DEEP_CELL, offset)})
    store.ensure_galaxy(EMPTY)
    store.ensure_galaxy(CLOSE)
    for i, (x, y, z) in enumerate(CLOSE_SYSTEMS):
        create(store, CLOSE, name=f"Close {i}", x=x, y=y, z=z)
    return SimpleNamespace(url=module_server, west=west, east=east)


def test_systems_on_levels_deeper_than_17_are_drawn(page, galaxies) -> None:
    open_map(page, galaxies.url, f"?galaxy={DEEP}")
    wait_settled(page)
    centre = [c + 0.0625 for c in DEEP_CELL]
    s = fly(page, *centre, 0.6)  # close enough to refine down to level 21
    assert s["totalSystems"] == DEEP_SYSTEMS
    assert s["loadedSystems"] == DEEP_SYSTEMS, "systems below level 17 were left out"
    assert s["drawnSystems"] == DEEP_SYSTEMS
    # A star of level 18 or deeper names its node by the exact cell (beyond 2^53): the server
    # answers with that very system for it.
    ids = [s["id"] for s in httpx.get(f"{galaxies.url}/api/v1/systems",
                                      params={"galaxy": DEEP, "limit": DEEP_SYSTEMS}).json()["items"]]
    hit = page.evaluate(
        """async (ids) => { for (const id of ids) {
             const p = await window.havenMap.screenPositionOf(id);
             if (p && p.level > 17) return {id, level: p.level, cell: String(p.cell), index: p.index, version: p.version};
           } return null; }""",
        ids[::-1],
    )
    assert hit is not None, "no star of a level below 17 is drawn"
    assert int(hit["cell"]) > 2**53 or hit["level"] == 18
    picked = httpx.get(f"{galaxies.url}/api/v1/chunks/{hit['level']}/{hit['cell']}/{hit['index']}",
                       params={"galaxy": DEEP, "version": hit["version"]})
    assert picked.status_code == 200, picked.text
    assert picked.json()["id"] == hit["id"]
    no_script_ran(page)


def test_zoomed_in_close_stars_are_drawn_where_they_are_not_on_the_chunk_grid(page, galaxies) -> None:
    open_map(page, galaxies.url, f"?galaxy={CLOSE.replace(' ', '%20')}")
    wait_settled(page)
    s = fly(page, 1.0, 1.0, 1.0, 30.0)  # the cluster fills the view: a 4 LY step is dozens of pixels
    assert s["exactChunks"] == 1 and s["exactLoaded"] == 1, s
    items = httpx.get(f"{galaxies.url}/api/v1/systems", params={"galaxy": CLOSE, "limit": 20}).json()["items"]
    drawn = set()
    for system in items:
        p = page.evaluate("async (id) => await window.havenMap.screenPositionOf(id)", system["id"])
        assert p is not None, f"{system['name']} is not drawn"
        for axis in "xyz":
            assert abs(p[axis] - system[axis]) < 0.02, (system, p)  # was up to 2 LY off
        drawn.add((round(p["clientX"]), round(p["clientY"])))
    assert len(drawn) == len(CLOSE_SYSTEMS), "two systems share a point on the screen"
    no_script_ran(page)


def test_ids_are_fitted_into_a_portrait_window(page, galaxies) -> None:
    page.set_viewport_size(PORTRAIT)
    page.goto(f"{galaxies.url}/static/map.html?ids={galaxies.west['id']},{galaxies.east['id']}")
    expect(page.locator("#map-status")).to_have_text("Highlighting 2 of 2 systems.")
    wait_settled(page)  # the flight is over
    canvas = page.locator("canvas.map-canvas").bounding_box()
    for system in (galaxies.west, galaxies.east):
        pos = page.wait_for_function(
            "async (id) => { const p = await window.havenMap.screenPositionOf(id); return p && p.clientX !== null ? p : null; }",
            arg=system["id"],
        ).json_value()
        assert canvas["x"] <= pos["clientX"] <= canvas["x"] + canvas["width"], f"{system['name']} is off screen"
        assert canvas["y"] <= pos["clientY"] <= canvas["y"] + canvas["height"], f"{system['name']} is off screen"
    no_script_ran(page)


def test_esc_closes_the_search_list_first_then_the_panel_and_its_ring(page, galaxies) -> None:
    open_map(page, galaxies.url, "?focus=West%20End")
    panel = page.locator("#map-details")
    expect(panel.locator(".map-details-name")).to_have_text("West End")

    box = page.locator("#map-search")
    box.fill("East")
    results = page.locator("#map-search-results")
    expect(results.locator("[role=option]").first).to_contain_text("East End")
    box.press("Escape")  # closes the suggestions only
    expect(results).to_be_hidden()
    expect(panel).to_be_visible()
    assert stats(page)["selectionMarked"] is True  # the ring around the star the panel shows

    box.press("Escape")  # nothing left to close in the search box: the panel goes, and its ring
    expect(panel).to_be_hidden()
    page.wait_for_function("() => !window.havenMap.stats().selectionMarked")

    # The × button too.
    box.fill("East End")
    box.press("Enter")
    expect(panel.locator(".map-details-name")).to_have_text("East End")
    page.wait_for_function("() => window.havenMap.stats().selectionMarked")
    page.locator(".map-close").click()
    expect(panel).to_be_hidden()
    page.wait_for_function("() => !window.havenMap.stats().selectionMarked")
    no_script_ran(page)


def test_the_empty_galaxy_notice_follows_live_edits(page, galaxies) -> None:
    base = galaxies.url
    open_map(page, base, f"?galaxy={EMPTY.replace(' ', '%20')}")
    status = page.locator("#map-status")
    expect(status).to_have_text(EMPTY_NOTICE)
    page.wait_for_function("() => window.havenMap.stats().liveTransport === 'websocket'", timeout=10_000)

    added = httpx.post(f"{base}/api/v1/systems", params={"galaxy": EMPTY},
                       json={"name": "First Light", "x": 10.0, "y": 20.0, "z": 0.0})
    assert added.status_code == 201, added.text
    expect(status).to_have_text("")
    page.wait_for_function("() => window.havenMap.stats().loadedSystems === 1")

    assert httpx.delete(f"{base}/api/v1/systems/{added.json()['id']}").status_code == 204
    expect(status).to_have_text(EMPTY_NOTICE)
    no_script_ran(page)


def test_every_toolbar_control_is_in_reach_in_a_narrow_window(page, galaxies) -> None:
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"{galaxies.url}/static/map.html")
    page.wait_for_function("() => !!window.havenMap")
    for selector in ("#map-search", "#map-region", "#nav-home", "#nav-map"):
        where = page.evaluate(
            """(sel) => { const el = document.querySelector(sel); const r = el.getBoundingClientRect();
                const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, reachable: el === hit || el.contains(hit)}; }""",
            selector,
        )
        assert where["left"] >= 0 and where["right"] <= 320, f"{selector} is cut off: {where}"
        assert where["top"] >= 0 and where["bottom"] <= 640, f"{selector} is cut off: {where}"
        assert where["reachable"], f"{selector} is covered: {where}"
    page.locator("#map-region").select_option("")  # usable, not only visible
    no_script_ran(page)


def test_the_controls_box_lists_every_key_of_the_docs_table() -> None:
    """docs/map.md's "Moving around" table and the map's Controls box name the same keys."""
    docs = (ROOT / "docs" / "map.md").read_text(encoding="utf-8")
    table = docs.split("### Moving around", 1)[1].split("\n\n", 2)[1]
    keys = set(re.findall(r"<kbd>([^<]+)</kbd>", table))
    assert {"W", "Esc"} <= keys
    html = (ROOT / "haven" / "web" / "static" / "map.html").read_text(encoding="utf-8")
    controls = re.search(r'<details class="map-help">(.*?)</details>', html, re.S).group(1)
    missing = sorted(k for k in keys if f"<kbd>{k}</kbd>" not in controls)
    assert missing == [], f"the Controls box lacks {missing}"
