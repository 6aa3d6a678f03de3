"""Strict input: repeated JSON keys, integers beyond 64 bits, ``version`` as a JSON integer,
station percentages in range, and query strings that must be UTF-8. Each refusal is a 4xx
naming what was wrong, and changes nothing stored."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from apihelpers import FULL_SYSTEM, dump
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from haven.api.common import parse_json_body
from haven.errors import InvalidInput
from haven.model import INT64_MAX, PERCENT_MAX, PERCENT_MIN

JSON_TYPE = {"content-type": "application/json"}
BASE = {"name": "Strict", "x": 1.0, "y": 2.0, "z": 3.0}
BIG = "123456789012345678901234567890"  # 97 bits: orjson reads it as a float


def v1_error(r: Any, status: int, field: str | None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] == field, err
    return err


def send(client: Any, method: str, path: str, raw: bytes | str, **headers: str) -> Any:
    body = raw.encode() if isinstance(raw, str) else raw
    return client.request(method, path, content=body, headers={**JSON_TYPE, **headers})


@pytest.fixture
def existing(client, store) -> dict[str, Any]:
    """One stored system (with a station) to PUT, PATCH and DELETE."""
    r = client.post("/api/v1/systems", json=FULL_SYSTEM)
    assert r.status_code == 201, r.text
    return r.json()


def refused(client, store, method: str, path: str, raw: bytes | str, field: str | None, **headers: str) -> str:
    """Send a write that must be a 400 naming ``field``; nothing stored may change. Answers the message."""
    before = dump(store)
    err = v1_error(send(client, method, path, raw, **headers), 400, field)
    assert dump(store) == before
    return err["message"]


# -- 1. repeated keys ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "key"),
    [
        ('{"name":"A","name":"B","x":0,"y":0,"z":0}', "name", "name"),
        ('{"name" : "A", "x" : 0, "y" : 0, "z" : 0, "name" : "B"}', "name", "name"),  # space before the colon
        ('{"name":"A","n\\u0061me":"B","x":0,"y":0,"z":0}', "name", "name"),  # same key, spelled with an escape
        ('{"name":"A","x":0,"y":0,"z":0,"created_at":"2025-01-01T10:00:00Z","x":5}', "x", "x"),  # colons in text
        ('{"name":"A","x":0,"y":0,"z":0,"planets":[{"name":"P"},{"name":"Q","moons":'
         '[{"name":"m","notes":"a","notes":"b"}]}]}', "planets[1].moons[0].notes", "notes"),
        ('{"name":"A","x":0,"y":0,"z":0,"extra":{"k":1,"k":1}}', "extra.k", "k"),
        ('{"name":"A","x":0,"y":0,"z":0,"space_station":{"name":"S","race":"Gek","race":"Korvax"}}',
         "space_station.race", "race"),
    ],
)
def test_a_repeated_key_is_400_naming_it(client, store, raw, field, key):
    message = refused(client, store, "POST", "/api/v1/systems", raw, field)
    assert f'"{key}" appears more than once' in message


def test_a_repeated_key_is_refused_by_put_and_patch(client, store, existing):
    path = f"/api/v1/systems/{existing['id']}"
    refused(client, store, "PATCH", path, '{"fauna":"a","version":1,"version":2}', "version")
    refused(client, store, "PUT", path, '{"name":"N","x":0,"y":0,"z":0,"fauna":"a","fauna":"b"}', "fauna")


@pytest.mark.parametrize(
    "raw",
    [
        '{"name":"A","x":0,"y":0,"z":0,"extra":{"a:b":"c:d","\\\\":":"}}',
        '{"name":"A","x":0,"y":0,"z":0,"attributes":"say \\"hi\\": twice","created_at":"2025-01-01T10:00:00Z"}',
        '{"name" : "A" , "x" : 0 , "y" : 0 , "z" : 0 , "extra" : {"id" : "1234567890123456789012"}}',
        json.dumps({**FULL_SYSTEM, "name": "A"}, indent=2),
    ],
)
def test_bodies_without_repeats_are_accepted_however_they_are_spelled(client, raw):
    r = send(client, "POST", "/api/v1/systems", raw)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "A"


_KEYS = st.sampled_from(["a", "b", "a:b", 'q"', "\\", "é", "name"])
_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["", ":", '":', " : ", "12:30:00", "9" * 20]),
)
_PAIRS = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.lists(st.tuples(_KEYS, inner), max_size=4)),
    max_leaves=12,
)


def _text(value: Any, colon: str, comma: str) -> str:
    """JSON text where a list of (key, value) pairs is an object, so keys can repeat."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        pairs = (json.dumps(k, ensure_ascii=False) + colon + _text(v, colon, comma) for k, v in value)
        return "{" + comma.join(pairs) + "}"
    if isinstance(value, list):
        return "[" + comma.join(_text(v, colon, comma) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _has_repeats(value: Any) -> bool:
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        keys = [k for k, _ in value]
        return len(set(keys)) < len(keys) or any(_has_repeats(v) for _, v in value)
    return isinstance(value, list) and any(_has_repeats(v) for v in value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_PAIRS, colon=st.sampled_from([":", ": ", " : ", "\n:"]), comma=st.sampled_from([",", ", ", ",\n "]))
def test_the_fast_parse_agrees_with_an_exact_one(doc, colon, comma):
    """orjson plus the cheap key count never misses a repeated key, and integers stay exact."""
    raw = _text(doc, colon, comma).encode()
    if _has_repeats(doc):
        with pytest.raises(InvalidInput, match="appears more than once"):
            parse_json_body(raw)
    else:
        assert parse_json_body(raw) == json.loads(raw)


# -- 2. integers beyond 64 bits, infinity, NaN -------------------------------------------


@pytest.mark.parametrize(
    ("extra_json", "field"),
    [
        (f'"fauna": {BIG}', "fauna"),
        (f'"glyph": -{BIG}', "glyph"),
        ('"legacy_id": 18446744073709551616', "legacy_id"),  # 2**64: the first one orjson makes a float
        ('"region": -9223372036854775809', "region"),
        (f'"planets": [{{"name": "P", "notes": {BIG}}}]', "planets[0].notes"),
        (f'"extra": {{"n": {BIG}}}', "extra"),
        ('"extra": {"n": [1, 18446744073709551616]}', "extra"),
        (f'"version": {BIG}', "version"),
    ],
)
def test_an_integer_beyond_64_bits_is_400_naming_the_field(client, store, extra_json, field):
    raw = orjson.dumps(BASE)[:-1] + b", " + extra_json.encode() + b"}"
    refused(client, store, "POST", "/api/v1/systems", raw, field)


@pytest.mark.parametrize("number", ["1" + "0" * 400, "-1" + "0" * 309, "1e400", "-2.5e999", "9" * 5000])
def test_a_number_no_double_holds_is_400_and_says_where(client, store, number):
    raw = f'{{"name": "Huge", "x": 0, "y": 0, "z": 0, "space_station": {{"name": "S", "x": 0, "y": {number}}}}}'
    message = refused(client, store, "POST", "/api/v1/systems", raw, "body")
    assert "space_station.y is a number too large" in message


def test_a_float_field_takes_a_long_integer_as_a_float(client):
    raw = f'{{"name": "Far", "x": 0, "y": 0, "z": 0, "space_station": {{"name": "S", "x": {BIG}}}}}'
    r = send(client, "POST", "/api/v1/systems", raw)
    assert r.status_code == 201, r.text
    assert r.json()["space_station"]["x"] == float(BIG)


def test_integers_inside_64_bits_are_kept_exactly(client):
    raw = '{"name": "Edge", "x": 0, "y": 0, "z": 0, "fauna": 9223372036854775807, "flora": -9223372036854775808, ' \
          '"extra": {"max": 9223372036854775807, "min": -9223372036854775808}}'
    r = send(client, "POST", "/api/v1/systems", raw)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["fauna"], body["flora"]) == ("9223372036854775807", "-9223372036854775808")
    assert body["extra"] == {"max": 2**63 - 1, "min": -(2**63)}


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e400", "-1e400"])
def test_infinity_and_nan_are_refused(client, store, number):
    refused(client, store, "POST", "/api/v1/systems", f'{{"name": "Inf", "x": {number}, "y": 0, "z": 0}}', "body")


# -- 3. version is a JSON integer --------------------------------------------------------


@pytest.mark.parametrize("version", ['"1"', "true", "false", "1.0", '"W/1"', str(INT64_MAX + 1), "0", "-1"])
def test_a_version_that_is_not_a_json_integer_in_range_is_400(client, store, existing, version):
    path = f"/api/v1/systems/{existing['id']}"
    message = refused(client, store, "PATCH", path, f'{{"fauna": "x", "version": {version}}}', "version")
    assert message.startswith("version: must be")
    for method, url, name in (("PUT", path, FULL_SYSTEM["name"]), ("POST", "/api/v1/systems", "New")):
        whole = orjson.dumps({**BASE, "name": name}).decode()[:-1] + f', "version": {version}}}'
        refused(client, store, method, url, whole, "version")


def test_a_body_version_of_true_is_not_taken_for_if_match_1(client, store, existing):
    refused(client, store, "PATCH", f"/api/v1/systems/{existing['id']}", '{"fauna": "x", "version": true}',
            "version", **{"If-Match": '"1"'})


def test_an_integer_version_still_works(client, existing):
    r = send(client, "PATCH", f"/api/v1/systems/{existing['id']}", '{"fauna": "x", "version": 1}')
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = send(client, "PATCH", f"/api/v1/systems/{existing['id']}", '{"fauna": "y", "version": 1}')
    assert stale.status_code == 409


@pytest.mark.parametrize("header", [f'"{INT64_MAX + 1}"', '"99999999999999999999999"', '"0"', '"true"', '"1.0"'])
def test_if_match_out_of_range_is_400(client, store, existing, header):
    refused(client, store, "PATCH", f"/api/v1/systems/{existing['id']}", '{"fauna": "x"}', "If-Match",
            **{"If-Match": header})


@pytest.mark.parametrize("version", ["true", "1.0", "+1", "1e0", "", str(INT64_MAX + 1), "%FF"])
def test_delete_version_must_be_an_integer_in_range(client, store, existing, version):
    before = dump(store)
    r = client.delete(f"/api/v1/systems/{existing['id']}?version={version}")
    v1_error(r, 400, "version")
    assert dump(store) == before


# -- 4. station percentages ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["sell_percent", "buy_percent"])
@pytest.mark.parametrize("value", ["-101", "-100.5", "1000.5", "1e300", "-5000", BIG, "true", '"50"'])
def test_a_percentage_out_of_range_is_400(client, store, existing, field, value):
    station = f'"space_station": {{"name": "S", "{field}": {value}}}'
    raw = orjson.dumps(BASE).decode()[:-1] + ", " + station + "}"
    refused(client, store, "POST", "/api/v1/systems", raw, f"space_station.{field}")
    refused(client, store, "PATCH", f"/api/v1/systems/{existing['id']}", "{" + station + "}",
            f"space_station.{field}")


def test_percentages_real_data_uses_are_accepted(client):
    """The legacy data has a station selling at 80 % and buying at 120 %; scans give changes such as -40 %."""
    for i, (sell, buy) in enumerate([(80, 120), (PERCENT_MIN, PERCENT_MAX), (12.5, None), (-40, 5.5)]):
        body = {**BASE, "name": f"Trade {i}", "space_station": {"name": "S", "sell_percent": sell, "buy_percent": buy}}
        r = client.post("/api/v1/systems", json=body)
        assert r.status_code == 201, r.text
        assert (r.json()["space_station"]["sell_percent"], r.json()["space_station"]["buy_percent"]) == (sell, buy)


# -- 5. query strings must be UTF-8 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/systems?prefix=%FF", "prefix"),
        ("/api/v1/systems?limit=5&region=Euclid%E2%82", "region"),
        ("/api/v1/systems/search?q=%C3", "q"),
        ("/api/v1/systems/search?q=ok&galaxy=%C0%AF", "galaxy"),  # an overlong "/"
        ("/api/v1/stats?galaxy=%ED%A0%80", "galaxy"),  # a surrogate
        ("/api/v1/systems?%FF=1", None),
        ("/api/v1/chunks/hierarchy?galaxy=%FE", "galaxy"),
    ],
)
def test_a_query_parameter_that_is_not_utf8_is_400(module_client, url, field):
    err = v1_error(module_client.get(url), 400, field)
    assert "UTF-8" in err["message"]


@pytest.mark.parametrize("url", ["/api/systems/search?q=%C3", "/api/regions/Euclid/systems?page=%FF",
                                 "/api/systems/visible?radius=%80"])
def test_legacy_routes_refuse_it_in_their_own_shape(module_client, url):
    r = module_client.get(url)
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str) and "UTF-8" in r.json()["error"]


def test_a_write_with_a_bad_query_changes_nothing(client, store, existing):
    before = dump(store)
    v1_error(client.post("/api/v1/systems?galaxy=%FF", json={**BASE, "name": "Q"}), 400, "galaxy")
    v1_error(client.delete(f"/api/v1/systems/{existing['id']}?galaxy=%FF"), 400, "galaxy")
    assert dump(store) == before


def test_valid_escapes_and_names_in_paths_still_work(client, store):
    client.post("/api/v1/systems", json={**BASE, "name": "Åsgard"})
    r = client.get("/api/v1/systems?prefix=%C3%85")
    assert r.status_code == 200 and [s["name"] for s in r.json()["items"]] == ["Åsgard"]
    assert client.get("/api/v1/systems/search?q=%C3%A5sg+").json()["items"][0]["name"] == "Åsgard"
    assert client.get("/api/v1/systems/by-name/%C3%85sgard").status_code == 200
    assert client.get("/api/v1/systems/by-name/%FF").status_code == 400  # names in paths: as before


async def _asgi_get(app: Any, path: str, query: bytes) -> tuple[int, bytes]:
    """One GET straight through the ASGI app, with the query bytes exactly as given."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send_message(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": [],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "app": app}
    await app(scope, receive, send_message)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_raw_bytes_in_the_query_are_read_as_utf8(client, app):
    """Some clients send non-ASCII unescaped: it is UTF-8 (not Latin-1), or a 400."""
    import anyio

    client.post("/api/v1/systems", json={**BASE, "name": "Åsgard"})
    status, body = anyio.run(_asgi_get, app, "/api/v1/systems", "prefix=Å".encode())
    assert status == 200 and [s["name"] for s in orjson.loads(body)["items"]] == ["Åsgard"]
    status, body = anyio.run(_asgi_get, app, "/api/v1/systems", b"prefix=\xff")
    assert status == 400 and orjson.loads(body)["error"]["field"] == "prefix"


def test_the_chunk_socket_refuses_it_too(client):
    with client.websocket_connect("/api/v1/chunks/ws?galaxy=%FF") as ws:
        message = orjson.loads(ws.receive_text())
        assert message["type"] == "error" and message["error"]["field"] == "galaxy"
        assert "UTF-8" in message["error"]["message"]  # not a search for a galaxy named "\ufffd"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1008


def test_undo_restores_a_percentage_stored_before_the_range_was_checked(client, store):
    created = client.post("/api/v1/systems", json={**BASE, "name": "Old Post",
                                                   "space_station": {"name": "S", "buy_percent": 50}}).json()
    with store.conn:  # as a database written before the range was checked may hold it
        store.conn.execute("UPDATE space_station SET buy_percent = -4000 WHERE system_id = ?", (created["id"],))
    assert client.delete(f"/api/v1/systems/{created['id']}").status_code == 204
    r = client.post(f"/api/v1/systems/{created['id']}/undo")
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/systems/{created['id']}").json()["space_station"]["buy_percent"] == -4000


def test_undo_restores_planet_names_stored_before_they_had_to_differ(client, store):
    created = client.post("/api/v1/systems", json={**BASE, "name": "Old Names", "planets": [
        {"name": "A", "moons": [{"name": "m"}, {"name": "n"}]}, {"name": "B"}]}).json()
    with store.conn:  # as PATCH once stored them
        store.conn.execute("UPDATE planet SET name = 'A' WHERE system_id = ?", (created["id"],))
        store.conn.execute("UPDATE moon SET name = 'm'")
    edited = client.patch(f"/api/v1/systems/{created['id']}", json={"fauna": "edited today"})
    assert edited.status_code == 200, edited.text
    r = client.post(f"/api/v1/systems/{created['id']}/undo")
    assert r.status_code == 200, r.text
    got = client.get(f"/api/v1/systems/{created['id']}").json()
    assert [p["name"] for p in got["planets"]] == ["A", "A"] and got["fauna"] != "edited today"
    assert [m["name"] for m in got["planets"][0]["moons"]] == ["m", "m"]


# -- 6. number fields take JSON numbers only ---------------------------------------------------

#: Every field of a system, planet, moon or station that holds a number, by its path in a body.
NUMBER_FIELDS = ("x", "y", "z", "confidence", "planets[0].moons[0].orbit_radius", "planets[0].moons[0].orbit_speed",
                 "space_station.x", "space_station.y", "space_station.z", "space_station.sell_percent",
                 "space_station.buy_percent")


def _body_with(path: str, raw_value: str) -> str:
    """A whole system (with a moon and a station) whose field at ``path`` holds ``raw_value`` (JSON text)."""
    body: dict[str, Any] = {**BASE, "planets": [{"name": "P", "moons": [{"name": "m"}]}],
                            "space_station": {"name": "S"}}
    *parents, last = path.replace("[0]", ".0").split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = "@value@"
    return orjson.dumps(body).decode().replace('"@value@"', raw_value)


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("raw_value", ["true", "false", '"0.5"', '"1"'])
def test_a_number_field_refuses_true_false_and_text(client, store, existing, field, raw_value):
    """As the JSONL importer does: ``true`` is not 1 and ``"0.5"`` is not 0.5 (confidence took both)."""
    raw = _body_with(field, raw_value)
    for method, path in (("POST", "/api/v1/systems"), ("PUT", f"/api/v1/systems/{existing['id']}"),
                         ("PATCH", f"/api/v1/systems/{existing['id']}")):
        message = refused(client, store, method, path, raw, field)
        assert message.startswith(f"{field}: must be a number, not "), (method, message)


@pytest.mark.parametrize("confidence", [0, 1, 0.5, None])
def test_a_confidence_that_is_a_json_number_from_0_to_1_is_kept(client, existing, confidence):
    r = client.post("/api/v1/systems", json={**BASE, "confidence": confidence})
    assert r.status_code == 201, r.text
    assert r.json()["confidence"] == confidence
    r = client.patch(f"/api/v1/systems/{existing['id']}", json={"confidence": confidence})
    assert r.status_code == 200 and r.json()["confidence"] == confidence


# -- 7. a query parameter is given once ----------------------------------------------------


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/systems?limit=10&limit=20", "limit"),
    ("/api/v1/systems?limit=10&limit=10", "limit"),  # the same value twice too: one rule, no guessing
    ("/api/v1/systems?%6Cimit=10&limit=20", "limit"),  # the same name, spelled with an escape
    ("/api/v1/systems?region=&region=Euclid", "region"),
    ("/api/v1/systems/search?q=a&limit=5&q=b", "q"),
    ("/api/v1/systems/near?x=0&y=0&z=0&radius=1&x=5", "x"),
    ("/api/v1/stats?galaxy=Haven&galaxy=Haven", "galaxy"),
    ("/api/v1/chunks/changes?since=0&since=3", "since"),
    ("/api/v1/systems?cursor&cursor", "cursor"),
])
def test_a_repeated_query_parameter_is_400_naming_it(module_client, url, field):
    err = v1_error(module_client.get(url), 400, field)
    assert err["message"] == f"{field}: is given more than once; send each query parameter once"


def test_a_write_with_a_repeated_parameter_changes_nothing(client, store, existing):
    before = dump(store)
    v1_error(client.post("/api/v1/systems?galaxy=Haven&galaxy=Haven", json={**BASE, "name": "Twice"}), 400, "galaxy")
    v1_error(client.delete(f"/api/v1/systems/{existing['id']}?version=1&version=1"), 400, "version")
    v1_error(client.patch(f"/api/v1/systems/{existing['id']}?galaxy=Haven&galaxy=Nope", json={"fauna": "x"}),
             400, "galaxy")
    assert dump(store) == before


def test_parameters_given_once_still_work_and_legacy_routes_are_unchanged(module_client):
    assert module_client.get("/api/v1/systems?limit=10&region=&prefix=A&galaxy=Haven").status_code == 200
    assert module_client.get("/api/systems/search?q=a&q=b").status_code == 200  # the original API's rules


def test_the_chunk_socket_refuses_a_repeated_parameter(client):
    with client.websocket_connect("/api/v1/chunks/ws?galaxy=Haven&galaxy=Haven") as ws:
        ws.send_text('{"type": "subscribe"}')  # answered "subscribed" if the socket had taken the galaxy
        message = orjson.loads(ws.receive_text())
        assert message["type"] == "error" and message["error"]["field"] == "galaxy"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1008


def test_no_v1_route_takes_a_list_in_its_query(module_client):
    """Every /api/v1 query parameter holds one value, so refusing repeats loses nothing."""
    schema = module_client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if path.startswith("/api/v1") and parameter["in"] == "query":
                    types = [parameter["schema"].get("type"), *(s.get("type") for s in
                                                                parameter["schema"].get("anyOf", []))]
                    assert "array" not in types, (path, parameter["name"])
