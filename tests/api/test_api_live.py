"""The chunk WebSocket: chunk requests, subscriptions, and bad messages that never drop the socket."""

from __future__ import annotations

import gzip
import logging
import struct
import sys
from typing import Any

import orjson
import pytest
from starlette.websockets import WebSocketDisconnect

from haven.api import live
from haven.chunks import decode_chunk
from haven.model import validate_system

WS = "/api/v1/chunks/ws"


def send(ws: Any, message: dict[str, Any]) -> None:
    ws.send_text(orjson.dumps(message).decode())


def receive(ws: Any) -> dict[str, Any] | tuple[dict[str, Any], bytes]:
    """A text message as a dict, or a binary chunk_data frame as (header, body)."""
    frame = ws.receive()
    if frame.get("text") is not None:
        return orjson.loads(frame["text"])
    data = frame["bytes"]
    (n,) = struct.unpack_from("<I", data)
    return orjson.loads(data[4:4 + n]), data[4 + n:]


def test_chunk_request_answers_the_same_bytes_as_http(client, map_galaxy):
    nodes = client.get("/api/v1/chunks/hierarchy", params={"galaxy": map_galaxy, "depth": 1}).json()["nodes"]
    wanted = [[n["level"], n["cell"]] for n in nodes][:3]
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "chunk_request", "id": "first", "chunks": wanted})
        for level, cell in wanted:
            header, body = receive(ws)
            assert header["type"] == "chunk_data" and header["id"] == "first"
            assert (header["level"], header["cell"], header["encoding"]) == (level, cell, "gzip")
            over_http = client.get(f"/api/v1/chunks/{level}/{cell}", params={"galaxy": map_galaxy})
            assert gzip.decompress(body) == over_http.content
            assert header["version"] == int(over_http.headers["etag"].removeprefix('W/"').rstrip('"'))
            assert decode_chunk(gzip.decompress(body), (0.0, 0.0, 0.0), 8192.0).count == header["count"]
        assert receive(ws) == {"type": "done", "id": "first"}


def test_a_chunk_the_client_holds_is_not_sent_again(client, map_galaxy):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "chunk_request", "chunks": [[0, 0]], "encoding": "identity"})
        header, body = receive(ws)
        assert header["encoding"] == "identity" and body.startswith(b"CHNK")
        assert receive(ws)["type"] == "done"
        send(ws, {"type": "chunk_request", "id": 2, "chunks": [[0, 0, header["version"]]]})
        assert receive(ws) == {"type": "chunk_current", "id": 2, "level": 0, "cell": 0,
                               "version": header["version"], "count": header["count"]}
        assert receive(ws) == {"type": "done", "id": 2}


def test_a_missing_node_is_an_error_naming_it_and_the_rest_still_come(client, map_galaxy):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "chunk_request", "id": 9, "chunks": [[0, 0], [7, 12345], [0, 0]]})
        assert receive(ws)[0]["level"] == 0
        error = receive(ws)
        assert error["type"] == "error" and error["id"] == 9
        assert error["error"]["code"] == "not_found" and error["error"]["field"] == "chunks[1]"
        assert receive(ws)[0]["level"] == 0
        assert receive(ws)["type"] == "done"


@pytest.mark.parametrize("message, field", [
    ("not json", "message"),
    ("[1, 2]", "message"),
    ('{"kind": "chunk_request"}', "type"),
    ('{"type": "teleport"}', "type"),
    ('{"type": "chunk_request", "chunks": []}', "chunks"),
    ('{"type": "chunk_request", "chunks": [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0],'
     ' [0, 0], [0, 0], [0, 0], [0, 0], [0, 0]]}', "chunks"),
    ('{"type": "chunk_request", "chunks": [[0]]}', "chunks[0]"),
    ('{"type": "chunk_request", "chunks": [["a", 0]]}', "chunks[0][0]"),
    ('{"type": "chunk_request", "chunks": [[0, 0, 1, 2]]}', "chunks[0]"),
    ('{"type": "chunk_request", "chunks": [[0, 0]], "encoding": "br"}', "encoding"),
    ('{"type": "chunk_request", "chunks": [[0, 0]], "colour": "red"}', "colour"),
    ('{"type": "chunk_request", "chunks": [[0, 0]], "id": {"nested": 1}}', "id"),
    ('{"type": "chunk_request", "chunks": [[0, 0, 0]]}', "chunks[0]"),
    ('{"type": "chunk_request", "chunks": [[0, 0, 1], [0, 0, -5]]}', "chunks[1]"),
    ('{"type": "chunk_request", "chunks": [[0, 0, 99999999999999999999999]]}', "chunks[0]"),
    ('{"type": "subscribe", "since": -1}', "since"),
    ('{"type": "subscribe", "since": true}', "since"),
    ('{"type": "subscribe", "since": "3"}', "since"),
    ('{"type": "subscribe", "since": 2.0}', "since"),
    ('{"type": "subscribe", "box": {"min_ly": ["1", 0, 0], "max_ly": [1, 1, 1]}}', "box.min_ly[0]"),
    ('{"type": "subscribe", "box": {"min_ly": [0, 0, 0], "max_ly": [true, 1, 1]}}', "box.max_ly[0]"),
    ('{"type": "subscribe", "box": {"min_ly": [0, 0, null], "max_ly": [1, 1, 1]}}', "box.min_ly[2]"),
    ('{"type": "subscribe", "box": {"min_ly": [0, 0, 0], "max_ly": [-1, 5, 5]}}', "box"),
    ('{"type": "subscribe", "box": {"min_ly": [0, 0], "max_ly": [1, 1, 1]}}', "box.min_ly[2]"),
    ('{"type": "chunk_request", "chunks": [[0, 0]], "id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}', "id"),
    # a key repeated in an object: refused as in an HTTP body, never the last value silently
    ('{"type": "subscribe", "type": "unsubscribe"}', "type"),
    ('{"type": "chunk_request", "chunks": [[0, 0]], "id": 1, "id": 2}', "id"),
    ('{"type": "chunk_request", "chunks": [[0, 0]], "encoding": "identity", "encoding": "gzip"}', "encoding"),
    ('{"type": "subscribe", "box": {"min_ly": [0, 0, 0], "max_ly": [1, 1, 1], "min_ly": [-9, -9, -9]}}',
     "box.min_ly"),
    ('{"type": "subscribe", "since": 0, "s\\u0069nce": 5}', "since"),  # the same key, spelled with an escape
])
def test_bad_messages_answer_an_error_and_the_socket_stays_open(client, map_galaxy, message, field):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        ws.send_text(message)
        answer = receive(ws)
        assert answer["type"] == "error" and answer["error"]["code"] == "invalid"
        assert answer["error"]["field"] == field, answer
        send(ws, {"type": "chunk_request", "chunks": [[0, 0]]})
        assert receive(ws)[0]["type"] == "chunk_data"


def test_since_and_box_are_held_to_the_types_of_an_http_body(client, map_galaxy):
    """Text, true/false and decimals are refused, not coerced; integers are fine as coordinates."""
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "subscribe", "since": "3"})
        assert receive(ws)["error"]["message"] == (
            "since: must be a JSON integer such as 41 (not text, true/false or a decimal)")
        send(ws, {"type": "subscribe", "box": {"min_ly": ["1", 0, 0], "max_ly": [1, 1, 1]}})
        assert receive(ws)["error"]["message"] == "box.min_ly[0]: must be a number, not text"
        send(ws, {"type": "subscribe", "box": {"min_ly": [0, 0, 0], "max_ly": [False, 1, 1]}})
        assert receive(ws)["error"]["message"] == "box.max_ly[0]: must be a number, not true/false"
        ws.send_text('{"type": "subscribe", "since": 0, "box": {"min_ly": [-1, -1.5, 0], "max_ly": [1, 1, 1' + "0" * 30 + ']}}')
        assert receive(ws)["type"] == "subscribed"


def test_a_repeated_key_is_named_as_the_http_body_parser_names_it(client, map_galaxy):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        ws.send_text('{"type": "subscribe", "box": {"min_ly": [0, 0, 0], "max_ly": [1, 1, 1], "max_ly": [2, 2, 2]}}')
        assert receive(ws)["error"] == {
            "code": "invalid", "field": "box.max_ly",
            "message": 'box.max_ly: the key "max_ly" appears more than once in the object at box; send each key once'}
        ws.send_text('{"type": "subscribe", "type": "subscribe"}')  # even when both say the same
        assert receive(ws)["error"]["field"] == "type"
        send(ws, {"type": "subscribe"})
        assert receive(ws)["type"] == "subscribed"  # the socket is still open


@pytest.mark.parametrize("request_id", [7, "tile-batch-3"])
def test_a_message_that_fails_validation_is_answered_with_its_id(client, map_galaxy, request_id):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "chunk_request", "id": request_id, "chunks": [[0, 0]] * 11})
        answer = receive(ws)
        assert answer["type"] == "error" and answer["id"] == request_id and answer["error"]["field"] == "chunks"
        send(ws, {"type": "chunk_request", "id": [request_id], "chunks": []})  # an id that cannot be echoed
        assert "id" not in receive(ws)
        send(ws, {"type": "subscribe", "galaxy": "x"})
        assert receive(ws)["error"]["message"] == "galaxy: is not a known field"  # no 'extra' in messages


@pytest.mark.parametrize("message", [{"type": "nope", "id": 14}, {"id": 14}, {"type": 3, "id": 14}])
def test_a_message_of_no_known_type_is_answered_with_its_id(client, map_galaxy, message):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, message)
        answer = receive(ws)
        assert answer["id"] == 14 and answer["error"]["field"] == "type"


def test_the_smallest_64_bit_id_is_echoed(client, map_galaxy):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "chunk_request", "id": -(2**63), "chunks": [[0, 0]]})
        header, _ = receive(ws)  # the chunk, then done
        assert header["id"] == -(2**63) and receive(ws) == {"type": "done", "id": -(2**63)}


def test_out_of_range_nodes_and_binary_and_oversized_frames_are_errors(client, map_galaxy):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "chunk_request", "chunks": [[22, 0], [1, 8]]})
        for _ in range(2):
            answer = receive(ws)
            assert answer["error"]["code"] == "invalid" and answer["error"]["field"].startswith("chunks[")
        assert receive(ws)["type"] == "done"
        ws.send_bytes(b"\x00\x01")
        assert receive(ws)["error"]["field"] == "message"
        ws.send_text('{"type": "subscribe", "pad": "' + "x" * live.MAX_MESSAGE_BYTES + '"}')
        assert "at most" in receive(ws)["error"]["message"]
        send(ws, {"type": "chunk_request", "chunks": [[0, 0]]})
        assert receive(ws)[0]["type"] == "chunk_data"


def test_an_unknown_galaxy_is_said_then_the_socket_closes(client, map_galaxy):
    with client.websocket_connect(f"{WS}?galaxy=Nowhere") as ws:
        answer = receive(ws)
        assert answer["error"]["code"] == "not_found" and answer["error"]["field"] == "galaxy"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008


def test_a_subscriber_hears_which_nodes_an_edit_changed(client, map_galaxy, store):
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "subscribe"})
        subscribed = receive(ws)
        assert subscribed["type"] == "subscribed" and subscribed["galaxy"] == map_galaxy
        clock = subscribed["clock"]
        r = client.post("/api/v1/systems", params={"galaxy": map_galaxy},
                        json={"name": "Newcomer", "x": 10.0, "y": 20.0, "z": 30.0})
        assert r.status_code == 201
        update = receive(ws)
        assert update["type"] == "chunk_updated" and update["total_systems"] == 201
        assert update["clock"] > clock
        feed = client.get("/api/v1/chunks/changes", params={"galaxy": map_galaxy, "since": clock}).json()
        assert update["nodes"] == feed["nodes"] and update["clock"] == feed["clock"]
        send(ws, {"type": "unsubscribe"})
        assert receive(ws) == {"type": "unsubscribed"}
        assert client.app.state.change_hub.listener_count() == 0


def test_a_box_keeps_changes_elsewhere_away(client, map_galaxy):
    far_corner = {"min_ly": [7000.0, 7000.0, 7000.0], "max_ly": [8000.0, 8000.0, 8000.0]}
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "subscribe", "box": far_corner})
        assert receive(ws)["type"] == "subscribed"
        near = client.post("/api/v1/systems", params={"galaxy": map_galaxy}, json={"name": "Near", "x": -2000.0, "y": -2000.0, "z": 0.0})
        assert near.status_code == 201
        far = client.post("/api/v1/systems", params={"galaxy": map_galaxy}, json={"name": "Far", "x": 7500.0, "y": 7500.0, "z": 7500.0})
        assert far.status_code == 201
        update = receive(ws)  # the first message is about the far edit: the near one was filtered out
        assert update["type"] == "chunk_updated"
        hub = client.app.state.change_hub
        cube = hub._cubes[map_galaxy]
        box = live.Box(tuple(far_corner["min_ly"]), tuple(far_corner["max_ly"]))
        assert update["nodes"] and all(box.touches_node(cube, n["level"], n["cell"]) for n in update["nodes"])
        assert update["total_systems"] == 202


def test_subscribing_with_an_old_clock_catches_up_first(client, map_galaxy):
    clock = client.get("/api/v1/chunks/hierarchy", params={"galaxy": map_galaxy}).json()["clock"]
    r = client.post("/api/v1/systems", params={"galaxy": map_galaxy}, json={"name": "Missed", "x": 1.0, "y": 2.0, "z": 3.0})
    assert r.status_code == 201
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "subscribe", "since": clock})
        first, second = receive(ws), receive(ws)
        messages = {first["type"]: first, second["type"]: second}
        assert set(messages) == {"subscribed", "chunk_updated"}
        assert messages["chunk_updated"]["nodes"] and messages["chunk_updated"]["clock"] > clock


def test_a_feed_too_long_to_list_says_resync(client, map_galaxy, monkeypatch):
    monkeypatch.setattr("haven.chunks.live.FEED_NODES_PER_ROUND", 1)
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        send(ws, {"type": "subscribe"})
        assert receive(ws)["type"] == "subscribed"
        r = client.post("/api/v1/systems", params={"galaxy": map_galaxy}, json={"name": "Many", "x": 10.0, "y": 20.0, "z": 30.0})
        assert r.status_code == 201
        answer = receive(ws)
        assert answer["type"] == "resync" and answer["clock"] >= 1


def test_a_real_server_pushes_writes_made_by_another_process(tmp_path):
    """uvicorn in a child process, a real WebSocket client, and a write through another connection."""
    from websockets.sync.client import connect

    from haven.bench.operations import http_server
    from haven.config import DatabaseUrl
    from haven.store import init_store

    db = tmp_path / "haven.db"
    writer = init_store(DatabaseUrl("sqlite", str(db)))
    writer.ensure_galaxy("Haven", half_size_ly=8192.0, lod_capacity=25)
    writer.import_systems("Haven", [validate_system({"name": f"S{i}", "x": 40.0 * i - 2000, "y": 0.0, "z": 0.0})
                                    for i in range(100)])
    try:
        with http_server(db, "Haven") as (base, _), connect(base.replace("http", "ws") + WS) as ws:
            ws.send(orjson.dumps({"type": "chunk_request", "id": 1, "chunks": [[0, 0]]}).decode())
            frame = ws.recv(timeout=10)
            assert isinstance(frame, bytes)
            (n,) = struct.unpack_from("<I", frame)
            assert orjson.loads(frame[4:4 + n])["count"] == 25
            assert orjson.loads(ws.recv(timeout=10)) == {"type": "done", "id": 1}
            ws.send('{"type": "subscribe"}')
            clock = orjson.loads(ws.recv(timeout=10))["clock"]
            writer.create("Haven", validate_system({"name": "From elsewhere", "x": 5.0, "y": 6.0, "z": 7.0}))
            update = orjson.loads(ws.recv(timeout=10))
            assert update["type"] == "chunk_updated" and update["clock"] > clock
            assert update["total_systems"] == 101
            ws.send("{")
            assert orjson.loads(ws.recv(timeout=10))["error"]["field"] == "message"
    finally:
        writer.close()


def test_a_message_nested_too_deep_is_refused_by_its_depth(client, map_galaxy):
    """Valid JSON, but deeper than any message needs (and than an HTTP body may be): the
    error says so, rather than what the exact reader's recursion would say."""
    deep = "[" * 1000 + '{"a": 1, "a": 2}' + "]" * 1000
    with client.websocket_connect(f"{WS}?galaxy={map_galaxy}") as ws:
        ws.send_text('{"type": "subscribe", "x": ' + deep + "}")
        assert receive(ws)["error"] == {"code": "invalid", "field": "message",
                                        "message": "the message is nested deeper than 64 levels"}
        send(ws, {"type": "subscribe"})
        assert receive(ws)["type"] == "subscribed"


def test_a_text_frame_that_is_not_utf8_is_one_warning_not_a_traceback(client):
    """uvicorn closes such a socket with 1007 itself; the app's startup words its log line."""
    logger = logging.getLogger("uvicorn.error")
    assert any(isinstance(f, live.BadTextFrames) for f in logger.filters)  # installed as the app started
    try:
        b"\xff".decode()
    except UnicodeDecodeError:
        exc_info = sys.exc_info()
    record = logger.makeRecord("uvicorn.error", logging.ERROR, __file__, 1, live.BadTextFrames.MESSAGE, (), exc_info)
    assert live.BadTextFrames().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None and "1007" in record.getMessage()
    other = logger.makeRecord("uvicorn.error", logging.ERROR, __file__, 1, "something else", (), exc_info)
    live.BadTextFrames().filter(other)
    assert other.levelno == logging.ERROR and other.exc_info is exc_info  # other errors untouched
