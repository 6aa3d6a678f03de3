"""Browser tests: a real ``haven`` server on a real SQLite file, driven through Debian's Chromium.

* ``live_server(store)`` starts uvicorn in a thread around ``create_app(store)`` and
  returns its base URL; it stops when the test (or module) ends.
* ``browser`` is one headless Chromium per session (WebGL through SwiftShader).
* ``page`` is a fresh browser context and tab per test. It records JavaScript
  dialogs (``page.dialogs``) and uncaught page errors (``page.page_errors``) so
  tests can assert that user text never ran as script.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn


from haven.api import create_app
from haven.config import DEFAULT_GALAXY, DatabaseUrl
from haven.store import SQLiteStore, init_store

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # for the webhelpers_cr module, whatever pytest's import mode
    sys.path.insert(0, HERE)

from webhelpers_cr import new_tab  # noqa: E402

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",  # WebGL falls back to SwiftShader, the software renderer
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_executable() -> str:
    """Debian's Chromium (``HAVEN_CHROMIUM`` overrides); ``make test`` installs it."""
    path = os.environ.get("HAVEN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(f"Chromium not found at {path}: run `make test`, which installs Debian's chromium")
    return path


class LiveServer:
    """uvicorn serving one app on a free loopback port, in a background thread."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server() -> Iterator[Callable[..., str]]:
    """``live_server(store)`` → base URL of a server around that store (stopped after the test)."""
    started: list[LiveServer] = []

    def start(store: SQLiteStore, **app_options: Any) -> str:
        server = LiveServer(create_app(store, **app_options)).start()
        started.append(server)
        return server.url

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def module_web_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    """A fresh store shared by one test module (tests add what they need)."""
    path = tmp_path_factory.mktemp("web") / "haven.db"
    store = init_store(DatabaseUrl("sqlite", str(path)))
    store.ensure_galaxy(DEFAULT_GALAXY)
    yield store
    store.close()


@pytest.fixture(scope="module")
def module_server(module_web_store: SQLiteStore) -> Iterator[str]:
    """Base URL of a server around ``module_web_store``, shared by one test module."""
    server = LiveServer(create_app(module_web_store)).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab (:func:`new_tab`): dialogs dismissed and recorded, page errors recorded."""
    with new_tab(browser) as tab:
        yield tab
