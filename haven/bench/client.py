"""A lean HTTP/1.1 client for the benchmark: one keep-alive connection, nothing else.

The HTTP column measures what serving a request over HTTP adds to Haven's own
work. A general-purpose client spends time of its own on every request
(httpx, which the tests use, adds about 0.2–0.3 ms on this kind of machine:
its request and response models, hooks and header handling). This client
keeps that small: the standard library's ``http.client`` on one persistent
connection, with the body read in full and gunzipped when the server sent it
compressed, as any client must. JSON is parsed only when asked for, outside
the timed call.
"""

from __future__ import annotations

import gzip
import http.client
import time
import urllib.parse
from types import TracebackType
from typing import Any

import orjson

#: A connection idle this long is replaced before the next request: uvicorn closes idle
#: keep-alive connections after 5 s, and a write that met the close could not be resent.
IDLE_REOPEN_S = 2.0


class LeanResponse:
    """Status, headers and the (decoded) body of one response."""

    def __init__(self, status_code: int, headers: http.client.HTTPMessage, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return orjson.loads(self.content)

    def raise_for_status(self) -> None:
        """Raise if the server answered 4xx or 5xx (the benchmark only sends valid requests)."""
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.content[:500].decode(errors='replace')}")


class LeanClient:
    """Requests to one server (``http://host:port``) over one keep-alive connection."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, timeout_s: float = 60.0,
                 idle_reopen_s: float = IDLE_REOPEN_S) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"base_url must be http://host:port, not {base_url!r}")
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
        self._headers = dict(headers or {})
        self._answered = 0  # responses read on the current connection
        self._idle_reopen_s = idle_reopen_s
        self._last_answer = 0.0  # time.monotonic() of the last response read

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None) -> LeanResponse:
        """Send one request and read its whole answer; ``params`` (text and numbers only) become the query string."""
        if params:
            path += "?" + urllib.parse.urlencode(params)
        headers = dict(self._headers)
        body = None
        if json is not None:
            body = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        if self._answered and time.monotonic() - self._last_answer > self._idle_reopen_s:
            # The server may be closing this idle connection right now, and a request that
            # meets the close could not be sent again safely: start on a new one instead.
            self._conn.close()
            self._answered = 0
        reused = self._answered > 0
        try:
            self._conn.request(method, path, body=body, headers=headers)
            response = self._conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # A keep-alive connection the server closed while it was idle (uvicorn does after
            # 5 s): a GET is sent again on a new one. Any other request may have been carried
            # out before the connection dropped, so it is never sent twice.
            if not (reused and method == "GET"):
                raise
            self._conn.close()
            self._answered = 0
            self._conn.request(method, path, body=body, headers=headers)
            response = self._conn.getresponse()
        content = response.read()
        self._answered += 1
        self._last_answer = time.monotonic()
        if response.getheader("Content-Encoding") == "gzip":
            content = gzip.decompress(content)
        return LeanResponse(response.status, response.headers, content)

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> LeanResponse:
        return self.request("GET", path, params=params)

    def post(self, path: str, *, json: Any = None) -> LeanResponse:
        return self.request("POST", path, json=json)

    def patch(self, path: str, *, json: Any = None) -> LeanResponse:
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> LeanResponse:
        return self.request("DELETE", path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LeanClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
