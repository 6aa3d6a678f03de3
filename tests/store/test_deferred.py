"""A load into an empty database builds the secondary indexes once, at its end."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from haven.config import DatabaseUrl
from haven.errors import Conflict, InvalidInput, StoreUnavailable
from haven.ingest.bulk import bulk_import, generate_galaxy
from haven.model import validate_system
from haven.store import init_store, migrate, open_store
from haven.store.deferred import DEFERRABLE_INDEXES, DEFERRED_INDEXES_KEY

N = 6_000
ROWS = 1_000  # six write batches


class Killed(Exception):
    pass


def url(tmp_path, name: str) -> DatabaseUrl:
    return DatabaseUrl("sqlite", str(tmp_path / f"{name}.db"))


def index_sql(store) -> dict[str, str]:
    return dict(store.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'system' AND sql IS NOT NULL"
    ).fetchall())


def generate(store, **kw):
    return generate_galaxy(store, "Gen", N, 5, batch_size=3_000, write_rows=ROWS, **kw)


def kill_after(batch: int):
    def progress(p):
        if p.batch_index == batch and not p.skipped:
            raise Killed()
    return progress


def interrupted(tmp_path, name: str, *, after_batch: int) -> DatabaseUrl:
    """A database whose generate was killed after a batch: its indexes are still out."""
    target = url(tmp_path, name)
    store = init_store(target)
    with pytest.raises(Killed):
        generate(store, progress=kill_after(after_batch))
    store.close()
    return target


def test_generate_into_an_empty_database_builds_the_same_indexes_at_the_end(tmp_path):
    schema = index_sql(init_store(url(tmp_path, "schema")))
    store = init_store(url(tmp_path, "gen"))
    seen: list[set[str]] = []
    summary = generate(store, progress=lambda p: seen.append(set(index_sql(store))))
    assert all(not (names & set(DEFERRABLE_INDEXES)) for names in seen)  # none while the batches ran
    assert index_sql(store) == schema  # the stored statements, rebuilt
    assert store.meta_value(DEFERRED_INDEXES_KEY) is None
    timings = summary["timings_s"]
    # the end's whole time contains the indexes it built and the octree's phases
    parts = timings["indexes"] + sum(v for k, v in timings.items() if k.startswith("octree_"))
    assert timings["finish"] >= parts - 0.005  # each rounded to the millisecond
    plan = " ".join(r[3] for r in store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM system WHERE galaxy_id = 1 AND name > 'M' ORDER BY name LIMIT 5"))
    assert "system_name" in plan


def test_a_killed_deferred_load_keeps_everyone_else_out_until_it_is_run_again(tmp_path):
    straight = init_store(url(tmp_path, "straight"))
    generate(straight)
    target = interrupted(tmp_path, "killed", after_batch=2)

    with pytest.raises(StoreUnavailable, match=r"has not finished.*run the same `haven generate`"):
        open_store(target)
    with pytest.raises(Conflict, match="has not finished"):
        migrate.downgrade(target, "-1")

    from haven.store import filelocks

    running = subprocess.Popen([sys.executable, "-c", "import sys, time; from haven.store import filelocks; "
                                "filelocks.loading(sys.argv[1]); print('held', flush=True); time.sleep(60)",
                                target.location], stdout=subprocess.PIPE, text=True)
    try:  # while another process is loading, the advice is to wait for it
        assert running.stdout.readline().strip() == "held"
        with pytest.raises(StoreUnavailable, match=r"is running: .* wait for it to finish"):
            open_store(target)
        with pytest.raises(Conflict, match="is running"):
            migrate.downgrade(target, "-1")
    finally:
        running.kill()
        running.wait()
    assert not filelocks.load_running(target.location)

    resumed = init_store(target, bulk=True)
    summary = generate(resumed)
    assert summary["rows_this_run"] == N - 3 * ROWS
    resumed.close()
    again = open_store(target)  # open for everyone again
    assert index_sql(again) == index_sql(straight)
    rows = "SELECT id, name, code, lod_level, lod_cell, priority FROM system ORDER BY id"
    assert again.conn.execute(rows).fetchall() == straight.conn.execute(rows).fetchall()


def test_a_store_opened_before_the_load_cannot_write_while_the_indexes_are_missing(tmp_path):
    target = url(tmp_path, "shared")
    server = init_store(target)
    loader_store = open_store(target)
    with pytest.raises(Killed):
        generate(loader_store, progress=kill_after(1))
    with pytest.raises(StoreUnavailable, match="has not finished"):
        server.create("Gen", validate_system({"name": "Late", "x": 1, "y": 2, "z": 3}))
    generate(loader_store)
    assert server.create("Gen", validate_system({"name": "Late", "x": 1, "y": 2, "z": 3}))["name"] == "Late"


def test_nothing_is_deferred_when_the_database_holds_other_systems(tmp_path):
    store = init_store(url(tmp_path, "busy"))
    store.ensure_galaxy("Other")
    store.create("Other", validate_system({"name": "Kept", "x": 0, "y": 0, "z": 0}))
    before = index_sql(store)
    seen: list[dict[str, str]] = []
    generate(store, progress=lambda p: seen.append(index_sql(store)))
    assert seen and all(s == before for s in seen)


def test_a_name_taken_twice_stops_the_finish_and_names_it(tmp_path):
    target = url(tmp_path, "twice")
    store = init_store(target)
    with pytest.raises(Killed):
        generate(store, progress=kill_after(0))
    taken = store.conn.execute("SELECT name FROM system WHERE id = 1").fetchone()[0]
    extra = store.conn.execute(  # what a writer that ignored the deferral could leave behind
        "INSERT INTO system (galaxy_id, name, x, y, z, code, created_at, modified_at, lod_level, lod_cell) "
        "SELECT galaxy_id, name, x, y, z, code, 0, 0, lod_level, lod_cell FROM system WHERE id = 1 RETURNING id"
    ).fetchone()[0]
    store.conn.execute("UPDATE galaxy SET system_count = system_count + 1 WHERE name = 'Gen'")
    with pytest.raises(Conflict, match=f"names are taken more than once: {taken!r} in galaxy 'Gen'"):
        generate(store)  # writes the other batches, then cannot finish
    placed = "SELECT count(*), count(*) FILTER (WHERE lod_level >= 0), (SELECT count(*) FROM lod_node) FROM system"
    assert tuple(store.conn.execute(placed).fetchone()) == (N + 1, 0, 0)  # nothing of the finish was kept
    assert store.meta_value(DEFERRED_INDEXES_KEY) is not None  # still deferred, nothing half-built
    store.conn.execute("DELETE FROM system WHERE id = ?", (extra,))
    store.conn.execute("UPDATE galaxy SET system_count = system_count - 1 WHERE name = 'Gen'")
    assert generate(store)["rows"] == N
    assert store.meta_value(DEFERRED_INDEXES_KEY) is None


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": f"k{i}", "name": f"Kit {i:05d}", "x": float(i), "y": float(-i), "z": float(i % 9),
             "region": f"R{i % 3}", "materials": "Gold" if i % 10 == 0 else "Salt",
             "attributes": json.dumps({"star": "Red"})} for i in range(start, start + n)]


def test_an_import_defers_the_unique_name_index_only_after_checking_the_file(tmp_path):
    path = tmp_path / "kit.parquet"
    pq.write_table(pa.Table.from_pylist(rows(2_500)), path)
    for check_first, kept in ((True, set()), (False, {"system_name"})):
        store = init_store(url(tmp_path, f"import-{check_first}"))
        seen: list[set[str]] = []
        bulk_import(store, "Kit", path, batch_rows=1_000, check_first=check_first,
                    progress=lambda p: seen.append(set(index_sql(store)) & set(DEFERRABLE_INDEXES)))
        assert seen and all(s == kept for s in seen)
        assert set(DEFERRABLE_INDEXES) <= set(index_sql(store))
        assert {s["name"] for s in store.search("Kit", "Gold", limit=1000)} == {
            r["name"] for r in rows(2_500) if r["materials"] == "Gold"}


def test_a_load_stopped_by_bad_input_gives_the_indexes_back(tmp_path):
    data = rows(2_500)
    data[1_700]["x"] = "far"
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    target = url(tmp_path, "bad")
    store = init_store(target)
    with pytest.raises(InvalidInput, match="line 1701"):
        bulk_import(store, "Kit", path, batch_rows=1_000, check_first=False)
    assert store.meta_value(DEFERRED_INDEXES_KEY) is None
    assert set(DEFERRABLE_INDEXES) <= set(index_sql(store))
    assert store.bulk is False
    assert open_store(target).galaxy("Kit")["system_count"] == 1_000  # the first batch, usable


def test_a_finish_killed_between_its_transactions_goes_on_from_there(tmp_path, monkeypatch):
    straight = init_store(url(tmp_path, "straight"))
    generate(straight)
    target = url(tmp_path, "finish")
    store = init_store(target)
    from haven.store import lod

    def killed(*args, **kwargs):
        raise Killed()

    with monkeypatch.context() as m:
        m.setattr(lod, "rebuild", killed)
        with pytest.raises(Killed):
            generate(store)
    left = json.loads(store.meta_value(DEFERRED_INDEXES_KEY))["indexes"]
    assert [name for name, _ in left] == ["system_lod"]  # the others were built and committed
    assert store.conn.execute("SELECT count(*) FROM lod_node").fetchone()[0] == 0
    store.close()
    with pytest.raises(StoreUnavailable):
        open_store(target)
    resumed = init_store(target, bulk=True)
    assert generate(resumed)["rows_this_run"] == 0
    assert index_sql(resumed) == index_sql(straight)
    nodes = "SELECT level, cell, count, min_priority, max_priority FROM lod_node ORDER BY level, cell"
    assert resumed.conn.execute(nodes).fetchall() == straight.conn.execute(nodes).fetchall()


def test_the_cli_names_the_unfinished_load_instead_of_serving(tmp_path):
    from typer.testing import CliRunner

    from haven.cli.app import app

    target = interrupted(tmp_path, "cli", after_batch=0)
    for command in (["serve", "--port", "1"], ["stats"]):
        result = CliRunner().invoke(app, [*command, "--database", target.location])
        assert result.exit_code == 1, result.output
        assert "has not finished" in result.output and "run the same `haven generate`" in result.output


def test_a_server_that_was_already_running_answers_503_where_an_index_is_missing(tmp_path):
    from fastapi.testclient import TestClient

    from haven.api.app import create_app

    target = url(tmp_path, "running")
    server = init_store(target)
    server.ensure_galaxy("Gen")
    with TestClient(create_app(server, galaxy="Gen"), raise_server_exceptions=False) as client:
        loader = open_store(target)
        with pytest.raises(Killed):
            generate(loader, progress=kill_after(0))
        answer = client.get("/api/v1/systems/near", params={"galaxy": "Gen", "x": 0, "y": 0, "z": 0, "radius": 500})
        assert answer.status_code == 503, answer.text
        assert "bulk load" in answer.json()["error"]["message"]
        created = client.post("/api/v1/systems", params={"galaxy": "Gen"},
                              json={"name": "Late", "x": 1, "y": 2, "z": 3})
        assert created.status_code == 503 and "has not finished" in created.text


def test_the_store_that_ran_the_load_is_an_ordinary_one_afterwards(tmp_path):
    store = init_store(url(tmp_path, "after"))
    generate(store)
    assert store.bulk is False
    assert open_store(url(tmp_path, "after")).galaxy("Gen")["system_count"] == N


def test_a_copy_taken_during_a_load_restores_and_the_load_then_finishes(tmp_path):
    """Its missing indexes are the deferred ones, not damage: restore takes it, and running the
    same load again (as for the original) builds them."""
    from typer.testing import CliRunner

    from haven.cli.app import app

    copy = interrupted(tmp_path, "midload", after_batch=0)
    live = url(tmp_path, "live")
    init_store(live).close()
    result = CliRunner().invoke(app, ["restore", copy.location, "--yes", "--database", live.location])
    assert result.exit_code == 0, result.output
    store = init_store(live, bulk=True)
    generate(store)
    assert store.stats("Gen")["total_systems"] == N
    assert set(index_sql(store)) >= set(DEFERRABLE_INDEXES)


def test_the_message_of_an_unfinished_import_names_its_file():
    from haven.store.deferred import unfinished_load_message

    record = {"job": "import:Haven:2f5f", "indexes": [["system_name", "CREATE …"]], "source": "csv:gen.csv"}
    message = unfinished_load_message(record)
    assert message.startswith("a bulk load of 'gen.csv' (import:Haven:2f5f) has not finished")
    assert "run the same `haven import` of that file, unchanged, again" in message
    assert "to give it up, delete the database file" in message  # a way out when the file is gone
    assert "of 'gen.csv'" not in unfinished_load_message({**record, "source": None})
