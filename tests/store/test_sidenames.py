"""A large load builds the name search index beside the database (haven.store.sidenames)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from haven.config import DatabaseUrl
from haven.errors import InvalidInput
from haven.ingest.bulk import bulk_import, generate_galaxy
from haven.model import SystemPatch, validate_system
from haven.store import init_store, sidenames
from haven.store.search import NAME_INDEX, galaxy_key

N = 6_000
ROWS = 1_000  # six write batches


class Killed(Exception):
    pass


@pytest.fixture
def beside(monkeypatch):
    """Every load that may use the side index does (the real threshold is far above these tests)."""
    monkeypatch.setattr(sidenames, "MIN_ROWS", 1)


def url(tmp_path, name: str) -> DatabaseUrl:
    return DatabaseUrl("sqlite", str(tmp_path / f"{name}.db"))


def generate(store, **kw):
    return generate_galaxy(store, "Gen", N, 5, batch_size=3_000, write_rows=ROWS, **kw)


def helpers_running() -> list[int]:
    """Helper processes this test process started that are still there."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"haven.store.sidenames" in cmdline:
            found.append(int(proc.name))
    return found


def side_batches(store) -> set[int]:
    try:
        side = sqlite3.connect(f"file:{sidenames.side_path(store.path)}?mode=ro", uri=True)
        try:
            return {r[0] for r in side.execute("SELECT batch_index FROM loaded_batch")}
        finally:
            side.close()
    except sqlite3.DatabaseError:  # not created yet
        return set()


def kill_after(batch: int, store, *, side_holds: int):
    """Raise after ``batch`` is committed, once the side file holds ``side_holds`` batches (a kill)."""
    def progress(p):
        if p.batch_index == batch and not p.skipped:
            for _ in range(600):  # the helper writes behind the loader: let it catch up first
                if len(side_batches(store)) >= side_holds:
                    break
                time.sleep(0.05)
            raise Killed()
    return progress


def name_entries(store) -> list[tuple]:
    """Every (key, id) the name index holds: the whole index, whatever its segments look like."""
    conn = store.conn
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.name_vocab USING fts5vocab(main, {NAME_INDEX}, instance)")
    return conn.execute("SELECT term, doc FROM temp.name_vocab ORDER BY term, doc").fetchall()


def settings(store) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute(f"SELECT k, v FROM {NAME_INDEX}_config ORDER BY k")]


def healthy(store) -> None:
    store.conn.execute(f"INSERT INTO {NAME_INDEX} ({NAME_INDEX}, rank) VALUES ('integrity-check', 0)")


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The same galaxy loaded with the name index filled inside each batch's transaction."""
    store = init_store(url(tmp_path_factory.mktemp("straight"), "straight"))
    summary = generate(store)
    assert "names" not in summary["timings_s"]
    return store


def test_a_large_load_builds_the_name_index_beside_and_copies_it_in(tmp_path, beside, straight):
    target = url(tmp_path, "side")
    store = init_store(target)
    settings_before = settings(store)
    data_rows = f"SELECT count(*) FROM {NAME_INDEX}_data"
    empty = store.conn.execute(data_rows).fetchone()[0]
    seen: list[int] = []
    summary = generate(store, progress=lambda p: seen.append(store.conn.execute(data_rows).fetchone()[0]))
    assert seen == [empty] * 6  # the batches left the database's name index alone
    assert "names" in summary["timings_s"]
    assert not sidenames.side_path(store.path).exists()  # and is gone once the load is done
    assert not list(tmp_path.glob("side.db-names*"))
    assert name_entries(store) == name_entries(straight)
    healthy(store)
    name = store.conn.execute("SELECT name FROM system WHERE id = 4321").fetchone()[0]
    assert [s["name"] for s in store.search("Gen", name.split()[-1])] == [name]
    assert settings(store) == settings_before  # the database's own, not the side file's
    assert store.conn.execute("PRAGMA threads").fetchone()[0] == 0  # the loading connection's own again


def test_a_killed_load_goes_on_with_the_batches_its_side_file_holds(tmp_path, beside, straight):
    store = init_store(url(tmp_path, "killed"))
    with pytest.raises(Killed):
        generate(store, progress=kill_after(3, store, side_holds=2))
    assert helpers_running() == []  # the kill ended the helper too
    committed = {r[0] for r in store.conn.execute("SELECT batch_index FROM bulk_job_batch")}
    assert side_batches(store) <= committed == {0, 1, 2, 3}  # never a batch the database does not hold
    store.close()
    resumed = init_store(url(tmp_path, "killed"), bulk=True)
    assert generate(resumed)["rows_this_run"] == N - 4 * ROWS
    assert name_entries(resumed) == name_entries(straight)
    assert not sidenames.side_path(resumed.path).exists()


@pytest.mark.parametrize("damage", ["removed", "another job", "not a database"])
def test_a_side_file_that_is_gone_or_not_this_jobs_is_built_again_from_the_database(tmp_path, beside, straight,
                                                                                     damage):
    store = init_store(url(tmp_path, "redo"))
    with pytest.raises(Killed):
        generate(store, progress=kill_after(2, store, side_holds=1))
    path = sidenames.side_path(store.path)
    if damage == "removed":
        sidenames.remove_side_file(store.path)
    elif damage == "another job":
        side = sqlite3.connect(path)
        side.execute("UPDATE side_job SET job = 'import:Elsewhere:0 started_at=1 galaxy=1'")
        side.commit()
        side.close()
    else:
        sidenames.remove_side_file(store.path)
        path.write_bytes(b"these bytes are not an SQLite database" * 200)
    generate(store)
    assert name_entries(store) == name_entries(straight)
    assert not path.exists()


def test_a_helper_that_fails_names_its_file_and_the_load_can_be_run_again(tmp_path, beside, straight):
    store = init_store(url(tmp_path, "blocked"))
    path = sidenames.side_path(store.path)
    path.mkdir()  # the helper cannot create its file
    with pytest.raises(sqlite3.OperationalError, match=r"name search index in .*blocked\.db-names failed.*run the same"):
        generate(store)
    assert store.conn.execute("SELECT state FROM bulk_job").fetchone()[0] == "running"
    path.rmdir()
    assert generate(store)["rows"] == N
    assert name_entries(store) == name_entries(straight)


def kit_rows(n: int) -> list[dict]:
    return [{"name": f"Kit {i:05d}", "x": float(i), "y": float(-i), "z": float(i % 9)} for i in range(n)]


def test_a_load_stopped_by_bad_input_leaves_what_it_wrote_searchable(tmp_path, beside, straight):
    store = init_store(url(tmp_path, "bad"))

    def refuse_after_batch_2(p):
        if p.batch_index == 2 and not p.skipped:
            raise InvalidInput("a row of batch 3 is bad", field="x")  # what a bad row raises

    with pytest.raises(InvalidInput, match="batch 3 is bad"):
        generate(store, progress=refuse_after_batch_2)
    written = store.conn.execute("SELECT max(id) FROM system").fetchone()[0]
    assert written == 3 * ROWS
    expected = [entry for entry in name_entries(straight) if entry[1] <= written]
    assert name_entries(store) == expected  # the rows written so far, all searchable
    name = store.conn.execute("SELECT name FROM system WHERE id = ?", (written,)).fetchone()[0]
    assert [s["name"] for s in store.search("Gen", name)] == [name]
    healthy(store)
    assert generate(store)["rows"] == N  # and running it again goes on
    assert name_entries(store) == name_entries(straight)


def test_a_checked_csv_says_how_many_systems_it_holds(tmp_path, beside):
    path = tmp_path / "kit.csv"
    path.write_text("name,x,y,z\n" + "".join(f"Kit {i:05d},{i},{-i},{i % 9}\n" for i in range(1_500)),
                    encoding="utf-8")
    store = init_store(url(tmp_path, "csv"))
    totals: list[int | None] = []
    summary = bulk_import(store, "Kit", path, batch_rows=1_000, progress=lambda p: totals.append(p.total_rows))
    assert totals == [1_500, 1_500]
    assert "names" in summary["timings_s"]  # checked, large enough: built beside
    assert [s["name"] for s in store.search("Kit", "Kit 01499")] == ["Kit 01499"]


def test_a_small_load_fills_the_name_index_in_its_own_transactions(tmp_path):
    path = tmp_path / "kit.parquet"
    pq.write_table(pa.Table.from_pylist(kit_rows(1_500)), path)
    store = init_store(url(tmp_path, "small"))
    summary = bulk_import(store, "Kit", path, batch_rows=1_000)
    assert "names" not in summary["timings_s"]
    assert [s["name"] for s in store.search("Kit", "Kit 01499")] == ["Kit 01499"]


def test_the_helper_goes_on_from_the_batches_its_file_holds(tmp_path, straight):
    """Catching up, without timing: a first helper writes three batches, a second the other three."""
    store = init_store(url(tmp_path, "catch-up"))
    generate(store)  # small: the name index is filled in place; the side index is compared with it
    batches = [tuple(r) for r in store.conn.execute(
        "SELECT batch_index, first_id, last_id FROM bulk_job_batch ORDER BY batch_index")]
    first = sidenames.SideNameIndex(store.path, "job A", 1, batches[:3])
    first.end_of_batches()
    first.wait()
    second = sidenames.SideNameIndex(store.path, "job A", 1, batches[:4])
    for batch in batches[4:]:
        second.add(*batch)
    second.end_of_batches()
    second.wait()
    side = sqlite3.connect(sidenames.side_path(store.path))
    assert side.execute("SELECT batch_index, first_id, last_id FROM loaded_batch ORDER BY 1").fetchall() == batches
    side.close()
    before = name_entries(store)
    second.copy_into(store._writer, 1_000)
    assert name_entries(store) == before == name_entries(straight)
    healthy(store)
    third = sidenames.SideNameIndex(store.path, "job A", 1, batches[:2])  # holds batches the database does not
    third.end_of_batches()
    third.wait()
    side = sqlite3.connect(sidenames.side_path(store.path))
    assert side.execute("SELECT batch_index FROM loaded_batch ORDER BY 1").fetchall() == [(0,), (1,)]  # afresh
    side.close()


def test_a_side_file_from_a_database_made_again_is_not_used(tmp_path, beside, straight):
    target = url(tmp_path, "again")
    store = init_store(target)
    with pytest.raises(Killed):
        generate(store, progress=kill_after(2, store, side_holds=1))
    store.close()
    for path in tmp_path.glob("again.db*"):
        if "-names" not in path.name:
            path.unlink()
    store = init_store(target)
    store.ensure_galaxy("First")  # the generated galaxy gets another id than before
    summary = generate(store)
    assert summary["rows"] == N
    key = galaxy_key(store.galaxy("Gen")["id"])
    entries = name_entries(store)
    assert {doc for term, doc in entries if term == key} == set(range(1, N + 1))
    straight_key = galaxy_key(straight.galaxy("Gen")["id"])
    assert [e for e in entries if e[0] != key] == [e for e in name_entries(straight) if e[0] != straight_key]


def test_a_resumed_csv_import_keeps_building_its_names_beside(tmp_path, beside):
    path = tmp_path / "kit.csv"
    path.write_text("name,x,y,z\n" + "".join(f"Kit {i:05d},{i},{-i},{i % 9}\n" for i in range(3_000)),
                    encoding="utf-8")
    store = init_store(url(tmp_path, "csv-resumed"))

    def killed_after_batch_1(p):
        if p.batch_index == 1 and not p.skipped:
            raise Killed()

    with pytest.raises(Killed):
        bulk_import(store, "Kit", path, batch_rows=1_000, progress=killed_after_batch_1)
    summary = bulk_import(store, "Kit", path, batch_rows=1_000)  # not checked again: its size is unknown now
    assert "names" in summary["timings_s"]
    for i in (10, 1_500, 2_500):
        assert [s["name"] for s in store.search("Kit", f"Kit {i:05d}")] == [f"Kit {i:05d}"]
    healthy(store)


def test_an_edit_after_bad_input_is_kept_when_the_load_runs_again(tmp_path, beside):
    store = init_store(url(tmp_path, "edited"))

    def refuse_after_batch_2(p):
        if p.batch_index == 2 and not p.skipped:
            raise InvalidInput("a row of batch 3 is bad", field="x")

    with pytest.raises(InvalidInput):
        generate(store, progress=refuse_after_batch_2)
    assert not sidenames.side_path(store.path).exists()  # copied in and removed with the indexes' return
    system = store.system(10)
    store.patch(10, SystemPatch(name="Zzyzx Renamed"))
    generate(store)
    assert [s["id"] for s in store.search("Gen", "Zzyzx")] == [10]
    assert store.search("Gen", system["name"]) == []
    healthy(store)


def test_a_load_into_a_database_with_systems_fills_names_in_place(tmp_path, beside):
    store = init_store(url(tmp_path, "busy"))
    store.ensure_galaxy("Other")
    store.create("Other", validate_system({"name": "Kept", "x": 0, "y": 0, "z": 0}))
    summary = generate(store)
    assert "names" not in summary["timings_s"]
    assert not sidenames.side_path(store.path).exists()
    name = store.conn.execute("SELECT name FROM system WHERE id = 4321").fetchone()[0]
    assert [s["name"] for s in store.search("Gen", name)] == [name]


def test_a_rerun_waits_for_the_helper_of_a_killed_load_to_end(tmp_path, beside, straight):
    """A loader killed outright leaves its helper writing its batch, holding the side file's
    write lock: the next run's helper waits for it (its lock file) instead of failing."""
    store = init_store(url(tmp_path, "orphan"))
    with pytest.raises(Killed):
        generate(store, progress=kill_after(3, store, side_holds=2))
    store.close()
    # stand in for the helper still running: its lock, and a write transaction on the side file
    lock = open(sidenames._lock_path(tmp_path / "orphan.db"), "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    side = sqlite3.connect(sidenames.side_path(tmp_path / "orphan.db"), isolation_level=None, check_same_thread=False)
    side.execute("BEGIN IMMEDIATE")

    def orphan_ends() -> None:
        time.sleep(1.0)
        side.execute("COMMIT")
        side.close()
        lock.close()  # the process ends: the kernel drops its lock

    threading.Thread(target=orphan_ends).start()
    resumed = init_store(url(tmp_path, "orphan"), bulk=True)
    assert generate(resumed)["rows_this_run"] == N - 4 * ROWS
    assert name_entries(resumed) == name_entries(straight)
    assert not list(tmp_path.glob("orphan.db-names*"))


def test_a_helper_whose_loader_is_gone_stops_before_its_next_batch(tmp_path, beside):
    store = init_store(url(tmp_path, "gone"))
    generate(store)
    committed = [list(r) for r in store.conn.execute(
        "SELECT batch_index, first_id, last_id FROM bulk_job_batch ORDER BY batch_index")]
    settings_line = orjson.dumps({"database": str(store.path), "job": "another load", "galaxy_id": 1,
                                  "committed": committed, "loader_pid": -1}).decode()  # not its parent
    done = subprocess.run([sys.executable, "-m", "haven.store.sidenames"], input=settings_line + "\n",
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "the loading process ended"
    assert side_batches(store) == set()  # not one batch written


def test_a_helper_whose_load_was_killed_leaves_without_a_traceback():
    """The helper answers on stdout; when the load that reads it is gone, nothing reaches the terminal."""
    import subprocess
    import sys

    code = ("import time; from haven.store.sidenames import _answer; time.sleep(0.3); _answer('done ' * 20000)")
    helper = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    helper.stdout.close()  # the reader is gone
    stderr = helper.stderr.read()
    assert helper.wait() == 1 and stderr == b""
