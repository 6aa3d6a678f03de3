"""``haven serve`` as a real process: schema set up on start, the API answering."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cli_helpers import Invoke, assert_ok

pytest.importorskip("haven.api.app", reason="the HTTP API (haven.api.app) is not in this tree")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(db_path: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    return subprocess.Popen(
        [sys.executable, "-m", "haven.cli", "serve", "--port", str(port), "--database", str(db_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _get_when_up(proc: subprocess.Popen, url: str, timeout_s: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"haven serve exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"haven serve did not answer {url} within {timeout_s} s")


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.stdout.read()


@pytest.mark.slow
def test_serve_answers_stats(haven: Invoke, db_path: Path) -> None:
    assert_ok(haven("init"))
    port = _free_port()
    proc = _serve(db_path, port)
    try:
        response = _get_when_up(proc, f"http://127.0.0.1:{port}/api/v1/stats")
        assert response.status_code == 200, response.text
        assert response.json()["total_systems"] == 3012
    finally:
        log = _stop(proc)
    assert proc.returncode in (0, -signal.SIGTERM), log  # uvicorn re-raises SIGTERM after shutting down
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


@pytest.mark.slow
def test_serve_creates_the_schema(tmp_path: Path) -> None:
    db_path = tmp_path / "fresh" / "haven.db"
    port = _free_port()
    proc = _serve(db_path, port)
    try:
        response = _get_when_up(proc, f"http://127.0.0.1:{port}/api/v1/stats")
        assert response.status_code == 200, response.text
        assert response.json()["total_systems"] == 0  # schema and galaxy, never the demo
    finally:
        log = _stop(proc)
    assert "created" in log


def test_serve_on_a_port_in_use_says_so_and_changes_nothing(haven: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = haven("serve", "--port", port, "--database", target)
    assert result.exit_code == 3
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output and "another --port" in result.output
    assert "Haven at" not in result.output  # no banner for a server that never started
    assert not target.exists()  # nothing created or upgraded
