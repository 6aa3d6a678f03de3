"""gzip/identity content coding for chunks."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.chunks import choose_encoding, compress, decompress


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, "identity"),
        ("", "identity"),
        ("   ", "identity"),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("gzip, deflate, br", "gzip"),
        ("deflate, br", "identity"),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", "gzip"),
        ("x-gzip", "gzip"),
        ("*", "gzip"),
        ("*;q=0.5", "gzip"),
        ("gzip;q=0", "identity"),
        ("gzip;q=0.000", "identity"),
        ("gzip;q=0, *", "identity"),  # explicit gzip entry wins over *
        ("*;q=0", "identity"),
        ("gzip;q=0.001", "gzip"),
        ("gzip;q=0.5, identity;q=1", "identity"),  # identity explicitly preferred
        ("gzip;q=1, identity;q=1", "gzip"),  # tie: gzip
        ("identity;q=0, gzip;q=0.2", "gzip"),
        ("identity", "identity"),
        ("gzip ; q=0.7", "gzip"),
        ("gzip;Q=0", "identity"),
        ("gzip;q=1.5", "identity"),  # malformed q: member ignored
        ("gzip;q=abc", "identity"),
        ("gzip;q=0.1234", "identity"),  # more than 3 decimals
        ("gzip;q=", "identity"),
        ("gzip;level=9", "gzip"),  # unknown parameters ignored
        ("gzip;q=0, gzip;q=0.5", "gzip"),  # listed twice: most favourable
        (",,gzip,,", "gzip"),
        ("gzipx", "identity"),
        ("compress, gzip;q=0.3", "gzip"),
    ],
)
def test_choose_encoding(header, expected):
    assert choose_encoding(header) == expected


@given(st.text(max_size=60))
def test_choose_encoding_never_fails(header):
    assert choose_encoding(header) in ("gzip", "identity")


@given(st.binary(max_size=2000))
def test_compress_roundtrip(data):
    for enc in ("gzip", "identity", "GZIP"):
        assert decompress(compress(data, enc), enc) == data


def test_gzip_is_standard_and_deterministic():
    data = b"CHNK" * 1000
    z = compress(data, "gzip")
    assert gzip.decompress(z) == data
    assert z == compress(data, "gzip")  # mtime fixed: same bytes, cacheable ETag
    assert compress(data, "identity") == data


def test_unknown_encoding():
    with pytest.raises(ValueError):
        compress(b"x", "br")
    with pytest.raises(ValueError):
        decompress(b"x", "deflate")
    with pytest.raises(ValueError):
        decompress(b"not gzip", "gzip")
