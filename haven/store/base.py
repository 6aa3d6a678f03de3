"""The store contract: what every engine (SQLite, PostgreSQL) provides.

Every read on a request path is O(log n) or O(result): keyset pages in name
order, counters for totals, an n-gram index for search, Morton code ranges for
space. The contract tests in ``tests/store`` run against every engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Literal, Protocol

from haven.model import SystemIn, SystemPatch

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
    created: int = 0
    replaced: int = 0
    skipped: int = 0
    names: list[str] = field(default_factory=list)


class Store(Protocol):
    """Operations every engine implements with the same meaning."""

    # galaxies and regions
    def ensure_galaxy(self, name: str, *, half_size_ly: float | None = None) -> dict[str, Any]: ...

    def add_galaxy(self, name: str, *, half_size_ly: float | None = None) -> tuple[dict[str, Any], bool]: ...
    def galaxy(self, name: str) -> dict[str, Any]: ...
    def galaxies(self) -> list[dict[str, Any]]: ...
    def regions(self, galaxy: str) -> list[dict[str, Any]]: ...
    def stats(self, galaxy: str) -> dict[str, Any]: ...

    # reads
    def page(
        self,
        galaxy: str,
        *,
        region: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page: ...
    def search(
        self,
        galaxy: str,
        q: str,
        *,
        limit: int = 100,
        after_id: int | None = None,
        after_name: str | None = None,
        before_id: int | None = None,
        before_name: str | None = None,
    ) -> list[dict[str, Any]]: ...
    def system(self, system_id: int) -> dict[str, Any]: ...
    def system_by_name(self, galaxy: str, name: str) -> dict[str, Any]: ...

    def system_galaxy(self, system_id: int) -> str | None: ...
    def near(self, galaxy: str, x_ly: float, y_ly: float, z_ly: float, radius_ly: float, *, limit: int = 100) -> list[dict[str, Any]]: ...
    def box(self, galaxy: str, lo_ly: tuple[float, float, float], hi_ly: tuple[float, float, float], *, limit: int = 100) -> list[dict[str, Any]]: ...
    def iter_systems(self, galaxy: str, *, batch_size: int = 1000) -> Iterator[dict[str, Any]]: ...

    # writes
    def create(self, galaxy: str, system: SystemIn) -> dict[str, Any]: ...
    def replace(self, system_id: int, system: SystemIn) -> dict[str, Any]: ...
    def patch(self, system_id: int, patch: SystemPatch) -> dict[str, Any]: ...
    def delete(self, system_id: int, *, expected_version: int | None = None) -> int: ...
    def import_systems(self, galaxy: str, systems: Iterable[SystemIn], *, on_conflict: OnConflict = "error") -> ImportResult: ...

    # operations
    def meta_value(self, key: str) -> str | None: ...
    def close(self) -> None: ...


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
