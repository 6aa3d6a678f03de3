"""The system view (``/system.html``) in a real browser against a real server and SQLite file."""

from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from webhelpers_map import XSS, closed_port, create, lit_pixels, open_system

ORRERY = {
    "name": "Orrery",
    "x": 100.0,
    "y": -50.0,
    "z": 2.5,
    "region": "Clockwork Reach",
    "fauna": "Sparse",
    "planets": [
        {"name": "Orrery I", "properties": "Frozen, -80 °C", "materials": "Copper", "moons": [
            {"name": "Orrery I a", "orbit_radius": 120.0, "orbit_speed": 1.2},
            {"name": "Orrery I b", "orbit_radius": 1400.0, "orbit_speed": 0.3},
        ]},
        {"name": "Orrery II", "properties": "Scorched", "sentinel": "High", "notes": "Twin suns at dusk."},
        {"name": "Orrery III", "moons": [{"name": "Orrery III a"}]},
    ],
    "space_station": {"name": "Orrery Hub", "race": "Korvax", "sell_percent": 12.5},
}

HOSTILE = {
    "name": XSS,
    "x": -3.0,
    "y": 4.0,
    "z": 0.0,
    "region": "<b>Bold</b>",
    "planets": [{"name": "<svg onload=alert(2)>", "notes": "<script>alert(3)</script>",
                 "moons": [{"name": "<i onmouseover=alert(4)>m</i>", "orbit_radius": 5.0, "orbit_speed": -0.2}]}],
    "space_station": {"name": "<iframe src=javascript:alert(5)>", "x": 1.0, "y": 2.0, "z": 3.0},
}


@pytest.fixture(scope="module")
def systems(module_web_store, module_server) -> SimpleNamespace:
    return SimpleNamespace(
        url=module_server,
        orrery=create(module_web_store, **ORRERY),
        hostile=create(module_web_store, **HOSTILE),
        bare=create(module_web_store, name="Lonely Star", x=7.0, y=7.0, z=7.0),
    )


def no_script_ran(page) -> None:
    assert page.dialogs == [], f"a dialog opened: {page.dialogs}"
    assert page.page_errors == [], f"page errors: {page.page_errors}"


def click_body(page, body_id: str) -> None:
    pos = page.evaluate("(id) => window.havenSystemView.screenPositionOf(id)", body_id)
    assert pos is not None, f"{body_id} is behind the camera"
    page.mouse.click(pos["clientX"], pos["clientY"])


def test_the_system_view_draws_the_planets_and_a_click_shows_one(page, systems) -> None:
    open_system(page, systems.url, f"?id={systems.orrery['id']}")
    expect(page.locator("#system-name")).to_have_text("Orrery")
    bodies = page.evaluate("() => window.havenSystemView.bodies()")
    assert [b["id"] for b in bodies] == [
        "star", "planet-0", "moon-0-0", "moon-0-1", "planet-1", "planet-2", "moon-2-0", "station",
    ]
    assert {b["name"] for b in bodies} >= {"Orrery I", "Orrery II", "Orrery III", "Orrery I a", "Orrery Hub"}

    png = page.locator("canvas.system-canvas").screenshot()
    assert lit_pixels(png) > 1000

    page.evaluate("() => window.havenSystemView.setPaused(true)")
    details = page.locator("#system-details")
    click_body(page, "planet-1")
    expect(details.locator("h2")).to_have_text("Orrery II")
    expect(details).to_contain_text("Scorched")
    expect(details).to_contain_text("Twin suns at dusk.")
    assert page.evaluate("() => window.havenSystemView.selected") == "planet-1"
    expect(page.locator('#system-bodies button[data-body="planet-1"]')).to_have_attribute("aria-pressed", "true")

    click_body(page, "planet-0")
    expect(details.locator("h2")).to_have_text("Orrery I")

    # the list selects bodies too: a moon shows its orbit, the station its missing position
    page.locator('#system-bodies button[data-body="moon-0-1"]').click()
    expect(details.locator("h2")).to_have_text("Orrery I b")
    expect(details).to_contain_text("1,400")
    expect(details).to_contain_text("Orrery I")
    page.locator('#system-bodies button[data-body="station"]').click()
    expect(details.locator("h2")).to_have_text("Orrery Hub")
    expect(details).to_contain_text("Korvax")
    expect(details).to_contain_text("12.5 %")
    expect(details).to_contain_text("not recorded")

    # back to the map, focused on this system
    expect(page.locator("#show-on-map")).to_have_attribute("href", "map.html?focus=Orrery&galaxy=Haven")
    no_script_ran(page)


def test_moons_circle_their_planets(page, systems) -> None:
    open_system(page, systems.url, f"?id={systems.orrery['id']}")
    view = "window.havenSystemView"
    start = page.evaluate(f"() => {view}.screenPositionOf('moon-0-0')")
    page.wait_for_function(
        f"(p) => {{ const q = {view}.screenPositionOf('moon-0-0'); return Math.hypot(q.clientX - p.clientX, q.clientY - p.clientY) > 3; }}",
        arg=start,
    )
    page.evaluate(f"() => {view}.setPaused(true)")
    still = page.evaluate(f"() => {view}.screenPositionOf('moon-0-0')")
    page.wait_for_timeout(300)
    assert page.evaluate(f"() => {view}.screenPositionOf('moon-0-0')") == still
    no_script_ran(page)


def test_names_made_of_html_stay_text(page, systems) -> None:
    open_system(page, systems.url, f"?name={quote(XSS, safe='')}")
    expect(page.locator("#system-name")).to_have_text(XSS)
    expect(page.locator(".system-panel")).to_contain_text("<b>Bold</b>")
    assert page.title() == f"{XSS} · Haven"
    labels = page.locator(".system-label")
    expect(labels.filter(has_text="<svg onload=alert(2)>")).to_have_count(1)
    expect(labels.filter(has_text="<iframe src=javascript:alert(5)>")).to_have_count(1)

    page.evaluate("() => window.havenSystemView.setPaused(true)")
    click_body(page, "planet-0")
    details = page.locator("#system-details")
    expect(details.locator("h2")).to_have_text("<svg onload=alert(2)>")
    expect(details).to_contain_text("<script>alert(3)</script>")
    page.locator('#system-bodies button[data-body="moon-0-0"]').click()
    expect(details.locator("h2")).to_have_text("<i onmouseover=alert(4)>m</i>")
    page.locator('#system-bodies button[data-body="station"]').click()
    expect(details).to_contain_text("1, 2, 3")
    assert page.locator("main img, main svg, main iframe, main script, main b, main i").count() == 0
    no_script_ran(page)


def test_a_system_without_planets_still_shows_its_star(page, systems) -> None:
    open_system(page, systems.url, f"?id={systems.bare['id']}")
    assert [b["id"] for b in page.evaluate("() => window.havenSystemView.bodies()")] == ["star"]
    expect(page.locator("#system-bodies")).to_contain_text("No planets recorded.")
    assert lit_pixels(page.locator("canvas.system-canvas").screenshot()) > 200
    no_script_ran(page)


def test_unknown_systems_and_missing_parameters_are_explained(page, systems) -> None:
    open_system(page, systems.url, "?id=999999", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text("No system with id 999999.")
    open_system(page, systems.url, "?name=Nobody%20Here", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text("No system named “Nobody Here”.")
    open_system(page, systems.url, "", wait_ready=False)
    expect(page.locator("#system-error")).to_contain_text("system.html?id=N")
    open_system(page, systems.url, "?id=abc", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text("“abc” is not a system id.")
    no_script_ran(page)


def test_an_unknown_galaxy_is_named_not_taken_for_an_unknown_system(page, systems, module_web_store) -> None:
    """The server's 404 names the field: ``galaxy`` means the galaxy is unknown, not the system."""
    open_system(page, systems.url, "?name=Orrery&galaxy=Nope", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text("No galaxy named “Nope”.")
    open_system(page, systems.url, f"?id={systems.orrery['id']}&galaxy=Nope", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text("No galaxy named “Nope”.")

    # A galaxy that exists but does not hold the system: the system is what is missing.
    module_web_store.ensure_galaxy("Elsewhere")
    open_system(page, systems.url, "?name=Orrery&galaxy=Elsewhere", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text("No system named “Orrery”.")
    open_system(page, systems.url, f"?id={systems.orrery['id']}&galaxy=Elsewhere", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text(f"No system with id {systems.orrery['id']} in galaxy “Elsewhere”.")

    open_system(page, systems.url, f"?id={systems.orrery['id']}&galaxy={quote(systems.orrery['galaxy'])}")
    expect(page.locator("#system-name")).to_have_text("Orrery")
    no_script_ran(page)


def test_an_unreachable_api_is_said_plainly(page, systems) -> None:
    port = closed_port()
    page.add_init_script(f"window.HAVEN_API_BASE = 'http://127.0.0.1:{port}';")
    open_system(page, systems.url, f"?id={systems.orrery['id']}", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text(
        f"Haven's API cannot be reached at http://127.0.0.1:{port}. Is `haven serve` running?"
    )
    no_script_ran(page)


def test_mount_system_view_draws_inlined_data_without_fetching(page, systems) -> None:
    """mountSystemView takes the system's JSON: a page with the data inlined needs no server API."""
    api_calls: list[str] = []
    page.route("**/api/**", lambda route: (api_calls.append(route.request.url), route.abort()))
    page.goto(f"{systems.url}/healthz")
    data = json.dumps({**ORRERY, "id": 1, "galaxy": "Haven", "derived": False})
    page.set_content(
        f"""<!doctype html><html><head>
        <link rel="stylesheet" href="/static/css/map.css">
        <script type="importmap">{{"imports": {{"three": "/vendor/three/build/three.module.js",
          "three/addons/": "/vendor/three/examples/jsm/"}}}}</script>
        </head><body style="margin:0">
        <div id="c" style="position:relative;width:640px;height:420px"></div>
        <script type="module">
          import {{ mountSystemView }} from "/static/js/system-view.js";
          window.view = mountSystemView(document.getElementById("c"), {data});
        </script></body></html>"""
    )
    page.wait_for_function("() => !!window.view")
    page.evaluate("() => window.view.ready.then(() => true)")
    assert len(page.evaluate("() => window.view.bodies()")) == 8
    expect(page.locator("#system-name")).to_have_text("Orrery")
    assert lit_pixels(page.locator("canvas.system-canvas").screenshot()) > 1000
    page.evaluate("() => window.view.dispose()")
    assert page.locator("canvas").count() == 0
    assert api_calls == []
    no_script_ran(page)


def test_systems_named_dot_and_dot_dot_are_found_by_name(page, systems, module_web_store) -> None:
    """A browser drops "." and ".." path segments even percent-encoded (the URL standard), so the
    by-name route cannot carry them: the pages find those names another way."""
    from webhelpers_map import open_map

    for name in (".", ".."):
        create(module_web_store, name=name, x=11.0 + len(name), y=2.0, z=3.0)
        open_system(page, systems.url, f"?name={quote(name, safe='')}")
        expect(page.locator("#system-name")).to_have_text(name)
        open_map(page, systems.url, f"?focus={quote(name, safe='')}")
        expect(page.locator("#map-details .map-details-name")).to_have_text(name)
    open_system(page, systems.url, "?name=...", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text("No system named “...”.")
    no_script_ran(page)
