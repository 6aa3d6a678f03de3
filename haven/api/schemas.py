"""The shapes of the API's answers, for the OpenAPI document only.

Routes answer bytes that orjson serialized once (:class:`haven.api.common.JSONBytes`);
these models are never built at run time. They tell clients, and ``/docs``, what
each answer holds: a route names its model with ``response_model=`` and FastAPI
documents it without validating what the route returns. The suite checks the
answers against this document (``tests/api/test_api_openapi.py``), so a model
that drifts from what a route sends fails a test.

A field with no default is in every answer (its value may be null when its
type allows); a field made with :func:`only_some` is in some answers only
(``id`` of stored planets, a legacy system's ``space_station``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def only_some(description: str) -> Any:
    """A key that only some answers carry; when present it has the field's type (never null)."""
    return Field(None, description=description, json_schema_extra=_drop_default)


class _Answer(BaseModel):
    """An answer object: exactly these keys (``additionalProperties: false``)."""

    model_config = ConfigDict(extra="forbid")


# -- fields both APIs answer ------------------------------------------------------------


class LegacyBody(_Answer):
    """The fields planets and moons share, as the original routes answer them."""

    name: str
    sentinel: str | None
    fauna: str | None
    flora: str | None
    properties: str | None
    materials: str | None
    base_location: str | None
    photo: str | None
    notes: str | None


class LegacyStation(_Answer):
    """A space station as the original routes answer it. Position in light years."""

    name: str
    x: float | None
    y: float | None
    z: float | None
    race: str | None
    sell_percent: float | None
    buy_percent: float | None


class SystemFields(_Answer):
    """The fields of a system that both APIs answer. Coordinates in light years."""

    name: str
    x: float
    y: float
    z: float
    region: str | None
    fauna: str | None
    flora: str | None
    sentinel: str | None
    materials: str | None
    base_location: str | None
    photo: str | None
    attributes: str | None
    created_at: str | None = Field(description="ISO 8601 UTC; null when not known (generated systems).")
    modified_at: str | None


# -- Haven's own API (/api/v1) ------------------------------------------------------------


class BodyOut(LegacyBody):
    """A planet's or moon's fields on Haven's own routes."""

    id: int = only_some("Stored planets and moons only; derived ones have none.")
    extra: dict[str, Any]


class MoonOut(BodyOut):
    orbit_radius: float | None
    orbit_speed: float | None


class PlanetOut(BodyOut):
    moons: list[MoonOut]


class StationOut(LegacyStation):
    extra: dict[str, Any]


class SystemOut(SystemFields):
    """A system as listings show it (no planets)."""

    id: int
    glyph: str | None
    legacy_id: str | None
    provenance: str | None
    confidence: float | None
    extra: dict[str, Any]
    version: int = Field(description="Bumped by every change; send it back (or If-Match) to write.")


class SystemNear(SystemOut):
    distance: float = Field(description="Light years from the query's centre.")


class SystemDetail(SystemOut):
    """One system with its planets (each with moons) and station."""

    galaxy: str
    derived: bool = Field(description="True when planets, moons and station come from the system's seed, not storage.")
    planets: list[PlanetOut]
    space_station: StationOut | None


class SystemPage(_Answer):
    items: list[SystemOut]
    total: int = Field(description="Systems in the galaxy (or region), kept up to date by every write.")
    per_page: int
    page: int | None = Field(description="1 for the first page; null when not known (after a jump by prefix).")
    pages: int
    next: str | None = Field(description="Cursor of the next page; null on the last.")
    prev: str | None = Field(description="Cursor of the previous page; null on the first.")


class SearchPage(_Answer):
    items: list[SystemOut]
    per_page: int
    page: int | None
    next: str | None
    prev: str | None


class SpaceAnswer(_Answer):
    items: list[SystemNear]
    count: int


class RegionCount(_Answer):
    name: str
    system_count: int


class RegionList(_Answer):
    items: list[RegionCount]


class UnfinishedLoad(_Answer):
    galaxy: str
    kind: str = Field(description="`generate` or `import`.")
    source: str | None = Field(description="What it loads: `csv:stars.csv`, `procgen n=… seed=…`.")
    batches_done: int
    total_batches: int | None = Field(description="None when the load did not know its batch count.")
    rows_done: int = Field(description="Systems its committed batches wrote (all stored).")
    started_at: str | None


class StatsOut(_Answer):
    galaxy: str
    total_systems: int
    regions: list[RegionCount]
    database_size_bytes: int = Field(description="The database's pages, committed writes included.")
    database_size_mb: float = Field(description="The same in MiB (2^20 bytes), to three decimals.")
    wal_size_bytes: int = Field(description="The write-ahead log file beside the database (disk it holds "
                                            "until the next checkpoint empties it); 0 when there is none.")
    systems_off_map: int = Field(description="Stored systems a bulk load has not placed in the octree yet "
                                             "(a killed load): readable and searchable, but not in any chunk "
                                             "until that load runs again.")
    unfinished_loads: list[UnfinishedLoad] = Field(description="Bulk loads into this galaxy that committed "
                                                               "some batches and never finished.")


class GalaxyOut(_Answer):
    id: int
    name: str
    frame: str
    centre_x_ly: float
    centre_y_ly: float
    centre_z_ly: float
    half_size_ly: float
    system_count: int
    created_at: str | None
    lod_capacity: int
    lod_clock: int


class GalaxyList(_Answer):
    items: list[GalaxyOut]


class HistoryEntry(_Answer):
    id: int
    op: Literal["create", "update", "delete"]
    version: int | None = Field(
        description="The version the change made (a delete's is one above the system's last), or, once the "
                    "change after it was undone, the version that undo made: the version an undo of it names. "
                    "Null for a delete recorded by an older Haven.")
    at: str


class HistoryList(_Answer):
    items: list[HistoryEntry]


class UndoAnswer(_Answer):
    undone: Literal["create", "update", "delete"]
    system: SystemDetail | None = Field(description="The system as it is now; null when the undo deleted it.")


class Health(_Answer):
    status: Literal["ok", "unavailable"]
    galaxy: str = only_some("When ok: the default galaxy.")
    total_systems: int = only_some("When ok: the default galaxy's systems.")
    error: str = only_some("When unavailable: why.")


# -- the LOD octree (/api/v1/chunks) ----------------------------------------------------


class NodeOut(_Answer):
    level: int
    cell: int
    count: int
    version: int


class CubeOut(_Answer):
    centre_ly: list[float]
    half_size_ly: float


class Hierarchy(_Answer):
    galaxy: str
    cube: CubeOut
    capacity: int
    total_systems: int
    clock: int
    nodes: list[NodeOut]


class Changes(_Answer):
    galaxy: str
    clock: int
    nodes: list[NodeOut]
    reset: bool
    total_systems: int


# -- errors ------------------------------------------------------------------------------


class Problem(_Answer):
    """One problem of an ``invalid`` request."""

    field: str | None = Field(description="The parameter, header or body field at fault, when there is one.")
    message: str = Field(description="What is wrong, starting with the field: `x: is required`.")


class ErrorDetail(_Answer):
    code: str = Field(description="invalid, not_found, conflict, stale_version, too_large, ...")
    message: str = Field(description="What is wrong; for `invalid`, the first of `problems`.")
    field: str | None = Field(description="The parameter, header or body field at fault, when there is one.")
    problems: list[Problem] = only_some(
        "invalid only: every problem the request has, in the order of the fields (at most 50; when "
        "there are more, the last item says how many, with a null field). The first is `field` and "
        "`message`.")
    current_version: int | None = only_some(
        "stale_version only: the current version (of the system, or of the octree node for a map pick); "
        "null when the system is deleted (an undo that named a change made before the delete).")


class ErrorOut(_Answer):
    """Every error outside the original routes (``/api/v1``, ``/healthz``, ...)."""

    error: ErrorDetail


class LegacyErrorOut(_Answer):
    """Every error of the original routes: ``{"error": "<message>"}``."""

    error: str


# -- the original API (/api) -------------------------------------------------------------


class LegacySystem(SystemFields):
    id: str = Field(description="The imported legacy id, else the id as a string.")
    distance: float = only_some("`/api/systems/visible` only.")


class LegacyMoon(LegacyBody):
    orbit_radius: float | None
    orbit_speed: float | None


class LegacyPlanet(LegacyBody):
    moons: list[LegacyMoon]


class LegacyDetail(LegacySystem):
    planets: list[LegacyPlanet]
    space_station: LegacyStation = only_some("Only when the system has one.")


class LegacyRegionPage(_Answer):
    systems: list[LegacySystem]
    total: int
    page: int
    per_page: int
    total_pages: int
    next: str | None = Field(description="Cursor for `/api/v1/systems?region=…` past the numbered pages.")


class LegacyStats(_Answer):
    total_systems: int
    regions: list[str]
    database_size_mb: float = Field(description="The database file's size in MiB (2^20 bytes), to two decimals.")


class LegacyMapLink(_Answer):
    map_url: str
    system_name: str
