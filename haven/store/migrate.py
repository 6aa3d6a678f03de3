"""Schema migrations (Alembic): ``haven db upgrade | downgrade | current``."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from haven.config import DatabaseUrl
from haven.errors import Conflict
from haven.store.deferred import deferred_record, unfinished_load_message

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlalchemy_url(url: DatabaseUrl) -> str:
    if url.engine == "sqlite":
        return f"sqlite:///{Path(url.location).resolve()}"
    return url.location.replace("postgresql://", "postgresql+psycopg://", 1)


def alembic_config(url: DatabaseUrl, stdout: io.StringIO | None = None) -> Config:
    cfg = Config(stdout=stdout or io.StringIO())
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", _sqlalchemy_url(url))
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config(DatabaseUrl("sqlite", ":memory:")))
    head = script.get_current_head()
    assert head is not None
    return head


def upgrade(url: DatabaseUrl, revision: str = "head") -> None:
    if url.engine == "sqlite":
        Path(url.location).resolve().parent.mkdir(parents=True, exist_ok=True)
    if current_revision(url) not in (None, head_revision() if revision == "head" else revision):
        _refuse_unfinished_load(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: DatabaseUrl, revision: str = "-1") -> None:
    _refuse_unfinished_load(url)
    command.downgrade(alembic_config(url), revision)


def _refuse_unfinished_load(url: DatabaseUrl) -> None:
    """Migrations rewrite indexes; not while a bulk load has its indexes deferred."""
    if url.engine != "sqlite" or not Path(url.location).exists():
        return
    conn = sqlite3.connect(f"file:{Path(url.location)}?mode=ro", uri=True)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
            return
        record = deferred_record(conn)
    finally:
        conn.close()
    if record is not None:
        raise Conflict(unfinished_load_message(record), field="database")


def current_revision(url: DatabaseUrl) -> str | None:
    """The revision the database is at, or None for an empty database."""
    if url.engine == "sqlite":
        path = Path(url.location)
        if not path.exists():
            return None
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            if row is None:
                return None
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return row[0] if row else None
        finally:
            conn.close()
    raise NotImplementedError("PostgreSQL store is not available in this version")
