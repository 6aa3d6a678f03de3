"""Reading one large JSON object a value at a time, so memory follows the largest record, not the file.

A legacy ``data.json`` and a haven-json export are each one JSON object:
``{"_meta": {...}, "data": [...]}`` or ``{"System A": {...}, "System B": {...}}``.
:func:`object_entries` reads that object's own punctuation itself and hands each
value (and each item of an array it is asked to open) to
:meth:`json.JSONDecoder.raw_decode`, which parses one value out of a window of
the text. The window slides through the file a chunk at a time, so a file of
millions of systems is read with the memory of a few records.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

CHUNK_BYTES = 1 << 20
# A value cut by the end of the window fails within a few characters of that end
# (``tru``, a half ``\\u12`` escape), or as a string that never closes.
_CUT_MARGIN_CHARS = 8
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class JsonSyntaxError(ValueError):
    """Text that is not valid JSON, with the 1-based line and column of the problem."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.message, self.line, self.column = message, line, column


class NotUtf8(ValueError):
    """A byte that is not UTF-8, at ``offset`` bytes into the file."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"not UTF-8 (bad byte at offset {offset})")
        self.offset = offset


class TextWindow:
    """The part of a UTF-8 file's text still to be parsed, read on a chunk at a time.

    ``text[pos:]`` is unread. :meth:`more` drops the parsed part and appends the
    next chunk; :meth:`where` turns a position into the file's line and column.
    """

    def __init__(self, fh: BinaryIO, chunk_bytes: int | None = None) -> None:
        self._fh = fh
        self._chunk_bytes = chunk_bytes or CHUNK_BYTES
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._bytes_fed = 0
        self._dropped_chars = 0
        self._dropped_lines = 0
        self._last_dropped_newline = -1  # absolute offset of the last newline dropped, -1 if none
        self.text = ""
        self.pos = 0
        self.eof = False

    @property
    def bytes_read(self) -> int:
        return self._bytes_fed

    def more(self, at_least_chars: int = 1) -> bool:
        """Append at least ``at_least_chars`` more characters (fewer at the end of the file).

        Returns False when the file had nothing more.
        """
        if self.eof:
            return False
        self._drop_parsed()
        added: list[str] = []
        count = 0
        while count < at_least_chars:
            chunk = self._fh.read(max(self._chunk_bytes, at_least_chars - count))
            pending = len(self._decoder.getstate()[0])
            try:
                piece = self._decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise NotUtf8(self._bytes_fed - pending + exc.start) from None
            self._bytes_fed += len(chunk)
            added.append(piece)
            count += len(piece)
            if not chunk:
                self.eof = True
                break
        self.text += "".join(added)
        return count > 0

    def _drop_parsed(self) -> None:
        if not self.pos:
            return
        gone = self.text[: self.pos]
        newlines = gone.count("\n")
        if newlines:
            self._dropped_lines += newlines
            self._last_dropped_newline = self._dropped_chars + gone.rindex("\n")
        self._dropped_chars += self.pos
        self.text = self.text[self.pos :]
        self.pos = 0

    def where(self, pos: int) -> tuple[int, int]:
        """The 1-based line and column of window position ``pos``, counted as :mod:`json` does."""
        line = self._dropped_lines + self.text.count("\n", 0, pos) + 1
        newline = self.text.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self._dropped_chars + pos - self._last_dropped_newline
        return line, column

    def fail(self, message: str, pos: int | None = None) -> JsonSyntaxError:
        return JsonSyntaxError(message, *self.where(self.pos if pos is None else pos))

    def skip_whitespace(self) -> str:
        """Move past whitespace, reading on as needed; the next character, or ``""`` at the end."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""


@dataclass(frozen=True)
class Entry:
    """One top-level entry: a key and its value, or one item of an opened array.

    For an opened array, one entry with ``item=0`` and ``value=OPENED`` comes
    first, then each item with ``item`` counting from 1.
    """

    key: str
    value: Any
    item: int | None = None


OPENED = object()  # the value of an opened array's first entry


Decode = Callable[[str, int], tuple[Any, int]]


def object_entries(window: TextWindow, decode: Decode, *, open_arrays: Container[str] = ()) -> Iterator[Entry]:
    """Each entry of the JSON object that the window's text is, in file order.

    ``decode(text, pos)`` parses one value (:meth:`json.JSONDecoder.raw_decode`).
    A key in ``open_arrays`` whose value is an array is not decoded whole: its
    items come one by one. The text must hold one object and nothing after it;
    anything else raises :class:`JsonSyntaxError`.
    """
    first = window.skip_whitespace()
    if first != "{":
        raise window.fail("Expecting '{'")
    window.pos += 1
    if window.skip_whitespace() == "}":
        window.pos += 1
    else:
        while True:
            if window.skip_whitespace() != '"':
                raise window.fail("Expecting property name enclosed in double quotes")
            key = _value(window, decode)
            if window.skip_whitespace() != ":":
                raise window.fail("Expecting ':' delimiter")
            window.pos += 1
            if key in open_arrays and window.skip_whitespace() == "[":
                window.pos += 1
                yield Entry(key, OPENED, 0)
                yield from (Entry(key, value, i) for i, value in enumerate(_array_items(window, decode), start=1))
            else:
                yield Entry(key, _value(window, decode))
            if _at_end(window, "}"):
                break
    if window.skip_whitespace():
        raise window.fail("Extra data")


def _array_items(window: TextWindow, decode: Decode) -> Iterator[Any]:
    if window.skip_whitespace() == "]":
        window.pos += 1
        return
    while True:
        yield _value(window, decode)
        if _at_end(window, "]"):
            return


def _at_end(window: TextWindow, closer: str) -> bool:
    """Move past the ``,`` after a member (False) or the ``closer`` that ends them (True)."""
    after = window.skip_whitespace()
    window.pos += 1
    if after == closer:
        return True
    if after != ",":
        raise window.fail("Expecting ',' delimiter", window.pos - 1)
    return False


def _value(window: TextWindow, decode: Decode) -> Any:
    """Decode the value at the window's position, reading on while the window cuts it."""
    if not window.skip_whitespace():
        raise window.fail("Expecting value")
    while True:
        try:
            value, end = decode(window.text, window.pos)
        except json.JSONDecodeError as exc:
            into_value = exc.pos - window.pos  # reading on moves the window, not the value's start
            cut = exc.pos >= len(window.text) - _CUT_MARGIN_CHARS or exc.msg.startswith("Unterminated string")
            if cut and window.more(len(window.text) - window.pos):
                continue
            raise window.fail(exc.msg, window.pos + into_value) from None
        except RecursionError:
            raise window.fail("nested too deeply") from None
        if end == len(window.text) and window.more():
            continue  # a number may go on in the next chunk
        window.pos = end
        return value
