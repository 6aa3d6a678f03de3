"""The System Entry Wizard never loses a draft, checks its galaxy at once, puts the focus
where the user has to look, and does not save a system nobody changed.

Drafts live in the tab's sessionStorage, one per galaxy and system (or "new"); leaving
the page with unsaved changes asks first (``beforeunload``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from haven.model import SystemPatch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(HERE) not in sys.path:  # for the webhelpers_cr module
    sys.path.insert(0, str(HERE))

from webhelpers_cr import base_fixture, store_fixture  # noqa: F401 (the modules' base and store)
from webhelpers_cr import (
    fill_system,
    new_tab,
    GALAXY,
    XSS,
    create,
    current_step,
    expect_saved,
    field,
    field_error,
    no_script_ran,
    open_control_room,
    open_wizard,
    save,
    show_more,
    step,
)


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    """Like ``page``, but "leave this page?" (beforeunload) is answered "Leave", so reloads and Back go ahead."""
    with new_tab(browser, leave_pages=True) as t:
        yield t


def stored_drafts(page) -> list[str]:
    """The keys of the wizard drafts in the tab's sessionStorage."""
    return page.evaluate("Object.keys(sessionStorage).filter((k) => k.includes('wizard'))")


def asked_to_leave(page) -> int:
    return sum(1 for kind, _ in page.dialogs if kind == "beforeunload")


def no_page_errors(page) -> None:
    assert page.page_errors == []
    assert page.locator("img").count() == 0


# -- 1. drafts survive reload, Back and leaving ------------------------------------------------------


def test_a_half_filled_new_system_survives_a_reload(tab, base: str, store) -> None:
    open_wizard(tab, base)
    fill_system(tab, "Draft Survivor", x="4")
    step(tab, "planets")
    tab.locator("#add-planet").click()
    field(tab, "planets[0].name").fill(XSS)
    tab.locator('[data-add-moon="0"]').click()
    field(tab, "planets[0].moons[0].name").fill("Kept Moon")
    step(tab, "station")
    tab.locator("#has-station").check()
    field(tab, "space_station.name").fill("Kept Hub")
    step(tab, "planets")

    tab.reload()
    expect(tab.locator("#wizard-form")).to_be_visible()
    assert asked_to_leave(tab) == 1  # unsaved changes: the browser asked first
    expect(current_step(tab)).to_have_attribute("data-step", "planets")
    expect(field(tab, "planets[0].name")).to_have_value(XSS)
    expect(field(tab, "planets[0].moons[0].name")).to_have_value("Kept Moon")
    notice = tab.locator("#notice")
    expect(notice).to_contain_text("Restored your unsaved changes")
    expect(notice.get_by_role("button", name="Discard them")).to_be_visible()
    step(tab, "system")
    expect(field(tab, "name")).to_have_value("Draft Survivor")
    expect(field(tab, "x")).to_have_value("4")
    step(tab, "station")
    expect(tab.locator("#has-station")).to_be_checked()
    expect(field(tab, "space_station.name")).to_have_value("Kept Hub")
    assert tab.evaluate("localStorage.length") == 0  # nothing outlives the tab

    # A second reload still has it; saving ends the draft.
    tab.reload()
    expect(field(tab, "space_station.name")).to_have_value("Kept Hub")
    save(tab)
    expect_saved(tab, r"^Created “Draft Survivor” \(version 1\)\.$")
    assert stored_drafts(tab) == []
    stored = store.system_by_name(GALAXY, "Draft Survivor")
    assert stored["planets"][0]["name"] == XSS and stored["space_station"]["name"] == "Kept Hub"

    asked = asked_to_leave(tab)
    tab.reload()  # nothing unsaved: no question, no note
    expect(tab.locator("#title")).to_have_text("Edit “Draft Survivor”")
    expect(tab.locator("#notice")).to_be_hidden()
    assert asked_to_leave(tab) == asked
    tab.goto(f"{base}/wizard.html")
    expect(field(tab, "name")).to_have_value("")
    expect(tab.locator("#notice")).to_be_hidden()
    no_page_errors(tab)


def test_leaving_with_unsaved_changes_asks_first(page, base: str, store) -> None:
    """The ``page`` fixture answers the question with "Stay": the wizard keeps its draft."""
    open_wizard(page, base)
    page.locator("#back-link").click()  # nothing typed yet: leaves without a question
    page.wait_for_url(f"{base}/")
    assert page.dialogs == []

    open_wizard(page, base)
    field(page, "name").fill("Do Not Lose Me")
    with page.expect_event("dialog"):
        page.locator("#back-link").click()
    assert [kind for kind, _ in page.dialogs] == ["beforeunload"]
    assert "/wizard.html" in page.url
    expect(field(page, "name")).to_have_value("Do Not Lose Me")

    # Typing the old text back is no change: no question.
    field(page, "name").fill("")
    page.locator("#back-link").click()
    page.wait_for_url(f"{base}/")
    assert len(page.dialogs) == 1


def test_browser_back_keeps_the_draft_for_the_next_visit(tab, base: str, store) -> None:
    open_control_room(tab, base)
    tab.locator("#add-system").click()
    expect(tab.locator("#wizard-form")).to_be_visible()
    fill_system(tab, "Back And Forth")
    tab.go_back()
    tab.wait_for_url(f"{base}/")
    assert asked_to_leave(tab) == 1
    tab.locator("#add-system").click()  # a fresh load of the wizard, in the same tab
    expect(field(tab, "name")).to_have_value("Back And Forth")
    expect(tab.locator("#notice")).to_contain_text("Restored your unsaved changes")
    no_page_errors(tab)


def test_an_edit_draft_keeps_the_version_it_started_from(tab, base: str, store) -> None:
    original = create(store, name="Draft Contested", fauna="Sparse", flora="Lush")
    open_wizard(tab, base, original["id"])
    show_more(tab, "More about this system")
    field(tab, "fauna").fill("Mine")
    store.patch(original["id"], SystemPatch(flora="Theirs"))  # someone else, meanwhile

    tab.reload()
    expect(field(tab, "fauna")).to_have_value("Mine")
    expect(field(tab, "flora")).to_have_value("Lush")  # the draft, as it was
    notice = tab.locator("#notice")
    expect(notice).to_contain_text("Restored your unsaved changes")
    expect(notice).to_contain_text("now at version 2")
    step(tab, "review")
    expect(tab.locator("#review")).to_contain_text("Saving replaces version 1 of this system.")

    tab.locator("#save").click()
    expect(tab.locator("#conflict-dialog")).to_be_visible()
    expect(tab.locator("#conflict-message")).to_have_text("You started from version 1; the system is now at version 2.")
    tab.locator("#conflict-keep").click()
    assert store.system(original["id"])["fauna"] == "Sparse"
    assert len(stored_drafts(tab)) == 1  # a refused save keeps the draft

    tab.reload()
    expect(field(tab, "fauna")).to_have_value("Mine")
    save(tab)
    tab.locator("#conflict-reload").click()
    expect(tab.locator("#notice")).to_contain_text("Loaded the current version (2)")
    step(tab, "system")
    expect(field(tab, "fauna")).to_have_value("Sparse")
    expect(field(tab, "flora")).to_have_value("Theirs")
    assert stored_drafts(tab) == []
    no_page_errors(tab)


def test_a_draft_of_a_system_deleted_meanwhile_can_be_saved_as_new(tab, base: str, store) -> None:
    doomed = create(store, name="Draft Vanishing", region="Gone")
    open_wizard(tab, base, doomed["id"])
    field(tab, "region").fill("Still Here")
    store.delete(doomed["id"])
    tab.reload()
    expect(tab.locator("#notice")).to_contain_text("This system has since been deleted")
    expect(field(tab, "region")).to_have_value("Still Here")
    save(tab)
    expect(tab.locator("#save-error")).to_contain_text("This system no longer exists")
    tab.locator("#save-as-new").click()
    expect_saved(tab, r"^Created “Draft Vanishing” \(version 1\)\.$")
    assert store.system_by_name(GALAXY, "Draft Vanishing")["region"] == "Still Here"
    assert stored_drafts(tab) == []
    no_page_errors(tab)


def test_discarding_a_restored_draft(tab, base: str, store) -> None:
    original = create(store, name="Draft Discarded", fauna="Before")
    open_wizard(tab, base, original["id"])
    show_more(tab, "More about this system")
    field(tab, "fauna").fill("Unwanted")
    tab.reload()
    expect(field(tab, "fauna")).to_have_value("Unwanted")
    tab.locator("#discard-draft").click()
    expect(field(tab, "fauna")).to_have_value("Before")
    expect(tab.locator("#notice")).to_contain_text("Discarded your unsaved changes")
    assert stored_drafts(tab) == []
    asked = asked_to_leave(tab)
    tab.reload()
    expect(field(tab, "fauna")).to_have_value("Before")
    expect(tab.locator("#notice")).to_be_hidden()
    assert asked_to_leave(tab) == asked

    # A new system's draft is discarded to an empty form.
    open_wizard(tab, base)
    field(tab, "name").fill("Never Mind")
    tab.reload()
    expect(field(tab, "name")).to_have_value("Never Mind")
    tab.locator("#discard-draft").click()
    expect(field(tab, "name")).to_have_value("")
    assert stored_drafts(tab) == []
    assert store.system(original["id"])["version"] == 1
    no_page_errors(tab)


# -- 2. an unknown galaxy is named at once ---------------------------------------------------------


def test_an_unknown_galaxy_is_named_before_anything_is_typed(page, base: str, store) -> None:
    page.goto(f"{base}/wizard.html?galaxy={quote(XSS, safe='')}")
    missing = page.locator("#galaxy-missing")
    expect(missing).to_be_visible()
    expect(missing.locator(".message")).to_have_text(f"There is no galaxy named “{XSS}” in this database.")
    expect(page.locator("#wizard-form")).to_be_hidden()
    expect(page.locator("#loading")).to_be_hidden()
    expect(page.locator("#error-banner")).to_be_hidden()
    link = missing.get_by_role("link", name="Back to Control Room")
    assert link.get_attribute("href") == "/"
    link.click()
    page.wait_for_url(f"{base}/")
    no_script_ran(page)

    open_wizard(page, base, extra=f"?galaxy={quote(GALAXY)}")  # a real galaxy: the form as usual
    expect(page.locator("#galaxy-missing")).to_be_hidden()


# -- 3. focus ------------------------------------------------------------------------------------------


def test_duplicate_names_mark_the_fields_and_focus_the_first(page, base: str, store) -> None:
    open_wizard(page, base)
    fill_system(page, "Twin Focus")
    step(page, "planets")
    for i, name in enumerate(["Same", "Other", " Same "]):  # the server trims names
        page.locator("#add-planet").click()
        field(page, f"planets[{i}].name").fill(name)
    save(page)
    expect(current_step(page)).to_have_attribute("data-step", "planets")
    expect(field_error(page, "planets")).to_contain_text("names must be unique")
    first, other, third = (field(page, f"planets[{i}].name") for i in range(3))
    expect(first).to_be_focused()
    expect(first).to_have_attribute("aria-invalid", "true")
    expect(third).to_have_attribute("aria-invalid", "true")
    expect(other).not_to_have_attribute("aria-invalid", "true")
    expect(field_error(page, "planets[2].name")).to_contain_text("Same")

    third.fill("Third")  # fixing one name clears the marks on all of them
    expect(first).not_to_have_attribute("aria-invalid", "true")
    expect(field_error(page, "planets")).to_be_hidden()

    page.locator('[data-add-moon="1"]').click()
    field(page, "planets[1].moons[0].name").fill("Echo")
    page.locator('[data-add-moon="1"]').click()
    field(page, "planets[1].moons[1].name").fill("Echo")
    save(page)
    moon = field(page, "planets[1].moons[0].name")
    expect(moon).to_be_focused()
    expect(moon).to_have_attribute("aria-invalid", "true")
    expect(field(page, "planets[1].moons[1].name")).to_have_attribute("aria-invalid", "true")
    field(page, "planets[1].moons[1].name").fill("Echo II")
    save(page)
    expect_saved(page, r"^Created “Twin Focus” \(version 1\)\.$")
    no_script_ran(page)


def test_after_saving_the_focus_is_on_the_saved_notice(page, base: str, store) -> None:
    open_wizard(page, base)
    fill_system(page, "Focus After Save")
    save(page)
    expect_saved(page, r"^Created")
    expect(page.locator("#saved")).to_be_focused()

    step(page, "system")
    field(page, "y").fill("9")
    field(page, "y").press("Control+s")
    expect_saved(page, r"^Saved “Focus After Save” \(version 2\)\.$")
    expect(page.locator("#saved")).to_be_focused()
    no_script_ran(page)


# -- 4. nothing changed, nothing sent --------------------------------------------------------------


def test_saving_without_changes_sends_nothing(page, base: str, store) -> None:
    original = create(store, name="Untouched", fauna="Same", planets=[{"name": "Untouched I", "notes": ""}],
                      extra={"big": 412345678901234567})
    writes: list[str] = []
    page.on("request", lambda r: writes.append(f"{r.method} {r.url}") if r.method in ("PUT", "POST") else None)
    open_wizard(page, base, original["id"])
    save(page)
    expect(page.locator("#saved .message")).to_have_text("No changes to save.")
    expect(page.locator("#saved")).to_be_focused()
    assert writes == []
    assert store.system(original["id"])["version"] == 1

    show_more(page, "More about this system", nth=0)
    step(page, "system")
    field(page, "fauna").fill("Different")
    field(page, "fauna").fill("Same")  # typed back: still no change
    save(page)
    expect(page.locator("#saved .message")).to_have_text("No changes to save.")
    assert writes == []

    step(page, "system")
    field(page, "fauna").fill("Changed")
    save(page)
    expect_saved(page, r"^Saved “Untouched” \(version 2\)\.$")
    save(page)
    expect(page.locator("#saved .message")).to_have_text("No changes to save.")
    assert len(writes) == 1 and writes[0].startswith("PUT ")
    assert store.system(original["id"])["version"] == 2

    # Someone else saved meanwhile: still nothing sent, and the line says so.
    store.patch(original["id"], SystemPatch(flora="Theirs"))
    save(page)
    expect(page.locator("#saved .message")).to_have_text(re.compile(r"^No changes to save\. .*version 3"))
    page.locator("#saved").get_by_role("button", name="Reload current version").click()
    step(page, "system")
    expect(field(page, "flora")).to_have_value("Theirs")
    assert len(writes) == 1
    assert store.system(original["id"])["version"] == 3
    no_script_ran(page)


# -- the pure parts, under node ---------------------------------------------------------------------


def test_the_wizard_model_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    proc = subprocess.run([node, "--test", str(HERE / "wizard_model.test.mjs")], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
