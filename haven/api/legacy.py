"""The original Haven HTTP API, kept for older tools (see docs/api.md, "Legacy routes").

Same paths, parameters, field names and answer shapes as the original;
errors are ``{"error": "<message>"}`` with a 4xx status instead of the
original's blanket 500. ``/api/generate/system/{name}`` registers a system's
self-contained map page (see :mod:`haven.web.export`); ``/maps/{filename}``
serves it from :mod:`haven.api.maps`.

In legacy system objects ``id`` is the imported ``legacy_id`` when there is
one (even an empty one, as exports write it), else the integer id as a string.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from haven.api.common import (
    DecimalFloat,
    DigitsInt,
    JSONBytes,
    app_galaxy,
    check_name,
    coordinate,
    coordinate_query,
    get_codec,
    get_store,
    json_response,
    page_count,
    raw_path_tail,
)
from haven.api.errors import error_responses
from haven.api.schemas import LegacyDetail, LegacyMapLink, LegacyRegionPage, LegacyStats, LegacySystem
from haven.errors import InvalidInput, NotFound
from haven.ingest.export import whole_percents
from haven.store.base import MAX_LIMIT, MAX_OFFSET
from haven.web.export import MapRegistry

router = APIRouter(prefix="/api", tags=["legacy"], responses=error_responses(400, 404, 503, legacy=True))

SYSTEM_FIELDS = (
    "name", "x", "y", "z", "region", "fauna", "flora", "sentinel", "materials",
    "base_location", "photo", "attributes", "created_at", "modified_at",
)
BODY_FIELDS = ("name", "sentinel", "fauna", "flora", "properties", "materials", "base_location", "photo", "notes")
MOON_FIELDS = BODY_FIELDS + ("orbit_radius", "orbit_speed")
STATION_FIELDS = ("name", "x", "y", "z", "race", "sell_percent", "buy_percent")


def legacy_system(s: dict[str, Any]) -> dict[str, Any]:
    """A store row as the original flat system object."""
    legacy_id = s.get("legacy_id")
    out: dict[str, Any] = {"id": str(s["id"]) if legacy_id is None else legacy_id}
    for key in SYSTEM_FIELDS:
        out[key] = s.get(key)
    if "distance" in s:
        out["distance"] = s["distance"]
    return out


def legacy_detail(s: dict[str, Any]) -> dict[str, Any]:
    out = legacy_system(s)
    out["planets"] = [
        {
            **{k: p.get(k) for k in BODY_FIELDS},
            "moons": [{k: m.get(k) for k in MOON_FIELDS} for m in p.get("moons", [])],
        }
        for p in s.get("planets", [])
    ]
    station = s.get("space_station")
    if station:
        out["space_station"] = {k: station.get(k) for k in STATION_FIELDS}
    return whole_percents(out)  # 80, not 80.0, as the old tool's INTEGER columns gave them


LegacyLimit = Annotated[DigitsInt, Query(ge=1, le=MAX_LIMIT)]


@router.get("/systems/visible", response_class=JSONBytes, response_model=list[LegacySystem],
            summary="Legacy: systems near a point (array)")
def visible(
    request: Request,
    cx: Annotated[DecimalFloat, coordinate_query("Centre x in light years.")] = 0.0,
    cy: Annotated[DecimalFloat, coordinate_query("Centre y in light years.")] = 0.0,
    cz: Annotated[DecimalFloat, coordinate_query("Centre z in light years.")] = 0.0,
    radius: Annotated[DecimalFloat, coordinate_query("Radius in light years, above 0.", radius=True)] = 50.0,
    limit: LegacyLimit = 5000,
) -> Response:
    """Array of systems within ``radius`` of ``(cx, cy, cz)``, each with ``distance``, nearest first."""
    for field, value in (("cx", cx), ("cy", cy), ("cz", cz), ("radius", radius)):
        coordinate(value, field)
    items = get_store(request).near(app_galaxy(request), cx, cy, cz, radius, limit=limit)
    return json_response([legacy_system(s) for s in items])


@router.get("/systems/search", response_class=JSONBytes, response_model=list[LegacySystem],
            summary="Legacy: search (array)")
def search(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: LegacyLimit = 100,
) -> Response:
    """Array of systems whose name, materials or attributes contain ``q``; an empty ``q`` finds nothing."""
    if not q.strip():
        return json_response([])
    items = get_store(request).search(app_galaxy(request), q, limit=limit)
    return json_response([legacy_system(s) for s in items])


#: A system's name in ``/api/systems/{name}``: ``search`` and ``visible`` are the paths of
#: other routes (as in the original), so the document says this one never takes them.
DetailName = Annotated[str, Path(
    description="The system's exact name, URL-encoded. Not `search` or `visible`: those paths are other "
                "routes; read systems of those names at /api/v1/systems/by-name/{name}.",
    json_schema_extra={"not": {"enum": ["search", "visible"]}},
)]


@router.get("/systems/{name:path}", response_class=JSONBytes, response_model=LegacyDetail,
            summary="Legacy: one system with planets")
def system_detail(request: Request, name: DetailName) -> Response:
    """One system with ``planets`` (each with ``moons``) and ``space_station`` when it has one."""
    exact = raw_path_tail(request, "/api/systems/", decoded=name)
    if not exact or len(exact) > 200:
        raise NotFound("System not found")
    try:
        s = get_store(request).system_by_name(app_galaxy(request), check_name(exact))
    except NotFound:
        raise NotFound("System not found") from None
    return json_response(legacy_detail(s))


@router.get("/regions", response_class=JSONBytes, response_model=list[str], summary="Legacy: region names (array)")
def regions(request: Request) -> Response:
    names = [r["name"] for r in get_store(request).regions(app_galaxy(request)) if r["system_count"] > 0]
    return json_response(sorted(names))


@router.get("/regions/{region:path}/systems", response_class=JSONBytes, response_model=LegacyRegionPage,
            summary="Legacy: one region's systems by page")
def region_systems(
    request: Request,
    region: str,
    page: Annotated[DigitsInt, Query(ge=1, le=10**9)] = 1,
    per_page: LegacyLimit = 100,
) -> Response:
    """A page of a region's systems in name order; ``next`` is a cursor for ``/api/v1/systems``.

    Page numbers are served while ``(page - 1) × per_page ≤ 10000``; beyond
    that follow ``next`` on ``/api/v1/systems?region=…&limit=per_page``.
    """
    exact = raw_path_tail(request, "/api/regions/", "/systems", decoded=region, field="region")
    offset = (page - 1) * per_page
    if offset > MAX_OFFSET:
        raise InvalidInput(
            f"page {page} is too deep to serve by number (only (page - 1) × per_page ≤ {MAX_OFFSET}); "
            f"follow the 'next' cursor with GET /api/v1/systems?region=<region>&limit={per_page}&cursor=<next>",
            field="page",
        )
    store = get_store(request)
    galaxy = app_galaxy(request)
    try:
        result = store.page(galaxy, region=exact, limit=per_page, offset=offset)
    except NotFound as exc:
        if exc.field != "region":
            raise
        # The original answered an unknown region with an empty list.
        return json_response({"systems": [], "total": 0, "page": page, "per_page": per_page,
                              "total_pages": 0, "next": None})
    nxt = None
    if result.has_more and result.items:
        nxt = get_codec(request).encode(
            "page", [galaxy, exact], {"a": result.items[-1]["name"], "p": page + 1, "l": per_page}
        )
    return json_response({
        "systems": [legacy_system(s) for s in result.items],
        "total": result.total,
        "page": page,
        "per_page": per_page,
        "total_pages": page_count(result.total, per_page),
        "next": nxt,
    })


@router.get("/stats", response_class=JSONBytes, response_model=LegacyStats, summary="Legacy: totals and database size")
def stats(request: Request) -> Response:
    data = get_store(request).stats(app_galaxy(request))
    return json_response({
        "total_systems": data["total_systems"],
        "regions": [r["name"] for r in data["regions"] if r["system_count"] > 0],
        "database_size_mb": round(data["database_size_bytes"] / (1024 * 1024), 2),
    })


_registry_lock = threading.Lock()


def map_registry(request: Request) -> MapRegistry:
    """The app's generated map pages (shared with ``/maps/{filename}``), made on first use."""
    registry = getattr(request.app.state, "map_registry", None)
    if registry is None:
        with _registry_lock:
            registry = getattr(request.app.state, "map_registry", None)
            if registry is None:
                registry = request.app.state.map_registry = MapRegistry()
    return registry


@router.get("/generate/system/{name:path}", response_class=JSONBytes, response_model=LegacyMapLink,
            summary="Legacy: generate a system's map page")
def generate_system_map(request: Request, name: str) -> Response:
    """Builds the system's self-contained map page; answers ``{"map_url": "/maps/<file>", "system_name"}``.

    The page is the one ``haven map --system`` writes. Pages are kept in memory
    (the most recent few hundred); a new version of the system gets a new file name.
    """
    exact = raw_path_tail(request, "/api/generate/system/", decoded=name)
    if not exact or len(exact) > 200:
        raise NotFound("System not found")
    galaxy = app_galaxy(request)
    try:
        s = get_store(request).system_by_name(galaxy, check_name(exact))
    except NotFound:
        raise NotFound("System not found") from None
    filename = map_registry(request).publish(s, galaxy=galaxy)
    return json_response({"map_url": f"/maps/{filename}", "system_name": s["name"]})
