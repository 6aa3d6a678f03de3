"""The fast write path: resumable bulk loads, one transaction per batch.

A bulk job (``haven generate``, ``haven import`` of Parquet/CSV/JSONL) is a
sequence of numbered batches. :class:`BulkLoader` writes one batch per
transaction: validate every row (vectorised), create missing regions, compute
Morton codes, insert the systems with ``executemany``, bump the galaxy and
region counters, fill the search index for the new rows and record the batch
in ``bulk_job_batch`` — all in the same transaction. So:

* a batch is written completely or not at all (an error names the row and the
  field and leaves the database unchanged);
* after a kill, re-running the same job skips the committed batches and
  re-does the one that was in flight: no duplicates, nothing lost.

New systems join the level-of-detail octree in :meth:`BulkLoader.finish`
(a bulk rebuild of the galaxy's octree, or per-system inserts when the job
added only a small fraction of the galaxy). Until then they are counted,
searchable and readable, but not drawn on the map.

The search indexes are filled per batch, not per row: inside the batch's
transaction their insert triggers are dropped, the rows inserted, the text
index filled for the new id range with one ``INSERT … SELECT``, the name index
from keys the batch's preparation computed (vectorised, in the preparing
thread), and the triggers recreated before commit, so no other connection ever
sees them missing. A large load into an empty database leaves the name index
to a helper process that fills a copy beside the database and hands it over in
:meth:`BulkLoader.finish` (:mod:`haven.store.sidenames`).
Measured on 200,000 generated systems: per-row trigger 7.6 s; trigger skipped
by a ``WHEN`` flag row in ``meta`` 1.8 + 1.0 s; trigger dropped 1.1 + 1.0 s.

A job that writes every system of the database (a load into an empty one)
may leave the secondary indexes of ``system`` out while its batches run and
build them in :meth:`BulkLoader.finish` (:meth:`BulkLoader.defer_indexes`,
:mod:`haven.store.deferred`).

Batches are prepared (validated, converted, sorted) by :meth:`BulkLoader.prepare`,
which does not touch the database, so the caller can prepare batch k+1 in a
thread while batch k is written (:func:`pipelined`).
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import orjson

from haven.errors import Conflict, HavenError, InvalidInput, JobVanished
from haven.store import deferred, filelocks, lod, search, sidenames
from haven.store.batches import TEXT_COLUMNS, BulkRowError, Details, PreparedBatch, prepare_batch
from haven.store.derived import materialize_all_seeded, materialize_seeded
from haven.store.ids import next_row_id
from haven.store.lod import PENDING_LEVEL
from haven.store.sqlite import BUSY_TIMEOUT_MS
from haven.timeutil import now_ms

__all__ = [
    "BatchProgress",
    "BulkLoader",
    "BulkRowError",
    "Details",
    "PreparedBatch",
    "ProgressCallback",
    "TEXT_COLUMNS",
    "materialize_all_seeded",
    "materialize_seeded",
    "pipelined",
    "rich_progress",
]

#: A bulk job that adds fewer than 1/INCREMENTAL_RATIO of the galaxy's systems
#: places them in the octree one by one instead of rebuilding it.
INCREMENTAL_RATIO = 20
#: A system a bulk job wrote and has not yet placed in the octree has ``lod_level``
#: :data:`~haven.store.lod.PENDING_LEVEL`; its ``lod_cell`` is PENDING_CELL_BASE +
#: batch index (8 bytes, see ``_insert``).
PENDING_CELL_BASE = -(1 << 62)
#: Batches of a job that find the systems their details belong to by reading the table once
#: each; a job with more builds a legacy-id index for the rest (and drops it when it ends).
ATTACH_SCANS_BEFORE_INDEX = 2
#: Page cache of the loading connection while a job runs (KiB).
BULK_CACHE_KIB = 512 * 1024
#: FTS5's own pending-data buffer (1 MiB), given back to an index that had no setting of its
#: own once a batch has filled it with ``search.LOAD_HASH_BYTES``.
FTS_DEFAULT_HASH_BYTES = 1 << 20
#: Helper threads SQLite may use to sort while the loading connection builds an index
#: (``PRAGMA threads``; large sorts only: the 10M galaxy's four indexes, rebuilt alone, took
#: 31 s instead of 41 s on 2 cores).
SORT_THREADS = 2

_TEXT_INDEX_FILL = (
    "INSERT INTO system_fts (rowid, materials, attributes, galaxy) "
    "SELECT id, materials, attributes, galaxy FROM system_search_text WHERE id BETWEEN ? AND ?"
)
#: The per-row triggers that fill the search indexes; a bulk batch fills them itself.
_SEARCH_TRIGGERS = ("system_fts_insert", "system_fts_name_insert")


@dataclass
class BatchProgress:
    """Reported after every batch (``skipped``: it was committed by an earlier run)."""

    job_key: str
    batch_index: int
    rows: int
    rows_done: int
    batches_done: int
    total_batches: int | None
    skipped: bool = False
    seconds: float = 0.0
    total_rows: int | None = None  # when known (generate, Parquet, a CSV or JSONL file once checked)


ProgressCallback = Callable[[BatchProgress], None]


def rich_progress(progress: Any, task_id: Any, *, total_rows: int | None = None) -> ProgressCallback:
    """A callback that moves a ``rich.progress.Progress`` task (counted in systems).

    ``haven generate`` / ``haven import`` create the bar and pass this to the job::

        with Progress() as bar:
            task = bar.add_task("generating", total=n)
            generate_galaxy(store, galaxy, n, seed, progress=rich_progress(bar, task))
    """

    def update(p: BatchProgress) -> None:
        kwargs: dict[str, Any] = {"completed": p.rows_done}
        total = total_rows if total_rows is not None else p.total_rows
        if total is not None:
            kwargs["total"] = total
        progress.update(task_id, **kwargs)

    return update


# -- the loader ---------------------------------------------------------------------


class BulkLoader:
    """Resumable, batch-transactional loader of systems into one galaxy.

    ``job_key`` names the job: a loader made with the key of an unfinished job
    continues it (:meth:`done_batches` are skipped). ``kind`` is stored
    (``"generate"``, ``"import"``); ``total_batches`` is shown in progress when
    known. ``stamp_ms`` is the created/modified time of rows that carry none
    (default: when the job first started, so a resumed job writes the same data).
    """

    def __init__(
        self,
        store: Any,
        galaxy: str,
        job_key: str,
        *,
        kind: str,
        total_batches: int | None = None,
        source: str | None = None,
        source_checksum: str | None = None,
        params: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        stamp_ms: int | None = None,
        sort_by_code: bool = True,
        defer_fts: bool = True,
    ) -> None:
        self.store = store
        self.galaxy = galaxy
        self.job_key = job_key
        self.kind = kind
        self.progress = progress
        self.sort_by_code = sort_by_code
        self.defer_fts = defer_fts
        self.galaxy_id, self.cube, self.capacity = store._galaxy_key(galaxy)
        # held until close(): a restore must not replace the database under a running load (the
        # ingest functions take it before they make the galaxy; a second shared hold is free)
        self._load_lock = filelocks.loading(getattr(store, "path", None))
        try:
            with store._write() as w:
                w.execute(
                    "INSERT INTO bulk_job (job_key, galaxy_id, kind, total_batches, source, source_checksum, "
                    "params, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_key) DO NOTHING",
                    (job_key, self.galaxy_id, kind, total_batches, source, source_checksum,
                     orjson.dumps(dict(params)).decode() if params else None, now_ms()),
                )
                row = w.execute("SELECT * FROM bulk_job WHERE job_key = ?", (job_key,)).fetchone()
                done = {r[0] for r in w.execute("SELECT batch_index FROM bulk_job_batch WHERE job_key = ?",
                                                (job_key,))}
            if row["galaxy_id"] != self.galaxy_id or row["kind"] != kind:
                raise Conflict(f"bulk job {job_key!r} belongs to another galaxy or kind ({row['kind']})",
                               field="job")
        except BaseException:
            if self._load_lock is not None:
                self._load_lock.release()
            raise
        self.job = dict(row)
        self.params: dict[str, Any] = orjson.loads(row["params"]) if row["params"] else {}
        self.stamp_ms: int = row["started_at"] if stamp_ms is None else int(stamp_ms)
        self.total_batches = row["total_batches"] if total_batches is None else total_batches
        self.total_rows: int | None = None  # for progress bars, when the caller knows it
        self._done = done
        self.rows_done: int = row["rows_done"]
        self.rows_before: int = row["rows_done"]
        self.timings: dict[str, float] = {}
        self._attach_scans = 0  # batches whose details found their systems by reading the table
        self.deferred = False  # secondary indexes dropped until finish() (see defer_indexes)
        self._store_bulk: bool | None = None  # the store's own ``bulk`` before defer_indexes lent it ours
        self._names: sidenames.SideNameIndex | None = None  # the name index, built beside the database (deferred loads)
        conn = store.conn
        self._cache_before = conn.execute("PRAGMA cache_size").fetchone()[0]
        self._threads_before = conn.execute("PRAGMA threads").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
        conn.execute(f"PRAGMA threads = {SORT_THREADS}")

    # -- state -----------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.job["state"] == "done"

    @property
    def names_beside(self) -> bool:
        """Whether a helper fills the name index beside the database (then batches need no name keys)."""
        return self._names is not None

    def done_batches(self) -> set[int]:
        """Indices of the batches this job has committed (in this or an earlier run)."""
        return set(self._done)

    def skip(self, batch_index: int) -> None:
        """Report an already committed batch to the progress callback."""
        self._report(batch_index, 0, skipped=True, seconds=0.0)

    def _report(self, batch_index: int, rows: int, *, skipped: bool, seconds: float) -> None:
        if self.progress is not None:
            self.progress(BatchProgress(
                self.job_key, batch_index, rows, self.rows_done, len(self._done), self.total_batches,
                skipped=skipped, seconds=seconds, total_rows=self.total_rows,
            ))

    def _tick(self, name: str, t0: float) -> float:
        t = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + (t - t0)
        return t

    def defer_indexes(self, *, names_unique: bool) -> bool:
        """Build the secondary indexes of ``system`` at the end instead of row by row.

        Only when this job has written every system the database holds (a load
        into an empty database, or the resumed run of one): then no query needs
        the indexes meanwhile, and :mod:`haven.store.deferred` keeps other users
        out until :meth:`finish` has built them again. ``names_unique``: the job
        guarantees unique names (generated names; an import whose whole file was
        checked), so the unique name index may wait too. Returns whether the
        indexes are deferred. Another job's unfinished deferral is a
        :class:`~haven.errors.Conflict`.
        """
        store = self.store
        self._store_bulk = bulk_before = store.bulk
        store.bulk = True  # this store does the job: it may write meanwhile
        beside = False
        try:
            with store._write() as conn:
                record = deferred.deferred_record(conn)
                if record is not None:
                    if record["job"] != self.job_key:
                        raise Conflict(deferred.unfinished_load_message(record), field="job")
                    self.deferred = True
                    beside = bool(record.get("names_beside"))  # as the run that deferred them decided
                elif not self.finished:
                    held = conn.execute("SELECT coalesce(sum(system_count), 0) FROM galaxy").fetchone()[0]
                    if held == self.rows_done:
                        beside = self.defer_fts and (self.total_rows or 0) >= sidenames.MIN_ROWS
                        self.deferred = bool(deferred.drop_indexes(
                            conn, self.job_key, include_unique=names_unique, names_beside=beside))
        finally:
            store.bulk = bulk_before or self.deferred
        if self.deferred and beside:
            committed = store.conn.execute(
                "SELECT batch_index, first_id, last_id FROM bulk_job_batch WHERE job_key = ? AND rows > 0 "
                "ORDER BY batch_index", (self.job_key,),
            ).fetchall()
            identity = f"{self.job_key} started_at={self.job['started_at']} galaxy={self.galaxy_id}"
            self._names = sidenames.SideNameIndex(store.path, identity, self.galaxy_id,
                                                  [tuple(r) for r in committed])
        return self.deferred

    @contextmanager
    def running(self) -> Iterator[BulkLoader]:
        """Run the job's batches and :meth:`finish` inside this.

        On bad input (a :class:`~haven.errors.HavenError`) the indexes the job
        deferred are built straight away (:meth:`restore_indexes`), so the
        database is usable again; in every case the connection gets its normal
        page cache back. A kill leaves the job to be resumed.
        """
        try:
            yield self
        except JobVanished:
            raise  # the database was replaced: nothing of this job is left to tidy
        except HavenError as exc:
            placed = False
            try:
                self.restore_indexes()
                placed = self._place_written()
            except Exception as failed:  # noqa: BLE001 - the input's error is the one to report
                exc.add_note(f"the deferred indexes could not be built yet ({failed}); "
                             "run the same load again to finish them")
            if self.rows_done:
                where = " (and on the map)" if placed else ""
                exc.add_note(f"the {self.rows_done:,} systems of the batches before it are stored{where}; "
                             "fix the cause and run the same command again to go on from there")
            raise
        finally:
            self.close()

    def _place_written(self) -> bool:
        """Put the systems of the batches that committed on the map (a job stopped by bad input).

        A rerun places whatever is still pending, so placing them now changes
        nothing it would do; until then the map shows them. Returns whether they are placed.
        """
        if not self.rows_done:
            return False
        with self.store._write() as conn:
            if deferred.deferred_record(conn) is not None:
                return False
            place_pending(self.store, conn, self.galaxy_id, self.capacity)
        return True

    def restore_indexes(self) -> None:
        """Build the indexes this job deferred now, without finishing it.

        For a job stopped by bad input: the database is usable again (the
        systems written so far are readable and searchable; :meth:`_place_written` puts them on the map)
        and running the job again defers them anew and goes on.
        """
        if not self.deferred:
            return
        self._bring_names_in()
        with self.store._write() as conn:
            record = deferred.deferred_record(conn)
            if record is not None and record["job"] == self.job_key:
                deferred.build_indexes(conn, record, after_placement=False)
                deferred.build_indexes(conn, record, after_placement=True)
        self.deferred = False
        if self._store_bulk is not None:
            self.store.bulk, self._store_bulk = self._store_bulk, None

    # -- one batch -----------------------------------------------------------------------

    def write_batch(
        self,
        batch_index: int,
        columns: Mapping[str, Any],
        *,
        region_names: Sequence[str] | None = None,
        details: Mapping[int, Details] | None = None,
        attach: Sequence[tuple[int, str, Details]] = (),
        row_label: Callable[[int], str] | None = None,
    ) -> int:
        """Validate and write one batch in one transaction; returns the systems written.

        ``columns``: ``name``, ``x_ly``, ``y_ly``, ``z_ly`` (or ``x``, ``y``, ``z``) and
        optionally ``region`` (names) or ``region_index`` with ``region_names``, the
        text columns of :data:`TEXT_COLUMNS`, ``confidence``, ``seed``, ``extra``
        (dicts), ``created_at`` / ``modified_at`` (epoch ms). Values are numpy arrays,
        pyarrow arrays or lists; missing values are None/null.

        ``details`` maps a row of the batch to the planets/station stored with it;
        ``attach`` lists ``(row, legacy_id, details)`` for systems stored earlier (or
        in this batch), found by ``legacy_id`` (see :meth:`attach_details`).
        ``row_label(i)`` names row ``i`` in error messages (default ``row i+1``).

        A batch this job already committed is skipped (returns 0).
        """
        if batch_index in self._done:
            self.skip(batch_index)
            return 0
        return self.write_prepared(self.prepare(
            batch_index, columns, region_names=region_names, details=details, attach=attach, row_label=row_label,
        ))

    def prepare(
        self,
        batch_index: int,
        columns: Mapping[str, Any],
        *,
        region_names: Sequence[str] | None = None,
        details: Mapping[int, Details] | None = None,
        attach: Sequence[tuple[int, str, Details]] = (),
        row_label: Callable[[int], str] | None = None,
        name_keys: bool = True,
    ) -> PreparedBatch:
        """Validate and convert a batch without touching the database (safe in a thread).

        ``name_keys=False``: leave the name index's keys out (a check that writes
        nothing); a batch written without them computes them as it is written.
        Raises :class:`BulkRowError` naming the first bad row and field.
        """
        t0 = time.perf_counter()
        label = row_label or (lambda i: f"row {i + 1}")
        p = prepare_batch(self, batch_index, columns, region_names, label, name_keys=name_keys)
        p.details = dict(details or {})
        p.attach = list(attach)
        p.prepare_s = time.perf_counter() - t0
        return p

    def write_prepared(self, p: PreparedBatch) -> int:
        """Write a prepared batch in one transaction (see :meth:`write_batch`)."""
        if p.batch_index in self._done:
            self.skip(p.batch_index)
            return 0
        self.timings["prepare"] = self.timings.get("prepare", 0.0) + p.prepare_s
        t_start = time.perf_counter()
        store = self.store
        try:
            with store._write() as conn:
                t = self._insert(conn, p)
                for row, d in p.details.items():
                    store._insert_children(conn, p.first_id + int(p.rank[row]), d.planets, d.space_station)
                if p.attach:
                    self._attach(conn, p)
                t = self._tick("children", t)
                self._record(conn, p)
        except sqlite3.IntegrityError as exc:
            raise self._explain_integrity(exc, p) from None
        self._tick("commit", t)
        if self._names is not None and p.n:
            self._names.add(p.batch_index, p.first_id, p.first_id + p.n - 1)
        self._done.add(p.batch_index)
        self.rows_done += p.n
        self._report(p.batch_index, p.n, skipped=False, seconds=time.perf_counter() - t_start + p.prepare_s)
        return p.n

    def attach_details(
        self, batch_index: int, attach: Sequence[tuple[int, str, Details]],
        *, row_label: Callable[[int], str] | None = None,
    ) -> int:
        """Store planets/stations of stored systems found by ``legacy_id``, in one transaction.

        Each item is ``(row, legacy_id, details)``. The system's stored planets and
        station are replaced (a procedural seed is dropped) and its version bumped.
        An unknown ``legacy_id`` is an error naming the row; nothing is written.
        """
        if batch_index in self._done:
            self.skip(batch_index)
            return 0
        self.write_batch(batch_index, {"name": [], "x_ly": [], "y_ly": [], "z_ly": []},
                         attach=attach, row_label=row_label)
        return len(attach)

    def _fail(self, label: Callable[[int], str], row: int, fld: str | None, message: str,
              batch_index: int) -> BulkRowError:
        where = f"{label(row)}: {fld}" if fld else label(row)
        return BulkRowError(f"{where}: {message}; nothing of this batch was written",
                            row=label(row), field=fld, batch_index=batch_index)

    # -- writing ----------------------------------------------------------------------------

    def _insert(self, conn: sqlite3.Connection, p: PreparedBatch) -> float:
        t = time.perf_counter()
        n = p.n
        gid = self.galaxy_id
        p.first_id = first_id = next_row_id(conn)
        if n == 0:
            return t
        new_ids = np.arange(first_id, first_id + n, dtype=np.int64)
        sql_cols = ["id", "priority", *p.sql_columns]
        data: list[Any] = [new_ids.tolist(), lod.priorities_of(new_ids).tolist(), *p.data]
        if p.region_idx is not None:
            # regions: resolve or create each distinct name once, count with bincount
            region_ids = [self.store._region_id(conn, gid, r) for r in p.region_list]
            counts = np.bincount(p.region_idx[p.region_idx >= 0], minlength=len(p.region_list))
            for rid, c in zip(region_ids, counts.tolist()):
                if c and rid is not None:
                    conn.execute("UPDATE region SET system_count = system_count + ? WHERE id = ?", (c, rid))
            lookup = np.array([-1 if r is None else r for r in region_ids] + [-1], dtype=np.int64)
            resolved = lookup[p.region_idx]  # index -1 picks the last slot: no region
            sql_cols.append("region_id")
            data.append(resolved.tolist() if not (resolved < 0).any()
                        else [None if r < 0 else r for r in resolved.tolist()])
        conn.execute("UPDATE galaxy SET system_count = system_count + ? WHERE id = ?", (n, gid))
        # Not yet in the octree: level PENDING_LEVEL and a cell shared by the whole batch
        # (its octree-index entries stay together) that takes 8 bytes, so finish() rewrites
        # both with values that are never larger: the rows are updated in place.
        fixed = {"galaxy_id": gid, "version": 1, "lod_level": PENDING_LEVEL,
                 "lod_cell": PENDING_CELL_BASE + p.batch_index}
        if "created_at" not in p.sql_columns:
            fixed["created_at"] = self.stamp_ms
        if "modified_at" not in p.sql_columns:
            fixed["modified_at"] = self.stamp_ms
        placeholders = ["?"] * len(sql_cols) + [str(int(v)) for v in fixed.values()]
        sql = f"INSERT INTO system ({', '.join(sql_cols + list(fixed))}) VALUES ({', '.join(placeholders)})"
        t = self._tick("insert_prepare", t)
        triggers: list[str] = []
        if self.defer_fts:
            # The search indexes in bulk: the per-row triggers are dropped for this transaction
            # only (other connections never see them missing) and recreated before commit.
            triggers = [row[0] for row in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?)", _SEARCH_TRIGGERS
            )]
            for name in _SEARCH_TRIGGERS:
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        conn.executemany(sql, zip(*data))
        t = self._tick("insert_rows", t)
        if triggers:
            # One in-memory term buffer per index for the whole batch: it becomes a few large
            # index segments (the schema never merges inside a write; finish() merges them).
            with _fts_buffer(conn, "system_fts"):
                conn.execute(_TEXT_INDEX_FILL, (first_id, first_id + n - 1))
            if self._names is None:  # else the side index gets the batch once it has committed
                folded, grams = p.name_keys if p.name_keys is not None else search.name_index_values(p.names)
                with _fts_buffer(conn, "system_fts_name"):
                    conn.executemany(search.NAME_INDEX_INSERT, zip(
                        new_ids.tolist(), folded, grams, itertools.repeat(search.galaxy_key(self.galaxy_id))))
            for statement in triggers:
                conn.execute(statement)
            t = self._tick("fts", t)
        return t

    def _attach(self, conn: sqlite3.Connection, p: PreparedBatch) -> None:
        store = self.store
        systems = self._systems_by_legacy_id(conn, [legacy_id for _, legacy_id, _ in p.attach])
        for row, legacy_id, d in p.attach:
            found = systems.get(legacy_id, [])
            if not found:
                raise self._fail(p.label, row, "id", f"no system with the id {legacy_id!r} in galaxy "
                                                     f"{self.galaxy!r}", p.batch_index)
            if len(found) > 1:
                raise self._fail(p.label, row, "id", f"more than one system has the id {legacy_id!r}",
                                 p.batch_index)
            system_id = found[0]
            store._delete_children(conn, system_id, planets=True, station=True)
            store._insert_children(conn, system_id, d.planets, d.space_station)
            conn.execute(
                "UPDATE system SET seed = NULL, version = version + 1, modified_at = ? WHERE id = ?",
                (self.stamp_ms, system_id),
            )

    def _systems_by_legacy_id(self, conn: sqlite3.Connection, legacy_ids: list[str]) -> dict[str, list[int]]:
        """Ids of the galaxy's systems with each legacy id (inside the batch's write).

        The first :data:`ATTACH_SCANS_BEFORE_INDEX` batches of a job read the table
        once each; a job that attaches more batches builds the legacy-id index
        (:func:`ensure_legacy_index`) and looks ids up in it. A details file of one
        batch so never leaves an index's free pages behind in the file.
        """
        if self._attach_scans >= ATTACH_SCANS_BEFORE_INDEX:
            ensure_legacy_index(conn, self.job_key)
        if legacy_index_exists(conn):
            source = f"system INDEXED BY {LEGACY_INDEX} WHERE galaxy_id = ?"
        else:
            self._attach_scans += 1
            source = "system WHERE +galaxy_id = ?"  # one pass over the table, not over an index of it
        found: dict[str, list[int]] = {}
        rows = conn.execute(
            f"SELECT legacy_id, id FROM {source} AND legacy_id IN (SELECT value FROM json_each(?))",
            (self.galaxy_id, orjson.dumps(sorted(set(legacy_ids))).decode()),
        )
        for legacy_id, system_id in rows:
            found.setdefault(legacy_id, []).append(system_id)
        return found

    def _record(self, conn: sqlite3.Connection, p: PreparedBatch) -> None:
        conn.execute(
            "INSERT INTO bulk_job_batch (job_key, batch_index, rows, first_id, last_id) VALUES (?, ?, ?, ?, ?)",
            (self.job_key, p.batch_index, p.n, p.first_id if p.n else None, p.first_id + p.n - 1 if p.n else None),
        )
        conn.execute(
            "UPDATE bulk_job SET batches_done = batches_done + 1, rows_done = rows_done + ?, "
            "total_batches = coalesce(?, total_batches) WHERE job_key = ?",
            (p.n, self.total_batches, self.job_key),
        )

    def name_clash(self, p: PreparedBatch) -> BulkRowError | None:
        """The first row of a prepared batch whose name is already taken in the galaxy, as an error."""
        conn = self.store.conn
        clashes: list[int] = []
        for start in range(0, p.n, 500):
            chunk = p.names[start:start + 500]
            marks = ",".join("?" * len(chunk))
            taken = {r[0] for r in conn.execute(
                f"SELECT name FROM system WHERE galaxy_id = ? AND name IN ({marks})", [self.galaxy_id, *chunk])}
            clashes += [start + j for j, v in enumerate(chunk) if v in taken]
        if not clashes:
            return None
        row = min(int(p.order[i]) if p.order is not None else i for i in clashes)
        name = p.names[int(p.rank[row])]
        return self._fail(p.label, row, "name", f"a system named {name!r} already exists in galaxy "
                                                f"{self.galaxy!r}", p.batch_index)

    def _explain_integrity(self, exc: sqlite3.IntegrityError, p: PreparedBatch) -> HavenError:
        """The batch was rolled back; find the row whose name is already taken."""
        if "system.galaxy_id, system.name" in str(exc):
            clash = self.name_clash(p)
            if clash is not None:
                return clash
        return InvalidInput(f"batch {p.batch_index} could not be written ({exc}); nothing of it was written")

    # -- the end ---------------------------------------------------------------------------

    def finish(self) -> dict[str, Any]:
        """Place the job's systems in the LOD octree and mark the job done.

        Placing and marking are one transaction. A job that deferred the indexes
        builds them around the placement, each step a transaction of its own
        (see :meth:`_place_building_indexes`).

        Returns a summary: ``batches``, ``rows`` (over every run of the job),
        ``rows_this_run``, ``octree_nodes`` (None when placed incrementally) and
        ``timings_s``: seconds per phase, this run. ``finish`` is this whole
        method but the last search merge (``search_merge``), so it contains
        ``indexes`` (those built here), ``names`` (the side name index) and the
        octree's phases (the keys that start with ``octree_``). ``prepare`` is
        spent in the thread that prepares the next batch while one is written.
        """
        store = self.store
        t0 = time.perf_counter()
        nodes = None
        try:
            if self._owns_deferral():
                if self._names is not None:
                    self._names.end_of_batches()  # its helper merges while the indexes are built
                nodes = self._place_building_indexes()
                if self._names is not None:
                    t = time.perf_counter()
                    self._bring_names_in()
                    self._tick("names", t)  # waiting for the helper, and the copy
            with store._write() as conn:
                found = conn.execute("SELECT state FROM bulk_job WHERE job_key = ?", (self.job_key,)).fetchone()
                if found is None:  # the file was replaced under the load (the load lock keeps restores out)
                    raise JobVanished(f"bulk job {self.job_key!r} is no longer in the database; "
                                      "it was replaced while the job ran")
                if found[0] != "done":
                    record = deferred.deferred_record(conn)
                    if record is not None and record["job"] == self.job_key:
                        t = time.perf_counter()
                        deferred.build_indexes(conn, record, after_placement=True)  # and clears the record
                        self._tick("indexes", t)
                    else:
                        nodes = place_pending(store, conn, self.galaxy_id, self.capacity, self.timings)
                    drop_legacy_index(conn, self.job_key)
                    conn.execute("UPDATE bulk_job SET state = 'done', finished_at = ? WHERE job_key = ?",
                                 (now_ms(), self.job_key))
                row = conn.execute("SELECT * FROM bulk_job WHERE job_key = ?", (self.job_key,)).fetchone()
            t0 = self._tick("finish", t0)  # the whole end but the merge: overlaps the phases above
            if self._store_bulk is not None:  # the indexes are back: the store is an ordinary one again
                store.bulk, self._store_bulk = self._store_bulk, None
            store.merge_search_index()  # so the next single write does not pay for the load's segments
            self._tick("search_merge", t0)
        finally:
            self.close()
        self.job = dict(row)
        return {
            "job": self.job_key, "kind": self.kind, "galaxy": self.galaxy, "state": row["state"],
            "batches": row["batches_done"], "rows": row["rows_done"],
            "rows_this_run": self.rows_done - self.rows_before,
            "octree_nodes": nodes, "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def _owns_deferral(self) -> bool:
        record = deferred.deferred_record(self.store.conn)
        return record is not None and record["job"] == self.job_key and not self.finished

    def _place_building_indexes(self) -> int:
        """Build the deferred indexes the octree placement needs, then place every system.

        Each index, and the placement, is a transaction of its own, and the WAL is
        emptied after each: in one transaction, a load of 100 million systems
        would need its table and indexes on disk twice over (once in the WAL).
        Nobody else can use the database meanwhile (the record in ``meta`` keeps
        them out), and a killed run redoes only what had not committed. Every
        system is this job's, so the octree is rebuilt whole; its own index is
        built by :meth:`finish` in the transaction that marks the job done.
        """
        store = self.store
        while True:
            t = time.perf_counter()
            with store._write() as conn:
                record = deferred.deferred_record(conn)
                built = deferred.build_next_index(conn, record) if record is not None else None
            if built is None:
                break
            self._tick("indexes", t)
            self._empty_wal()
        with store._write() as conn:
            nodes = lod.rebuild(conn, self.galaxy_id, self.capacity, timings=self.timings, all_pending=True)
        self._empty_wal()
        return nodes

    def _bring_names_in(self) -> None:
        """Wait for the side name index, make it the database's and remove its file (see :mod:`haven.store.sidenames`).

        The file goes as soon as the copy has committed: once the database is
        usable again (after bad input) its systems may change, and a later run
        must build the side index afresh from them.
        """
        names = self._names
        if names is None:
            return
        try:
            names.end_of_batches()
            names.wait()
        except BaseException:
            names.stop()  # never leave the helper running on its own (Ctrl-C while waiting)
            raise
        finally:
            self._names = None
        names.copy_into(self.store._writer, BUSY_TIMEOUT_MS)
        sidenames.remove_side_file(self.store.path)
        self._empty_wal()  # the copy put the whole index in the WAL

    def _empty_wal(self) -> None:
        self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """End a side index's helper (its file stays for a rerun); give the connection its settings back."""
        if self._names is not None:
            self._names.stop()
            self._names = None
        if self._load_lock is not None:
            self._load_lock.release()
        try:
            self.store.conn.execute(f"PRAGMA cache_size = {int(self._cache_before)}")
            self.store.conn.execute(f"PRAGMA threads = {int(self._threads_before)}")
        except sqlite3.Error:
            pass


def place_pending(store: Any, conn: sqlite3.Connection, galaxy_id: int, capacity: int,
                  timings: dict[str, float] | None = None) -> int | None:
    """Put a galaxy's systems that bulk jobs wrote into the octree (inside a write).

    Few of them (under 1/INCREMENTAL_RATIO of the galaxy): one octree insert each,
    O(depth) apiece. Otherwise the galaxy's octree is rebuilt in bulk; returns its
    node count then.
    """
    pending = conn.execute(
        "SELECT count(*) FROM system WHERE galaxy_id = ? AND lod_level = ?", (galaxy_id, PENDING_LEVEL)
    ).fetchone()[0]
    if not pending:
        return None
    total = conn.execute("SELECT system_count FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()[0]
    if pending * INCREMENTAL_RATIO < total:
        tree = store._lod(conn, galaxy_id)
        rows = conn.execute(
            "SELECT id, code, priority FROM system WHERE galaxy_id = ? AND lod_level = ? ORDER BY id",
            (galaxy_id, PENDING_LEVEL),
        ).fetchall()
        for r in rows:
            tree.insert(lod.Member(r[0], r[1], r[2]))
        return None
    return lod.rebuild(conn, galaxy_id, capacity, timings=timings, all_pending=pending == total)


def pipelined(items: Iterable[Any], prepare: Callable[[Any], Any], *, depth: int = 1) -> Iterator[Any]:
    """``prepare(item)`` for each item, computed up to ``depth`` items ahead in a thread.

    Used to validate/convert batch k+1 while batch k is written (SQLite releases
    the GIL while it works). Results come back in order; an exception is raised
    when its item is reached, so earlier batches are written first.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="haven-bulk") as pool:
        queue: list[Future[Any]] = []
        it = iter(items)
        exhausted = False
        try:
            while True:
                while not exhausted and len(queue) <= depth:
                    try:
                        item = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    queue.append(pool.submit(prepare, item))
                if not queue:
                    return
                yield queue.pop(0).result()
        finally:
            for f in queue:
                f.cancel()


@contextmanager
def _fts_buffer(conn: sqlite3.Connection, index: str) -> Iterator[None]:
    """Give an FTS5 index a large pending-terms buffer for a block, then its own size back."""
    row = conn.execute(f"SELECT v FROM {index}_config WHERE k = 'hashsize'").fetchone()
    search.set_fts_options(conn, index, hashsize=search.LOAD_HASH_BYTES)
    yield
    search.set_fts_options(conn, index, hashsize=row[0] if row is not None else FTS_DEFAULT_HASH_BYTES)


LEGACY_INDEX = "system_legacy_id"
_LEGACY_INDEX_OWNER = "bulk:legacy_index_owner"


def legacy_index_exists(conn: sqlite3.Connection) -> bool:
    """Whether the legacy-id lookup index is in the database (built by a job or by hand)."""
    return conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (LEGACY_INDEX,)
    ).fetchone() is not None


def ensure_legacy_index(conn: sqlite3.Connection, job_key: str) -> None:
    """Attaching many batches of details by legacy id needs an index on it (inside a write).

    It is not kept: it costs ~46 bytes per system (UUID ids) and nothing on a request
    path looks systems up by legacy id. The job that builds it owns it and drops it in
    :func:`drop_legacy_index` when it finishes (an index that existed before is kept).
    """
    if not legacy_index_exists(conn):
        conn.execute(f"CREATE INDEX {LEGACY_INDEX} ON system (galaxy_id, legacy_id)")
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                     "excluded.value", (_LEGACY_INDEX_OWNER, job_key))


def drop_legacy_index(conn: sqlite3.Connection, job_key: str) -> None:
    """Drop the legacy-id index if this job built it (inside a write)."""
    owner = conn.execute("SELECT value FROM meta WHERE key = ?", (_LEGACY_INDEX_OWNER,)).fetchone()
    if owner is not None and owner[0] == job_key:
        conn.execute(f"DROP INDEX IF EXISTS {LEGACY_INDEX}")
        conn.execute("DELETE FROM meta WHERE key = ?", (_LEGACY_INDEX_OWNER,))
