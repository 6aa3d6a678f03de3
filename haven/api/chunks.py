"""Chunk routes: octree nodes as CHNK bytes, the node hierarchy, and picking.

    GET /api/v1/chunks/hierarchy?level&cell&depth   node metadata of a subtree
    GET /api/v1/chunks/changes?since&limit          nodes changed since a clock (live maps)
    GET /api/v1/chunks/{level}/{cell}               one node as CHNK (gzip when accepted)
    GET /api/v1/chunks/{level}/{cell}/exact         its positions at 32 bits per axis (CHNX)
    GET /api/v1/chunks/{level}/{cell}/{index}       the system at that index (a map click);
                                                    ``?version=`` the node version it was read from

A chunk's ETag is its node version (weak: gzip and identity bodies are the
same chunk); a client sending it back in ``If-None-Match`` gets ``304``.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable

from fastapi import APIRouter, Header, Path, Query, Request
from starlette.responses import Response

from haven.api.common import (
    SQLITE_INT_MAX,
    DigitsInt,
    JSONBytes,
    VersionQuery,
    app_object,
    get_store,
    json_response,
    request_galaxy,
)
from haven.api.errors import error_responses
from haven.api.schemas import Changes, Hierarchy, SystemDetail
from haven.chunks.exact import EXACT_CONTENT_TYPE
from haven.chunks.geometry import MAX_LEVEL
from haven.chunks.service import Chunk, ChunkService
from haven.chunks.transfer import CONTENT_TYPE, choose_encoding
from haven.errors import InvalidInput, NotFound, StaleVersion

router = APIRouter(prefix="/api/v1/chunks", tags=["chunks"], responses=error_responses(400, 404, 503))

# Node ids in the path are plain digits (``1.0``, ``+1`` and ``1_0`` are 400s naming them). Levels
# stop at the octree's deepest; the store says which cells and indexes exist, and 2⁶³−1 bounds
# them so SQLite can hold them.
Level = Annotated[DigitsInt, Path(ge=0, le=MAX_LEVEL, description=f"Octree level, 0-{MAX_LEVEL}.")]
Cell = Annotated[DigitsInt, Path(ge=0, le=SQLITE_INT_MAX, description="Cell of the level, 0 to 8^level - 1.")]
Index = Annotated[DigitsInt, Path(ge=0, le=SQLITE_INT_MAX, description="Position in the node's chunk.")]
IfNoneMatch = Annotated[str | None, Header(
    description='The ETag of a copy you hold (e.g. W/"7"): 304 while the node is still at that version.')]
AcceptEncoding = Annotated[str | None, Header(description="gzip for a compressed body.")]


CHUNK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The node as CHNK bytes (docs/formats/chnk.md); gzip when the client accepts it. "
                       "`ETag` is the node version, `X-Haven-Count` the systems in it.",
        "content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    304: {"description": "The node is still at the version `If-None-Match` names."},
}

EXACT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The node's positions as CHNX bytes (docs/formats/chnk.md, \"Exact positions\"), in "
                       "the chunk's order; gzip when the client accepts it. `ETag` is the node version.",
        "content": {EXACT_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    304: CHUNK_RESPONSES[304],
}


def _service(request: Request) -> ChunkService:
    return app_object(request, "chunk_service", ChunkService)


@router.get("/hierarchy", response_class=JSONBytes, response_model=Hierarchy,
            summary="Node metadata of a subtree of the LOD octree")
def hierarchy(
    request: Request,
    level: Annotated[DigitsInt, Query(ge=0, le=MAX_LEVEL)] = 0,
    cell: Annotated[DigitsInt, Query(ge=0, le=SQLITE_INT_MAX)] = 0,
    depth: Annotated[DigitsInt, Query(ge=0, le=4)] = 2,
    galaxy: str | None = None,
) -> Response:
    store = get_store(request)
    name = request_galaxy(request, galaxy)
    tree = store.lod_hierarchy(name, level, cell, depth)  # nodes, clock and count of one snapshot
    g = store.galaxy(name)  # what never changes: the cube and the capacity
    return json_response({
        "galaxy": g["name"],
        "cube": {"centre_ly": [g["centre_x_ly"], g["centre_y_ly"], g["centre_z_ly"]], "half_size_ly": g["half_size_ly"]},
        "capacity": g["lod_capacity"],
        "total_systems": tree["total_systems"],
        "clock": tree["clock"],  # where a live map starts following /changes
        "nodes": tree["nodes"],
    })


@router.get("/changes", response_class=JSONBytes, response_model=Changes,
            summary="Octree nodes changed since a clock: the live maps' change feed")
def changes(
    request: Request,
    since: Annotated[DigitsInt, Query(ge=0, le=SQLITE_INT_MAX,
                                        description="The `clock` of the previous answer (0: from the start).")] = 0,
    limit: Annotated[DigitsInt, Query(ge=1, le=5000,
                                        description="Most nodes to list; more changed answers `reset`.")] = 1000,
    galaxy: str | None = None,
) -> Response:
    """``{"clock", "nodes": [{level, cell, count, version}], "reset", "total_systems"}``, oldest change first.

    Poll with ``since`` = the last ``clock``; refetch the listed nodes you draw
    (``count`` 0: the node was emptied). ``reset`` means too many changed
    (a bulk load): reload the hierarchy.
    """
    name = request_galaxy(request, galaxy)
    return json_response({"galaxy": name, **get_store(request).changed_nodes(name, since, limit=limit)})


def _etag(version: int) -> str:
    return f'W/"{version}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = {t.strip() for t in if_none_match.split(",")}
    return etag in tags or etag.removeprefix("W/") in tags


@router.get("/{level}/{cell}", summary="One octree node as a CHNK chunk", response_class=Response,
            responses=CHUNK_RESPONSES)
def chunk(
    request: Request,
    level: Level,
    cell: Cell,
    galaxy: str | None = None,
    if_none_match: IfNoneMatch = None,
    accept_encoding: AcceptEncoding = None,
) -> Response:
    service = _service(request)
    name = request_galaxy(request, galaxy)
    node = service.node(name, level, cell)
    return _node_bytes(node, if_none_match, accept_encoding, CONTENT_TYPE,
                       lambda encoding: service.get(name, level, cell, encoding, node=node))


def _node_bytes(node: dict, if_none_match: str | None, accept_encoding: str | None, media_type: str,
                build: Callable[[str], Chunk]) -> Response:
    """A node's bytes (chunk or exact positions): 304 while the client's copy is current, else
    ``build(encoding)``'s body with the version it was built from as the ETag."""
    etag = _etag(node["version"])
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    encoding = choose_encoding(accept_encoding)
    found = build(encoding)
    headers["ETag"] = _etag(found.version)
    if encoding != "identity":
        headers["Content-Encoding"] = encoding
    headers["X-Haven-Count"] = str(found.count)
    return Response(found.body, media_type=media_type, headers=headers)


@router.get("/{level}/{cell}/exact", summary="Exact positions of a node's systems (CHNX)", response_class=Response,
            responses=EXACT_RESPONSES)
def exact(
    request: Request,
    level: Level,
    cell: Cell,
    galaxy: str | None = None,
    if_none_match: IfNoneMatch = None,
    accept_encoding: AcceptEncoding = None,
) -> Response:
    """The node's systems in the order of its chunk, each axis at 32 bits of the node's cube instead
    of the chunk's 16: for a map zoomed in so close that the chunk's step would show. Same ETag
    (the node version) as the chunk: use these positions only for the chunk of that version."""
    service = _service(request)
    name = request_galaxy(request, galaxy)
    node = service.node(name, level, cell)
    return _node_bytes(node, if_none_match, accept_encoding, EXACT_CONTENT_TYPE,
                       lambda encoding: service.exact(name, level, cell, encoding))


def _check_node_version(store: Any, galaxy: str, level: int, cell: int, version: int) -> None:
    """409 (``stale_version``, field ``version``) when the node is no longer at ``version``."""
    current = store.lod_node(galaxy, level, cell)["version"]
    if current != version:
        raise StaleVersion(
            f"node {level}/{cell} is at version {current}, not {version}; its indexes changed, so fetch "
            "the chunk again and pick from it", current_version=current,
        )


@router.get("/{level}/{cell}/{index}", response_class=JSONBytes, response_model=SystemDetail,
            summary="The system at an index of a node (map picking)", responses=error_responses(409))
def pick(
    request: Request,
    level: Level,
    cell: Cell,
    index: Index,
    galaxy: str | None = None,
    version: VersionQuery = None,
) -> Response:
    """The system at ``index`` of the node's chunk. An index names a system only for one node
    version: with ``?version=`` (the number in the chunk's ETag) a node that has changed since answers 409."""
    store = get_store(request)
    name = request_galaxy(request, galaxy)
    if version is None:
        return json_response(store.lod_member(name, level, cell, index))
    try:
        system = store.lod_member(name, level, cell, index)
    except (InvalidInput, NotFound):  # an index past the end may just mean the node changed: say that first
        _check_node_version(store, name, level, cell, version)
        raise
    # Checked after the read: versions only grow, so still at ``version`` now means it was then too.
    _check_node_version(store, name, level, cell, version)
    return json_response(system)
