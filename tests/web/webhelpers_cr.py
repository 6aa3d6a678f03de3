"""Helpers for the Control Room and System Entry Wizard browser tests.

The test modules put this folder on sys.path before importing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.model import SystemIn

#: A name that is also valid HTML: it must always show as these characters, never as an image.
XSS = "<img src=x onerror=alert(1)>"

#: Regions of the seeded stars; one needs URL encoding (space and ampersand).
STAR_REGIONS = ("Alpha Reach", "Beta & Drift", "Gamma Verge")


def seed_stars(store: Any, n: int = 250, prefix: str = "Star") -> None:
    """``Star 000`` … ``Star 249``: region ``STAR_REGIONS[i % 3]``, x = i (one transaction)."""
    store.import_systems(
        GALAXY,
        [
            SystemIn(name=f"{prefix} {i:03d}", x=float(i), y=float(i % 7), z=-float(i % 5), region=STAR_REGIONS[i % 3])
            for i in range(n)
        ],
    )


def star_count(region: str, n: int = 250) -> int:
    return sum(1 for i in range(n) if STAR_REGIONS[i % 3] == region)


def create(store: Any, **fields: Any) -> dict[str, Any]:
    """Create a system in the default galaxy (x/y/z default to 0)."""
    fields.setdefault("x", 0.0)
    fields.setdefault("y", 0.0)
    fields.setdefault("z", 0.0)
    return store.create(GALAXY, SystemIn(**fields))


# -- the Control Room -------------------------------------------------------------------


def open_control_room(page: Page, base: str, search: str = "") -> None:
    page.goto(f"{base}/{search}")
    expect(page.locator("#status")).not_to_have_text("Loading…")


def status(page: Page) -> Locator:
    return page.locator("#status")


def names(page: Page) -> list[str]:
    return page.locator("#rows td.name").all_text_contents()


def row(page: Page, name: str) -> Locator:
    """The table row whose name cell is exactly ``name``."""
    return page.locator("#rows tr").filter(has=page.locator("td.name").get_by_text(name, exact=True))


def url_params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def api_requests(page: Page) -> list[str]:
    """Start recording the URLs of every /api/ request the page makes; returns the live list."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/api/" in r.url else None)
    return seen


# -- the wizard -------------------------------------------------------------------------


def open_with_galaxy_picker(page: Page, base: str, status_text: str) -> tuple[list[str], Locator]:
    """Open the Control Room (no ``?galaxy=``) of a database with several galaxies, recording
    its API requests; it shows the server's galaxy with the picker. Returns (requests, picker)."""
    requests = api_requests(page)
    open_control_room(page, base)
    expect(status(page)).to_have_text(status_text)
    picker = page.locator("#galaxy")
    expect(page.locator("#galaxy-field")).to_be_visible()
    expect(picker).to_have_value(GALAXY)
    return requests, picker


def field(page: Page, path: str) -> Locator:
    """The wizard input for an API field path such as ``planets[0].moons[1].orbit_radius``."""
    return page.locator(f'[data-field="{path}"]')


def field_error(page: Page, path: str) -> Locator:
    return page.locator(f'[data-error-for="{path}"]')


def open_wizard(page: Page, base: str, system_id: int | None = None, extra: str = "") -> None:
    page.goto(f"{base}/wizard.html{f'?id={system_id}' if system_id else ''}{extra}")
    expect(page.locator("#wizard-form")).to_be_visible()


def show_more(page: Page, summary: str, nth: int = 0) -> None:
    """Open the ``<details>`` whose summary reads ``summary`` (leaves it open if it is)."""
    page.locator("details", has=page.locator("summary", has_text=summary)).nth(nth).evaluate("d => { d.open = true; }")


def step(page: Page, name: str) -> None:
    page.locator(f'.steps button[data-step="{name}"]').click()
    expect(page.locator(f'[data-step-panel="{name}"]')).to_be_visible()


def current_step(page: Page) -> Locator:
    return page.locator('.steps button[aria-current="step"]')


def save(page: Page) -> None:
    step(page, "review")
    page.locator("#save").click()


def expect_saved(page: Page, pattern: str) -> None:
    expect(page.locator("#saved")).to_be_visible()
    expect(page.locator("#saved .message")).to_have_text(re.compile(pattern))


def no_script_ran(page: Page) -> None:
    """No JavaScript dialog opened, nothing threw, and no <img> was ever made from user text."""
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.page_errors == []  # type: ignore[attr-defined]
    assert page.locator("img").count() == 0


@contextmanager
def new_tab(browser: Any, *, leave_pages: bool = False) -> Iterator[Any]:
    """A fresh tab in its own context; JavaScript dialogs are recorded in ``tab.dialogs`` and
    dismissed, page errors recorded in ``tab.page_errors``. ``leave_pages``: the "leave this
    page?" question (beforeunload) is answered "Leave", so reloads and Back go ahead."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]
    tab.page_errors = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append((dialog.type, dialog.message))  # type: ignore[attr-defined]
        if leave_pages and dialog.type == "beforeunload":
            dialog.accept()
        else:
            dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on("pageerror", lambda exc: tab.page_errors.append(str(exc)))  # type: ignore[attr-defined]
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()


# -- the wizard's test modules: one shared server and its store ---------------------------
# (each module imports the two fixtures, so pytest finds them there as ``base`` and ``store``)


@pytest.fixture(name="base")
def base_fixture(module_server: str) -> str:
    """The base URL of the module's server."""
    return module_server


@pytest.fixture(name="store")
def store_fixture(module_web_store: Any) -> Any:
    """The store behind ``module_server`` (shadows the fresh per-test store)."""
    return module_web_store


def total(store: Any) -> int:
    """Systems in the wizard tests' galaxy."""
    return store.galaxy(GALAXY)["system_count"]


def fill_system(page: Page, name: str, x: str = "1", y: str = "2", z: str = "3", region: str | None = None) -> None:
    """Name and position (and region, when given) of a new system on the wizard's first step."""
    field(page, "name").fill(name)
    if region is not None:
        field(page, "region").fill(region)
    field(page, "x").fill(x)
    field(page, "y").fill(y)
    field(page, "z").fill(z)
