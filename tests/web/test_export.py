"""Self-contained map pages (``haven map``): built, then opened from disk in a real browser.

The pages are opened with ``file://`` and must draw without asking any server for
anything (except the galaxy map, which loads its chunks from the server it names).
User text in them must stay text.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from haven.errors import InvalidInput, NotFound
from haven.ingest.bulk import generate_galaxy
from haven.model import validate_system
from haven.web import export

GALAXY = "Haven"
IMG_XSS = "<img src=x onerror=alert(1)>"
SCRIPT_XSS = "</script><b>x</b>"


def add(store, name: str, x: float = 0.0, y: float = 0.0, z: float = 0.0, **fields: Any) -> dict[str, Any]:
    return store.create(GALAXY, validate_system({"name": name, "x": x, "y": y, "z": z, **fields}))


def planets(count: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "name": f"Planet {i}",
            "fauna": "Bountiful",
            "moons": [{"name": f"Moon {i}-{j}", "orbit_radius": 2.0 + j, "orbit_speed": 0.5} for j in range(2)],
        }
        for i in range(count)
    ]


def watch(page) -> dict[str, list[str]]:
    """Record every request and console message of ``page``."""
    seen: dict[str, list[str]] = {"requests": [], "console": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
    return seen


def open_file(page, path: Path, seen: dict[str, list[str]]) -> None:
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("html[data-haven-ready]")
    state = page.evaluate("document.documentElement.dataset.havenReady")
    error = page.locator("#haven-export-error").text_content()
    assert state == "true", f"the page did not start: {error} {seen['console']}"


def assert_clean(page, seen: dict[str, list[str]], *, offline: bool = True) -> None:
    """No dialogs, no page errors, no Content-Security-Policy violations, nothing fetched."""
    assert page.dialogs == []
    assert page.page_errors == []
    assert not [m for m in seen["console"] if "Content Security Policy" in m or "Refused" in m], seen["console"]
    if offline:
        assert all(u.startswith(("file:", "data:", "blob:")) for u in seen["requests"]), seen["requests"]


def pixel_stats(page, selector: str) -> dict[str, int]:
    """Pixels of a screenshot of ``selector`` that differ from its most common colour, and bright ones."""
    png = page.locator(selector).screenshot()
    helper = page.context.new_page()
    try:
        return helper.evaluate(
            """async (b64) => {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
                const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
                const ctx = canvas.getContext("2d");
                ctx.drawImage(bitmap, 0, 0);
                const px = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
                const counts = new Map();
                for (let i = 0; i < px.length; i += 4) {
                    const key = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
                    counts.set(key, (counts.get(key) || 0) + 1);
                }
                let bg = 0, most = -1;
                for (const [key, n] of counts) if (n > most) { most = n; bg = key; }
                const [br, bgc, bb] = [bg >> 16, (bg >> 8) & 255, bg & 255];
                let differing = 0, bright = 0;
                for (let i = 0; i < px.length; i += 4) {
                    const d = Math.max(Math.abs(px[i] - br), Math.abs(px[i + 1] - bgc), Math.abs(px[i + 2] - bb));
                    if (d > 40) differing++;
                    if (Math.max(px[i], px[i + 1], px[i + 2]) > 100) bright++;
                }
                return { width: bitmap.width, height: bitmap.height, differing, bright };
            }""",
            base64.b64encode(png).decode("ascii"),
        )
    finally:
        helper.close()


def wait_for_pixels(page, selector: str, key: str, at_least: int, attempts: int = 40) -> dict[str, int]:
    """Poll screenshots until ``key`` reaches ``at_least`` pixels (drawing may take a few frames)."""
    stats: dict[str, int] = {}
    for _ in range(attempts):
        stats = pixel_stats(page, selector)
        if stats[key] >= at_least:
            return stats
        page.wait_for_timeout(250)
    return stats


def inlined_data(page) -> Any:
    return page.evaluate("JSON.parse(document.getElementById('haven-data').textContent)")


# -- building pages (no browser) -----------------------------------------------------------


def test_script_json_cannot_close_the_script_element() -> None:
    text = export.script_json({"name": SCRIPT_XSS, "other": "a & b <!-- c -->", "ls": "\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": SCRIPT_XSS, "other": "a & b <!-- c -->", "ls": "\u2028"}


def test_modules_are_inlined_as_data_urls_with_bare_keys() -> None:
    bundle = export.ModuleBundle(export.default_roots())
    key = bundle.add("haven/js/static-map.js")
    assert key == "haven/js/static-map.js"
    keys = set(bundle.modules)
    assert {"three", "three/build/three.core.js", "three/addons/controls/OrbitControls.js", "haven/js/api.js"} <= keys
    # three.module.js imports ./three.core.js; our modules import ./api.js: all rewritten to keys
    assert "'three/build/three.core.js'" in bundle.modules["three"]
    assert "./three.core.js" not in bundle.modules["three"]
    for source in bundle.modules.values():  # (comments may still show relative examples)
        assert not re.search(r"""^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]\.{0,2}/""", source, re.M)
    imports = bundle.import_map()["imports"]
    assert set(imports) == keys
    assert all(url.startswith("data:text/javascript;base64,") for url in imports.values())
    decoded = base64.b64decode(imports["haven/js/static-map.js"].split(",", 1)[1]).decode()
    assert 'from "haven/js/api.js"' in decoded


def test_a_worker_becomes_one_self_contained_data_url(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "dep.js").write_text("export const k = 7;\n")
    (tmp_path / "js" / "work.js").write_text('import { k } from "./dep.js";\nself.postMessage(k);\n')
    (tmp_path / "js" / "page.js").write_text(
        "export function start() {\n"
        '  return new Worker(new URL("./work.js", import.meta.url), { type: "module" });\n'
        "}\n"
    )
    bundle = export.ModuleBundle(export.Roots(tmp_path.resolve(), None))
    bundle.add("haven/js/page.js")
    page_source = bundle.modules["haven/js/page.js"]
    assert "import.meta.url" not in page_source
    worker_url = bundle.workers["haven/js/work.js"]
    assert f"new URL({json.dumps(worker_url)})" in page_source
    worker_source = base64.b64decode(worker_url.split(",", 1)[1]).decode()
    assert "data:text/javascript;base64," in worker_source and "./dep.js" not in worker_source


def test_imports_in_comments_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "dep.js").write_text("export const k = 7;\n")
    (tmp_path / "js" / "page.js").write_text(
        "//   import { x } from \"./example.js\";\n"
        "/** @param {import(\"./types.js\").Thing} t */\n"
        'import { k } from "./dep.js";\n'
        'export const later = () => import("./dep.js");\n'
    )
    bundle = export.ModuleBundle(export.Roots(tmp_path.resolve(), None))
    bundle.add("haven/js/page.js")
    source = bundle.modules["haven/js/page.js"]
    assert 'import { k } from "haven/js/dep.js";' in source
    assert 'import("haven/js/dep.js")' in source
    assert '{import("./types.js").Thing}' in source and 'from "./example.js"' in source
    assert set(bundle.modules) == {"haven/js/page.js", "haven/js/dep.js"}


def test_modules_outside_the_front_end_are_refused(tmp_path: Path) -> None:
    (tmp_path / "static" / "js").mkdir(parents=True)
    (tmp_path / "secret.js").write_text("export const s = 1;\n")
    (tmp_path / "static" / "js" / "page.js").write_text('import { s } from "../../secret.js";\n')
    bundle = export.ModuleBundle(export.Roots((tmp_path / "static").resolve(), None))
    with pytest.raises(export.ExportUnavailable, match="not part of Haven's web front end"):
        bundle.add("haven/js/page.js")


def test_a_missing_view_is_reported(tmp_path: Path, store) -> None:
    s = add(store, "Lonely")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "export-boot.js").write_text((export.STATIC_DIR / "js" / "export-boot.js").read_text())
    with pytest.raises(export.ExportUnavailable, match="system-view.js"):
        export.system_page(s, galaxy=GALAXY, roots=export.Roots(tmp_path.resolve(), export.default_roots().three))


def test_file_names_are_slugs_of_the_name() -> None:
    assert export.default_filename("system", "AMOT 16/O5") == "system-amot-16-o5.html"
    assert export.default_filename("region", "Ünïcödé Reach") == "region-unicode-reach.html"
    odd = export.default_filename("system", "../../etc/passwd")
    assert "/" not in odd and odd.startswith("system-etc-passwd")
    cjk = export.default_filename("system", "星系 銀河")
    assert re.fullmatch(r"system-[0-9a-f]{8}\.html", cjk)
    assert export.default_filename("system", "星系") != export.default_filename("system", "銀河")
    long = export.default_filename("region", "x" * 200)
    assert len(long) < 100 and long.endswith(".html")


@pytest.mark.parametrize(
    "url", ["ftp://host", "127.0.0.1:8000", "http://", "http://h:99999", "http://h/?q=1", "javascript:alert(1)"]
)
def test_server_urls_are_checked(url: str) -> None:
    with pytest.raises(InvalidInput):
        export.check_server_url(url)


def test_server_url_loses_its_trailing_slash() -> None:
    assert export.check_server_url(" https://haven.example:8443/base/ ") == "https://haven.example:8443/base"


def test_region_data_pages_through_the_whole_region(store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "REGION_PAGE_SIZE", 7)
    for i in range(30):
        add(store, f"Star {i:02d}", x=i, y=-i, z=0.5, region="Near", sentinel="Low")
    add(store, "Elsewhere", region="Far")
    calls: list[tuple[int, int]] = []
    data = export.region_data(store, GALAXY, "Near", progress=lambda done, total: calls.append((done, total)))
    assert data["count"] == 30 and len(data["ids"]) == 30 and len(data["xyz"]) == 90
    assert data["names"] == [f"Star {i:02d}" for i in range(30)]
    assert data["details"]["sentinel"] == ["Low"] * 30
    assert calls[-1] == (30, 30) and len(calls) == 5
    with pytest.raises(InvalidInput, match="at most 29"):
        export.region_data(store, GALAXY, "Near", cap=29)
    with pytest.raises(NotFound):
        export.region_data(store, GALAXY, "Nowhere")


def test_registry_is_bounded_and_keyed_by_generated_names(store) -> None:
    registry = export.MapRegistry(max_pages=3)
    systems = [add(store, f"Sys {i}") for i in range(5)]
    names = [registry.publish(s, galaxy=GALAXY) for s in systems]
    assert names[0] == f"system-{systems[0]['id']}-v1.html"
    assert len(registry) == 3
    with pytest.raises(NotFound):
        registry.page(names[0])  # evicted, least recently used
    assert "Sys 4" in registry.page(names[4])
    for bad in ("../../etc/passwd", "/etc/passwd", names[4].upper(), "", "system-1-v1.html\x00"):
        with pytest.raises(NotFound):
            registry.page(bad)
    # a new version replaces the old page
    changed = store.replace(systems[4]["id"], validate_system({"name": "Sys 4", "x": 1, "y": 2, "z": 3}))
    newer = registry.publish(changed, galaxy=GALAXY)
    assert newer == f"system-{systems[4]['id']}-v{changed['version']}.html" and newer != names[4]
    with pytest.raises(NotFound):
        registry.page(names[4])


def test_registry_counts_bytes_too(store) -> None:
    registry = export.MapRegistry(max_pages=100, max_bytes=3000)
    for i in range(10):
        registry.publish(add(store, f"Big {i}", attributes="y" * 1000), galaxy=GALAXY)
    assert len(registry) <= 3


# -- in the browser, from disk ------------------------------------------------------------------


def test_system_export_draws_the_system_from_disk(page, store, tmp_path: Path) -> None:
    s = add(store, "Aldebaran Prime", x=10, y=20, z=30, region="Near", planets=planets(3),
            space_station={"name": "Harbour", "race": "Gek"})
    path = tmp_path / "system.html"
    export.write_page(path, export.system_page(store.system(s["id"]), galaxy=GALAXY))
    seen = watch(page)
    open_file(page, path, seen)
    assert page.locator("#system-name").text_content() == "Aldebaran Prime"
    assert page.title() == "Aldebaran Prime · Haven"
    assert inlined_data(page)["system"]["planets"][2]["moons"][1]["name"] == "Moon 2-1"
    stats = wait_for_pixels(page, "#haven-view", "differing", 300)
    assert stats["differing"] >= 300, stats
    assert_clean(page, seen)


def test_region_export_draws_stars_and_a_click_names_one(page, store, tmp_path: Path) -> None:
    for i in range(40):
        add(store, f"Star {i:02d}", x=(i % 8) * 10, y=(i // 8) * 10, z=i % 3, region="Near", fauna="Rich")
    path = tmp_path / "region.html"
    export.write_page(path, export.region_page(export.region_data(store, GALAXY, "Near")))
    seen = watch(page)
    open_file(page, path, seen)
    assert page.locator("h1").text_content() == "Near"
    stats = wait_for_pixels(page, "#haven-view", "bright", 40)
    assert stats["bright"] >= 40, stats

    names = inlined_data(page)["names"]
    for index in (0, 17):
        pos = page.evaluate(f"havenStaticMap.screenPosition({index})")
        page.mouse.click(pos["x"], pos["y"])
        page.wait_for_function(f"havenStaticMap.selected === {index}")
        assert page.locator(".static-map-details h2").text_content() == names[index]
        assert "Rich" in page.locator(".static-map-details").inner_text()
    assert_clean(page, seen)


@pytest.mark.parametrize("name", [IMG_XSS, SCRIPT_XSS])
def test_hostile_system_names_stay_text(page, store, tmp_path: Path, name: str) -> None:
    s = add(store, name, planets=[{"name": name, "moons": [{"name": name, "orbit_radius": 3}]}])
    path = tmp_path / "hostile.html"
    html = export.system_page(store.system(s["id"]), galaxy=GALAXY)
    assert name not in html  # neither raw in the markup nor in the data
    export.write_page(path, html)
    seen = watch(page)
    open_file(page, path, seen)
    assert page.locator("#system-name").text_content() == name
    assert inlined_data(page)["system"]["name"] == name
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("[...document.querySelectorAll('b')].filter((b) => b.textContent === 'x').length") == 0
    assert_clean(page, seen)


def test_hostile_names_in_a_region_stay_text(page, store, tmp_path: Path) -> None:
    add(store, IMG_XSS, x=0, y=0, z=0, region=SCRIPT_XSS)
    add(store, SCRIPT_XSS, x=30, y=10, z=0, region=SCRIPT_XSS, sentinel=IMG_XSS)
    path = tmp_path / "region.html"
    html = export.region_page(export.region_data(store, GALAXY, SCRIPT_XSS))
    assert SCRIPT_XSS not in html and IMG_XSS not in html
    export.write_page(path, html)
    seen = watch(page)
    open_file(page, path, seen)
    assert page.locator("h1").text_content() == SCRIPT_XSS
    names = inlined_data(page)["names"]
    for index in range(2):
        pos = page.evaluate(f"havenStaticMap.screenPosition({index})")
        page.mouse.click(pos["x"], pos["y"])
        page.wait_for_function(f"havenStaticMap.selected === {index}")
        assert page.locator(".static-map-details h2").text_content() == names[index]
    assert page.locator('img[src="x"]').count() == 0
    assert_clean(page, seen)


@pytest.mark.parametrize("galaxy, total", [(None, 2000), ("Andromeda", 300)])
def test_galaxy_export_loads_chunks_from_a_live_server(
    page, store, live_server, tmp_path: Path, galaxy: str | None, total: int
) -> None:
    generate_galaxy(store, GALAXY, 2000, 7)
    store.ensure_galaxy("Andromeda")
    generate_galaxy(store, "Andromeda", 300, 8)
    server = live_server(store)
    path = tmp_path / "galaxy.html"
    html = export.galaxy_page(server=server, galaxy=galaxy)
    assert f'globalThis.HAVEN_API_BASE = "{server}"' in html
    export.write_page(path, html)
    seen = watch(page)
    page.goto(path.resolve().as_uri())
    page.wait_for_function("() => window.havenMap !== undefined")
    page.evaluate("() => window.havenMap.ready")
    page.wait_for_function("() => { const s = window.havenMap.stats(); return s && s.drawnSystems > 0; }")
    stats = page.evaluate("() => window.havenMap.stats()")
    assert stats["totalSystems"] == total
    chunk_requests = [u for u in seen["requests"] if u.startswith(f"{server}/api/v1/chunks/")]
    assert chunk_requests, seen["requests"]
    others = [u for u in seen["requests"] if not u.startswith((server, "file:", "data:", "blob:"))]
    assert others == []
    assert page.page_errors == [] and page.dialogs == []
    assert not [m for m in seen["console"] if "Content Security Policy" in m or "CORS" in m], seen["console"]
    pixels = wait_for_pixels(page, "#map-view", "bright", 50)
    assert pixels["bright"] >= 50, pixels


@pytest.mark.parametrize("galaxy", [None, "Andro/meda #1?"])
def test_galaxy_export_header_links_lead_to_the_server(
    page, store, live_server, tmp_path: Path, galaxy: str | None
) -> None:
    """Opened from disk, the header's Control Room, Map and Add system must not point at file:///."""
    from urllib.parse import parse_qs, urlsplit

    generate_galaxy(store, GALAXY, 50, 3)
    if galaxy:
        store.ensure_galaxy(galaxy)
        generate_galaxy(store, galaxy, 50, 4)
    server = live_server(store)
    path = tmp_path / "galaxy.html"
    export.write_page(path, export.galaxy_page(server=server, galaxy=galaxy))
    page.goto(path.resolve().as_uri())
    page.wait_for_function("() => window.havenMap !== undefined")
    page.evaluate("() => window.havenMap.ready")
    links = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('.site-header a')].map(a => [a.textContent.trim(), a.href]))"
    )
    for text, where in (("Control Room", "/"), ("Map", "/map.html"), ("Add system", "/wizard.html")):
        url = urlsplit(links[text])
        assert f"{url.scheme}://{url.netloc}{url.path}" == server + where, links
        assert parse_qs(url.query).get("galaxy") == ([galaxy] if galaxy else None), links
    assert links["API docs"] == f"{server}/docs"
    page.locator(".site-header a", has_text="Control Room").click()
    page.wait_for_url(f"{server}/**")
    assert page.url.startswith(f"{server}/")
    assert page.page_errors == [] and page.dialogs == []


def test_the_original_api_serves_the_same_page(page, store, live_server) -> None:
    import httpx

    add(store, "AMOT 16/O5", planets=planets(2))
    server = live_server(store)
    answer = httpx.get(f"{server}/api/generate/system/AMOT%2016%2FO5").json()
    assert answer["system_name"] == "AMOT 16/O5"
    seen = watch(page)
    page.goto(server + answer["map_url"])
    page.wait_for_selector("html[data-haven-ready]")
    assert page.evaluate("document.documentElement.dataset.havenReady") == "true"
    assert page.locator("#system-name").text_content() == "AMOT 16/O5"
    stats = wait_for_pixels(page, "#haven-view", "differing", 300)
    assert stats["differing"] >= 300, stats
    assert_clean(page, seen, offline=False)
    assert [u for u in seen["requests"] if not u.startswith("data:")] == [server + answer["map_url"]]
