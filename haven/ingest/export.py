"""Exporting a galaxy, streamed: legacy-compatible JSON, or flat files for bulk tools.

JSON formats (see ``docs/formats/haven-json.md``), every system with its planets
(derived ones written out):

``haven-json``
    ``{"_meta": {...}, "data": [ {system}, ... ]}`` — one system per line, in name order.
``legacy-json``
    the legacy tool's name-keyed ``data.json``: ``{"_meta": {...}, "NAME": {system}, ...}``.

Flat formats (see ``docs/formats/bulk.md``), one record per system in id order,
with the columns ``haven import`` reads back at bulk speed; a generated system's
``seed`` stands for its planets, which are not written out:

``parquet``, ``csv``, ``jsonl``

Systems are read in keyset batches and written as they come, so memory does not
grow with the galaxy; all the batches of one export are read in one snapshot
(the store's ``iter_systems`` and ``stored_batches``), so an export is the
galaxy as it was at one moment, whatever is written meanwhile. Writing to a path goes through a temporary file that
replaces the target only when complete (a symlink's target is the file
replaced; a FIFO or a device is written directly: see :mod:`haven.outfile`).
"""

from __future__ import annotations

import functools
import io
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TextIO

import orjson

from haven import __version__
from haven.errors import InvalidInput, NotFound
from haven.ingest.formats import FLAT_FORMATS as FLAT_FORMATS
from haven.ingest.formats import FLAT_SUFFIXES
from haven.ingest.mapping import planets_to_legacy, station_to_legacy, system_to_legacy
from haven.outfile import write_output
from haven.timeutil import MAX_MS, iso_text, now_ms

if TYPE_CHECKING:  # pyarrow is imported by the flat writers only: a server that never writes one does not load it
    import pyarrow as pa

JSON_FORMATS = ("haven-json", "legacy-json")
FORMATS = JSON_FORMATS + FLAT_FORMATS
FORMAT_VERSION = "1.0.0"
#: Each format's media type and file suffix, for a download.
DOWNLOADS: dict[str, tuple[str, str]] = {
    "haven-json": ("application/json", "json"),
    "legacy-json": ("application/json", "json"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson", "jsonl"),
}
_SUFFIXES = {".json": "haven-json", **FLAT_SUFFIXES}

#: A flat record's columns in file order, each with its type in a Parquet file
#: (``time``: milliseconds since 1970 in UTC). ``planets``, ``space_station`` and
#: ``extra`` are JSON text in Parquet and CSV.
FLAT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "text"), ("name", "text"),
    ("x", "float64"), ("y", "float64"), ("z", "float64"),
    *((name, "text") for name in ("region", "fauna", "flora", "sentinel", "materials", "base_location",
                                   "photo", "attributes", "glyph", "provenance")),
    ("confidence", "float64"), ("seed", "int64"),
    ("created_at", "time"), ("modified_at", "time"),
    ("planets", "text"), ("space_station", "text"), ("extra", "text"),
)


@functools.cache
def _arrow_types() -> tuple[pa.DataType, ...]:
    """The Arrow type of each of ``FLAT_COLUMNS``, in order (built once, when a flat file is first written)."""
    import pyarrow as pa

    by_kind = {"text": pa.string(), "float64": pa.float64(), "int64": pa.int64(),
               "time": pa.timestamp("ms", tz="UTC")}
    return tuple(by_kind[kind] for _, kind in FLAT_COLUMNS)


_JSON_COLUMNS = frozenset({"planets", "space_station", "extra"})
_TIME_COLUMNS = frozenset({"created_at", "modified_at"})
ROW_GROUP_ROWS = 131_072  # Parquet row groups: big enough to compress well, small enough to stream
PROGRESS_EVERY = 1000  # JSON formats: systems per chunk written (and per progress report)

Progress = Callable[[int], Any]


def format_for_path(path: Path | str) -> str | None:
    """The export format a file name asks for by its extension (None: not one Haven writes)."""
    return _SUFFIXES.get(Path(path).suffix.lower())


def export_stream(store: Any, galaxy: str, fmt: str = "haven-json", *,
                  progress: Progress | None = None) -> Iterator[bytes]:
    """The export of ``galaxy`` as byte chunks, for a file or an HTTP answer.

    The format and the galaxy are checked before this returns, so a bad request
    fails before the first byte. ``progress(systems_so_far)`` is called as the
    chunks are consumed, last with the total.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    g = store.galaxy(galaxy)
    if fmt == "legacy-json":
        try:
            store.system_by_name(galaxy, "_meta")
        except NotFound:
            pass
        else:
            raise InvalidInput(
                'a system is named "_meta", which the name-keyed legacy format cannot hold; '
                "export as haven-json",
                field="format",
            )
    report = progress or (lambda done: None)
    if fmt == "parquet":
        return _parquet_chunks(store, g, report)
    if fmt in FLAT_FORMATS:
        return _text_flat_chunks(store, g, fmt, report)
    return _json_chunks(store, g, fmt, report)


def export_galaxy(store: Any, galaxy: str, out: TextIO | Path | str, fmt: str = "haven-json", *,
                  progress: Progress | None = None) -> int:
    """Write every system of ``galaxy`` to ``out`` (an open text stream or a path).

    Returns the number of systems written; ``progress(systems_so_far)`` is called
    as the export goes. Field names are the legacy ones (``id`` is the legacy id)
    and Haven-only fields (``glyph``, ``provenance``, ``confidence``, ``seed``)
    keep their names, so importing the result gives the same systems back. In
    the JSON formats ``extra`` is merged back into each object; in the flat ones
    it is a column of its own.
    """
    if fmt == "parquet" and not isinstance(out, (str, Path)):
        raise InvalidInput("parquet is a binary format: write it to a file, not a text stream", field="output")
    written = [0]

    def count(done: int) -> None:
        written[0] = done
        if progress is not None:
            progress(done)

    chunks = export_stream(store, galaxy, fmt, progress=count)
    if isinstance(out, (str, Path)):
        _write_file(chunks, Path(out))
    else:
        # Exports are UTF-8 whatever the terminal's encoding: bytes go to a text stream's
        # buffer (sys.stdout under PYTHONIOENCODING=ascii would refuse a name like "Ærø").
        binary = getattr(out, "buffer", None)
        if binary is not None:
            out.flush()
            for chunk in chunks:
                binary.write(chunk)
            binary.flush()
        else:
            for chunk in chunks:
                out.write(chunk.decode("utf-8"))
    return written[0]


def _write_file(chunks: Iterable[bytes], path: Path) -> int:
    """Write the export to ``path``; returns its size in bytes.

    A regular file (or a new one) is replaced only when complete, through a temporary
    file; a symlink is followed and its target replaced; a FIFO or a device
    (``/dev/stdout``) is written directly (:func:`haven.outfile.write_output`).
    """
    return write_output(path, chunks)


def exported_at_ms() -> int:
    """The export's time stamp: now, or ``SOURCE_DATE_EPOCH`` (seconds) when set.

    ``SOURCE_DATE_EPOCH`` is the reproducible-builds convention: with it, two
    exports of the same galaxy (e.g. two ``haven generate`` runs with one seed)
    are byte-identical files.
    """
    fixed = os.environ.get("SOURCE_DATE_EPOCH")
    if fixed is None:
        return now_ms()
    try:
        seconds = int(fixed)
    except ValueError:
        raise InvalidInput(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {fixed!r}",
                           field="SOURCE_DATE_EPOCH") from None
    if not 0 <= seconds * 1000 <= MAX_MS:
        raise InvalidInput(f"SOURCE_DATE_EPOCH must be seconds from 0 (1970) to {MAX_MS // 1000} (year 9999), "
                           f"not {fixed}", field="SOURCE_DATE_EPOCH")
    return seconds * 1000


def _meta(g: dict[str, Any], fmt: str) -> dict[str, Any]:
    return {
        "format": fmt,
        "version": FORMAT_VERSION,
        "generator": f"haven {__version__}",
        "exported_at": iso_text(exported_at_ms()),  # SOURCE_DATE_EPOCH=0 is 1970, not "unknown"
        "galaxy": g["name"],
        # The galaxy's total when the export began (an O(1) counter), read just
        # before the records' snapshot starts (at their first page): writes in
        # between can make the two differ.
        "count": g.get("system_count"),
    }


@contextmanager
def _ended(iterator: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """``with``: the store's iteration, closed on leaving (its read snapshot ends at once).

    A chunk stream stopped early (a download cut off, a failed write) is closed or
    dropped with the store's generator still paused inside its snapshot; closing it
    here ends that snapshot now instead of whenever the generator is collected.
    """
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _json_chunks(store: Any, g: dict[str, Any], fmt: str, progress: Progress) -> Iterator[bytes]:
    """haven-json or legacy-json, a chunk per ``PROGRESS_EVERY`` systems."""
    dumps = orjson.dumps
    yield b'{"_meta": ' + dumps(_meta(g, fmt)) + (b',\n"data": [' if fmt == "haven-json" else b"")
    count = 0
    part: list[bytes] = []
    with _ended(store.iter_systems(g["name"])) as systems:  # one snapshot for the whole export
        for s in systems:
            if fmt == "haven-json":
                part.append((b"\n" if count == 0 else b",\n") + dumps(system_to_legacy(s)))
            else:
                part.append(b",\n" + dumps(s["name"]) + b": " + dumps(whole_percents(system_to_legacy(s))))
            count += 1
            if count % PROGRESS_EVERY == 0:
                yield b"".join(part)
                part.clear()
                progress(count)
    part.append(b"\n]}\n" if fmt == "haven-json" else b"\n}\n")
    yield b"".join(part)
    progress(count)


#: Station fields the legacy tool stored as integers (``sell_percent INTEGER``) and Haven as doubles.
_PERCENTS = ("sell_percent", "buy_percent")
_EXACT_INTEGERS = 2**53  # every whole double below this in size is an exact integer


def whole_percents(record: dict[str, Any]) -> dict[str, Any]:
    """legacy-json: a station's whole percents as JSON integers (``80``, not ``80.0``), as the legacy tool wrote them.

    Only values that are whole numbers change (``82.5`` stays); ``-0.0`` keeps its
    sign by staying a double. Returns ``record``, changed in place.
    """
    station = record.get("space_station")
    if isinstance(station, dict):
        for key in _PERCENTS:
            value = station.get(key)
            if type(value) is not float or not value.is_integer() or abs(value) >= _EXACT_INTEGERS:
                continue
            if value == 0 and math.copysign(1.0, value) < 0:
                continue  # -0.0: an integer has no sign of zero
            station[key] = int(value)
    return record


# -- flat formats -------------------------------------------------------------------------


#: Flat columns whose value is not the stored field of the same name.
_FLAT_VALUES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda s: s.get("legacy_id"),
    "planets": lambda s: planets_to_legacy(s) or None,
    "space_station": station_to_legacy,
    "extra": lambda s: s.get("extra") or None,
}


def flat_record(s: dict[str, Any]) -> dict[str, Any]:
    """A system from ``store.stored_batches`` as one flat record (keys: ``FLAT_COLUMNS``).

    ``planets`` and ``space_station`` are the stored ones in legacy field names
    (None when there are none, as for a generated system, whose ``seed`` stands for
    them); ``extra`` is the system's own extra fields (None when empty).
    """
    return {name: (value(s) if (value := _FLAT_VALUES.get(name)) else s.get(name)) for name, _ in FLAT_COLUMNS}


def _flat_batches(store: Any, g: dict[str, Any], progress: Progress) -> Iterator[list[dict[str, Any]]]:
    """The galaxy's systems in stored batches (one snapshot), reporting progress as each one is done with."""
    count = 0
    with _ended(store.stored_batches(g["name"])) as batches:
        for batch in batches:
            yield batch
            count += len(batch)
            progress(count)


def _arrow_batch(systems: list[dict[str, Any]], *, text_times: bool) -> pa.RecordBatch:
    """Systems as flat columns: JSON text for the nested ones, times typed or as ISO text."""
    import pyarrow as pa

    arrays = []
    for (name, _), typ in zip(FLAT_COLUMNS, _arrow_types()):
        value = _FLAT_VALUES.get(name)
        values = [value(s) for s in systems] if value else [s.get(name) for s in systems]
        if name in _JSON_COLUMNS:
            arrays.append(pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string()))
        elif name in _TIME_COLUMNS:
            text = pa.array(values, pa.string())
            arrays.append(text if text_times else text.cast(typ))
        else:
            arrays.append(pa.array(values, typ))
    return pa.RecordBatch.from_arrays(arrays, names=[name for name, _ in FLAT_COLUMNS])


def _text_flat_chunks(store: Any, g: dict[str, Any], fmt: str, progress: Progress) -> Iterator[bytes]:
    """CSV (header line first) or JSONL (one object per line, nulls left out), a chunk per batch."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if fmt == "csv":
        yield ",".join(f'"{name}"' for name, _ in FLAT_COLUMNS).encode() + b"\n"
    with _ended(_flat_batches(store, g, progress)) as batches:
        for systems in batches:
            if fmt == "csv":
                buf = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([_arrow_batch(systems, text_times=True)]), buf,
                                pacsv.WriteOptions(include_header=False))
                yield buf.getvalue()
            else:
                yield b"".join(orjson.dumps({k: v for k, v in flat_record(s).items() if v is not None}) + b"\n"
                               for s in systems)


class _Chunks:
    """A write-only file for ``pq.ParquetWriter`` whose bytes are taken out as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _parquet_chunks(store: Any, g: dict[str, Any], progress: Progress) -> Iterator[bytes]:
    """Parquet (zstd, page checksums), a chunk per row group of ``ROW_GROUP_ROWS``; the export's ``_meta`` in the
    schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, typ) for (name, _), typ in zip(FLAT_COLUMNS, _arrow_types())],
                       metadata={b"haven": orjson.dumps(_meta(g, "parquet"))})
    pending: list[pa.RecordBatch] = []
    sink = _Chunks()
    # Page checksums let a reader (Haven's import does) refuse a page damaged after it was written.
    with pq.ParquetWriter(sink, schema, compression="zstd", write_page_checksum=True) as writer, \
            _ended(_flat_batches(store, g, progress)) as batches:
        for systems in batches:
            pending.append(_arrow_batch(systems, text_times=False))
            if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(pending, schema)  # one full row group; the rest waits for more
                writer.write_table(table.slice(0, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS)
                pending = table.slice(ROW_GROUP_ROWS).to_batches()
                yield sink.take()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=ROW_GROUP_ROWS)
    yield sink.take()
