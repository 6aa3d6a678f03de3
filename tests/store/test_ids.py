"""System and galaxy ids are never given out twice, so histories, undo and other processes never mix two."""

from __future__ import annotations

import pytest

from haven.config import DatabaseUrl
from haven.errors import NotFound
from haven.ingest.bulk import bulk_import
from haven.model import SystemIn
from haven.store import init_store
from haven.store.ids import FREED_TOP_KEY

GALAXY = "Haven"


def _system(name: str, x: float = 1.0) -> SystemIn:
    return SystemIn.model_validate({"name": name, "x": x, "y": 2.0, "z": 3.0, "region": "Core"})


def test_the_newest_systems_id_is_not_given_to_the_next_one(store) -> None:
    kept = store.create(GALAXY, _system("Kept"))
    newest = store.create(GALAXY, _system("Newest"))
    store.delete(newest["id"])
    later = store.create(GALAXY, _system("Later"))
    assert later["id"] > newest["id"] > kept["id"]
    assert [e["op"] for e in store.history(later["id"])] == ["create"]
    # the delete can still be undone, under the id the system had
    assert store.undo(newest["id"])["system"]["name"] == "Newest"
    assert store.system_by_name(GALAXY, "Newest")["id"] == newest["id"]


def test_undoing_a_creation_frees_nothing_for_reuse(store) -> None:
    first = store.create(GALAXY, _system("First"))
    store.undo(first["id"])  # removes it again
    second = store.create(GALAXY, _system("Second"))
    assert second["id"] > first["id"]
    with pytest.raises(NotFound):  # the second system's history is not the first id's
        store.history(first["id"])


def test_deleting_below_the_top_records_nothing(store) -> None:
    low = store.create(GALAXY, _system("Low"))
    store.create(GALAXY, _system("High"))
    store.delete(low["id"])
    assert store.meta_value(FREED_TOP_KEY) is None


def test_a_bulk_import_starts_after_a_freed_top_id(store, tmp_path) -> None:
    top = store.create(GALAXY, _system("Top"))
    store.delete(top["id"])
    source = tmp_path / "systems.jsonl"
    source.write_text('{"name": "Bulk A", "x": 1, "y": 2, "z": 3}\n{"name": "Bulk B", "x": 4, "y": 5, "z": 6}\n')
    bulk_import(store, GALAXY, source)
    imported = [store.system_by_name(GALAXY, n)["id"] for n in ("Bulk A", "Bulk B")]
    assert min(imported) > top["id"]
    assert store.history(top["id"])[0]["op"] == "delete"


def test_a_removed_galaxys_id_is_not_given_to_the_next_galaxy(store, tmp_path) -> None:
    other = store.ensure_galaxy("Other")
    stale = init_store(DatabaseUrl("sqlite", str(store.path)))  # another process, which saw Other
    try:
        assert stale.page("Other").total == 0
        assert store.drop_empty_galaxy(other["id"])
        newer = store.ensure_galaxy("Newer")
        assert newer["id"] > other["id"]
        store.create("Newer", _system("In Newer"))
        with pytest.raises(NotFound):  # the other process does not read Newer's systems as Other's
            stale.page("Other")
        # The name comes back (an import run again): the other process writes into the new galaxy.
        again = store.ensure_galaxy("Other")
        written = stale.create("Other", _system("Into Other"))
        assert store.system_by_name("Other", "Into Other")["id"] == written["id"]
        assert stale.page("Other").total == 1 and again["id"] > newer["id"]
    finally:
        stale.close()


def test_add_galaxy_says_which_call_created_it(store) -> None:
    first, created = store.add_galaxy("  Twice ")
    again, created_again = store.add_galaxy("Twice")
    assert (created, created_again) == (True, False)
    assert first == again and first["name"] == "Twice"
