"""Haven's own REST API under ``/api/v1``.

Every listing is keyset-paged or capped; totals come from counters. Hot
routes answer bytes serialized once with orjson. Bodies are read raw and
validated by :mod:`haven.model` so every error comes from our hierarchy and
names its field. Endpoints that touch the store are sync ``def``: they run in
the threadpool, and the store keeps one SQLite connection per thread.

Route order matters: the fixed ``/systems/...`` paths come before
``/systems/{system_id}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from haven.api.common import (
    DecimalFloat,
    DigitsInt,
    SQLITE_INT_MAX,
    JSONBytes,
    VersionQuery,
    check_filter_name,
    coordinate,
    coordinate_query,
    etag,
    get_codec,
    request_galaxy,
    get_store,
    json_response,
    merge_version,
    page_count,
    parse_if_match,
    raw_path_tail,
    read_json_body,
    read_no_body,
)
from haven.api.cursor import MAX_CURSOR_CHARS, state_int, state_str
from haven.api.errors import error_responses
from haven.api.schemas import (
    GalaxyList,
    HistoryList,
    RegionList,
    SearchPage,
    SpaceAnswer,
    StatsOut,
    SystemDetail,
    SystemPage,
    UndoAnswer,
)
from haven.errors import InvalidInput, NotFound
from haven.ingest.export import FORMATS as EXPORT_FORMATS
from haven.ingest.export import DOWNLOADS, export_stream
from haven.model import END_OF_NAMES, NAME_MAX_CHARS, validate_patch, validate_system
from haven.store.base import MAX_LIMIT, MIN_SEARCH_CHARS, Page, Store

PREFIX = "/api/v1"
router = APIRouter(prefix=PREFIX, tags=["v1"], responses=error_responses(400, 404, 503))
#: What a route that takes a body can answer besides: a conflict, a body too large, one that is not JSON.
WRITE_ERRORS = error_responses(409, 413, 415)


Limit = Annotated[DigitsInt, Query(ge=1, le=MAX_LIMIT, description=f"Items per answer, 1 to {MAX_LIMIT}.")]
Galaxy = Annotated[
    str | None, Query(max_length=NAME_MAX_CHARS, description="Galaxy name; the server's default galaxy if omitted.")
]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_CHARS, description="Opaque cursor from a previous answer's next/prev.")
]
SystemId = Annotated[DigitsInt, Path(ge=1, le=SQLITE_INT_MAX, description="The system's integer id.")]
ScopeGalaxy = Annotated[
    str | None,
    Query(max_length=NAME_MAX_CHARS,
          description="Only if the system is in this galaxy: another galaxy's id answers 404, and nothing changes."),
]
IfMatch = Annotated[
    str | None, Header(description='Optimistic locking: the version you read, e.g. "3" (for an undo, the '
                                   "version your change made). Another one → 409.")
]


def expected_version(version: VersionQuery = None, if_match: IfMatch = None) -> int | None:
    """The version a bodiless write (delete, undo) is conditional on: ``?version=`` or
    ``If-Match``, which must agree when both are sent; None when neither is."""
    header_version = parse_if_match(if_match)
    if version is not None and header_version is not None and version != header_version:
        raise InvalidInput("version and If-Match disagree; send one of them", field="version")
    return version if version is not None else header_version


ExpectedVersion = Annotated[int | None, Depends(expected_version)]


def _body_doc(model: str) -> dict[str, Any]:
    """Document the JSON body we read ourselves (see ``haven.api.app`` for the schemas)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
        }
    }


# -- name-ordered pages ------------------------------------------------------------


def cursor_links(
    request: Request,
    kind: str,
    scope: list[Any],
    items: list[dict[str, Any]],
    *,
    has_more: bool,
    has_previous: bool,
    limit: int,
    page_no: int | None,
    key: str = "name",
    after: str = "a",
    before: str = "b",
) -> tuple[int | None, str | None, str | None]:
    """The page number and the signed ``next``/``prev`` cursors of a keyset page.

    Shared by name-ordered pages and search. A cursor records its direction by
    its position's field (``after``: the items' ``key`` it continues after;
    ``before``: the one it ends before), and the page number and size it was
    made for. ``prev`` is null on the first page; an empty page that ran past
    the end (rows were deleted) offers the last page (``e``).
    """
    codec = get_codec(request)
    if not has_previous:
        page_no = 1
    nxt = prv = None
    if items:
        if has_more:
            nxt = codec.encode(kind, scope, {after: items[-1][key], "p": page_no + 1 if page_no else None, "l": limit})
        if has_previous:
            prv = codec.encode(
                kind, scope, {before: items[0][key], "p": page_no - 1 if page_no and page_no > 1 else None, "l": limit}
            )
    elif has_previous:  # ran past the end (rows were deleted): offer the last page
        prv = codec.encode(kind, scope, {"e": 1, "p": None, "l": limit})
    return page_no, nxt, prv


def page_answer(
    request: Request,
    galaxy: str,
    region: str | None,
    page: Page,
    limit: int,
    page_no: int | None,
) -> dict[str, Any]:
    """The shared shape of a name-ordered page with signed next/prev cursors."""
    page_no, nxt, prv = cursor_links(
        request, "page", [galaxy, region], page.items,
        has_more=page.has_more, has_previous=page.has_previous, limit=limit, page_no=page_no,
    )
    return {
        "items": page.items,
        "total": page.total,
        "per_page": limit,
        "page": page_no,
        "pages": page_count(page.total, limit),
        "next": nxt,
        "prev": prv,
    }


@router.get("/systems", response_class=JSONBytes, response_model=SystemPage,
            summary="Systems in name order (cursor pages)")
def list_systems(
    request: Request,
    limit: Limit = 100,
    region: Annotated[str | None, Query(max_length=NAME_MAX_CHARS, description="Only this region.")] = None,
    cursor: Cursor = None,
    prefix: Annotated[
        str | None, Query(max_length=NAME_MAX_CHARS, description="Start at the first name ≥ prefix.")
    ] = None,
    galaxy: Galaxy = None,
) -> Response:
    """Pages of systems in name order with the total (an O(1) counter).

    Follow ``next``/``prev``; ``prefix`` jumps to the first name ≥ prefix.
    A cursor only works with the galaxy and region it was made for.
    """
    store = get_store(request)
    g = request_galaxy(request, galaxy)
    region = check_filter_name(region, "region") if region else None
    if cursor and prefix:
        raise InvalidInput("send either cursor or prefix, not both", field="prefix")
    page_no: int | None = 1
    if cursor:
        state = get_codec(request).decode(cursor, "page", [g, region])
        page_no = state_int(state, "p") if state_int(state, "l") == limit else None
        after, before = state_str(state, "a"), state_str(state, "b")
        if after is not None:
            page = store.page(g, region=region, after=after, limit=limit)
        elif before is not None or state.get("e"):
            page = store.page(g, region=region, before=before if before is not None else END_OF_NAMES, limit=limit)
            if not page.items:  # everything before it is gone: start over
                page, page_no = store.page(g, region=region, limit=limit), 1
            elif state.get("e"):
                page_no = page_count(page.total, limit) or 1
        else:
            raise InvalidInput("cursor cannot be read; start again without it", field="cursor")
    elif prefix:
        # Keyset start "name ≥ prefix": find the largest name < prefix, then page after it.
        below = store.page(g, region=region, before=prefix, limit=1)
        after = below.items[0]["name"] if below.items else None
        page = store.page(g, region=region, after=after, limit=limit)
        page_no = None if after is not None else 1
    else:
        page = store.page(g, region=region, limit=limit)
    return json_response(page_answer(request, g, region, page, limit, page_no))


# -- search and space ------------------------------------------------------------


# Above every id Haven gives out (they count up from 1), so a search
# ``before=END_OF_IDS`` reads its last page.
END_OF_IDS = SQLITE_INT_MAX


def _search(
    store: Store, galaxy: str, term: str, limit: int, *, after: int | str | None = None,
    before: int | str | None = None,
) -> list[dict[str, Any]]:
    """One read of a search after (or before) a position: a name for short terms, an id otherwise."""
    if len(term) < MIN_SEARCH_CHARS:
        return store.search(galaxy, term, limit=limit, after_name=after, before_name=before)
    return store.search(galaxy, term, limit=limit, after_id=after, before_id=before)


@router.get("/systems/search", response_class=JSONBytes, response_model=SearchPage,
            summary="Search names, materials and attributes")
def search_systems(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Text to find (any case).")],
    limit: Limit = 100,
    cursor: Cursor = None,
    galaxy: Galaxy = None,
) -> Response:
    """Systems whose name, materials or attributes contain ``q`` (any case), in id order.

    Terms shorter than three characters match the start of names instead (in
    name order). Follow ``next``/``prev`` to page either way (``prev`` is null
    on the first page); ``page`` counts pages from the first, null when not
    known. A cursor only works with the galaxy and term it was made for.
    """
    store = get_store(request)
    g = request_galaxy(request, galaxy)
    term = q.strip()
    if not term:
        raise InvalidInput("q must not be empty", field="q")
    scope = [g, term]
    short = len(term) < MIN_SEARCH_CHARS
    key, read, after_field, before_field, end = (
        ("name", state_str, "a", "b", END_OF_NAMES) if short else ("id", state_int, "i", "bi", END_OF_IDS)
    )
    fetch = limit + 1 if limit < MAX_LIMIT else limit  # one more says whether there is more that way

    def beyond(found: list[dict[str, Any]], *, toward_start: bool) -> bool:
        """Whether more matches lie past the page just read (before it when ``toward_start``).

        A read of ``fetch`` that found more than a page says so; at the largest limit no
        extra row can be read, so a full page asks for one match past its edge.
        """
        if len(found) > limit or fetch > limit or len(found) < limit:
            return len(found) > limit
        if toward_start:
            return bool(_search(store, g, term, 1, before=found[0][key]))
        return bool(_search(store, g, term, 1, after=found[-1][key]))

    page_no: int | None = 1
    after = before = None
    if cursor:
        state = get_codec(request).decode(cursor, "search", scope)
        # unknown (None) for another limit, or a cursor made before search counted pages
        page_no = state_int(state, "p") if state_int(state, "l") == limit else None
        after = read(state, after_field)
        before = read(state, before_field) if after is None else None
        if after is None and before is None:
            if not state.get("e"):
                raise InvalidInput("cursor cannot be read; start again without it", field="cursor")
            before = end
    backward = before is not None
    if backward:
        found = _search(store, g, term, fetch, before=before)
        if found:
            has_previous = beyond(found, toward_start=True)
            items = found[-limit:]
            # a page before a position has a next page if a match still lies after its last item
            has_more = bool(_search(store, g, term, 1, after=items[-1][key]))
        else:  # everything before it is gone: start over
            backward, after, page_no = False, None, 1
    if not backward:
        found = _search(store, g, term, fetch, after=after)
        has_more = beyond(found, toward_start=False)
        has_previous = after is not None
        items = found[:limit]
    page_no, nxt, prv = cursor_links(
        request, "search", scope, items, has_more=has_more, has_previous=has_previous, limit=limit,
        page_no=page_no, key=key, after=after_field, before=before_field,
    )
    return json_response({"items": items, "per_page": limit, "page": page_no, "next": nxt, "prev": prv})


@router.get("/systems/near", response_class=JSONBytes, response_model=SpaceAnswer,
            summary="Systems within a radius, nearest first")
def near_systems(
    request: Request,
    x: Annotated[DecimalFloat, coordinate_query("Centre x in light years.")],
    y: Annotated[DecimalFloat, coordinate_query("Centre y in light years.")],
    z: Annotated[DecimalFloat, coordinate_query("Centre z in light years.")],
    radius: Annotated[DecimalFloat, coordinate_query("Radius in light years, above 0.", radius=True)],
    limit: Limit = 100,
    galaxy: Galaxy = None,
) -> Response:
    """Exact sphere query: each item has ``distance``; nearest first (ties by id), at most ``limit``."""
    for field, value in (("x", x), ("y", y), ("z", z), ("radius", radius)):
        coordinate(value, field)
    items = get_store(request).near(request_galaxy(request, galaxy), x, y, z, radius, limit=limit)
    return json_response({"items": items, "count": len(items)})


@router.get("/systems/box", response_class=JSONBytes, response_model=SpaceAnswer,
            summary="Systems inside an axis-aligned box")
def box_systems(
    request: Request,
    min_x: Annotated[DecimalFloat, coordinate_query("Lowest x in light years.")],
    min_y: Annotated[DecimalFloat, coordinate_query("Lowest y in light years.")],
    min_z: Annotated[DecimalFloat, coordinate_query("Lowest z in light years.")],
    max_x: Annotated[DecimalFloat, coordinate_query("Highest x in light years.")],
    max_y: Annotated[DecimalFloat, coordinate_query("Highest y in light years.")],
    max_z: Annotated[DecimalFloat, coordinate_query("Highest z in light years.")],
    limit: Limit = 100,
    galaxy: Galaxy = None,
) -> Response:
    """Systems with min ≤ coordinate ≤ max on every axis, nearest to the box centre first."""
    for field, value in (("min_x", min_x), ("min_y", min_y), ("min_z", min_z),
                         ("max_x", max_x), ("max_y", max_y), ("max_z", max_z)):
        coordinate(value, field)
    for axis, low, high in (("x", min_x, max_x), ("y", min_y, max_y), ("z", min_z, max_z)):
        if low > high:  # said here, with the parameters' names (the store only knows axes)
            raise InvalidInput(f"min_{axis} must not be above max_{axis} ({low:g} > {high:g})", field=f"min_{axis}")
    items = get_store(request).box(
        request_galaxy(request, galaxy), (min_x, min_y, min_z), (max_x, max_y, max_z), limit=limit
    )
    return json_response({"items": items, "count": len(items)})


@router.get("/systems/by-name/{name:path}", response_class=JSONBytes, response_model=SystemDetail,
            summary="One system by its exact name")
def system_by_name(request: Request, name: str, galaxy: Galaxy = None) -> Response:
    """The name is URL-encoded as one path segment: ``AMOT 16/O5`` → ``AMOT%2016%2FO5``."""
    exact = raw_path_tail(request, f"{PREFIX}/systems/by-name/", decoded=name)
    system = get_store(request).system_by_name(request_galaxy(request, galaxy), check_filter_name(exact, "name"))
    return json_response(system, headers=etag(system.get("version")))


# -- one system by id ------------------------------------------------------------


@router.post(
    "/systems", response_class=JSONBytes, status_code=201, response_model=SystemDetail, summary="Create a system",
    openapi_extra=_body_doc("SystemIn"), responses=WRITE_ERRORS,
)
def create_system(request: Request, body: Any = Depends(read_json_body), galaxy: Galaxy = None) -> Response:
    """Create a system with its planets, moons and station; answers it in full (201)."""
    system = validate_system(body)
    target = request_galaxy(request, galaxy)
    check_body_galaxy(body, target)
    created = get_store(request).create(target, system)
    headers = {"Location": f"{PREFIX}/systems/{created['id']}", **etag(created.get("version"))}
    return json_response(created, status_code=201, headers=headers)


def _scoped_galaxy(request: Request, galaxy: str | None) -> str | None:
    """The galaxy an id route is limited to by ``?galaxy=`` (checked: unknown → 404 naming
    ``galaxy``), or None without it: ids are unique across galaxies, so it is optional."""
    if not (galaxy and galaxy.strip()):
        return None
    return get_store(request).galaxy(request_galaxy(request, galaxy))["name"]


def _not_in(system_id: int, galaxy: str) -> NotFound:
    return NotFound(f"no system with id {system_id} in galaxy {galaxy!r}")


def check_body_galaxy(body: Any, galaxy: str | None) -> None:
    """A body's ``galaxy`` (a GET answer sent back) is read-only: fine when it names the galaxy
    written to, refused otherwise, so a copy never lands in another galaxy unnoticed.
    ``galaxy`` None: the system does not exist (the write answers 404)."""
    given = body.get("galaxy") if isinstance(body, dict) else None
    if given is not None and galaxy is not None and given != galaxy:
        raise InvalidInput(f"the body names galaxy {given!r}, but this writes to galaxy {galaxy!r}: a system "
                           "never changes galaxy; leave galaxy out, or choose one with ?galaxy=", field="galaxy")


def check_in_galaxy(request: Request, system_id: int, galaxy: str | None) -> None:
    """With ``?galaxy=``, refuse (404) an id that is not that galaxy's, before anything is written.

    A deleted system still belongs to its galaxy (history and undo serve it); ids are never
    reused and systems never change galaxy, so the answer holds for the write that follows."""
    if not (galaxy and galaxy.strip()):
        return
    store, name = get_store(request), request_galaxy(request, galaxy)
    if store.system_galaxy(system_id) != name:  # one query when it matches (names match exactly)
        store.galaxy(name)  # an unknown galaxy is a 404 naming ``galaxy``
        raise _not_in(system_id, name)


@router.get("/systems/{system_id}", response_class=JSONBytes, response_model=SystemDetail,
            summary="One system with planets, moons, station")
def get_system(request: Request, system_id: SystemId, galaxy: ScopeGalaxy = None) -> Response:
    name = _scoped_galaxy(request, galaxy)
    system = get_store(request).system(system_id)
    if name is not None and system["galaxy"] != name:
        raise _not_in(system_id, name)
    return json_response(system, headers=etag(system.get("version")))


@router.put("/systems/{system_id}", response_class=JSONBytes, response_model=SystemDetail, summary="Replace a system",
            openapi_extra=_body_doc("SystemIn"), responses=WRITE_ERRORS)
def replace_system(
    request: Request,
    system_id: SystemId,
    body: Any = Depends(read_json_body),
    if_match: IfMatch = None,
    galaxy: ScopeGalaxy = None,
) -> Response:
    """Replace every field and child. ``version`` (body or ``If-Match``) must be current, else 409."""
    system = validate_system(merge_version(body, parse_if_match(if_match)))
    check_in_galaxy(request, system_id, galaxy)
    check_body_galaxy(body, get_store(request).system_galaxy(system_id))
    updated = get_store(request).replace(system_id, system)
    return json_response(updated, headers=etag(updated.get("version")))


@router.patch(
    "/systems/{system_id}", response_class=JSONBytes, response_model=SystemDetail, summary="Change some fields",
    openapi_extra=_body_doc("SystemPatch"), responses=WRITE_ERRORS,
)
def patch_system(
    request: Request,
    system_id: SystemId,
    body: Any = Depends(read_json_body),
    if_match: IfMatch = None,
    galaxy: ScopeGalaxy = None,
) -> Response:
    """Change only the fields present (``planets`` replaces the list). Stale ``version`` → 409."""
    patch = validate_patch(merge_version(body, parse_if_match(if_match)))
    check_in_galaxy(request, system_id, galaxy)
    updated = get_store(request).patch(system_id, patch)
    return json_response(updated, headers=etag(updated.get("version")))


@router.delete("/systems/{system_id}", status_code=204, summary="Delete a system", responses=error_responses(409))
def delete_system(
    request: Request, system_id: SystemId, expected: ExpectedVersion, galaxy: ScopeGalaxy = None,
) -> Response:
    """Answers 204 with the deletion's own version as ``ETag`` (what an undo of it names)."""
    check_in_galaxy(request, system_id, galaxy)
    deleted_as = get_store(request).delete(system_id, expected_version=expected)
    return Response(status_code=204, headers=etag(deleted_as))


# -- history and undo --------------------------------------------------------------


@router.get("/systems/{system_id}/history", response_class=JSONBytes, response_model=HistoryList,
            summary="A system's recorded changes")
def system_history(
    request: Request,
    system_id: SystemId,
    limit: Annotated[DigitsInt, Query(ge=1, le=100)] = 20,
    galaxy: ScopeGalaxy = None,
) -> Response:
    """Changes made through this API (create, update, delete), newest first.

    A system with nothing recorded answers an empty list; an id with neither a system nor
    a recorded change is a 404, as ``GET /systems/{id}`` answers it."""
    check_in_galaxy(request, system_id, galaxy)
    return json_response({"items": get_store(request).history(system_id, limit=limit)})


@router.post("/systems/{system_id}/undo", response_class=JSONBytes, response_model=UndoAnswer,
             summary="Undo a system's latest change", dependencies=[Depends(read_no_body)],
             responses=WRITE_ERRORS)
def undo_system(
    request: Request, system_id: SystemId, expected: ExpectedVersion, galaxy: ScopeGalaxy = None,
) -> Response:
    """Put the system back as it was before its latest change, and forget that change.

    Answers ``{"undone": "create"|"update"|"delete", "system": … or null}``; 404 when
    nothing is recorded; 409 when the system changed outside its history. With
    ``If-Match`` or ``?version=`` (the ``ETag`` your change answered, a delete's too),
    only that change is undone: when someone changed the system since, 409
    ``stale_version`` and nothing changes. Send ``Content-Type: application/json``
    (the body may be empty): a write a page of another origin could send without a
    CORS preflight is refused (415).
    """
    check_in_galaxy(request, system_id, galaxy)
    result = get_store(request).undo(system_id, expected_version=expected)
    system = result["system"]
    return json_response(result, headers=etag(system.get("version")) if system else None)


# -- galaxy-wide -------------------------------------------------------------------


@router.get("/regions", response_class=JSONBytes, response_model=RegionList, summary="Regions with their system counts")
def list_regions(request: Request, galaxy: Galaxy = None) -> Response:
    regions = get_store(request).regions(request_galaxy(request, galaxy))
    return json_response({"items": [r for r in regions if r["system_count"] > 0]})


@router.get("/stats", response_class=JSONBytes, response_model=StatsOut, summary="Counts and database size")
def stats(request: Request, galaxy: Galaxy = None) -> Response:
    data = get_store(request).stats(request_galaxy(request, galaxy))
    data["regions"] = [r for r in data["regions"] if r["system_count"] > 0]
    data["database_size_mb"] = round(data["database_size_bytes"] / (1024 * 1024), 3)
    return json_response(data)


ExportFormat = Literal[EXPORT_FORMATS]  # type: ignore[valid-type]  # the formats `haven export` writes


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` for a download named after user text: ASCII fallback, UTF-8 name escaped."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "-_. ") else "_" for c in filename)
    return f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{quote(filename, safe="")}'


#: The export's answer: one media type per format (docs/formats/); a JSON file is any JSON document.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, as an attachment named after the galaxy.",
        "content": {
            media_type.split(";")[0]: {"schema": {} if media_type == "application/json"
                                       else {"type": "string", "format": "binary"}}
            for media_type, _ in DOWNLOADS.values()
        },
    },
}


@router.get("/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES,
            summary="Every system of a galaxy as one file (JSON, Parquet, CSV or JSONL), streamed")
def export(
    request: Request,
    galaxy: Galaxy = None,
    format: Annotated[ExportFormat, Query(description="haven-json, legacy-json, or one of the flat formats "
                                                      "`haven import` reads at bulk speed.")] = "jsonl",
) -> Response:
    """What `haven export` writes, as a download. The answer is streamed a batch at a time
    (memory does not grow with the galaxy), every batch from one snapshot: the galaxy as it
    was when the download began, each system exactly once, whatever is written meanwhile."""
    name = request_galaxy(request, galaxy)
    chunks = export_stream(get_store(request), name, format)  # checks the galaxy before the first byte
    media_type, suffix = DOWNLOADS[format]
    return StreamingResponse(chunks, media_type=media_type,
                             headers={"Content-Disposition": attachment(f"{name}.{suffix}")})


@router.get("/galaxies", response_class=JSONBytes, response_model=GalaxyList, summary="Every galaxy")
def list_galaxies(request: Request) -> Response:
    return json_response({"items": get_store(request).galaxies()})
