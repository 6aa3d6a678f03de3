"""Timestamps: stored as integer milliseconds since the Unix epoch (UTC)."""

from __future__ import annotations

import functools
import time
from datetime import datetime, timedelta, timezone

from haven.errors import InvalidInput

_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


UNKNOWN_MS = 0  # stored for "no known time": generated systems have no discovery date
#: The instants Haven stores: years 1 to 9999 in UTC, the range of Python's ``datetime``
#: (and of the ISO text every answer shows).
MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def check_ms(ms: int, field: str) -> int:
    """``ms`` if it lies in years 1–9999 (UTC), else :class:`InvalidInput` naming ``field``."""
    if not MIN_MS <= ms <= MAX_MS:
        raise InvalidInput(f"{field}: must lie between the years 1 and 9999 (UTC)", field=field)
    return ms


@functools.lru_cache(maxsize=4096)  # bulk-loaded rows share a handful of stamps
def to_iso(ms: int | None) -> str | None:
    """``1762374733000`` → ``2025-11-05T20:32:13Z`` (milliseconds shown only when set).

    ``UNKNOWN_MS`` reads back as ``None``: Haven does not invent a date. So does an
    instant outside years 1–9999, which no ISO text can show: nothing stores one
    any more (:func:`check_ms`), but a database written before that check may hold
    one, and its row must stay readable.
    """
    if ms is None or ms == UNKNOWN_MS or not MIN_MS <= ms <= MAX_MS:
        return None
    return iso_text(ms)


def iso_text(ms: int) -> str:
    """An instant in years 1–9999 as ISO 8601 text, epoch zero included (see :func:`to_iso`)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    text = f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}"  # strftime's %Y does not pad years before 1000
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


def parse_ms(text: str, field: str) -> int:
    """Parse the timestamp shapes real files carry; naive times are UTC."""
    value = text.strip()
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _FORMATS:
            try:
                dt = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            raise InvalidInput(f"{field}: {text!r} is not a date and time", field=field) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    # Cut to the millisecond, exactly (integer arithmetic, not a float's rounding), as stored
    # times from Parquet are: 23:59:59.9996 is 23:59:59.999, never the next second. The
    # difference of two aware times needs no conversion, so an offset that moves a time
    # past year 1 or 9999 in UTC is refused by the range check like any other.
    return check_ms((dt - _EPOCH) // _ONE_MS, field)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)
