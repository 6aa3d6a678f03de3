"""Pieces the v1 and legacy routers share: bytes-out responses, JSON bodies,
the store and galaxy of a request, names taken from the raw path."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from fastapi import Request
from starlette.requests import HTTPConnection
from starlette.responses import Response

from haven.api.cursor import CursorCodec, codec_for_store
from haven.api.errors import PayloadTooLarge, UnsupportedMediaType
from haven.errors import InvalidInput, StoreUnavailable

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: far above any real system with 64 planets × 64 moons of text
MAX_JSON_DEPTH = 64  # keeps every stored value re-serializable inside any response
MAX_NAME_CHARS = 200
SQLITE_INT_MAX = 2**63 - 1


class JSONBytes(Response):
    """A JSON answer serialized once with orjson (no pydantic, no jsonable_encoder)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONBytes:
    return JSONBytes(content, status_code=status_code, headers=headers)


# -- request state ---------------------------------------------------------


def get_store(request: HTTPConnection) -> Any:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise StoreUnavailable("the database is not open")
    return store


def app_galaxy(request: HTTPConnection) -> str:
    return request.app.state.galaxy


def request_galaxy(request: HTTPConnection, galaxy: str | None) -> str:
    """The galaxy a request names (``?galaxy=``), or the app's default."""
    return galaxy.strip() if galaxy and galaxy.strip() else app_galaxy(request)


def app_object(request: HTTPConnection, attr: str, build: Callable[[Any], Any]) -> Any:
    """A per-app object built once from the store on first use (cursor codec, chunk service)."""
    value = getattr(request.app.state, attr, None)
    if value is None:
        value = build(get_store(request))
        setattr(request.app.state, attr, value)
    return value


def get_codec(request: Request) -> CursorCodec:
    """The cursor codec, built once per app from the store's secret."""
    return app_object(request, "cursor_codec", codec_for_store)


# -- bodies ----------------------------------------------------------------


def _is_json_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _check_depth(value: Any) -> None:
    """Reject JSON nested deeper than :data:`MAX_JSON_DEPTH` (iteratively; no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(f"body is nested deeper than {MAX_JSON_DEPTH} levels", field="body")
        stack.extend((child, depth + 1) for child in children)


async def read_json_body(request: Request) -> Any:
    """The request body as parsed JSON: 415 if not JSON, 413 if too big, 400 if malformed.

    Used as a dependency so the endpoint itself can stay a sync ``def``.
    """
    if not _is_json_type(request.headers.get("content-type")):
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json", field="body")
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"the body must be at most {MAX_BODY_BYTES} bytes", field="body")
        except ValueError:
            raise InvalidInput("Content-Length is not a number", field="body") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body must be at most {MAX_BODY_BYTES} bytes", field="body")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidInput("the body is empty; send a JSON object", field="body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON ({exc})", field="body") from None
    _check_depth(data)
    return data


# -- values from the request -------------------------------------------------


def raw_path_tail(
    request: Request, prefix: str, suffix: str = "", decoded: str = "", *, field: str = "name"
) -> str:
    """The text between ``prefix`` and ``suffix`` of the *undecoded* path, decoded exactly once.

    The server decodes the path before routing (``%2F`` becomes ``/``), and how
    it treats bytes that are not UTF-8 depends on the server (uvicorn puts in
    U+FFFD). Reading ``raw_path`` gives the name exactly as the client encoded
    it, and invalid UTF-8 becomes a 400 instead of a lookup for a mangled name.
    Falls back to the router's decoded value when there is no ``raw_path``.
    """
    raw = request.scope.get("raw_path")
    root = request.scope.get("root_path", "") or ""
    if isinstance(raw, (bytes, bytearray)):
        tail = suffix.encode("utf-8")
        for marker in ((root + prefix).encode("utf-8"), prefix.encode("utf-8")):
            if raw.startswith(marker) and raw.endswith(tail) and len(raw) >= len(marker) + len(tail):
                encoded = bytes(raw[len(marker): len(raw) - len(tail)])
                try:
                    return unquote_to_bytes(encoded).decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidInput(f"the {field} in the path is not valid UTF-8 once decoded", field=field) from None
    return decoded


def check_name(name: str, field: str = "name") -> str:
    if not name:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"{field} must be at most {MAX_NAME_CHARS} characters", field=field)
    return name


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "3"`` (or ``W/"3"``, ``3``) → 3; ``*`` or absent → ``None``."""
    if value is None:
        return None
    text = value.strip()
    if text in ("", "*"):
        return None
    if text.startswith("W/"):
        text = text[2:]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        raise InvalidInput('If-Match must name one version, like If-Match: "3"', field="If-Match")
    version = int(text)
    if not 1 <= version <= SQLITE_INT_MAX:
        raise InvalidInput("If-Match must name a version of at least 1", field="If-Match")
    return version


def merge_version(data: Any, header_version: int | None) -> Any:
    """Put the If-Match version into the body; both given and different is a 400."""
    if header_version is None or not isinstance(data, dict):
        return data
    body_version = data.get("version")
    if body_version is not None and body_version != header_version:
        raise InvalidInput("version in the body and If-Match disagree; send one of them", field="version")
    return {**data, "version": header_version}


def etag(version: Any) -> dict[str, str]:
    return {"ETag": f'"{version}"'} if isinstance(version, int) else {}


MAX_COORDINATE_LY = 1e12  # far beyond any galaxy; keeps spatial arithmetic finite


def coordinate(value: float, field: str) -> float:
    """A finite query coordinate or radius within ±1e12 light years."""
    if not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number", field=field)
    if abs(value) > MAX_COORDINATE_LY:
        raise InvalidInput(f"{field} must be within ±{MAX_COORDINATE_LY:g} light years", field=field)
    return value


def page_count(total: int, per_page: int) -> int:
    return -(-total // per_page) if total > 0 else 0
