"""Pieces the v1 and legacy routers share: bytes-out responses, JSON bodies,
the store and galaxy of a request, names taken from the raw path."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from fastapi import Query, Request
from pydantic import BeforeValidator
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from haven.api.cursor import CursorCodec, codec_for_store, lasting_codec
from haven.api.errors import PayloadTooLarge, UnsupportedEncoding, UnsupportedMediaType
from haven.errors import InvalidInput, StoreUnavailable
from haven.exactjson import loads_exactly, refused_number
from haven.model import CONTROL_CHARS, INT64_MAX, NAME_MAX_CHARS, field_path

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: far above any real system with 64 planets × 64 moons of text
SQLITE_INT_MAX = INT64_MAX


class JSONBytes(JSONResponse):
    """A JSON answer serialized once with orjson (no pydantic, no jsonable_encoder).

    A ``JSONResponse`` so that FastAPI documents a route's ``response_model`` for it
    (:mod:`haven.api.schemas`); rendering is orjson's alone."""

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
    """The galaxy a request names (``?galaxy=``), or the app's default.

    A name no galaxy can have (control characters, over 200 characters) is a 400
    naming ``galaxy``, not a lookup that answers 404."""
    if galaxy and galaxy.strip():
        return check_filter_name(galaxy, "galaxy").strip()
    return app_galaxy(request)


def app_object(request: HTTPConnection, attr: str, build: Callable[[Any], Any]) -> Any:
    """A per-app object built once from the store on first use (cursor codec, chunk service)."""
    value = getattr(request.app.state, attr, None)
    if value is None:
        value = build(get_store(request))
        setattr(request.app.state, attr, value)
    return value


def get_codec(request: Request) -> CursorCodec:
    """The cursor codec, built once per app from the store's secret."""
    codec = app_object(request, "cursor_codec", codec_for_store)
    if not codec.lasting:
        codec = request.app.state.cursor_codec = lasting_codec(get_store(request), codec)
    return codec


# -- bodies ----------------------------------------------------------------


def _is_json_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _where_too_large(raw: bytes) -> str | None:
    """Where the first number too large for a double is (orjson only gives line and column)."""
    found = refused_number(raw)
    return field_path(found[1]) if found and found[1] else None


async def read_json_body(request: Request) -> Any:
    """The request body as parsed JSON: 415 if not JSON or sent compressed, 413 if too big,
    400 if malformed, nested too deep or repeating a key in one object.

    Integers keep their exact value however long they are (orjson would turn one beyond
    64 bits into a float); the model decides per field whether the value fits. orjson
    parses every body; the exact reading (2–3× the time) runs only when the text may hold
    an integer beyond 64 bits (:func:`haven.exactjson.needs_exact_reading`) or the cheap
    key count cannot rule out a repeated key.

    Used as a dependency so the endpoint itself can stay a sync ``def``.
    """
    if not _is_json_type(request.headers.get("content-type")):
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json", field="body")
    check_not_encoded(request)
    raw = await _read_raw_body(request)
    if not raw.strip():
        raise InvalidInput("the body is empty; send a JSON object", field="body")
    return parse_json_body(raw)


async def read_no_body(request: Request) -> None:
    """For a write that takes no body (undo): the request must still be one a web page of
    another origin cannot send without asking first.

    A cross-site page may POST a form, text or nothing at all without a CORS preflight (a
    "simple request"); a JSON ``Content-Type`` makes the browser ask first, and the server
    refuses other origins. So a form or text type is a 415 as on every other write; no
    ``Content-Type`` is a 415 too when the request carries an ``Origin`` (browsers send one
    on every POST, same-origin included), and accepted from clients that are not web pages
    (curl, scripts). The body may be empty or ``{}``; anything else is a 400, and a
    compressed one a 415 as on every other write.
    """
    content_type = request.headers.get("content-type")
    from_a_page = "origin" in request.headers
    if not _is_json_type(content_type) and (content_type is not None or from_a_page):
        raise UnsupportedMediaType("send Content-Type: application/json with this request (the body may be "
                                   "empty)", field="body")
    check_not_encoded(request)
    raw = await _read_raw_body(request)
    if raw.strip() and parse_json_body(raw) != {}:
        raise InvalidInput("this request takes no body; send none, or {}", field="body")


MAX_SHOWN_HEADER_CHARS = 100  # of a header value quoted back in an error message


def check_not_encoded(request: Request) -> None:
    """Refuse (415 naming the header and its value) a body sent with a content coding.

    Haven reads a body as the bytes that arrive; gzip or br bytes read that way would be
    answered with a misleading "not valid JSON", or worse. ``identity`` (no coding) is
    accepted, alone or listed, as is an empty header. The check runs before any byte of
    the body is read, so a refused write stores nothing.
    """
    values = request.headers.getlist("content-encoding")
    codings = (coding.strip().lower() for value in values for coding in value.split(","))
    if any(coding not in ("", "identity") for coding in codings):
        shown = ", ".join(value.strip() for value in values)
        if len(shown) > MAX_SHOWN_HEADER_CHARS:
            shown = shown[:MAX_SHOWN_HEADER_CHARS] + "…"
        raise UnsupportedEncoding(
            f"Content-Encoding: {shown} is not supported; send the body uncompressed, without a "
            "Content-Encoding header (or with Content-Encoding: identity)", field="Content-Encoding")


async def _read_raw_body(request: Request) -> bytes:
    """The body's bytes: 413 past :data:`MAX_BODY_BYTES`, whether declared or streamed."""
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
    return b"".join(chunks)


def parse_json_body(raw: bytes) -> Any:
    """Parse a body's bytes (see :func:`read_json_body`), as :func:`~haven.exactjson.loads_exactly`
    reads any JSON text; what orjson refuses is worded here, for a body."""
    try:
        return loads_exactly(raw, what="the body")
    except orjson.JSONDecodeError as exc:
        try:  # orjson words bytes that are not UTF-8 as "surrogates not allowed": say what is wrong
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise InvalidInput(f"the body is not UTF-8 text (byte {raw[bad.start]:#04x} at offset {bad.start}: "
                               f"{bad.reason}); send JSON encoded as UTF-8", field="body") from None
        where = _where_too_large(raw) if "infinity" in str(exc) else None
        if where:
            raise InvalidInput(f"the body is not valid JSON: {where} is a number too large to hold "
                               f"(beyond ±1.8e308; {exc})", field="body") from None
        raise InvalidInput(f"the body is not valid JSON ({exc})", field="body") from None


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


_NON_ASCII = re.compile(rb"[\x80-\xff]")


def _percent_escape(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


def utf8_query(query: bytes) -> bytes:
    """The raw query string, checked: every parameter name and value must be UTF-8 once
    decoded, else a 400 naming the parameter (the server would put in U+FFFD). Bytes
    above 0x7F sent unescaped come back %-escaped, so they are read as UTF-8, not Latin-1."""
    if query.isascii() and b"%" not in query:  # nothing to decode: the common case
        return query
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            field = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")[:NAME_MAX_CHARS]
        except UnicodeDecodeError:
            raise InvalidInput("a query parameter's name is not valid UTF-8 once decoded", field=None) from None
        try:
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{field}: is not valid UTF-8 once decoded (check its %-escapes)",
                               field=field) from None
    return query if query.isascii() else _NON_ASCII.sub(_percent_escape, query)


def single_values(query: bytes) -> None:
    """Every parameter of a (UTF-8 checked) query string appears once: ``?limit=10&limit=20``
    is a 400 naming ``limit``, not a silent choice of the last value. Names are compared as
    the routes read them, once decoded (``%6Cimit`` is ``limit``)."""
    if b"&" not in query:  # one parameter at most: the common case
        return
    seen: set[str] = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            shown = name if len(name) <= NAME_MAX_CHARS else name[:NAME_MAX_CHARS] + "…"
            raise InvalidInput(f"{shown or 'a parameter without a name'}: is given more than once; send each "
                               "query parameter once", field=shown or None)
        seen.add(name)


def check_name(name: str, field: str = "name") -> str:
    if not name:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(name) > NAME_MAX_CHARS:
        raise InvalidInput(f"{field} must be at most {NAME_MAX_CHARS} characters", field=field)
    return name


def check_filter_name(name: str, field: str) -> str:
    """A name a query looks up or filters by (galaxy, region, a by-name path): names never hold
    control characters (:func:`haven.model.clean_name`), so one that does is a 400 naming the
    field rather than a 404 for a name that cannot exist."""
    check_name(name, field)
    if CONTROL_CHARS.search(name):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    return name


def digits_only(value: Any) -> Any:
    """An integer path or query parameter given as plain ASCII digits: ``1.0``, ``+1``, `` 1``,
    ``1_0`` (which Python reads as 10) and ``true`` are refused, not coerced (a pydantic
    ``BeforeValidator``). Leading zeros are fine: ``007`` is 7."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number written in digits, such as 3")
    return value


# One way to split any text (no optional dot between two digit runs): linear time on long input.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)",
                      re.IGNORECASE)


def decimal_only(value: Any) -> Any:
    """A number query parameter written as a decimal (``12.5``, ``-3``, ``1e3``): ``1_0`` (which
    Python reads as 10), spaces around it and digits of other scripts are refused, not coerced (a
    pydantic ``BeforeValidator``). ``inf`` and ``nan`` pass, so the route's own check names them
    as not finite."""
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError("must be a number written in decimal digits, such as 12.5")
    return value


#: A whole number in plain digits and a decimal number (see the validators above), for path and
#: query parameters alike; the route adds its bounds with ``Path(...)`` or ``Query(...)``.
DigitsInt = Annotated[int, BeforeValidator(digits_only)]
DecimalFloat = Annotated[float, BeforeValidator(decimal_only)]

#: ``?version=N``: the version a request expects (delete, map picking); plain digits, 1 to 2⁶³−1.
VersionQuery = Annotated[
    int | None,
    Query(ge=1, le=SQLITE_INT_MAX, description="Act only at this version (for an undo: the version the change "
                                               "to undo made); another one answers 409."),
    BeforeValidator(digits_only),
]


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
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput('If-Match must name one version, like If-Match: "3"', field="If-Match")
    version = int(text) if len(text) <= 19 else 0
    if not 1 <= version <= SQLITE_INT_MAX:
        raise InvalidInput(f"If-Match must name a version from 1 to {SQLITE_INT_MAX}", field="If-Match")
    return version


def merge_version(data: Any, header_version: int | None) -> Any:
    """Put the If-Match version into the body; both given and different is a 400.

    A body ``version`` that is not a JSON integer is left for the model to refuse
    (``true == 1`` in Python, so comparing first would let it through)."""
    if header_version is None or not isinstance(data, dict):
        return data
    body_version = data.get("version")
    if body_version is None:
        return {**data, "version": header_version}
    if type(body_version) is int and body_version != header_version:
        raise InvalidInput("version in the body and If-Match disagree; send one of them", field="version")
    return data


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


def coordinate_query(description: str, *, radius: bool = False) -> Any:
    """``Query()`` for a coordinate or radius in light years, its bounds written into the
    OpenAPI document; :func:`coordinate` checks them (and names the parameter) when called."""
    low = {"exclusiveMinimum": 0} if radius else {"minimum": -MAX_COORDINATE_LY}
    return Query(description=description, json_schema_extra={**low, "maximum": MAX_COORDINATE_LY})


def page_count(total: int, per_page: int) -> int:
    return -(-total // per_page) if total > 0 else 0
