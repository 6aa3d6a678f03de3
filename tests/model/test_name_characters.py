"""What characters a name may hold: no controls that break lines or reorder the text after the
name, at least one visible character; any other Unicode (emoji, RTL scripts, ZWJ, ZWNJ) is fine.

A refused name is refused, never rewritten, and undo (``RESTORING``) still brings back a name
stored before these rules were checked."""

from __future__ import annotations

import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.errors import InvalidInput
from haven.model import (RESTORING, REFUSED_NAME_CHARS, SystemIn, clean_name, clean_region, first_bad_name,
                         name_problem, validate_patch, validate_system)

BASE = {"name": "Vex", "x": 1, "y": 2, "z": 3}

BIDI_CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
LINE_BREAKERS = ["\u2028", "\u2029", *(chr(c) for c in range(0x80, 0xA0))]
REFUSED = BIDI_CONTROLS + LINE_BREAKERS

#: Names that look empty: invisible characters alone or mixed with spaces.
INVISIBLE_NAMES = ["\u200b", "\u2060", "\ufeff", "\u00ad", "\u200d", "\u200c", "\u200e", "\u180e",
                   " \u200b ", "\u200b \u200b", "\u3164", "\u115f\u1160", "\uffa0", "\u2800", "\ufe0f",
                   "\u034f", "\U000e0041", "\x7f", "\u00a0\u200b", "\u2062\u2063\u2064"]

#: Legitimate names that hold unusual characters: they stay as they are.
GOOD_NAMES = [
    "👨\u200d👩\u200d👧 Family",           # ZWJ emoji sequence
    "🏳\ufe0f\u200d🌈",                   # flag: variation selector and ZWJ
    "می\u200cخواهم",                     # Persian with ZWNJ
    "क्\u200dष",                          # Devanagari with ZWJ
    "e\u0301toile",                       # combining acute accent
    "السلام عليكم",                       # Arabic
    "שלום עולם 7",                        # Hebrew with digits
    "Nova \u200fשלום\u200f",              # an RLM mark (no override)
    "A\x7fB",                             # DEL inside a name, as before
    "Sol\u00a0Ara",                       # a no-break space inside
    "Zed\u00adlon",                       # a soft hyphen inside
    "\u0301",                             # a lone combining mark draws an accent
    "☀\ufe0f",                            # emoji presentation
]


def refused(value: Any) -> str:
    with pytest.raises(ValueError) as info:
        clean_name(value)
    return str(info.value)


def code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


@pytest.mark.parametrize("char", REFUSED, ids=code_point)
def test_a_control_that_breaks_lines_or_reorders_text_is_refused_by_code_point(char):
    for name in (f"A{char}B", f"{char}Name" if char not in "\x85\u2028\u2029" else f"N{char}ame"):
        message = refused(name)
        name_part = unicodedata.name(char, "")
        expected = f"must not contain U+{ord(char):04X} ({name_part})" if name_part else \
            f"must not contain the control character U+{ord(char):04X}"
        assert message == expected


def test_the_message_names_the_override():
    assert refused("Evil\u202eXT.exe") == "must not contain U+202E (RIGHT-TO-LEFT OVERRIDE)"
    assert refused("A\u2066B") == "must not contain U+2066 (LEFT-TO-RIGHT ISOLATE)"
    assert refused("A\u2028B") == "must not contain U+2028 (LINE SEPARATOR)"
    assert refused("A\x85B") == "must not contain the control character U+0085"


@pytest.mark.parametrize("name", INVISIBLE_NAMES, ids=ascii)
def test_a_name_of_invisible_characters_only_is_refused(name):
    assert refused(name).startswith("must contain a visible character")


def test_the_invisible_name_message_names_a_character():
    assert refused(" \u200b ") == \
        "must contain a visible character, not only invisible ones such as U+200B (ZERO WIDTH SPACE)"


@pytest.mark.parametrize("name", GOOD_NAMES, ids=ascii)
def test_legitimate_names_are_kept_exactly(name):
    assert clean_name(name) == name
    assert clean_name(f"  {name}\t") == name  # only surrounding whitespace is trimmed
    assert validate_system({**BASE, "name": name, "region": name}).region == name


def test_every_format_character_alone_is_refused():
    """Every character of category Cf that this Python knows: alone, none can be seen."""
    formats = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert len(formats) > 150
    for char in formats:
        problem = name_problem(char)
        assert problem is not None and (problem.startswith("must contain a visible character")
                                        or problem.startswith("must not contain U+")), ascii(char)


def test_every_whitespace_character_alone_is_still_empty():
    for char in (chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()):
        assert refused(char) == "must not be empty", ascii(char)


def test_old_rules_keep_their_messages():
    assert refused("tab\there") == "must not contain control characters"
    assert refused("   ") == "must not be empty"
    assert refused(7) == "must be text"


@given(st.text(st.sampled_from("\u200b\u200c\u200d\u2060\ufeff\u00ad\u3164 \u00a0\u2800"), min_size=1, max_size=20))
def test_no_mix_of_invisible_characters_passes(name):
    with pytest.raises(ValueError):
        clean_name(name)


@given(st.text(min_size=1, max_size=40))
def test_a_name_is_accepted_unchanged_or_refused(name):
    """Never rewritten: the result is the trimmed input, and refused ones hold a refused character,
    a C0 control or nothing visible."""
    try:
        cleaned = clean_name(name)
    except ValueError as exc:
        trimmed = name.strip()
        assert (not trimmed or REFUSED_NAME_CHARS.search(trimmed) or any(c < " " for c in trimmed)
                or str(exc).startswith("must contain a visible character")), ascii(name)
    else:
        assert cleaned == name.strip()
        assert not REFUSED_NAME_CHARS.search(cleaned)


# -- every name field ---------------------------------------------------------------------------------

#: Where a name sits in a system body, and how to put one there.
FIELDS = {
    "name": lambda v: {**BASE, "name": v},
    "region": lambda v: {**BASE, "region": v},
    "planets[0].name": lambda v: {**BASE, "planets": [{"name": v}]},
    "planets[0].moons[0].name": lambda v: {**BASE, "planets": [{"name": "P", "moons": [{"name": v}]}]},
    "space_station.name": lambda v: {**BASE, "space_station": {"name": v}},
}


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad, said", [("Evil\u202eX", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
                                       ("\u200b", "must contain a visible character"),
                                       ("Two\u2029Lines", "U+2029 (PARAGRAPH SEPARATOR)")], ids=["bidi", "zwsp", "ps"])
def test_every_name_field_refuses_and_is_named(field, bad, said):
    with pytest.raises(InvalidInput) as info:
        validate_system(FIELDS[field](bad))
    assert info.value.field == field and said in info.value.message
    if field in ("name", "region"):
        with pytest.raises(InvalidInput) as info:
            validate_patch({field: bad})
        assert info.value.field == field and said in info.value.message


def test_a_blank_region_still_means_none():
    assert clean_region("   ") is None and clean_region(None) is None
    with pytest.raises(ValueError, match="visible character"):
        clean_region("\u200b")


# -- restoring stored state ---------------------------------------------------------------------------


def test_undo_restores_names_stored_before_the_characters_were_checked():
    stored = {**BASE, "name": "Old\u202eName", "region": "\u200b",
              "planets": [{"name": "\u2060", "moons": [{"name": "M\u0085oon"}]}],
              "space_station": {"name": "St\u2066ation"}}
    with pytest.raises(Exception):
        SystemIn.model_validate(stored)
    back = SystemIn.model_validate(stored, context=RESTORING)
    assert (back.name, back.region, back.planets[0].name, back.planets[0].moons[0].name,
            back.space_station.name) == ("Old\u202eName", "\u200b", "\u2060", "M\u0085oon", "St\u2066ation")


def test_restoring_keeps_the_rules_names_always_had():
    for bad, said in [("A\nB", "control characters"), ("", "must not be empty"), ("x" * 201, "at most 200")]:
        with pytest.raises(Exception, match=said):
            SystemIn.model_validate({**BASE, "name": bad}, context=RESTORING)


# -- many names at once (bulk loads) ------------------------------------------------------------------


@pytest.mark.parametrize("names, expected", [
    (["Tauvex KM-0417", "Ōrion", "👩\u200d🚀"], None),
    ([], None),
    (["Fine", "\u200b", "A\u202eB"], 1),
    (["Fine", "A\u202eB", "\u200b"], 1),
    (["Fine", "Also", "\u00a0\u2060"], 2),
    (["tab\there", "\u200b"], 0),
], ids=["good", "none", "invisible-first", "refused-first", "late", "c0"])
def test_first_bad_name_agrees_with_the_one_name_rule(names, expected):
    found = first_bad_name(names)
    if expected is None:
        assert found is None
    else:
        assert found == (expected, name_problem(names[expected]))


@given(st.lists(st.text(min_size=1, max_size=8).map(str.strip).filter(bool), max_size=12))
def test_first_bad_name_is_name_problem_on_each(names):
    expected = next(((i, name_problem(n)) for i, n in enumerate(names) if name_problem(n)), None)
    assert first_bad_name(names) == expected
