"""Timestamps read back as the ISO text they were written as, over all of years 1-9999."""

from __future__ import annotations

import pytest

from haven.errors import InvalidInput
from haven.timeutil import MAX_MS, MIN_MS, parse_ms, to_iso


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59.500Z", "2025-11-05T20:32:13Z",
                                  "9999-12-31T23:59:59.999Z"])
def test_iso_text_round_trips(text):
    assert to_iso(parse_ms(text, "created_at")) == text


def test_the_range_ends_are_shown_and_beyond_them_is_unknown():
    assert (to_iso(MIN_MS), to_iso(MAX_MS)) == ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z")
    assert to_iso(MIN_MS - 1) is None and to_iso(MAX_MS + 1) is None


@pytest.mark.parametrize(("text", "stored"), [
    ("2025-11-05T20:32:13.9996Z", "2025-11-05T20:32:13.999Z"),
    ("9999-12-31T23:59:59.9996Z", "9999-12-31T23:59:59.999Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999Z"),
    ("1969-12-31T23:59:59.9995Z", "1969-12-31T23:59:59.999Z"),
    ("2020-01-01T00:00:00.0001+05:00", "2019-12-31T19:00:00Z"),
])
def test_text_below_a_millisecond_is_cut_as_parquet_times_are(text, stored):
    """Cut, never rounded: the last instant of year 9999 stays inside the range."""
    assert to_iso(parse_ms(text, "created_at")) == stored


@pytest.mark.parametrize("text", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_an_offset_that_moves_a_time_out_of_the_years_1_to_9999_is_refused(text):
    with pytest.raises(InvalidInput, match="must lie between the years 1 and 9999"):
        parse_ms(text, "created_at")
