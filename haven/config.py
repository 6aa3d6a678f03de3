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
