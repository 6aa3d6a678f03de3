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
import re
import sys
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haven.errors import ImportFailed, InvalidInput, NotFound
from haven.ingest.jsonstream import OPENED, Entry, JsonSyntaxError, NotUtf8, TextWindow, object_entries

SQLITE_MAGIC = b"SQLite format 3\x00"

SHAPE_NAME_KEYED = "name-keyed"
SHAPE_ARRAY = "array"
SHAPE_EMPTY = "empty"
SHAPE_SQLITE = "sqlite"

MAX_LISTED = 1000  # problems of one kind listed one by one; the rest are counted
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
    raw JSON value or, for SQLite, a dict assembled from the rows. ``plain``
    says the record's JSON text held no repeated key and no ``\\ud800``-style
    escape, so its values need no scan for either.
    """

    index: int
    value: Any
    key: str | None = None
    plain: bool = False


@dataclass
class LegacyFile:
    """What a legacy file holds: its shape, header and records, read again on each :meth:`records` call.

    A JSON file is not kept in memory: each call of :meth:`records` reads it
    anew, one record at a time, so a file of millions of systems is checked and
    imported with the memory of a few.
    """

    path: Path
    shape: str
    meta: dict[str, Any] = field(default_factory=dict)
    record_count: int = 0  # entries in the file (``_meta`` not counted)
    warnings: list[str] = field(default_factory=list)
    # Problems found while reading that belong to the file, not to one record.
    problems: list[str] = field(default_factory=list)
    _read: Callable[[], Iterator[LegacyRecord]] = field(default=lambda: iter(()), repr=False)
    _stamp: tuple[int, int] | None = field(default=None, repr=False)  # size and mtime when first read

    def records(self) -> Iterator[LegacyRecord]:
        """Every record in file order, read from the file again.

        Raises :class:`ImportFailed` if the file changed since :func:`read_legacy`
        read it, before the first record or after the last, so an import never
        writes records that were not the ones it checked.
        """
        self._check_unchanged()
        yield from self._read()
        self._check_unchanged()

    def _check_unchanged(self) -> None:
        if self._stamp is not None and _stamp(self.path) != self._stamp:
            raise _fail(self.path, "changed while it was being imported; run the import again")


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


def read_legacy(path: Path | str, *, on_bytes: Callable[[int], None] | None = None) -> LegacyFile:
    """Detect the shape of ``path``, read its header and count its records.

    A JSON file is read through once here (``on_bytes`` is told how many bytes
    so far) and again by each :meth:`LegacyFile.records`. Raises
    :class:`NotFound` if the file does not exist and :class:`ImportFailed` if
    it is not a file Haven can read (broken JSON names the line and column).
    """
    path = Path(path)
    check_input_file(path)
    stamp = _stamp(path)
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    legacy = _read_sqlite(path) if head == SQLITE_MAGIC else _read_json(path, on_bytes)
    legacy._stamp = stamp
    return legacy


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


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


class _RecordDecoder:
    """Decodes one JSON value at a time and remembers whether the last one was plain.

    Objects keep repeated keys (:class:`DupDict`); integers past the interpreter's
    digit limit (rare) are read again with :func:`_read_int`.
    """

    def __init__(self) -> None:
        self._duplicates = 0
        self._decoder = json.JSONDecoder(object_pairs_hook=self._hook)
        self._long_int_decoder = json.JSONDecoder(object_pairs_hook=self._hook, parse_int=_read_int)
        self.last_plain = False

    def _hook(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = _object_hook(pairs)
        if type(value) is DupDict:
            self._duplicates += 1
        return value

    def __call__(self, text: str, pos: int) -> tuple[Any, int]:
        duplicates = self._duplicates
        try:
            value, end = self._decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            raise
        except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
            value, end = self._long_int_decoder.raw_decode(text, pos)
        self.last_plain = self._duplicates == duplicates and not _SURROGATE_ESCAPE.search(text, pos, end)
        return value, end


# The only way text decoded from UTF-8 holds a lone surrogate (U+D800–U+DFFF).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_DATA = "data"
_META = "_meta"


def _json_entries(path: Path, *, open_data: bool,
                  on_bytes: Callable[[int], None] | None = None) -> Iterator[tuple[Entry, bool]]:
    """The top-level entries of a JSON map file, each with whether its value was plain
    (:attr:`LegacyRecord.plain`); the items of a ``"data"`` array one by one when
    ``open_data``. Errors in the text become :class:`ImportFailed` naming line and column."""
    with path.open("rb") as fh:
        window = TextWindow(fh)
        decode = _RecordDecoder()
        try:
            first = window.skip_whitespace()
            if not first:
                raise _fail(path, "is empty; expected a legacy data.json or haven.db")
            if first == "[":
                raise _fail(path, "the top level is a JSON array; expected an object with system names "
                                  'as keys, or {"_meta": {...}, "data": [...]}')
            if first != "{":
                raise _fail(path, "is neither JSON nor a SQLite database; expected a legacy data.json "
                                  "or haven.db")
            told = 0
            for entry in object_entries(window, decode, open_arrays=(_DATA,) if open_data else ()):
                if on_bytes is not None and window.bytes_read != told:  # once per chunk read
                    told = window.bytes_read
                    on_bytes(told)
                yield entry, decode.last_plain
        except NotUtf8 as exc:
            raise _fail(path, f"is not UTF-8 text (bad byte at offset {exc.offset}); "
                              "expected a legacy data.json or haven.db") from None
        except JsonSyntaxError as exc:
            raise _fail(path, f"line {exc.line}, column {exc.column}: invalid JSON: {exc.message}") from None


def _read_json(path: Path, on_bytes: Callable[[int], None] | None = None) -> LegacyFile:
    """Read the file through once to learn its shape, header and record count; keep no record."""
    meta_count = data_count = other_count = entry_count = items = 0
    meta: Any = None
    data_is_array = False
    others: list[str] = []  # keys next to "data", the first MAX_LISTED of them
    for entry, _ in _json_entries(path, open_data=True, on_bytes=on_bytes):
        if entry.item:
            items += 1
            continue
        if entry.key == "$schema" and isinstance(entry.value, str):
            raise _fail(path, "is a JSON Schema, not a map; import the data.json it describes")
        if entry.key == _META:
            meta_count += 1
            meta = entry.value
            continue
        entry_count += 1
        if entry.key == _DATA:
            data_count += 1
            data_is_array = entry.value is OPENED or isinstance(entry.value, list)
        else:
            other_count += 1
            if len(others) < MAX_LISTED:
                others.append(entry.key)
    out = LegacyFile(path=path, shape=SHAPE_NAME_KEYED)
    if meta_count > 1:
        out.problems.append(f"{path.name}: the top-level key \"_meta\" appears {meta_count} times")
    if isinstance(meta, dict):
        out.meta = dict(meta)
    elif meta is not None:
        out.problems.append(f"{path.name}: _meta must be an object")
    if data_count == 1 and data_is_array:
        out.shape, out.record_count = SHAPE_ARRAY, items
        for key in others:
            out.problems.append(
                f"{path.name}: unexpected top-level key {key!r} next to \"data\"; "
                "a file holds either a \"data\" array or systems keyed by name, not both"
            )
        if other_count > len(others):
            out.problems.append(f"{path.name}: … and {other_count - len(others)} more top-level keys next to \"data\"")
        out._read = lambda: _array_records(path)
    elif entry_count:
        out.record_count = entry_count
        out._read = lambda: _name_keyed_records(path)
    else:
        out.shape = SHAPE_EMPTY
    return out


def _array_records(path: Path) -> Iterator[LegacyRecord]:
    for entry, plain in _json_entries(path, open_data=True):
        if entry.key == _DATA and entry.item:
            yield LegacyRecord(index=entry.item, value=entry.value, plain=plain)


def _name_keyed_records(path: Path) -> Iterator[LegacyRecord]:
    index = 0
    for entry, plain in _json_entries(path, open_data=False):
        if entry.key != _META:
            index += 1
            yield LegacyRecord(index=index, value=entry.value, key=entry.key, plain=plain)


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
    records = [LegacyRecord(index=i, value=s) for i, s in enumerate(systems, start=1)]
    out.record_count = len(records)
    out._read = lambda: iter(records)
    return out
