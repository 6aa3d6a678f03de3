"""Settings read from the environment (``HAVEN_*`` variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_PATH = Path("data") / "haven.db"
DEFAULT_GALAXY = "Haven"


@dataclass(frozen=True)
class DatabaseUrl:
    """Where the store lives: an engine name and its location."""

    engine: str  # "sqlite" or "postgresql"
    location: str  # a file path for SQLite, the DSN for PostgreSQL

    @property
    def sqlite_path(self) -> Path:
        return Path(self.location)


def parse_database_url(url: str | None) -> DatabaseUrl:
    """Accept ``sqlite:///path``, ``postgresql://…`` or a bare file path."""
    if not url:
        return DatabaseUrl("sqlite", str(DEFAULT_DATABASE_PATH))
    if url.startswith("sqlite:///"):
        if url == "sqlite:///":
            raise ValueError("sqlite:/// names no file; add its path: sqlite:///path/to/haven.db")
        return DatabaseUrl("sqlite", url[len("sqlite:///"):])
    if url.startswith("sqlite://"):
        raise ValueError("sqlite URLs take three slashes: sqlite:///path/to/haven.db")
    if url.startswith(("postgresql://", "postgres://")):
        return DatabaseUrl("postgresql", url)
    if "://" in url:
        raise ValueError(f"unsupported database URL scheme in {url.split('://')[0]!r}")
    return DatabaseUrl("sqlite", url)


def database_url() -> DatabaseUrl:
    return parse_database_url(os.environ.get("HAVEN_DATABASE_URL"))


def sqlite_synchronous() -> str:
    """FULL by default: an acknowledged write survives a power cut."""
    value = os.environ.get("HAVEN_SQLITE_SYNCHRONOUS", "FULL").upper()
    if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError("HAVEN_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA")
    return value


DEFAULT_WORKER_THREADS = 4
DEFAULT_CACHE_MIB = 64


def _positive_int(name: str, default: int, most: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ValueError(f"{name} must be a whole number from 1 to {most}, not {raw!r}") from None
    if not 1 <= value <= most:
        raise ValueError(f"{name} must be a whole number from 1 to {most}, not {raw!r}")
    return value


def worker_threads() -> int:
    """How many requests a server works on at once in threads (reads and writes of the store).

    Each thread that reads keeps a SQLite connection, and each request in work
    holds its answer in memory: this bounds both. Requests beyond it wait their turn.
    """
    return _positive_int("HAVEN_WORKER_THREADS", DEFAULT_WORKER_THREADS, 256)


def cache_mib() -> int:
    """A server's SQLite memory (page caches give way first), all connections together, in MiB."""
    return _positive_int("HAVEN_CACHE_MIB", DEFAULT_CACHE_MIB, 1 << 20)
