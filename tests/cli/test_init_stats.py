"""``haven init`` (idempotent, seeds the demo once) and ``haven stats``."""

from __future__ import annotations

import json
from pathlib import Path

from haven.config import DatabaseUrl
from haven.demo import DEMO_GENERATED_SYSTEMS, handmade_systems
from haven.model import validate_system
from haven.store import migrate, open_store

from cli_helpers import Invoke, assert_ok, system_count

DEMO_TOTAL = len(handmade_systems()) + DEMO_GENERATED_SYSTEMS


def test_init_creates_schema_galaxy_and_demo(haven: Invoke, db_path: Path) -> None:
    result = haven("init")
    assert_ok(result)
    assert "created" in result.output
    assert "seeded" in result.output
    url = DatabaseUrl("sqlite", str(db_path))
    assert migrate.current_revision(url) == migrate.head_revision()
    store = open_store(url)
    try:
        assert store.stats("Haven")["total_systems"] == DEMO_TOTAL
        korvax = store.system_by_name("Haven", "KORVAX 12/B3")
        assert korvax["planets"] and any(p["moons"] for p in korvax["planets"])
        assert korvax["space_station"]["name"] == "Korvax Exchange"
        generated = store.page("Haven", limit=1).items[0]
        assert generated["provenance"] != "demo"
        assert store.system(generated["id"])["planets"], "generated systems derive their planets"
    finally:
        store.close()


def test_init_is_idempotent(haven: Invoke, db_path: Path) -> None:
    assert_ok(haven("init"))
    again = haven("init")
    assert_ok(again)
    assert "already seeded" in again.output
    assert "up to date" in again.output
    assert system_count(db_path) == DEMO_TOTAL


def test_deleted_demo_systems_stay_deleted(haven: Invoke, db_path: Path) -> None:
    assert_ok(haven("init"))
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        store.delete(store.system_by_name("Haven", "KORVAX 12/B3")["id"])
    finally:
        store.close()
    assert_ok(haven("init"))
    assert system_count(db_path) == DEMO_TOTAL - 1


def test_init_finishes_an_interrupted_demo(haven: Invoke, db_path: Path) -> None:
    from haven.demo import DEMO_SEED
    from haven.ingest.bulk import generate_galaxy

    assert_ok(haven("init", "--no-demo"))
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        store.set_meta_value("demo:Haven", "started")
        generate_galaxy(store, "Haven", DEMO_GENERATED_SYSTEMS, DEMO_SEED)
    finally:
        store.close()
    result = haven("init")
    assert_ok(result)
    assert "finished seeding" in result.output
    assert system_count(db_path) == DEMO_TOTAL


def test_init_leaves_a_galaxy_with_data_alone(haven: Invoke, db_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        store.create("Haven", handmade_systems()[0])
    finally:
        store.close()
    result = haven("init")
    assert_ok(result)
    assert "skipped" in result.output
    assert system_count(db_path) == 1


def test_init_without_demo_and_named_galaxy(haven: Invoke, db_path: Path) -> None:
    assert_ok(haven("init", "--no-demo", "--galaxy", "Euclid"))
    assert system_count(db_path) == 0
    # A later init with the demo seeds the (still empty) galaxy.
    assert_ok(haven("init", "--galaxy", "Euclid"))
    assert system_count(db_path) == DEMO_TOTAL


def test_database_option_overrides_environment(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "nested" / "other.db"
    assert_ok(haven("init", "--no-demo", "--database", str(other)))
    assert other.exists()
    assert not db_path.exists()


def test_stats_table_and_json(haven: Invoke) -> None:
    assert_ok(haven("init"))
    table = haven("stats", "--top", "3")
    assert_ok(table)
    assert f"{DEMO_TOTAL:,}" in table.output
    assert "Vesper Reach" in haven("stats", "--top", "1000").output

    as_json = haven("stats", "--json")
    assert_ok(as_json)
    data = json.loads(as_json.stdout)
    assert data["galaxy"] == "Haven"
    assert data["total_systems"] == DEMO_TOTAL
    assert sum(r["system_count"] for r in data["regions"]) == DEMO_TOTAL
    assert data["database_size_bytes"] > 0


def test_stats_shows_the_write_ahead_log_apart(haven: Invoke, db_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert json.loads(haven("stats", "--json").stdout)["wal_size_bytes"] == 0  # folded in when the last store closed
    store = open_store(DatabaseUrl("sqlite", str(db_path)))  # stays open: its writes stay in the log
    try:
        store.create("Haven", validate_system({"name": "Logged", "x": 0, "y": 0, "z": 0}))
        wal = Path(f"{db_path}-wal").stat().st_size
        data = json.loads(haven("stats", "--json").stdout)
        assert data["wal_size_bytes"] == wal > 0 and data["total_systems"] == 1
        assert "write-ahead log" in haven("stats").output
    finally:
        store.close()
