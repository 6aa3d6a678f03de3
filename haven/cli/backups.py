"""Checking backup files and restoring one over the live SQLite database.

Restore never touches the live database until the backup has passed every
check. The steps:

1. The file must exist and start with the SQLite header.
2. It is copied to a staging file beside the live database (the user's backup
   is never modified), with the backup's ``-wal`` file if one is beside it (its
   transactions are folded into the copy), and checked there: ``PRAGMA
   integrity_check`` must say ``ok`` and ``alembic_version`` must name a
   revision this Haven knows.
3. A staging copy at an older revision is upgraded to the newest one, so the
   live database always ends at the schema the running code expects.
4. The staging copy replaces the live database:

   * **the live file exists** → the pages are written *into* it through
     SQLite's online backup API, in one write transaction. Connections that a
     running ``haven serve`` holds stay valid and see the restored content at
     their next transaction; a crash part-way leaves the old content (the
     write is journaled like any other transaction);
   * **there is no live file yet** → the staging file is flushed to disk and
     moved into place with an atomic rename.

Restoring over a live database also moves the map's versions forward
(:func:`advance_octree_versions`). An octree node's version is its galaxy's
``lod_clock`` at the write that last changed it, and it is the chunk's ETag, the
key of the server's chunk cache and the position in the change feed. A backup's
clocks are older than the live ones, so without this the next write after a
restore would hand out a version that was already served with other content.
System versions (the ``If-Match`` ETags and what an undo names) move past the
live ones the same way, with their history (:func:`advance_system_versions`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from haven.config import DatabaseUrl
from haven.errors import InvalidInput
from haven.ingest.sources import SQLITE_MAGIC
from haven.store import filelocks, migrate, sidenames
from haven.store.deferred import deferred_record
from haven.store.ids import FREED_TOP_KEYS
from haven.store.scratch import fsync, scratch_copy
from haven.store.sqlite import transaction

BUSY_TIMEOUT_MS = 30_000
#: How far past the live database's clock a restored galaxy's ``lod_clock`` starts. The live
#: clocks are read just before the pages are copied; a server may commit a write or two in
#: between (each one moves a clock by one), and the margin keeps the restored clock past those.
CLOCK_MARGIN = 1_000
#: How far past the live database's version of the same id a restored system's version starts,
#: for the same reason: a server may commit edits of a system between the read and the copy.
VERSION_MARGIN = 1_000


class BackupRefused(InvalidInput):
    """A file offered to ``haven restore`` is not a usable Haven backup (exit code 2)."""

    code = "backup_refused"
    exit_code = 2


@dataclass
class DatabaseFileReport:
    """What a check of one database file found."""

    path: Path
    integrity: list[str]
    revision: str | None
    total_systems: int | None
    size_bytes: int

    @property
    def ok(self) -> bool:
        return self.integrity == ["ok"]


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return row is not None


def _report(conn: sqlite3.Connection, path: Path) -> DatabaseFileReport:
    integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    revision = migrate.current_revision(DatabaseUrl("sqlite", str(path)))
    return DatabaseFileReport(path, integrity, revision, _system_total(conn), path.stat().st_size)


def _system_total(conn: sqlite3.Connection) -> int | None:
    """Systems in every galaxy, from the counters (None without a galaxy table)."""
    if not _has_table(conn, "galaxy"):
        return None
    return conn.execute("SELECT COALESCE(SUM(system_count), 0) FROM galaxy").fetchone()[0]


def live_system_total(path: Path) -> int | None:
    """Systems in the live database, or None when there is no file yet."""
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return _system_total(conn) or 0
    finally:
        conn.close()


def timestamped_name(live: Path, when: datetime | None = None) -> str:
    """A backup's file name when only its folder is given: the database's name and the UTC time,
    ``haven-20261123-101500.db``, so backups sort by age and a later one never meets an earlier one."""
    when = when or datetime.now(timezone.utc)
    return f"{live.stem}-{when:%Y%m%d-%H%M%S}{live.suffix or '.db'}"


def check_file(path: Path) -> DatabaseFileReport:
    """Integrity, schema revision and system total of a database file, opened read-only."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return _report(conn, path)
    finally:
        conn.close()


class Restore:
    """A checked backup staged beside the live database, ready to replace it.

    Use as a context manager: the staging file is removed on exit whether or
    not :meth:`commit` ran. From the moment :meth:`check` stages the backup until
    exit, the restore holds the live database's load lock: no bulk load writes
    meanwhile and none starts (see :mod:`haven.store.filelocks`).
    """

    def __init__(self, backup: Path, live: Path) -> None:
        self.backup = backup
        self.live = live
        self.staging = live.parent / f".{live.name}.restore-{os.getpid()}"  # made by check()
        self._held = ExitStack()
        self.report: DatabaseFileReport | None = None
        self.upgraded_from: str | None = None
        #: Galaxy name → the ``lod_clock`` it was given past the live one (set by :meth:`commit`).
        self.advanced: dict[str, int] = {}
        #: How many systems (and deleted systems with history) got versions past the live ones.
        self.versions_moved = 0

    def __enter__(self) -> Restore:
        return self

    def __exit__(self, *exc: object) -> None:
        self._held.close()

    def check(self) -> DatabaseFileReport:
        """Stage and verify the backup; raise :class:`BackupRefused` if it is not usable."""
        backup, live = self.backup, self.live
        if not backup.exists():
            raise BackupRefused(f"no file at {backup}", field="path")
        if not backup.is_file():
            raise BackupRefused(f"{backup} is not a file", field="path")
        if live.exists() and backup.resolve() == live.resolve():
            raise BackupRefused(f"{backup} is the live database itself", field="path")
        with backup.open("rb") as f:
            if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                raise BackupRefused(f"{backup} is not a SQLite database", field="path")
        live.parent.mkdir(parents=True, exist_ok=True)
        self._held.enter_context(filelocks.restoring(live))
        # (a copy staged by a restore that was killed is removed here)
        self.staging = self._held.enter_context(scratch_copy(live.parent, f".{live.name}.restore-"))
        shutil.copyfile(backup, self.staging)
        wal = Path(f"{backup}-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            # Transactions committed to the WAL only (no checkpoint since): SQLite replays the
            # copy's WAL when it opens the copy, and journal_mode = DELETE below folds it in.
            # The -shm is not copied: SQLite rebuilds it from the WAL.
            shutil.copyfile(wal, f"{self.staging}-wal")
        try:
            conn = sqlite3.connect(self.staging)
            try:
                conn.execute("PRAGMA journal_mode = DELETE")
                report = _report(conn, self.staging)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise BackupRefused(f"{backup} cannot be read as a database: {exc}", field="path") from None
        report.path = backup
        if not report.ok:
            problems = "; ".join(report.integrity[:5])
            raise BackupRefused(f"{backup} fails the integrity check: {problems}", field="path")
        known = migrate.known_revisions()
        if report.revision is None:
            raise BackupRefused(f"{backup} is not a Haven database (no schema revision recorded)", field="path")
        if report.revision not in known:
            raise BackupRefused(
                f"{backup} is at schema revision {report.revision}, which this Haven does not know "
                f"(it knows {', '.join(known)}); restore it with the Haven version that wrote it",
                field="path",
            )
        if report.revision != known[0]:
            try:
                migrate.upgrade(DatabaseUrl("sqlite", str(self.staging)))
            except migrate.MigrationFailed as exc:
                raise BackupRefused(f"{backup} is at schema revision {report.revision} and cannot be upgraded "
                                    f"to {known[0]}: {exc.cause}", field="path") from None
            self.upgraded_from = report.revision
        conn = sqlite3.connect(self.staging)
        try:  # a file can pass the integrity check and name a revision while tables are gone
            missing = migrate.missing_schema(conn)
            # A copy taken during a bulk load lacks the indexes the load builds when it ends (running
            # the load again finishes it): those are not missing, the record says how to make them.
            record = deferred_record(conn)
        finally:
            conn.close()
        if record is not None:
            missing = [m for m in missing if m not in {f"index {name}" for name, _ in record["indexes"]}]
        if missing:
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            raise BackupRefused(f"{backup} is not a whole Haven database: it lacks {shown}", field="path")
        self.report = report
        return report

    def commit(self, progress: Callable[[str], None] = lambda _: None) -> str:
        """Replace the live database with the checked copy; returns how ("backup-api" or "rename")."""
        if self.report is None:
            raise RuntimeError("check() must succeed before commit()")
        how = self._replace_live(progress)
        # a killed load's name index, built from the content just replaced
        sidenames.remove_unused_side_file(self.live)
        return how

    def _replace_live(self, progress: Callable[[str], None]) -> str:
        if not self.live.exists():
            fsync(self.staging)
            os.replace(self.staging, self.live)
            fsync(self.live.parent)
            return "rename"
        src = sqlite3.connect(self.staging)
        dst = sqlite3.connect(self.live)
        try:
            dst.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            live_page_size = dst.execute("PRAGMA page_size").fetchone()[0]
            if src.execute("PRAGMA page_size").fetchone()[0] != live_page_size:
                # A WAL database cannot change page size, so the copy adopts the live one.
                progress("matching the live database's page size")
                src.execute(f"PRAGMA page_size = {int(live_page_size)}")
                src.execute("VACUUM")
            self.advanced = advance_octree_versions(src, self.live)
            self.versions_moved = advance_system_versions(src, self.live)
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return "backup-api"


def _has_octree(conn: sqlite3.Connection, schema: str) -> bool:
    """Whether database ``schema`` of ``conn`` has galaxy clocks and octree nodes (revision 0002 on)."""
    tables = {row[0] for row in conn.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'")}
    if not {"galaxy", "lod_node"} <= tables:
        return False
    columns = {row[1] for row in conn.execute(f"PRAGMA {schema}.table_info(galaxy)")}
    return "lod_clock" in columns


_MATCHED_CLOCKS = """
CREATE TEMP TABLE restore_clock AS
SELECT g.id AS galaxy_id, g.name AS name,
       MAX(g.lod_clock, (SELECT MAX(l.lod_clock) FROM live.galaxy AS l WHERE l.id = g.id OR l.name = g.name))
           + :margin AS clock
FROM main.galaxy AS g
WHERE EXISTS (SELECT 1 FROM live.galaxy AS l WHERE l.id = g.id OR l.name = g.name)
"""
# Nodes the live galaxy has and the restored one lacks: kept as emptied nodes (count 0) at the
# new clock, so a map holding their chunks learns from the change feed that they are gone.
_EMPTIED_NODES = """
INSERT OR IGNORE INTO main.lod_node (galaxy_id, level, cell, count, min_priority, max_priority, version)
SELECT c.galaxy_id, n.level, n.cell, 0, NULL, NULL, c.clock
FROM temp.restore_clock AS c
JOIN main.galaxy AS g ON g.id = c.galaxy_id
JOIN live.galaxy AS l ON l.id = g.id OR l.name = g.name
JOIN live.lod_node AS n ON n.galaxy_id = l.id
"""


#: How many ids past the live database's the restored one starts, like :data:`CLOCK_MARGIN` for map
#: versions: the live ids are read before the copy, and a server keeps creating systems until the
#: copy has its write lock (seconds, if writers keep restarting it). A million is years of ids at
#: no cost: ids are 63-bit.
ID_MARGINS: dict[str, int] = {"system": 1_000_000, "galaxy": 1_000}


def _keep_new_ids_past_live(staging: sqlite3.Connection) -> None:
    """Start the copy's new system and galaxy ids past every id the live database gave out.

    Otherwise a system created after the restore could get the id of one that
    only the live database had, and a client still holding that id (and its
    version 1) would edit or delete a system it never saw. The same
    ``meta`` record that keeps deleted ids from coming back does it (see
    :mod:`haven.store.ids`).
    """
    live_tables = {row[0] for row in staging.execute("SELECT name FROM live.sqlite_master WHERE type = 'table'")}
    for table, key in FREED_TOP_KEYS.items():  # fixed names, never user text
        top = staging.execute(f"SELECT coalesce(max(id), 0) FROM live.{table}").fetchone()[0]
        if "meta" in live_tables:
            freed = staging.execute("SELECT CAST(value AS INTEGER) FROM live.meta WHERE key = ?", (key,)).fetchone()
            top = max(top, freed[0] if freed and freed[0] is not None else 0)
        top += ID_MARGINS[table]  # ids a running server hands out between this read and the copy
        staging.execute(
            "INSERT INTO main.meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
            "SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (key, str(top)))


def advance_octree_versions(staging: sqlite3.Connection, live: Path) -> dict[str, int]:
    """Move the staged copy's map versions past the live database's; returns galaxy name → new clock.

    For every galaxy of the copy that the live database also has (same id, or same
    name), in one transaction on the copy:

    * ``lod_clock`` becomes the larger of the two clocks plus :data:`CLOCK_MARGIN`,
      so every later write hands out versions no client or cache has seen;
    * every ``lod_node`` is stamped with that clock: each chunk gets a new version
      (a new ETag and cache key), and a client following the change feed from any
      clock it was given sees every node changed (or a ``reset`` when there are
      more than it asked for) and reloads;
    * a node only the live galaxy has is kept as an emptied node (count 0), so such
      a client also drops the chunks the restore took away;
    * new system and galaxy ids start past the live database's (see
      :func:`_keep_new_ids_past_live`).

    A live database without galaxy clocks (not Haven's, or older than revision
    0002) changes nothing.
    """
    with _live_attached(staging, live):
        try:
            ready = _has_octree(staging, "main") and _has_octree(staging, "live")
        except sqlite3.DatabaseError:  # a live file that is not a database: the copy replaces it as before
            ready = False
        if not ready:
            return {}
        with transaction(staging):
            staging.execute(_MATCHED_CLOCKS, {"margin": CLOCK_MARGIN})
            staging.execute("UPDATE main.galaxy SET lod_clock = (SELECT clock FROM temp.restore_clock "
                            "WHERE galaxy_id = galaxy.id) WHERE id IN (SELECT galaxy_id FROM temp.restore_clock)")
            staging.execute("UPDATE main.lod_node SET version = (SELECT clock FROM temp.restore_clock "
                            "WHERE galaxy_id = lod_node.galaxy_id) "
                            "WHERE galaxy_id IN (SELECT galaxy_id FROM temp.restore_clock)")
            staging.execute(_EMPTIED_NODES)
            _keep_new_ids_past_live(staging)
            advanced = dict(staging.execute("SELECT name, clock FROM temp.restore_clock ORDER BY name"))
            staging.execute("DROP TABLE temp.restore_clock")
        return advanced


@contextmanager
def _live_attached(staging: sqlite3.Connection, live: Path) -> Iterator[None]:
    """The live database attached to the staged copy as ``live``, the copy's connection in autocommit
    mode, so each explicit transaction reads the live database and changes the copy in one snapshot."""
    staging.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    staging.execute("PRAGMA synchronous = OFF")  # a scratch copy: the backup API copies it, durably
    staging.execute("ATTACH DATABASE ? AS live", (str(live),))
    previous_isolation = staging.isolation_level
    staging.isolation_level = None
    try:
        yield
    finally:
        staging.execute("DETACH DATABASE live")
        staging.isolation_level = previous_isolation


def _tables(conn: sqlite3.Connection, schema: str) -> set[str]:
    return {row[0] for row in conn.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'")}


#: The highest version a history entry tells of: the version its change made, or for a delete
#: recorded before entries kept it, one above the version its snapshot kept (as the undo reads it).
_RECORDED_VERSION = (
    "coalesce(version_after, CASE WHEN op = 'delete' AND json_valid(CAST(before AS TEXT)) "
    "AND json_type(CAST(before AS TEXT), '$.version') = 'integer' "
    "THEN json_extract(CAST(before AS TEXT), '$.version') + 1 END)"
)
# Every id with history in the copy or the live database: the highest version each one recorded
# (NULL where that database has no history of it). At most the kept history, 100,000 entries each.
_SEEN_IN_BACKUP = f"""
INSERT INTO temp.restore_seen (system_id, in_backup)
SELECT system_id, coalesce(max({_RECORDED_VERSION}), 0) FROM main.system_change GROUP BY system_id
"""
_SEEN_LIVE = f"""
INSERT INTO temp.restore_seen (system_id, in_live)
SELECT system_id, coalesce(max({_RECORDED_VERSION}), 0) FROM live.system_change WHERE true GROUP BY system_id
ON CONFLICT (system_id) DO UPDATE SET in_live = excluded.in_live
"""
# How far an id with history moves: past the larger of the live versions (its row's, its
# history's) plus the margin, from the larger of the copy's. Only ids the copy has.
_SEEN_SHIFT = """
UPDATE temp.restore_seen SET shift = max(
    max(coalesce((SELECT l.version FROM live.system AS l WHERE l.id = restore_seen.system_id), 0),
        coalesce(in_live, 0))
    - max(coalesce((SELECT b.version FROM main.system AS b WHERE b.id = restore_seen.system_id), 0),
          coalesce(in_backup, 0)),
    0) + :margin
WHERE in_backup IS NOT NULL OR EXISTS (SELECT 1 FROM main.system AS b WHERE b.id = restore_seen.system_id)
"""
# The entries move with their system, the version their snapshot kept too (a delete recorded
# before entries kept their own version is undone one above it).
_SHIFT_HISTORY = """
UPDATE main.system_change SET
    version_after = version_after + s.shift,
    before = CASE WHEN json_valid(CAST(before AS TEXT)) AND json_type(CAST(before AS TEXT), '$.version') = 'integer'
        THEN CAST(json_set(CAST(before AS TEXT), '$.version', json_extract(CAST(before AS TEXT), '$.version') + s.shift)
                  AS BLOB)
        ELSE before END
FROM temp.restore_seen AS s
WHERE s.system_id = system_change.system_id AND s.shift IS NOT NULL
"""
# Every system: one pass over the table, a primary-key look-up in the live one per row (and in
# the small table of ids with history).
_SHIFT_SYSTEMS = """
UPDATE main.system SET version = version + coalesce(
    (SELECT s.shift FROM temp.restore_seen AS s WHERE s.system_id = system.id),
    max(coalesce((SELECT l.version FROM live.system AS l WHERE l.id = system.id), 0) - version, 0) + :margin)
"""


def advance_system_versions(staging: sqlite3.Connection, live: Path) -> int:
    """Move every restored system's version past the live database's; returns how many ids moved.

    A system's ``version`` is its ETag: ``If-Match`` and ``?version=`` compare it, and an
    undo names the version the change to undo made. A backup's versions are older than
    the live ones, so if they came back as they were, an editor still holding a version
    the live database handed out could match the restored system once someone edits it
    there, and overwrite or undo an edit they never saw. So, in one transaction on the
    copy, every system of the copy, and every deleted one its history keeps, moves up
    by the same amount as its history entries (the version each change made, the
    version each snapshot kept), so the restored history can still be undone: by
    :data:`VERSION_MARGIN`, plus how far the live database's version of the same id
    (its row's, or the latest its live history recorded, a deletion's included) is
    ahead of the copy's. Every system moves, not only those the live database has: the
    live database may have forgotten (history is trimmed) an id it gave out, or create
    one while the copy waits to write. One pass over ``system`` and set-based updates
    of the (at most 100,000 entries of) history: no statement per system.

    A live database without a ``system`` table (not Haven's) changes nothing.
    """
    with _live_attached(staging, live):
        try:
            live_tables = _tables(staging, "live")
        except sqlite3.DatabaseError:  # a live file that is not a database: the copy replaces it as before
            return 0
        if "system" not in live_tables or not {"system", "system_change"} <= _tables(staging, "main"):
            return 0
        with transaction(staging):
            staging.execute("CREATE TEMP TABLE restore_seen "
                            "(system_id INTEGER PRIMARY KEY, in_backup INTEGER, in_live INTEGER, shift INTEGER)")
            staging.execute(_SEEN_IN_BACKUP)
            if "system_change" in live_tables:
                staging.execute(_SEEN_LIVE)
            staging.execute(_SEEN_SHIFT, {"margin": VERSION_MARGIN})
            staging.execute(_SHIFT_HISTORY)
            moved = staging.execute(_SHIFT_SYSTEMS, {"margin": VERSION_MARGIN}).rowcount
            moved += staging.execute(
                "SELECT count(*) FROM temp.restore_seen AS s WHERE s.shift IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM main.system AS b WHERE b.id = s.system_id)").fetchone()[0]
            staging.execute("DROP TABLE temp.restore_seen")
        return moved
