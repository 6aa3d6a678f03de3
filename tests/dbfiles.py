"""Looking at database files from outside any store: their bytes and journal mode."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_mode(path: Path) -> str:
    """The file's journal mode, read without changing the file (a read-only connection)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
