"""The system page in a real browser: where the station is drawn, the links out of the page
(Edit, History and Undo, Restore for a deleted system), and the page's other addresses."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from playwright.sync_api import expect

from webhelpers_map import VIEWPORT, create, open_system

REGION = "Station Reach"


def system_with_station(store, name: str, at: tuple[float, float, float], station: dict) -> dict:
    x, y, z = at
    return create(store, name=name, x=x, y=y, z=z, region=REGION,
                  space_station={"name": f"{name} Hub", **station})


@pytest.fixture(scope="module")
def stations(module_web_store, module_server) -> SimpleNamespace:
    s = module_web_store
    return SimpleNamespace(
        url=module_server,
        # Stations are at galaxy positions in light years, a fraction of a light year from their star.
        east=system_with_station(s, "East Hub System", (-8210.5, 10.0, 5.0), {"x": -8210.1, "y": 10.0, "z": 5.0}),
        west=system_with_station(s, "West Hub System", (-8200.0, 10.0, 5.0), {"x": -8200.4, "y": 10.0, "z": 5.0}),
        north=system_with_station(s, "North Hub System", (-8205.0, 20.0, 5.0), {"x": -8205.0, "y": 20.4, "z": 5.0}),
        far=system_with_station(s, "Far Hub System", (-8210.5, 30.0, 5.0), {"x": 1e300, "y": 30.0, "z": 5.0}),
        huge=system_with_station(s, "Huge Hub System", (-8210.5, 40.0, 5.0),
                                 {"x": 1.7976931348623157e308, "y": -1.7976931348623157e308, "z": 5.0}),
        same=system_with_station(s, "Same Spot System", (-8210.5, 50.0, 5.0), {"x": -8210.5, "y": 50.0, "z": 5.0}),
        unplaced=system_with_station(s, "Unplaced Hub System", (-8210.5, 60.0, 5.0), {"x": -8210.0}),
    )


def station_offset(page, base: str, system: dict) -> tuple[float, float, float]:
    """Where the station is drawn on screen relative to the star (dx, dy; +dy is down), and the star's radius in px."""
    open_system(page, base, f"?id={system['id']}")
    page.evaluate("() => window.havenSystemView.setPaused(true)")
    star = page.evaluate("() => window.havenSystemView.screenPositionOf('star')")
    station = page.evaluate("() => window.havenSystemView.screenPositionOf('station')")
    return station["clientX"] - star["clientX"], station["clientY"] - star["clientY"], star["radiusPx"]


def test_a_station_is_drawn_on_its_own_side_of_its_star(page, stations) -> None:
    """Station x/y/z are galaxy positions: the view draws the station towards its position *from the star*.
    Taken as a direction from the star, every station of a region fell on the same spot."""
    east_dx, east_dy, r = station_offset(page, stations.url, stations.east)
    assert east_dx > 2.5 * r and abs(east_dy) < east_dx / 4, (east_dx, east_dy)  # +x: to the right
    west_dx, west_dy, _ = station_offset(page, stations.url, stations.west)
    assert west_dx < -2.5 * r and abs(west_dy) < -west_dx / 4, (west_dx, west_dy)  # -x: to the left
    north_dx, north_dy, _ = station_offset(page, stations.url, stations.north)
    # +y: away from the camera, which looks down at an angle: up the screen, beyond the star's edge
    assert north_dy < -1.2 * r and abs(north_dx) < -north_dy / 4, (north_dx, north_dy)


def test_a_station_far_away_or_without_a_direction_is_drawn_on_an_orbit_not_in_the_star(page, stations) -> None:
    # x = 1e300: the offset's length overflowed to Infinity and the station was drawn inside the star
    dx, dy, r = station_offset(page, stations.url, stations.far)
    assert dx > 2.5 * r and abs(dy) < dx / 4, (dx, dy)
    # the largest doubles: still drawn in their direction (+x and -y: right and down the screen)
    dx, dy, r = station_offset(page, stations.url, stations.huge)
    assert dx > 2 * r and dy > r, (dx, dy)
    # at the star's own position, or with only x recorded: no direction, so the default orbit
    for system in (stations.same, stations.unplaced):
        dx, dy, r = station_offset(page, stations.url, system)
        assert (dx * dx + dy * dy) ** 0.5 > 2.5 * r, (system["name"], dx, dy)
    assert page.page_errors == []


# ---- links out of the page --------------------------------------------------------------------


def api_create(base: str, **body) -> dict:
    r = httpx.post(f"{base}/api/v1/systems", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def api_patch(base: str, system_id: int, **body) -> dict:
    r = httpx.patch(f"{base}/api/v1/systems/{system_id}", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def open_history(page):
    history = page.locator("#system-history")
    history.locator("summary").click()
    expect(history).to_have_attribute("open", "")
    return history


def test_the_edit_link_opens_the_wizard_for_this_system(page, module_server) -> None:
    system = api_create(module_server, name="Editable Star", x=1.0, y=2.0, z=3.0)
    open_system(page, module_server, f"?id={system['id']}")
    edit = page.locator("#edit-system")
    expect(edit).to_have_text("Edit")
    expect(edit).to_have_attribute("href", f"/wizard.html?id={system['id']}")
    edit.click()
    page.wait_for_url(f"**/wizard.html?id={system['id']}*")
    expect(page.locator('[data-field="name"]')).to_have_value("Editable Star")

    open_system(page, module_server, f"?id={system['id']}&galaxy=Haven")
    expect(page.locator("#edit-system")).to_have_attribute("href", f"/wizard.html?id={system['id']}&galaxy=Haven")


def test_history_lists_the_changes_and_undo_takes_back_the_last(page, module_server) -> None:
    base = module_server
    system = api_create(base, name="Changing Star", x=4.0, y=5.0, z=6.0, fauna="None")
    api_patch(base, system["id"], fauna="Sparse")
    api_patch(base, system["id"], fauna="Rich")

    open_system(page, base, f"?id={system['id']}")
    history = open_history(page)
    entries = history.locator("li")
    expect(entries).to_have_count(3)
    expect(entries.nth(0)).to_contain_text("Changed")
    expect(entries.nth(0)).to_contain_text("version 3")
    expect(entries.nth(2)).to_contain_text("Created")
    expect(entries.nth(2)).to_contain_text("version 1")

    history.get_by_role("button", name="Undo last change").click()
    notice = page.locator("#system-notice")
    expect(notice).to_contain_text("Undone")
    expect(notice).to_contain_text("version 4")
    expect(page.locator("#system-details")).to_contain_text("Sparse")  # the star's details, redrawn
    assert httpx.get(f"{base}/api/v1/systems/{system['id']}").json()["fauna"] == "Sparse"
    expect(page.locator("#system-history li")).to_have_count(2)

    # Someone else changes it after the page loaded: undo would take back their change, so it refuses.
    api_patch(base, system["id"], fauna="Theirs")
    page.locator("#system-history").get_by_role("button", name="Undo last change").click()
    expect(notice).to_contain_text("Not undone")
    assert httpx.get(f"{base}/api/v1/systems/{system['id']}").json()["fauna"] == "Theirs"

    # A system whose only change is its creation: undo would delete it, so the page does not offer it.
    fresh = api_create(base, name="Brand New Star", x=7.0, y=8.0, z=9.0)
    open_system(page, base, f"?id={fresh['id']}")
    history = open_history(page)
    expect(history.locator("li")).to_have_count(1)
    expect(history).to_contain_text("Created")
    expect(history.get_by_role("button", name="Undo last change")).to_have_count(0)
    assert page.page_errors == [] and page.dialogs == []


def test_a_deleted_system_can_be_restored_from_its_page(page, module_server) -> None:
    base = module_server
    system = api_create(base, name="Lost Star", x=10.0, y=11.0, z=12.0, fauna="Rich")
    assert httpx.delete(f"{base}/api/v1/systems/{system['id']}").status_code == 204

    open_system(page, base, f"?id={system['id']}", wait_ready=False)
    error = page.locator("#system-error")
    expect(error).to_contain_text(f"No system with id {system['id']}.")
    expect(error).to_contain_text("deleted")
    error.get_by_role("button", name="Restore it").click()

    page.wait_for_function("() => !!window.havenSystemView")
    page.evaluate("() => window.havenSystemView.ready.then(() => true)")
    expect(page.locator("#system-name")).to_have_text("Lost Star")
    expect(page.locator("#system-error")).to_be_hidden()
    expect(page.locator("#system-notice")).to_contain_text("Restored")
    restored = httpx.get(f"{base}/api/v1/systems/{system['id']}")
    assert restored.status_code == 200 and restored.json()["fauna"] == "Rich"

    # an id that never had a system: nothing to restore
    open_system(page, base, "?id=987654", wait_ready=False)
    expect(page.locator("#system-error")).to_have_text("No system with id 987654.")
    expect(page.get_by_role("button", name="Restore it")).to_have_count(0)
    assert page.page_errors == [] and page.dialogs == []


# ---- the page's addresses --------------------------------------------------------------------


def test_the_page_works_at_its_other_addresses(page, stations) -> None:
    """``/system.html/?id=N`` resolved the page's css/ and js/ against ``/system.html/``: unstyled, nothing drawn."""
    page.set_viewport_size(VIEWPORT)
    system_id = stations.east["id"]
    for address in (f"/system.html/?id={system_id}", f"/system?id={system_id}", f"/system/?id={system_id}"):
        page.goto(f"{stations.url}{address}")
        assert page.url == f"{stations.url}/system.html?id={system_id}"
        page.wait_for_function("() => !!window.havenSystemView")
        expect(page.locator("#system-name")).to_have_text("East Hub System")
        assert page.evaluate("() => getComputedStyle(document.querySelector('.system-main')).display") == "flex"
    page.goto(f"{stations.url}/map")
    assert page.url == f"{stations.url}/map.html"
    page.wait_for_function("() => !!window.havenMap")
    assert page.page_errors == []
