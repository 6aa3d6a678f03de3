from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.errors import InvalidInput
from haven.model import NAME_MAX_CHARS, validate_patch, validate_system

BASE = {"name": "Vex", "x": 1, "y": 2, "z": 3}


def test_names_are_trimmed_and_any_unicode_is_fine():
    for name in ["AMOT 16/O5", "  Ōrion ✦ 7  ", "a/b/../c", "<img src=x onerror=alert(1)>", "名前"]:
        assert validate_system({**BASE, "name": name}).name == name.strip()


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * (NAME_MAX_CHARS + 1)}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": 12}, "name"),
        ({"x": math.nan}, "x"),
        ({"y": math.inf}, "y"),
        ({"z": "3"}, "z"),
        ({"x": True}, "x"),
        ({"confidence": 1.5}, "confidence"),
        ({"bogus": 1}, "bogus"),
        ({"planets": [{"name": "p"}, {"name": "p"}]}, "planets"),
        ({"planets": [{"name": "p", "moons": [{"name": ""}]}]}, "planets[0].moons[0].name"),
        ({"planets": [{"name": "p", "moons": [{"name": "m", "orbit_speed": "fast"}]}]}, "planets[0].moons[0].orbit_speed"),
        ({"space_station": {"name": "s", "x": 1, "y": 2, "z": "high"}}, "space_station.z"),
    ],
)
def test_bad_fields_are_named(patch, field):
    with pytest.raises(InvalidInput) as err:
        validate_system({**BASE, **patch})
    assert err.value.field == field
    assert field in err.value.message


def test_numbers_in_text_fields_become_text():
    s = validate_system({**BASE, "fauna": 5, "flora": 8.5})
    assert (s.fauna, s.flora) == ("5", "8.5")


def test_patch_refuses_null_for_required_fields():
    with pytest.raises(InvalidInput) as err:
        validate_patch({"name": None})
    assert err.value.field == "name"
    assert validate_patch({"fauna": None}).model_fields_set == {"fauna"}


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5))))
def test_arbitrary_objects_never_crash_validation(data):
    try:
        validate_system(data)
    except InvalidInput as err:
        assert err.message


def _nested_lists(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize("extra, message", [
    ({"a": {"b": [1, 2**63]}}, "extra: a.b[1] is an integer beyond 64 bits; send it as text (in quotes)"),
    ({"score": [-(2**63) - 1]}, "extra: score[0] is an integer beyond 64 bits; send it as text (in quotes)"),
    ({"x": math.nan}, "extra: x is a number that is not finite"),
    ({"d": [[[[]]]], "deep": _nested_lists(40)}, "extra: is nested more than 32 levels deep (under deep)"),
])
def test_extra_refusals_name_the_value_inside_extra(extra, message):
    with pytest.raises(InvalidInput) as info:
        validate_system({"name": "A", "x": 0, "y": 0, "z": 0, "extra": extra})
    assert info.value.message == message and info.value.field == "extra"
    planet = {"name": "A", "x": 0, "y": 0, "z": 0, "planets": [{"name": "p", "extra": extra}]}
    with pytest.raises(InvalidInput) as info:
        validate_system(planet)
    assert info.value.message.endswith(message.removeprefix("extra: "))


def _nested_objects(levels: int, innermost: dict) -> dict:
    """``levels`` objects, ``extra`` itself the first and ``innermost`` the last."""
    value = innermost
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("innermost", [{}, {"b": 1}, {"b": "text"}, {"b": None}])
def test_extra_may_fill_all_32_levels_with_values(innermost):
    """The values inside the 32nd object are its content, not a 33rd level."""
    extra = _nested_objects(32, innermost)
    assert validate_system({"name": "A", "x": 0, "y": 0, "z": 0, "extra": extra}).extra == extra
    with pytest.raises(InvalidInput, match="nested more than 32 levels deep"):
        validate_system({"name": "A", "x": 0, "y": 0, "z": 0, "extra": _nested_objects(33, innermost)})


def test_extra_keeps_the_signed_64_bit_range_whole():
    extra = {"top": 2**63 - 1, "low": -(2**63)}
    assert validate_system({"name": "A", "x": 0, "y": 0, "z": 0, "extra": extra}).extra == extra
