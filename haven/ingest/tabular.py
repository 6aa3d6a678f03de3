"""Reading Parquet, CSV and JSONL star-system files in fixed-size batches.

Each reader yields :class:`FileBatch` objects of exactly ``batch_rows``
records (the last one may be shorter), so batch ``k`` always holds the same
records of a given file: that is what lets a killed import resume. Column
names follow the legacy files (``id`` is the legacy id, ``x``/``y``/``z`` in
light years); unknown columns are kept per row in ``extra``. The formats are
described in ``docs/formats/bulk.md``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import ValidationError

from haven.errors import InvalidInput
from haven.ingest import mapping
from haven.model import BODY_TEXT_FIELDS, PlanetIn, StationIn, invalid_from_validation
from haven.store.bulk import TEXT_COLUMNS, BulkRowError, Details
from haven.timeutil import parse_ms

__all__ = ["FORMATS", "FileBatch", "detect_format", "read_batches", "total_rows"]

FORMATS = ("parquet", "csv", "jsonl")
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

#: File column → loader column.
ALIASES = {"x": "x_ly", "y": "y_ly", "z": "z_ly", "id": "legacy_id"}
DIRECT = frozenset({"name", "x_ly", "y_ly", "z_ly", "region", "confidence", "seed", *TEXT_COLUMNS})
NESTED = ("planets", "space_station")
REQUIRED = ("name", "x_ly", "y_ly", "z_ly")
STAMPS = ("created_at", "modified_at")


@dataclass
class FileBatch:
    """One batch of a file: loader columns, nested details and details-only records."""

    index: int
    records: int  # file records in this batch
    columns: dict[str, Any] = field(default_factory=dict)
    label: Callable[[int], str] = lambda i: f"row {i + 1}"
    details: dict[int, Details] = field(default_factory=dict)
    attach: list[tuple[int, str, Details]] = field(default_factory=list)
    convert: Callable[[], None] | None = None  # parses and checks the records (call once, any thread)

    def load(self) -> "FileBatch":
        """Parse and convert the records (deferred so that it can run in a worker thread)."""
        if self.convert is not None:
            convert, self.convert = self.convert, None
            convert()
        return self


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
        return fmt
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InvalidInput(
            f"{path.name}: cannot tell the format from the extension; use .parquet, .csv or .jsonl", field="format"
        )
    return found


def total_rows(path: Path, fmt: str) -> int | None:
    """Records in the file when that is known without reading it (Parquet)."""
    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    return None


def read_batches(path: Path, fmt: str, batch_rows: int, skip: set[int] = frozenset()) -> Iterator[FileBatch]:
    """Batches of ``batch_rows`` records; batches in ``skip`` are counted but not converted."""
    if fmt == "parquet":
        return _tables(path, _parquet_stream(path), batch_rows, skip, "row", 1)
    if fmt == "csv":
        return _tables(path, _csv_stream(path), batch_rows, skip, "row", 1)
    return _jsonl(path, batch_rows, skip)


# -- Parquet and CSV: arrow tables ------------------------------------------------------


def _parquet_stream(path: Path) -> Iterator[pa.RecordBatch]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path.name}: not a readable Parquet file ({exc})", field="file") from None
    yield from pf.iter_batches(batch_size=65_536)


def _csv_stream(path: Path) -> Iterator[pa.RecordBatch]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise InvalidInput(f"{path.name}: the CSV file has no header line", field="file")
    # Every column is read as text and converted here, so an error names its row. Only an
    # empty unquoted field is "no value": "N/A" or "null" are text a mapper typed, and a
    # quoted "" is an empty text.
    opts = pacsv.ConvertOptions(column_types={h: pa.string() for h in header}, strings_can_be_null=True,
                                null_values=[""], quoted_strings_can_be_null=False)
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=8 << 20), convert_options=opts)
        for batch in reader:
            yield batch
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{path.name}: not a readable CSV file ({exc})", field="file") from None


def _tables(path: Path, stream: Iterator[pa.RecordBatch], batch_rows: int, skip: set[int], unit: str,
            first: int) -> Iterator[FileBatch]:
    """Re-cut record batches into batches of exactly ``batch_rows`` rows."""
    pending: list[pa.RecordBatch] = []
    have = 0
    index = 0
    start = 0

    def emit(table: pa.Table) -> FileBatch:
        nonlocal index, start
        b = FileBatch(index=index, records=table.num_rows)
        if index not in skip:
            base = start + first
            b.label = lambda i, base=base: f"{path.name} {unit} {base + i}"
            b.convert = lambda b=b, table=table: _table_columns(table, b)
        index += 1
        start += table.num_rows
        return b

    for rb in stream:
        pending.append(rb)
        have += rb.num_rows
        while have >= batch_rows:
            table = pa.Table.from_batches(pending)
            yield emit(table.slice(0, batch_rows))
            rest = table.slice(batch_rows)
            pending = rest.to_batches()
            have = rest.num_rows
    if have:
        yield emit(pa.Table.from_batches(pending))


def _table_columns(table: pa.Table, b: FileBatch) -> None:
    n = table.num_rows
    names = table.column_names
    fail = _failer(b)
    cols: dict[str, Any] = {}
    extra_cols: dict[str, pa.ChunkedArray] = {}
    for name in names:
        target = ALIASES.get(name, name)
        if name == "id" and "legacy_id" in names:
            target = "id"
        column = table.column(name)
        if n and column.null_count == n and target not in REQUIRED:
            continue  # a column with no values says what a missing one says (an export's unused columns)
        if target in DIRECT:
            if target in ("x_ly", "y_ly", "z_ly", "confidence") and pa.types.is_string(column.type):
                column = _to_float(column, name, fail)
            elif target == "seed" and pa.types.is_string(column.type):
                column = _to_int(column, name, fail)
            cols[target] = column
        elif target in STAMPS:
            cols[target] = _stamps(column, name, fail)
        elif target in NESTED:
            continue
        elif target == "extra":
            extra_cols[name] = column
        else:
            extra_cols[name] = column
    if "planets" in names or "space_station" in names:
        planets = _json_cells(table.column("planets"), "planets", fail) if "planets" in names else [None] * n
        stations = (_json_cells(table.column("space_station"), "space_station", fail)
                    if "space_station" in names else [None] * n)
        for i, (ps, st) in enumerate(zip(planets, stations)):
            if ps is not None or st is not None:
                b.details[i] = parse_details(ps, st, lambda p, m, i=i: fail(i, p, m))
    if extra_cols:
        cols["extra"] = _extras(extra_cols, n, fail)
    b.columns = cols


def _json_cells(column: pa.ChunkedArray, name: str, fail: Callable[..., InvalidInput]) -> list[Any]:
    """A nested column's values: list/struct cells as they are, text cells (CSV, flat Parquet) as JSON."""
    values = column.to_pylist()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return values
    out: list[Any] = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out.append(None)
            continue
        try:
            out.append(orjson.loads(v))
        except orjson.JSONDecodeError as exc:
            raise fail(i, name, f"is not valid JSON ({exc})") from None
    return out


def _failer(b: FileBatch) -> Callable[..., BulkRowError]:
    """``fail(row, field path, message)``: the error naming the file row and the field."""

    def fail(row: int, where: str, message: str | None = None) -> BulkRowError:
        text = f"{b.label(row)}: {where}" + (f": {message}" if message else "")
        return BulkRowError(f"{text}; nothing of this batch was written", row=b.label(row),
                            field=where.split(":")[0], batch_index=b.index)

    return fail


def _to_float(column: pa.ChunkedArray, name: str, fail: Callable[..., InvalidInput]) -> pa.ChunkedArray:
    try:
        return pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for i, v in enumerate(column.to_pylist()):
            if v is None:
                continue
            try:
                float(v)
            except ValueError:
                raise fail(i, name, f"must be a number, not {v!r}") from None
        raise


def _to_int(column: pa.ChunkedArray, name: str, fail: Callable[..., InvalidInput]) -> pa.ChunkedArray:
    try:
        return pc.cast(column, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for i, v in enumerate(column.to_pylist()):
            if v is None:
                continue
            try:
                int(v)
            except ValueError:
                raise fail(i, name, f"must be a whole number, not {v!r}") from None
        raise


def _stamps(column: Any, name: str, fail: Callable[..., InvalidInput]) -> list[int | None]:
    """Timestamps (text, epoch milliseconds or a timestamp type) as epoch milliseconds."""
    if isinstance(column, (pa.ChunkedArray, pa.Array)):
        if pa.types.is_timestamp(column.type):
            return pc.cast(pc.cast(column, pa.timestamp("ms", tz=column.type.tz)), pa.int64()).to_pylist()
        values = column.to_pylist()
    else:
        values = list(column)
    out: list[int | None] = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out.append(None)
        elif isinstance(v, str):
            try:
                out.append(parse_ms(v, name))
            except InvalidInput:
                raise fail(i, name, f"{v!r} is not a date and time") from None
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            out.append(int(v))
        else:
            raise fail(i, name, "must be a date and time")
    return out


def _extras(columns: dict[str, Any], n: int, fail: Callable[..., InvalidInput]) -> list[dict[str, Any] | None]:
    """Unknown columns, kept per row (nulls left out); an ``extra`` column of objects (or their JSON text) is merged."""
    values = {k: (v.to_pylist() if isinstance(v, (pa.ChunkedArray, pa.Array)) else list(v))
              for k, v in columns.items()}
    out: list[dict[str, Any] | None] = []
    for i in range(n):
        row: dict[str, Any] = {}
        for k, vs in values.items():
            v = vs[i]
            if v is None:
                continue
            if k == "extra" and isinstance(v, str) and v.startswith("{"):
                v = _object_or_text(v)
            if k == "extra" and isinstance(v, dict):
                row.update(v)
            else:
                row[k] = v
        if row:
            try:
                orjson.dumps(row)
            except TypeError as exc:
                raise fail(i, next(iter(row)), f"cannot be stored ({exc})") from None
        out.append(row or None)
    return out


def _object_or_text(text: str) -> Any:
    """An ``extra`` cell written as a JSON object (a flat export's) as that object, else the text itself."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, dict) else text


# -- nested planets, moons and stations --------------------------------------------------


def _bodies_as_text(planets: Any) -> Any:
    """Body fields written as objects (``"properties": {"biome": …}``) are kept as JSON text."""
    if not isinstance(planets, list):
        return planets
    out = []
    for p in planets:
        if isinstance(p, dict):
            p = {k: (orjson.dumps(v).decode() if k in BODY_TEXT_FIELDS and isinstance(v, (dict, list)) else v)
                 for k, v in p.items()}
            if "moons" in p:
                p["moons"] = _bodies_as_text(p["moons"])
        out.append(p)
    return out


def parse_details(planets: Any, station: Any, fail: Callable[[str, str | None], InvalidInput]) -> Details:
    """Planets (with moons) and a station as validated models; ``fail(path, message)`` on a problem.

    Mapped like legacy files (``sentinels``/``resources`` aliases, unknown keys kept in
    ``extra``). The text was decoded by orjson or pyarrow, which refuse invalid Unicode,
    so the legacy reader's surrogate scan is not repeated here.
    """
    ctx = mapping._Ctx()
    data = {
        "planets": mapping._bodies(ctx, _bodies_as_text(planets), "planets", moon=False),
        "space_station": mapping._station(ctx, station, "space_station"),
        "extra": {},
    }
    if not ctx.problems:
        mapping._check_extras(ctx, data)
    if ctx.problems:
        path, message = ctx.problems[0]
        raise fail(path, message)
    out = Details()
    for i, p in enumerate(data["planets"]):
        try:
            out.planets.append(PlanetIn.model_validate(p))
        except ValidationError as exc:
            raise fail(invalid_from_validation(exc, f"planets[{i}]").message, None) from None
    if len({p.name for p in out.planets}) != len(out.planets):
        raise fail("planets", "two planets have the same name; planet names must be unique")
    if data["space_station"] is not None:
        try:
            out.space_station = StationIn.model_validate(data["space_station"])
        except ValidationError as exc:
            raise fail(invalid_from_validation(exc, "space_station").message, None) from None
    return out


# -- JSONL ---------------------------------------------------------------------------------


def _jsonl(path: Path, batch_rows: int, skip: set[int]) -> Iterator[FileBatch]:
    index = 0
    lines: list[tuple[int, bytes]] = []
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            lines.append((line_no, raw))
            if len(lines) == batch_rows:
                yield _jsonl_batch(path, index, lines, index in skip)
                index += 1
                lines = []
    if lines:
        yield _jsonl_batch(path, index, lines, index in skip)


def _jsonl_batch(path: Path, index: int, lines: list[tuple[int, bytes]], skipped: bool) -> FileBatch:
    b = FileBatch(index=index, records=len(lines))
    if not skipped:
        b.convert = lambda: _jsonl_records(path, b, lines)
    return b


def _jsonl_records(path: Path, b: FileBatch, lines: list[tuple[int, bytes]]) -> None:
    systems: list[dict[str, Any]] = []
    system_lines: list[int] = []
    attach_raw: list[tuple[int, dict[str, Any]]] = []
    for line_no, raw in lines:
        where = f"{path.name} line {line_no}"
        try:
            d = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{where}: not valid JSON ({exc}); nothing of this batch was written") from None
        if not isinstance(d, dict):
            raise InvalidInput(f"{where}: a line must be a JSON object; nothing of this batch was written")
        if "name" not in d and any(k in d for k in NESTED):
            attach_raw.append((line_no, d))
        else:
            systems.append(d)
            system_lines.append(line_no)
    labels = [f"{path.name} line {n}" for n in system_lines] + [f"{path.name} line {n}" for n, _ in attach_raw]
    b.label = lambda i: labels[i]
    fail = _failer(b)
    n = len(systems)

    # flat system fields → columns
    keys: dict[str, None] = {}
    for d in systems:
        keys.update(dict.fromkeys(d))
    cols: dict[str, Any] = {}
    extra: dict[str, list[Any]] = {}
    has_legacy = "legacy_id" in keys
    for key in keys:
        values = [d.get(key) for d in systems]
        target = ALIASES.get(key, key)
        if key == "id" and has_legacy:
            target = "id"
        if target in DIRECT:
            cols[target] = values
        elif target in STAMPS:
            cols[target] = _stamps(values, key, fail)
        elif target in NESTED:
            continue
        else:
            extra[key] = values
    for req in REQUIRED:
        if n and req not in cols:
            short = req.removesuffix("_ly")
            raise fail(0, short, "is missing")
    if n:
        for i, d in enumerate(systems):
            if d.get("planets") is not None or d.get("space_station") is not None:
                b.details[i] = parse_details(d.get("planets"), d.get("space_station"),
                                             lambda p, m, i=i: fail(i, p, m))
        if extra:
            cols["extra"] = _extras(extra, n, fail)
        b.columns = cols
    else:
        b.columns = {"name": [], "x_ly": [], "y_ly": [], "z_ly": []}

    # details-only lines: {"id": …, "planets": […], "space_station": {…}}
    for j, (line_no, d) in enumerate(attach_raw):
        row = n + j
        legacy_id = d.get("id", d.get("legacy_id"))
        if legacy_id is None or isinstance(legacy_id, (dict, list, bool)):
            raise fail(row, "id", "a details line needs the id of its system")
        unknown = set(d) - {"id", "legacy_id", *NESTED}
        if unknown:
            raise fail(row, sorted(unknown)[0], "a details line (no name) holds only id, planets and "
                                                "space_station")
        details = parse_details(d.get("planets"), d.get("space_station"), lambda p, m, row=row: fail(row, p, m))
        b.attach.append((row, str(legacy_id), details))
