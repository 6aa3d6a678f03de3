"""Exporting a galaxy as a legacy-compatible JSON file, streamed.

Two formats (see ``docs/formats/haven-json.md``):

``haven-json``
    ``{"_meta": {...}, "data": [ {system}, ... ]}`` — one system per line.
``legacy-json``
    the legacy tool's name-keyed ``data.json``: ``{"_meta": {...}, "NAME": {system}, ...}``.

Systems are read with ``store.iter_systems`` (keyset batches) and written one
at a time, so memory does not grow with the galaxy. Writing to a path goes
through a temporary file that replaces the target only when complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, TextIO

import orjson

from haven import __version__
from haven.errors import InvalidInput, NotFound
from haven.ingest.mapping import system_to_legacy
from haven.timeutil import now_ms, to_iso

FORMATS = ("haven-json", "legacy-json")
FORMAT_VERSION = "1.0.0"


def export_galaxy(store: Any, galaxy: str, out: TextIO | Path | str, fmt: str = "haven-json") -> int:
    """Write every system of ``galaxy`` to ``out`` (an open text stream or a path).

    Returns the number of systems written. Field names are the legacy ones
    (``id`` is the legacy id), ``extra`` is merged back into each object, and
    Haven-only fields (``glyph``, ``provenance``, ``confidence``) keep their
    names, so importing the result gives the same systems back.
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
    if isinstance(out, (str, Path)):
        return _export_to_path(store, g, Path(out), fmt)
    return _write(store, g, fmt, lambda chunk: out.write(chunk.decode("utf-8")))


def _export_to_path(store: Any, g: dict[str, Any], path: Path, fmt: str) -> int:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            count = _write(store, g, fmt, fh.write)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


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
    if seconds < 0:
        raise InvalidInput("SOURCE_DATE_EPOCH must not be negative", field="SOURCE_DATE_EPOCH")
    return seconds * 1000


def _meta(g: dict[str, Any], fmt: str) -> dict[str, Any]:
    return {
        "format": fmt,
        "version": FORMAT_VERSION,
        "generator": f"haven {__version__}",
        "exported_at": to_iso(exported_at_ms()),
        "galaxy": g["name"],
        # The galaxy's total when the export began (an O(1) counter); the
        # records that follow are what was read, system by system.
        "count": g.get("system_count"),
    }


def _write(store: Any, g: dict[str, Any], fmt: str, write: Callable[[bytes], Any]) -> int:
    dumps = orjson.dumps
    write(b'{"_meta": ' + dumps(_meta(g, fmt)))
    count = 0
    if fmt == "haven-json":
        write(b',\n"data": [')
        for s in store.iter_systems(g["name"]):
            write((b"\n" if count == 0 else b",\n") + dumps(system_to_legacy(s)))
            count += 1
        write(b"\n]}\n")
    else:
        for s in store.iter_systems(g["name"]):
            write(b",\n" + dumps(s["name"]) + b": " + dumps(system_to_legacy(s)))
            count += 1
        write(b"\n}\n")
    return count
