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
import math
import re
import sys
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
from haven.exactjson import (MAX_JSON_DEPTH, ORJSON_INT_MAX, ORJSON_INT_MIN, LongInteger, RepeatedKey, count_keys,
                             depth_error, first_value, loads_exactly, needs_exact_reading, read_exactly,
                             refused_number, sketch)
from haven.ingest import mapping
from haven.ingest.formats import FLAT_FORMATS, FLAT_SUFFIXES
from haven.model import (BODY_TEXT_FIELDS, INT64_MAX, INT64_MIN, MAX_PLANETS, PlanetIn, StationIn, field_path,
                         invalid_from_validation)
from haven.store.bulk import TEXT_COLUMNS, BulkRowError, Details
from haven.timeutil import MAX_MS, MIN_MS, parse_ms

__all__ = ["FORMATS", "FileBatch", "detect_format", "read_batches", "total_rows"]

FORMATS = FLAT_FORMATS
SUFFIXES = FLAT_SUFFIXES

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
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InvalidInput(
            f"{path.name}: cannot tell the format from the extension; use .parquet, .csv or .jsonl", field="format"
        )
    return found


def total_rows(path: Path, fmt: str) -> int | None:
    """Records in the file when that is known without reading it (Parquet)."""
    if fmt == "parquet":
        return _open_parquet(path).metadata.num_rows
    return None


def check_columns(path: Path, fmt: str) -> None:
    """Refuse a file whose columns cannot be imported, before anything else happens.

    Reads only the Parquet footer, or the CSV header line and the file's quoting
    (JSONL has no header; its lines are checked one by one). Raises
    :class:`InvalidInput` naming the file: not a readable Parquet file, not UTF-8
    text, a column named twice, a required column missing, a quoted CSV value
    with text after its closing quote.
    """
    if fmt == "parquet":
        _check_column_names(path, _parquet_schema(path, _open_parquet(path)).names)
    elif fmt == "csv":
        _check_column_names(path, _csv_header(path))
        _check_csv_quoting(path)


def _check_column_names(path: Path, names: list[str]) -> None:
    """Every column named once, no two columns for one field, and name, x, y, z present."""
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    for name, count in seen.items():
        if count > 1:
            times = "twice" if count == 2 else f"{count} times"
            raise InvalidInput(f"{path.name}: the column {name!r} appears {times}; column names must be unique",
                               field=name)
    given: dict[str, list[str]] = {}  # loader column -> the file's columns that give it
    for name in names:
        given.setdefault(ALIASES.get(name, name), []).append(name)
    for target in REQUIRED:
        spelled = given.get(target, [])
        short = target.removesuffix("_ly")
        if len(spelled) > 1:
            raise InvalidInput(f"{path.name}: the columns {spelled[0]!r} and {spelled[1]!r} both give {short}; "
                               "keep one", field=short)
        if not spelled:
            raise InvalidInput(f"{path.name}: the column {short!r} is missing; a file needs the columns "
                               "name, x, y and z", field=short)


def read_batches(path: Path, fmt: str, batch_rows: int, skip: set[int] = frozenset()) -> Iterator[FileBatch]:
    """Batches of ``batch_rows`` records; batches in ``skip`` are counted but not converted."""
    if fmt == "parquet":
        return _tables(path, _parquet_stream(path), batch_rows, skip, "row", 1)
    if fmt == "csv":
        return _tables(path, _csv_stream(path), batch_rows, skip, "row", 1, digits_are_ms=True)
    return _jsonl(path, batch_rows, skip)


# -- Parquet and CSV: arrow tables ------------------------------------------------------


def _not_parquet(path: Path, exc: BaseException) -> InvalidInput:
    return InvalidInput(f"{path.name}: not a readable Parquet file ({exc})", field="file")


def _open_parquet(path: Path) -> pq.ParquetFile:
    """The file, with page checksums verified as its pages are read (where the writer stored them)."""
    try:
        return pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as exc:  # empty, truncated, not Parquet, unreadable
        raise _not_parquet(path, exc) from None


def _parquet_schema(path: Path, pf: pq.ParquetFile) -> pa.Schema:
    try:
        return pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:  # a footer whose types Arrow cannot read
        raise _not_parquet(path, exc) from None


def _parquet_stream(path: Path) -> Iterator[pa.RecordBatch]:
    pf = _open_parquet(path)
    _check_column_names(path, _parquet_schema(path, pf).names)
    try:
        yield from pf.iter_batches(batch_size=65_536)
    except (pa.ArrowException, OSError) as exc:  # damaged pages: "Unexpected end of stream", bad compression
        if _CHECKSUM_FAILED in str(exc):
            raise _damaged_page(path, exc) from None
        raise _not_parquet(path, exc) from None


#: How Arrow reports a page whose stored CRC does not match its bytes.
_CHECKSUM_FAILED = "CRC checksum verification failed"


def _damaged_page(path: Path, exc: BaseException) -> InvalidInput:
    """The error for a page whose stored checksum does not match its bytes."""
    return InvalidInput(
        f"{path.name}: a data page{_damaged_where(path)} is damaged: its checksum does not match its contents "
        f"({exc}); the file changed after it was written (a bad copy or a failing disk: copy or export it "
        "again), or the program that wrote it stored wrong checksums (write it again without them)",
        field="file",
    )


def _damaged_where(path: Path) -> str:
    """`` of the column 'x' in rows 1 to 3000`` for the first damaged page, or "" if it cannot be found.

    An error path only: each column of each row group is read on its own until one
    fails its checksum again.
    """
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True)
        start = 0
        for group in range(pf.metadata.num_row_groups):
            rows = pf.metadata.row_group(group).num_rows
            for name in pf.schema_arrow.names:
                try:
                    pf.read_row_group(group, columns=[name])
                except (pa.ArrowException, OSError) as exc:
                    if _CHECKSUM_FAILED in str(exc):
                        return f" of the column {name!r} in rows {start + 1} to {start + rows}"
            start += rows
    except (pa.ArrowException, OSError):  # finding the page is a courtesy; the error stands without it
        pass
    return ""


_NOT_UTF8 = "not UTF-8 text (byte 0x{byte:02x} at position {at} of the line); save the file as UTF-8"


def _not_utf8(path: Path) -> InvalidInput | None:
    """The error naming the first line that is not UTF-8 text, or None if every line is.

    A line can be decoded on its own: the newline byte is never part of a longer
    UTF-8 sequence.
    """
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return InvalidInput(f"{path.name} line {line_no}: "
                                    + _NOT_UTF8.format(byte=raw[exc.start], at=exc.start + 1), field="file")
    return None


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError:
        raise _not_utf8(path) or InvalidInput(f"{path.name}: not UTF-8 text", field="file") from None
    except csv.Error as exc:  # e.g. a NUL byte in the header line
        raise InvalidInput(f"{path.name} line 1: not a readable CSV header ({exc})", field="file") from None
    if not header:
        raise InvalidInput(f"{path.name}: the CSV file has no header line", field="file")
    return header


def _check_csv_quoting(path: Path) -> None:
    """Refuse text after a quoted value's closing quote, naming its row.

    Arrow reads ``"unclosed`` up to the next quote anywhere later in the file and
    keeps what follows that quote, so a stray quote silently merges the rows
    between into one value. Python's own reader, strict, refuses it (about 0.8 s
    per million rows); a file without any quote has nothing to check.
    """
    with path.open("rb") as fh:
        if not any(b'"' in block for block in iter(lambda: fh.read(CSV_BLOCK_BYTES), b"")):
            return
    limit = csv.field_size_limit(sys.maxsize)  # a value may be long (planets, extra): Arrow reads it
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            reader = csv.reader(fh, strict=True)
            records = last_line = 0  # read so far, the header included: the failing one is row ``records``
            try:
                for _ in reader:
                    records, last_line = records + 1, reader.line_num
            except csv.Error as exc:
                raise InvalidInput(
                    f"{path.name} row {records} (from line {last_line + 1}): {exc}; a quoted value must end "
                    "at a comma or at the end of its line (write a quote inside it as two quotes: \"\")",
                    field="file") from None
    finally:
        csv.field_size_limit(limit)


#: Bytes of CSV text Arrow reads at a time (a longer record is read whole all the same).
CSV_BLOCK_BYTES = 8 << 20


def _csv_parse_options(**kwargs: Any) -> pacsv.ParseOptions:
    """How Haven reads CSV: a quoted value may hold line breaks (a flat export's ``attributes``,
    ``planets`` or ``extra`` often do), so a block ends only between records."""
    return pacsv.ParseOptions(newlines_in_values=True, **kwargs)


def _csv_stream(path: Path) -> Iterator[pa.RecordBatch]:
    """The file's records as Arrow batches of text columns, header checked first."""
    header = _csv_header(path)
    _check_column_names(path, header)
    # Every column is read as text and converted here, so an error names its row. Only an
    # empty unquoted field is "no value": "N/A" or "null" are text a mapper typed, and a
    # quoted "" is an empty text.
    opts = pacsv.ConvertOptions(column_types={h: pa.string() for h in header}, strings_can_be_null=True,
                                null_values=[""], quoted_strings_can_be_null=False)
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                                parse_options=_csv_parse_options(), convert_options=opts)
        for batch in reader:
            yield batch
    except (pa.ArrowException, OSError) as exc:
        raise _csv_error(path, exc) from None


def _csv_error(path: Path, exc: BaseException) -> InvalidInput:
    """Why Arrow could not read a CSV file, with the line or row when it can be found (an error path only)."""
    bad_text = _not_utf8(path)
    if bad_text is not None:
        return bad_text
    if isinstance(exc, pa.ArrowInvalid) and "CSV parse error" in str(exc):
        # The parallel reader does not know row numbers; a single-threaded read does.
        rows: list[Any] = []

        def first_bad(row: Any) -> str:
            rows.append(row)
            return "error"

        try:
            for _ in pacsv.open_csv(path, read_options=pacsv.ReadOptions(use_threads=False,
                                                                         block_size=CSV_BLOCK_BYTES),
                                    parse_options=_csv_parse_options(invalid_row_handler=first_bad)):
                pass
        except (pa.ArrowException, OSError):
            pass
        if rows and rows[0].number is not None:
            row = rows[0]
            # ``number`` counts records (a value's line breaks do not count), the header as 1; Haven's
            # CSV rows are numbered from the first record.
            return InvalidInput(
                f"{path.name} row {row.number - 1}: expected {row.expected_columns} columns (as in the header), "
                f"got {row.actual_columns}: {row.text[:80]!r}",
            )
    return InvalidInput(f"{path.name}: not a readable CSV file ({exc})", field="file")


def _tables(path: Path, stream: Iterator[pa.RecordBatch], batch_rows: int, skip: set[int], unit: str,
            first: int, *, digits_are_ms: bool = False) -> Iterator[FileBatch]:
    """Re-cut record batches into batches of exactly ``batch_rows`` rows.

    ``digits_are_ms``: a date given as text of digits is epoch milliseconds (CSV, whose cells are all text).
    """
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
            b.convert = lambda b=b, table=table: _table_columns(table, b, digits_are_ms=digits_are_ms)
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


def _table_columns(table: pa.Table, b: FileBatch, *, digits_are_ms: bool = False) -> None:
    """Convert an Arrow table of file records into the loader's columns, details and extras (into ``b``)."""
    n = table.num_rows
    names = table.column_names
    fail = _failer(b)
    for i, name in enumerate(names):
        t = table.schema.field(i).type
        if pa.types.is_dictionary(t):  # a dictionary column (a pandas categorical, say): its values, decoded
            t = t.value_type
        if pa.types.is_string_view(t):  # text in Arrow's view layout, as text the loader reads (no 2 GiB limit)
            t = pa.large_string()
        if t != table.schema.field(i).type:
            table = table.set_column(i, name, table.column(i).cast(t))
    cols: dict[str, Any] = {}
    extra_cols: dict[str, pa.ChunkedArray] = {}
    for name in names:
        target = ALIASES.get(name, name)
        if name == "id" and "legacy_id" in names:
            target = "id"
        column = table.column(name)
        _check_valid(column, name, fail)
        if n and column.null_count == n and target not in REQUIRED:
            continue  # a column with no values says what a missing one says (an export's unused columns)
        if target in DIRECT:
            if target in _NUMBER_TARGETS and _is_text(column.type):
                column = _to_float(column, name, fail)
            elif target == "seed" and _is_text(column.type):
                column = _to_int(column, name, fail)
            cols[target] = column
        elif target in STAMPS:
            cols[target] = _stamps(column, name, fail, digits_are_ms=digits_are_ms)
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
    _drop_seeds_of_given_children(cols, b.details, fail)
    if extra_cols:
        cols["extra"] = _extras(extra_cols, n, fail)
    b.columns = cols


def _is_text(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` holds text, in any of Arrow's layouts."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _drop_seeds_of_given_children(cols: dict[str, Any], details: dict[int, Details],
                                  fail: Callable[..., InvalidInput]) -> None:
    """A row that gives ``planets`` or ``space_station`` stores those children, and no seed.

    A seed stands for derived children; given children are stored ones, and a stored
    seed would hide them on every read and export. So such a row is stored as a row
    without a seed plus a details line: the given children replace the derived ones
    (a part not given is not stored), as attaching details to a seeded system does.
    The seed must still be a valid one, so a typo in it is not passed over.
    """
    if "seed" not in cols or not details:
        return
    column = cols["seed"]
    values = column.to_pylist() if isinstance(column, (pa.Array, pa.ChunkedArray)) else list(column)
    for i in details:
        v = values[i]
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise fail(i, "seed", "must be a whole number")
        if not 0 <= v <= INT64_MAX:
            raise fail(i, "seed", f"must be between 0 and {INT64_MAX}")
        values[i] = None
    cols["seed"] = values


def _check_valid(column: pa.ChunkedArray, name: str, fail: Callable[..., InvalidInput]) -> None:
    """Refuse text that is not UTF-8 (a Parquet writer may store any bytes as a string), naming its row."""
    try:
        column.validate(full=True)  # checks UTF-8 in string values, nested ones included: ~10 ms a million rows
    except pa.ArrowInvalid:
        values = column.combine_chunks()

        def valid(k: int) -> bool:
            try:
                values.slice(0, k).validate(full=True)
            except pa.ArrowInvalid:
                return False
            return True

        raise fail(_first_failing(len(values), valid), name, "is not valid UTF-8 text") from None


def _json_cells(column: pa.ChunkedArray, name: str, fail: Callable[..., InvalidInput]) -> list[Any]:
    """A nested column's values: list/struct cells as they are, text cells (CSV, flat Parquet) as JSON."""
    values = column.to_pylist()
    if not _is_text(column.type):
        return values
    out: list[Any] = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out.append(None)
            continue
        try:
            out.append(_read_json_cell(v, i, name, fail))
        except orjson.JSONDecodeError as exc:
            raise fail(i, name, f"is not valid JSON ({exc})") from None
    return out


def _read_json_cell(text: str, row: int, name: str, fail: Callable[..., InvalidInput]) -> Any:
    """JSON text of a cell read as a JSONL line is: integers exact whatever their size (the
    models and range checks decide what fits), a key repeated in one object refused.

    Raises ``orjson.JSONDecodeError`` for text that is not JSON; the caller decides what that means.
    """
    try:
        return loads_exactly(text.encode(), what="the cell")
    except RepeatedKey as exc:
        raise _repeated_key(exc, row, name, fail) from None
    except InvalidInput as exc:  # the exact reading's own limits (nesting, digits)
        raise fail(row, name, exc.message) from None


def _repeated_key(exc: RepeatedKey, row: int, name: str, fail: Callable[..., InvalidInput]) -> InvalidInput:
    """The row error for a key repeated in one object of the JSON text in column ``name``."""
    return fail(row, field_path((name, *exc.location, exc.key)),
                f'the key "{exc.key}" appears more than once in one object; write each key once')


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
        raise _first_uncastable(column, pa.float64(), name, fail, lambda v: f"must be a number, not {v!r}") from None


def _to_int(column: pa.ChunkedArray, name: str, fail: Callable[..., InvalidInput]) -> pa.ChunkedArray:
    try:
        return pc.cast(column, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):

        def why(v: str) -> str:
            try:
                whole = int(v)
            except ValueError:
                return f"must be a whole number, not {v!r}"
            if not INT64_MIN <= whole <= INT64_MAX:
                return f"must be a whole number between 0 and {INT64_MAX}, not {v!r}"
            return f"must be a whole number, not {v!r}"

        raise _first_uncastable(column, pa.int64(), name, fail, why) from None


def _first_uncastable(column: pa.ChunkedArray, to: pa.DataType, name: str, fail: Callable[..., InvalidInput],
                      why: Callable[[str], str]) -> InvalidInput:
    """The error naming the first value Arrow cannot cast (an error path only).

    Found by bisection over prefixes of the column (a few dozen casts, whatever
    its length), so the row is the one Arrow itself refuses.
    """
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column

    def casts(k: int) -> bool:
        try:
            pc.cast(values.slice(0, k), to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    if casts(len(values)):
        return fail(0, name, f"cannot be read as {to}")
    row = _first_failing(len(values), casts)
    return fail(row, name, why(values[row].as_py()))


#: Units of an Arrow timestamp per millisecond (seconds are multiplied instead).
_PER_MS = {"ms": 1, "us": 1_000, "ns": 1_000_000}


def _timestamps_ms(column: Any, name: str, fail: Callable[..., InvalidInput]) -> list[int | None]:
    """A timestamp column as epoch milliseconds: finer units are cut to the millisecond, like text stamps.

    An instant outside the years 1 to 9999 names its row (Arrow's own cast to
    milliseconds refuses finer values and overflows on far ones, naming no row).
    """
    ints = pc.cast(column, pa.int64())  # the stored count of the column's unit since the epoch
    valid = ints.is_valid().to_numpy(zero_copy_only=False)
    raw = pc.fill_null(ints, 0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    unit = column.type.unit
    if unit == "s":
        inside = (raw >= MIN_MS // 1000) & (raw <= MAX_MS // 1000)  # tested before multiplying: no overflow
        ms = np.where(inside, raw, 0) * 1000
    else:
        ms = raw // _PER_MS[unit]
        inside = (ms >= MIN_MS) & (ms <= MAX_MS)
    outside = valid & ~inside
    if outside.any():
        raise fail(int(np.flatnonzero(outside)[0]), name, "must lie between the years 1 and 9999 (UTC)")
    return pa.array(ms, mask=~valid).to_pylist()


#: Text that is epoch milliseconds where a date is text of digits (CSV): ASCII digits, maybe after a minus.
_MS_TEXT = re.compile(r"-?[0-9]+")
#: Unsigned text of at most this many digits is a date (``20231114``); milliseconds that short
#: would all fall on the first two days of 1970.
_DATE_DIGITS_MAX = 8
#: More significant digits than this is beyond the years 1 to 9999 (those take at most 15).
_MS_DIGITS_MAX = 16


def _shown_ms(text: str) -> str:
    """A number for an error message, cut short when long (a cell may hold thousands of digits)."""
    return text if len(text) <= 24 else f"{text[:20]}… ({len(text.lstrip('-'))} digits)"


def _epoch_ms(value: int, row: int, name: str, fail: Callable[..., InvalidInput]) -> int:
    """``value`` (milliseconds since 1970) if it lies in the years 1 to 9999 (UTC), else its row's error."""
    if not MIN_MS <= value <= MAX_MS:
        raise fail(row, name, f"must lie between the years 1 and 9999 (UTC), not {_shown_ms(str(value))} "
                              "(read as epoch milliseconds)")
    return value


def _text_ms(text: str, row: int, name: str, fail: Callable[..., InvalidInput]) -> int | None:
    """Text of more than eight digits, or of digits after a minus (spaces around), as epoch milliseconds;
    None for other text, which is read as a date and time."""
    value = text.strip()
    if not _MS_TEXT.fullmatch(value) or (value[0] != "-" and len(value) <= _DATE_DIGITS_MAX):
        return None  # other text, or a date such as 20231114 (ISO 8601's basic form), not 5 h into 1970
    sign, digits = ("-", value[1:]) if value[0] == "-" else ("", value)
    significant = digits.lstrip("0") or "0"  # int() refuses texts of over 4,300 digits, leading zeros too
    if len(significant) > _MS_DIGITS_MAX:  # far outside the range: no int() of a huge text
        raise fail(row, name, f"must lie between the years 1 and 9999 (UTC), not {_shown_ms(value)} "
                              "(read as epoch milliseconds)")
    return _epoch_ms(int(sign + significant), row, name, fail)


def _stamps(column: Any, name: str, fail: Callable[..., InvalidInput], *,
            digits_are_ms: bool = False) -> list[int | None]:
    """Timestamps (text, epoch milliseconds or a timestamp type) as epoch milliseconds.

    Integers are epoch milliseconds; so is text of digits when ``digits_are_ms`` (a
    CSV cell, where every value is text). Either must lie in the years 1 to 9999.
    """
    if isinstance(column, (pa.ChunkedArray, pa.Array)):
        if pa.types.is_timestamp(column.type):
            return _timestamps_ms(column, name, fail)
        values = column.to_pylist()
    else:
        values = list(column)
    out: list[int | None] = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out.append(None)
        elif isinstance(v, str):
            ms = _text_ms(v, i, name, fail) if digits_are_ms else None
            if ms is None:
                try:
                    ms = parse_ms(v, name)
                except InvalidInput:
                    raise fail(i, name, f"{v!r} is not a date and time") from None
            out.append(ms)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            out.append(_epoch_ms(int(v), i, name, fail))
        else:
            raise fail(i, name, "must be a date and time")
    return out


def _extras(columns: dict[str, Any], n: int, fail: Callable[..., InvalidInput]) -> list[dict[str, Any] | None]:
    """Unknown columns, kept per row (nulls left out); an ``extra`` column of objects (or their JSON text) is merged.

    A value JSON cannot hold as it is (NaN or infinity, an integer beyond 64 bits, a
    repeated key in an object's text) is refused naming its column, never changed.
    """
    values: dict[str, list[Any]] = {}
    for k, v in columns.items():
        if isinstance(v, (pa.ChunkedArray, pa.Array)):
            values[k] = _python_values(v, k, fail)
            _check_numbers(v, values[k], k, fail)
        else:
            values[k] = list(v)
    if "extra" in values:
        values["extra"] = [_extra_cell(v, i, fail) for i, v in enumerate(values["extra"])]
    out: list[dict[str, Any] | None] = []
    for i in range(n):
        row = _extra_row(values, i, fail=fail)
        if row:
            try:
                orjson.dumps(row)
            except TypeError:  # orjson.JSONEncodeError is one
                raise _unstorable(values, i, fail) from None
        out.append(row or None)
    return out


def _extra_row(values: dict[str, list[Any]], i: int, where: dict[str, str] | None = None, *,
               fail: Callable[..., InvalidInput] | None = None) -> dict[str, Any]:
    """Row ``i``'s extra fields; ``where``, if given, gets the field each key came from (``extra.KEY`` if merged).

    With ``fail``, a key given both as a field (a column or line key with a value) and
    inside the row's ``extra`` object is refused, as the legacy importer refuses it,
    rather than one of the two values silently winning.
    """
    row: dict[str, Any] = {}
    nested: dict[str, Any] | None = None
    fields = 0  # keys given as fields: unique among themselves
    for k, vs in values.items():
        v = vs[i]
        if v is None:
            continue
        if k == "extra" and isinstance(v, dict):
            nested = v
            row.update(v)
            if where is not None:
                where.update((key, field_path(("extra", key))) for key in v)
        else:
            fields += 1
            row[k] = v
            if where is not None:
                where[k] = k
    if fail is not None and nested is not None and len(row) != fields + len(nested):
        for key in nested:
            if key != "extra" and key in values and values[key][i] is not None:
                raise fail(i, field_path(("extra", key)),
                           f"{key!r} is given both as a field and inside \"extra\"; keep one")
    return row


def _unstorable(values: dict[str, list[Any]], i: int, fail: Callable[..., InvalidInput]) -> InvalidInput:
    """The error naming the column (or the key of an ``extra`` object) whose value in row ``i`` cannot be stored.

    An error path only: the row's values are tried one by one.
    """
    where: dict[str, str] = {}
    row = _extra_row(values, i, where)
    for key, value in row.items():
        try:
            orjson.dumps({key: value})
        except TypeError as exc:
            return fail(i, where[key], f"cannot be stored ({exc})")
    return fail(i, next(iter(where.values()), "extra"), "cannot be stored")


def _extra_cell(value: Any, row: int, fail: Callable[..., InvalidInput]) -> Any:
    """An ``extra`` cell written as the text of a JSON object (a flat export's) as that object, read
    exactly; other text, and values that are not text, as they are."""
    if not (isinstance(value, str) and value.startswith("{")):
        return value
    reread = False
    try:
        parsed = _read_json_cell(value, row, "extra", fail)
    except orjson.JSONDecodeError:  # maybe numbers orjson cannot hold (1e400, NaN, 5,000 digits): read it again
        try:
            parsed = read_exactly(value.encode(), what="the cell")
        except RepeatedKey as exc:
            raise _repeated_key(exc, row, "extra", fail) from None
        except LongInteger as exc:  # more digits than int() reads: beyond 64 bits all the same
            raise fail(row, field_path(("extra", *exc.location)), _BEYOND_INT64_IN_TEXT) from None
        except InvalidInput:
            return value  # not JSON: plain text
        reread = True
    if not isinstance(parsed, dict):
        return value
    if not reread and _LONG_NUMBER.search(value) is None:
        return parsed  # nearly always: no number here can be out of range (the walk below costs µs a row)
    found = first_value(parsed, lambda v: _beyond_int64(v) or _not_finite(v))
    if found is not None:
        message = _NOT_FINITE if _not_finite(found[0]) else _BEYOND_INT64_IN_TEXT
        raise fail(row, field_path(("extra", *found[1])), message)
    return parsed


def _python_values(column: pa.ChunkedArray | pa.Array, name: str, fail: Callable[..., InvalidInput]) -> list[Any]:
    """A column's values as Python objects; a date or time Python cannot hold (beyond the
    year 9999) is an error naming its row."""
    try:
        return column.to_pylist()
    except (OverflowError, ValueError):
        values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column

        def readable(k: int) -> bool:
            try:
                values.slice(0, k).to_pylist()
            except (OverflowError, ValueError):
                return False
            return True

        raise fail(_first_failing(len(values), readable), name,
                   "cannot be stored (a date or time outside the years 1 to 9999)") from None


def _beyond_int64(value: Any) -> bool:
    """An integer ``extra`` cannot store: the store keeps signed 64-bit integers."""
    return type(value) is int and not INT64_MIN <= value <= INT64_MAX


#: The fewest digits an integer beyond the signed 64 bits ``extra`` stores can have (19).
_INT64_DIGITS = len(str(INT64_MAX))
#: That many digits in a row: in text, and in a :func:`~haven.exactjson.sketch` of JSON bytes.
_LONG_NUMBER = re.compile(f"[0-9]{{{_INT64_DIGITS}}}")
_LONG_RUN = b"0" * _INT64_DIGITS
_INT64_MAX_TEXT = str(INT64_MAX).encode()

#: Why an integer in ``extra`` is refused; each format adds how to give it instead.
_BEYOND_INT64 = "is an integer beyond 64 bits, which Haven cannot store exactly"
_BEYOND_INT64_IN_TEXT = f"{_BEYOND_INT64}; write it as text (in quotes)"  # JSON text in a CSV or Parquet cell
_BEYOND_INT64_IN_LINE = f"{_BEYOND_INT64}; send it as text (in quotes)"  # a JSONL line
_BEYOND_INT64_IN_COLUMN = (f"{_BEYOND_INT64} (a signed 64-bit integer holds at most {INT64_MAX}); "
                           "write it as text (a string column)")  # a Parquet unsigned integer

_NOT_FINITE = "must be a finite number (NaN and infinity cannot be stored)"


def _holds(t: pa.DataType, kind: Callable[[pa.DataType], bool]) -> bool:
    """Whether values of type ``t`` can be of a type ``kind`` accepts (lists, structs and maps looked into)."""
    return kind(t) or any(_holds(t.field(i).type, kind) for i in range(t.num_fields))


def _not_finite(value: Any) -> bool:
    return type(value) is float and not math.isfinite(value)


def _above_int64(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return pc.greater(array, pa.scalar(INT64_MAX, pa.uint64()))


#: Numbers a column kept in ``extra`` must not hold, as (the Arrow types that can hold
#: them, their mask over such an array, the test of one Python value, the message):
#: NaN and infinity (JSON has no such numbers: they would be stored as null), and an
#: unsigned integer above 2**63 - 1 (``extra`` keeps signed 64-bit integers).
_UNSTORABLE_NUMBERS = (
    (pa.types.is_floating, lambda a: pc.invert(pc.is_finite(a)), _not_finite, _NOT_FINITE),
    (pa.types.is_uint64, _above_int64, _beyond_int64, _BEYOND_INT64_IN_COLUMN),
)


def _check_numbers(column: pa.ChunkedArray | pa.Array, values: list[Any], name: str,
                   fail: Callable[..., InvalidInput]) -> None:
    """Refuse the numbers of :data:`_UNSTORABLE_NUMBERS` in a column kept in ``extra``, naming
    the row and the column or the place inside it (``readings[1]``, ``extra.m``; a map cell
    is a list of ``(key, value)`` tuples, so ``scores[1][1]`` is its second entry's value).

    Only a column whose type can hold such a number is looked at: a flat one by Arrow; a
    list, struct or map one by Arrow over its child arrays, and its rows (``values``) are
    walked only when that finds one, to name where it is.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for kind, mask, bad, message in _UNSTORABLE_NUMBERS:
        if kind(column.type):
            _refuse_first(mask(column), name, message, fail)
        elif _holds(column.type, kind) and any(_may_hold(c, kind, mask) for c in chunks):
            for i, v in enumerate(values):
                found = first_value(v, bad)
                if found is not None:
                    raise fail(i, field_path((name, *found[1])), message)


def _may_hold(array: pa.Array, kind: Callable[[pa.DataType], bool], mask: Callable[[Any], Any]) -> bool:
    """Whether ``array`` may hold, at any depth, a value of a type ``kind`` accepts that ``mask``
    marks; False is a proof it holds none. Child arrays are looked at whole (values under a
    null or sliced off too), so True only means the rows must be walked to be sure."""
    t = array.type
    if kind(t):
        return bool(pc.any(pc.fill_null(mask(array), False)).as_py())
    if pa.types.is_struct(t):
        children = [array.field(i) for i in range(t.num_fields)]
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_map(t):
        children = [array.values]  # a map's values: its (key, value) entries, a struct
    else:
        return _holds(t, kind)  # another nested type (a union, say): the walk decides
    return any(_may_hold(c, kind, mask) for c in children)


def _refuse_first(bad: pa.ChunkedArray | pa.Array, name: str, message: str,
                  fail: Callable[..., InvalidInput]) -> None:
    """The error for the first row ``bad`` marks (null is not bad), if any."""
    bad = pc.fill_null(bad, False)
    if pc.any(bad).as_py():
        raise fail(pc.index(bad, True).as_py(), name, message)


def _above_int64_digits(raw: bytes, sketched: bytes) -> bool:
    """Whether JSON text ``raw`` (:func:`sketch` gave ``sketched``) holds a run of digits above
    2**63 - 1: only such text can hold an integer ``extra`` cannot store. A 19-digit seed (at
    most 2**63 - 1, and common) is not one, so its line is not walked."""
    start = sketched.find(_LONG_RUN)
    while start != -1:
        end = start + _INT64_DIGITS
        if sketched[end:end + 1] == b"0" or raw[start:end] > _INT64_MAX_TEXT:  # as numbers: both of 19 digits
            return True  # 20 digits or more, or 19 above the limit
        start = sketched.find(_LONG_RUN, end)
    return False


def _check_line_extras(extra: dict[str, list[Any]], long_lines: list[int],
                       fail: Callable[..., InvalidInput]) -> None:
    """Refuse an integer of a JSONL line's extra fields that ``extra`` cannot store: orjson reads
    integers up to 2**64 - 1 exactly, the store keeps signed 64 bits. Names the line and the
    key (``extra.KEY`` inside an ``extra`` object). Only the systems in ``long_lines``, whose
    line holds digits above 2**63 - 1 (:func:`_above_int64_digits`), can hold one: only their
    values are walked."""
    for i in long_lines:
        for key, values in extra.items():
            found = first_value(values[i], _beyond_int64)
            if found is not None:
                raise fail(i, field_path((key, *found[1])), _BEYOND_INT64_IN_LINE)


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
    so the legacy reader's surrogate scan is not repeated here. The model's limits
    hold as they do for the API: at most :data:`~haven.model.MAX_PLANETS` planets
    (counted before any is mapped), each with at most ``MAX_MOONS_PER_PLANET`` moons.
    """
    if isinstance(planets, list) and len(planets) > MAX_PLANETS:
        raise fail("planets", f"a system has at most {MAX_PLANETS} planets, not {len(planets)}")
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


#: What Notepad and Excel put before UTF-8 text; CSV and legacy JSON skip it too (``utf-8-sig``).
UTF8_BOM = b"\xef\xbb\xbf"


def _jsonl(path: Path, batch_rows: int, skip: set[int]) -> Iterator[FileBatch]:
    index = 0
    lines: list[tuple[int, bytes]] = []
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if line_no == 1:  # a UTF-8 byte order mark, as some Windows tools write, is not data
                raw = raw.removeprefix(UTF8_BOM)
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
    long_lines: list[int] = []  # systems whose line holds digits above 2**63 - 1
    attach_raw: list[tuple[int, dict[str, Any]]] = []
    for line_no, raw in lines:
        where = f"{path.name} line {line_no}"
        try:
            d = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            too_deep = depth_error(exc, "the line")
            if too_deep is not None:
                raise _line_error(b, where, None, too_deep.message) from None
            found = refused_number(raw)  # 1e400, NaN, 5,000 digits: name where it is
            if found is not None and found[1]:
                fld = field_path(found[1])
                problem = _NOT_FINITE if type(found[0]) is float else _BEYOND_INT64_IN_LINE
                raise _line_error(b, where, fld, f"{fld}: {problem}") from None
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise _line_error(b, where, None, _NOT_UTF8.format(byte=raw[bad.start], at=bad.start + 1)) from None
            raise _line_error(b, where, None, f"not valid JSON ({exc})") from None
        try:
            keys = count_keys(d, max_depth=MAX_JSON_DEPTH, what="the line")
        except InvalidInput as exc:
            raise _line_error(b, where, None, exc.message) from None
        sketched = sketch(raw)  # one look at the bytes for both questions below
        if needs_exact_reading(raw, keys, sketched=sketched):  # rare: read again, integers exact, keys seen
            try:
                d = read_exactly(raw, what="the line")
            except RepeatedKey as exc:
                raise _line_error(b, where, exc.field, exc.message) from None
            if isinstance(d, dict):
                _check_line_integers(b, where, d)
        if not isinstance(d, dict):
            raise _line_error(b, where, None, "a line must be a JSON object")
        if "name" not in d and any(k in d for k in NESTED):
            attach_raw.append((line_no, d))
        else:
            if _above_int64_digits(raw, sketched):
                long_lines.append(len(systems))
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
    spellings: dict[str, list[str]] = {}  # loader column -> the keys that give it (``x`` and ``x_ly``…)
    for key in keys:
        spellings.setdefault(ALIASES.get(key, key), []).append(key)
    for target, spelled in spellings.items():
        key = spelled[0]
        if target == "legacy_id" and len(spelled) > 1:  # decided line by line: see _line_legacy_ids
            cols[target], ids = _line_legacy_ids(systems)
            if any(v is not None for v in ids):
                extra["id"] = ids
            continue
        if len(spelled) == 1:
            values = [d.get(key) for d in systems]
        else:  # lines may spell it either way, but one line must not give it twice
            values = []
            for i, d in enumerate(systems):
                present = [k for k in spelled if d.get(k) is not None]
                if len(present) > 1:
                    raise fail(i, present[1], f"the keys {present[0]!r} and {present[1]!r} both give "
                                              f"{target.removesuffix('_ly')}; keep one")
                values.append(d[present[0]] if present else None)
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
        _drop_seeds_of_given_children(cols, b.details, fail)
        if extra:
            _check_line_extras(extra, long_lines, fail)
            cols["extra"] = _extras(extra, n, fail)
        b.columns = cols
    else:
        b.columns = {"name": [], "x_ly": [], "y_ly": [], "z_ly": []}

    # details-only lines: {"id": …, "planets": […], "space_station": {…}}
    for j, (line_no, d) in enumerate(attach_raw):
        row = n + j
        own = d.get("legacy_id")  # as on a system line: legacy_id, when it has a value, is the id
        legacy_id = d.get("id") if own is None else own
        if legacy_id is None or isinstance(legacy_id, (dict, list, bool)):
            raise fail(row, "id", "a details line needs the id of its system")
        if own is not None and d.get("id") is not None and d["id"] != own:
            raise fail(row, "id", "a details line gives id and legacy_id different values; give one of them")
        unknown = set(d) - {"id", "legacy_id", *NESTED}
        if unknown:
            raise fail(row, sorted(unknown)[0], "a details line (no name) holds only id, planets and "
                                                "space_station")
        details = parse_details(d.get("planets"), d.get("space_station"), lambda p, m, row=row: fail(row, p, m))
        b.attach.append((row, str(legacy_id), details))


def _line_legacy_ids(systems: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """Each line's legacy id and the ``id`` it keeps in ``extra``, when lines hold both keys.

    A line's ``id`` is its legacy id unless that line itself gives ``legacy_id`` a value
    (not null); then its ``id`` is an extra field. Other lines do not matter.
    """
    legacy: list[Any] = []
    ids: list[Any] = []
    for d in systems:
        own = d.get("legacy_id")
        legacy.append(d.get("id") if own is None else own)
        ids.append(None if own is None else d.get("id"))
    return legacy, ids


def _line_error(b: FileBatch, where: str, fld: str | None, message: str) -> BulkRowError:
    """A JSONL line that cannot be read as a record (the first check reports "nothing was written")."""
    return BulkRowError(f"{where}: {message}; nothing of this batch was written", row=where, field=fld,
                        batch_index=b.index)


#: Line keys whose values the loader reads as numbers (an integer of any size is a float there).
_NUMBER_TARGETS = frozenset({"x_ly", "y_ly", "z_ly", "confidence"})
#: Line keys whose whole numbers the loader checks against its own range (exactly).
_RANGED_TARGETS = frozenset({"seed", *STAMPS})


def _beyond_64_bits(value: Any) -> bool:
    return type(value) is int and not ORJSON_INT_MIN <= value <= ORJSON_INT_MAX


def _check_line_integers(b: FileBatch, where: str, d: dict[str, Any]) -> None:
    """Integers the exact reading kept beyond 64 bits: read as numbers where a number is
    wanted, left to the range checks of ``seed`` and the dates, refused everywhere else.

    An id or a text field cannot hold such an integer exactly (orjson, the store's
    JSON, keeps at most 64 bits), so it must come as text, as the legacy importer and
    the API say. ``planets`` and ``space_station`` are checked by their models.
    """
    for key, value in d.items():
        target = ALIASES.get(key, key)
        if target in NESTED:
            continue
        if target in _NUMBER_TARGETS and _beyond_64_bits(value):
            try:
                d[key] = float(value)
            except OverflowError:
                raise _line_error(b, where, key, f"{key}: is a number too large to hold (beyond ±1.8e308)") from None
            continue
        if target in _RANGED_TARGETS:
            continue
        found = first_value(value, _beyond_64_bits)
        if found is not None:
            field = field_path((key, *found[1]))
            raise _line_error(b, where, field, f"{field}: {_BEYOND_INT64_IN_LINE}")


def _first_failing(n: int, prefix_ok: Callable[[int], bool]) -> int:
    """The index of the first bad value, by bisection: ``prefix_ok(k)`` says whether the first ``k`` values are fine.

    An error path only (a file already refused as a whole); ``prefix_ok(n)`` is assumed False.
    """
    good, bad = 0, n
    while bad - good > 1:
        mid = (good + bad) // 2
        if prefix_ok(mid):
            good = mid
        else:
            bad = mid
    return max(bad - 1, 0)
