"""An export is one snapshot: every system exactly once, as it was when the export began.

The iteration behind every export format (``iter_systems`` for the JSON formats,
``stored_batches`` for the flat ones) reads in pages; systems renamed, deleted,
created or given new planets between two pages must not show up, go missing or
come twice. An abandoned iteration leaves no read transaction open behind it.
"""

from __future__ import annotations

import gc
import io
import json
from collections import Counter
from typing import Any

import pytest

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.ingest.export import export_galaxy, export_stream
from haven.model import SystemPatch, validate_system
from haven.store import SQLiteStore

BATCH = 10
SYSTEMS = 30


@pytest.fixture
def galaxy(store: SQLiteStore) -> dict[str, dict[str, Any]]:
    """30 systems ``S 00`` … ``S 29``, every fifth with a planet; the snapshot as it is now, by name."""
    store.import_systems(GALAXY, [
        validate_system({"name": f"S {i:02d}", "x": i, "y": 0, "z": 0,
                         "planets": [{"name": f"old {i}", "moons": [{"name": "moon"}]}] if i % 5 == 0 else []})
        for i in range(SYSTEMS)
    ])
    return {s["name"]: s for s in store.iter_systems(GALAXY)}


def edit_everywhere(store: SQLiteStore) -> None:
    """What others write while an export is between its first and its second page (of 10, name or id order)."""
    by_name = {name: store.system_by_name(GALAXY, name)["id"] for name in ("S 03", "S 15", "S 20", "S 25")}
    store.patch(by_name["S 25"], SystemPatch(name="A early"))  # not read yet, now sorts before the cursor
    store.patch(by_name["S 03"], SystemPatch(name="Z late"))  # read already, now sorts after the cursor
    store.delete(by_name["S 15"])  # not read yet
    store.create(GALAXY, validate_system({"name": "M new", "x": 1, "y": 1, "z": 1}))  # in the unread part
    store.replace(by_name["S 20"], validate_system(  # children replaced in the unread part
        {"name": "S 20", "x": 20, "y": 0, "z": 0, "planets": [{"name": "new 20"}]}))


def assert_the_snapshot(names: list[str], planets_of_s20: list[str], before: dict[str, dict[str, Any]]) -> None:
    counts = Counter(names)
    assert [n for n, c in counts.items() if c > 1] == [], "a system came twice"
    assert sorted(before) == sorted(counts), "the export is not the galaxy as it was when it began"
    assert planets_of_s20 == ["old 20"], "children not from the system's snapshot"


def test_iter_systems_is_one_snapshot(store: SQLiteStore, galaxy: dict[str, dict[str, Any]]) -> None:
    it = store.iter_systems(GALAXY, batch_size=BATCH)
    seen = [next(it) for _ in range(BATCH)]
    edit_everywhere(store)
    seen += list(it)
    assert_the_snapshot([s["name"] for s in seen], [p["name"] for s in seen if s["name"] == "S 20"
                                                    for p in s["planets"]], galaxy)
    assert [s["name"] for s in seen] == sorted(galaxy)  # still in name order
    assert sorted(s["id"] for s in seen) == sorted(s["id"] for s in galaxy.values())  # each id once
    for s in seen:  # every system exactly as it was, children included
        assert s == galaxy[s["name"]]
    assert store.system_by_name(GALAXY, "A early")  # the writes did happen
    assert {s["name"] for s in store.iter_systems(GALAXY)} == (set(galaxy) - {"S 25", "S 03", "S 15"}) | {
        "A early", "Z late", "M new"}  # and a later export sees them


def test_stored_batches_are_one_snapshot(store: SQLiteStore, galaxy: dict[str, dict[str, Any]]) -> None:
    it = store.stored_batches(GALAXY, batch_size=BATCH)
    seen = list(next(it))
    edit_everywhere(store)
    for batch in it:
        seen += batch
    assert_the_snapshot([s["name"] for s in seen], [p["name"] for s in seen if s["name"] == "S 20"
                                                    for p in s["planets"]], galaxy)
    assert [s["id"] for s in seen] == sorted(s["id"] for s in galaxy.values())  # id order, each once
    for s in seen:
        assert s["version"] == galaxy[s["name"]]["version"]


def names_and_s20_planets(fmt: str, body: bytes) -> tuple[list[str], list[str]]:
    """The exported names (with repeats) and the planets exported for ``S 20``, from any text format."""
    if fmt == "haven-json":
        records = json.loads(body)["data"]
    elif fmt == "legacy-json":
        pairs = json.loads(body, object_pairs_hook=lambda kv: kv)  # keep a repeated key twice
        records = [dict(v) | {"name": k} for k, v in pairs if k != "_meta"]
        for r in records:
            r["planets"] = [dict(p) for p in r.get("planets", [])]
    else:
        records = [json.loads(line) for line in body.splitlines()]
    names = [r["name"] for r in records]
    s20 = [p["name"] for r in records if r["name"] == "S 20" for p in (r.get("planets") or [])]
    return names, s20


@pytest.mark.parametrize("fmt", ["haven-json", "legacy-json", "jsonl"])
def test_export_galaxy_is_one_snapshot(store: SQLiteStore, galaxy: dict[str, dict[str, Any]],
                                       edit_between_pages, fmt: str) -> None:
    edit_between_pages(store, BATCH, lambda: edit_everywhere(store))
    out = io.StringIO()
    assert export_galaxy(store, GALAXY, out, fmt=fmt) == SYSTEMS
    assert_the_snapshot(*names_and_s20_planets(fmt, out.getvalue().encode()), galaxy)


def assert_no_reader_left(store: SQLiteStore) -> None:
    """A write, then a checkpoint that resets the WAL: it completes only if no read snapshot holds it back."""
    store.create(GALAXY, validate_system({"name": f"after {store.connection_count()}", "x": 0, "y": 0, "z": 0}))
    busy, log, done = store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert (busy, log, done) == (0, 0, 0)


@pytest.mark.parametrize("how", ["closed", "dropped"])
def test_an_abandoned_iteration_leaves_no_transaction(store: SQLiteStore, galaxy: dict[str, dict[str, Any]],
                                                      how: str) -> None:
    baseline = store.connection_count()
    for _ in range(5):
        for start in (store.iter_systems, store.stored_batches):
            it = start(GALAXY, batch_size=BATCH)
            next(it)
            if how == "closed":
                it.close()
            else:
                del it  # a consumer that went away without closing: the generator is finalised
                gc.collect()
            assert store.connection_count() == baseline
    assert_no_reader_left(store)


@pytest.mark.parametrize("fmt", ["haven-json", "legacy-json", "jsonl", "csv", "parquet"])
def test_an_abandoned_export_stream_leaves_no_transaction(store: SQLiteStore, galaxy: dict[str, dict[str, Any]],
                                                          monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    from haven.ingest import export

    monkeypatch.setattr(export, "PROGRESS_EVERY", 1)
    baseline = store.connection_count()
    for _ in range(5):
        chunks = export_stream(store, GALAXY, fmt)
        next(chunks)
        if fmt in ("haven-json", "legacy-json"):
            next(chunks)  # the header, then a system: the iteration is under way
        chunks.close()
        assert store.connection_count() == baseline
    assert_no_reader_left(store)


def test_a_finished_iteration_leaves_no_transaction(store: SQLiteStore, galaxy: dict[str, dict[str, Any]]) -> None:
    baseline = store.connection_count()
    assert len(list(store.iter_systems(GALAXY, batch_size=BATCH))) == SYSTEMS
    assert sum(len(b) for b in store.stored_batches(GALAXY, batch_size=BATCH)) == SYSTEMS
    assert store.connection_count() == baseline
    assert_no_reader_left(store)


def test_closing_the_store_closes_an_iteration_under_way(store: SQLiteStore,
                                                         galaxy: dict[str, dict[str, Any]]) -> None:
    it = store.iter_systems(GALAXY, batch_size=BATCH)
    next(it)
    store.close()
    assert store.connection_count() == 0
    it.close()  # nothing left to end, and no error for it


def test_a_read_only_store_exports_one_snapshot_too(store: SQLiteStore, galaxy: dict[str, dict[str, Any]]) -> None:
    reader = SQLiteStore(store.path, read_only=True)
    try:
        it = reader.iter_systems(GALAXY, batch_size=BATCH)
        seen = [next(it) for _ in range(BATCH)]
        edit_everywhere(store)
        seen += list(it)
        assert sorted(s["name"] for s in seen) == sorted(galaxy)
    finally:
        reader.close()


def test_bad_batch_sizes_are_refused(store: SQLiteStore, galaxy: dict[str, dict[str, Any]]) -> None:
    from haven.errors import InvalidInput

    for method in (store.iter_systems, store.stored_batches):
        with pytest.raises(InvalidInput):
            next(method(GALAXY, batch_size=0))
