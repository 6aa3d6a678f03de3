"""JSONL lines are read exactly, as the API reads bodies: no integer is rounded, no key silently dropped."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from haven.errors import InvalidInput
from haven.exactjson import count_keys, loads_exactly, needs_exact_reading
from haven.ingest.bulk import bulk_import
from haven.store.bulk import BulkRowError

GALAXY = "Haven"


def _jsonl(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "s.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _nothing_written(store) -> bool:
    return store.conn.execute("SELECT count(*) FROM system").fetchone()[0] == 0


@pytest.mark.parametrize(
    "line, field",
    [
        ('{"id":123456789012345678901234,"name":"BIGID","x":1,"y":2,"z":3}', "id"),
        ('{"name":"F","x":1,"y":2,"z":3,"fauna":12345678901234567890123}', "fauna"),
        ('{"name":"E","x":1,"y":2,"z":3,"big":18446744073709551616}', "big"),
        ('{"name":"N","x":1,"y":2,"z":3,"extra":{"deep":[1,-9223372036854775809]}}', "extra.deep[1]"),
        # beyond a double (orjson refuses the line), and beyond the digits int() reads
        ('{"name":"D","x":1,"y":2,"z":3,"extra":{"a":' + "9" * 400 + "}}", "extra.a"),
        ('{"name":"L","x":1,"y":2,"z":3,"note":[0,-' + "1" * 5000 + "]}", "note[1]"),
    ],
)
def test_an_integer_beyond_64_bits_is_refused_naming_line_and_field(store, tmp_path, line, field):
    ok = '{"name":"Fine","x":0,"y":0,"z":0}'
    with pytest.raises(BulkRowError) as info:
        bulk_import(store, GALAXY, _jsonl(tmp_path, ok, line))
    assert info.value.message.startswith(f"s.jsonl line 2: {field}: is an integer beyond 64 bits")
    assert "send it as text" in info.value.message and info.value.message.endswith("nothing was written")
    assert info.value.field == field
    assert _nothing_written(store)


@pytest.mark.parametrize(
    "line, field",
    [
        ('{"name":"E","x":1,"y":2,"z":3,"extra":{"big":9223372036854775808}}', "extra.big"),
        ('{"name":"E","x":1,"y":2,"z":3,"extra":{"n":"x","big":[1,18446744073709551615]}}', "extra.big[1]"),
        ('{"name":"E","x":1,"y":2,"z":3,"big":9999999999999999999}', "big"),
        ('{"name":"E","x":1,"y":2,"z":3,"seed":9223372036854775807,"v":{"w":9223372036854775808}}', "v.w"),
    ],
)
def test_an_integer_above_2_63_minus_1_in_extra_is_refused_as_csv_and_parquet_refuse_it(store, tmp_path, line,
                                                                                        field):
    """orjson reads integers up to 2**64 - 1 exactly, but ``extra`` keeps signed 64 bits."""
    ok = '{"name":"Fine","x":0,"y":0,"z":0,"extra":{"top":9223372036854775807}}'
    with pytest.raises(BulkRowError) as info:
        bulk_import(store, GALAXY, _jsonl(tmp_path, ok, line))
    assert info.value.message.startswith(f"s.jsonl line 2: {field}: is an integer beyond 64 bits, which Haven "
                                         "cannot store exactly; send it as text (in quotes)")
    assert info.value.field == field
    assert _nothing_written(store)


def test_signed_64_bit_integers_in_extra_are_kept_beside_a_19_digit_seed(store, tmp_path):
    line = ('{"name":"K","x":1,"y":2,"z":3,"seed":9223372036854775807,"n":9223372036854775807,'
            '"extra":{"top":9223372036854775807,"low":-9223372036854775808,"text":"92233720368547758089"}}')
    bulk_import(store, GALAXY, _jsonl(tmp_path, line))
    assert store.system_by_name(GALAXY, "K")["extra"] == {
        "n": 9223372036854775807, "top": 9223372036854775807, "low": -9223372036854775808,
        "text": "92233720368547758089"}


def test_integers_that_fit_and_long_numbers_elsewhere_are_kept_exactly(store, tmp_path):
    lines = [
        '{"id":"123456789012345678901234","name":"Text id","x":1,"y":2,"z":3,'
        '"i64":-9223372036854775808,"note":"12345678901234567890123"}',
        # a coordinate is a number: a long integer literal is read as one (and must lie in the cube)
        '{"name":"Long x","x":1000000000000000000000,"y":0,"z":0}',
    ]
    with pytest.raises(BulkRowError, match=r"^s\.jsonl line 2: x: .*outside the galaxy"):
        bulk_import(store, GALAXY, _jsonl(tmp_path, *lines))
    bulk_import(store, GALAXY, _jsonl(tmp_path, lines[0]))
    s = store.system_by_name(GALAXY, "Text id")
    assert s["legacy_id"] == "123456789012345678901234"
    assert s["extra"] == {"i64": -9223372036854775808, "note": "12345678901234567890123"}


def test_a_seed_beyond_64_bits_gets_the_seed_range_error(store, tmp_path):
    with pytest.raises(BulkRowError, match=r"^s\.jsonl line 1: seed: must be between 0 and 9223372036854775807"):
        bulk_import(store, GALAXY, _jsonl(tmp_path, '{"name":"S","x":1,"y":2,"z":3,"seed":99999999999999999999}'))
    assert _nothing_written(store)


@pytest.mark.parametrize(
    "line, field, where",
    [
        ('{"name":"A","x":1,"y":2,"z":3, "name":"B"}', "name", "the line's object"),
        ('{"name":"A","x":1,"y":2,"z":3,"fauna":"a" , "fauna" : "b"}', "fauna", "the line's object"),
        ('{"name":"A","x":1,"y":2,"z":3,"planets":[{"name":"P","name":"Q"}]}', "planets[0].name",
         "the object at planets[0]"),
    ],
)
def test_a_repeated_key_is_refused_naming_line_and_key(store, tmp_path, line, field, where):
    with pytest.raises(BulkRowError) as info:
        bulk_import(store, GALAXY, _jsonl(tmp_path, '{"name":"Fine","x":0,"y":0,"z":0}', line))
    key = field.rsplit(".", 1)[-1]
    assert info.value.message == (f's.jsonl line 2: {field}: the key "{key}" appears more than once in {where}; '
                                  "send each key once; nothing was written")
    assert info.value.field == field
    assert _nothing_written(store)


def test_colons_in_text_do_not_hide_a_repeated_key_or_raise_a_false_one(store, tmp_path):
    fine = '{"name":"A: B","x":1,"y":2,"z":3,"attributes":"k: v, \\"q\\": r"}'
    bulk_import(store, GALAXY, _jsonl(tmp_path, fine))
    assert store.system_by_name(GALAXY, "A: B")["attributes"] == 'k: v, "q": r'
    with pytest.raises(BulkRowError, match='the key "x" appears more than once'):
        bulk_import(store, "Other", _jsonl(tmp_path, '{"name":"C: D","x":1,"y":2,"z":3,"x":4}'))


@pytest.mark.parametrize(
    "raw, exact",
    [
        (b'{"seed":9223372036854775807}', False),  # a 19-digit seed: orjson reads it exactly
        (b'{"n":9999999999999999999}', False),
        (b'{"n":18446744073709551616}', True),
        (b'{"n":-9223372036854775809}', True),
        (b'{"a":1,"a":2}', True),
        (b'{"a":"x:y","b":2}', False),
    ],
)
def test_the_cheap_look_asks_for_an_exact_reading_only_when_needed(raw, exact):
    assert needs_exact_reading(raw, count_keys(orjson.loads(raw))) is exact
    if b'"a":1,"a"' not in raw:
        assert loads_exactly(raw) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [b'{"n":123456789012345678901234,"m":[-99999999999999999999]}', b'{"a":{"b":1,"b":2}}', b'{"x":1, "x":2}',
     b'{"s":"k:v","t":[{"u":"1:2"}]}', b'{"a":' + b"[" * 1000 + b"]" * 1000 + b',"a":1}',
     b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"],
)
def test_the_shared_reading_answers_as_the_api_does(raw):
    """The API's body reader (haven.api.common) can use haven.exactjson: same data, same messages."""
    from haven.api.common import parse_json_body

    try:
        expected: object = parse_json_body(raw)
    except InvalidInput as exc:
        expected = (exc.message, exc.field)
    try:
        got: object = loads_exactly(raw, what="the body")
    except InvalidInput as exc:
        got = (exc.message, exc.field)
    assert got == expected


def test_a_line_that_is_not_json_says_nothing_at_all_was_written(store, tmp_path):
    path = _jsonl(tmp_path, '{"name":"A","x":1,"y":2,"z":3}', '{"name":"B","x":1,"y":2,"z":3}', '{"name":"C",')
    with pytest.raises(BulkRowError) as info:
        bulk_import(store, GALAXY, path, batch_rows=1)
    assert info.value.message.startswith("s.jsonl line 3: not valid JSON (")
    assert info.value.message.endswith("; nothing was written")
    assert _nothing_written(store)


@pytest.mark.parametrize("number", ["1e400", "-2.5e999"])
def test_a_number_beyond_a_double_is_refused_naming_its_field(store, tmp_path, number):
    with pytest.raises(BulkRowError) as info:
        bulk_import(store, GALAXY, _jsonl(tmp_path, '{"name":"Far","x":' + number + ',"y":2,"z":3}'))
    assert info.value.message.startswith("s.jsonl line 1: x: must be a finite number")
    assert info.value.field == "x"
    assert _nothing_written(store)


def test_a_line_nested_too_deep_is_refused_by_its_depth(store, tmp_path):
    """Not as "not valid JSON" from the exact reader's recursion: the repeated key sends
    this line to that reader, which must never see a text deeper than the limit."""
    for levels in (1000, 5000):  # the second is past what orjson itself reads
        deep = "[" * levels + "]" * levels
        path = _jsonl(tmp_path, '{"name":"A","x":1,"y":2,"z":3,"extra":{"d":' + deep + '},"x":1}')
        with pytest.raises(BulkRowError) as info:
            bulk_import(store, GALAXY, path)
        assert info.value.message.startswith("s.jsonl line 1: the line is nested deeper than 64 levels")
        assert _nothing_written(store)


def test_a_byte_order_mark_before_the_first_line_is_skipped_as_csv_skips_it(store, tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"name":"A","x":1,"y":2,"z":3}\n{"name":"B","x":4,"y":5,"z":6}\n')
    bulk_import(store, GALAXY, path)
    names = [r[0] for r in store.conn.execute("SELECT name FROM system ORDER BY name")]
    assert names == ["A", "B"]


def test_a_byte_order_mark_inside_the_file_is_still_refused_naming_its_line(store, tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'{"name":"A","x":1,"y":2,"z":3}\n\xef\xbb\xbf{"name":"B","x":4,"y":5,"z":6}\n')
    with pytest.raises(BulkRowError) as info:
        bulk_import(store, GALAXY, path)
    assert info.value.message.startswith("bom.jsonl line 2: not valid JSON (")
    assert _nothing_written(store)
