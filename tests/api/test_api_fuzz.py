"""Random queries and bodies: never a 500, always JSON, and a rejected write changes nothing."""

from __future__ import annotations

import json
from urllib.parse import quote

import orjson
import pytest
from apihelpers import FULL_SYSTEM, dump, seed
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from haven.api import create_app
from haven.model import validate_system

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

GET_ROUTES = [
    "/api/v1/systems",
    "/api/v1/systems/search",
    "/api/v1/systems/near",
    "/api/v1/systems/box",
    "/api/v1/regions",
    "/api/v1/stats",
    "/api/v1/galaxies",
    "/api/systems/visible",
    "/api/systems/search",
    "/api/regions",
    "/api/regions/Euclid/systems",
    "/api/stats",
]
PARAM_NAMES = [
    "limit", "cursor", "region", "prefix", "galaxy", "q", "x", "y", "z", "radius", "cx", "cy", "cz",
    "min_x", "min_y", "min_z", "max_x", "max_y", "max_z", "page", "per_page", "version", "zzz",
]
NUMBERISH = st.sampled_from(
    ["0", "-0", "1", "-1", "5000", "5001", "nan", "NaN", "inf", "-inf", "1e308", "1e999", "-1e400", "0x10", "1_000",
     " 5", "", "١٢", "9" * 40, "1.5", "true", "None", "%00", "\x00"]
)
TEXTISH = st.text(max_size=40)
VALUES = st.one_of(NUMBERISH, TEXTISH, st.floats(allow_nan=True).map(repr), st.integers().map(str))

JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
)
JSON = st.recursive(
    JSON_LEAF,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)),
    max_leaves=20,
)
SYSTEM_KEYS = list(FULL_SYSTEM) + ["version", "legacy_id", "created_at", "modified_at", "confidence", "glyph", "bogus"]


@st.composite
def system_bodies(draw):
    """Mostly-valid systems with one to three fields replaced by random JSON."""
    body = orjson.loads(orjson.dumps(FULL_SYSTEM))
    body["name"] = draw(st.text(min_size=1, max_size=30))
    for key in draw(st.lists(st.sampled_from(SYSTEM_KEYS), min_size=0, max_size=3)):
        body[key] = draw(JSON)
    if draw(st.booleans()):
        body["planets"] = draw(st.lists(
            st.fixed_dictionaries({"name": st.text(max_size=8)}, optional={"moons": JSON, "notes": JSON, "x": JSON}),
            max_size=3,
        ))
    return body


def _dumps(value) -> bytes:
    return json.dumps(value).encode()  # stdlib: big integers pass through to the server


RAW_BODIES = st.one_of(
    system_bodies().map(_dumps),
    system_bodies().map(_dumps),
    system_bodies().map(_dumps),
    JSON.map(_dumps),
    st.sampled_from([b'{"name": "\\ud800", "x": 0, "y": 0, "z": 0}', b'{"x": NaN}', b'{"version": 1e400}',
                     b'{"name": "n", "x": 0, "y": 0, "z": 0, "version": 123456789012345678901234567890}']),
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
CONTENT_TYPES = st.sampled_from(["application/json"] * 6 + ["application/merge-patch+json", "text/plain", None])


@pytest.fixture
def fuzz_client(store):
    seed(store, 12)
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        yield c


def assert_json_4xx_or_ok(r):
    event(f"status {r.status_code}")
    assert r.status_code < 500, (r.status_code, r.request.method, str(r.request.url), r.text[:500])
    if r.status_code != 204:
        assert r.headers["content-type"].startswith("application/json"), r.headers
        r.json()


@FUZZ
@given(route=st.sampled_from(GET_ROUTES), params=st.dictionaries(st.sampled_from(PARAM_NAMES), VALUES, max_size=6))
def test_random_query_strings(fuzz_client, route, params):
    assert_json_4xx_or_ok(fuzz_client.get(route, params=params))


@FUZZ
@given(route=st.sampled_from(GET_ROUTES), raw=st.text(max_size=60))
def test_random_raw_query_strings(fuzz_client, route, raw):
    # keep '=', '&' and '%' so broken escapes like %zz and %ff reach the server
    assert_json_4xx_or_ok(fuzz_client.get(route + "?" + quote(raw, safe="=&%")))


@FUZZ
@given(
    base=st.sampled_from(["/api/v1/systems/", "/api/v1/systems/by-name/", "/api/systems/", "/api/regions/"]),
    segment=st.text(max_size=40),
    raw_escapes=st.booleans(),
)
def test_random_path_segments(fuzz_client, base, segment, raw_escapes):
    encoded = quote(segment, safe="%" if raw_escapes else "")
    path = base + encoded.replace(".", "%2E")
    if base == "/api/regions/":
        path += "/systems"
    for method in ("GET", "DELETE") if base == "/api/v1/systems/" else ("GET",):
        assert_json_4xx_or_ok(fuzz_client.request(method, path))


@FUZZ
@given(
    method=st.sampled_from(["POST", "PUT", "PATCH"]),
    raw=RAW_BODIES,
    content_type=CONTENT_TYPES,
    if_match=st.one_of(st.none(), st.sampled_from(['"1"', '"2"', "*", "W/\"1\"", "x", '""', "-1", "99999999999999999999"])),
)
def test_random_bodies_never_500_and_rejections_change_nothing(store, fuzz_client, method, raw, content_type, if_match):
    target = store.page("Haven", limit=1).items[0]["id"]
    path = "/api/v1/systems" if method == "POST" else f"/api/v1/systems/{target}"
    headers = {}
    if content_type:
        headers["content-type"] = content_type
    if if_match is not None:
        headers["if-match"] = if_match
    before = dump(store)
    r = fuzz_client.request(method, path, content=raw, headers=headers)
    assert_json_4xx_or_ok(r)
    if r.status_code >= 400:
        assert dump(store) == before, (r.status_code, r.text)
        err = r.json()["error"]
        assert {"code", "message", "field"} <= set(err)


@FUZZ
@given(version=st.one_of(st.integers(0, 4), st.integers(), st.text(max_size=12)), if_match=st.one_of(st.none(), st.text(max_size=12)))
def test_random_deletes_change_nothing_unless_accepted(store, fuzz_client, version, if_match):
    target = store.page("Haven", limit=1).items[0]["id"]
    headers = {"if-match": if_match} if if_match is not None and if_match.isascii() and if_match.isprintable() else {}
    before = dump(store)
    r = fuzz_client.delete(f"/api/v1/systems/{target}", params={"version": str(version)}, headers=headers)
    assert_json_4xx_or_ok(r)
    if r.status_code >= 400:
        assert dump(store) == before
    else:  # put something back so later examples still have a target
        store.create("Haven", validate_system({"name": f"refill {target}", "x": 0, "y": 0, "z": 0}))
