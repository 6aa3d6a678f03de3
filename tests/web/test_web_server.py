"""The web front end's plumbing: three.js is served from npm, and the browser has WebGL."""

from __future__ import annotations

import httpx


def test_three_js_is_served_from_the_npm_package(module_server: str) -> None:
    r = httpx.get(f"{module_server}/vendor/three/build/three.module.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert httpx.get(f"{module_server}/vendor/three/examples/jsm/controls/OrbitControls.js").status_code == 200


def test_the_test_browser_draws_with_webgl(page, module_server: str) -> None:
    page.goto(f"{module_server}/healthz")
    has_webgl = page.evaluate("() => !!document.createElement('canvas').getContext('webgl2')")
    assert has_webgl, "Chromium started without WebGL; the map tests need SwiftShader"
