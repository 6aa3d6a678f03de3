"""The wizard shows every problem the server lists after one Save, each at its field.

The API answers a refused write with ``error.problems`` (every bad field); the wizard marks
them all, on whichever step each lives, and focuses the first. With one problem it behaves
as it always did. A number too large for the browser to hold (``1e400``) is caught before
sending, with a message that says so.
"""

from __future__ import annotations


from playwright.sync_api import expect

from webhelpers_cr import base_fixture, store_fixture  # noqa: F401 (the modules' base and store)
from webhelpers_cr import (
    total,
    fill_system,
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


def saves(page) -> list[str]:
    """Record the writes the page sends to the API (POST/PUT/PATCH)."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.method) if r.method in ("POST", "PUT", "PATCH") else None)
    return sent


def test_an_empty_name_and_position_show_four_messages_after_one_save(page, base: str, store) -> None:
    before = total(store)
    open_wizard(page, base)
    sent = saves(page)
    fill_system(page, "", x="", y="", z="")
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "system")
    expect(field_error(page, "name")).to_have_text("Must not be empty")
    for axis in ("x", "y", "z"):
        expect(field_error(page, axis)).to_have_text("Is required")
        expect(field(page, axis)).to_have_attribute("aria-invalid", "true")
    expect(field(page, "name")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "name")).to_be_focused()  # the first problem
    assert sent == ["POST"]  # one save
    assert total(store) == before

    # Fixing one clears its message only; the others stay until the next save.
    field(page, "x").fill("4")
    expect(field_error(page, "x")).to_be_hidden()
    expect(field_error(page, "y")).to_have_text("Is required")

    fill_system(page, "All Errors Fixed", x="4", y="5", z="6")
    save(page)
    expect_saved(page, r"^Created “All Errors Fixed” \(version 1\)\.$")
    for path in ("name", "x", "y", "z"):
        expect(field_error(page, path)).to_be_hidden()
    assert total(store) == before + 1
    no_script_ran(page)


def test_problems_on_several_steps_are_all_marked_and_the_first_step_opens(page, base: str, store) -> None:
    before = total(store)
    open_wizard(page, base)
    fill_system(page, "Two Steps", x="")
    show_more(page, "More about this system")
    field(page, "confidence").fill("1.5")
    step(page, "planets")
    page.locator("#add-planet").click()
    field(page, "planets[0].name").fill("Rocky")
    page.locator('[data-add-moon="0"]').click()
    field(page, "planets[0].moons[0].name").fill("Pebble")
    field(page, "planets[0].moons[0].orbit_radius").fill("far away")
    save(page)

    expect(current_step(page)).to_have_attribute("data-step", "system")
    expect(field(page, "x")).to_be_focused()
    expect(field_error(page, "x")).to_have_text("Is required")
    expect(field_error(page, "confidence")).to_have_text("Must be at most 1")
    expect(page.locator('.steps button[data-step="planets"]')).to_have_class("has-error")
    step(page, "planets")
    expect(field_error(page, "planets[0].moons[0].orbit_radius")).to_have_text("Must be a number, not text")
    assert total(store) == before


def test_one_problem_is_shown_as_before(page, base: str, store) -> None:
    open_wizard(page, base)
    fill_system(page, "One Problem", y="north")
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "system")
    expect(field_error(page, "y")).to_have_text("Must be a number, not text")
    expect(field(page, "y")).to_be_focused()
    for path in ("name", "x", "z"):
        expect(field_error(page, path)).to_be_hidden()


def test_a_number_too_large_says_so_before_anything_is_sent(page, base: str, store) -> None:
    before = total(store)
    open_wizard(page, base)
    sent = saves(page)
    fill_system(page, "Huge Number", x="1e400")
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "system")
    expect(field_error(page, "x")).to_contain_text("too large")
    expect(field_error(page, "x")).not_to_contain_text("not text")
    expect(field(page, "x")).to_be_focused()
    assert sent == []
    assert total(store) == before
