"""Reading a JSON object a value at a time: the same values as ``json.loads``, wherever the chunks fall."""

from __future__ import annotations

import io
import json

import pytest

from haven.ingest.jsonstream import OPENED, JsonSyntaxError, NotUtf8, TextWindow, object_entries

DECODER = json.JSONDecoder()

DOC = {
    "_meta": {"format": "haven-json", "count": 3},
    "data": [
        {"name": "Ålesund Prime", "x": 1.5e-7, "y": -0.0, "z": 12345678901234567890, "notes": "a \"quoted\"\nline"},
        {"name": "Kœr 😀", "planets": [{"name": "A", "moons": []}], "big": 1e308, "esc": "\\u00e9 \u00e9"},
        [],
    ],
    "after": None,
    "tail": 12345,
}


def read(text: str, *, chunk_bytes: int, open_arrays=("data",)) -> list[tuple[str, object, int | None]]:
    window = TextWindow(io.BytesIO(text.encode("utf-8")), chunk_bytes=chunk_bytes)
    return [(e.key, e.value, e.item) for e in object_entries(window, DECODER.raw_decode, open_arrays=open_arrays)]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 8, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_entries_are_what_json_loads_gives_wherever_the_chunks_cut(chunk_bytes, indent):
    text = json.dumps(DOC, ensure_ascii=False, indent=indent)
    entries = read(text, chunk_bytes=chunk_bytes)
    assert entries[0] == ("_meta", DOC["_meta"], None)
    assert entries[1] == ("data", OPENED, 0)
    assert entries[2:5] == [("data", item, i) for i, item in enumerate(DOC["data"], start=1)]
    assert entries[5:] == [("after", None, None), ("tail", 12345, None)]  # the last number is read whole


def test_an_array_not_asked_for_is_one_value():
    assert read(json.dumps(DOC), chunk_bytes=7, open_arrays=())[1] == ("data", DOC["data"], None)


@pytest.mark.parametrize("text", ["{}", " {\n} \n", '{"data": []}', '{"data": {}}', '\ufeff{"a": 1}'])
def test_small_objects(text):
    assert read(text.lstrip("\ufeff"), chunk_bytes=1) == [
        (k, OPENED if k == "data" and isinstance(v, list) else v, 0 if k == "data" and isinstance(v, list) else None)
        for k, v in json.loads(text.lstrip("\ufeff")).items()]


def test_a_byte_order_mark_is_skipped():
    window = TextWindow(io.BytesIO(b'\xef\xbb\xbf{"a": 1}'), chunk_bytes=2)
    assert [(e.key, e.value) for e in object_entries(window, DECODER.raw_decode)] == [("a", 1)]


BROKEN = [
    '{"a": 1,}',
    '{"a": 1 "b": 2}',
    '{"a" 1}',
    '{"a": }',
    '{"a": [1, 2}',
    '{"data": [1, 2}',
    '{"data": [1 2]}',
    '{"a": "unterminated',
    '{"a": "bad \\x escape"}',
    '{"a": tru}',
    '{"a": 1}\n  x',
    '{"a": 1',
    '{\n  "a": {"b": [1,\n 2,, 3]}\n}',
    '{"a": "line\nbreak"}',
    '{1: 2}',
]


@pytest.mark.parametrize("text", BROKEN)
@pytest.mark.parametrize("chunk_bytes", [1, 4, 1 << 20])
def test_broken_json_is_refused_at_the_line_and_column_json_names(text, chunk_bytes):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(JsonSyntaxError) as got:
        read(text, chunk_bytes=chunk_bytes)
    assert (got.value.line, got.value.column) == (expected.value.lineno, expected.value.colno)
    assert got.value.message == expected.value.msg


def test_a_long_value_is_read_in_a_window_that_grows():
    text = json.dumps({"data": [{"notes": "x" * 300_000}, {"notes": "y"}]})
    entries = read(text, chunk_bytes=1000)
    assert [len(e[1]["notes"]) for e in entries[1:]] == [300_000, 1]


def test_parsed_text_is_dropped_as_the_window_moves():
    text = json.dumps({"data": [{"n": i, "pad": "p" * 100} for i in range(2000)]})
    window = TextWindow(io.BytesIO(text.encode()), chunk_bytes=4096)
    longest = 0
    for entry in object_entries(window, DECODER.raw_decode, open_arrays=("data",)):
        longest = max(longest, len(window.text))
    assert entry.item == 2000
    assert longest < 3 * 4096  # never the whole file (about 250 kB)


def test_a_multi_byte_character_cut_by_a_chunk():
    text = json.dumps({"name": "é😀ü" * 50}, ensure_ascii=False)
    assert read(text, chunk_bytes=3)[0][1] == "é😀ü" * 50


def test_bad_utf8_names_its_byte_offset():
    raw = b'{"a": "ok", "b": "\xff"}'
    window = TextWindow(io.BytesIO(raw), chunk_bytes=4)
    with pytest.raises(NotUtf8) as info:
        list(object_entries(window, DECODER.raw_decode))
    assert info.value.offset == raw.index(b"\xff")
