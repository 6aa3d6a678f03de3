"""The System Entry Wizard (``/wizard.html``) in a real browser against a real server.

Most tests share one server; each works on systems with its own names, and checks
what the store holds after every save.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from haven.errors import NotFound
from haven.ingest.bulk import generate_galaxy
from haven.model import SystemIn, SystemPatch

from webhelpers_cr import base_fixture, store_fixture  # noqa: F401 (the modules' base and store)
from webhelpers_cr import (
    total,
    fill_system,
    GALAXY,
    XSS,
    create,
    current_step,
    expect_saved,
    field,
    field_error,
    no_script_ran,
    open_wizard,
    save,
    show_more,
    step,
)


# -- creating ---------------------------------------------------------------------------


def test_create_a_system_with_planets_moons_and_station(page, base: str, store) -> None:
    open_wizard(page, base)
    expect(page.locator("#title")).to_have_text("New system")
    expect(current_step(page)).to_have_attribute("data-step", "system")
    expect(field(page, "name")).to_be_focused()
    fill_system(page, "Wizard Made", x="-8190.5", y="3", z="12", region="Vesper Reach")
    show_more(page, "More about this system")
    field(page, "materials").fill("Copper, Gold")

    # Enter moves to the next step.
    field(page, "z").press("Enter")
    expect(current_step(page)).to_have_attribute("data-step", "planets")
    expect(page.locator("#planets")).to_have_text("No planets yet.")
    page.locator("#add-planet").click()
    expect(field(page, "planets[0].name")).to_be_focused()
    page.keyboard.type("First")
    page.locator("#add-planet").click()
    field(page, "planets[1].name").fill("Second")
    page.locator('[data-add-moon="0"]').click()
    expect(field(page, "planets[0].moons[0].name")).to_be_focused()
    page.keyboard.type("First a")
    field(page, "planets[0].moons[0].orbit_radius").fill("1.5")
    field(page, "planets[0].moons[0].orbit_speed").fill("0.2")
    page.locator('[data-add-moon="0"]').click()
    field(page, "planets[0].moons[1].name").fill("Dropped moon")
    page.get_by_role("button", name="Remove moon 2 of planet 1").click()
    page.locator('[data-add-moon="1"]').click()
    field(page, "planets[1].moons[0].name").fill("Second a")
    show_more(page, "More about this planet", nth=1)
    field(page, "planets[1].notes").fill("Ringed")

    page.locator("#step-next").click()
    expect(current_step(page)).to_have_attribute("data-step", "station")
    expect(page.locator("#station-fields")).to_have_text("No space station.")
    page.locator("#has-station").check()
    expect(field(page, "space_station.name")).to_be_focused()
    page.keyboard.type("Hub")
    field(page, "space_station.race").fill("Gek")
    field(page, "space_station.sell_percent").fill("40")

    page.locator("#step-next").click()
    expect(current_step(page)).to_have_attribute("data-step", "review")
    review = page.locator("#review")
    expect(review).to_contain_text("Wizard Made")
    expect(review).to_contain_text("First — 1 moon: First a")
    expect(review).to_contain_text("Second — 1 moon: Second a")
    expect(page.locator("#review-station")).to_have_text("Hub — Gek")
    page.locator("#save").click()
    expect_saved(page, r"^Created “Wizard Made” \(version 1\)\.$")

    stored = store.system_by_name(GALAXY, "Wizard Made")
    assert (stored["x"], stored["y"], stored["z"]) == (-8190.5, 3.0, 12.0)
    assert stored["region"] == "Vesper Reach" and stored["materials"] == "Copper, Gold"
    assert stored["fauna"] is None
    assert [p["name"] for p in stored["planets"]] == ["First", "Second"]
    moon = stored["planets"][0]["moons"][0]
    assert (moon["name"], moon["orbit_radius"], moon["orbit_speed"]) == ("First a", 1.5, 0.2)
    assert [m["name"] for m in stored["planets"][1]["moons"]] == ["Second a"]
    assert stored["planets"][1]["notes"] == "Ringed"
    station = stored["space_station"]
    assert (station["name"], station["race"], station["sell_percent"]) == ("Hub", "Gek", 40.0)
    assert (station["x"], station["y"], station["z"]) == (None, None, None)

    # The wizard now edits what it created: the URL names it, the next save replaces it.
    assert f"id={stored['id']}" in page.url
    expect(page.locator("#title")).to_have_text("Edit “Wizard Made”")
    step(page, "station")
    page.locator("#has-station").uncheck()
    save(page)
    expect_saved(page, r"^Saved “Wizard Made” \(version 2\)\.$")
    assert store.system(stored["id"])["space_station"] is None
    no_script_ran(page)


# -- validation ---------------------------------------------------------------------------


def test_server_errors_appear_next_to_the_field_they_name(page, base: str, store) -> None:
    before = total(store)
    open_wizard(page, base)
    fill_system(page, "")
    save(page)
    # Back on the first step, the message under the name, the name focused.
    expect(current_step(page)).to_have_attribute("data-step", "system")
    expect(field_error(page, "name")).to_have_text("Must not be empty")
    expect(field(page, "name")).to_be_focused()
    expect(field(page, "name")).to_have_attribute("aria-invalid", "true")
    assert total(store) == before

    field(page, "name").fill("Valid Name Check")
    expect(field_error(page, "name")).to_be_hidden()
    step(page, "planets")
    page.locator("#add-planet").click()
    field(page, "planets[0].name").fill("Rocky")
    page.locator('[data-add-moon="0"]').click()
    field(page, "planets[0].moons[0].name").fill("Pebble")
    page.locator('[data-add-moon="0"]').click()
    field(page, "planets[0].moons[1].name").fill("Stone")
    field(page, "planets[0].moons[1].orbit_radius").fill("far away")
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "planets")
    radius = field(page, "planets[0].moons[1].orbit_radius")
    expect(radius).to_be_focused()
    expect(field_error(page, "planets[0].moons[1].orbit_radius")).to_have_text("Must be a number, not text")
    expect(field_error(page, "planets[0].moons[0].orbit_radius")).to_be_hidden()
    assert total(store) == before

    radius.fill("2.5")
    step(page, "station")
    page.locator("#has-station").check()
    field(page, "space_station.name").fill("Trade Post")
    field(page, "space_station.sell_percent").fill("1500")
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "station")
    expect(field(page, "space_station.sell_percent")).to_be_focused()
    expect(field_error(page, "space_station.sell_percent")).to_have_text("Sell percent must be between -100 and 1000.")
    assert total(store) == before

    # A taken name is the server's 409 "conflict": shown at the name too.
    create(store, name="Already Here")
    field(page, "space_station.sell_percent").fill("55")
    step(page, "system")
    field(page, "name").fill("Already Here")
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "system")
    expect(field_error(page, "name")).to_contain_text("already exists")
    assert total(store) == before + 1

    field(page, "name").fill("Valid Name Check")
    save(page)
    expect_saved(page, r"^Created “Valid Name Check” \(version 1\)\.$")
    stored = store.system_by_name(GALAXY, "Valid Name Check")
    assert stored["planets"][0]["moons"][1]["orbit_radius"] == 2.5
    assert stored["space_station"]["sell_percent"] == 55.0
    no_script_ran(page)


def test_duplicate_planet_names_are_reported_on_the_planet_list(page, base: str, store) -> None:
    open_wizard(page, base)
    fill_system(page, "Twin Planets")
    step(page, "planets")
    page.locator("#add-planet").click()
    field(page, "planets[0].name").fill("Same")
    page.locator("#add-planet").click()
    field(page, "planets[1].name").fill("Same")
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "planets")
    expect(field_error(page, "planets")).to_contain_text("names must be unique")
    with pytest.raises(NotFound):
        store.system_by_name(GALAXY, "Twin Planets")


# -- editing ------------------------------------------------------------------------------


def test_a_stale_edit_is_refused_and_the_current_version_can_be_reloaded(page, base: str, store) -> None:
    original = create(store, name="Contested", fauna="Sparse", flora="Lush")
    open_wizard(page, base, original["id"])
    expect(field(page, "name")).to_have_value("Contested")
    show_more(page, "More about this system")
    field(page, "fauna").fill("Mine")

    store.patch(original["id"], SystemPatch(flora="Theirs"))  # behind the wizard's back
    save(page)
    dialog = page.locator("#conflict-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#conflict-message")).to_have_text(
        "You started from version 1; the system is now at version 2."
    )
    page.locator("#conflict-keep").click()
    expect(page.locator("#save-error")).to_contain_text("Not saved")
    assert store.system(original["id"])["fauna"] == "Sparse"
    assert store.system(original["id"])["flora"] == "Theirs"

    page.locator("#reload-current").click()
    expect(page.locator("#notice")).to_contain_text("Loaded the current version (2)")
    step(page, "system")
    expect(field(page, "flora")).to_have_value("Theirs")
    expect(field(page, "fauna")).to_have_value("Sparse")

    field(page, "fauna").fill("Mine")
    save(page)
    expect_saved(page, r"^Saved “Contested” \(version 3\)\.$")
    now = store.system(original["id"])
    assert (now["fauna"], now["flora"], now["version"]) == ("Mine", "Theirs", 3)

    # Again, answering the dialog with "reload" straight away.
    store.patch(original["id"], SystemPatch(fauna="Changed again"))
    step(page, "system")
    field(page, "flora").fill("Mine too")
    save(page)
    page.locator("#conflict-reload").click()
    expect(page.locator("#notice")).to_contain_text("Loaded the current version (4)")
    step(page, "system")
    expect(field(page, "fauna")).to_have_value("Changed again")
    assert store.system(original["id"])["flora"] == "Theirs"
    no_script_ran(page)


def test_editing_keeps_extra_fields_at_every_level(page, base: str, store) -> None:
    extra_system = {"legacy_colour": "teal", "nested": {"a": [1, 2, {"b": None}]}}
    extra_planet = {"biome": "lava", "score": 7}
    extra_moon = {"tidal_lock": True}
    extra_station = {"docking_bays": 12}
    original = create(
        store,
        name="Keeper",
        legacy_id="K-1",
        extra=extra_system,
        planets=[
            {
                "name": "Keeper I",
                "notes": "",
                "extra": extra_planet,
                "moons": [{"name": "Keeper I a", "orbit_radius": 3, "extra": extra_moon}],
            }
        ],
        space_station={"name": "Keeper Hub", "sell_percent": 12.5, "extra": extra_station},
    )
    open_wizard(page, base, original["id"])
    kept = page.locator("#system-fields .kept")
    expect(kept).to_contain_text("Other fields kept as-is")
    expect(kept).to_contain_text("legacy_colour")
    expect(kept).to_contain_text('{"a":[1,2,{"b":null}]}')
    expect(page.locator("#system-fields")).to_contain_text("Original id: K-1 (kept)")

    step(page, "planets")
    expect(page.locator("fieldset.planet > .kept")).to_contain_text("biome")
    expect(page.locator("fieldset.moon .kept")).to_contain_text("tidal_lock")
    field(page, "planets[0].moons[0].name").fill("Keeper I b")
    step(page, "station")
    expect(page.locator("#station-fields .kept")).to_contain_text("docking_bays")
    step(page, "review")
    expect(page.locator("#review")).to_contain_text("Other fields kept as-is: 6")
    page.locator("#save").click()
    expect_saved(page, r"^Saved “Keeper” \(version 2\)\.$")

    now = store.system(original["id"])
    assert now["extra"] == extra_system
    assert now["planets"][0]["extra"] == extra_planet
    assert now["planets"][0]["notes"] == ""  # untouched values go back exactly as they were
    assert now["planets"][0]["moons"][0]["extra"] == extra_moon
    assert now["planets"][0]["moons"][0]["name"] == "Keeper I b"
    assert now["planets"][0]["moons"][0]["orbit_radius"] == 3.0
    assert now["space_station"]["extra"] == extra_station
    assert now["space_station"]["sell_percent"] == 12.5
    assert now["legacy_id"] == "K-1"
    no_script_ran(page)


def test_editing_keeps_numbers_in_extra_exactly(page, base: str, store) -> None:
    """Integers past 2^53 (chat ids in legacy files), 64-bit limits and 1.0 go back as stored."""
    extra_system = {"discord_user_id": 412345678901234567, "low": -(2**63), "ratio": 1.0, "list": [9007199254740993]}
    extra_station = {"sbig": 2**63 - 1}
    original = create(store, name="Exact Keeper", extra=extra_system,
                      space_station={"name": "Exact Hub", "extra": extra_station})
    open_wizard(page, base, original["id"])
    kept = page.locator("#system-fields .kept")
    expect(kept).to_contain_text("412345678901234567")
    expect(kept).to_contain_text("[9007199254740993]")
    show_more(page, "More about this system")
    field(page, "fauna").fill("Rich")
    save(page)
    expect_saved(page, r"^Saved “Exact Keeper” \(version 2\)\.$")
    now = store.system(original["id"])
    assert now["fauna"] == "Rich"
    assert now["extra"] == extra_system and isinstance(now["extra"]["ratio"], float)
    assert now["space_station"]["extra"] == extra_station
    no_script_ran(page)


def test_a_generated_system_can_be_edited_and_its_details_are_stored(page, base: str, store) -> None:
    generate_galaxy(store, "Procgen", 3, seed=7)
    system_id = store.page("Procgen", limit=1).items[0]["id"]
    derived = store.system(system_id)
    assert derived["derived"] is True and derived["planets"]

    open_wizard(page, base, system_id)
    expect(page.locator("#derived-note")).to_be_visible()
    step(page, "planets")
    expect(page.locator("fieldset.planet")).to_have_count(len(derived["planets"]))
    field(page, "planets[0].name").fill("Renamed World")
    save(page)
    expect_saved(page, r"\(version 2\)\.$")
    expect(page.locator("#derived-note")).to_be_hidden()

    now = store.system(system_id)
    assert now["derived"] is False
    assert now["planets"][0]["name"] == "Renamed World"
    assert [p["name"] for p in now["planets"][1:]] == [p["name"] for p in derived["planets"][1:]]
    assert [len(p["moons"]) for p in now["planets"]] == [len(p["moons"]) for p in derived["planets"]]
    assert now["planets"][0]["moons"] == [
        {**m, "id": now["planets"][0]["moons"][i]["id"]} for i, m in enumerate(derived["planets"][0]["moons"])
    ]
    assert (now["space_station"] is None) == (derived["space_station"] is None)
    assert now["galaxy"] == "Procgen"
    no_script_ran(page)


# -- undo ------------------------------------------------------------------------------------


def test_undo_last_change_after_an_edit_and_after_a_create(page, base: str, store) -> None:
    original = create(store, name="Undoable", fauna="Before")
    open_wizard(page, base, original["id"])
    show_more(page, "More about this system")
    field(page, "fauna").fill("After")
    save(page)
    expect_saved(page, r"^Saved “Undoable” \(version 2\)\.$")
    assert store.system(original["id"])["fauna"] == "After"

    page.locator("#undo-last").click()
    expect(page.locator("#saved .message")).to_contain_text("Undone: “Undoable” is back as it was before your change")
    assert store.system(original["id"])["fauna"] == "Before"
    step(page, "system")
    expect(field(page, "fauna")).to_have_value("Before")
    expect(page.locator("#undo-last")).to_have_count(0)

    # Undoing a creation removes the system; the form keeps it for another try.
    open_wizard(page, base)
    fill_system(page, "Short Lived")
    save(page)
    expect_saved(page, r"^Created “Short Lived” \(version 1\)\.$")
    created_id = store.system_by_name(GALAXY, "Short Lived")["id"]
    page.locator("#undo-last").click()
    expect(page.locator("#saved .message")).to_have_text(
        "Undone: “Short Lived” was removed again. The form still holds it; save to add it again."
    )
    with pytest.raises(NotFound):
        store.system(created_id)
    assert "id=" not in page.url
    expect(page.locator("#title")).to_have_text("New system")
    page.locator("#save").click()
    expect_saved(page, r"^Created “Short Lived” \(version 1\)\.$")
    assert store.system_by_name(GALAXY, "Short Lived")["name"] == "Short Lived"
    no_script_ran(page)


# -- URLs and odd cases ------------------------------------------------------------------------


def test_the_step_is_in_the_url_and_back_goes_where_the_wizard_was_opened_from(page, base: str, store) -> None:
    target = create(store, name="Stepper", space_station={"name": "Stepper Hub"})
    open_wizard(page, base, target["id"], "&back=%2F%3Fregion%3DX#station")
    expect(current_step(page)).to_have_attribute("data-step", "station")
    expect(page.locator("#has-station")).to_be_checked()
    expect(field(page, "space_station.name")).to_have_value("Stepper Hub")
    assert page.locator("#back-link").get_attribute("href") == "/?region=X"
    step(page, "planets")
    assert page.url.endswith("#planets")

    # Only paths on this site are followed back.
    open_wizard(page, base, target["id"], "&back=https%3A%2F%2Fexample.com%2F")
    assert page.locator("#back-link").get_attribute("href") == "/"
    open_wizard(page, base, target["id"], "&back=%2F%2Fexample.com")
    assert page.locator("#back-link").get_attribute("href") == "/"


@pytest.mark.parametrize(
    "back",
    [
        "%2F%09%2Fevil.example%2Fphish",  # "/<tab>/evil.example/phish": the URL parser drops the tab
        "%2F%0A%2Fevil.example%2Fphish",  # a newline, likewise
        "%2F%0D%2Fevil.example%2Fx",  # a carriage return, likewise
        "%2F%5Cevil.example",  # "/" then a backslash: the URL parser reads it as "//"
        "%5C%5Cevil.example",
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example%2F",
        "javascript%3Aalert(1)",
        "%2F.%2F%2Fevil.example%2Fx",  # "/.//evil.example/x": the dot segment collapses to "//evil.example"
        "%2F..%2F%2Fevil.example",
        "%2F%252e%2F%2Fevil.example",  # "/%2e//evil.example"
    ],
)
def test_back_never_leads_to_another_site(page, base: str, store, back: str) -> None:
    """Whatever ?back= holds, Back to Control Room stays on this site (the wizard resolves it first)."""
    open_wizard(page, base, extra=f"?back={back}")
    link = page.locator("#back-link")
    assert link.evaluate("a => a.href") == f"{base}/"
    step(page, "planets")  # the address the wizard writes does not keep the bad value either
    assert "evil" not in page.url and "javascript" not in page.url
    step(page, "system")
    fill_system(page, f"Back Check {len(back)} {back[:6]}")
    save(page)
    expect_saved(page, r"^Created “Back Check")
    for href in page.locator("#saved a", has_text="Back to Control Room").evaluate_all("links => links.map(a => a.href)"):
        assert href == f"{base}/"
    link.click()
    page.wait_for_url(f"{base}/")
    no_script_ran(page)


def test_back_keeps_a_path_query_and_hash_of_this_site(page, base: str, store) -> None:
    open_wizard(page, base, extra="?back=%2F%3Fq%3Dgold%26region%3DA%2520B%23top")
    assert page.locator("#back-link").get_attribute("href") == "/?q=gold&region=A%20B#top"
    open_wizard(page, base, extra=f"?back={base.replace(':', '%3A').replace('/', '%2F')}%2F%3Fregion%3DX")
    assert page.locator("#back-link").get_attribute("href") == "/?region=X"  # this site, written as a path


@pytest.mark.parametrize("text", ["0x1F", " 0x1F ", "0o17", "0b101", "Infinity", "1_000", "0x"])
def test_numbers_are_plain_decimal_text_anything_else_is_refused_by_the_server(page, base: str, store, text: str) -> None:
    """JavaScript's Number() reads 0x1F as 31; the wizard sends such text as typed, so the server refuses it."""
    before = total(store)
    open_wizard(page, base)
    fill_system(page, f"Hex Check {text.strip()}", x=text)
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "system")
    expect(field_error(page, "x")).to_have_text("Must be a number, not text")
    expect(field(page, "x")).to_be_focused()
    assert total(store) == before


def test_decimal_numbers_are_stored_as_numbers(page, base: str, store) -> None:
    open_wizard(page, base)
    fill_system(page, "Decimal Check", x=" 1.5e1 ", y=".5", z="-3.")
    step(page, "station")
    page.locator("#has-station").check()
    field(page, "space_station.name").fill("Decimal Post")
    field(page, "space_station.sell_percent").fill("+12.50")
    save(page)
    expect_saved(page, r"^Created “Decimal Check” \(version 1\)\.$")
    stored = store.system_by_name(GALAXY, "Decimal Check")
    assert (stored["x"], stored["y"], stored["z"]) == (15.0, 0.5, -3.0)
    assert stored["space_station"]["sell_percent"] == 12.5
    no_script_ran(page)


def test_unknown_or_malformed_ids_say_so(page, base: str) -> None:
    page.goto(f"{base}/wizard.html?id=987654321")
    expect(page.locator("#error-banner")).to_contain_text("There is no system with id 987654321")
    expect(page.locator("#wizard-form")).to_be_hidden()
    page.goto(f"{base}/wizard.html?id=abc")
    expect(page.locator("#error-banner")).to_contain_text("“abc” is not a system id")
    no_script_ran(page)


def test_a_system_deleted_while_editing_can_be_saved_as_new(page, base: str, store) -> None:
    doomed = create(store, name="Vanishing", region="Gone")
    open_wizard(page, base, doomed["id"])
    store.delete(doomed["id"])
    save(page)
    expect(page.locator("#save-error")).to_contain_text("This system no longer exists")
    page.locator("#save-as-new").click()
    expect_saved(page, r"^Created “Vanishing” \(version 1\)\.$")
    again = store.system_by_name(GALAXY, "Vanishing")
    assert again["region"] == "Gone"
    assert f"id={again['id']}" in page.url


def test_markup_in_user_text_stays_text_in_the_wizard(page, base: str, store) -> None:
    evil = create(
        store,
        name=f"{XSS} wizard",
        region=XSS,
        extra={XSS: XSS},
        planets=[{"name": XSS, "notes": XSS, "moons": [{"name": XSS}]}],
        space_station={"name": XSS, "race": XSS},
    )
    open_wizard(page, base, evil["id"])
    expect(page.locator("#title")).to_have_text(f"Edit “{XSS} wizard”")
    expect(field(page, "region")).to_have_value(XSS)
    expect(page.locator("#system-fields .kept dt")).to_have_text(XSS)
    step(page, "planets")
    expect(field(page, "planets[0].name")).to_have_value(XSS)
    expect(field(page, "planets[0].notes")).to_have_value(XSS)
    field(page, "planets[0].notes").fill(f"{XSS} again")  # a change, so Save sends the markup back
    step(page, "review")
    expect(page.locator("#review")).to_contain_text(f"{XSS} — 1 moon: {XSS}")
    expect(page.locator("#review-station")).to_have_text(f"{XSS} — {XSS}")
    page.locator("#save").click()
    expect_saved(page, "^" + re.escape(f"Saved “{XSS} wizard” (version 2).") + "$")
    assert httpx.get(f"{base}/api/v1/systems/{evil['id']}").json()["planets"][0]["name"] == XSS
    no_script_ran(page)


def test_undo_last_change_never_undoes_a_later_change_by_someone_else(page, base: str, store) -> None:
    original = create(store, name="Shared", fauna="Before")
    open_wizard(page, base, original["id"])
    show_more(page, "More about this system")
    field(page, "fauna").fill("Mine")
    save(page)
    expect_saved(page, r"^Saved “Shared” \(version 2\)\.$")
    store.patch(original["id"], SystemPatch(flora="Theirs", version=2))  # another editor, after the save

    page.locator("#undo-last").click()
    expect(page.locator("#saved")).to_contain_text("Not undone. It was changed after your save")
    now = store.system(original["id"])
    assert (now["fauna"], now["flora"], now["version"]) == ("Mine", "Theirs", 3)
    no_script_ran(page)


def test_a_system_of_another_galaxy_opened_by_id_links_back_to_its_galaxy(page, base: str, store) -> None:
    """No ?galaxy= in the link: the header, Back and the region suggestions follow the system."""
    store.ensure_galaxy("Andro")
    store.import_systems("Andro", [SystemIn(name="Andro One", x=1, y=2, z=3, region="Andro Reach")])
    system_id = store.system_by_name("Andro", "Andro One")["id"]
    open_wizard(page, base, system_id)
    expect(page.locator("#back-link")).to_have_attribute("href", "/?galaxy=Andro")
    expect(page.locator("#nav-home")).to_have_attribute("href", "/?galaxy=Andro")
    expect(page.locator("#region-list option")).to_have_count(1)
    assert page.locator("#region-list option").get_attribute("value") == "Andro Reach"
    no_script_ran(page)
