"""Live chunk notifications: one reader of the octree's change feed, many listeners.

A :class:`ChangeHub` belongs to a server. Right after each write the server's
store commits, and within ``interval_s`` of a commit by another process that
shares the database (another server, ``haven import``; seen with the store's
:meth:`~SQLiteStore.commit_watch`, a check of a few microseconds), it reads the
change feed (:meth:`SQLiteStore.changed_nodes`) of each galaxy somebody listens
to, once per galaxy whatever the number of listeners, and hands each
:class:`Listener` the changed nodes that intersect its box.

A listener's queue is bounded: one that does not keep up is told to resync
(reload the hierarchy) instead of the server buffering without limit, and so
is every listener when the feed itself resets after a bulk load.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from haven.errors import HavenError
from haven.spatial.morton import Cube
from haven.store.base import CommitGate

#: How often the hub checks for commits by other processes while anybody listens.
LIVE_INTERVAL_S = 0.02
#: Messages a listener may have waiting before it is told to resync instead.
LISTENER_QUEUE_MESSAGES = 64
#: Changed nodes read per galaxy and round; more changed means a resync.
FEED_NODES_PER_ROUND = 1000

log = logging.getLogger(__name__)

RunSync = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in light years; a listener hears about nodes that touch it."""

    min_ly: tuple[float, float, float]
    max_ly: tuple[float, float, float]

    def touches_node(self, cube: Cube, level: int, cell: int) -> bool:
        corner, side = cube.cell_bounds(level, cell)
        return all(corner[a] <= self.max_ly[a] and self.min_ly[a] <= corner[a] + side for a in range(3))


@dataclass(eq=False)
class Listener:
    """One subscription: a galaxy, an optional box, and the messages waiting for it."""

    galaxy: str
    box: Box | None = None
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=LISTENER_QUEUE_MESSAGES)
    )
    behind: bool = False  # a message was dropped: the next one it gets is a resync
    #: The clock of the last message dropped: the resync is as of it, like a bulk load's.
    behind_clock: int | None = None

    def offer(self, message: dict[str, Any]) -> None:
        """Queue a message, or mark the listener as behind when its queue is full."""
        if not self.behind:
            try:
                self.queue.put_nowait(message)
                return
            except asyncio.QueueFull:
                self.behind = True
        if message.get("clock") is not None:
            self.behind_clock = message["clock"]

    async def next_message(self) -> dict[str, Any]:
        """The next message to send; a ``resync`` once the listener fell behind.

        The resync carries the clock of the last message dropped (as the bulk-load
        resync carries the feed's): the hierarchy the client reads after it is at
        least that new, so the client may follow the changes from there.
        """
        if self.behind and self.queue.empty():
            self.behind = False
            message: dict[str, Any] = {"type": "resync", "reason": "too many changes queued for this connection"}
            if self.behind_clock is not None:
                message["clock"] = self.behind_clock
            self.behind_clock = None
            return message
        return await self.queue.get()


class ChangeHub:
    """Read each listened-to galaxy's change feed once per round and fan it out."""

    def __init__(self, store: Any, run_sync: RunSync, interval_s: float = LIVE_INTERVAL_S) -> None:
        self.store = store
        self.run_sync = run_sync  # runs a blocking store call off the event loop
        self.interval_s = interval_s
        self._listeners: dict[str, set[Listener]] = {}
        self._clocks: dict[str, int] = {}
        self._cubes: dict[str, Cube] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stop_hearing: Callable[[], None] | None = None
        self._gate = CommitGate(store)

    async def listen(self, galaxy: str, box: Box | None = None, since: int | None = None) -> tuple[Listener, int]:
        """Start listening; returns the listener and the clock live messages follow from.

        With ``since`` (a clock from an earlier answer) the nodes changed after it
        are queued first, so a client that reconnects misses nothing. A node may
        then be announced twice; its version tells the client it already has it.
        """
        if galaxy not in self._clocks:
            g = await self.run_sync(self.store.galaxy, galaxy)  # NotFound for an unknown galaxy
            self._cubes[galaxy] = Cube.of_galaxy(g)
            self._clocks.setdefault(galaxy, g["lod_clock"])
        listener = Listener(galaxy, box)
        self._listeners.setdefault(galaxy, set()).add(listener)
        start = self._clocks[galaxy]
        if since is not None and since < start:
            self._deliver(listener, await self._feed(galaxy, since))
        self._ensure_running()
        return listener, start

    def forget(self, listener: Listener) -> None:
        listeners = self._listeners.get(listener.galaxy)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[listener.galaxy]
                self._clocks.pop(listener.galaxy, None)

    def listener_count(self) -> int:
        return sum(len(v) for v in self._listeners.values())

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            if self._wake is None:
                self._wake = asyncio.Event()
                self._hear_commits(loop, self._wake)
            self._task = loop.create_task(self._run(), name="haven-change-hub")

    def _hear_commits(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        """Wake up at once after a write through this server's store, instead of at the next poll."""
        on_commit = getattr(self.store, "on_commit", None)
        if on_commit is None:
            return

        def woken() -> None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has closed: the server is stopping
                pass

        self._stop_hearing = on_commit(woken)

    async def close(self) -> None:
        if self._stop_hearing is not None:
            self._stop_hearing()
            self._stop_hearing = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        while self._listeners:
            try:  # a commit through this server, or a check for commits by other processes
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except TimeoutError:
                if not self._gate.should_read():
                    continue
            self._wake.clear()
            try:
                await self.poll_once()
            except (sqlite3.Error, OSError, HavenError) as exc:  # busy, briefly gone, galaxy deleted: next round
                log.debug("change feed read skipped: %s", exc)
                self._gate.read_failed()

    async def _feed(self, galaxy: str, since: int) -> dict[str, Any]:
        return await self.run_sync(partial(self.store.changed_nodes, galaxy, since, limit=FEED_NODES_PER_ROUND))

    async def poll_once(self) -> None:
        """Read every listened-to galaxy's feed since the hub's clock and deliver it."""
        for galaxy in list(self._listeners):
            since = self._clocks.get(galaxy)
            if since is None:
                continue
            feed = await self._feed(galaxy, since)
            if feed["clock"] == since and not feed["nodes"]:
                continue
            self._clocks[galaxy] = feed["clock"]
            for listener in list(self._listeners.get(galaxy, ())):
                self._deliver(listener, feed)

    def _deliver(self, listener: Listener, feed: dict[str, Any]) -> None:
        if feed["reset"]:
            listener.offer({"type": "resync", "reason": "the octree was rebuilt", "clock": feed["clock"]})
            return
        cube = self._cubes[listener.galaxy]
        nodes = [n for n in feed["nodes"]
                 if listener.box is None or listener.box.touches_node(cube, n["level"], n["cell"])]
        if nodes:
            listener.offer({"type": "chunk_updated", "clock": feed["clock"], "total_systems": feed["total_systems"],
                            "nodes": nodes})
