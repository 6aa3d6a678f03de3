"""The map's open details panel follows edits that other clients make to the system it shows.

Each test opens the map of a small galaxy of its own (one real server, one SQLite file for
the module), opens the details panel on system A, and lets another client change things
over the HTTP API. The panel learns of edits from the chunk WebSocket, which names the
octree nodes a write changed: a rename that also moves A, a region change and a delete all
change A's node, and the panel asks the server for A again (once for several changes).

A plain rename (or any edit that leaves the octree as it was) changes no node, so the
feed says nothing about it and the open panel keeps the old name: that case is marked as
an expected failure until the server announces such edits (see its test below).
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from haven.ingest.bulk import generate_galaxy

from webhelpers_map import XSS, create, open_map, wait_settled

A_SPOT = (700.5, -300.0, 20.0)
B_SPOT = (-650.0, 420.0, -15.0)
NAME = "#map-details .map-details-name"


def no_script_ran(page: Page) -> None:
    assert page.dialogs == [], f"a dialog opened: {page.dialogs}"  # type: ignore[attr-defined]
    assert page.page_errors == [], f"page errors: {page.page_errors}"  # type: ignore[attr-defined]


def live_galaxy(store: Any, live_server: Any, galaxy: str, seed: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A galaxy of 200 generated systems plus A and B, served; (base URL, A, B)."""
    generate_galaxy(store, galaxy, 200, seed=seed)
    a = create(store, galaxy, name=f"{galaxy} A", x=A_SPOT[0], y=A_SPOT[1], z=A_SPOT[2], region="First Reach")
    b = create(store, galaxy, name=f"{galaxy} B", x=B_SPOT[0], y=B_SPOT[1], z=B_SPOT[2])
    return live_server(store, galaxy=galaxy), a, b


def open_on(page: Page, base: str, system: dict[str, Any]) -> None:
    """The map with the details panel on `system` (by ?focus=), following edits on the socket."""
    open_map(page, base, f"?focus={system['name'].replace(' ', '%20')}")
    expect(page.locator(NAME)).to_have_text(system["name"])
    page.wait_for_function("() => window.havenMap.stats().liveTransport === 'websocket'", timeout=10_000)


def patch(base: str, system_id: int, **fields: Any) -> dict[str, Any]:
    answer = httpx.patch(f"{base}/api/v1/systems/{system_id}", json=fields)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_rename_by_another_client_shows_in_the_open_panel(page, module_web_store, live_server) -> None:
    """Panel opened by clicking A's star; another client renames and moves A: the panel follows."""
    base, a, _ = live_galaxy(module_web_store, live_server, "Follow rename", seed=21)
    open_on(page, base, a)  # flies close to A
    wait_settled(page)
    page.locator(".map-close").click()
    pos = page.wait_for_function(
        "async (id) => { const p = await window.havenMap.screenPositionOf(id); return p && p.clientX !== null ? p : null; }",
        arg=a["id"],
    ).json_value()
    page.mouse.click(pos["clientX"], pos["clientY"])
    panel = page.locator("#map-details")
    expect(panel.locator(".map-details-name")).to_have_text(a["name"])
    expect(panel.locator(".map-swatch")).to_have_count(1)  # the region's colour, from the clicked star

    # A name that is also HTML: it must arrive as text.
    patch(base, a["id"], name=XSS, x=812.25)
    expect(panel.locator(".map-details-name")).to_have_text(XSS)
    expect(panel).to_contain_text("812.25, -300, 20 LY")
    expect(panel.locator("#open-system-view")).to_have_attribute("href", f"system.html?id={a['id']}")
    expect(panel.locator(".map-swatch")).to_have_count(1)  # same region: same colour
    assert panel.locator("img").count() == 0

    # A region change touches A's node too; the old colour would be wrong now.
    patch(base, a["id"], region="Second Reach")
    expect(panel).to_contain_text("Second Reach")
    expect(panel.locator(".map-swatch")).to_have_count(0)
    no_script_ran(page)


def test_a_deleted_system_is_said_to_be_deleted(page, module_web_store, live_server) -> None:
    base, a, _ = live_galaxy(module_web_store, live_server, "Follow delete", seed=22)
    open_on(page, base, a)
    assert httpx.delete(f"{base}/api/v1/systems/{a['id']}").status_code == 204
    panel = page.locator("#map-details")
    expect(panel).to_contain_text("This system was deleted")
    expect(panel).to_be_visible()
    expect(panel.locator("#open-system-view")).to_have_count(0)
    expect(panel.locator(".map-fields")).to_have_count(0)  # none of its old data stays on show

    # The panel keeps following the id: an undo of the delete brings the system back.
    undone = httpx.post(f"{base}/api/v1/systems/{a['id']}/undo")
    assert undone.status_code == 200, undone.text
    expect(panel.locator(".map-details-name")).to_have_text(a["name"])
    expect(panel.locator("#open-system-view")).to_have_count(1)
    no_script_ran(page)


def test_edits_to_other_systems_leave_the_panel_alone(page, module_web_store, live_server) -> None:
    """B moves a few times (all in A's node in a galaxy this small): A's panel stays as it is,
    and the changes cost at most a couple of requests for A, not one each."""
    base, a, b = live_galaxy(module_web_store, live_server, "Follow others", seed=23)
    asked_for_a: list[str] = []
    a_path = f"/api/v1/systems/{a['id']}"
    page.on("request", lambda r: asked_for_a.append(r.url) if r.url.split("?")[0].endswith(a_path) else None)
    open_on(page, base, a)
    wait_settled(page)
    page.evaluate(f"() => {{ document.querySelector({NAME!r}).dataset.mark = 'before'; }}")
    before = len(asked_for_a)

    for i in range(5):
        patch(base, b["id"], name=f"Follow others B{i}", x=B_SPOT[0] + i + 1)
    last = [B_SPOT[0] + 5, B_SPOT[1], B_SPOT[2]]
    page.wait_for_function(
        "([x, y, z]) => window.havenMap.findPoint(x, y, z) !== null", arg=last, timeout=30_000, polling=100,
    )
    page.wait_for_timeout(1000)  # time for any refetch the changes caused to have come back

    name = page.locator(NAME)
    expect(name).to_have_text(a["name"])
    assert name.get_attribute("data-mark") == "before", "the panel was rebuilt for an edit of another system"
    assert len(asked_for_a) - before <= 3, asked_for_a
    no_script_ran(page)


def test_a_plain_rename_shows_in_the_open_panel(page, module_web_store, live_server) -> None:
    base, a, _ = live_galaxy(module_web_store, live_server, "Follow plain rename", seed=24)
    open_on(page, base, a)
    patch(base, a["id"], name="Renamed in place")
    expect(page.locator(NAME)).to_have_text("Renamed in place", timeout=5_000)
