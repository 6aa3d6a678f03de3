"""The one place where errors become HTTP answers.

Every layer raises :class:`haven.errors.HavenError` subclasses; this module
maps them (and the errors FastAPI/Starlette raise themselves: unknown routes,
wrong methods, unparsable parameters) to JSON answers in two shapes:

- ``/api/v1/...`` and everything that is not a legacy route::

      {"error": {"code": "invalid", "message": "limit: ...", "field": "limit",
                 "problems": [{"field": "limit", "message": "limit: ..."}]}}

  An ``invalid`` error lists every problem the request has in ``problems`` (at most
  :data:`haven.model.MAX_PROBLEMS`); ``message`` and ``field`` are the first one's.

- legacy routes (``/api/...`` but not ``/api/v1``), the original shape::

      {"error": "System not found"}

Nothing a client sends may produce a 500; the catch-all handler exists for
bugs only, logs them and still answers JSON.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Scope

from haven.api.schemas import ErrorOut, LegacyErrorOut
from haven.errors import HavenError
from haven.model import InvalidFields, field_path, plain_message
from haven.store.sqlite import is_busy

log = logging.getLogger("haven.api")

#: Scope key holding the method a client sent when the app runs the request as another
#: (``HEAD`` runs as ``GET``: :class:`haven.api.app.HeadLikeGet`); error messages name the sent one.
ORIGINAL_METHOD = "haven.original_method"


class PayloadTooLarge(HavenError):
    """A request body is larger than the server accepts."""

    code = "too_large"
    status = 413


class UnsupportedMediaType(HavenError):
    """A request body is not JSON."""

    code = "unsupported_media_type"
    status = 415


class UnsupportedEncoding(UnsupportedMediaType):
    """A request body is sent compressed (a ``Content-Encoding`` other than ``identity``).

    Haven reads bodies as they are sent; its answer says so with ``Accept-Encoding: identity``
    (RFC 9110, section 15.5.16), so a client that compressed the body knows to stop."""


# Codes for errors that do not come from our hierarchy.
CODE_BY_STATUS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "store_unavailable",
    507: "store_unavailable",
}


#: What an error status means, as the OpenAPI document says it for the routes that can answer it.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid input: the message says what was wrong (on Haven's own routes `field` names the "
         "parameter, header or body field).",
    404: "Not found: no such system, galaxy, region, octree node, map page or change to undo.",
    409: "Conflict: a stale version (`stale_version`, with `current_version`), a name already taken, "
         "or an undo that later changes prevent.",
    413: "The body is larger than the server accepts.",
    415: "The body is not JSON: send `Content-Type: application/json`, uncompressed.",
    503: "The database is busy or not open (try again), or this install cannot build map pages.",
}


def error_responses(*statuses: int, legacy: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route or router that can answer ``statuses``, each with the body
    its route family answers (:func:`error_response`)."""
    model = LegacyErrorOut if legacy else ErrorOut
    return {status: {"model": model, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


def status_for(exc: HavenError) -> int:
    """The HTTP status of a Haven error: its class's ``status`` (a 4xx or 5xx; 400 otherwise)."""
    return exc.status if 400 <= exc.status <= 599 else 400


def route_path(scope: Scope) -> str:
    """The path the router matches: the request's path without the app's ``root_path``."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def is_v1_path(path: str) -> bool:
    """``/api/v1`` and the paths under it: Haven's own API."""
    return path == "/api/v1" or path.startswith("/api/v1/")


def is_legacy_path(path: str) -> bool:
    """``/api/...`` routes other than ``/api/v1/...``, and ``/maps/...``, keep the original error shape."""
    if path.startswith("/maps/"):
        return True
    if path == "/api" or path.startswith("/api/"):
        return not is_v1_path(path)
    return False


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Answer an error in the shape the route family expects.

    On Haven's own routes an ``invalid`` error always lists its problems (``problems``, each
    ``{"field", "message"}``): the ones ``extra`` gives, else the error itself as the only one."""
    if is_legacy_path(route_path(request.scope)):
        body: dict[str, Any] = {"error": message}
    else:
        detail: dict[str, Any] = {"code": code, "message": message, "field": field}
        if extra:
            detail.update(extra)
        if code == "invalid" or "problems" in detail:
            detail["problems"] = _problems(detail.get("problems"), field, message)
        body = {"error": detail}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _problems(given: Any, field: str | None, message: str) -> list[dict[str, Any]]:
    """An answer's ``problems``: one shape whoever made them. ``{"field", "message"}`` items pass
    as they are; text (:class:`haven.errors.ImportFailed` lists lines) becomes a message with no
    field; none at all is the error itself."""
    if not isinstance(given, list) or not given:
        return [{"field": field, "message": message}]
    return [p if isinstance(p, dict) else {"field": None, "message": str(p)} for p in given]


async def haven_error_handler(request: Request, exc: Exception) -> Response:
    """Every :class:`HavenError`: its status, and its :meth:`~HavenError.to_dict` as the body's ``error``."""
    assert isinstance(exc, HavenError)
    detail = exc.to_dict()
    code, message, field = detail.pop("code"), detail.pop("message"), detail.pop("field")
    headers = {"Accept-Encoding": "identity"} if isinstance(exc, UnsupportedEncoding) else None
    return error_response(request, status_for(exc), code, message, field, extra=detail or None, headers=headers)


def _loc_to_field(loc: tuple[Any, ...]) -> str | None:
    """``('query', 'limit')`` → ``limit``; ``('path', 'system_id')`` → ``id``."""
    parts = list(loc)
    if parts and parts[0] in ("query", "path", "header", "cookie", "body"):
        parts = parts[1:]
    parts = [("id" if p == "system_id" else p) for p in parts]
    return field_path(tuple(parts)) or None


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's checks of parameters: every problem, in plain words (:func:`haven.model.plain_message`)."""
    assert isinstance(exc, RequestValidationError)
    problems: list[tuple[str | None, str]] = []
    for err in exc.errors():
        field = _loc_to_field(tuple(err.get("loc", ())))
        msg = plain_message(err)
        problems.append((field, f"{field}: {msg}" if field else msg))
    if not problems:
        return error_response(request, 400, "invalid", "the request is not valid")
    return await haven_error_handler(request, InvalidFields(problems))


def _allowed_methods(request: Request) -> str | None:
    """Every method any route serves at this path (the router only reports the first route's).

    A path that routes name literally (``app.state.fixed_paths``) is theirs alone: the methods
    of ``/api/v1/systems/{id}`` do not count at ``/api/v1/systems/search``."""
    path = route_path(request.scope)
    fixed = getattr(request.app.state, "fixed_paths", {}).get(path)
    if fixed is not None:
        methods = set(fixed)
    else:
        table = getattr(request.app.state, "route_methods", None) or ()
        methods = {method for regex, route_methods in table if regex.match(path) for method in route_methods}
    return ", ".join(sorted(methods)) if methods else None


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers) if exc.headers else None
    path = request.scope.get("path", "")
    if status == 404:
        message = f"no route or file at {path}" if exc.detail in (None, "", "Not Found") else str(exc.detail)
    elif status == 405:
        allow = _allowed_methods(request) or (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        if allow:
            headers = {**(headers or {}), "Allow": allow}
            headers.pop("allow", None)
        method = request.scope.get(ORIGINAL_METHOD, request.method)
        message = f"method {method} is not allowed on {path}"
        if allow:
            message += f" (allowed: {allow})"
    else:
        message = str(exc.detail)
    code = CODE_BY_STATUS.get(status, "error")
    if status < 400:  # redirects and the like are not errors; pass them through
        return Response(status_code=status, headers=headers)
    return error_response(request, status, code, message, None, headers=headers)


def storage_failure(exc: Exception) -> tuple[int, str] | None:
    """(status, message) when SQLite could not write because of where the database lives, else None.

    A full disk (``SQLITE_FULL``) is ``507 Insufficient Storage``; a file or folder the
    server may not write (``SQLITE_READONLY``, a read-only share) is ``503``. Told by
    SQLite's error code, not its words. Either way SQLite rolled the write back.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    if code & 0xFF == sqlite3.SQLITE_FULL:
        return 507, "the disk holding the database is full; nothing was written (free some space, then retry)"
    if code & 0xFF == sqlite3.SQLITE_READONLY:
        return 503, "the database is read-only for this server; nothing was written"
    return None


async def database_error_handler(request: Request, exc: Exception) -> Response:
    """SQLite errors that escape the store. "locked"/"busy" past the store's busy
    timeout is load, not a bug: a 503 the client may retry; so is an index that a
    bulk load has out while it runs. Anything else is a bug."""
    if is_busy(exc):
        log.warning("database busy on %s %s: %s", request.method, request.scope.get("path"), exc)
        return error_response(
            request, 503, "store_unavailable", "the database is busy; retry shortly", headers={"Retry-After": "1"}
        )
    storage = storage_failure(exc)
    if storage is not None:  # the disk, not the request: the write was rolled back and can be retried later
        status, message = storage
        log.error("%s on %s %s: %s", message, request.method, request.scope.get("path"), exc)
        return error_response(request, status, "store_unavailable", message, headers={"Retry-After": "60"})
    if isinstance(exc, sqlite3.OperationalError) and "no such index" in str(exc).lower():
        # a bulk load into this database has its indexes out until it finishes (haven/store/deferred.py)
        log.warning("index missing on %s %s: %s", request.method, request.scope.get("path"), exc)
        return error_response(
            request, 503, "store_unavailable", "a bulk load is rebuilding the database's indexes; retry when "
            "it has finished", headers={"Retry-After": "60"},
        )
    return await unexpected_error_handler(request, exc)


async def client_gone_handler(request: Request, exc: Exception) -> Response:
    """The client closed the connection before its body arrived: nothing to answer and
    nothing wrong with the server, so a line at info level instead of a 500's traceback."""
    log.info("client left during the body of %s %s", request.method, request.scope.get("path"))
    return error_response(request, 400, "invalid", "the request body ended early (the client disconnected)",
                          "body")


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Bugs only: log with the traceback, answer JSON 500 without internals."""
    log.error("unhandled error on %s %s", request.method, request.scope.get("path"), exc_info=exc)
    return error_response(request, 500, "internal", "internal server error; the details are in the server log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HavenError, haven_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(sqlite3.Error, database_error_handler)
    app.add_exception_handler(ClientDisconnect, client_gone_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
