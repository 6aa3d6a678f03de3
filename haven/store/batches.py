"""A bulk batch, checked and arranged for writing.

:func:`prepare_batch` validates a batch's columns (vectorised: a bad value is
found without a Python loop over good rows), names the first bad row and
field, and turns the columns into lists ready to bind, in insert order. It
does not touch the database, so the next batch can be prepared in a thread
while one is written (see :mod:`haven.store.bulk`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import TypeAdapter, ValidationError

from haven.errors import InvalidInput
from haven.model import (NAME_MAX_CHARS, NUL_MESSAGE, TEXT_MAX_CHARS, Extra, PlanetIn, StationIn,
                          clean_region, first_bad_name, validation_message)
from haven.spatial.morton import Cube
from haven.store import search
from haven.timeutil import MAX_MS, MIN_MS

if TYPE_CHECKING:
    from haven.store.bulk import BulkLoader

#: Optional text columns of a system, as stored.
TEXT_COLUMNS = (
    "fauna", "flora", "sentinel", "materials", "base_location", "photo",
    "attributes", "glyph", "legacy_id", "provenance",
)
#: Columns :meth:`BulkLoader.write_batch` understands.
KNOWN_COLUMNS = frozenset(
    {"name", "x_ly", "y_ly", "z_ly", "region", "region_index", "confidence", "seed", "extra",
     "created_at", "modified_at", *TEXT_COLUMNS}
)
_EXTRA = TypeAdapter(Extra)


class BulkRowError(InvalidInput):
    """A row of a bulk batch is invalid; nothing of the batch was written."""

    def __init__(self, message: str, *, row: str, field: str | None, batch_index: int | None = None) -> None:
        super().__init__(message, field=field)
        self.row = row
        self.batch_index = batch_index


@dataclass
class Details:
    """Planets and station for one system of a batch (validated models)."""

    planets: list[PlanetIn] = field(default_factory=list)
    space_station: StationIn | None = None


@dataclass
class PreparedBatch:
    """A validated batch, converted to bindable columns in insert order."""

    batch_index: int
    n: int
    label: Callable[[int], str]
    names: list[str]  # in insert order
    order: np.ndarray | None  # insert position -> row of the batch (None: same order)
    rank: np.ndarray  # row of the batch -> insert position
    sql_columns: list[str]
    data: list[list[Any]]  # one list per sql column, in insert order
    region_list: list[str | None] = field(default_factory=list)
    region_idx: np.ndarray | None = None  # per insert position: index into region_list, -1 = none
    details: dict[int, Details] = field(default_factory=dict)
    attach: list[tuple[int, str, Details]] = field(default_factory=list)
    #: name index values in insert order; None when not computed (a side index's helper
    #: computes them, and a check that writes nothing needs none)
    name_keys: tuple[list[str], list[str]] | None = None
    first_id: int = 0
    prepare_s: float = 0.0


def prepare_batch(loader: BulkLoader, batch_index: int, columns: Mapping[str, Any],
             region_names: Sequence[str] | None, label: Callable[[int], str], *, name_keys: bool) -> PreparedBatch:
    """Check one batch's columns and arrange them for :meth:`BulkLoader.write_prepared`.

    Raises :class:`BulkRowError` naming the first bad row (``label`` turns a row of the
    batch into the words that name it: a file line, a generated index) and its field.
    """
    cols = dict(columns)
    for short in ("x", "y", "z"):
        if short in cols and f"{short}_ly" not in cols:
            cols[f"{short}_ly"] = cols.pop(short)
    unknown = set(cols) - KNOWN_COLUMNS
    if unknown:
        raise InvalidInput(f"unknown column(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    for required in ("name", "x_ly", "y_ly", "z_ly"):
        if required not in cols:
            raise InvalidInput(f"the column {required!r} is required", field=required)
    n = len(cols["name"])

    def fail(row: int, fld: str, message: str) -> BulkRowError:
        return loader._fail(label, row, fld, message, batch_index)

    # names: text, trimmed, 1..200 characters, no control characters, unique in the batch
    if isinstance(cols["name"], (list, tuple)):
        for i, v in enumerate(cols["name"]):
            if type(v) is not str:
                raise fail(i, "name", "is missing" if v is None else "must be text")
        raw_names = pa.array(cols["name"], type=pa.string())
    else:
        raw_names = _text_column(cols["name"], n, "name", fail, strict=True)
        if raw_names is None:
            raw_names = pa.nulls(n, pa.string())
    if raw_names.null_count:
        raise fail(_first_true(raw_names.is_null()), "name", "is missing")
    names_arr = pc.utf8_trim_whitespace(raw_names)
    lengths = pc.utf8_length(names_arr)
    if n and pc.min(lengths).as_py() == 0:
        raise fail(_first_true(pc.equal(lengths, 0)), "name", "must not be empty")
    if n and pc.max(lengths).as_py() > NAME_MAX_CHARS:
        raise fail(_first_true(pc.greater(lengths, NAME_MAX_CHARS)), "name",
                   f"must be at most {NAME_MAX_CHARS} characters")
    if n and pc.count_distinct(names_arr).as_py() != n:
        first: dict[str, int] = {}
        for i, v in enumerate(names_arr.to_pylist()):
            if v in first:
                raise fail(i, "name", f"{v!r} is also the name of {label(first[v])}; names must be unique")
            first[v] = i

    bad_name = first_bad_name(names_arr.to_pylist())
    if bad_name is not None:
        raise fail(bad_name[0], "name", bad_name[1])

    # coordinates: finite numbers inside the galaxy cube
    cube: Cube = loader.cube
    coords = []
    for axis in ("x", "y", "z"):
        v, missing = _numbers(cols[f"{axis}_ly"], n, axis, fail)
        finite = np.isfinite(v)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise fail(bad, axis, "is missing" if missing[bad] else f"must be a finite number (got {v[bad]})")
        outside = np.abs(v - cube.centre_on(axis)) > cube.half_size_ly
        if outside.any():
            bad = int(np.flatnonzero(outside)[0])
            raise fail(bad, axis, cube.outside_message(axis, v[bad]))
        coords.append(v)
    codes = cube.codes(*coords)

    # insert order: by Morton code, so systems near each other in space share table
    # pages (a sphere or an octree node reads a few pages, not one page per system)
    if loader.sort_by_code and n > 1:
        order = np.argsort(codes, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        names_arr = names_arr.take(order)
    else:
        order = None
        rank = np.arange(n)
    names = names_arr.to_pylist()

    def arranged(values: Any) -> list[Any]:
        """A column in insert order, as a list for binding."""
        if isinstance(values, np.ndarray):
            return (values if order is None else values[order]).tolist()
        if isinstance(values, pa.Array):
            return (values if order is None else values.take(order)).to_pylist()
        return list(values) if order is None else [values[i] for i in order.tolist()]

    sql_columns = ["name", "x", "y", "z", "code"]
    data: list[list[Any]] = [names, *(arranged(v) for v in coords), arranged(codes)]

    # regions: names (or indices into region_names), trimmed, at most 200 characters
    region_idx: np.ndarray | None = None
    region_list: list[str | None] = []
    if "region_index" in cols:
        if region_names is None:
            raise InvalidInput("region_index needs region_names", field="region_index")
        ri = np.asarray(cols["region_index"], dtype=np.int64)
        if len(ri) != n:
            raise InvalidInput(f"column 'region_index' has {len(ri)} values, expected {n}", field="region_index")
        if n and (ri.min() < -1 or ri.max() >= len(region_names)):
            bad = int(np.flatnonzero((ri < -1) | (ri >= len(region_names)))[0])
            raise fail(bad, "region_index", "is not an index into the region names")
        region_list = [_region_name(r) for r in region_names]
        region_idx = ri
    elif "region" in cols:
        reg = _text_column(cols["region"], n, "region", fail, nested=False)
        if reg is None:
            reg = pa.nulls(n, pa.string())
        enc = reg.dictionary_encode()
        region_idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        for j, r in enumerate(enc.dictionary.to_pylist()):
            try:
                region_list.append(_region_name(r))
            except ValueError as exc:
                raise fail(int(np.flatnonzero(region_idx == j)[0]), "region", str(exc)) from None
    if region_idx is not None:
        region_idx = region_idx if order is None else region_idx[order]

    # optional text columns
    for name in TEXT_COLUMNS:
        if name not in cols:
            continue
        arr = _text_column(cols[name], n, name, fail)
        if arr is None or arr.null_count == n:
            continue
        lengths = pc.utf8_length(arr)
        if n and pc.max(lengths).as_py() > TEXT_MAX_CHARS:
            raise fail(_first_true(pc.greater(lengths, TEXT_MAX_CHARS)), name,
                       f"must be at most {TEXT_MAX_CHARS} characters")
        nul = pc.match_substring(arr, "\x00")
        if pc.any(nul).as_py():
            raise fail(_first_true(pc.fill_null(nul, False)), name, NUL_MESSAGE)
        sql_columns.append(name)
        data.append(arranged(arr))

    if "confidence" in cols:
        c, missing = _numbers(cols["confidence"], n, "confidence", fail)
        bad_mask = ~missing & ~((c >= 0.0) & (c <= 1.0))
        if bad_mask.any():
            raise fail(int(np.flatnonzero(bad_mask)[0]), "confidence", "must be between 0 and 1")
        sql_columns.append("confidence")
        data.append([None if m else v for v, m in zip(arranged(c), arranged(missing))])
    if "seed" in cols:
        sql_columns.append("seed")
        data.append(arranged(_integers(cols["seed"], n, "seed", fail, lo=0, hi=2**63 - 1)))
    created = _integers(cols["created_at"], n, "created_at", fail, lo=MIN_MS, hi=MAX_MS) \
        if "created_at" in cols else None
    modified = _integers(cols["modified_at"], n, "modified_at", fail, lo=MIN_MS, hi=MAX_MS) \
        if "modified_at" in cols else None
    if created is not None or modified is not None:
        stamp = loader.stamp_ms
        created = [stamp if v is None else v for v in (created or [None] * n)]
        modified = [c if v is None else v for v, c in zip(modified or [None] * n, created)]
        sql_columns += ["created_at", "modified_at"]
        data += [arranged(np.array(created, dtype=np.int64)), arranged(np.array(modified, dtype=np.int64))]
    if "extra" in cols:
        extra = []
        for i, e in enumerate(cols["extra"]):
            if not e:
                extra.append(None)
                continue
            try:
                extra.append(orjson.dumps(_EXTRA.validate_python(e)))
            except ValidationError as exc:
                raise fail(i, "extra", validation_message(exc)) from None
        sql_columns.append("extra")
        data.append(arranged(extra))

    return PreparedBatch(
        batch_index=batch_index, n=n, label=label, names=names, order=order, rank=rank,
        sql_columns=sql_columns, data=data, region_list=region_list, region_idx=region_idx,
        # a load whose name index is built beside the database has its helper compute the keys
        name_keys=search.name_index_values(names) if name_keys and not loader.names_beside else None,
    )


# -- helpers ---------------------------------------------------------------------------


def _text_value(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and not np.isfinite(v):
        raise ValueError("must be a finite number or text")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return str(v)
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    raise ValueError(f"must be text, not {type(v).__name__}")


def _region_name(value: Any) -> str | None:
    if value is None:
        return None
    return clean_region(value if isinstance(value, str) else _text_value(value))


def _first_true(mask: Any) -> int:
    arr = mask.to_numpy(zero_copy_only=False) if hasattr(mask, "to_numpy") else np.asarray(mask)
    return int(np.flatnonzero(arr)[0])


def _numbers(values: Any, n: int, fld: str, fail: Callable[[int, str, str], Exception]) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as float64 plus its null mask; text or true/false is an error naming the row."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        v = values.astype(np.float64, copy=False)
        if len(v) != n:
            raise InvalidInput(f"column {fld!r} has {len(v)} values, expected {n}", field=fld)
        return v, np.zeros(n, dtype=bool)
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if len(arr) != n:
            raise InvalidInput(f"column {fld!r} has {len(arr)} values, expected {n}", field=fld)
        if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_null(arr.type):
            missing = arr.is_null().to_numpy(zero_copy_only=False)
            # unsafe: a whole number beyond 2**53 becomes its nearest double, as in JSON (no error, no row)
            doubles = pc.cast(arr, pa.float64(), safe=False)
            return doubles.to_numpy(zero_copy_only=False).astype(np.float64), missing
        values = arr.to_pylist()
    seq = list(values)
    if len(seq) != n:
        raise InvalidInput(f"column {fld!r} has {len(seq)} values, expected {n}", field=fld)
    out = np.empty(n, dtype=np.float64)
    missing = np.zeros(n, dtype=bool)
    for i, v in enumerate(seq):
        if v is None:
            out[i] = np.nan
            missing[i] = True
        elif isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise fail(i, fld, "must be a number, not " + ("true/false" if isinstance(v, bool) else "text"
                                                           if isinstance(v, str) else type(v).__name__))
        else:
            out[i] = v
    return out, missing


def _integers(values: Any, n: int, fld: str, fail: Callable[[int, str, str], Exception], *, lo: int,
              hi: int) -> list[int | None]:
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        seq = values.tolist()
    elif isinstance(values, (pa.Array, pa.ChunkedArray)):
        seq = values.to_pylist()
    else:
        seq = list(values)
    if len(seq) != n:
        raise InvalidInput(f"column {fld!r} has {len(seq)} values, expected {n}", field=fld)
    for i, v in enumerate(seq):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise fail(i, fld, "must be a whole number")
        if not lo <= v <= hi:
            raise fail(i, fld, f"must be between {lo} and {hi}")
    return seq


def _text_column(values: Any, n: int, fld: str, fail: Callable[[int, str, str], Exception], *,
                 strict: bool = False, nested: bool = True) -> pa.Array | None:
    """A text column as a pyarrow string array (None: all null).

    Numbers and true/false become text, as legacy files need; ``strict`` refuses them.
    An object or list becomes its JSON text; ``nested=False`` refuses it (a name).
    """
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if len(arr) != n:
            raise InvalidInput(f"column {fld!r} has {len(arr)} values, expected {n}", field=fld)
        if pa.types.is_null(arr.type):
            return None
        if pa.types.is_string(arr.type):
            return arr
        if pa.types.is_large_string(arr.type):
            return arr.cast(pa.string())
        if strict:
            raise fail(_first_true(arr.is_valid()), fld, "must be text")
        if pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type):
            return arr.cast(pa.string())
        values = arr.to_pylist()
    elif isinstance(values, np.ndarray) and values.dtype.kind in "UT":
        arr = pa.array(values.astype(np.dtypes.StringDType()) if values.dtype.kind == "U" else values,
                       type=pa.string())
        if len(arr) != n:
            raise InvalidInput(f"column {fld!r} has {len(arr)} values, expected {n}", field=fld)
        return arr
    seq = list(values)
    if len(seq) != n:
        raise InvalidInput(f"column {fld!r} has {len(seq)} values, expected {n}", field=fld)
    out = seq
    for i, v in enumerate(seq):
        if v is not None and type(v) is not str:
            if strict:
                raise fail(i, fld, "must be text")
            out = seq[:i]
            for j in range(i, n):
                if not nested and isinstance(seq[j], (dict, list)):
                    raise fail(j, fld, f"must be text, not {'an object' if isinstance(seq[j], dict) else 'a list'}")
                try:
                    out.append(_text_value(seq[j]))
                except ValueError as exc:
                    raise fail(j, fld, str(exc)) from None
            break
    return pa.array(out, type=pa.string())
