"""Schema migrations (Alembic): ``haven db upgrade | downgrade | current``.

Alembic (and SQLAlchemy under it) is imported only when a migration runs: a
server whose database is current never loads it, which keeps about 40 MiB out
of its memory.
"""

from __future__ import annotations

import functools
import io
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from haven.config import DatabaseUrl
from haven.errors import Conflict, HavenError, InvalidInput, StoreUnavailable
from haven.store import filelocks
from haven.store.deferred import deferred_record, unfinished_load_message

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: The newest migration's revision id. Every store checks it when it opens, so it
#: is written here rather than read from the migration scripts through Alembic; a
#: test checks that it is Alembic's head, so a new migration cannot forget it.
HEAD_REVISION = "0011"


def _sqlalchemy_url(url: DatabaseUrl) -> str:
    if url.engine == "sqlite":
        return f"sqlite:///{Path(url.location).resolve()}"
    return url.location.replace("postgresql://", "postgresql+psycopg://", 1)


def alembic_config(url: DatabaseUrl, stdout: io.StringIO | None = None) -> Config:
    from alembic.config import Config

    cfg = Config(stdout=stdout or io.StringIO())
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", _sqlalchemy_url(url))
    return cfg


def head_revision() -> str:
    """The revision this Haven's schema is at after ``haven db upgrade``."""
    return HEAD_REVISION


def _scripts() -> ScriptDirectory:
    """The migration scripts as Alembic reads them (loads Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(DatabaseUrl("sqlite", ":memory:")))


def alembic_head() -> str | None:
    """The head as Alembic reads it from the migration scripts (what :data:`HEAD_REVISION` must equal)."""
    return _scripts().get_current_head()


def known_revisions() -> list[str]:
    """Every schema revision this Haven can migrate from, newest first."""
    return [rev.revision for rev in _scripts().walk_revisions()]


def downgrade_target(current: str, revision: str) -> str:
    """The revision a downgrade from ``current`` to ``revision`` ends at: ``-N`` counted back, others as given.

    So a confirmation can name where it goes ("0010", or "base" for an empty
    schema) instead of the relative step. A step past the oldest revision is
    left as given, for Alembic to refuse.
    """
    steps = revision[1:]
    if revision.startswith("-") and steps.isdigit():
        order = known_revisions()  # newest first: the history is one line
        if current in order:
            i = order.index(current) + int(steps)
            if i < len(order):
                return order[i]
            if i == len(order):
                return "base"
    return revision


def upgrade(url: DatabaseUrl, revision: str = "head") -> None:
    if url.engine == "sqlite":
        Path(url.location).resolve().parent.mkdir(parents=True, exist_ok=True)
    current = current_revision(url)
    if current is None:
        _refuse_foreign(url)
    elif current == revision or (current == head_revision() and revision in ("head", "heads", *known_revisions())):
        return  # nothing to change (an upgrade never goes back): no lock, so a second server starts beside the first
    else:
        _refuse_unfinished_load(url)
    with _locked_for_schema_change(url):
        _run_alembic(url, "upgrade", revision)


class MigrationFailed(StoreUnavailable):
    """A migration step failed (a full disk, a folder that may not be written, a damaged file).

    Each step is one transaction with the revision it records (see the migration
    environment), so the database stays at ``revision``, the last step that finished.
    """

    def __init__(self, url: DatabaseUrl, cause: BaseException, revision: str | None) -> None:
        super().__init__(f"changing the schema of {url.location} failed: {cause}. It stays at revision "
                         f"{revision or 'none'} (a step that fails leaves nothing behind); fix the cause and "
                         "run the command again")
        self.cause = cause
        self.revision = revision


def _run_alembic(url: DatabaseUrl, command_name: str, revision: str) -> None:
    """Alembic's ``upgrade`` or ``downgrade``; a database error becomes :class:`MigrationFailed`."""
    from alembic import command
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        getattr(command, command_name)(alembic_config(url), revision)
    except (SQLAlchemyError, sqlite3.DatabaseError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        try:
            now = current_revision(url)
        except (HavenError, sqlite3.DatabaseError):  # the file cannot even be read: the cause says why
            now = None
        raise MigrationFailed(url, cause, now) from None


def _refuse_foreign(url: DatabaseUrl) -> None:
    """Haven writes its schema only into an empty file or a new one, never beside another program's tables.

    A file with no schema revision that holds any table besides Alembic's empty
    ``alembic_version`` (what a downgrade to base leaves) belongs to something else: most likely the original tool's
    ``haven.db``, which is imported, not upgraded.
    """
    if url.engine != "sqlite" or not Path(url.location).is_file():
        return
    conn = sqlite3.connect(f"file:{Path(url.location)}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name")]
    finally:
        conn.close()
    if set(tables) <= {"alembic_version"}:  # empty, or Haven's own downgraded to base
        return
    shown = ", ".join(tables[:6]) + (", …" if len(tables) > 6 else "")
    hint = (" It looks like the original Haven tool's database: import it into a Haven database instead, "
            f"`haven import {url.location} -d NEW.db`." if "systems" in tables else "")
    raise InvalidInput(
        f"{url.location} is not a Haven database: it holds other tables ({shown}) and no Haven schema, "
        f"and Haven does not add its tables beside them; nothing was changed.{hint}",
        field="database",
    )


def downgrade(url: DatabaseUrl, revision: str = "-1") -> None:
    _refuse_unfinished_load(url)
    with _locked_for_schema_change(url):
        _run_alembic(url, "downgrade", revision)


@contextmanager
def _locked_for_schema_change(url: DatabaseUrl) -> Iterator[None]:
    """Hold both locks while the schema changes (see :mod:`haven.store.filelocks`): a running
    server would not notice, and a restore or a load landing between two steps would meet a
    schema the next step was not written for."""
    if url.engine != "sqlite":
        yield
        return
    with filelocks.changing_schema(url.location), filelocks.restoring(url.location):
        yield


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
        raise Conflict(unfinished_load_message(record, running=filelocks.load_running(url.location)),
                       field="database")


def current_revision(url: DatabaseUrl) -> str | None:
    """The revision the database is at, or None for an empty database."""
    if url.engine == "sqlite":
        path = Path(url.location)
        if path.is_dir():
            raise InvalidInput(f"{url.location} is a folder; name a database file (it is created if missing)",
                               field="database")
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


@functools.cache
def head_schema() -> frozenset[tuple[str, str]]:
    """``(type, name)`` of every table, index, trigger and view the newest revision creates
    in SQLite, read from an empty database migrated in a temporary folder (once per process).

    Names only, not columns: enough to catch a table or index gone from a backup (a column
    cannot go missing from a table without the revision changing)."""
    with tempfile.TemporaryDirectory(prefix="haven-schema-") as folder:
        path = Path(folder) / "head.db"
        upgrade(DatabaseUrl("sqlite", str(path)))
        conn = sqlite3.connect(path)
        try:
            return schema_objects(conn)
        finally:
            conn.close()


def schema_objects(conn: sqlite3.Connection) -> frozenset[tuple[str, str]]:
    """``(type, name)`` of a database's own schema objects (SQLite's internal ones left out)."""
    rows = conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    return frozenset((kind, name) for kind, name in rows)


def missing_schema(conn: sqlite3.Connection) -> list[str]:
    """What a database at the newest revision lacks of that revision's schema, as ``"table system"``
    (empty when whole: objects of its own beside Haven's are allowed)."""
    order = {"table": 0, "index": 1, "trigger": 2, "view": 3}  # tables first: what matters most comes first
    missing = sorted(head_schema() - schema_objects(conn), key=lambda o: (order.get(o[0], 4), o[1]))
    return [f"{kind} {name}" for kind, name in missing]
