"""Haven behind the baseline kit's function interface, so the kit's own runner times it.

The baseline kit (the original design, re-implemented, with a dataset generator
and a runner) times any module that offers ``connect``, ``get_systems_paginated``,
``search_systems``, ``get_system_by_name``, ``get_systems_in_region_sphere``,
``add_system`` and ``delete_systems``::

    HAVEN_KIT_PARAMS=DATA_DIR/params.json PYTHONPATH=/path/to/haven/bench:/path/to/haven \\
        .venv/bin/python run_baseline.py DATA_DIR --db haven.db --impl kit_adapter

Every function is a thin call into Haven's store (:class:`haven.store.SQLiteStore`,
the same calls the HTTP API makes), so the timings are Haven's in-process costs on
the kit's data with the kit's parameters and op loop.

What differs from the original design, and how it is handled:

* **Numbered pages.** Haven pages by keyset cursor (``name > last name seen``)
  with an O(1) total from a counter; it never pages with ``OFFSET``, so "page N"
  cannot be found in O(log n) without a cursor. :func:`connect` (untimed setup)
  therefore reads the kit's ``params.json`` (``$HAVEN_KIT_PARAMS``, else the
  file beside the database) and precomputes, for every numbered page the runner
  asks for (page 2, the deep page ``total // 100 // 2``, each listed region's
  ``count // 100 // 2`` and the largest region's middle page), the cursor of that
  page: the name of the last system of the page before it. The timed call is
  then one keyset page after that name, which is what a client following
  Haven's cursors pays at any depth. Page 1 (and region page 1) need no cursor.
  A page number that was not precomputed raises :class:`LookupError` rather
  than being computed inside a timed call.
* **Spheres.** :meth:`SQLiteStore.near` is exact and ordered by distance
  (nearest first, at most ``limit``), so "rows fetched" is the number of rows
  returned: ``(systems, len(systems))``. ``hit_5000_limit`` then means the
  sphere holds at least ``limit`` systems and Haven returned the nearest
  ``limit`` of them.
* **Ids.** The kit's ``id`` (a UUID) is stored as Haven's ``legacy_id``, as
  ``haven import`` stores it. :func:`add_system` returns Haven's integer id and
  :func:`delete_systems` deletes by that id. Planets, moons and the station
  are converted by the importer's own code (``properties`` objects become JSON
  text, as ``haven import`` stores them); ``attributes`` objects become JSON
  text as in the original design.
* **Rows** are Haven's system dicts (``legacy_id`` holds the kit's ``id``);
  the runner only counts them.
* **Housekeeping.** As ``haven serve`` (and ``haven bench``) run it, the store
  checkpoints the WAL and merges search-index segments in its background
  maintenance thread, not inside users' commits; :func:`connect` starts that
  thread (``HAVEN_KIT_MAINTENANCE=0`` leaves it off: then SQLite checkpoints
  inside whichever commit crosses its threshold).

The galaxy is ``$HAVEN_KIT_GALAXY`` (default ``Haven``, what ``haven import``
uses). ``synchronous`` follows ``HAVEN_SQLITE_SYNCHRONOUS`` (default FULL, as
Haven runs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from haven.config import DEFAULT_GALAXY, parse_database_url
from haven.errors import NotFound
from haven.ingest.tabular import parse_details
from haven.model import SystemIn
from haven.store import SQLiteStore, open_store

PER_PAGE = 100

__all__ = [
    "KitConnection",
    "add_system",
    "connect",
    "delete_systems",
    "get_system_by_name",
    "get_systems_in_region_sphere",
    "get_systems_paginated",
    "search_systems",
]


class KitConnection:
    """What ``connect`` returns: the store, its galaxy and the precomputed page cursors.

    ``execute`` and ``close`` go to the store's SQLite connection (the runner reads
    a few PRAGMAs and checkpoints the WAL at the end).
    """

    def __init__(self, store: SQLiteStore, galaxy: str) -> None:
        self.store = store
        self.galaxy = galaxy
        # (region or None, page, per_page) -> name the page starts after (None: past the end)
        self.cursors: dict[tuple[str | None, int, int], str | None] = {}

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.store.conn.execute(sql, params)

    def close(self) -> None:
        self.store.close()


# -- setup (untimed) ---------------------------------------------------------------------


def _params_path(db_path: Path) -> Path:
    env = os.environ.get("HAVEN_KIT_PARAMS")
    return Path(env) if env else db_path.parent / "params.json"


def _cursor(conn: KitConnection, region: str | None, page: int, per_page: int) -> str | None:
    """Name of the last system before ``page`` (None when the page is past the end).

    Setup only: an OFFSET walk over the covering ``(galaxy_id, name)`` or
    ``(region_id, name)`` index, O(offset).
    """
    store = conn.store
    galaxy_id = store.galaxy(conn.galaxy)["id"]
    offset = (page - 1) * per_page - 1
    if region is None:
        row = store.conn.execute(
            "SELECT name FROM system WHERE galaxy_id = ? ORDER BY name LIMIT 1 OFFSET ?", (galaxy_id, offset)
        ).fetchone()
    else:
        rid = store.conn.execute(
            "SELECT id FROM region WHERE galaxy_id = ? AND name = ?", (galaxy_id, region)
        ).fetchone()
        if rid is None:
            raise NotFound(f"no region named {region!r} in galaxy {conn.galaxy!r}", field="region")
        row = store.conn.execute(
            "SELECT name FROM system WHERE region_id = ? ORDER BY name LIMIT 1 OFFSET ?", (rid[0], offset)
        ).fetchone()
    return row[0] if row else None


def wanted_pages(params: dict[str, Any], total: int) -> list[tuple[str | None, int]]:
    """Every ``(region, page)`` past page 1 that run_baseline asks for, with its formulas."""
    pages: list[tuple[str | None, int]] = [(None, 2), (None, max(1, total // PER_PAGE // 2))]
    regions = list(params.get("regions", []))
    if params.get("largest_region"):
        regions.append(params["largest_region"])
    for r in regions:
        pages.append((r["name"], max(1, r["count"] // PER_PAGE // 2)))
    return [(region, page) for region, page in pages if page > 1]


def precompute(conn: KitConnection, params: dict[str, Any]) -> None:
    """Fill ``conn.cursors`` for the pages run_baseline will ask for (see the module doc)."""
    total = conn.store.galaxy(conn.galaxy)["system_count"]
    for region, page in wanted_pages(params, total):
        key = (region, page, PER_PAGE)
        if key not in conn.cursors:
            conn.cursors[key] = _cursor(conn, region, page, PER_PAGE)


def connect(path: str | os.PathLike[str], *, params: dict[str, Any] | None = None) -> KitConnection:
    """Open Haven's database at ``path`` and precompute the page cursors (untimed).

    ``params`` defaults to the kit's ``params.json`` (``$HAVEN_KIT_PARAMS``, else
    beside the database). Its ``n`` must equal the galaxy's system count: the
    runner's page numbers, names and sphere truths are only valid for the data
    they were made from.
    """
    db_path = Path(path)
    store = open_store(parse_database_url(str(db_path)))
    galaxy = os.environ.get("HAVEN_KIT_GALAXY", DEFAULT_GALAXY)
    conn = KitConnection(store, galaxy)
    try:
        if params is None:
            p = _params_path(db_path)
            if not p.is_file():
                raise FileNotFoundError(
                    f"no params.json at {p}: set HAVEN_KIT_PARAMS to the kit's DATA_DIR/params.json")
            params = json.loads(p.read_text())
        have = store.galaxy(galaxy)["system_count"]
        if "n" in params and params["n"] != have:
            raise ValueError(
                f"params.json is for {params['n']:,} systems but galaxy {galaxy!r} holds {have:,}; "
                "import the kit's data into a fresh database (or remove systems left by a killed run)")
        precompute(conn, params)
        if os.environ.get("HAVEN_KIT_MAINTENANCE", "1") != "0":
            store.start_background_maintenance()
    except BaseException:
        store.close()
        raise
    return conn


# -- the kit's functions (timed) -----------------------------------------------------------


def get_systems_paginated(conn: KitConnection, page: int = 1, per_page: int = PER_PAGE,
                          region: str | None = None) -> dict[str, Any]:
    """Page ``page`` in name order, with the total: a keyset page after the precomputed cursor."""
    after = None
    if page > 1:
        key = (region, page, per_page)
        if key not in conn.cursors:
            raise LookupError(
                f"page {page} (per_page {per_page}, region {region!r}) was not precomputed in connect(); "
                "Haven pages by cursor, so numbered pages must be listed in params.json")
        after = conn.cursors[key]
    if page > 1 and after is None:  # past the end
        res = conn.store.page(conn.galaxy, region=region, limit=1)
        items, total = [], res.total
    else:
        res = conn.store.page(conn.galaxy, region=region, after=after, limit=per_page)
        items, total = res.items, res.total
    return {"systems": items, "total": total, "page": page, "per_page": per_page,
            "pages": (total + per_page - 1) // per_page}


def search_systems(conn: KitConnection, q: str, limit: int = 100) -> list[dict[str, Any]]:
    """Systems whose name, materials or attributes contain ``q`` (Haven's trigram index)."""
    return conn.store.search(conn.galaxy, q, limit=limit)


def get_system_by_name(conn: KitConnection, name: str) -> dict[str, Any] | None:
    """One system with ``planets`` (each with ``moons``) and ``space_station``; None if unknown."""
    try:
        return conn.store.system_by_name(conn.galaxy, name)
    except NotFound:
        return None


def get_systems_in_region_sphere(conn: KitConnection, cx: float, cy: float, cz: float, radius: float,
                                 limit: int = 5000) -> tuple[list[dict[str, Any]], int]:
    """``(systems nearest first, rows fetched)``; Haven's answer is exact, so fetched = returned."""
    found = conn.store.near(conn.galaxy, cx, cy, cz, radius, limit=limit)
    return found, len(found)


def _text(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


SYSTEM_FIELDS = ("name", "x", "y", "z", "region", "fauna", "flora", "sentinel", "materials",
                 "base_location", "photo", "attributes")


def to_system_in(system: dict[str, Any]) -> SystemIn:
    """The kit's system dict as Haven's input model (``id`` → ``legacy_id``)."""

    def fail(path: str, message: str | None = None) -> ValueError:
        return ValueError(f"system {system.get('name')!r}: {path}" + (f": {message}" if message else ""))

    details = parse_details(system.get("planets"), system.get("space_station"), fail)
    return SystemIn(**{f: _text(system.get(f)) for f in SYSTEM_FIELDS},
                    legacy_id=None if system.get("id") is None else str(system["id"]),
                    planets=details.planets, space_station=details.space_station)


def add_system(conn: KitConnection, system: dict[str, Any]) -> int:
    """Create the system with its planets, moons and station (one transaction); Haven's id."""
    return conn.store.create(conn.galaxy, to_system_in(system))["id"]


def delete_systems(conn: KitConnection, ids: list[int]) -> None:
    """Delete systems made by :func:`add_system` (children go by cascade)."""
    for system_id in ids:
        conn.store.delete(system_id)
