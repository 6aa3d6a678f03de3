"""The benchmark's lean HTTP client against a real (standard library) server on 127.0.0.1."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from haven.bench.client import LeanClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn

    def _answer(self, status: int, body: bytes, *, gzipped: bool = False, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if gzipped:
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if close:
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path.startswith("/echo"):
            self._answer(200, orjson.dumps({"path": self.path}),
                         gzipped="gzip" in self.headers.get("Accept-Encoding", ""))
        elif self.path == "/bye":
            self._answer(200, b'{"bye": true}', close=True)
        else:
            self._answer(404, b'{"error": "not here"}')

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(201, orjson.dumps({"got": orjson.loads(body), "type": self.headers["Content-Type"]}))

    def log_message(self, *args: object) -> None:
        pass


class _ImpatientHandler(_Handler):
    timeout = 0.3  # closes a keep-alive connection idle this long, as uvicorn does after 5 s


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def base_url() -> Iterator[str]:
    yield from _serve(_Handler)


@pytest.fixture()
def impatient_url() -> Iterator[str]:
    yield from _serve(_ImpatientHandler)


def test_query_string_gzip_and_json_body(base_url: str) -> None:
    with LeanClient(base_url, headers={"Accept-Encoding": "gzip"}) as c:
        r = c.get("/echo", params={"q": "a b/ü", "limit": 5})
        r.raise_for_status()
        assert r.json() == {"path": "/echo?q=a+b%2F%C3%BC&limit=5"}  # gunzipped before it is read
        posted = c.post("/things", json={"name": "Ünïcode", "n": 3})
        assert posted.status_code == 201
        assert posted.json() == {"got": {"name": "Ünïcode", "n": 3}, "type": "application/json"}


def test_a_closed_connection_is_opened_again(base_url: str) -> None:
    with LeanClient(base_url) as c:
        assert c.get("/bye").json() == {"bye": True}  # the server closes after answering
        assert c.get("/echo").json() == {"path": "/echo"}


def test_a_write_after_the_server_closed_an_idle_connection_goes_out_on_a_new_one(impatient_url: str) -> None:
    # A POST is never sent twice, so it must not meet a connection the server is closing.
    with LeanClient(impatient_url, idle_reopen_s=0.1) as c:
        assert c.get("/echo").status_code == 200
        time.sleep(0.6)  # the server has closed the connection by now
        assert c.post("/things", json={"n": 1}).json()["got"] == {"n": 1}


def test_errors_raise_with_the_status_and_body(base_url: str) -> None:
    with LeanClient(base_url) as c:
        with pytest.raises(RuntimeError, match="HTTP 404.*not here"):
            c.get("/nowhere").raise_for_status()


def test_only_plain_http_urls() -> None:
    with pytest.raises(ValueError, match="http://host:port"):
        LeanClient("https://example.org")
