"""``GET /maps/{filename}``: the map pages the original API's ``/api/generate/system/{name}`` made.

A file name is only ever a key of the app's :class:`~haven.web.export.MapRegistry`;
nothing from the request reaches the file system. Errors keep the original
shape, ``{"error": "<message>"}``, like the other legacy routes (see
:func:`haven.api.errors.is_legacy_path`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from haven.api.errors import error_responses
from haven.errors import NotFound
from haven.web.export import MapRegistry

router = APIRouter(tags=["legacy"], responses=error_responses(400, 404, 503, legacy=True))

MAX_FILENAME_CHARS = 200


@router.get("/maps/{filename:path}", response_class=HTMLResponse, summary="Legacy: a generated map page")
def map_page(request: Request, filename: str) -> Response:
    """The self-contained HTML page of a system, by the file name ``/api/generate/system/{name}`` answered."""
    registry: MapRegistry | None = getattr(request.app.state, "map_registry", None)
    if registry is None or not filename or len(filename) > MAX_FILENAME_CHARS:
        raise NotFound("Map not found")
    page = registry.page(filename)  # NotFound for any name it did not hand out
    return HTMLResponse(
        page,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"},
    )
