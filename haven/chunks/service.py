"""Serving chunks: one octree node encoded as CHNK, looked up by node version.

Three tiers, each keyed by the node's version so an edit never serves stale bytes:

1. a byte-bounded in-memory LRU keyed by ``(galaxy, level, cell, version, encoding)``;
2. the stored chunk (``lod_chunk``: gzip bytes and the version they were built
   from), shared by every process and kept across restarts — one row lookup;
3. a build from the node's members, on the first fetch after the node changed,
   which then replaces the stored chunk.

A server also runs a :class:`ChunkRefresher`: it follows the octree's change
feed and rebuilds changed nodes' chunks in the background, so the first map
that asks for an edited node gets stored bytes instead of waiting for a build.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from haven.chunks.exact import encode_exact
from haven.chunks.format import encode_chunk
from haven.chunks.transfer import compress, decompress
from haven.errors import HavenError, NotFound
from haven.store.base import CommitGate

DEFAULT_CACHE_BYTES = 16 * 1024 * 1024
#: Changed nodes the refresher rebuilds per galaxy and round; a longer feed (a bulk
#: load rebuilt the octree) is left to the lazy build on first fetch.
REFRESH_NODES_PER_ROUND = 256
REFRESH_INTERVAL_S = 0.2
#: A node is rebuilt once it has not changed for this long: a burst of writes to
#: one place costs one build at its end, not one per write.
REFRESH_QUIET_S = 0.5

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunk:
    body: bytes
    version: int
    count: int
    encoding: str


class ChunkCache:
    """A thread-safe LRU bounded by the total size of the bodies it keeps."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, Chunk] = OrderedDict()
        self._nodes: dict[tuple, int] = {}  # (galaxy, level, cell) -> entries held, any version
        self._bytes = 0
        self._lock = threading.Lock()

    def holds_node(self, galaxy: str, level: int, cell: int) -> bool:
        """Whether some version of this node is cached: somebody looked at it lately."""
        return (galaxy, level, cell) in self._nodes

    def get(self, key: tuple) -> Chunk | None:
        with self._lock:
            chunk = self._items.get(key)
            if chunk is not None:
                self._items.move_to_end(key)
            return chunk

    def put(self, key: tuple, chunk: Chunk) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = chunk
            self._bytes += len(chunk.body)
            self._nodes[key[:3]] = self._nodes.get(key[:3], 0) + 1
            while self._bytes > self.max_bytes and self._items:
                old_key, old = self._items.popitem(last=False)
                self._bytes -= len(old.body)
                left = self._nodes.pop(old_key[:3]) - 1
                if left:
                    self._nodes[old_key[:3]] = left


class ChunkService:
    """Fetch a node as CHNK bytes: memory, else the stored chunk, else a build from rows."""

    STORED_ENCODING = "gzip"

    def __init__(self, store, cache: ChunkCache | None = None) -> None:
        self.store = store
        self.cache = cache or ChunkCache()

    def node(self, galaxy: str, level: int, cell: int) -> dict:
        """The node's metadata (count, version); NotFound when it holds nothing."""
        return self.store.lod_node(galaxy, level, cell)

    def get(self, galaxy: str, level: int, cell: int, encoding: str = "gzip", *, node: dict | None = None) -> Chunk:
        """The node's chunk; pass ``node`` when its metadata was just read (saves a lookup)."""
        node = node if node is not None else self.node(galaxy, level, cell)
        key = (galaxy, level, cell, node["version"], encoding)
        chunk = self.cache.get(key)
        if chunk is None:
            stored = self._stored_or_built(galaxy, level, cell, node)
            if encoding != self.STORED_ENCODING:
                raw = decompress(stored.body, self.STORED_ENCODING)
                stored = Chunk(compress(raw, encoding), stored.version, stored.count, encoding)
            chunk = stored
            self.cache.put((galaxy, level, cell, chunk.version, encoding), chunk)
        return chunk

    def _stored_or_built(self, galaxy: str, level: int, cell: int, node: dict) -> Chunk:
        stored = self.store.stored_chunk(galaxy, level, cell)
        if stored is not None and stored[0] == node["version"]:
            return Chunk(stored[1], stored[0], node["count"], self.STORED_ENCODING)
        chunk = self.build(galaxy, level, cell, self.STORED_ENCODING)
        self.store.store_chunk(galaxy, level, cell, chunk.version, chunk.body)
        return chunk

    def build(self, galaxy: str, level: int, cell: int, encoding: str = "gzip") -> Chunk:
        """Encode a node from its members' rows (the slow path; see the module notes)."""
        g = self.store.galaxy(galaxy)
        m = self.store.lod_members(galaxy, level, cell)
        centre_ly = (g["centre_x_ly"], g["centre_y_ly"], g["centre_z_ly"])
        raw = encode_chunk(
            level, cell, centre_ly, g["half_size_ly"],
            m["x_ly"], m["y_ly"], m["z_ly"],
            np.minimum(m["region_id"], 65535),
            # the galaxy cube as CHNK §5 defines it, so a client can place the chunk unconfigured
            metadata={"version": m["version"], "galaxy": {"centre": list(centre_ly), "half_size": g["half_size_ly"]}},
        )
        return Chunk(compress(raw, encoding), m["version"], len(m["id"]), encoding)


    def exact(self, galaxy: str, level: int, cell: int, encoding: str = "gzip") -> Chunk:
        """The node's exact positions (CHNX, :mod:`haven.chunks.exact`), cached like its chunk.

        Built from the node's rows on a cache miss: at most a node's capacity of
        them, and only asked for by a map zoomed in on the node.
        """
        node = self.node(galaxy, level, cell)
        key = (galaxy, level, cell, node["version"], f"exact:{encoding}")
        found = self.cache.get(key)
        if found is None:
            g = self.store.galaxy(galaxy)
            m = self.store.lod_members(galaxy, level, cell)
            if not len(m["id"]):
                raise NotFound(f"node {level}/{cell} holds no systems", field="cell")
            raw = encode_exact(level, cell, m["version"], (g["centre_x_ly"], g["centre_y_ly"], g["centre_z_ly"]),
                               g["half_size_ly"], m["x_ly"], m["y_ly"], m["z_ly"])
            found = Chunk(compress(raw, encoding), m["version"], len(m["id"]), encoding)
            self.cache.put((galaxy, level, cell, found.version, f"exact:{encoding}"), found)
        return found


class ChunkRefresher:
    """Rebuild the chunks of changed octree nodes in a thread, off the request path.

    Each round reads every galaxy's change feed (:meth:`SQLiteStore.changed_nodes`)
    from the clock it saw last. A changed node that this process has served lately
    (some version of it is in the memory cache: a map is looking at it) is rebuilt
    through the service, which builds, stores and caches its chunk, once it has
    not changed for ``quiet_s``. Other nodes are left to the lazy build on first
    fetch, so the server's work follows what maps look at, not every write. It
    starts at the clocks of the moment it starts. Writes by other processes (a
    ``haven import`` into the same file) are seen too.
    """

    def __init__(self, service: ChunkService, interval_s: float = REFRESH_INTERVAL_S,
                 quiet_s: float = REFRESH_QUIET_S) -> None:
        self.service = service
        self.interval_s = interval_s
        self.quiet_s = quiet_s
        self._seen: dict[str, int] = {}
        self._pending: dict[tuple[str, int, int], float] = {}  # node -> when it last changed (monotonic)
        self._gate = CommitGate(service.store)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._seen = {g["name"]: g["lod_clock"] for g in self.service.store.galaxies()}
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="haven-chunk-refresher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.refresh_once()
            except (sqlite3.Error, OSError, HavenError) as exc:  # busy, gone, a load under way: next round
                log.debug("chunk refresh skipped: %s", exc)
                self._gate.read_failed()
            except Exception:  # a bug must not stop the thread for good: say so and go on
                log.exception("chunk refresh failed")
                self._gate.read_failed()

    def refresh_once(self) -> int:
        """One round: read the feeds, rebuild the quiet changed nodes; returns how many were rebuilt.

        The feeds are read only when something committed since the last round
        (:meth:`~haven.store.sqlite.SQLiteStore.commit_watch`), so an idle server
        does not read the galaxy table five times a second.
        """
        now = time.monotonic()
        cache = self.service.cache
        for g in (self.service.store.galaxies() if self._gate.should_read() else ()):
            name = g["name"]
            since = self._seen.setdefault(name, 0)
            if g["lod_clock"] == since:
                continue
            feed = self.service.store.changed_nodes(name, since, limit=REFRESH_NODES_PER_ROUND)
            for node in feed["nodes"]:
                if node["count"] > 0 and cache.holds_node(name, node["level"], node["cell"]):
                    self._pending[(name, node["level"], node["cell"])] = now
            self._seen[name] = feed["clock"]
        built = 0
        for key, changed_at in list(self._pending.items()):
            if self._stop.is_set():
                break
            if now - changed_at < self.quiet_s:
                continue
            del self._pending[key]
            try:
                self.service.get(*key)  # reads the node's current version, builds and stores it
            except NotFound:  # emptied meanwhile
                continue
            built += 1
        return built
