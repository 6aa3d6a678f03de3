"""Message size on the chunk WebSocket, against a real ``haven serve`` process.

Up to ``MAX_FRAME_BYTES`` an oversized message (text or binary) answers an ``error`` that
names the limit and the socket stays open; a bigger one is not read: the socket ends with a
close frame, code 1009 (message too big), whose reason names the limit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from haven.api.live import MAX_FRAME_BYTES, MAX_MESSAGE_BYTES

pytestmark = pytest.mark.slow


class Server:
    """A ``haven serve`` process on a free port, and everything it logged."""

    def __init__(self, db_path: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "haven.cli", "serve", "--port", str(self.port), "--database", str(db_path)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.log = ""

    def wait_until_up(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"haven serve exited with {self.proc.returncode}:\n{self.proc.stdout.read()}")
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/api/v1/stats", timeout=2.0).raise_for_status()
                return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail(f"haven serve did not answer within {timeout_s} s")

    def socket(self) -> ClientConnection:
        return connect(f"ws://127.0.0.1:{self.port}/api/v1/chunks/ws", compression=None, open_timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log = self.proc.stdout.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("live-limits") / "haven.db")
    try:
        running.wait_until_up()
        yield running
    finally:
        running.stop()
    assert "Traceback" not in running.log, running.log


def answer(ws: ClientConnection) -> dict[str, Any]:
    return orjson.loads(ws.recv(timeout=10))


def still_open(ws: ClientConnection) -> None:
    ws.send('{"type": "subscribe"}')
    assert answer(ws)["type"] == "subscribed"


@pytest.mark.parametrize("size", [MAX_MESSAGE_BYTES + 1, 64 * 1024, MAX_FRAME_BYTES])
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_a_message_over_the_limit_is_an_error_naming_it_and_the_socket_stays_open(server, kind, size):
    with server.socket() as ws:
        ws.send("x" * size if kind == "text" else b"x" * size)
        error = answer(ws)
        assert error["type"] == "error" and error["error"]["code"] == "invalid"
        assert error["error"]["field"] == "message"
        assert f"at most {MAX_MESSAGE_BYTES:,} bytes, not {size:,}" in error["error"]["message"]
        still_open(ws)


def test_a_message_at_the_limit_is_read(server):
    with server.socket() as ws:
        message = '{"type": "subscribe"}'
        ws.send(message + " " * (MAX_MESSAGE_BYTES - len(message)))
        assert answer(ws)["type"] == "subscribed"


@pytest.mark.parametrize("shape", ["text", "binary", "fragments"])
def test_a_message_over_the_frame_limit_ends_with_close_code_1009(server, shape):
    over = MAX_FRAME_BYTES + 1
    message: Any = {"text": "x" * over, "binary": b"x" * over,
                    "fragments": ["x" * (over // 4)] * 5}[shape]  # each fragment small, the message not
    with server.socket() as ws:
        still_open(ws)
        with pytest.raises(ConnectionClosed):
            ws.send(message)
            ws.recv(timeout=10)
        assert ws.close_code == 1009, (ws.close_code, ws.close_reason)  # 1006 would be a dropped connection
        assert str(MAX_FRAME_BYTES) in ws.close_reason
    with server.socket() as again:  # the server goes on serving
        still_open(again)
