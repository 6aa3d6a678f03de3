"""The map's live feed goes back to the chunk WebSocket after it had to poll.

A page script stands between the map and the browser's ``WebSocket``: while the test
"blocks" sockets, every new one is pointed at a port nothing listens on (so it fails
the way an unreachable server does), and ``dropAll()`` closes the open ones (the
socket drops). The map must keep following edits by polling, keep trying the socket
(1 s, 2 s, 4 s … apart), and once a socket is subscribed again stop polling, having
missed nothing that was written in between.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from haven.ingest.bulk import generate_galaxy

from webhelpers_map import XSS, closed_port, open_map, stats, wait_settled

#: Installed before the page's scripts: window.__socketGate = {blocked, made, dropAll()}.
SOCKET_GATE = """
(() => {
  const Real = window.WebSocket;
  const gate = { blocked: false, made: 0, open: new Set(), deadUrl: %s };
  gate.dropAll = () => { for (const s of [...gate.open]) s.close(); };
  function Gated(url, protocols) {
    const target = gate.blocked ? gate.deadUrl : url;
    const s = protocols === undefined ? new Real(target) : new Real(target, protocols);
    gate.made++;
    gate.open.add(s);
    s.addEventListener("close", () => gate.open.delete(s));
    return s;
  }
  Gated.prototype = Real.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Gated[k] = Real[k];
  window.WebSocket = Gated;
  window.__socketGate = gate;
})();
"""

CHANGES = "/api/v1/chunks/changes"


def post_system(base: str, name: str, spot: tuple[float, float, float]) -> dict[str, Any]:
    added = httpx.post(f"{base}/api/v1/systems", json={"name": name, "x": spot[0], "y": spot[1], "z": spot[2]})
    assert added.status_code == 201, added.text
    return added.json()


def wait_drawn(page: Page, spot: tuple[float, float, float], total: int, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "([x, y, z, total]) => { const m = window.havenMap; const s = m.stats();"
        " return s.totalSystems === total && m.findPoint(x, y, z) !== null; }",
        arg=[*spot, total], timeout=timeout, polling=100,
    )


def transport_is(page: Page, name: str, timeout: float) -> None:
    page.wait_for_function(
        "(name) => window.havenMap.stats().liveTransport === name", arg=name, timeout=timeout, polling=100,
    )


def test_the_map_returns_to_the_socket_after_polling_and_misses_nothing(page, module_web_store, live_server) -> None:
    galaxy = "Reconnecting"
    generate_galaxy(module_web_store, galaxy, 300, seed=8)
    base = live_server(module_web_store, galaxy=galaxy)
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if CHANGES in r.url else None)
    page.add_init_script(SOCKET_GATE % json.dumps(f"ws://127.0.0.1:{closed_port()}/"))
    open_map(page, base)
    assert wait_settled(page)["totalSystems"] == 300
    transport_is(page, "websocket", 10_000)
    assert polls == []

    # The socket drops and no new one can be opened: polling keeps the map live...
    page.evaluate("() => { window.__socketGate.blocked = true; window.__socketGate.dropAll(); }")
    transport_is(page, "polling", 10_000)
    first = (2222.5, -1111.25, 12.0)
    post_system(base, "Polled meanwhile", first)
    wait_drawn(page, first, 301)
    assert polls, "the map did not poll the change feed"
    # ...while the map keeps trying the socket, further apart each time.
    page.wait_for_function("() => window.__socketGate.made >= 3", timeout=15_000, polling=100)
    assert stats(page)["liveSocketFailures"] >= 1

    # An edit that polling cannot see (the change feed fails too) ...
    page.route(f"**{CHANGES}*", lambda route: route.abort())
    second = (-1234.5, 2345.25, -8.0)
    post_system(base, XSS, second)
    page.wait_for_timeout(2500)  # a poll or two have failed
    assert stats(page)["totalSystems"] == 301
    # ... arrives once a socket opens again: it subscribes from the last clock the map applied.
    page.evaluate("() => { window.__socketGate.blocked = false; }")
    transport_is(page, "websocket", 45_000)
    wait_drawn(page, second, 302)
    after = stats(page)
    assert after["liveSockets"] == 2 and after["liveSocketFailures"] == 0
    page.unroute(f"**{CHANGES}*")

    # Back on the socket the map stops polling ...
    page.wait_for_timeout(500)
    asked = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == asked, f"still polling: {polls[asked:]}"
    # ... and an edit made now arrives over the socket.
    third = (3210.5, 1234.75, 4.0)
    post_system(base, "After recovery", third)
    wait_drawn(page, third, 303)
    assert len(polls) == asked
    final = stats(page)
    assert final["liveTransport"] == "websocket" and final["liveSockets"] == 2
    assert page.dialogs == [] and page.page_errors == []


def test_a_server_gone_while_the_map_is_idle_is_reported_and_its_return_noticed(
        page, module_web_store, live_server) -> None:
    """Every chunk loaded and the camera still: the change feed's polls are the only requests
    left, so they must say when the server cannot be reached, and clear it when it answers."""
    galaxy = "Going away"
    generate_galaxy(module_web_store, galaxy, 200, seed=9)
    base = live_server(module_web_store, galaxy=galaxy)
    page.add_init_script(SOCKET_GATE % json.dumps(f"ws://127.0.0.1:{closed_port()}/"))
    open_map(page, base)
    wait_settled(page)
    transport_is(page, "websocket", 30_000)

    refuse = "**/api/**"
    page.route(refuse, lambda route: route.abort("connectionrefused"))
    page.evaluate("() => { window.__socketGate.blocked = true; window.__socketGate.dropAll(); }")
    banner = page.locator("#map-error")
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_contain_text("Haven's API cannot be reached")

    page.unroute(refuse)
    expect(banner).to_be_hidden(timeout=15_000)
    page.evaluate("() => { window.__socketGate.blocked = false; }")
    transport_is(page, "websocket", 30_000)
