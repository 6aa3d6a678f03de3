"""Reading legacy files: detect the shape, parse it, hand back raw records.

Nothing here interprets a record; :mod:`haven.ingest.mapping` does that. This
module only answers "which records does this file hold, in which order, and
what else is in it" for the four shapes users bring:

``name-keyed``
    ``data.json`` written by the legacy tool: a top-level object whose keys are
    system names, plus ``_meta``.
``array``
    ``{"_meta": {...}, "data": [...]}`` (also what Haven's own export writes).
``empty``
    an object holding only ``_meta`` (or nothing at all): zero systems.
``sqlite``
    an old ``haven.db`` in the legacy tool's schema (``systems``, ``planets``,
    ``moons``, ``space_stations``), opened read-only.
"""

from __future__ import annotations

import json
import sys
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haven.errors import ImportFailed, InvalidInput, NotFound

SQLITE_MAGIC = b"SQLite format 3\x00"

SHAPE_NAME_KEYED = "name-keyed"
SHAPE_ARRAY = "array"
SHAPE_EMPTY = "empty"
SHAPE_SQLITE = "sqlite"

# Tables of the legacy schema that hold what Haven imports, or legacy bookkeeping.
_LEGACY_TABLES = {"systems", "planets", "moons", "space_stations", "_metadata", "sqlite_sequence"}


class DupDict(dict):
    """A JSON object that named some key more than once.

    ``json`` keeps only the last value of a repeated key; this subclass keeps
    every ``(key, value)`` pair so the repetition can be reported instead of
    silently losing data.
    """

    pairs: list[tuple[str, Any]]
    duplicate_keys: list[str]


def _object_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    dup = DupDict(d)
    seen: set[str] = set()
    dups: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in dups:
            dups.append(key)
        seen.add(key)
    dup.pairs = list(pairs)
    dup.duplicate_keys = dups
    return dup


@dataclass
class LegacyRecord:
    """One entry of a legacy file, exactly as read.

    ``index`` is 1-based in file order (``_meta`` is not counted); ``key`` is
    the object key in a name-keyed file (``None`` otherwise); ``value`` is the
    raw JSON value or, for SQLite, a dict assembled from the rows.
    """

    index: int
    value: Any
    key: str | None = None


@dataclass
class LegacyFile:
    path: Path
    shape: str
    meta: dict[str, Any] = field(default_factory=dict)
    records: list[LegacyRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Problems found while reading that belong to the file, not to one record.
    problems: list[str] = field(default_factory=list)


def check_input_file(path: Path) -> None:
    """Refuse an input that is missing, or that is not a regular file.

    Importers read a file more than once (SQLite opens it by path; the bulk loader
    checks every record before it writes one), so a pipe such as ``<(zcat f.gz)``
    or ``/dev/stdin`` cannot be read and is named for what it is.
    """
    if not path.exists():
        raise NotFound(f"no file at {path}", field="path")
    if not path.is_file():
        raise InvalidInput(f"{path} is not a regular file (a pipe, a directory or a device); "
                           "imports read their file more than once, so save it to a file first", field="path")


def read_legacy(path: Path | str) -> LegacyFile:
    """Detect the shape of ``path`` and read its records.

    Raises :class:`NotFound` if the file does not exist and
    :class:`ImportFailed` if it is not a file Haven can read (broken JSON
    names the line and column).
    """
    path = Path(path)
    check_input_file(path)
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return _read_sqlite(path)
    return _read_json(path)


def _fail(path: Path, problem: str) -> ImportFailed:
    return ImportFailed(f"{path.name}: cannot be read; nothing was imported", [f"{path.name}: {problem}"])


# -- JSON -------------------------------------------------------------------


def _read_int(text: str) -> int | float:
    """An integer literal as an int; one too long for ``int()`` (the interpreter's digit limit,
    4,300 by default, 0 for none) as the float it rounds to (infinity), which the record's
    checks refuse naming its field, instead of a traceback."""
    limit = sys.get_int_max_str_digits()
    if limit and len(text) - text.startswith("-") > limit:
        return float(text)
    return int(text)


def _loads_legacy(text: str) -> Any:
    """Parse with Python's own ``int``; only a file with an integer beyond the digit limit
    (rare) is parsed again with :func:`_read_int`, a Python call per integer."""
    try:
        return json.loads(text, object_pairs_hook=_object_hook)
    except json.JSONDecodeError:
        raise
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        return json.loads(text, object_pairs_hook=_object_hook, parse_int=_read_int)


def _read_json(path: Path) -> LegacyFile:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"is not UTF-8 text (bad byte at offset {exc.start}); "
                          "expected a legacy data.json or haven.db") from None
    stripped = text.lstrip()
    if not stripped:
        raise _fail(path, "is empty; expected a legacy data.json or haven.db")
    if stripped[0] not in "{[":
        raise _fail(path, "is neither JSON nor a SQLite database; expected a legacy data.json or haven.db")
    try:
        doc = _loads_legacy(text)
    except json.JSONDecodeError as exc:
        raise _fail(path, f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise _fail(path, "invalid JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise _fail(
            path,
            "the top level is a JSON array; expected an object with system names as keys, "
            'or {"_meta": {...}, "data": [...]}',
        )
    return _classify(path, doc)


def _top_level_pairs(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    return list(doc.pairs) if isinstance(doc, DupDict) else list(doc.items())


def _classify(path: Path, doc: dict[str, Any]) -> LegacyFile:
    if isinstance(doc.get("$schema"), str):
        raise _fail(path, "is a JSON Schema, not a map; import the data.json it describes")
    pairs = _top_level_pairs(doc)
    metas = [v for k, v in pairs if k == "_meta"]
    out = LegacyFile(path=path, shape=SHAPE_NAME_KEYED)
    if len(metas) > 1:
        out.problems.append(f"{path.name}: the top-level key \"_meta\" appears {len(metas)} times")
    if metas:
        meta = metas[-1]
        if isinstance(meta, dict):
            out.meta = dict(meta)
        elif meta is not None:
            out.problems.append(f"{path.name}: _meta must be an object")
    data = [v for k, v in pairs if k == "data"]
    if len(data) == 1 and isinstance(data[0], list):
        out.shape = SHAPE_ARRAY
        others = [k for k, _ in pairs if k not in ("_meta", "data")]
        for key in others:
            out.problems.append(
                f"{path.name}: unexpected top-level key {key!r} next to \"data\"; "
                "a file holds either a \"data\" array or systems keyed by name, not both"
            )
        out.records = [LegacyRecord(index=i, value=v) for i, v in enumerate(data[0], start=1)]
        return out
    entries = [(k, v) for k, v in pairs if k != "_meta"]
    if not entries:
        out.shape = SHAPE_EMPTY
        return out
    out.records = [LegacyRecord(index=i, value=v, key=k) for i, (k, v) in enumerate(entries, start=1)]
    return out


# -- SQLite -----------------------------------------------------------------


def _ro_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


def _read_sqlite(path: Path) -> LegacyFile:
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise _fail(path, f"cannot open the SQLite database: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise _fail(path, f"is not a readable SQLite database: {exc}") from None
        if "systems" not in tables:
            if {"system", "alembic_version"} <= tables:
                raise _fail(path, "is a database of this Haven, not of the legacy tool; "
                                  "open it with HAVEN_DATABASE_URL or copy it with `haven backup`")
            raise _fail(path, "is a SQLite database without a `systems` table; "
                              "it is not a legacy haven.db")
        try:
            return _read_legacy_db(path, conn, tables)
        except sqlite3.DatabaseError as exc:
            raise _fail(path, f"cannot read the legacy tables: {exc}") from None
    finally:
        conn.close()


def quote_identifier(name: str) -> str:
    """``name`` as an SQL identifier: in double quotes, each inner double quote doubled."""
    return '"' + name.replace('"', '""') + '"'


def _rows(conn: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    """Every row of a legacy table in storage order (rowid, or plain scan for WITHOUT ROWID)."""
    quoted = quote_identifier(table)
    try:
        cur = conn.execute(f"SELECT * FROM {quoted} ORDER BY rowid")
    except sqlite3.OperationalError:
        cur = conn.execute(f"SELECT * FROM {quoted}")
    return [dict(r) for r in cur]


def _owner(row: dict[str, Any], table: str, key: str, kind: str, parents: dict[Any, dict[str, Any]],
           warnings: list[str]) -> dict[str, Any] | None:
    """The parent row a child row names by ``key``, or None with a warning that it was left out."""
    parent = parents.get(row.get(key))
    if parent is None:
        warnings.append(
            f"{table} row id {row.get('id')!r} ({row.get('name')!r}) belongs to no {kind} "
            f"({key} {row.get(key)!r}); it was not imported"
        )
    return parent


def _read_legacy_db(path: Path, conn: sqlite3.Connection, tables: set[str]) -> LegacyFile:
    out = LegacyFile(path=path, shape=SHAPE_SQLITE)
    if "_metadata" in tables:
        for row in _rows(conn, "_metadata"):
            if "key" in row and "value" in row:
                out.meta[str(row["key"])] = row["value"]
    systems = _rows(conn, "systems")
    planets = _rows(conn, "planets") if "planets" in tables else []
    moons = _rows(conn, "moons") if "moons" in tables else []
    stations = _rows(conn, "space_stations") if "space_stations" in tables else []

    by_legacy_id: dict[Any, dict[str, Any]] = {}
    for s in systems:
        s["planets"] = []
        if "id" in s:
            by_legacy_id.setdefault(s["id"], s)
    planets_by_id: dict[Any, dict[str, Any]] = {}
    for p in planets:
        p["moons"] = []
        owner = _owner(p, "planets", "system_id", "system", by_legacy_id, out.warnings)
        if owner is not None:
            owner["planets"].append(p)
            planets_by_id.setdefault(p.get("id"), p)
    for m in moons:
        planet = _owner(m, "moons", "planet_id", "planet", planets_by_id, out.warnings)
        if planet is not None:
            planet["moons"].append(m)
    for st in stations:
        owner = _owner(st, "space_stations", "system_id", "system", by_legacy_id, out.warnings)
        if owner is None:
            continue
        if owner.get("space_station") is None:
            owner["space_station"] = st
        else:
            # Haven keeps one station per system; the others stay in extra.
            owner.setdefault("additional_space_stations", []).append(st)
    for name in sorted(tables - _LEGACY_TABLES):
        if name.startswith("sqlite_"):
            continue
        try:
            count = conn.execute(f"SELECT COUNT(*) FROM {quote_identifier(name)}").fetchone()[0]
        except sqlite3.DatabaseError as exc:  # e.g. a virtual table of a module this SQLite lacks
            out.warnings.append(f"table {name!r} cannot be read ({exc}); Haven does not import it")
            continue
        if count:
            out.warnings.append(f"table {name!r} has {count} rows; Haven does not import it")
    out.records = [LegacyRecord(index=i, value=s) for i, s in enumerate(systems, start=1)]
    return out
