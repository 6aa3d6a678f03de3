"""The FastAPI application: ``/api/v1``, the legacy ``/api`` routes, health, docs, web front end.

    uvicorn --factory haven.api.app:create_app

opens the store named by ``HAVEN_DATABASE_URL`` at startup and closes it at
shutdown. Tests and embedders pass an open store instead (then the caller
owns it and closes it).
"""

from __future__ import annotations

import functools
import gc
import logging
import os
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

import haven
from haven.api import chunks, legacy, live, maps, v1
from haven.api.allocator import tune_allocator
from haven.api.common import JSONBytes, json_response, single_values, utf8_query
from haven.api.errors import (ORIGINAL_METHOD, error_responses, haven_error_handler, http_error_handler,
                              install_error_handlers, is_v1_path, route_path)
from haven.api.openapi import openapi_schema
from haven.api.schemas import Health
from haven.chunks.service import ChunkRefresher, ChunkService
from haven.config import DEFAULT_GALAXY, cache_mib, database_url, worker_threads
from haven.errors import InvalidInput
from haven.store import SQLiteStore, filelocks, open_store
from haven.store.sqlite import connection_cache_kib, sqlite_memory_limit
from haven.web import PageRedirects

log = logging.getLogger("haven.api")

# The web front end lives here; see create_app's step 5.
WEB_STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"


def npm_package_dir(package: str, marker: str, variable: str) -> Path | None:
    """Where an npm package `make` installed is: the folder ``variable`` names, else the checkout's
    node_modules; None unless its ``marker`` file is there."""
    configured = os.environ.get(variable)
    candidate = Path(configured) if configured else WEB_STATIC_DIR.parents[2] / "node_modules" / package
    return candidate if (candidate / marker).is_file() else None


def three_js_dir() -> Path | None:
    """Where the three.js npm package is: ``HAVEN_THREE_DIR``, else the checkout's node_modules."""
    return npm_package_dir("three", "build/three.module.js", "HAVEN_THREE_DIR")


def swagger_ui_dir() -> Path | None:
    """Where the swagger-ui-dist npm package is (``/docs`` draws with it): ``HAVEN_SWAGGER_UI_DIR``, else node_modules."""
    return npm_package_dir("swagger-ui-dist", "swagger-ui-bundle.js", "HAVEN_SWAGGER_UI_DIR")


def api_reference_page(swagger_dir: Path | None) -> HTMLResponse:
    """``/docs``: Swagger UI from the server's own copy, so the reference opens without the internet.

    FastAPI's default page loads it from a CDN, which shows a blank page offline.
    """
    if swagger_dir is None:
        return HTMLResponse(
            "<!doctype html><title>Haven API</title><h1>Haven API</h1>"
            "<p>Swagger UI is not installed (run <code>make</code>, which installs it from npm). "
            'The OpenAPI document is at <a href="/openapi.json">/openapi.json</a>; '
            "docs/api.md in the repository describes every route.</p>",
            status_code=503,
        )
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Haven API",
        swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/vendor/swagger-ui/favicon-32x32.png",
    )


class QueryStringCheck:
    """Checks every query string before any route reads it.

    A parameter that is not UTF-8 once decoded (:func:`~haven.api.common.utf8_query`), or, on
    ``/api/v1``, a parameter given twice (:func:`~haven.api.common.single_values`), gets a 400
    naming it; on a WebSocket, an error message and close code 1008, as the chunk socket
    answers a bad galaxy.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw = scope.get("query_string", b"")
            try:
                query = utf8_query(raw)
                if is_v1_path(route_path(scope)):
                    single_values(query)
            except InvalidInput as exc:
                if scope["type"] == "http":
                    response = await haven_error_handler(Request(scope), exc)
                    await response(scope, receive, send)
                else:
                    socket = WebSocket(scope, receive, send)
                    await socket.accept()
                    await live.refuse(socket, exc)
                return
            if query is not raw:
                scope = {**scope, "query_string": query}
        await self.app(scope, receive, send)


class FixedPathMethods:
    """A path that routes name literally (``/api/v1/systems/search``) takes only their methods.

    Starlette prefers a route that matches both path and method to one that matches the path
    alone, so ``DELETE /api/v1/systems/search`` would reach ``DELETE /api/v1/systems/{id}``
    and be refused as a bad id. Here any other method on such a path is a 405 whose ``Allow``
    lists the literal routes' methods (``app.state.fixed_paths``), before routing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = getattr(scope["app"].state, "fixed_paths", {}).get(route_path(scope))
            if methods is not None and scope["method"] not in methods:
                response = await http_error_handler(Request(scope), StarletteHTTPException(405))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class JSONRefusalCORS(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as every other error is: JSON
    naming the ``Access-Control-Request-…`` header that asked for what is not allowed
    (Starlette answers it in plain text)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:  # a preflight
                response = self.preflight_response(request_headers=headers)
                if response.status_code >= 400:
                    refusal = await haven_error_handler(Request(scope), self.refusal(headers))
                    for name, value in response.headers.items():  # Vary, Access-Control-Allow-…
                        if name not in ("content-type", "content-length"):
                            refusal.headers[name] = value
                    response = refusal
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def refusal(self, headers: Headers) -> InvalidInput:
        """What a refused preflight asked for that is not allowed, as the error to answer.

        Starlette refuses without saying why, so these are its checks in
        ``CORSMiddleware.preflight_response`` read again (keep them in step when
        upgrading Starlette); whatever they miss is named as the origin.
        """
        method = headers["access-control-request-method"]
        if method not in self.allow_methods:
            return InvalidInput(
                f"Access-Control-Request-Method: another origin may only send {', '.join(self.allow_methods)}, "
                f"not {method}; writes are same-origin", field="Access-Control-Request-Method")
        requested = headers.get("access-control-request-headers")
        if requested is not None and not self.allow_all_headers:
            for name in (part.strip().lower() for part in requested.split(",")):
                if name not in self.allow_headers:
                    return InvalidInput(
                        f"Access-Control-Request-Headers: another origin may not send the header {name!r}; "
                        f"it may send {', '.join(self.allow_headers)}", field="Access-Control-Request-Headers")
        if "access-control-request-private-network" in headers and not self.allow_private_network:
            return InvalidInput("Access-Control-Request-Private-Network: private network access is not allowed",
                                field="Access-Control-Request-Private-Network")
        return InvalidInput(f"the origin {headers['origin']!r} may not send this request", field="Origin")


class _HeadersSent(Exception):
    """Raised into the app once a HEAD answer's status and headers are out: nothing after them is wanted."""


class HeadLikeGet:
    """Answers ``HEAD`` as the ``GET`` of the same URL would, without the body.

    FastAPI routes take only the methods they declare, so a ``HEAD`` would otherwise fall
    through to the web front end's mount. Here it runs as ``GET``: the status and headers go
    out unchanged (``Content-Length``, ``ETag``, …), then the app is stopped, so a streamed
    answer (the export) never reads a row. ``scope[ORIGINAL_METHOD]`` keeps ``HEAD`` for
    error messages.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                raise _HeadersSent

        try:
            await self.app({**scope, "method": "GET", ORIGINAL_METHOD: "HEAD"}, receive, headers_only)
        except* _HeadersSent:  # also when a streaming answer's task group wraps it
            pass


def is_api_path(path: str) -> bool:
    """Paths the API owns (``/api/...``, ``/healthz``, the legacy ``/maps/...``): never static files."""
    return path in ("/api", "/healthz") or path.startswith(("/api/", "/maps/"))


class WebFrontEnd(Mount):
    """The web front end's catch-all mount at ``/``, which leaves the API's paths to the router.

    A mount matches every path under it, and Starlette prefers that to a route that matches
    the path but not the method; the static files would then answer 405 "GET, HEAD" for a
    ``PUT /api/v1/nonexistent``. Not matching API paths here makes an unknown one a JSON 404
    and a known one with another method a 405 whose ``Allow`` lists the route's methods.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if is_api_path(route_path(scope)):
            return Match.NONE, {}
        return super().matches(scope)


def served_methods(route: APIRoute) -> set[str]:
    """The methods a route answers: its own, and ``HEAD`` wherever ``GET`` works (:class:`HeadLikeGet`)."""
    return route.methods | {"HEAD"} if "GET" in route.methods else set(route.methods)


async def _close_change_hub(app: FastAPI) -> None:
    """Stop the chunk WebSocket's feed poller, started by the first subscriber (if any)."""
    hub = getattr(app.state, "change_hub", None)
    if hub is not None:
        await hub.close()


async def _close_app_store(app: FastAPI) -> None:
    """Close the store the app opened itself."""
    store, app.state.store = app.state.store, None
    if store is not None:
        await run_in_threadpool(store.close)


def create_app(
    store: SQLiteStore | None = None,
    *,
    galaxy: str = DEFAULT_GALAXY,
    static_dir: Path | None = None,
    refresh_chunks: bool | None = None,
) -> FastAPI:
    """Build the app around ``store`` (or the configured store, opened at startup).

    ``static_dir`` overrides where the web front end is served from (tests).
    ``refresh_chunks``: rebuild changed nodes' chunks in a background thread
    (:class:`~haven.chunks.service.ChunkRefresher`); by default only when the app
    opens its own store, as ``haven serve`` does.
    """
    owns_store = store is None
    refresh = owns_store if refresh_chunks is None else refresh_chunks

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        live.BadTextFrames.install()  # after uvicorn has set up its loggers
        # What startup opens is closed again, in reverse order, however far startup got.
        async with AsyncExitStack() as opened_here:
            if owns_store:
                # Memory bounded whatever the load: at most worker_threads() requests run in
                # threads at once (each keeps a connection and holds its answer), and SQLite's
                # memory in this process has one budget. Both settings are read (and a bad one
                # refused) before anything is opened.
                threads, budget_mib = worker_threads(), cache_mib()
                to_thread.current_default_thread_limiter().total_tokens = threads
                tune_allocator()  # before the worker threads allocate: see haven.api.allocator
                opened_here.enter_context(sqlite_memory_limit(budget_mib << 20))
                # The budget is shared by the worker threads' connections: 16 MiB each by default,
                # more for each when a larger budget is set (see haven.store.sqlite.connection_cache_kib).
                # Held from before the store checks the schema until after it closes: no upgrade or
                # downgrade runs meanwhile (see haven.store.filelocks).
                url = database_url()
                held = filelocks.serving(url.sqlite_path) if url.engine == "sqlite" else None
                if held is not None:
                    opened_here.callback(held.release)
                opened = await run_in_threadpool(
                    functools.partial(open_store, cache_kib=connection_cache_kib(budget_mib, threads)))
                opened_here.push_async_callback(_close_app_store, app)
                app.state.store = opened
                await run_in_threadpool(opened.ensure_galaxy, galaxy)
                opened.start_background_maintenance()  # commits never wait for a checkpoint or a merge
                # Everything loaded so far lives as long as the server: keep it out of
                # the garbage collector's full passes, which would otherwise walk it every
                # few thousand requests (a 5,000-row answer allocates ~10k objects).
                gc.freeze()
            if refresh:
                service = app.state.chunk_service = ChunkService(app.state.store)
                refresher = ChunkRefresher(service)
                await run_in_threadpool(refresher.start)
                opened_here.push_async_callback(run_in_threadpool, refresher.stop)
            opened_here.push_async_callback(_close_change_hub, app)
            yield

    app = FastAPI(
        title="Haven",
        version=getattr(haven, "__version__", "0.1.0"),
        description="World-state server for star maps. Haven's API is under /api/v1; "
        "the original Haven routes are under /api.",
        docs_url=None,  # served below, from the server's own copy of Swagger UI
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        # No redirect for a path with a slash added: Starlette builds its Location from the
        # decoded path, so /api/regions/100%2541/systems/ led to region "100A". Such a path
        # answers 404 like any other unknown one.
        redirect_slashes=False,
    )
    app.state.store = store
    app.state.galaxy = galaxy
    app.state.cursor_codec = None
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]

    # 1. errors: one mapping for every route
    install_error_handlers(app)

    # Before routing, a method that a literal path does not take is a 405 (FixedPathMethods,
    # added last, runs first); then query strings that are not UTF-8, and /api/v1 parameters
    # given twice, are refused before any route reads them. Both are added before CORS, so
    # their refusals carry the CORS headers too.
    app.add_middleware(QueryStringCheck)
    app.add_middleware(FixedPathMethods)

    # Reads from any origin (a map exported with `haven map --galaxy` runs from file://,
    # origin "null"); no credentials, and writes stay same-origin. A refused preflight is JSON.
    app.add_middleware(
        JSONRefusalCORS,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD"],
        allow_headers=["If-None-Match"],
        expose_headers=["ETag"],
        allow_credentials=False,
    )

    # HEAD on any GET route: added last, so it wraps CORS and sees the final headers.
    app.add_middleware(HeadLikeGet)

    # 2. health
    @app.get("/healthz", tags=["operations"], summary="Liveness and database check", response_class=JSONBytes,
             response_model=Health,
             responses={**error_responses(400), 503: {"model": Health, "description": "The database cannot be read."}})
    def healthz(request: Request) -> Response:
        current = request.app.state.store
        if current is None:
            return json_response({"status": "unavailable", "error": "the database is not open"}, status_code=503)
        try:
            g = current.galaxy(request.app.state.galaxy)
        except Exception as exc:  # noqa: BLE001 - health answers, it does not crash
            log.warning("health check failed: %s", exc)
            return json_response({"status": "unavailable", "error": "the database cannot be read"}, status_code=503)
        return json_response({"status": "ok", "galaxy": g["name"], "total_systems": g["system_count"]})

    swagger_dir = swagger_ui_dir()  # /docs: the API reference, drawn by the server's own Swagger UI (step 5)
    app.add_api_route("/docs", lambda: api_reference_page(swagger_dir), include_in_schema=False,
                      response_class=HTMLResponse)

    # 3. Haven's API, then 4. the original API (specific routes before {name:path}).
    # Another router (e.g. chunks) is added to this tuple; order is match order.
    routers = (v1.router, live.router, chunks.router, legacy.router, maps.router)
    for router in routers:
        app.include_router(router)
    # every (path pattern, methods) pair, so a 405 can list all allowed methods (HEAD wherever
    # GET works: HeadLikeGet answers it)
    api_routes = [
        route for route in [*app.routes, *(route for router in routers for route in router.routes)]
        if isinstance(route, APIRoute)  # app.routes holds /healthz; the routers' routes sit in wrappers there
    ]
    app.state.route_methods = [(route.path_regex, served_methods(route)) for route in api_routes]
    # the paths routes name literally, with every method they take there (FixedPathMethods)
    fixed_paths: dict[str, set[str]] = {}
    for route in api_routes:
        if not route.param_convertors:
            fixed_paths.setdefault(route.path, set()).update(served_methods(route))
    app.state.fixed_paths = fixed_paths

    # 5. ---- web front end ------------------------------------------------------------------
    # Static assets are served from haven/web/static at /static, and that folder's pages
    # (index.html is the Control Room) at /. three.js and Swagger UI, installed from npm by
    # `make`, are served at /vendor/three and /vendor/swagger-ui. Mounted last so API routes
    # always win.
    three_dir = three_js_dir()
    if three_dir is not None:
        app.mount("/vendor/three", StaticFiles(directory=three_dir), name="three")
    if swagger_dir is not None:
        app.mount("/vendor/swagger-ui", StaticFiles(directory=swagger_dir), name="swagger-ui")
    web_dir = static_dir if static_dir is not None else WEB_STATIC_DIR
    if web_dir.is_dir():
        # /map, /wizard, /system, /control-room and /x.html/ redirect to their page (GET only)
        app.router.routes.append(PageRedirects(web_dir))
        app.mount("/static", StaticFiles(directory=web_dir), name="static")
        if (web_dir / "index.html").is_file():
            app.router.routes.append(WebFrontEnd("/", app=StaticFiles(directory=web_dir, html=True), name="web"))
    # ---- end of web front end --------------------------------------------------------

    # FastAPI builds the handlers of an included router's routes on that router's first
    # request (2-9 ms, paid by whichever user comes first). Building the OpenAPI schema
    # walks every route, so the handlers are built here, at startup, instead.
    app.openapi()
    return app
