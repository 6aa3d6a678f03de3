"""What refused, failed and killed commands leave behind: nothing, or nothing for long.

* A ``haven generate`` or bulk ``haven import`` refused because another load's
  indexes are still deferred creates nothing (no galaxy, no procgen spec, no job).
* A killed ``haven export -o FILE`` leaves its temporary file; the next export to
  FILE removes it, but never the one a running export is writing.
* A killed legacy import (one transaction) leaves no galaxy: the galaxy is
  created in the import's own transaction.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cli_helpers import Invoke, assert_fails, assert_ok

from haven.config import DatabaseUrl
from haven.ingest.bulk import generate_galaxy
from haven.store import init_store
from haven.store.deferred import DEFERRED_INDEXES_KEY

N, BATCH, ROWS = 6_000, 3_000, 1_000  # six write batches, as tests/store/test_deferred.py


class Killed(Exception):
    """Stands for ``kill -9`` in the middle of a load: raised from its progress callback."""


def _generate_first(store, **kw):
    return generate_galaxy(store, "Gen", N, 5, batch_size=BATCH, write_rows=ROWS, **kw)


def _kill_after(batch: int):
    def progress(p):
        if p.batch_index == batch and not p.skipped:
            raise Killed()
    return progress


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row a load could leave behind: galaxies, meta (procgen specs, the deferred record), jobs."""
    conn = sqlite3.connect(db)
    try:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("galaxy", "meta", "bulk_job", "bulk_job_batch", "region")}
    finally:
        conn.close()


def _galaxies(db: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT name, system_count FROM galaxy ORDER BY name").fetchall()
    finally:
        conn.close()


# -- 1. a refused load creates nothing -------------------------------------------------------


@pytest.fixture
def unfinished(db_path: Path) -> Path:
    """A database whose first load (into it while empty) was stopped with its indexes deferred."""
    store = init_store(DatabaseUrl("sqlite", str(db_path)))
    with pytest.raises(Killed):
        _generate_first(store, progress=_kill_after(2))
    assert store.meta_value(DEFERRED_INDEXES_KEY) is not None
    store.close()
    return db_path


def test_a_generate_refused_for_an_unfinished_load_creates_nothing(haven: Invoke, unfinished: Path) -> None:
    before = _snapshot(unfinished)
    result = haven("generate", "--systems", "1000", "-g", "Other")
    assert_fails(result, 1, "has not finished", "run the same `haven generate` again")
    assert _snapshot(unfinished) == before  # no galaxy Other, no procgen spec, no running bulk_job

    store = init_store(DatabaseUrl("sqlite", str(unfinished)), bulk=True)
    _generate_first(store)  # the first load, run again, finishes
    store.close()
    assert_ok(haven("generate", "--systems", "5000", "-g", "Other"))  # not held to the refused run's n=1000
    assert ("Other", 5000) in _galaxies(unfinished)


def test_a_bulk_import_refused_for_an_unfinished_load_creates_nothing(
        haven: Invoke, unfinished: Path, tmp_path: Path) -> None:
    csv = tmp_path / "more.csv"
    csv.write_text("name,x,y,z\nA,1,2,3\nB,4,5,6\n", encoding="utf-8")
    before = _snapshot(unfinished)
    assert_fails(haven("import", csv, "-g", "Other"), 1, "has not finished")
    assert _snapshot(unfinished) == before

    store = init_store(DatabaseUrl("sqlite", str(unfinished)), bulk=True)
    _generate_first(store)
    store.close()
    assert_ok(haven("import", csv, "-g", "Other"))
    assert ("Other", 2) in _galaxies(unfinished)


def test_the_unfinished_load_itself_still_resumes(haven: Invoke, unfinished: Path) -> None:
    """The check only refuses other jobs: the same job, run again, is the way to finish."""
    store = init_store(DatabaseUrl("sqlite", str(unfinished)), bulk=True)
    summary = _generate_first(store)
    store.close()
    assert summary["rows_this_run"] == N - 3 * ROWS
    assert _galaxies(unfinished) == [("Gen", N)]


# -- 2. a killed export's temporary file goes with the next export ------------------------------

#: Runs the real ``haven export``, paused once its first bytes are in the temporary file:
#: prints ``writing`` and waits (to be killed, or to go on when its standard input closes).
_PAUSED_EXPORT = textwrap.dedent("""
    import sys
    import haven.ingest.export as export

    real = export.write_output

    def paused(path, chunks):
        def held():
            it = iter(chunks)
            yield next(it)
            print("writing", flush=True)
            sys.stdin.read()  # until the test closes it (or kills this process)
            yield from it
        return real(path, held())

    export.write_output = paused
    from haven.cli import main

    sys.argv = ["haven", *sys.argv[1:]]
    main()
""")


def _paused_export(out: Path, db: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _PAUSED_EXPORT, "export", "-o", str(out), "-d", str(db)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "writing", line + proc.stdout.read()
    return proc


def _hidden(folder: Path, name: str) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(f".{name}.")}


@pytest.fixture
def filled(haven: Invoke, tmp_path: Path) -> Path:
    assert_ok(haven("init", "--no-demo"))
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"_meta": {}, "data": [
        {"name": f"S{i}", "x": i, "y": 2, "z": 3, "region": "Near"} for i in range(50)]}), encoding="utf-8")
    assert_ok(haven("import", data))
    return tmp_path


def test_the_next_export_removes_what_a_killed_one_left_but_not_a_running_ones(
        haven: Invoke, filled: Path, db_path: Path) -> None:
    out = filled / "out" / "out.json"
    killed = _paused_export(out, db_path)
    left = _hidden(out.parent, out.name)
    assert len(left) == 1  # its temporary file, beside the output
    killed.kill()  # kill -9
    killed.wait()
    assert _hidden(out.parent, out.name) == left and not out.exists()  # a killed run cannot tidy up

    running = _paused_export(out, db_path)
    try:
        in_work = _hidden(out.parent, out.name) - left
        assert len(in_work) == 1
        (in_work_path,) = (out.parent / n for n in in_work)
        size = in_work_path.stat().st_size

        assert_ok(haven("export", "-o", out))
        assert _hidden(out.parent, out.name) == in_work  # the killed run's is gone, the running one's kept
        assert in_work_path.stat().st_size == size
        assert len(json.loads(out.read_text())["data"]) == 50

        running.stdin.close()  # let it go on: it finishes its file, unharmed
        output = running.stdout.read()
        assert running.wait(timeout=60) == 0, output
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    assert _hidden(out.parent, out.name) == set()
    assert len(json.loads(out.read_text())["data"]) == 50


def test_an_export_leaves_no_temporary_file_and_other_names_are_left_alone(
        haven: Invoke, filled: Path) -> None:
    out = filled / "out.json"
    mine = filled / ".out.json.bak"  # a file of the user's that merely looks alike
    mine.write_text("keep")
    other = filled / ".other.json.partial-1-0a1b2c3d4e5f"  # another output's left-over: not this export's
    other.write_text("x")
    assert_ok(haven("export", "-o", out))
    assert mine.read_text() == "keep" and other.exists()
    assert sorted(p.name for p in filled.iterdir() if p.name.startswith(".out.json")) == [".out.json.bak"]


# -- 3. a killed legacy import leaves no galaxy -------------------------------------------------

#: Runs the real ``haven import`` and kills itself (SIGKILL, as ``kill -9``) when the
#: legacy importer reports the given stage at the given record: "checking" comes before
#: its one transaction, "writing" inside it (systems already inserted, not committed).
_KILLED_IMPORT = textwrap.dedent("""
    import importlib, os, signal, sys
    from contextlib import contextmanager

    app = importlib.import_module("haven.cli.app")  # the module (``haven.cli.app`` names the Typer app)

    stage_at, record_at = sys.argv[1], int(sys.argv[2])

    @contextmanager
    def stage_bar(console, file_name):
        def progress(stage, done, total):
            if stage == stage_at and done >= record_at:
                print("killing at", stage, done, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        yield progress

    app.stage_bar = stage_bar
    sys.argv = ["haven", *sys.argv[3:]]
    app.main()
""")


@pytest.mark.parametrize("stage", ["checking", "writing"])
def test_a_killed_legacy_import_leaves_no_galaxy(haven: Invoke, db_path: Path, tmp_path: Path, stage: str) -> None:
    assert_ok(haven("init", "--no-demo"))
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"_meta": {}, "data": [
        {"name": f"S{i}", "x": i % 100, "y": i // 100, "z": 1, "region": "R", "planets": [{"name": f"S{i} I"}]}
        for i in range(1_200)]}), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_IMPORT, stage, "1000", "import", str(data), "-g", "NewG", "-d", str(db_path)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    assert f"killing at {stage} 1000" in done.stdout
    assert _galaxies(db_path) == [("Haven", 0)]
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM system").fetchone()[0] == 0
    finally:
        conn.close()

    result = haven("import", data, "-g", "NewG")  # the same import, run again: all of it, once
    assert_ok(result)
    assert "does not exist yet" not in result.output
    assert _galaxies(db_path) == [("Haven", 0), ("NewG", 1_200)]


def test_a_failed_legacy_import_into_a_new_galaxy_leaves_no_galaxy_and_the_store_can_make_it_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure inside the import's transaction: the galaxy goes with it, also from the store's caches."""
    import haven.ingest.legacy as legacy

    store = init_store(DatabaseUrl("sqlite", str(tmp_path / "h.db")))
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"_meta": {}, "data": [{"name": "A", "x": 1, "y": 2, "z": 3},
                                                       {"name": "B", "x": 4, "y": 5, "z": 6}]}), encoding="utf-8")
    monkeypatch.setattr(legacy, "PROGRESS_EVERY", 1)  # a progress call before every record

    def fails_while_writing(stage: str, done: int, total: int) -> None:
        if stage == "writing" and done == 2:  # "A" is inserted, in the transaction that made the galaxy
            assert store.conn.in_transaction and store.galaxy("Fresh")["system_count"] == 1
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        legacy.import_file(store, "Fresh", data, progress=fails_while_writing, create_galaxy=True)
    assert store.galaxies() == []

    store.ensure_galaxy("Other")  # takes the id the rolled-back galaxy had
    report = legacy.import_file(store, "Fresh", data, create_galaxy=True)
    assert report.created == 2 and report.galaxy_exists
    assert store.galaxy("Fresh")["system_count"] == 2 and store.galaxy("Other")["system_count"] == 0
    assert store.system_by_name("Fresh", "B")["name"] == "B"
    store.close()


def test_import_file_alone_still_needs_the_galaxy(tmp_path: Path) -> None:
    """Without create_galaxy a real import creates nothing: a missing galaxy is NotFound."""
    from haven.errors import NotFound
    from haven.ingest.legacy import import_file

    store = init_store(DatabaseUrl("sqlite", str(tmp_path / "h.db")))
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"_meta": {}, "data": [{"name": "A", "x": 1, "y": 2, "z": 3}]}), encoding="utf-8")
    with pytest.raises(NotFound):
        import_file(store, "Fresh", data)
    assert store.galaxies() == []
    store.close()
