"""Reading JSON text exactly: integers of any size stay integers, and a repeated key is an error.

orjson is fast, but it reads an integer literal outside what it can hold in 64 bits
(below -2**63 or above 2**64 - 1) as a float, and keeps only the last value of a key
an object names twice. Both happen silently. Haven refuses both wherever JSON comes
in (request bodies, JSONL import lines), so the text is parsed with orjson first and,
only when a cheap look at the bytes cannot rule either case out, read again with
:mod:`json`, which keeps every integer exact and sees every key.

This module knows nothing of HTTP or files: callers say what the text is (``what``,
e.g. ``"the body"`` or ``"the line"``) and wrap the errors with their own location.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

import orjson

from haven.errors import InvalidInput
from haven.model import field_path

__all__ = [
    "ORJSON_INT_MAX",
    "ORJSON_INT_MIN",
    "LongInteger",
    "MAX_JSON_DEPTH",
    "RepeatedKey",
    "count_keys",
    "depth_error",
    "first_value",
    "loads_exactly",
    "needs_exact_reading",
    "read_exactly",
    "refused_number",
    "sketch",
]

#: The deepest nesting of any JSON text Haven reads (bodies, WebSocket messages, JSONL lines).
#: A system's deepest value (``extra`` of a moon, itself at most 32 levels) fits well
#: within it, every accepted value serializes back, and the exact reader never nears
#: Python's recursion limit.
MAX_JSON_DEPTH = 64

#: The integers orjson reads exactly; a literal outside them becomes a float.
ORJSON_INT_MIN, ORJSON_INT_MAX = -(2**63), 2**64 - 1

# Every digit → b"0", every JSON whitespace → b" ", other bytes unchanged: one pass over the
# text after which a few plain searches answer the questions below.
_SKETCH = bytes.maketrans(b"0123456789\t\n\r", b"0000000000   ")
# orjson reads an integer above 2**64 - 1 or below -2**63 as a float. Such an integer has at
# least 20 digits (2**64 - 1 has 20; every 19-digit one is below it), or is negative with at
# least 19 (2**63 has 19). So a 19-digit procgen seed (up to 2**63 - 1) needs no second reading.
_LONG_DIGIT_RUN = b"0" * 20
_LONG_NEGATIVE_RUN = b"-" + b"0" * 19


class RepeatedKey(InvalidInput):
    """An object in a JSON text names the same key more than once.

    ``location`` is the path of the object (``()`` for the top-level one) and
    ``key`` the repeated key; ``field`` is the key's path (``planets[0].name``).
    """

    def __init__(self, message: str, *, location: tuple[Any, ...], key: str) -> None:
        super().__init__(message, field=field_path(location + (key,)))
        self.location = location
        self.key = key


class LongInteger(InvalidInput):
    """A JSON text holds an integer literal of more digits than Python's ``int()`` reads
    (``sys.get_int_max_str_digits()``, 4,300 by default).

    ``location`` is the integer's path (``("extra", "big")``); ``digits`` its digit count.
    Only text orjson refused can hold one (orjson reads such a literal as infinity and
    refuses it), so only a caller that reads such text again meets this error.
    """

    def __init__(self, message: str, *, location: tuple[Any, ...], digits: int) -> None:
        super().__init__(message, field=field_path(location) or "body")
        self.location = location
        self.digits = digits


def count_keys(value: Any, *, max_depth: int | None = None, what: str = "the body") -> int:
    """How many keys the objects of a parsed JSON value hold (a repeated key counts once:
    the parser kept one of them). Iterative, so any depth is walked; with ``max_depth``,
    a value nested deeper is an :class:`InvalidInput` naming ``what``."""
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 1)] if type(value) is dict or type(value) is list else []
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if max_depth is not None and depth > max_depth:
            raise _too_deep(what, max_depth)
        if type(item) is dict:
            keys += len(item)
            item = item.values()
        depth += 1
        for child in item:
            if type(child) is dict or type(child) is list:
                push((child, depth))
    return keys


def sketch(raw: bytes) -> bytes:
    """``raw`` with every digit as ``0`` and every JSON whitespace as a space (one pass): then a
    plain search finds a run of digits, ``b"0" * 19 in sketch(raw)``."""
    return raw.translate(_SKETCH)


def needs_exact_reading(raw: bytes, keys: int, *, sketched: bytes | None = None) -> bool:
    """Whether valid JSON ``raw``, whose parse kept ``keys`` object keys, may hold an
    integer beyond 64 bits or repeat a key in one object (``False`` is a proof of neither).
    ``sketched``: ``sketch(raw)``, if the caller made it for its own searches.

    Each key in the text is followed by a ``:`` and, when no space comes before that
    colon, directly by ``":``; colons inside strings only add to those counts. So when
    either count equals ``keys``, the parser dropped no repeated key.
    """
    sketched = sketch(raw) if sketched is None else sketched
    if _LONG_DIGIT_RUN in sketched or _LONG_NEGATIVE_RUN in sketched:
        return True
    if sketched.count(b":") == keys:
        return False
    return sketched.count(b'":') != keys or b" :" in sketched


class _RepeatedKeys(dict):  # type: ignore[type-arg]
    """An object of a JSON text in which ``key`` appears more than once."""

    key: str


def first_value(data: Any, match: Callable[[Any], bool]) -> tuple[Any, tuple[Any, ...]] | None:
    """The first value of ``data`` (in document order) that ``match`` accepts, with its location.

    Dicts, lists and tuples are looked into (Arrow gives a map cell as a list of
    ``(key, value)`` tuples, which JSON stores as two-item lists).
    """
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        item, loc = stack.pop()
        if match(item):
            return item, loc
        if isinstance(item, dict):
            stack.extend((v, loc + (k,)) for k, v in reversed(item.items()))
        elif isinstance(item, (list, tuple)):  # a tuple: an Arrow map entry, (key, value)
            stack.extend((v, loc + (i,)) for i, v in reversed(list(enumerate(item))))
    return None


def _repeated_key_error(data: Any, what: str) -> RepeatedKey:
    """The error naming the first key that an object of ``data`` repeats."""
    found = first_value(data, lambda v: isinstance(v, _RepeatedKeys))
    assert found is not None
    obj, loc = found
    key = obj.key if len(obj.key) <= 80 else obj.key[:80] + "…"
    field = field_path(loc + (key,))
    where = f"the object at {field_path(loc)}" if loc else f"{what}'s object"
    return RepeatedKey(f'{field}: the key "{key}" appears more than once in {where}; send each key once',
                       location=loc, key=obj.key)


def read_exactly(raw: bytes, *, what: str = "the body") -> Any:
    """The slow, exact reading of JSON text: integers of any size stay integers (the caller
    decides what fits), and a repeated key is a :class:`RepeatedKey` error. ``what`` names
    the text in messages (``"the line"``).

    Meant for text orjson accepted; text it refused may be read too (to tell 1e400 or
    NaN from text that is not JSON), and there an integer too long for ``int()`` is a
    :class:`LongInteger` error naming it.
    """
    try:
        text = raw.decode("utf-8")
        return _read(text, what, int)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:  # not expected after orjson's parse
        raise InvalidInput(f"{what} is not valid JSON ({exc})", field="body") from None
    except ValueError:  # an integer literal longer than int() reads: only in text orjson refused
        raise _long_integer_error(text, what) from None


def _read(text: str, what: str, parse_int: Callable[[str], Any]) -> Any:
    """``json.loads`` with every key seen: a repeated one is a :class:`RepeatedKey` error."""
    repeats = False

    def keep_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeats
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        repeats = True
        marked = _RepeatedKeys(obj)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked.key = key
                break
            seen.add(key)
        return marked

    data = json.loads(text, object_pairs_hook=keep_repeats, parse_int=parse_int)
    if repeats:
        raise _repeated_key_error(data, what)
    return data


class _Digits(str):
    """An integer literal too long for ``int()``, kept as its text so that it can be named."""


def _int_or_digits(literal: str) -> int | _Digits:
    limit = sys.get_int_max_str_digits()
    if limit and len(literal) - literal.startswith("-") > limit:
        return _Digits(literal)
    return int(literal)


def _holds_no_double(value: Any) -> bool:
    """An integer longer than ``int()`` reads, a float that is NaN or infinite (``1e400`` reads
    as infinity), or an integer no double holds: what orjson refuses as a number."""
    if type(value) is _Digits:
        return True
    if type(value) is float:
        return not math.isfinite(value)
    if type(value) is int:
        try:
            float(value)
        except OverflowError:
            return True
    return False


def refused_number(raw: bytes) -> tuple[Any, tuple[Any, ...]] | None:
    """Where, in JSON text orjson refused, the first number it could not hold is, as (value,
    location): an error path only, to name it (orjson gives only a line and column).

    The value is a float (NaN or infinite), an int beyond a double, or the text of an integer
    longer than ``int()`` reads (a ``str``). None when the text holds no such number, or is
    not JSON for another reason too.
    """
    try:
        data = _read(raw.decode("utf-8"), "the text", _int_or_digits)
    except (ValueError, RecursionError, InvalidInput):
        return None
    return first_value(data, _holds_no_double)


def _long_integer_error(text: str, what: str) -> InvalidInput:
    """The error for JSON text that ``int()``'s digit limit stopped (an error path only):
    :class:`LongInteger` naming the first such integer, :class:`RepeatedKey` if a key
    repeats, or "not valid JSON" when the text, read past that limit, is not JSON at
    all (it may end before its object does)."""
    try:
        data = _read(text, what, _int_or_digits)
    except RepeatedKey as exc:
        return exc
    except (ValueError, RecursionError) as exc:
        return InvalidInput(f"{what} is not valid JSON ({exc})", field="body")
    found = first_value(data, lambda v: type(v) is _Digits)
    if found is None:  # not expected: the first reading stopped at such an integer
        return InvalidInput(f"{what} is not valid JSON (an integer of too many digits)", field="body")
    literal, loc = found
    digits = len(literal) - literal.startswith("-")
    return LongInteger(f"{field_path(loc) or what}: is an integer of {digits} digits, beyond 64 bits; "
                       "send it as text (in quotes)", location=loc, digits=digits)


def _too_deep(what: str, max_depth: int = MAX_JSON_DEPTH) -> InvalidInput:
    return InvalidInput(f"{what} is nested deeper than {max_depth} levels", field="body")


def depth_error(exc: orjson.JSONDecodeError, what: str) -> InvalidInput | None:
    """The error to raise when orjson refused valid JSON for its nesting (past 1,024 levels,
    far past :data:`MAX_JSON_DEPTH`): "nested deeper than", not "not valid JSON". None for
    any other refusal."""
    return _too_deep(what) if str(exc).startswith("depth limit exceeded") else None


def loads_exactly(raw: bytes, *, what: str = "the body") -> Any:
    """Parse JSON text with orjson, read it again exactly only when it may need it.

    Raises ``orjson.JSONDecodeError`` for text that is not JSON (the caller words that
    error, it knows where the text came from), :class:`InvalidInput` for text nested
    deeper than :data:`MAX_JSON_DEPTH` and :class:`RepeatedKey` for a repeated key.
    Integers come back exact whatever their size.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        too_deep = depth_error(exc, what)
        if too_deep is not None:
            raise too_deep from None
        raise
    keys = count_keys(data, max_depth=MAX_JSON_DEPTH, what=what)
    return read_exactly(raw, what=what) if needs_exact_reading(raw, keys) else data
