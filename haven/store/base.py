"""The store contract: the operations the API, the chunk service and the CLI call.

:class:`haven.store.sqlite.SQLiteStore` is the engine that implements it today;
a PostgreSQL engine would implement the same protocol with the same meaning
(see ``docs/operating.md``, "Growing beyond one machine"). Every read on a
request path is O(log n) or O(result): keyset pages in name order, counters
for totals, n-gram indexes for search, Morton code ranges for space. The
contract tests in ``tests/store`` say what each operation means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Protocol

from haven.model import SystemIn, SystemPatch
from haven.store.lod import DEFAULT_CAPACITY

MAX_LIMIT = 5000
MAX_OFFSET = 10_000  # legacy page numbers are served only while OFFSET stays this cheap
MIN_SEARCH_CHARS = 3  # shorter queries match the start of names instead

OnConflict = Literal["error", "skip", "replace"]


@dataclass
class Page:
    """One page of systems in name order."""

    items: list[dict[str, Any]]
    total: int
    has_more: bool
    has_previous: bool = False


@dataclass
class ImportResult:
    """What a batch import did: systems created, replaced and skipped, and the names written."""

    created: int = 0
    replaced: int = 0
    skipped: int = 0
    names: list[str] = field(default_factory=list)


class Store(Protocol):
    """Operations every engine implements with the same meaning."""

    # -- galaxies and regions
    def ensure_galaxy(self, name: str, *, half_size_ly: float | None = None,
                      lod_capacity: int = DEFAULT_CAPACITY) -> dict[str, Any]:
        """Create the galaxy if it does not exist; its cube and node capacity are fixed once created."""

    def add_galaxy(self, name: str, *, half_size_ly: float | None = None,
                   lod_capacity: int = DEFAULT_CAPACITY) -> tuple[dict[str, Any], bool]:
        """:meth:`ensure_galaxy`, and whether this call created the galaxy."""

    def galaxy(self, name: str) -> dict[str, Any]:
        """One galaxy: id, cube, counters and clock (``NotFound`` if there is none)."""

    def galaxies(self) -> list[dict[str, Any]]:
        """Every galaxy, by name."""

    def regions(self, galaxy: str) -> list[dict[str, Any]]:
        """A galaxy's regions with their system counts, by name."""

    def stats(self, galaxy: str) -> dict[str, Any]:
        """A galaxy's totals, read from counters (O(1)), and what stopped bulk loads left unfinished."""

    def unfinished_loads(self, galaxy: str | None = None) -> list[dict[str, Any]]:
        """Bulk loads (of one galaxy, or of all) that committed batches and never finished."""

    # -- reads
    def page(self, galaxy: str, *, region: str | None = None, after: str | None = None,
             before: str | None = None, limit: int = 100, offset: int = 0) -> Page:
        """Systems in name order after (or before) a name, with the O(1) total."""

    def search(self, galaxy: str, q: str, *, limit: int = 100, after_id: int | None = None,
               after_name: str | None = None, before_id: int | None = None,
               before_name: str | None = None) -> list[dict[str, Any]]:
        """Systems whose name, materials or attributes contain ``q`` (any case), through an index."""

    def system(self, system_id: int) -> dict[str, Any]:
        """One system with its planets, moons and station."""

    def system_by_name(self, galaxy: str, name: str) -> dict[str, Any]:
        """:meth:`system`, found by its name in a galaxy."""

    def system_galaxy(self, system_id: int) -> str | None:
        """The galaxy a system id belongs to (or belonged to, for a deleted one with history)."""

    def near(self, galaxy: str, x_ly: float, y_ly: float, z_ly: float, radius_ly: float, *,
             limit: int = 100) -> list[dict[str, Any]]:
        """Systems within ``radius_ly`` of a point: exact distance, nearest first, at most ``limit``."""

    def box(self, galaxy: str, lo_ly: tuple[float, float, float], hi_ly: tuple[float, float, float], *,
            limit: int = 100) -> list[dict[str, Any]]:
        """Systems inside an axis-aligned box, nearest to its centre first."""

    def iter_systems(self, galaxy: str, *, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every system of a galaxy with its children, in name order, all from one read snapshot (exports)."""

    def stored_batches(self, galaxy: str, *, batch_size: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """Every system of a galaxy as stored, in id order, in batches, all from one read snapshot (flat exports)."""

    # -- writes (each one transaction; ``version`` checks are optimistic)
    def create(self, galaxy: str, system: SystemIn) -> dict[str, Any]:
        """Add a system with its children; names are unique per galaxy."""

    def replace(self, system_id: int, system: SystemIn) -> dict[str, Any]:
        """Replace every field and child; ``system.version``, when given, must be current."""

    def patch(self, system_id: int, patch: SystemPatch) -> dict[str, Any]:
        """Change only the fields present in the patch."""

    def delete(self, system_id: int, *, expected_version: int | None = None) -> int:
        """Delete a system and its children; returns the version the deletion made."""

    def import_systems(self, galaxy: str, systems: Iterable[SystemIn], *,
                       on_conflict: OnConflict = "error", create_galaxy: bool = False) -> ImportResult:
        """Write a batch in one transaction: all of it or, on any error, none of it (``create_galaxy``:
        a missing galaxy is created in that transaction)."""

    def history(self, system_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
        """A system's recorded changes, newest first."""

    def undo(self, system_id: int, *, expected_version: int | None = None) -> dict[str, Any]:
        """Take back the latest recorded change of a system, if it is still the latest."""

    # -- the octree and its chunks
    def lod_node(self, galaxy: str, level: int, cell: int) -> dict[str, Any]:
        """A node's metadata: member count and version (``NotFound`` when it holds nothing)."""

    def lod_hierarchy(self, galaxy: str, level: int, cell: int, depth: int) -> dict[str, Any]:
        """``{"clock", "total_systems", "nodes"}``: a node and its descendants down to ``depth``
        levels below it, with the galaxy's clock and count, all from one snapshot."""

    def lod_members(self, galaxy: str, level: int, cell: int) -> dict[str, Any]:
        """Positions, region ids and system ids of a node's members, highest priority first."""

    def lod_member(self, galaxy: str, level: int, cell: int, index: int) -> dict[str, Any]:
        """The system at ``index`` in a node's priority order (how a map click is resolved)."""

    def changed_nodes(self, galaxy: str, since_version: int, *, limit: int = 1000) -> dict[str, Any]:
        """Octree nodes changed after ``since_version``: the change feed of live maps."""

    def stored_chunk(self, galaxy: str, level: int, cell: int) -> tuple[int, bytes] | None:
        """The node's stored gzip CHNK bytes and the node version they were built from."""

    def store_chunk(self, galaxy: str, level: int, cell: int, version: int, body: bytes) -> bool:
        """Keep a node's freshly built chunk; False if it was skipped (a writer held the lock)."""

    # -- watching commits
    def commit_watch(self) -> Callable[[], bool]:
        """A cheap check, callable many times a second, for commits by any process since its last call."""

    def on_commit(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every write this store commits; returns a function that stops it."""

    # -- operations
    def meta_value(self, key: str) -> str | None:
        """A value the database keeps about itself (``None`` if unset)."""

    def backup(self, target: str | Path) -> None:
        """Copy the live database to ``target`` while writers keep going."""

    def close(self) -> None:
        """Release every connection and stop background work."""


class CommitGate:
    """Whether a follower of the change feed should read it this round.

    Wraps the store's commit watch (made on first use; a store without one
    always answers yes) and remembers a read that failed, so a feed that could
    not be read is read again next round even if nothing else commits.
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._committed: Callable[[], bool] | None = None
        self._read_failed = False

    def should_read(self) -> bool:
        if self._committed is None:
            watch = getattr(self._store, "commit_watch", None)
            self._committed = watch() if watch is not None else (lambda: True)
        committed, self._read_failed = self._committed() or self._read_failed, False
        return committed

    def read_failed(self) -> None:
        self._read_failed = True
