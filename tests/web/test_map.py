"""The galaxy map (``/map.html``) in a real browser against a real server and SQLite file.

Two galaxies share the module's store:

* the server's own galaxy: 3,000 generated systems plus a few made here (a named
  one to fly to and one whose name is HTML), all small enough to load at once;
* ``Million``: 1,000,000 generated systems (made once for the module), served by
  a server of its own, for the point budget and the memory of a long fly-through.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from urllib.parse import quote
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from haven.ingest.bulk import generate_galaxy

from webhelpers_map import (
    GALAXY,
    XSS,
    camera_target,
    closed_port,
    create,
    fly,
    lit_pixels,
    open_map,
    stats,
    wait_settled,
)

MILLION = "Million"
SMALL_SYSTEMS = 3000
LANTERN = {"name": "Lantern", "x": 12345.5, "y": -2345.25, "z": 40.0, "region": "Lantern Reach"}


@pytest.fixture(scope="module")
def small(module_web_store, module_server) -> SimpleNamespace:
    """The module server's galaxy: 3,000 generated systems, Lantern and a system named like HTML."""
    generate_galaxy(module_web_store, GALAXY, SMALL_SYSTEMS, seed=11)
    lantern = create(module_web_store, **LANTERN)
    hostile = create(
        module_web_store,
        name=XSS,
        x=-15000.0,
        y=9000.0,
        z=-20.0,
        region="<b>Bold</b> Reach",
        materials="<script>alert(2)</script>",
        planets=[{"name": "<svg onload=alert(3)>", "moons": [{"name": "<i>moon</i>", "orbit_radius": 3.0, "orbit_speed": 0.4}]}],
        space_station={"name": "<iframe src=javascript:alert(4)>", "race": "Gek"},
    )
    return SimpleNamespace(url=module_server, lantern=lantern, hostile=hostile, total=SMALL_SYSTEMS + 2)


@pytest.fixture(scope="module")
def million(module_web_store) -> Any:
    """1,000,000 generated systems in galaxy ``Million`` (about 20–40 s, once per module)."""
    generate_galaxy(module_web_store, MILLION, 1_000_000, seed=2024)
    return module_web_store


@pytest.fixture
def million_server(million, live_server) -> str:
    return live_server(million, galaxy=MILLION)


def no_script_ran(page) -> None:
    assert page.dialogs == [], f"a dialog opened: {page.dialogs}"
    assert page.page_errors == [], f"page errors: {page.page_errors}"


def wait_for_star(page) -> dict[str, Any]:
    handle = page.wait_for_function("() => window.havenMap.anyVisibleStar()")
    return handle.json_value()


# -- drawing ---------------------------------------------------------------------------------


def test_the_map_draws_stars_and_reports_them(page, small) -> None:
    open_map(page, small.url)
    s = wait_settled(page)
    assert s["totalSystems"] == small.total
    assert s["loadedSystems"] == small.total  # all of it fits in the default budget
    assert s["budget"] == 1_000_000
    assert s["bytesReceived"] > 0
    assert s["decoder"] == "worker"
    page.evaluate("() => window.havenMap.flyTo(0, 0, 0, 80000)")  # frames in a row give a frame rate
    page.wait_for_function("() => window.havenMap.stats().fps > 0")
    wait_settled(page)

    png = page.locator("canvas.map-canvas").screenshot()
    lit = lit_pixels(png)
    assert lit > 500, f"only {lit} pixels differ from the background"

    hud = page.locator(".map-hud")
    expect(hud.locator('[data-stat="systems"]')).to_have_text(f"{small.total:,} of {small.total:,}")
    expect(hud.locator('[data-stat="requests"]')).to_contain_text("of 6")
    expect(hud.locator('[data-stat="received"]')).to_contain_text("KiB")
    expect(hud.locator('[data-stat="fps"]')).to_contain_text("fps")
    expect(page.locator("#map-budget")).to_have_value("1000000")
    no_script_ran(page)


def test_without_a_worker_chunks_are_decoded_on_the_main_thread(page, small) -> None:
    page.add_init_script("window.HAVEN_WORKER_URL = '/static/js/map/no-such-worker.js';")
    open_map(page, small.url)
    s = wait_settled(page)
    assert s["decoder"] == "main"
    assert s["loadedSystems"] == small.total
    assert lit_pixels(page.locator("canvas.map-canvas").screenshot()) > 500
    no_script_ran(page)


# -- picking and details -----------------------------------------------------------------------


def test_clicking_a_star_shows_that_system(page, small) -> None:
    open_map(page, small.url)
    wait_settled(page)
    star = wait_for_star(page)
    expected = httpx.get(f"{small.url}/api/v1/chunks/{star['level']}/{star['cell']}/{star['index']}").json()

    page.mouse.click(star["clientX"], star["clientY"])
    panel = page.locator("#map-details")
    expect(panel).to_be_visible()
    expect(panel.locator(".map-details-name")).to_have_text(expected["name"])
    expect(panel).to_contain_text(expected["region"] or "None")
    link = panel.locator("#open-system-view")
    expect(link).to_have_attribute("href", f"system.html?id={expected['id']}")

    link.click()
    page.wait_for_url(f"**/system.html?id={expected['id']}")
    expect(page.locator("#system-name")).to_have_text(expected["name"])
    no_script_ran(page)


def test_a_name_made_of_html_stays_text(page, small) -> None:
    # ?focus flies there and opens the details panel
    open_map(page, small.url, f"?focus={quote(XSS, safe='')}")
    panel = page.locator("#map-details")
    expect(panel.locator(".map-details-name")).to_have_text(XSS)
    expect(panel).to_contain_text("<b>Bold</b> Reach")
    expect(panel).to_contain_text("<script>alert(2)</script>")
    expect(panel).to_contain_text("<svg onload=alert(3)>")
    assert panel.locator("img, script, svg, b, iframe").count() == 0

    # a click on the star itself
    wait_settled(page)
    page.locator(".map-close").click()
    pos = page.wait_for_function(
        "async (id) => { const p = await window.havenMap.screenPositionOf(id); return p && p.clientX !== null ? p : null; }",
        arg=small.hostile["id"],
    ).json_value()
    page.mouse.click(pos["clientX"], pos["clientY"])
    expect(panel.locator(".map-details-name")).to_have_text(XSS)

    # the search box lists it as text
    page.locator("#map-search").fill("<img")
    option = page.locator("#map-search-results [role=option]").first
    expect(option.locator(".map-search-name")).to_have_text(XSS)
    assert page.locator("#map-search-results img").count() == 0

    # and so does the system view
    panel.locator("#open-system-view").click()
    expect(page.locator("#system-name")).to_have_text(XSS)
    page.wait_for_function("() => !!window.havenSystemView")
    assert page.locator("main img, main svg, main iframe").count() == 0
    no_script_ran(page)


# -- navigation ------------------------------------------------------------------------------


def test_search_flies_to_the_chosen_system(page, small) -> None:
    open_map(page, small.url)
    box = page.locator("#map-search")
    box.fill("Lantern")
    expect(page.locator("#map-search-results [role=option]").first).to_contain_text("Lantern")
    box.press("Enter")
    expect(page.locator("#map-details .map-details-name")).to_have_text("Lantern")
    page.wait_for_function(
        "([x, y]) => { const t = window.havenMap.stats().camera.target; return Math.abs(t[0] - x) < 1 && Math.abs(t[1] - y) < 1; }",
        arg=[LANTERN["x"], LANTERN["y"]],
    )
    no_script_ran(page)


def test_enter_flies_to_the_system_named_exactly_as_typed_before_older_names_holding_it(
        page, small, module_web_store) -> None:
    """Search answers come in id order: eight older "Beacon Row …" would fill the list without it."""
    older = [create(module_web_store, name=f"Beacon Row {i}", x=-3000.0 - 10 * i, y=500.0) for i in range(9)]
    beacon = create(module_web_store, name="Beacon", x=7000.5, y=-1500.25, z=12.0)
    try:
        open_map(page, small.url)
        box = page.locator("#map-search")
        box.fill("Beacon")
        expect(page.locator("#map-search-results [role=option]").first.locator(".map-search-name")).to_have_text(
            "Beacon")
        expect(page.locator("#map-search-results [role=option]")).to_have_count(8)
        box.press("Enter")
        expect(page.locator("#map-details .map-details-name")).to_have_text("Beacon")
        page.wait_for_function(
            "([x, y]) => { const t = window.havenMap.stats().camera.target; "
            "return Math.abs(t[0] - x) < 1 && Math.abs(t[1] - y) < 1; }",
            arg=[beacon["x"], beacon["y"]],
        )
        no_script_ran(page)
    finally:
        for system in [*older, beacon]:
            module_web_store.delete(system["id"])


def test_keyboard_flies_the_camera(page, small) -> None:
    open_map(page, small.url)
    before = camera_target(page)
    page.locator("canvas.map-canvas").focus()
    page.keyboard.down("w")
    page.wait_for_function(
        "(t0) => { const t = window.havenMap.stats().camera.target; return Math.hypot(t[0] - t0[0], t[1] - t0[1], t[2] - t0[2]) > 100; }",
        arg=before,
    )
    page.keyboard.up("w")
    page.keyboard.down("e")
    moved = camera_target(page)
    page.wait_for_function(
        "(t0) => { const t = window.havenMap.stats().camera.target; return Math.hypot(t[0] - t0[0], t[1] - t0[1], t[2] - t0[2]) > 100; }",
        arg=moved,
    )
    page.keyboard.up("e")
    no_script_ran(page)


def test_focus_parameter_flies_to_a_system(page, small) -> None:
    open_map(page, small.url, "?focus=Lantern")
    expect(page.locator("#map-details .map-details-name")).to_have_text("Lantern")
    page.wait_for_function(
        "([x, y, z]) => { const t = window.havenMap.stats().camera.target;"
        " return Math.abs(t[0] - x) < 1 && Math.abs(t[1] - y) < 1 && Math.abs(t[2] - z) < 1; }",
        arg=[LANTERN["x"], LANTERN["y"], LANTERN["z"]],
    )
    page.goto(f"{small.url}/static/map.html?focus=No%20Such%20Star")
    expect(page.locator("#map-status")).to_have_text("No system named “No Such Star”.")
    no_script_ran(page)


def test_region_parameter_highlights_that_region(page, small) -> None:
    regions = httpx.get(f"{small.url}/api/v1/regions").json()["items"]
    region = max(regions, key=lambda r: r["system_count"])
    members = httpx.get(f"{small.url}/api/v1/systems", params={"region": region["name"], "limit": 100}).json()["items"]
    cx = sum(s["x"] for s in members) / len(members)
    cy = sum(s["y"] for s in members) / len(members)

    open_map(page, small.url, "?" + str(httpx.QueryParams({"region": region["name"]})))
    page.wait_for_function("() => window.havenMap.stats().highlightMode === 'region'")
    s = stats(page)
    assert isinstance(s["highlightRegionIndex"], int)
    summary = page.evaluate("() => window.havenMap.highlight()")
    assert summary == {"kind": "region", "name": region["name"], "total": region["system_count"], "peakFetches": 0}
    expect(page.locator("#map-region")).to_have_value(region["name"])
    expect(page.locator("#map-status")).to_contain_text(region["name"])
    page.wait_for_function(
        "([x, y]) => { const t = window.havenMap.stats().camera.target; return Math.abs(t[0] - x) < 1 && Math.abs(t[1] - y) < 1; }",
        arg=[cx, cy],
    )
    # the highlighted region is drawn in colour, the rest dimmed: the picture still has stars
    assert lit_pixels(page.locator("canvas.map-canvas").screenshot()) > 50

    # choosing "All regions" in the picker clears it
    page.locator("#map-region").select_option("")
    page.wait_for_function("() => window.havenMap.stats().highlightMode === 'none'")
    assert "region=" not in page.url

    page.goto(f"{small.url}/static/map.html?region=Nowhere%20At%20All")
    expect(page.locator("#map-status")).to_have_text("No region named “Nowhere At All”.")
    no_script_ran(page)


def test_ids_parameter_highlights_those_systems(page, small) -> None:
    ids = list(range(1, 12)) + [small.lantern["id"], 999_999]
    open_map(page, small.url, "?ids=" + ",".join(map(str, ids)) + ",junk,3")
    expect(page.locator("#map-status")).to_have_text("Highlighting 12 of 13 systems, 1 not found.")
    summary = page.evaluate("() => window.havenMap.highlight()")
    assert summary["kind"] == "ids"
    assert (summary["requested"], summary["found"], summary["missing"], summary["failed"]) == (13, 12, 1, 0)
    assert 1 <= summary["peakFetches"] <= 4
    s = stats(page)
    assert s["highlightMode"] == "dim" and s["markers"] == 12
    no_script_ran(page)


def test_ids_of_another_galaxy_are_not_highlighted(page, small, module_web_store) -> None:
    """Ids are unique across galaxies: one from another galaxy than the map's counts as not found."""
    other = "Other Ids"
    module_web_store.ensure_galaxy(other)
    elsewhere = create(module_web_store, galaxy=other, name="Elsewhere One", x=5.0, y=5.0, z=5.0)
    ids = f"{small.lantern['id']},{elsewhere['id']}"

    open_map(page, small.url, f"?galaxy={quote(other)}&ids={ids}")
    expect(page.locator("#map-status")).to_have_text("Highlighting 1 of 2 systems, 1 not found.")
    summary = page.evaluate("() => window.havenMap.highlight()")
    assert (summary["found"], summary["missing"], summary["failed"]) == (1, 1, 0)
    assert stats(page)["markers"] == 1

    # Without ?galaxy= the map shows the server's galaxy: the other galaxy's id is not found there.
    open_map(page, small.url, f"?ids={ids}")
    expect(page.locator("#map-status")).to_have_text("Highlighting 1 of 2 systems, 1 not found.")
    assert stats(page)["markers"] == 1
    no_script_ran(page)


def test_settled_is_false_until_the_first_chunk_has_loaded(page, small) -> None:
    """A script waiting for ``settled`` must not go on before the map holds anything."""
    page.add_init_script(
        """
        window.__settledEarly = [];
        const timer = setInterval(() => {
          const s = window.havenMap && window.havenMap.stats();
          if (!s) return;
          if (s.settled && s.loadedSystems === 0) window.__settledEarly.push(s);
          if (s.loadedSystems > 0) clearInterval(timer);
        }, 1);
        """
    )
    for _ in range(3):
        open_map(page, small.url, wait_ready=False)
        settled = wait_settled(page)
        assert settled["loadedSystems"] > 0 and settled["chunksLoaded"] > 0
        assert page.evaluate("() => window.__settledEarly") == []
    no_script_ran(page)


def test_budget_parameter_sets_the_budget(page, small) -> None:
    open_map(page, small.url, "?budget=250000")
    assert stats(page)["budget"] == 250_000
    expect(page.locator("#map-budget")).to_have_value("250000")
    page.goto(f"{small.url}/static/map.html?budget=12")  # below the minimum: clamped
    page.wait_for_function("() => window.havenMap && window.havenMap.stats() && window.havenMap.stats().budget === 5000")
    no_script_ran(page)


# -- errors -----------------------------------------------------------------------------------


def test_an_unreachable_api_is_said_plainly(page, small) -> None:
    port = closed_port()
    page.add_init_script(f"window.HAVEN_API_BASE = 'http://127.0.0.1:{port}';")
    open_map(page, small.url, wait_ready=False)
    banner = page.locator("#map-error")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"Haven's API cannot be reached at http://127.0.0.1:{port}")
    expect(banner).to_contain_text("haven serve")
    assert stats(page)["loadedSystems"] == 0
    no_script_ran(page)


def test_an_unknown_galaxy_is_said_plainly(page, small) -> None:
    open_map(page, small.url, "?galaxy=Nowhere", wait_ready=False)
    expect(page.locator("#map-error")).to_have_text("The map cannot be drawn: no galaxy named 'Nowhere'")
    no_script_ran(page)


def test_a_server_that_goes_away_is_reported(page, small) -> None:
    open_map(page, small.url)
    wait_settled(page)
    # from now on the server refuses connections
    page.route("**/api/**", lambda route: route.abort("connectionrefused"))
    star = wait_for_star(page)
    page.mouse.click(star["clientX"], star["clientY"])
    expect(page.locator("#map-details")).to_contain_text("Haven's API cannot be reached")
    page.locator("#map-search").fill("Lantern")
    expect(page.locator("#map-search-results")).to_contain_text("Haven's API cannot be reached.")
    no_script_ran(page)


# -- a million systems: budget and memory ------------------------------------------------------

SAMPLER = """() => {
  const m = window.havenMap;
  const out = { samples: 0, maxLoaded: 0, maxInFlight: 0, maxReservedAndLoaded: 0 };
  const take = () => {
    const s = m.stats();
    out.samples++;
    out.maxLoaded = Math.max(out.maxLoaded, s.loadedSystems);
    out.maxInFlight = Math.max(out.maxInFlight, s.inFlight);
    out.maxReservedAndLoaded = Math.max(out.maxReservedAndLoaded, s.loadedSystems + s.reservedSystems);
  };
  window.__budgetSamples = out;
  window.__budgetTimer = setInterval(take, 15);
  const frame = () => { take(); if (window.__budgetTimer) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
}"""

TOUR = [(0, 0, 0, 3000), (8000, 0, 0, 1500), (-20000, 10000, 0, 2000), (0, -30000, 0, 3000), (25000, 25000, 0, 1000)]


def test_the_map_keeps_within_its_point_budget(page, small, million) -> None:
    # the module server's own galaxy is the small one: ?galaxy= picks the big one
    open_map(page, small.url, f"?galaxy={MILLION}&budget=20000")
    page.evaluate(SAMPLER)
    first = wait_settled(page)
    assert first["totalSystems"] == 1_000_000
    assert first["budget"] == 20_000
    for waypoint in TOUR[:3]:
        s = fly(page, *waypoint)
        assert s["loadedSystems"] <= 20_000
        assert s["chunksLoaded"] >= 2, "the map never descended below the root"
        assert s["geometries"] <= s["chunksLoaded"] + 2  # evicted chunks gave their buffers back
    samples = page.evaluate("() => { clearInterval(window.__budgetTimer); window.__budgetTimer = null; return window.__budgetSamples; }")
    assert samples["samples"] > 50
    assert 4096 < samples["maxLoaded"] <= 20_000
    assert samples["maxReservedAndLoaded"] <= 20_000
    assert 1 <= samples["maxInFlight"] <= first["maxInFlight"] == 6
    assert stats(page)["maxInFlightSeen"] <= 6

    # a smaller budget from the HUD drops chunks at once
    budget = page.locator("#map-budget")
    budget.fill("10000")
    budget.press("Enter")
    page.wait_for_function("() => window.havenMap.stats().budget === 10000")
    s = wait_settled(page)
    assert s["loadedSystems"] <= 10_000
    assert "budget=10000" in page.url
    no_script_ran(page)


def test_the_js_heap_stays_bounded_over_a_fly_through(page, million_server) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def heap() -> dict[str, float]:
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        usage = cdp.send("Runtime.getHeapUsage")
        return {"used": metrics["JSHeapUsedSize"], "buffers": usage.get("backingStorageSize", 0.0)}

    budget = 200_000
    open_map(page, million_server, f"?budget={budget}")
    wait_settled(page)
    rounds: list[list[dict[str, float]]] = []
    for _ in range(2):
        samples = []
        for waypoint in TOUR:
            s = fly(page, *waypoint)
            assert s["loadedSystems"] <= budget
            assert s["geometries"] <= s["chunksLoaded"] + 2
            samples.append(heap() | {"loaded": s["loadedSystems"], "chunks": s["chunksLoaded"]})
        rounds.append(samples)
    first, second = rounds
    figures = {
        "used_mb": [[round(x["used"] / 2**20, 2) for x in r] for r in rounds],
        "buffers_mb": [[round(x["buffers"] / 2**20, 2) for x in r] for r in rounds],
        "loaded": [[x["loaded"] for x in r] for r in rounds],
    }
    print("\nJS heap over the fly-through:", json.dumps(figures))

    mb = 2**20
    # a fixed bound: three.js, the octree and 200,000 points' worth of arrays
    assert max(x["used"] for x in first + second) < 48 * mb
    assert max(x["buffers"] for x in first + second) < 96 * mb
    # no steady growth: the second lap over the same places stays at the first lap's plateau
    assert max(x["used"] for x in second) <= max(x["used"] for x in first) * 1.25 + 1 * mb
    assert max(x["buffers"] for x in second) <= max(x["buffers"] for x in first) * 1.25 + 2 * mb
    no_script_ran(page)


# -- live edits ------------------------------------------------------------------------------


def add_and_wait_until_drawn(page, base: str, name: str, spot: tuple[float, float, float], *, total: int) -> Any:
    """Another client POSTs a system; wait until the open map counts ``total`` and draws it."""
    added = httpx.post(f"{base}/api/v1/systems", json={"name": name, "x": spot[0], "y": spot[1], "z": spot[2]})
    assert added.status_code == 201, added.text
    page.wait_for_function(
        "([x, y, z, total]) => { const m = window.havenMap; const s = m.stats();"
        " return s.totalSystems === total && s.liveUpdates > 0 && m.findPoint(x, y, z) !== null; }",
        arg=[*spot, total], timeout=30_000, polling=100,
    )
    return added


def test_edits_by_others_appear_in_an_open_map(page, module_web_store, live_server) -> None:
    """Another client adds, then deletes, a system: the open map follows the change feed."""
    galaxy = "Live"
    generate_galaxy(module_web_store, galaxy, 400, seed=5)
    base = live_server(module_web_store, galaxy=galaxy)
    open_map(page, base)
    before = wait_settled(page)
    assert before["totalSystems"] == 400 and before["liveClock"] is not None
    page.wait_for_function("() => window.havenMap.stats().liveTransport === 'websocket'", timeout=10_000)
    spot = (2222.5, -1111.25, 12.0)
    assert page.evaluate("([x, y, z]) => window.havenMap.findPoint(x, y, z)", list(spot)) is None

    added = add_and_wait_until_drawn(page, base, "Newcomer", spot, total=401)
    assert stats(page)["chunkRefreshes"] >= 1  # a drawn chunk was fetched again, not the whole map

    assert httpx.delete(f"{base}/api/v1/systems/{added.json()['id']}").status_code == 204
    page.wait_for_function(
        "([x, y, z]) => { const m = window.havenMap; return m.stats().totalSystems === 400"
        " && m.findPoint(x, y, z) === null; }",
        arg=list(spot), timeout=30_000, polling=100,
    )
    no_script_ran(page)


def test_a_map_without_websockets_polls_the_change_feed(page, module_web_store, live_server) -> None:
    """Where no WebSocket opens (a proxy that drops them), the map still follows edits."""
    galaxy = "Polled"
    generate_galaxy(module_web_store, galaxy, 300, seed=6)
    base = live_server(module_web_store, galaxy=galaxy)
    page.add_init_script("window.WebSocket = function () { throw new Error('no sockets here'); };")
    open_map(page, base)
    before = wait_settled(page)
    assert before["totalSystems"] == 300
    page.wait_for_function("() => window.havenMap.stats().liveTransport === 'polling'", timeout=10_000)
    spot = (-1234.5, 2345.25, -8.0)
    add_and_wait_until_drawn(page, base, "Polled one", spot, total=301)
    no_script_ran(page)


def camera_when_still(page) -> dict[str, list[float]]:
    """The camera once it has stopped moving (orbit damping runs on for a moment after input;
    OrbitControls' own rounding still moves it by about 1e-9 of its distance per frame)."""
    page.wait_for_function(
        "() => { const c = window.havenMap.stats().camera; const v = [...c.position, ...c.target];"
        " const last = window.__lastCamera; window.__lastCamera = v;"
        " return !!last && v.every((x, i) => Math.abs(x - last[i]) <= 1e-6 * (1 + Math.abs(x))); }",
        polling=300, timeout=10_000,
    )
    return stats(page)["camera"]


def assert_same_camera(a: dict[str, list[float]], b: dict[str, list[float]]) -> None:
    for key in ("position", "target"):
        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-6), f"the camera moved: {a} → {b}"


def open_live_map(page, store, live_server, galaxy: str, n_systems: int, seed: int) -> str:
    """A map of a generated galaxy, settled and following edits on the socket; its base URL."""
    generate_galaxy(store, galaxy, n_systems, seed=seed)
    base = live_server(store, galaxy=galaxy)
    open_map(page, base)
    wait_settled(page)
    page.wait_for_function("() => window.havenMap.stats().liveTransport === 'websocket'", timeout=10_000)
    return base


def edit_elsewhere(page, base: str, write, total_after: int) -> httpx.Response:
    """Another client's write, then wait until the map has refreshed for it and is still."""
    refreshes = stats(page)["chunkRefreshes"]
    answer = write()
    assert answer.status_code in (201, 204), answer.text
    page.wait_for_function(
        "([n, total]) => { const s = window.havenMap.stats(); return s.totalSystems === total && s.chunkRefreshes > n; }",
        arg=[refreshes, total_after], timeout=30_000, polling=100,
    )
    wait_settled(page)
    return answer


def test_edits_by_others_leave_the_camera_where_the_user_put_it(page, module_web_store, live_server) -> None:
    """The map frames the galaxy once; live refreshes of the root chunk must not frame it again."""
    base = open_live_map(page, module_web_store, live_server, "Framed", 400, seed=9)
    framed = camera_when_still(page)

    box = page.locator("canvas.map-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(6):
        page.mouse.wheel(0, -400)  # zoom in
        page.wait_for_timeout(30)
    mine = camera_when_still(page)
    assert mine["position"] != pytest.approx(framed["position"], rel=1e-3)

    added = edit_elsewhere(page, base, lambda: httpx.post(
        f"{base}/api/v1/systems", json={"name": "Far Newcomer", "x": 2222.5, "y": -1111.25, "z": 12.0}), 401)
    assert_same_camera(mine, camera_when_still(page))
    edit_elsewhere(page, base, lambda: httpx.delete(f"{base}/api/v1/systems/{added.json()['id']}"), 400)
    assert_same_camera(mine, camera_when_still(page))
    no_script_ran(page)


def test_flying_with_the_keys_also_keeps_the_camera_through_edits(page, module_web_store, live_server) -> None:
    base = open_live_map(page, module_web_store, live_server, "Framed by keys", 300, seed=10)
    page.locator("canvas.map-canvas").focus()
    page.keyboard.down("KeyW")
    page.wait_for_timeout(400)
    page.keyboard.up("KeyW")
    mine = camera_when_still(page)
    edit_elsewhere(page, base, lambda: httpx.post(
        f"{base}/api/v1/systems", json={"name": "Key Newcomer", "x": -321.5, "y": 654.25, "z": 3.0}), 301)
    assert_same_camera(mine, camera_when_still(page))
    no_script_ran(page)


def test_enter_right_after_typing_chooses_and_the_list_stays_closed(page, small) -> None:
    """The search that typing scheduled must not reopen the list over the chosen system."""
    open_map(page, small.url)
    box = page.locator("#map-search")
    box.fill("Lantern")
    box.press("Enter")  # before the typing's own search has run
    expect(page.locator("#map-details .map-details-name")).to_have_text("Lantern")
    page.wait_for_timeout(600)  # past the typing's 220 ms pause and its answer
    expect(page.locator("#map-search-results")).to_be_hidden()
    no_script_ran(page)


def test_the_highlighted_result_is_named_to_screen_readers(page, small) -> None:
    open_map(page, small.url)
    box = page.locator("#map-search")
    box.fill("a")
    expect(page.locator("#map-search-results [role=option]").nth(1)).to_be_attached()
    expect(box).to_have_attribute("aria-activedescendant", "map-search-option-0")
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "map-search-option-1")
    box.press("Escape")
    expect(box).not_to_have_attribute("aria-activedescendant", re.compile(".*"))


def test_an_emptied_budget_box_keeps_the_budget(page, small) -> None:
    open_map(page, small.url, "?budget=250000")
    budget = page.locator("#map-budget")
    budget.fill("")
    budget.press("Enter")
    expect(budget).to_have_value("250000")
    assert stats(page)["budget"] == 250_000 and "budget=5000" not in page.url
    no_script_ran(page)
