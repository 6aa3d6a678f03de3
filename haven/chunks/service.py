"""Serving chunks: one octree node encoded as CHNK, cached by node version.

A chunk is built from the node's members on the first fetch after its version
changes and kept, compressed, in a byte-bounded in-memory LRU keyed by
``(galaxy, level, cell, version, encoding)``. A fresh version is a new key, so
an edit never serves stale bytes; old entries simply age out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from haven.chunks.format import encode_chunk
from haven.chunks.transfer import compress

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


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
        self._bytes = 0
        self._lock = threading.Lock()

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
            while self._bytes > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old.body)


class ChunkService:
    """Fetch a node as CHNK bytes: one metadata lookup when cached, one range scan when not."""

    def __init__(self, store, cache: ChunkCache | None = None) -> None:
        self.store = store
        self.cache = cache or ChunkCache()

    def version(self, galaxy: str, level: int, cell: int) -> int:
        return self.store.lod_node(galaxy, level, cell)["version"]

    def get(self, galaxy: str, level: int, cell: int, encoding: str = "gzip") -> Chunk:
        version = self.version(galaxy, level, cell)
        key = (galaxy, level, cell, version, encoding)
        chunk = self.cache.get(key)
        if chunk is None:
            chunk = self.build(galaxy, level, cell, encoding)
            self.cache.put((galaxy, level, cell, chunk.version, encoding), chunk)
        return chunk

    def build(self, galaxy: str, level: int, cell: int, encoding: str = "gzip") -> Chunk:
        g = self.store.galaxy(galaxy)
        m = self.store.lod_members(galaxy, level, cell)
        raw = encode_chunk(
            level, cell,
            (g["centre_x_ly"], g["centre_y_ly"], g["centre_z_ly"]), g["half_size_ly"],
            m["x_ly"], m["y_ly"], m["z_ly"],
            np.minimum(m["region_id"], 65535),
            metadata={"version": m["version"], "galaxy": galaxy},
        )
        return Chunk(compress(raw, encoding), m["version"], len(m["id"]), encoding)
