"""The Control Room opened without ``?galaxy=`` in a database holding two galaxies.

The page shows the server's own galaxy. It asks which one that is once
(``/api/v1/stats`` without a galaxy, whose answer names it); every other request for
the galaxy's contents names it, and choosing another galaxy asks stats and regions
again for that one.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from haven.model import SystemIn

from webhelpers_cr import (
    GALAXY, XSS, api_requests, names, no_script_ran, open_control_room, open_with_galaxy_picker, status, url_params,
)

#: The second galaxy; its name and region read like HTML and must show as these characters.
SECOND = "Spiral <b>Arm</b> & Co"
SECOND_REGION = "<i>Edge</i>"

#: Requests for a galaxy's contents (the galaxy list and the map's requests are not).
SCOPED = ("/api/v1/systems", "/api/v1/systems/search", "/api/v1/regions", "/api/v1/stats")


def two_galaxies(store) -> None:
    """GALAXY: Home 000–005 in Near (6); SECOND: a system named like HTML and Rim 000–010 (12)."""
    store.import_systems(GALAXY, [SystemIn(name=f"Home {i:03d}", x=float(i), y=0, z=0, region="Near") for i in range(6)])
    store.ensure_galaxy(SECOND)
    store.import_systems(
        SECOND,
        [SystemIn(name=XSS, x=0, y=1, z=0, region=SECOND_REGION)]
        + [SystemIn(name=f"Rim {i:03d}", x=float(i), y=1, z=0, region=SECOND_REGION) for i in range(11)],
    )


def scoped(urls: list[str]) -> list[tuple[str, dict[str, list[str]]]]:
    out = []
    for u in urls:
        parts = urlsplit(u)
        if parts.path in SCOPED:
            out.append((parts.path, parse_qs(parts.query)))
    return out


def all_name(urls: list[str], galaxy: str, *, may_ask_the_default: bool) -> set[str]:
    """Every request for contents names ``galaxy``; at most one stats request, first, names none.

    Returns the paths asked.
    """
    asked = scoped(urls)
    unnamed = [(path, q) for path, q in asked if "galaxy" not in q]
    if may_ask_the_default:
        assert [path for path, _ in unnamed] in ([], ["/api/v1/stats"]), f"requests naming no galaxy: {unnamed}"
        if unnamed:
            assert asked[0] == unnamed[0], f"asked before the page knew its galaxy: {asked}"
    else:
        assert unnamed == [], f"requests naming no galaxy: {unnamed}"
    for path, q in asked:
        if "galaxy" in q:
            assert q["galaxy"] == [galaxy], (path, q)
    return {path for path, _ in asked}


def test_without_a_galaxy_in_the_url_every_request_names_the_servers(page, live_server, store) -> None:
    two_galaxies(store)
    requests, picker = open_with_galaxy_picker(page, live_server(store), "Page 1 of 1 (6 total)")
    expect(page.locator("#region option")).to_have_text(["All regions", "Near (6)"])
    expect(page.locator("#download")).to_have_attribute("href", f"/api/v1/export?galaxy={GALAXY}&format=jsonl")
    assert all_name(requests, GALAXY, may_ask_the_default=True) >= {"/api/v1/stats", "/api/v1/regions", "/api/v1/systems"}
    assert "galaxy" not in url_params(page)  # the address stays as typed

    # Filtering and searching name it too.
    before = len(requests)
    page.locator("#region").select_option("Near")
    expect(status(page)).to_have_text("Page 1 of 1 (6 total)")
    page.locator("#search").fill("Home 003")
    page.locator("#search").press("Enter")
    expect(status(page)).to_have_text("Results 1–1 for “Home 003” in every region")
    assert all_name(requests[before:], GALAXY, may_ask_the_default=False) >= {"/api/v1/systems", "/api/v1/systems/search"}

    # Another galaxy: stats and regions are asked again, for it.
    before = len(requests)
    picker.select_option(SECOND)
    expect(status(page)).to_have_text("Page 1 of 1 (12 total)")
    expect(picker).to_have_value(SECOND)
    expect(page.locator("#region option")).to_have_text(["All regions", f"{SECOND_REGION} (12)"])
    assert names(page)[0] == XSS
    expect(page.locator("#galaxy option:checked")).to_have_text(f"{SECOND} (12)")
    assert all_name(requests[before:], SECOND, may_ask_the_default=False) >= {
        "/api/v1/stats", "/api/v1/regions", "/api/v1/systems"}

    # Back to the address without a galaxy: the server's again, named in every request for it.
    before = len(requests)
    page.go_back()
    page.go_back()
    page.go_back()
    expect(status(page)).to_have_text("Page 1 of 1 (6 total)")
    expect(picker).to_have_value(GALAXY)
    expect(page.locator("#region option")).to_have_text(["All regions", "Near (6)"])
    assert "galaxy" not in url_params(page)
    assert all_name(requests[before:], GALAXY, may_ask_the_default=True) >= {"/api/v1/regions", "/api/v1/systems"}
    no_script_ran(page)


def test_a_server_showing_another_galaxy_is_asked_for_that_one(page, live_server, store) -> None:
    two_galaxies(store)
    base = live_server(store, galaxy=SECOND)
    requests = api_requests(page)
    open_control_room(page, base)
    expect(status(page)).to_have_text("Page 1 of 1 (12 total)")
    expect(page.locator("#galaxy")).to_have_value(SECOND)
    expect(page.locator("#region option")).to_have_text(["All regions", f"{SECOND_REGION} (12)"])
    assert names(page)[0] == XSS
    assert all_name(requests, SECOND, may_ask_the_default=True) >= {"/api/v1/stats", "/api/v1/regions", "/api/v1/systems"}
    download = page.locator("#download").get_attribute("href")
    assert parse_qs(urlsplit(download).query) == {"galaxy": [SECOND], "format": ["jsonl"]}

    # Paging on: the next request names the galaxy as well.
    before = len(requests)
    page.locator("#prefix").fill("Rim 005")
    page.locator("#prefix-go").click()
    expect(status(page)).to_have_text("From “Rim 005…” · 1 page (12 total)")
    assert all_name(requests[before:], SECOND, may_ask_the_default=False) == {"/api/v1/systems"}
    no_script_ran(page)


def test_a_server_galaxy_missing_from_the_database_is_asked_about_once(page, live_server, store) -> None:
    two_galaxies(store)
    base = live_server(store, galaxy="Nowhere")
    requests = api_requests(page)
    open_control_room(page, base)
    expect(page.locator("#galaxy-missing .message")).to_have_text("The server's galaxy is not in this database.")
    expect(status(page)).to_have_text("No galaxy.")
    page.wait_for_timeout(300)
    # Nothing was asked about a galaxy the page could not name, beyond the one question.
    assert [path for path, _ in scoped(requests)] == ["/api/v1/stats"]

    picker = page.locator("#galaxy")
    expect(page.locator("#galaxy-field")).to_be_visible()
    before = len(requests)
    picker.select_option(GALAXY)
    expect(status(page)).to_have_text("Page 1 of 1 (6 total)")
    expect(page.locator("#galaxy-missing")).to_be_hidden()
    assert all_name(requests[before:], GALAXY, may_ask_the_default=False) >= {"/api/v1/stats", "/api/v1/regions"}
    no_script_ran(page)
