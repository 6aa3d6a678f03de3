"""The bulk write path: generate, resume after a kill, all-or-nothing batches, octree, search."""

from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pytest

from haven.config import DatabaseUrl
from haven.errors import Conflict, InvalidInput
from haven.ingest.bulk import generate_galaxy, procgen_spec
from haven.ingest.export import export_galaxy
from haven.model import validate_patch, validate_system
from haven.procgen import GalaxySpec, generate_batch, region_names, system_seed
from haven.spatial.morton import MAX_LEVEL
from haven.store import init_store, migrate
from haven.store.bulk import PENDING_LEVEL, BulkLoader, BulkRowError
from haven.store.lod import assign_levels, node_table, priorities_of

N = 20_000
SEED = 11
BATCH = 3_000  # procgen batch: 7 batches, the last one partial
ROWS = 1_000  # write batches: 3 per procgen batch
CAPACITY = 256


class Killed(Exception):
    pass


def fresh(tmp_path, name: str):
    s = init_store(DatabaseUrl("sqlite", str(tmp_path / f"{name}.db")))
    s.ensure_galaxy("Gen", lod_capacity=CAPACITY)
    return s


def generate(store, **kw):
    return generate_galaxy(store, "Gen", N, SEED, batch_size=BATCH, write_rows=ROWS, **kw)


def content(store) -> dict:
    """Everything a bulk load writes, for comparing two databases."""
    c = store.conn
    return {
        "system": c.execute("SELECT * FROM system ORDER BY id").fetchall(),
        "region": c.execute("SELECT * FROM region ORDER BY id").fetchall(),
        # versions as ticks of the galaxy's clock before its current value: a galaxy's clock
        # starts at a random value (lod.first_clock), so two databases differ in that alone
        "lod_node": c.execute(
            "SELECT n.galaxy_id, n.level, n.cell, n.count, n.min_priority, n.max_priority, g.lod_clock - n.version "
            "FROM lod_node n JOIN galaxy g ON g.id = n.galaxy_id ORDER BY n.galaxy_id, n.level, n.cell").fetchall(),
        "counts": c.execute("SELECT system_count FROM galaxy WHERE name = 'Gen'").fetchall(),
        "fts": c.execute("SELECT rowid FROM system_fts WHERE system_fts MATCH 'Gol AND old' ORDER BY rowid").fetchall(),
        "children": c.execute("SELECT (SELECT count(*) FROM planet), (SELECT count(*) FROM space_station)").fetchall(),
    }


def check_octree(store, galaxy: str) -> None:
    """Every system sits in the node the bulk assignment gives it; node metadata matches."""
    gid = store._galaxy_key(galaxy)[0]
    capacity = store.galaxy(galaxy)["lod_capacity"]
    rows = np.array(store.conn.execute(
        "SELECT id, code, priority, lod_level, lod_cell FROM system WHERE galaxy_id = ? ORDER BY id", (gid,)
    ).fetchall(), dtype=np.int64)
    ids, codes, prio, level, cell = rows.T
    assert (prio == priorities_of(ids)).all()
    assert (level >= 0).all(), "no system left pending"
    assert (cell == codes >> (3 * (MAX_LEVEL - level))).all()
    want_level, want_cell = assign_levels(codes, prio, capacity)
    assert (level == want_level).all() and (cell == want_cell).all()
    nodes = store.conn.execute(
        "SELECT level, cell, count, min_priority, max_priority FROM lod_node WHERE galaxy_id = ? AND count > 0 "
        "ORDER BY level, cell", (gid,)).fetchall()
    assert [tuple(r) for r in nodes] == sorted(node_table(level, cell, prio))
    assert max(r[2] for r in nodes) <= capacity


def test_generate_counts_octree_search_and_derived_details(tmp_path):
    store = fresh(tmp_path, "gen")
    summary = generate(store)
    assert summary["rows"] == N and summary["state"] == "done"
    assert summary["batches"] == 6 * 3 + 2  # the last procgen batch holds 2,000
    g = store.galaxy("Gen")
    assert g["system_count"] == N == store.conn.execute("SELECT count(*) FROM system").fetchone()[0]
    real = dict(store.conn.execute(
        "SELECT r.name, count(*) FROM system s JOIN region r ON r.id = s.region_id GROUP BY r.name").fetchall())
    assert {r["name"]: r["system_count"] for r in store.regions("Gen") if r["system_count"]} == real
    check_octree(store, "Gen")
    store.conn.execute("INSERT INTO system_fts (system_fts) VALUES ('integrity-check')")  # index == content
    # 20 batches each left a search-index segment; finish() merged them, so the next
    # single write does not (FTS5 would, inside that write, at 16 segments)
    assert store.conn.execute("SELECT count(DISTINCT segid) FROM system_fts_idx").fetchone()[0] < 4
    assert summary["timings_s"]["search_merge"] >= 0

    spec = GalaxySpec(N, SEED, batch_size=BATCH)
    batch = generate_batch(spec, 2)
    name, materials = str(batch.name[17]), str(batch.materials[17])
    hit = store.system_by_name("Gen", name)
    assert hit["region"] == region_names(spec)[batch.region_index[17]]
    assert (hit["x"], hit["materials"]) == (float(batch.x_ly[17]), materials)
    assert hit["created_at"] is None  # generated: no invented date
    assert hit["id"] in {s["id"] for s in store.search("Gen", name.split()[-1])}  # the FTS index was filled
    assert store.search("Gen", materials.split(", ")[0], limit=5)
    assert hit["derived"] and hit["planets"]
    seed = store.conn.execute("SELECT seed FROM system WHERE id = ?", (hit["id"],)).fetchone()[0]
    assert seed == system_seed(SEED, batch.start + 17)
    assert procgen_spec(store, "Gen") == {"n_systems": N, "seed": SEED, "batch_size": BATCH}
    # the trigger is back: a normal create is searchable at once
    created = store.create("Gen", validate_system({"name": "Zzyzx Afterwards", "x": 1, "y": 2, "z": 3}))
    assert [s["id"] for s in store.search("Gen", "Zzyzx")] == [created["id"]]
    # a second run of the same job does nothing
    again = generate(store)
    assert again["rows_this_run"] == 0 and store.galaxy("Gen")["system_count"] == N + 1


def test_a_killed_generate_resumes_to_the_same_database_and_export(tmp_path):
    straight = fresh(tmp_path, "straight")
    generate(straight)

    resumed = fresh(tmp_path, "resumed")
    seen: list[int] = []

    def kill_after_batch_4(p):
        seen.append(p.batch_index)
        if p.batch_index == 4 and not p.skipped:
            raise Killed()

    with pytest.raises(Killed):
        generate(resumed, progress=kill_after_batch_4)
    assert resumed.galaxy("Gen")["system_count"] == 5 * ROWS
    assert resumed.conn.execute("SELECT count(*) FROM system WHERE lod_level = ?", (PENDING_LEVEL,)).fetchone()[0] \
        == 5 * ROWS  # written, counted, not yet in the octree

    # kill inside the transaction of batch 7: it is rolled back, then re-done
    original = BulkLoader._record

    def crash_in_batch_7(self, conn, p):
        if p.batch_index == 7:
            raise Killed()
        original(self, conn, p)

    BulkLoader._record = crash_in_batch_7
    try:
        with pytest.raises(Killed):
            generate(resumed)
    finally:
        BulkLoader._record = original
    assert resumed.galaxy("Gen")["system_count"] == 7 * ROWS  # batches 5 and 6 only

    progress: list = []
    summary = generate(resumed, progress=progress.append)
    assert summary["rows"] == N and summary["rows_this_run"] == N - 7 * ROWS
    assert [p.batch_index for p in progress if p.skipped] == list(range(7))
    assert content(resumed) == content(straight)
    check_octree(resumed, "Gen")

    def exported(store, name):
        path = tmp_path / f"{name}.json"
        export_galaxy(store, "Gen", path)
        return re.sub(rb'"exported_at":"[^"]*"', b"", path.read_bytes())

    assert exported(resumed, "a") == exported(straight, "b")


def test_two_generate_runs_export_byte_identical_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # the export's only varying byte: its time stamp
    files = []
    for name in ("one", "two"):
        store = fresh(tmp_path, name)
        generate_galaxy(store, "Gen", 3_000, SEED, batch_size=1_000, write_rows=700)
        export_galaxy(store, "Gen", tmp_path / f"{name}.json")
        files.append((tmp_path / f"{name}.json").read_bytes())
    assert files[0] == files[1]
    assert b'"exported_at":"2023-11-14T22:13:20Z"' in files[0]


@pytest.mark.parametrize("epoch", ["yesterday", "-1", "253402300800", "99999999999999"])
def test_a_bad_source_date_epoch_is_refused(tmp_path, monkeypatch, epoch):
    store = fresh(tmp_path, "bad-epoch")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    with pytest.raises(InvalidInput, match="SOURCE_DATE_EPOCH"):
        export_galaxy(store, "Gen", tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(("epoch", "stamp"), [("0", "1970-01-01T00:00:00Z"), ("253402300799", "9999-12-31T23:59:59Z")])
def test_source_date_epoch_at_either_end_is_written_as_given(tmp_path, monkeypatch, epoch, stamp):
    store = fresh(tmp_path, "ends")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    export_galaxy(store, "Gen", tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text())["_meta"]["exported_at"] == stamp


def test_generate_refuses_a_different_spec_for_the_same_galaxy(tmp_path):
    store = fresh(tmp_path, "spec")
    generate_galaxy(store, "Gen", 100, 1, batch_size=50, write_rows=50)
    with pytest.raises(Conflict):
        generate_galaxy(store, "Gen", 100, 2, batch_size=50, write_rows=50)
    # the same count and seed with another batch size is another galaxy too, and the message says why
    with pytest.raises(Conflict, match="batch size 50 .*batch size 1,000"):
        generate_galaxy(store, "Gen", 100, 1, batch_size=1000, write_rows=50)


def columns(n: int, prefix: str = "S") -> dict:
    rng = np.random.default_rng(3)
    return {
        "name": [f"{prefix} {i:05d}" for i in range(n)],
        "x_ly": rng.uniform(-100, 100, n), "y_ly": rng.uniform(-100, 100, n), "z_ly": rng.uniform(-10, 10, n),
        "region": ["North" if i % 3 else "South" for i in range(n)],
        "materials": ["Gold, Carbon" if i % 7 == 0 else "Carbon" for i in range(n)],
    }


def snapshot(store) -> tuple:
    c = store.conn
    return (
        c.execute("SELECT * FROM system ORDER BY id").fetchall(),
        c.execute("SELECT * FROM region ORDER BY id").fetchall(),
        c.execute("SELECT system_count FROM galaxy").fetchall(),
        c.execute("SELECT * FROM bulk_job_batch").fetchall(),
        c.execute("SELECT count(*) FROM system_fts WHERE system_fts MATCH 'Car AND bon'").fetchall(),
    )


@pytest.mark.parametrize(
    "damage, where, field",
    [
        (lambda c: c["x_ly"].__setitem__(6, np.nan), "row 7", "x"),
        (lambda c: c["z_ly"].__setitem__(6, 1e9), "row 7", "z"),
        (lambda c: c["name"].__setitem__(6, "S 00002"), "row 7", "name"),
        (lambda c: c["name"].__setitem__(6, "  "), "row 7", "name"),
        (lambda c: c["name"].__setitem__(6, "x" * 201), "row 7", "name"),
        (lambda c: c["name"].__setitem__(6, "Taken"), "row 7", "name"),  # clashes with a stored system
        (lambda c: c["region"].__setitem__(6, "r" * 201), "row 7", "region"),
        (lambda c: c.__setitem__("confidence", [None] * 6 + [1.5] + [None] * 43), "row 7", "confidence"),
    ],
)
def test_a_bad_batch_names_row_and_field_and_changes_nothing(store, damage, where, field):
    store.ensure_galaxy("Haven")
    store.create("Haven", validate_system({"name": "Taken", "x": 0, "y": 0, "z": 0}))
    loader = BulkLoader(store, "Haven", "test-job", kind="test")
    loader.write_batch(0, columns(50, "A"))
    before = snapshot(store)
    cols = columns(50)
    damage(cols)
    with pytest.raises(BulkRowError) as info:
        loader.write_batch(1, cols)
    assert info.value.field == field
    assert info.value.message.startswith(f"{where}: {field}: ")
    assert "nothing of this batch was written" in info.value.message
    assert snapshot(store) == before
    assert loader.done_batches() == {0}
    cols = columns(50)
    assert loader.write_batch(1, cols) == 50  # the fixed batch goes in
    loader.finish()
    check_octree(store, "Haven")


def test_a_duplicate_row_names_both_rows(store):
    loader = BulkLoader(store, "Haven", "dup", kind="test")
    cols = columns(20)
    cols["name"][6] = cols["name"][2]
    with pytest.raises(BulkRowError, match=r"^row 7: name: 'S 00002' is also the name of row 3"):
        loader.write_batch(0, cols, row_label=lambda i: f"row {i + 1}")


def test_few_new_systems_join_the_octree_one_by_one(store):
    store.ensure_galaxy("Small", half_size_ly=1000, lod_capacity=4)
    first = BulkLoader(store, "Small", "big", kind="test")
    first.write_batch(0, columns(400))
    first.finish()
    clock = store.galaxy("Small")["lod_clock"]
    second = BulkLoader(store, "Small", "small", kind="test")
    second.write_batch(0, columns(5, "T"))
    assert second.finish()["octree_nodes"] is None  # placed incrementally
    assert store.galaxy("Small")["lod_clock"] == clock + 1
    check_octree(store, "Small")


def test_pending_systems_can_be_edited_and_deleted_before_finish(store):
    loader = BulkLoader(store, "Haven", "edit", kind="test")
    loader.write_batch(0, columns(30))
    a = store.system_by_name("Haven", "S 00001")
    store.patch(a["id"], validate_patch({"x": 5.0, "name": "Moved"}))
    store.delete(store.system_by_name("Haven", "S 00002")["id"])
    store.create("Haven", validate_system({"name": "Live", "x": 1, "y": 1, "z": 1}))
    loader.finish()
    assert store.galaxy("Haven")["system_count"] == 30
    check_octree(store, "Haven")


def test_downgrade_stores_derived_details_and_places_pending_systems(tmp_path):
    url = DatabaseUrl("sqlite", str(tmp_path / "down.db"))
    store = init_store(url)
    generate_galaxy(store, "Gen", 50, 3, batch_size=50, write_rows=50)
    derived = store.system_by_name("Gen", store.page("Gen", limit=1).items[0]["name"])
    loader = BulkLoader(store, "Gen", "unfinished", kind="test")
    loader.write_batch(0, columns(10))
    loader.close()  # as when its process ends: the job stays unfinished, its load lock goes
    store.close()
    migrate.downgrade(url, "0002")
    conn = sqlite3.connect(url.location)
    planets = conn.execute("SELECT count(*) FROM planet WHERE system_id = ?", (derived["id"],)).fetchone()[0]
    assert planets == len(derived["planets"])
    assert conn.execute("SELECT count(*) FROM system WHERE lod_level IS NULL OR lod_level < 0").fetchone()[0] == 0
    conn.close()
    migrate.upgrade(url)
    store = init_store(url)
    again = store.system_by_name("Gen", derived["name"])
    assert not again["derived"]
    assert [p["name"] for p in again["planets"]] == [p["name"] for p in derived["planets"]]
    store.close()


def test_unknown_columns_and_bad_values_are_refused(store):
    loader = BulkLoader(store, "Haven", "cols", kind="test")
    with pytest.raises(InvalidInput, match="unknown column"):
        loader.write_batch(0, {**columns(3), "colour": ["r", "g", "b"]})
    cols = columns(3)
    cols["x_ly"] = [1.0, "far", 2.0]
    with pytest.raises(BulkRowError, match=r"^row 2: x: must be a number, not text"):
        loader.write_batch(0, cols)
    cols = columns(3)
    cols["x_ly"] = [1.0, None, 2.0]
    with pytest.raises(BulkRowError, match=r"^row 2: x: is missing"):
        loader.write_batch(0, cols)


def test_rich_progress_follows_the_job(tmp_path):
    from rich.progress import Progress

    from haven.store.bulk import rich_progress

    store = fresh(tmp_path, "bar")
    with Progress(disable=True) as bar:
        task = bar.add_task("generating", total=None)
        generate_galaxy(store, "Gen", 2_500, 4, batch_size=1_000, write_rows=500, progress=rich_progress(bar, task))
        assert (bar.tasks[0].completed, bar.tasks[0].total) == (2_500, 2_500)


def test_a_load_stopped_by_bad_input_leaves_the_batches_before_it_on_the_map_and_says_so(store):
    """A later batch refused (a name another writer took meanwhile, say) used to leave the
    batches before it counted but in no octree node: missing from every map until a rerun."""
    store.ensure_galaxy("Haven")
    store.create("Haven", validate_system({"name": "Taken", "x": 0, "y": 0, "z": 0}))
    loader = BulkLoader(store, "Haven", "stopped", kind="test")
    bad = columns(50)
    bad["name"][6] = "Taken"
    with pytest.raises(BulkRowError) as info:
        with loader.running():
            loader.write_batch(0, columns(50, "A"))
            loader.write_batch(1, bad)
    assert info.value.__notes__ == ["the 50 systems of the batches before it are stored (and on the map); "
                                    "fix the cause and run the same command again to go on from there"]
    pending = store.conn.execute("SELECT count(*) FROM system WHERE lod_level = ?", (PENDING_LEVEL,)).fetchone()[0]
    assert pending == 0
    check_octree(store, "Haven")
    again = BulkLoader(store, "Haven", "stopped", kind="test")  # the rerun goes on from there
    with again.running():
        assert again.write_batch(0, columns(50, "A")) == 0
        assert again.write_batch(1, columns(50)) == 50
        again.finish()
    check_octree(store, "Haven")
    assert store.stats("Haven")["total_systems"] == 101


def test_a_job_whose_row_is_gone_stops_with_a_clear_error_and_claims_nothing(store):
    from haven.errors import JobVanished

    store.ensure_galaxy("Haven")
    loader = BulkLoader(store, "Haven", "vanishing", kind="test")
    with pytest.raises(JobVanished, match="no longer in the database") as info:
        with loader.running():
            loader.write_batch(0, columns(20))
            store.conn.execute("DELETE FROM bulk_job_batch WHERE job_key = 'vanishing'")
            store.conn.execute("DELETE FROM bulk_job WHERE job_key = 'vanishing'")
            loader.finish()
    assert not getattr(info.value, "__notes__", [])  # no "stored (and on the map)" about a replaced file
