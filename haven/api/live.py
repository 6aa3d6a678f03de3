"""The chunk WebSocket: fetch octree nodes and hear when they change, on one socket.

    WS /api/v1/chunks/ws?galaxy=NAME

Client messages are JSON text frames of at most :data:`MAX_MESSAGE_BYTES`; a longer
one (text or binary) answers an ``error`` naming the limit and the socket stays open.
``haven serve`` reads no message over :data:`MAX_FRAME_BYTES` at all: uvicorn ends the
socket with close code 1009 (message too big) and a reason naming that limit.

- ``{"type": "chunk_request", "id": 7, "chunks": [[level, cell], [level, cell, version]], "encoding": "gzip"}``
  at most :data:`MAX_CHUNKS_PER_REQUEST` nodes. Each node answers one binary
  ``chunk_data`` frame, or a ``chunk_current`` text frame when the client named
  the version it holds and that is still the node's version (HTTP's 304), or an
  ``error`` naming the node; then ``{"type": "done", "id": 7}``.
- ``{"type": "subscribe", "box": {"min_ly": [x, y, z], "max_ly": [x, y, z]}, "since": clock}``
  (both optional) answers ``subscribed`` with the clock; from then on a
  ``chunk_updated`` message lists the changed nodes that touch the box, and a
  ``resync`` says to reload the hierarchy (a bulk load, or too many changes).
  A new ``subscribe`` replaces the previous one; ``unsubscribe`` ends it.

A ``chunk_data`` frame is ``uint32 little-endian n``, ``n`` bytes of JSON header
(``type, id, level, cell, version, count, encoding``), then the chunk body
(CHNK, gzip unless ``identity`` was asked for). Bad input answers an ``error``
message shaped like the HTTP errors and the socket stays open; only an unknown
galaxy closes it (code 1008) after saying so.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import struct
from typing import Annotated, Any, Literal

import orjson
from anyio import to_thread
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from haven.api.common import MAX_BODY_BYTES, app_object, get_store, request_galaxy
from haven.chunks.live import Box, ChangeHub, Listener
from haven.chunks.service import ChunkService
from haven.errors import HavenError, InvalidInput, NotFound, StoreUnavailable
from haven.exactjson import loads_exactly
from haven.model import INT64_MAX, Coordinate, invalid_from_validation
from haven.store.sqlite import is_busy

router = APIRouter(prefix="/api/v1/chunks", tags=["chunks"])

#: The largest message the socket answers (its messages are a few hundred bytes of JSON).
MAX_MESSAGE_BYTES = 16 * 1024
#: The largest message the server reads at all (``haven serve`` gives it to uvicorn as
#: ``ws_max_size``): a bigger one closes the socket with code 1009 instead of being buffered.
#: The same bound as an HTTP body; anything between the two gets an ``error`` message.
MAX_FRAME_BYTES = MAX_BODY_BYTES
MAX_CHUNKS_PER_REQUEST = 10
_HEADER_LENGTH = struct.Struct("<I")

MAX_ID_CHARS = 64


def _held_version(ref: list[int]) -> list[int]:
    """A version the client names is one a node can have: versions start at 1 and stay below 2**63."""
    if len(ref) == 3 and not 1 <= ref[2] <= INT64_MAX:
        raise ValueError("a node's version is a whole number from 1 to 2**63 - 1")
    return ref


#: ``[level, cell]``, or ``[level, cell, version]`` naming the version the client holds.
NodeRef = Annotated[list[StrictInt], Field(min_length=2, max_length=3), AfterValidator(_held_version)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


def usable_id(value: Any) -> bool:
    """Whether a request's ``id`` can be echoed: a signed 64-bit integer or a string of at most 64 characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and len(value) <= MAX_ID_CHARS


class ChunkRequest(_Message):
    type: Literal["chunk_request"]
    id: Any = None  # echoed in the answers: a string of at most 64 characters or an integer
    chunks: list[NodeRef] = Field(min_length=1, max_length=MAX_CHUNKS_PER_REQUEST)
    encoding: Literal["gzip", "identity"] = "gzip"

    @field_validator("id")
    @classmethod
    def _plain_id(cls, value: Any) -> Any:
        if value is None or usable_id(value):
            return value
        raise ValueError(f"id must be a 64-bit integer or a string of at most {MAX_ID_CHARS} characters")


def _json_integer(value: Any) -> Any:
    """A clock is a JSON integer, as in an HTTP body: ``"3"``, ``true`` and ``3.0`` are refused, not coerced."""
    if value is not None and type(value) is not int:
        raise ValueError("must be a JSON integer such as 41 (not text, true/false or a decimal)")
    return value


#: ``since``: a clock from an earlier answer, or none.
Clock = Annotated[Annotated[int, Field(ge=0, le=INT64_MAX)] | None, BeforeValidator(_json_integer)]


class BoxIn(_Message):
    # A JSON number (an integer too), never text or true/false: the rules of a body's coordinates.
    min_ly: tuple[Coordinate, Coordinate, Coordinate]
    max_ly: tuple[Coordinate, Coordinate, Coordinate]

    @model_validator(mode="after")
    def _ordered(self) -> BoxIn:
        for axis, (lo, hi) in enumerate(zip(self.min_ly, self.max_ly)):
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError(f"box {'xyz'[axis]} bounds must be finite with min_ly ≤ max_ly")
        return self


class Subscribe(_Message):
    type: Literal["subscribe"]
    box: BoxIn | None = None
    since: Clock = None


class Unsubscribe(_Message):
    type: Literal["unsubscribe"]


MESSAGE_TYPES: dict[str, type[_Message]] = {
    "chunk_request": ChunkRequest, "subscribe": Subscribe, "unsubscribe": Unsubscribe,
}


class BadMessage(InvalidInput):
    """A frame that is not a valid message; ``request_id`` is its ``id`` when it carried a usable one."""

    def __init__(self, error: InvalidInput, request_id: int | str | None = None) -> None:
        super().__init__(error.message, field=error.field)
        self.request_id = request_id


def parse_message(text: str | None, data: bytes | None) -> _Message:
    """One client frame as a typed message; :class:`InvalidInput` names what is wrong (a key
    repeated in an object is a :class:`~haven.exactjson.RepeatedKey` naming it).

    A message that fails validation raises :class:`BadMessage`, which keeps the
    message's ``id`` (when :func:`usable_id`) so the client can tell which request failed.
    """
    size = len(data or b"") if text is None else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BYTES:  # said first, whatever the frame's type: the limit is the useful news
        raise InvalidInput(f"a message must be at most {MAX_MESSAGE_BYTES:,} bytes, not {size:,}", field="message")
    if text is None:
        raise InvalidInput("send messages as JSON text frames, not binary", field="message")
    try:  # read as an HTTP body is: a repeated key is an error naming it, integers stay exact
        value = loads_exactly(text.encode("utf-8", "surrogatepass"), what="the message")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the message is not valid JSON ({exc})", field="message") from None
    except InvalidInput as exc:
        if exc.field != "body":
            raise
        raise InvalidInput(exc.message, field="message") from None  # the exact reader's name for the whole text
    if not isinstance(value, dict):
        raise InvalidInput("a message must be a JSON object", field="message")
    request_id = value.get("id")
    echoed = request_id if usable_id(request_id) else None
    kind = value.get("type")
    model = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(MESSAGE_TYPES)
        raise BadMessage(InvalidInput(f"type must be one of {known}", field="type"), echoed)
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise BadMessage(invalid_from_validation(exc, has_extra=False), echoed) from None


def error_message(exc: HavenError, request_id: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "error", "error": exc.to_dict()}
    if request_id is not None:
        message["id"] = request_id
    return message


def chunk_frame(header: dict[str, Any], body: bytes) -> bytes:
    """A binary ``chunk_data`` frame: header length, JSON header, chunk body."""
    head = orjson.dumps(header)
    return _HEADER_LENGTH.pack(len(head)) + head + body


class _Connection:
    """One socket: answers requests in order and forwards its subscription's messages."""

    def __init__(self, websocket: WebSocket, galaxy: str) -> None:
        self.ws = websocket
        self.galaxy = galaxy
        self.service: ChunkService = app_object(websocket, "chunk_service", ChunkService)
        self.hub: ChangeHub = app_object(websocket, "change_hub", lambda store: ChangeHub(store, to_thread.run_sync))
        self.listener: Listener | None = None
        self.forwarder: asyncio.Task[None] | None = None
        self.send_lock = asyncio.Lock()  # request answers and pushed updates never interleave mid-answer

    async def send_json(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self._text(message)

    async def _text(self, message: dict[str, Any]) -> None:
        """Send one JSON text message (the caller holds ``send_lock``)."""
        await self.ws.send_text(orjson.dumps(message).decode())

    async def handle(self, message: _Message) -> None:
        if isinstance(message, ChunkRequest):
            await self.chunks(message)
        elif isinstance(message, Subscribe):
            await self.subscribe(message)
        else:
            await self.unsubscribe()
            await self.send_json({"type": "unsubscribed"})

    async def chunks(self, request: ChunkRequest) -> None:
        async with self.send_lock:
            for index, item in enumerate(request.chunks):
                level, cell = item[0], item[1]
                try:
                    node = await to_thread.run_sync(self.service.node, self.galaxy, level, cell)
                    if len(item) == 3 and item[2] == node["version"]:
                        await self._text({
                            "type": "chunk_current", "id": request.id, "level": level, "cell": cell,
                            "version": node["version"], "count": node["count"],
                        })
                        continue
                    chunk = await to_thread.run_sync(
                        lambda: self.service.get(self.galaxy, level, cell, request.encoding, node=node)
                    )
                except (HavenError, sqlite3.OperationalError) as exc:
                    if not isinstance(exc, HavenError):
                        if not is_busy(exc):
                            raise
                        exc = StoreUnavailable("the database is busy; ask again shortly")
                    exc.field = f"chunks[{index}]"
                    await self._text(error_message(exc, request.id))
                    continue
                header = {"type": "chunk_data", "id": request.id, "level": level, "cell": cell,
                          "version": chunk.version, "count": chunk.count, "encoding": chunk.encoding}
                await self.ws.send_bytes(chunk_frame(header, chunk.body))
            await self._text({"type": "done", "id": request.id})

    async def subscribe(self, message: Subscribe) -> None:
        await self.unsubscribe()
        box = Box(message.box.min_ly, message.box.max_ly) if message.box is not None else None
        self.listener, clock = await self.hub.listen(self.galaxy, box, message.since)
        await self.send_json({"type": "subscribed", "galaxy": self.galaxy, "clock": clock})
        self.forwarder = asyncio.get_running_loop().create_task(self._forward(self.listener))

    async def _forward(self, listener: Listener) -> None:
        try:
            while True:
                await self.send_json(await listener.next_message())
        except (WebSocketDisconnect, RuntimeError, OSError):  # the socket closed under us
            return

    async def unsubscribe(self) -> None:
        if self.forwarder is not None:
            self.forwarder.cancel()
            try:
                await self.forwarder
            except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                pass
            self.forwarder = None
        if self.listener is not None:
            self.hub.forget(self.listener)
            self.listener = None


class BadTextFrames(logging.Filter):
    """uvicorn closes a socket that sends a text frame of invalid UTF-8 with 1007, as it
    should, and logs a traceback as if the server had failed: one warning line says it."""

    MESSAGE = "Invalid UTF-8 sequence received from client."

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == self.MESSAGE and record.exc_info:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "WebSocket closed (1007): a client sent a text frame that is not UTF-8", ()
            record.exc_info = record.exc_text = None
        return True

    @classmethod
    def install(cls) -> None:
        logger = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, cls) for f in logger.filters):
            logger.addFilter(cls())


async def refuse(websocket: WebSocket, exc: HavenError) -> None:
    """Send an accepted socket the error, then close it: 1008 (policy) for bad input or an
    unknown galaxy, 1013 (try again later) for a store that is not there."""
    await websocket.send_text(orjson.dumps(error_message(exc)).decode())
    await websocket.close(code=1008 if isinstance(exc, (InvalidInput, NotFound)) else 1013)


@router.websocket("/ws")
async def chunk_socket(websocket: WebSocket, galaxy: str | None = None) -> None:
    """Chunk requests and change notifications over one WebSocket (see the module notes)."""
    await websocket.accept()
    try:
        name = request_galaxy(websocket, galaxy)
        await to_thread.run_sync(get_store(websocket).galaxy, name)
    except HavenError as exc:  # a bad or unknown galaxy, or no database
        await refuse(websocket, exc)
        return
    connection = _Connection(websocket, name)
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            try:
                message = parse_message(frame.get("text"), frame.get("bytes"))
            except InvalidInput as exc:
                await connection.send_json(error_message(exc, getattr(exc, "request_id", None)))
                continue
            try:
                await connection.handle(message)
            except HavenError as exc:
                await connection.send_json(error_message(exc, getattr(message, "id", None)))
    except WebSocketDisconnect:
        pass
    finally:
        await connection.unsubscribe()
