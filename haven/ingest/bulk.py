"""Bulk loads: ``haven generate`` (procedural galaxies) and ``haven import`` of tabular files.

Both run on :class:`haven.store.bulk.BulkLoader`: numbered batches, one
transaction each, recorded in the same transaction, so a killed run resumes
where it stopped when started again with the same arguments. User-facing
description: ``docs/formats/bulk.md``.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import orjson

from haven.errors import Conflict, InvalidInput
from haven.ingest import tabular
from haven.ingest.galaxies import galaxy_for_import
from haven.ingest.sources import check_input_file
from haven.timeutil import UNKNOWN_MS
from haven.procgen import BATCH_SIZE, GalaxySpec, batch_range, generate_batch, n_batches, region_names
from haven.store import deferred, filelocks
from haven.store.bulk import BulkLoader, BulkRowError, PreparedBatch, ProgressCallback, pipelined
from haven.store.deferred import DEFERRED_INDEXES_KEY
from haven.store.gcpause import gc_paused

__all__ = [
    "DEFAULT_WRITE_ROWS",
    "GENERATED_AT_MS",
    "DEFAULT_BATCH_ROWS",
    "bulk_import",
    "file_checksum",
    "generate_galaxy",
    "procgen_spec",
]

#: Systems per write transaction (a procgen batch is split into batches of this size). Measured:
#: 100,000 → 500,000 took 1M systems from 18.9 s to 16.7 s and 5M from 132 s to 109 s
#: (fewer commits rewriting the same index pages), for ~0.4 GiB more memory.
DEFAULT_WRITE_ROWS = 500_000
#: created_at / modified_at of generated systems: fixed, so equal (n, seed) give identical data.
GENERATED_AT_MS = UNKNOWN_MS  # deterministic: the same seed gives byte-identical exports
PROCGEN_META_KEY = "procgen:{galaxy_id}"


def procgen_spec(store: Any, galaxy: str) -> dict[str, Any] | None:
    """The ``(n_systems, seed, batch_size)`` a galaxy was generated with, or None."""
    galaxy_id = store._galaxy_key(galaxy).id
    value = store.meta_value(PROCGEN_META_KEY.format(galaxy_id=galaxy_id))
    return orjson.loads(value) if value else None


@contextmanager
def load_lock(store: Any) -> Iterator[None]:
    """Hold the database's load lock (see :mod:`haven.store.filelocks`) for a whole load."""
    held = filelocks.loading(getattr(store, "path", None))
    try:
        yield
    finally:
        if held is not None:
            held.release()


def generate_galaxy(
    store: Any,
    galaxy: str,
    n_systems: int,
    seed: int,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
    write_rows: int = DEFAULT_WRITE_ROWS,
) -> dict[str, Any]:
    """Generate ``n_systems`` procedural systems into ``galaxy`` (created if missing).

    Deterministic: the same ``(n_systems, seed, batch_size)`` always stores the same
    systems with the same ids (in a database that held no systems before), with
    no known creation time (``created_at`` and ``modified_at`` read back as null). Each system stores its
    procgen seed; planets, moons and station are derived from it when read.

    Resumable: a run that was killed continues where it stopped when called again
    with the same arguments (the job key is built from them). Returns a summary
    (``systems``, ``batches``, ``rows_this_run``, ``seconds``, ``rate`` in systems/s,
    ``timings_s`` per phase).
    """
    if not 1 <= write_rows <= 10_000_000:
        raise InvalidInput("write_rows must be between 1 and 10,000,000", field="write_rows")
    try:
        spec = GalaxySpec(n_systems=n_systems, seed=seed, batch_size=batch_size)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="n_systems" if "n_systems" in str(exc) else "seed") from None
    key = f"generate:{galaxy}:n={n_systems}:seed={seed}:batch={batch_size}:rows={write_rows}"
    with load_lock(store):  # before the galaxy is made: a load refused during a restore writes nothing
        refuse_if_another_load_unfinished(store, key)  # and so does one refused for another's deferred indexes
        return _generate_galaxy(store, galaxy, spec, key, progress, write_rows)


def refuse_if_another_load_unfinished(store: Any, job_key: str) -> None:
    """Refuse a load (:class:`~haven.errors.Conflict`) while another job's indexes are still deferred.

    Checked before the load creates anything (its galaxy, a generated galaxy's
    spec in ``meta``, its ``bulk_job`` row), so a refused load changes nothing:
    only the unfinished job may write until it has finished, and a galaxy made
    meanwhile could not even be removed again (:meth:`drop_empty_galaxy` leaves
    galaxies alone while a load holds the indexes back). Call it holding the
    load lock (:func:`load_lock`): then no other load can start or finish
    meanwhile, so the unfinished one was stopped and is not running.
    :meth:`BulkLoader.defer_indexes <haven.store.bulk.BulkLoader.defer_indexes>`
    checks the same again where it decides.
    """
    record = deferred.deferred_record(store.conn)
    if record is not None and record["job"] != job_key:
        raise Conflict(deferred.unfinished_load_message(record), field="job")


def _generate_galaxy(store: Any, galaxy: str, spec: GalaxySpec, key: str, progress: ProgressCallback | None,
                     write_rows: int) -> dict[str, Any]:
    n_systems, seed, batch_size = spec.n_systems, spec.seed, spec.batch_size
    store.ensure_galaxy(galaxy)
    galaxy_id = store._galaxy_key(galaxy).id
    wanted = {"n_systems": n_systems, "seed": seed, "batch_size": batch_size}
    meta_key = PROCGEN_META_KEY.format(galaxy_id=galaxy_id)
    current = store.meta_value(meta_key)
    if current is not None and orjson.loads(current) != wanted:
        have = orjson.loads(current)
        raise Conflict(
            f"galaxy {galaxy!r} was generated with n={have['n_systems']}, seed={have['seed']}, "
            f"batch size {have['batch_size']:,} (asked: n={n_systems}, seed={seed}, batch size {batch_size:,}); "
            f"it holds {store.galaxy(galaxy)['system_count']:,} systems. Run that generate again to finish it "
            "(if it stopped on a name another system has, rename that system first), "
            "or generate into another galaxy (--galaxy NAME)",
            field="galaxy",
        )
    if current is None:
        store.set_meta_value(meta_key, orjson.dumps(wanted).decode())

    t0 = time.perf_counter()
    per_batch = -(-min(batch_size, n_systems) // write_rows)  # write batches per procgen batch
    total = sum(-(-(hi - lo) // write_rows) for lo, hi in (batch_range(spec, b) for b in range(n_batches(spec))))
    loader = BulkLoader(
        store, galaxy, key, kind="generate", total_batches=total,
        source=f"procgen n={n_systems} seed={seed}", params={**wanted, "write_rows": write_rows},
        progress=progress, stamp_ms=GENERATED_AT_MS,
    )
    loader.total_rows = n_systems
    names = region_names(spec)
    gen_s = 0.0

    def slices() -> Iterator[tuple[int, Any, int, int]]:
        """(write batch index, procgen batch, lo, hi) of every batch still to write."""
        nonlocal gen_s
        done = loader.done_batches()
        for b in range(n_batches(spec)):
            todo = [s for s in range(per_batch) if b * per_batch + s not in done]
            if not todo:
                continue
            tg = time.perf_counter()
            batch = generate_batch(spec, b)
            gen_s += time.perf_counter() - tg
            for s in todo:
                lo, hi = s * write_rows, min((s + 1) * write_rows, batch.count)
                if lo < hi:
                    yield b * per_batch + s, batch, lo, hi

    def prepare(item: tuple[int, Any, int, int]) -> Any:
        index, batch, lo, hi = item
        start = batch.start + lo
        return loader.prepare(
            index,
            {
                "name": batch.name[lo:hi],
                "x_ly": batch.x_ly[lo:hi], "y_ly": batch.y_ly[lo:hi], "z_ly": batch.z_ly[lo:hi],
                "region_index": batch.region_index[lo:hi],
                "fauna": batch.fauna[lo:hi], "flora": batch.flora[lo:hi],
                "sentinel": batch.sentinel[lo:hi], "materials": batch.materials[lo:hi],
                "seed": batch.seed[lo:hi],
            },
            region_names=names,
            row_label=lambda i: f"generated system #{start + i}",
        )

    with loader.running():
        for index in sorted(loader.done_batches()):
            loader.skip(index)  # a resumed run: the progress bar starts where the last one stopped
        loader.defer_indexes(names_unique=True)  # generated names are unique by construction
        with gc_paused(), closing(pipelined(slices(), prepare)) as batches:
            for prepared in batches:
                loader.write_prepared(prepared)
        summary = loader.finish()
    seconds = time.perf_counter() - t0
    summary["timings_s"]["generate"] = round(gen_s, 3)
    summary.update({
        "systems": n_systems, "seconds": round(seconds, 3),
        "rate": round(summary["rows_this_run"] / seconds) if seconds > 0 else None,
        "spec": wanted,
    })
    return summary


# -- files ------------------------------------------------------------------------------


def file_checksum(path: Path, *, block: int = 8 << 20) -> str:
    """A file's identity for resuming: a hash of its size and whole content.

    Not its modification time: a file copied, downloaded again or touched after a
    killed import is the same file, and running the import again must finish that job
    (hashing reads about 1 GB/s, a small part of an import's time).
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{path.stat().st_size}:".encode())
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


DEFAULT_BATCH_ROWS = 100_000


def bulk_import(
    store: Any,
    galaxy: str,
    path: Path | str,
    *,
    progress: ProgressCallback | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    fmt: str | None = None,
    check_first: bool = True,
) -> dict[str, Any]:
    """Import a Parquet, CSV or JSONL file of systems into ``galaxy`` (created if missing).

    A galaxy the call creates is removed again when the import fails before
    storing a system; a file that cannot be read, or lacks a column, is refused first.

    * ``check_first`` (default): before anything is written, the whole file is read
      and validated, names included (unique in the file, not yet in the galaxy). A
      problem raises :class:`~haven.store.bulk.BulkRowError` naming the file row (or
      line) and the field, and nothing is written.
    * Then one transaction per ``batch_rows`` records. If the import is killed,
      running it again on the same file continues with the first batch not written
      (the job key is the galaxy plus the file's checksum): no duplicates, nothing lost.
    * JSONL lines may nest ``planets`` (with ``moons``) and ``space_station``; a line
      with only ``id`` and those attaches them to the stored system with that legacy id.

    Returns a summary like :func:`generate_galaxy` plus ``file``, ``format`` and
    ``details_attached``.
    """
    path = Path(path)
    check_input_file(path)
    if not 1 <= batch_rows <= 10_000_000:
        raise InvalidInput("batch_rows must be between 1 and 10,000,000", field="batch_rows")
    fmt = tabular.detect_format(path, fmt)
    tabular.check_columns(path, fmt)  # an unreadable file or a missing column: refused before the galaxy is made
    with load_lock(store):  # before the galaxy is made: a load refused during a restore writes nothing
        t0 = time.perf_counter()  # the job's time includes hashing the file, as it always did
        checksum = file_checksum(path)
        key = f"import:{galaxy}:{checksum}"
        refuse_if_another_load_unfinished(store, key)  # and so does one refused for another's deferred indexes
        # A galaxy this import creates is removed again if the import fails before storing a system.
        with galaxy_for_import(store, galaxy):
            return _bulk_import(store, galaxy, path, fmt, key, checksum, t0, progress, batch_rows, check_first)


def _bulk_import(store: Any, galaxy: str, path: Path, fmt: str, key: str, checksum: str, t0: float,
                 progress: ProgressCallback | None, batch_rows: int, check_first: bool) -> dict[str, Any]:
    loader = BulkLoader(
        store, galaxy, key, kind="import",
        source=f"{fmt}:{path.name}", source_checksum=checksum, params={"batch_rows": batch_rows, "format": fmt},
        progress=progress,
    )
    attached = 0
    finished_before = loader.finished
    with _forgotten_if_refused(store, loader.job_key), loader.running():
        batch_rows = int(loader.params.get("batch_rows", batch_rows))  # a resumed job keeps its batches
        rows_total = tabular.total_rows(path, fmt)
        if rows_total is not None:
            loader.total_batches = -(-rows_total // batch_rows)
            loader.total_rows = rows_total
        done = loader.done_batches()
        with gc_paused():
            checked: PreparedBatch | None = None
            if check_first and not done and not loader.finished:
                tc = time.perf_counter()
                checked = check_file(store, loader, path, fmt, batch_rows)
                loader.timings["check"] = time.perf_counter() - tc
            loader.defer_indexes(names_unique=check_first)  # checked: every name is free and unique

            def prepare(fb: tabular.FileBatch) -> Any:
                if fb.index in done:
                    return fb.index
                fb.load()
                return loader.prepare(fb.index, fb.columns, details=fb.details, attach=fb.attach,
                                      row_label=fb.label)

            # a one-batch file was prepared whole by the check: write that, do not read it twice
            batches = (b for b in [checked]) if checked is not None else \
                pipelined(tabular.read_batches(path, fmt, batch_rows, done), prepare)
            with closing(batches):
                for prepared in batches:
                    if isinstance(prepared, int):
                        loader.skip(prepared)
                        continue
                    loader.write_prepared(prepared)
                    attached += len(prepared.attach)
        if not loader.rows_done and not attached and not finished_before:
            what = "is empty" if path.stat().st_size == 0 else "holds no systems (a header or blank lines only)"
            raise InvalidInput(f"{path.name}: {what}; nothing was imported", field="file")
        summary = loader.finish()
    seconds = time.perf_counter() - t0
    summary.update({
        "file": path.name, "format": fmt, "systems": summary["rows"], "details_attached": attached,
        "seconds": round(seconds, 3),
        "rate": round(summary["rows_this_run"] / seconds) if seconds > 0 else None,
    })
    if finished_before:  # its counts are the first run's: say so rather than seem to have written them
        summary["note"] = (f"this file was imported into {galaxy!r} before (the same content); nothing was "
                           "written this time. Systems counts what that import wrote")
    return summary


@contextmanager
def _forgotten_if_refused(store: Any, job_key: str) -> Iterator[None]:
    """Remove the ``bulk_job`` row of an import that failed before committing any batch
    (refused by the check, or by its first batch's write), once its indexes are back.

    The row exists so that a killed import can resume; a refused file wrote
    nothing, so there is nothing to resume, and a row left in state ``running``
    would say otherwise for good. A row whose job still has deferred indexes
    stays: running the load again is how they are built. Best effort: the
    import's own error is the one to report.
    """
    try:
        yield
    except Exception:
        try:
            with store._write() as conn:
                conn.execute(
                    "DELETE FROM bulk_job WHERE job_key = ? AND state = 'running' AND batches_done = 0 "
                    "AND NOT EXISTS (SELECT 1 FROM bulk_job_batch WHERE job_key = ?) "
                    "AND NOT EXISTS (SELECT 1 FROM meta WHERE key = ?)",
                    (job_key, job_key, DEFERRED_INDEXES_KEY),
                )
        except Exception:  # noqa: BLE001 - never hide the import's own error behind this one
            pass
        raise


def check_file(store: Any, loader: BulkLoader, path: Path, fmt: str, batch_rows: int) -> PreparedBatch | None:
    """Validate every batch of a file without writing; raise on the first problem.

    Returns the prepared batch when the file is a single batch (the import writes
    it as it is instead of reading and validating the file a second time), else None.

    Names must be unique in the whole file (64-bit hashes kept per name, so memory
    stays at 8 bytes a record) and must not exist in the galaxy yet. Details lines
    must name systems that exist by the time their batch is written (checked here
    when the file has several batches, so a bad id late in the file writes nothing).
    """
    try:
        return _check_file(store, loader, path, fmt, batch_rows)
    except BulkRowError as exc:
        message = exc.message.replace("nothing of this batch was written", "nothing was written")
        raise BulkRowError(message, row=exc.row, field=exc.field, batch_index=exc.batch_index) from None


def _check_file(store: Any, loader: BulkLoader, path: Path, fmt: str, batch_rows: int) -> PreparedBatch | None:
    galaxy_has_systems = store.galaxy(loader.galaxy)["system_count"] > 0
    hashes: list[np.ndarray] = []
    attach_ids: dict[str, tuple[int, int, str]] = {}  # legacy id of a details line -> (batch, row, label)
    batches = 0
    systems = 0
    only: PreparedBatch | None = None  # the first batch, kept while it is the only one
    for fb in tabular.read_batches(path, fmt, batch_rows):
        fb.load()
        batches += 1
        p = loader.prepare(fb.index, fb.columns, details=fb.details, attach=fb.attach, row_label=fb.label,
                           name_keys=False)
        only = p if batches == 1 else None
        for row, legacy_id, _ in p.attach:
            attach_ids.setdefault(legacy_id, (fb.index, row, p.label(row)))
        systems += p.n
        if not p.n:
            continue
        if galaxy_has_systems:
            clash = loader.name_clash(p)
            if clash is not None:
                raise clash
        hashes.append(np.fromiter(map(hash, p.names), dtype=np.int64, count=p.n))
    if hashes:
        all_hashes = np.sort(np.concatenate(hashes))
        repeated = set(all_hashes[1:][all_hashes[1:] == all_hashes[:-1]].tolist())
        if repeated:
            _check_unique_names(loader, path, fmt, batch_rows, repeated)
    if attach_ids and batches > 1:
        _check_attach_ids(store, loader, path, fmt, batch_rows, attach_ids)
    if loader.total_rows is None:  # CSV and JSONL: now known (for the progress bar and the load's plan)
        loader.total_rows = systems
    return only


def _check_attach_ids(store: Any, loader: BulkLoader, path: Path, fmt: str, batch_rows: int,
                      attach_ids: dict[str, tuple[int, int, str]]) -> None:
    """Every details line must name exactly one system stored before it is attached (all or nothing).

    Only needed when the file has more than one batch: within one batch the write
    fails as a whole. A system counts if the galaxy holds it already or the file
    adds it in the details line's batch or an earlier one (batches are written in order).
    """
    galaxy_id = store.galaxy(loader.galaxy)["id"]
    # one scan of the table (no index on legacy_id is kept; ``+`` keeps it a plain scan)
    stored: dict[str, int] = dict(store.conn.execute(
        "SELECT legacy_id, count(*) FROM system WHERE +galaxy_id = ? "
        "AND legacy_id IN (SELECT value FROM json_each(?)) GROUP BY legacy_id",
        (galaxy_id, orjson.dumps(list(attach_ids)).decode()),
    ))
    in_file: dict[str, list[int]] = {}  # legacy id -> the batches of the file that add a system with it
    for fb in tabular.read_batches(path, fmt, batch_rows):
        fb.load()
        column = fb.columns.get("legacy_id")
        if column is None:
            continue
        values = column.to_pylist() if hasattr(column, "to_pylist") else list(column)
        for v in values:
            key = None if v is None else str(v)
            if key in attach_ids:
                in_file.setdefault(key, []).append(fb.index)
    for legacy_id, (batch_index, _, label) in sorted(attach_ids.items(), key=lambda kv: kv[1][:2]):
        batches = in_file.get(legacy_id, [])
        found = stored.get(legacy_id, 0) + sum(1 for b in batches if b <= batch_index)
        if found == 1:
            continue
        if found == 0:
            where = " before this line (it comes later in the file)" if batches else ""
            message = f"no system with the id {legacy_id!r} in galaxy {loader.galaxy!r}{where}"
        else:
            message = (f"{found} systems have the id {legacy_id!r} in galaxy {loader.galaxy!r}, "
                       "so these details name none of them")
        raise BulkRowError(f"{label}: id: {message}; nothing was written", row=label, field="id",
                           batch_index=batch_index)


def _check_unique_names(loader: BulkLoader, path: Path, fmt: str, batch_rows: int, repeated: set[int]) -> None:
    first: dict[str, str] = {}  # a second pass over the few names whose hashes repeat
    for fb in tabular.read_batches(path, fmt, batch_rows):
        fb.load()
        p = loader.prepare(fb.index, fb.columns, details=fb.details, attach=fb.attach, row_label=fb.label,
                           name_keys=False)
        for i, name in enumerate(p.names):
            if hash(name) not in repeated:
                continue
            row = int(p.order[i]) if p.order is not None else i
            if name in first:
                raise BulkRowError(
                    f"{p.label(row)}: name: {name!r} is also the name of {first[name]}; names must be unique; "
                    "nothing of this batch was written", row=p.label(row), field="name", batch_index=fb.index,
                )
            first[name] = p.label(row)
