"""Helpers for the galaxy map and system view browser tests.

The test modules put this folder on sys.path before importing it.
"""

from __future__ import annotations

import socket
import struct
import zlib
from typing import Any

import numpy as np
from playwright.sync_api import Page

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.model import SystemIn

#: A name that is also valid HTML: it must always show as these characters, never as an image.
XSS = "<img src=x onerror=alert(1)>"

#: The map's and the system view's background colour (#04050a).
BACKGROUND = (4, 5, 10)

#: Canvas size for the browser tests: small, because SwiftShader draws on the CPU.
VIEWPORT = {"width": 900, "height": 560}


def create(store: Any, galaxy: str = GALAXY, **fields: Any) -> dict[str, Any]:
    """Create a system (x/y/z default to 0) and return it as the API shows it."""
    fields.setdefault("x", 0.0)
    fields.setdefault("y", 0.0)
    fields.setdefault("z", 0.0)
    return store.create(galaxy, SystemIn(**fields))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- pixels -----------------------------------------------------------------------------------


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB/RGBA, non-interlaced PNG (what Chromium's screenshots are) as an H×W×C array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), f"unsupported PNG (depth {depth}, colour {colour})"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 0xFF
        else:
            cur = line.copy()
            for x in range(stride):
                left = cur[x - channels] if x >= channels else 0
                up = prev[x]
                if f == 1:
                    cur[x] = (cur[x] + left) & 0xFF
                elif f == 3:
                    cur[x] = (cur[x] + ((left + up) >> 1)) & 0xFF
                elif f == 4:
                    ul = prev[x - channels] if x >= channels else 0
                    cur[x] = (cur[x] + _paeth(left, up, ul)) & 0xFF
        out[y] = cur
        prev = cur
    return out.reshape(height, width, channels)[:, :, :3]


def lit_pixels(png: bytes, background: tuple[int, int, int] = BACKGROUND, threshold: int = 40) -> int:
    """How many pixels differ from the background by more than `threshold` in some channel."""
    img = decode_png(png).astype(np.int32)
    diff = np.abs(img - np.array(background, dtype=np.int32)).max(axis=2)
    return int((diff > threshold).sum())


# -- the map ----------------------------------------------------------------------------------


def open_map(page: Page, base: str, query: str = "", *, wait_ready: bool = True) -> None:
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{base}/static/map.html{query}")
    page.wait_for_function("() => !!window.havenMap")
    if wait_ready:
        page.evaluate("() => window.havenMap.ready.then(() => true)")


def stats(page: Page) -> dict[str, Any]:
    return page.evaluate("() => window.havenMap.stats()")


def wait_settled(page: Page, timeout: float = 120_000) -> dict[str, Any]:
    page.wait_for_function("() => window.havenMap.stats().settled", timeout=timeout, polling=200)
    return stats(page)


def fly(page: Page, x: float, y: float, z: float, distance: float) -> dict[str, Any]:
    """Glide to a waypoint and wait until the chunks it needs are loaded."""
    page.evaluate(f"() => window.havenMap.flyTo({x}, {y}, {z}, {distance})")
    return wait_settled(page)


def camera_target(page: Page) -> list[float]:
    return page.evaluate("() => window.havenMap.stats().camera.target")


# -- the system view --------------------------------------------------------------------------


def open_system(page: Page, base: str, query: str, *, wait_ready: bool = True) -> None:
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{base}/static/system.html{query}")
    if wait_ready:
        page.wait_for_function("() => !!window.havenSystemView")
        page.evaluate("() => window.havenSystemView.ready.then(() => true)")
