"""The Control Room (``/``) in a real browser against a real server and SQLite file.

The read-only tests share one server holding 250 stars; the tests that add or delete
get a fresh store each.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import orjson
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from haven.errors import NotFound
from haven.model import SystemIn, SystemPatch

from webhelpers_cr import (
    GALAXY,
    XSS,
    api_requests,
    create,
    names,
    no_script_ran,
    open_control_room,
    open_with_galaxy_picker,
    open_wizard,
    row,
    seed_stars,
    star_count,
    status,
    url_params,
)


@pytest.fixture(scope="module")
def stars(module_web_store, module_server) -> str:
    """The module's server, holding Star 000 … Star 249 (read-only tests only)."""
    seed_stars(module_web_store)
    return module_server


# -- paging ------------------------------------------------------------------------------


def test_pages_of_100_follow_cursors_both_ways(page, stars: str) -> None:
    requests = api_requests(page)
    open_control_room(page, stars)
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    expect(page.locator("#rows tr")).to_have_count(100)
    assert names(page)[0] == "Star 000" and names(page)[-1] == "Star 099"
    expect(page.locator("#prev")).to_be_disabled()
    expect(page.locator("#first")).to_be_disabled()

    page.locator("#next").click()
    expect(status(page)).to_have_text("Page 2 of 3 (250 total)")
    assert names(page)[0] == "Star 100"
    assert "cursor" in url_params(page)

    page.locator("#next").click()
    expect(status(page)).to_have_text("Page 3 of 3 (250 total)")
    expect(page.locator("#rows tr")).to_have_count(50)
    assert names(page)[-1] == "Star 249"
    expect(page.locator("#next")).to_be_disabled()

    page.locator("#prev").click()
    expect(status(page)).to_have_text("Page 2 of 3 (250 total)")
    assert names(page)[0] == "Star 100" and names(page)[-1] == "Star 199"

    # Reload keeps the page (the cursor is in the URL); Back walks the pages visited.
    page.reload()
    expect(status(page)).to_have_text("Page 2 of 3 (250 total)")
    assert names(page)[0] == "Star 100"
    page.go_back()
    expect(status(page)).to_have_text("Page 3 of 3 (250 total)")

    page.locator("#first").click()
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    assert names(page)[0] == "Star 000"

    # Only one page per request, never everything.
    systems_calls = [u for u in requests if urlsplit(u).path == "/api/v1/systems"]
    assert len(systems_calls) >= 6
    for url in systems_calls:
        assert parse_qs(urlsplit(url).query)["limit"] == ["100"], url
    no_script_ran(page)


def test_next_clicked_twice_before_the_page_comes_adds_one_history_entry(page, stars: str) -> None:
    open_control_room(page, stars)
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    page.locator("#next").dblclick()
    expect(status(page)).to_have_text("Page 2 of 3 (250 total)")
    page.go_back()
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")


def test_a_page_past_the_count_after_deletes_is_not_shown_as_past_the_last(page, live_server, store) -> None:
    """Someone deletes while another pages: "Page 2 of 2", never "Page 2 of 1"."""
    seed_stars(store, n=101)
    base = live_server(store)
    open_control_room(page, base)
    page.locator("#next").click()
    expect(status(page)).to_have_text("Page 2 of 2 (101 total)")
    store.delete(store.system_by_name(GALAXY, "Star 000")["id"])
    page.reload()
    expect(status(page)).to_have_text("Page 2 of 2 (100 total)")


def test_prefix_jump_shows_where_it_starts_instead_of_a_page_number(page, stars: str) -> None:
    open_control_room(page, stars)
    page.locator("#prefix").fill("Star 1")
    page.locator("#prefix").press("Enter")
    expect(status(page)).to_have_text("From “Star 1…” · 3 pages (250 total)")
    assert names(page)[0] == "Star 100" and names(page)[-1] == "Star 199"
    assert url_params(page)["prefix"] == ["Star 1"]

    page.reload()
    expect(status(page)).to_have_text("From “Star 1…” · 3 pages (250 total)")
    expect(page.locator("#prefix")).to_have_value("Star 1")
    assert names(page)[0] == "Star 100"

    page.locator("#next").click()
    expect(status(page)).to_have_text("From “Star 200” · 3 pages (250 total)")
    expect(page.locator("#rows tr")).to_have_count(50)
    page.locator("#prev").click()
    expect(page.locator("#rows td.name").first).to_have_text("Star 100")
    page.locator("#prev").click()
    expect(page.locator("#rows td.name").first).to_have_text("Star 000")
    expect(page.locator("#prev")).to_be_disabled()

    # A prefix past every name: an empty page that can still go back.
    page.locator("#prefix").fill("Zzz")
    page.locator("#prefix").press("Enter")
    expect(page.locator("#rows td.empty")).to_have_text("No names from “Zzz” on.")
    expect(status(page)).to_have_text("From “Zzz…” · 3 pages (250 total)")
    page.locator("#prev").click()
    expect(page.locator("#rows td.name").last).to_have_text("Star 249")
    no_script_ran(page)


def test_region_filter_comes_from_the_regions_and_stays_in_the_url(page, stars: str) -> None:
    open_control_room(page, stars)
    options = page.locator("#region option").all_text_contents()
    assert options[0] == "All regions"
    assert f"Beta & Drift ({star_count('Beta & Drift')})" in options

    page.locator("#region").select_option("Beta & Drift")
    n = star_count("Beta & Drift")
    expect(status(page)).to_have_text(f"Page 1 of 1 ({n} total)")
    expect(page.locator("#rows tr")).to_have_count(n)
    assert set(page.locator("#rows td.region").all_text_contents()) == {"Beta & Drift"}
    assert url_params(page)["region"] == ["Beta & Drift"]
    assert "region=Beta%20%26%20Drift" in page.url or "region=Beta+%26+Drift" in page.url

    page.reload()
    expect(status(page)).to_have_text(f"Page 1 of 1 ({n} total)")
    expect(page.locator("#region")).to_have_value("Beta & Drift")

    page.locator("#region").select_option("")
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    page.go_back()
    expect(status(page)).to_have_text(f"Page 1 of 1 ({n} total)")
    expect(page.locator("#region")).to_have_value("Beta & Drift")

    # Search spans every region and says so; picking a region leaves the search.
    page.locator("#search").fill("Star 00")
    page.locator("#search").press("Enter")
    expect(status(page)).to_have_text("Results 1–10 for “Star 00” in every region")
    page.locator("#region").select_option("Gamma Verge")
    expect(status(page)).to_have_text(f"Page 1 of 1 ({star_count('Gamma Verge')} total)")
    expect(page.locator("#search")).to_have_value("")
    assert "q" not in url_params(page)
    no_script_ran(page)


# -- search ------------------------------------------------------------------------------


def test_search_waits_for_typing_to_stop_and_clearing_returns_to_paging(page, stars: str) -> None:
    page.clock.install(time=datetime(2030, 1, 1))
    searches = []
    page.on("request", lambda r: searches.append(r.url) if "/api/v1/systems/search" in r.url else None)
    open_control_room(page, stars)
    page.clock.pause_at(datetime(2030, 1, 1, 0, 1))

    page.locator("#search").press_sequentially("Star 12")
    page.clock.run_for(100)
    assert searches == []  # still typing: nothing asked yet
    page.clock.run_for(1000)
    expect(status(page)).to_have_text("Results 1–10 for “Star 12”")
    assert names(page) == [f"Star {i}" for i in range(120, 130)]
    assert len(searches) == 1
    assert parse_qs(urlsplit(searches[0]).query)["q"] == ["Star 12"]
    assert url_params(page)["q"] == ["Star 12"]

    page.locator("#search").fill("")
    page.clock.run_for(1000)
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    assert "q" not in url_params(page)

    # Back returns to the search; Escape in the box clears it at once.
    page.go_back()
    expect(status(page)).to_have_text("Results 1–10 for “Star 12”")
    expect(page.locator("#search")).to_have_value("Star 12")
    page.locator("#search").press("Escape")
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    no_script_ran(page)


def test_search_results_page_by_cursor_and_find_materials(page, live_server, store) -> None:
    store.import_systems(
        GALAXY,
        [SystemIn(name=f"Mine {i:03d}", x=float(i), y=0, z=0, materials="Gold, Copper") for i in range(130)]
        + [SystemIn(name="Quiet", x=1, y=1, z=1, materials="Salt")],
    )
    base = live_server(store)
    open_control_room(page, base, "?q=gold")
    expect(status(page)).to_have_text("Results 1–100 for “gold” · more on the next page")
    page.locator("#next").click()
    expect(status(page)).to_have_text("Results 101–130 for “gold”")
    expect(page.locator("#next")).to_be_disabled()
    page.locator("#prev").click()
    expect(status(page)).to_have_text("Results 1–100 for “gold” · more on the next page")
    page.locator("#search").fill("nothing like this")
    page.locator("#search").press("Enter")
    expect(status(page)).to_have_text("No results for “nothing like this”")
    no_script_ran(page)


def test_search_pages_are_in_the_url_so_reload_share_and_back_keep_them(page, browser, stars: str) -> None:
    open_control_room(page, stars)
    page.locator("#next").click()
    expect(status(page)).to_have_text("Page 2 of 3 (250 total)")
    page.locator("#search").fill("Star")
    page.locator("#search").press("Enter")
    expect(status(page)).to_have_text("Results 1–100 for “Star” · more on the next page")
    assert url_params(page) == {"q": ["Star"]}  # the first page of results: no cursor
    expect(page.locator("#prev")).to_be_disabled()

    page.locator("#next").click()
    expect(status(page)).to_have_text("Results 101–200 for “Star” · more on the next page")
    assert names(page)[0] == "Star 100"
    params = url_params(page)
    assert params["q"] == ["Star"] and params["cursor"] and "prefix" not in params
    second = page.url
    edit = row(page, "Star 100").get_by_role("link", name="Edit Star 100").get_attribute("href")
    assert parse_qs(urlsplit(edit).query)["back"] == [urlsplit(second).path + "?" + urlsplit(second).query]

    # Reload shows the same page of results, and Previous works from there.
    page.reload()
    expect(status(page)).to_have_text("Results 101–200 for “Star” · more on the next page")
    assert names(page)[0] == "Star 100" and names(page)[-1] == "Star 199"
    expect(page.locator("#search")).to_have_value("Star")
    expect(page.locator("#prev")).to_be_enabled()
    page.locator("#next").click()
    expect(status(page)).to_have_text("Results 201–250 for “Star”")
    expect(page.locator("#next")).to_be_disabled()

    # Back and Forward move between the pages of results.
    page.go_back()
    expect(status(page)).to_have_text("Results 101–200 for “Star” · more on the next page")
    page.go_back()
    expect(status(page)).to_have_text("Results 1–100 for “Star” · more on the next page")
    page.go_forward()
    expect(status(page)).to_have_text("Results 101–200 for “Star” · more on the next page")
    page.locator("#prev").click()
    expect(status(page)).to_have_text("Results 1–100 for “Star” · more on the next page")
    assert names(page)[0] == "Star 000"
    expect(page.locator("#prev")).to_be_disabled()

    # A shared link opens on its page of results.
    other = browser.new_context().new_page()
    try:
        other.goto(second)
        expect(status(other)).to_have_text("Results 101–200 for “Star” · more on the next page")
        assert names(other)[0] == "Star 100"
    finally:
        other.context.close()

    # Clearing the search returns to the page of the list it started from.
    page.locator("#search").press("Escape")
    expect(status(page)).to_have_text("Page 2 of 3 (250 total)")
    assert names(page)[0] == "Star 100" and "q" not in url_params(page)
    no_script_ran(page)


def test_a_search_cursor_that_no_longer_reads_shows_the_first_results(page, stars: str) -> None:
    open_control_room(page, stars, "?q=Star&cursor=not-a-real-cursor")
    expect(status(page)).to_have_text("Results 1–100 for “Star” · more on the next page")
    assert url_params(page) == {"q": ["Star"]}


def test_keyboard_slash_searches_n_and_p_turn_pages(page, stars: str) -> None:
    open_control_room(page, stars)
    page.keyboard.press("n")
    expect(status(page)).to_have_text("Page 2 of 3 (250 total)")
    page.keyboard.press("p")
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type("Star 24")
    page.keyboard.press("Enter")
    expect(status(page)).to_have_text("Results 1–10 for “Star 24”")


# -- links: view, edit, add, map -------------------------------------------------------------


def test_rows_link_to_view_and_edit_and_the_map_offers_three_scopes(page, stars: str) -> None:
    open_control_room(page, stars, "?region=Beta%20%26%20Drift")
    first = row(page, "Star 001")
    system_id = first.get_attribute("data-id")
    assert first.get_by_role("link", name="View Star 001").get_attribute("href") == f"/system.html?id={system_id}"
    edit = first.get_by_role("link", name="Edit Star 001").get_attribute("href")
    assert edit.startswith(f"/wizard.html?id={system_id}&back=")
    assert parse_qs(urlsplit(edit).query)["back"] == ["/?region=Beta+%26+Drift"]
    add = page.locator("#add-system").get_attribute("href")
    assert parse_qs(urlsplit(add).query)["back"] == ["/?region=Beta+%26+Drift"]

    page.locator("#map-button").click()
    dialog = page.locator("#map-dialog")
    expect(dialog).to_be_visible()
    assert page.locator("#map-galaxy").get_attribute("href") == "/map.html"
    assert page.locator("#map-region").get_attribute("href") == "/map.html?region=Beta%20%26%20Drift"
    ids = page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert len(ids) == star_count("Beta & Drift")
    assert page.locator("#map-page").get_attribute("href") == "/map.html?ids=" + ",".join(ids)
    with page.expect_popup() as popup:
        page.locator("#map-region").click()
    assert popup.value.url.endswith("/map.html?region=Beta%20%26%20Drift")
    popup.value.close()
    expect(dialog).to_be_hidden()

    # Without a region, "this region" cannot be chosen.
    page.locator("#region").select_option("")
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    page.locator("#map-button").click()
    expect(page.locator("#map-region")).to_have_attribute("aria-disabled", "true")
    assert page.locator("#map-region").get_attribute("href") is None
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    no_script_ran(page)


# -- download -------------------------------------------------------------------------------

#: A galaxy name that only survives a URL when encoded: spaces, a slash, &, %, #, ?, + and non-ASCII.
ODD_GALAXY = "Outer Rim / Sektor 7 & Co. + 100% #1? ✦ Ω"
ODD_ENCODED = "Outer+Rim+%2F+Sektor+7+%26+Co.+%2B+100%25+%231%3F+%E2%9C%A6+%CE%A9"  # as URLSearchParams writes it


def test_download_streams_the_whole_galaxy_in_the_chosen_format(page, live_server, store, tmp_path: Path) -> None:
    store.ensure_galaxy(ODD_GALAXY)
    store.import_systems(
        ODD_GALAXY, [SystemIn(name=f"Rim {i:03d}", x=float(i), y=0, z=0, region="Edge") for i in range(150)],
    )
    create(store, name="Elsewhere")  # in the default galaxy, which this server does not show
    base = live_server(store, galaxy=ODD_GALAXY)
    open_control_room(page, base)
    expect(status(page)).to_have_text("Page 1 of 2 (150 total)")

    page.locator("#download-button").click()
    dialog = page.locator("#download-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#download-title")).to_have_text(f"Download “{ODD_GALAXY}”")
    expect(page.get_by_label("Format")).to_be_focused()
    link = page.locator("#download")
    expect(link).to_have_attribute("href", f"/api/v1/export?galaxy={ODD_ENCODED}&format=jsonl")
    assert parse_qs(urlsplit(link.get_attribute("href")).query) == {"galaxy": [ODD_GALAXY], "format": ["jsonl"]}

    # By keyboard: Tab from the format to the link, Enter downloads it and closes the box.
    page.keyboard.press("Tab")
    expect(link).to_be_focused()
    with page.expect_download() as jsonl_download:
        page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    download = jsonl_download.value
    assert download.suggested_filename.endswith(".jsonl")
    saved = tmp_path / "rim.jsonl"
    download.save_as(saved)
    records = [orjson.loads(line) for line in saved.read_bytes().splitlines() if line.strip()]
    assert len(records) == 150
    assert sorted(r["name"] for r in records) == [f"Rim {i:03d}" for i in range(150)]

    page.locator("#download-button").click()
    page.get_by_label("Format").select_option("parquet")
    assert parse_qs(urlsplit(link.get_attribute("href")).query) == {"galaxy": [ODD_GALAXY], "format": ["parquet"]}
    expect(page.locator("#download-hint")).to_contain_text("data tools")
    with page.expect_download() as parquet_download:
        link.click()
    saved = tmp_path / "rim.parquet"
    parquet_download.value.save_as(saved)
    table = pq.read_table(saved)
    assert table.num_rows == 150
    assert set(table.column("region").to_pylist()) == {"Edge"}
    no_script_ran(page)


# -- more than one galaxy --------------------------------------------------------------------

#: How ODD_GALAXY reads in a query string built by URLSearchParams.


def two_galaxies(store) -> None:
    """The default galaxy: Beacon Home and Home 000–004 (6); ODD_GALAXY: Beacon Rim and Rim 000–119 (121)."""
    store.import_systems(
        GALAXY,
        [SystemIn(name="Beacon Home", x=0, y=0, z=0, region="Near")]
        + [SystemIn(name=f"Home {i:03d}", x=float(i), y=0, z=0, region="Near") for i in range(5)],
    )
    store.ensure_galaxy(ODD_GALAXY)
    store.import_systems(
        ODD_GALAXY,
        [SystemIn(name="Beacon Rim", x=0, y=1, z=0, region="Edge")]
        + [SystemIn(name=f"Rim {i:03d}", x=float(i), y=1, z=0, region="Edge") for i in range(120)],
    )


def query_of(href: str | None) -> dict[str, list[str]]:
    assert href is not None
    return parse_qs(urlsplit(href).query)


def test_one_galaxy_needs_no_picker(page, stars: str) -> None:
    open_control_room(page, stars)
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    expect(page.locator("#galaxy-field")).to_be_hidden()
    assert "galaxy" not in url_params(page)


def test_the_picker_switches_galaxy_and_the_url_keeps_it(page, live_server, store) -> None:
    two_galaxies(store)
    requests, picker = open_with_galaxy_picker(page, live_server(store), "Page 1 of 1 (6 total)")
    assert picker.locator("option").all_text_contents() == [f"{GALAXY} (6)", f"{ODD_GALAXY} (121)"]
    assert "galaxy" not in url_params(page)

    asked_before = len(requests)
    picker.select_option(ODD_GALAXY)
    expect(status(page)).to_have_text("Page 1 of 2 (121 total)")
    assert names(page)[:2] == ["Beacon Rim", "Rim 000"]
    assert url_params(page)["galaxy"] == [ODD_GALAXY]
    assert f"galaxy={ODD_ENCODED}" in page.url
    expect(page.locator("#region option")).to_have_text(["All regions", "Edge (121)"])
    expect(page).to_have_title(f"Control Room · {ODD_GALAXY} · Haven")

    # Every request for the galaxy's contents names it.
    asked = [urlsplit(u) for u in requests[asked_before:]]
    scoped = [u for u in asked if u.path in ("/api/v1/systems", "/api/v1/regions", "/api/v1/stats")]
    assert {u.path for u in scoped} == {"/api/v1/systems", "/api/v1/regions", "/api/v1/stats"}  # stats and regions asked again
    for u in scoped:
        assert parse_qs(u.query)["galaxy"] == [ODD_GALAXY], u.geturl()

    # Back returns to the other galaxy; Forward comes back.
    page.go_back()
    expect(status(page)).to_have_text("Page 1 of 1 (6 total)")
    expect(picker).to_have_value(GALAXY)
    expect(page.locator("#region option")).to_have_text(["All regions", "Near (6)"])
    page.go_forward()
    expect(status(page)).to_have_text("Page 1 of 2 (121 total)")
    expect(picker).to_have_value(ODD_GALAXY)

    # Cursors page within the galaxy, and a reload keeps both.
    page.locator("#next").click()
    expect(status(page)).to_have_text("Page 2 of 2 (121 total)")
    assert names(page)[0] == "Rim 099"
    assert url_params(page)["galaxy"] == [ODD_GALAXY] and "cursor" in url_params(page)
    page.reload()
    expect(status(page)).to_have_text("Page 2 of 2 (121 total)")
    expect(picker).to_have_value(ODD_GALAXY)
    assert names(page)[0] == "Rim 099"

    # Search finds only this galaxy's systems, and the search is in the URL next to the galaxy.
    searches_before = len(requests)
    page.locator("#search").fill("Beacon")
    page.locator("#search").press("Enter")
    expect(status(page)).to_have_text("Results 1–1 for “Beacon”")
    assert names(page) == ["Beacon Rim"]
    assert url_params(page)["q"] == ["Beacon"] and url_params(page)["galaxy"] == [ODD_GALAXY]
    search_calls = [urlsplit(u) for u in requests[searches_before:] if urlsplit(u).path == "/api/v1/systems/search"]
    assert search_calls and all(parse_qs(u.query)["galaxy"] == [ODD_GALAXY] for u in search_calls)
    page.reload()
    expect(status(page)).to_have_text("Results 1–1 for “Beacon”")
    assert names(page) == ["Beacon Rim"]

    # Choosing the first galaxy again searches nothing and lists it from its first page.
    picker.select_option(GALAXY)
    expect(status(page)).to_have_text("Page 1 of 1 (6 total)")
    expect(page.locator("#search")).to_have_value("")
    assert url_params(page) == {"galaxy": [GALAXY]}
    no_script_ran(page)


def test_links_and_the_download_name_the_chosen_galaxy(page, live_server, store, tmp_path: Path) -> None:
    two_galaxies(store)
    base = live_server(store)
    open_control_room(page, base, f"?galaxy={ODD_ENCODED}&region=Edge")
    expect(status(page)).to_have_text("Page 1 of 2 (121 total)")

    beacon = row(page, "Beacon Rim")
    system_id = beacon.get_attribute("data-id")
    view = beacon.get_by_role("link", name="View Beacon Rim").get_attribute("href")
    assert view.startswith("/system.html?")
    assert query_of(view) == {"id": [system_id], "galaxy": [ODD_GALAXY]}
    edit = beacon.get_by_role("link", name="Edit Beacon Rim").get_attribute("href")
    assert edit.startswith("/wizard.html?")
    assert query_of(edit)["id"] == [system_id] and query_of(edit)["galaxy"] == [ODD_GALAXY]
    assert query_of(query_of(edit)["back"][0]) == {"galaxy": [ODD_GALAXY], "region": ["Edge"]}
    add = page.locator("#add-system").get_attribute("href")
    assert query_of(add)["galaxy"] == [ODD_GALAXY]
    assert query_of(page.locator("#nav-map").get_attribute("href")) == {"galaxy": [ODD_GALAXY]}

    page.locator("#map-button").click()
    assert query_of(page.locator("#map-galaxy").get_attribute("href")) == {"galaxy": [ODD_GALAXY]}
    assert query_of(page.locator("#map-region").get_attribute("href")) == {"region": ["Edge"], "galaxy": [ODD_GALAXY]}
    assert query_of(page.locator("#map-page").get_attribute("href"))["galaxy"] == [ODD_GALAXY]
    page.keyboard.press("Escape")

    page.locator("#download-button").click()
    expect(page.locator("#download-title")).to_have_text(f"Download “{ODD_GALAXY}”")
    link = page.locator("#download")
    expect(link).to_have_attribute("href", f"/api/v1/export?galaxy={ODD_ENCODED}&format=jsonl")
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "odd.jsonl"
    download.value.save_as(saved)
    records = [orjson.loads(line) for line in saved.read_bytes().splitlines() if line.strip()]
    assert len(records) == 121
    assert "Beacon Home" not in {r["name"] for r in records}

    # The system page opened from a row finds the system.
    page.goto(base + view)
    expect(page.locator("#system-panel")).to_contain_text("Beacon Rim")
    no_script_ran(page)


def test_the_header_of_the_other_pages_keeps_the_galaxy(page, live_server, store) -> None:
    two_galaxies(store)
    base = live_server(store)
    system_id = store.system_by_name(ODD_GALAXY, "Beacon Rim")["id"]
    pages = {"nav-home": "/", "nav-map": "/map.html", "nav-add": "/wizard.html"}

    def header_keeps_the_galaxy() -> None:
        for link_id, path in pages.items():
            link = page.locator(f"#{link_id}")
            expect(link).to_have_attribute("href", f"{path}?galaxy={ODD_ENCODED}")
            href = link.get_attribute("href")
            assert urlsplit(href).path == path and query_of(href) == {"galaxy": [ODD_GALAXY]}

    for url in (f"/map.html?galaxy={ODD_ENCODED}", f"/wizard.html?galaxy={ODD_ENCODED}"):
        page.goto(base + url)
        header_keeps_the_galaxy()
    expect(page.locator("#back-link")).to_have_attribute("href", f"/?galaxy={ODD_ENCODED}")  # the wizard's way back
    # Without ?galaxy= the system page names the galaxy the system belongs to.
    page.goto(f"{base}/system.html?id={system_id}")
    expect(page.locator("#system-panel")).to_contain_text("Beacon Rim")
    header_keeps_the_galaxy()

    page.locator("#nav-home").click()
    expect(status(page)).to_have_text("Page 1 of 2 (121 total)")
    assert url_params(page)["galaxy"] == [ODD_GALAXY]

    # Without a galaxy in the URL the header links stay plain.
    page.goto(base + "/wizard.html")
    for link_id, path in pages.items():
        expect(page.locator(f"#{link_id}")).to_have_attribute("href", path)
    no_script_ran(page)


def test_add_system_from_another_galaxy_creates_it_there(page, live_server, store) -> None:
    two_galaxies(store)
    base = live_server(store)
    open_control_room(page, base, f"?galaxy={ODD_ENCODED}")
    expect(status(page)).to_have_text("Page 1 of 2 (121 total)")

    page.locator("#add-system").click()
    expect(page.locator("#title")).to_have_text(f"New system in “{ODD_GALAXY}”")
    page.locator('[data-field="name"]').fill("Newcomer")
    for axis in "xyz":
        page.locator(f'[data-field="{axis}"]').fill("2")
    page.locator('.steps button[data-step="review"]').click()
    expect(page.locator("#review")).to_contain_text(f"Saving adds this system to “{ODD_GALAXY}”.")
    page.locator("#save").click()
    expect(page.locator("#saved .message")).to_have_text("Created “Newcomer” (version 1).")
    assert store.system_by_name(ODD_GALAXY, "Newcomer")["galaxy"] == ODD_GALAXY
    with pytest.raises(NotFound):
        store.system_by_name(GALAXY, "Newcomer")
    assert url_params(page)["galaxy"] == [ODD_GALAXY]

    page.locator("#saved").get_by_role("link", name="Back to Control Room").click()
    expect(status(page)).to_have_text("Page 1 of 2 (122 total)")
    expect(page.locator("#galaxy")).to_have_value(ODD_GALAXY)
    no_script_ran(page)


def test_an_unknown_galaxy_in_the_url_is_named_plainly(page, live_server, store) -> None:
    two_galaxies(store)
    base = live_server(store)
    # The name is markup, to show it stays text.
    open_control_room(page, base, "?galaxy=" + quote(XSS, safe=""))
    missing = page.locator("#galaxy-missing")
    expect(missing).to_be_visible()
    expect(missing.locator(".message")).to_have_text(f"There is no galaxy named “{XSS}” in this database.")
    expect(status(page)).to_have_text(f"No galaxy named “{XSS}”.")
    expect(page.locator("#rows td.empty")).to_have_text("Nothing to show.")
    expect(page.locator("#error-banner")).to_be_hidden()
    expect(page.locator("#download-button")).to_be_disabled()
    expect(page.locator("#galaxy-field")).to_be_visible()
    expect(page.locator("#galaxy")).to_have_value(XSS)
    expect(page.locator("#galaxy option:checked")).to_have_text(f"{XSS} (not found)")

    # A real galaxy from the picker clears the message.
    page.locator("#galaxy").select_option(ODD_GALAXY)
    expect(status(page)).to_have_text("Page 1 of 2 (121 total)")
    expect(missing).to_be_hidden()
    expect(page.locator("#download-button")).to_be_enabled()
    assert [o for o in page.locator("#galaxy option").all_text_contents() if "not found" in o] == []

    # The message also offers the way back to the server's galaxy.
    page.goto(f"{base}/?galaxy=Nowhere")
    expect(status(page)).to_have_text("No galaxy named “Nowhere”.")
    page.locator("#galaxy-missing").get_by_role("link", name="Show the server's galaxy").click()
    expect(status(page)).to_have_text("Page 1 of 1 (6 total)")
    assert "galaxy" not in url_params(page)
    no_script_ran(page)


# -- delete, undo, add and edit: full round trips -------------------------------------------


def test_delete_asks_in_the_page_and_undo_brings_the_system_back(page, live_server, store) -> None:
    create(store, name="Alpha", region="Near")
    beta = create(store, name="Beta", region="Near", planets=[{"name": "Beta I", "moons": [{"name": "Beta I a"}]}])
    create(store, name="Gamma", region="Far")
    base = live_server(store)
    open_control_room(page, base)
    expect(status(page)).to_have_text("Page 1 of 1 (3 total)")

    row(page, "Beta").get_by_role("button", name="Delete Beta").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#delete-message")).to_have_text("Delete “Beta” with its planets, moons and space station?")
    page.locator("#delete-cancel").click()
    expect(dialog).to_be_hidden()
    assert store.system(beta["id"])["name"] == "Beta"
    expect(row(page, "Beta")).to_have_count(1)

    row(page, "Beta").get_by_role("button", name="Delete Beta").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#notice .message")).to_have_text("Deleted “Beta”.")
    expect(status(page)).to_have_text("Page 1 of 1 (2 total)")
    expect(row(page, "Beta")).to_have_count(0)
    with pytest.raises(NotFound):
        store.system(beta["id"])
    history = httpx.get(f"{base}/api/v1/systems/{beta['id']}/history").json()["items"]
    assert history[0]["op"] == "delete"

    page.locator("#undo").click()
    expect(page.locator("#notice .message")).to_have_text("Restored “Beta”.")
    expect(status(page)).to_have_text("Page 1 of 1 (3 total)")
    expect(row(page, "Beta")).to_have_count(1)
    assert row(page, "Beta").get_attribute("data-id") == str(beta["id"])
    restored = store.system(beta["id"])
    assert restored["planets"][0]["moons"][0]["name"] == "Beta I a"
    assert restored["region"] == "Near"
    no_script_ran(page)


def test_delete_of_a_changed_system_is_refused_plainly(page, live_server, store) -> None:
    target = create(store, name="Moving")
    base = live_server(store)
    open_control_room(page, base)
    store.patch(target["id"], SystemPatch(fauna="Rich"))
    row(page, "Moving").get_by_role("button", name="Delete Moving").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#notice")).to_contain_text("was changed by someone else")
    assert store.system(target["id"])["fauna"] == "Rich"
    no_script_ran(page)


def test_keyboard_focus_goes_to_undo_after_a_delete_and_to_the_row_after_undo(page, live_server, store) -> None:
    """The focused Delete button goes with its row; focus must not fall back to <body>."""
    create(store, name="Alpha")
    beta = create(store, name="Beta")
    create(store, name="Gamma")
    base = live_server(store)
    open_control_room(page, base)
    expect(status(page)).to_have_text("Page 1 of 1 (3 total)")

    row(page, "Beta").get_by_role("button", name="Delete Beta").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#delete-dialog")).to_be_visible()
    page.locator("#delete-confirm").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notice .message")).to_have_text("Deleted “Beta”.")
    expect(status(page)).to_have_text("Page 1 of 1 (2 total)")
    expect(page.locator("#undo")).to_be_focused()

    page.keyboard.press("Enter")  # Undo, from the keyboard
    expect(page.locator("#notice .message")).to_have_text("Restored “Beta”.")
    expect(status(page)).to_have_text("Page 1 of 1 (3 total)")
    restored = page.locator(f'#rows tr[data-id="{beta["id"]}"]')
    expect(restored).to_be_focused()
    page.keyboard.press("Tab")  # on from the row: its first action
    expect(restored.get_by_role("link", name="View Beta")).to_be_focused()
    no_script_ran(page)


def test_keyboard_focus_stays_on_the_page_when_a_delete_is_refused(page, live_server, store) -> None:
    gone = create(store, name="Gone Soon")
    moving = create(store, name="Moving")
    create(store, name="Staying")
    base = live_server(store)
    open_control_room(page, base)
    expect(status(page)).to_have_text("Page 1 of 1 (3 total)")

    store.delete(gone["id"])  # someone else deletes it first: its row goes, so the table gets focus
    row(page, "Gone Soon").get_by_role("button", name="Delete Gone Soon").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#notice .message")).to_have_text("“Gone Soon” is already gone.")
    expect(status(page)).to_have_text("Page 1 of 1 (2 total)")
    expect(page.locator("#systems")).to_be_focused()

    store.patch(moving["id"], SystemPatch(fauna="Rich"))  # changed meanwhile: refused, the row stays
    row(page, "Moving").get_by_role("button", name="Delete Moving").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#notice")).to_contain_text("was changed by someone else")
    expect(page.locator(f'#rows tr[data-id="{moving["id"]}"]')).to_be_focused()
    no_script_ran(page)


def test_add_and_edit_through_the_wizard_from_the_control_room(page, live_server, store) -> None:
    create(store, name="Existing", region="Home")
    base = live_server(store)
    open_control_room(page, base, "?region=Home")

    page.locator("#add-system").click()
    expect(page.locator("#title")).to_have_text("New system")
    page.locator('[data-field="name"]').fill("New Hope")
    page.locator('[data-field="region"]').fill("Home")
    page.locator('[data-field="x"]').fill("12.5")
    page.locator('[data-field="y"]').fill("-3")
    page.locator('[data-field="z"]').fill("0")
    page.locator('.steps button[data-step="planets"]').click()
    page.locator("#add-planet").click()
    page.locator('[data-field="planets[0].name"]').fill("Hope I")
    page.get_by_role("button", name="Add moon").click()
    page.locator('[data-field="planets[0].moons[0].name"]').fill("Hope I a")
    page.locator('[data-field="planets[0].moons[0].orbit_radius"]').fill("1.5")
    page.locator('.steps button[data-step="review"]').click()
    page.locator("#save").click()
    expect(page.locator("#saved .message")).to_have_text("Created “New Hope” (version 1).")
    stored = store.system_by_name(GALAXY, "New Hope")
    assert (stored["x"], stored["y"], stored["z"], stored["region"]) == (12.5, -3.0, 0.0, "Home")
    assert stored["planets"][0]["moons"][0]["orbit_radius"] == 1.5

    page.locator("#saved").get_by_role("link", name="Back to Control Room").click()
    expect(status(page)).to_have_text("Page 1 of 1 (2 total)")
    assert url_params(page)["region"] == ["Home"]
    expect(row(page, "New Hope")).to_have_count(1)

    row(page, "New Hope").get_by_role("link", name="Edit New Hope").click()
    expect(page.locator("#title")).to_have_text("Edit “New Hope”")
    page.locator('[data-field="region"]').fill("Away")
    page.locator('[data-field="name"]').press("Control+s")
    expect(page.locator("#saved .message")).to_have_text("Saved “New Hope” (version 2).")
    assert store.system(stored["id"])["region"] == "Away"
    page.locator("#back-link").click()
    expect(status(page)).to_have_text("Page 1 of 1 (1 total)")
    page.locator("#region").select_option("Away")
    expect(row(page, "New Hope")).to_have_count(1)
    no_script_ran(page)


# -- user text stays text --------------------------------------------------------------------


def test_markup_in_names_shows_as_text_everywhere(page, live_server, store) -> None:
    evil = create(store, name=XSS, region=XSS, planets=[{"name": XSS, "moons": [{"name": XSS}]}])
    create(store, name="Plain", region="Quiet")
    base = live_server(store)

    open_control_room(page, base)
    expect(row(page, XSS)).to_have_count(1)
    expect(row(page, XSS).locator("td.region")).to_have_text(XSS)
    assert f"{XSS} (1)" in page.locator("#region option").all_text_contents()

    page.locator("#region").select_option(XSS)
    expect(status(page)).to_have_text("Page 1 of 1 (1 total)")
    expect(row(page, XSS)).to_have_count(1)

    page.locator("#search").fill("<img")
    page.locator("#search").press("Enter")
    expect(status(page)).to_have_text("Results 1–1 for “<img” in every region")
    expect(row(page, XSS)).to_have_count(1)

    row(page, XSS).get_by_role("button", name=f"Delete {XSS}").click()
    expect(page.locator("#delete-message")).to_have_text(f"Delete “{XSS}” with its planets, moons and space station?")
    page.locator("#delete-cancel").click()

    page.locator("#map-button").click()
    assert page.locator("#map-page").get_attribute("href") == f"/map.html?ids={evil['id']}"
    page.keyboard.press("Escape")
    page.locator("#region").select_option(XSS)
    page.locator("#map-button").click()
    assert page.locator("#map-region").get_attribute("href") == "/map.html?region=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
    page.keyboard.press("Escape")
    no_script_ran(page)

    open_wizard(page, base, evil["id"])
    expect(page.locator("#title")).to_have_text(f"Edit “{XSS}”")
    expect(page.locator('[data-field="name"]')).to_have_value(XSS)
    page.locator('.steps button[data-step="review"]').click()
    expect(page.locator("#review")).to_contain_text(f"{XSS} — 1 moon: {XSS}")
    no_script_ran(page)


# -- errors ------------------------------------------------------------------------------------


def test_unreachable_or_failing_api_shows_a_plain_banner(page, stars: str) -> None:
    page.route("**/api/v1/systems?**", lambda route: route.abort())
    open_control_room(page, stars)
    banner = page.locator("#error-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("cannot be reached")
    expect(status(page)).to_have_text("The systems could not be loaded.")

    page.unroute("**/api/v1/systems?**")
    page.route(
        "**/api/v1/systems?**",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body='{"error": {"code": "store_unavailable", "message": "the database is busy", "field": null}}',
        ),
    )
    page.locator("#retry").click()
    expect(banner).to_contain_text("The server answered 503: the database is busy")

    page.unroute("**/api/v1/systems?**")
    page.locator("#retry").click()
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    expect(banner).to_be_hidden()
    no_script_ran(page)


def test_try_again_after_a_failed_start_brings_back_the_regions_and_the_galaxy_picker(
    page, live_server, store
) -> None:
    """The server is down while the page loads: Try again must ask for everything, not just the table."""
    two_galaxies(store)
    base = live_server(store)
    page.route("**/api/**", lambda route: route.abort())
    open_control_room(page, base)
    banner = page.locator("#error-banner")
    expect(banner).to_contain_text("cannot be reached")
    expect(status(page)).to_have_text("The systems could not be loaded.")
    expect(page.locator("#galaxy-field")).to_be_hidden()
    expect(page.locator("#region option")).to_have_text(["All regions"])

    page.unroute("**/api/**")
    page.locator("#retry").click()
    expect(status(page)).to_have_text("Page 1 of 1 (6 total)")
    expect(banner).to_be_hidden()
    expect(page.locator("#region option")).to_have_text(["All regions", "Near (6)"])
    expect(page.locator("#galaxy-field")).to_be_visible()
    expect(page.locator("#galaxy option")).to_have_text([f"{GALAXY} (6)", f"{ODD_GALAXY} (121)"])
    expect(page.locator("#galaxy")).to_have_value(GALAXY)
    no_script_ran(page)


def test_a_cursor_that_no_longer_reads_starts_again(page, stars: str) -> None:
    open_control_room(page, stars, "?cursor=not-a-real-cursor")
    expect(status(page)).to_have_text("Page 1 of 3 (250 total)")
    assert "cursor" not in url_params(page)


def test_an_empty_galaxy_invites_the_first_system(page, live_server, store) -> None:
    open_control_room(page, live_server(store))
    expect(status(page)).to_have_text("Page 1 of 1 (0 total)")
    expect(page.locator("#rows td.empty")).to_contain_text("No systems yet.")
    expect(page.locator("#rows td.empty a")).to_have_attribute("href", "/wizard.html")


# -- served by `haven serve` --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_haven_serve_serves_the_control_room_and_wizard(page, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "haven.cli", "serve", "--port", str(port), "--database", str(tmp_path / "haven.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "haven serve did not start"
            time.sleep(0.1)
        for path in ("/", "/wizard.html", "/static/css/haven.css", "/static/js/control-room.js", "/static/js/wizard.js"):
            assert httpx.get(base + path).status_code == 200, path
        assert "javascript" in httpx.get(f"{base}/static/js/wizard.js").headers["content-type"]

        open_control_room(page, base)
        expect(status(page)).to_have_text("Page 1 of 1 (0 total)")
        page.locator("#add-system").click()
        expect(page.locator("#title")).to_have_text("New system")
        page.locator('[data-field="name"]').fill("Served")
        for axis in "xyz":
            page.locator(f'[data-field="{axis}"]').fill("1")
        page.locator('.steps button[data-step="review"]').click()
        page.locator("#save").click()
        expect(page.locator("#saved .message")).to_have_text("Created “Served” (version 1).")
        page.goto(f"{base}/")
        expect(status(page)).to_have_text("Page 1 of 1 (1 total)")
        no_script_ran(page)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_undo_of_a_delete_someone_else_already_undid_changes_nothing(page, live_server, store) -> None:
    target = create(store, name="Twice", fauna="Before")
    store.patch(target["id"], SystemPatch(fauna="Edited"))  # an earlier change, recorded
    base = live_server(store)
    open_control_room(page, base)
    row(page, "Twice").get_by_role("button", name="Delete Twice").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#notice .message")).to_have_text("Deleted “Twice”.")
    back = store.undo(target["id"])["system"]  # someone else brings it back first

    page.locator("#undo").click()
    expect(page.locator("#notice")).to_contain_text("“Twice” was not restored: it changed after you deleted it")
    assert store.system(target["id"]) == back and back["fauna"] == "Edited"  # the earlier edit is not undone
    no_script_ran(page)
