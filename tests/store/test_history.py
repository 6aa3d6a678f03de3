"""Change history and undo: every single-system write can be undone, in order."""

from __future__ import annotations

import orjson
import pytest

from haven.errors import Conflict, InvalidInput, NotFound, StaleVersion
from haven.ingest.bulk import generate_galaxy
from haven.model import SystemIn, SystemPatch
from haven.store import history

GALAXY = "Haven"


def _system(name: str = "Aldera", **fields) -> SystemIn:
    data = {
        "name": name, "x": 10.0, "y": -4.0, "z": 2.5, "region": "Core", "fauna": "Rich",
        "extra": {"discoverer": "Ana", "nested": {"tags": [1, 2]}},
        "planets": [{"name": "Aldera I", "extra": {"rings": True},
                     "moons": [{"name": "Pebble", "orbit_radius": 1.5, "orbit_speed": 0.2, "extra": {"tidal": "yes"}}]}],
        "space_station": {"name": "Gate", "race": "Korvax", "x": None, "y": None, "z": None},
    }
    data.update(fields)
    return SystemIn.model_validate(data)


def _comparable(doc: dict) -> dict:
    """A system document without what an undo is expected to change (version, modified time)."""
    return {k: v for k, v in doc.items() if k not in ("version", "modified_at")}


def test_undo_an_update_restores_fields_children_and_extra(store) -> None:
    created = store.create(GALAXY, _system())
    store.replace(created["id"], _system(name="Renamed", x=500.0, region="Rim", planets=[], space_station=None))
    result = store.undo(created["id"])
    assert result["undone"] == "update"
    restored = result["system"]
    assert _comparable(restored) == _comparable(created)
    assert restored["version"] == 3  # an undo is a change of its own for optimistic locking
    assert store.near(GALAXY, 10.0, -4.0, 2.5, 1.0)[0]["name"] == "Aldera"
    assert {r["name"]: r["system_count"] for r in store.regions(GALAXY)}.get("Rim", 0) == 0


def test_undo_walks_back_through_patches_then_removes_a_creation(store) -> None:
    created = store.create(GALAXY, _system())
    store.patch(created["id"], SystemPatch(fauna="None"))
    store.patch(created["id"], SystemPatch(flora="Lush"))
    assert [e["op"] for e in store.history(created["id"])] == ["update", "update", "create"]
    assert store.undo(created["id"])["system"]["flora"] is None
    assert store.undo(created["id"])["system"]["fauna"] == "Rich"
    assert store.undo(created["id"]) == {"undone": "create", "system": None}
    with pytest.raises(NotFound):
        store.system(created["id"])
    assert store.galaxy(GALAXY)["system_count"] == 0
    with pytest.raises(NotFound, match="no change to undo"):
        store.undo(created["id"])


def test_undo_a_delete_brings_the_system_back_with_its_id(store) -> None:
    created = store.create(GALAXY, _system())
    store.delete(created["id"])
    result = store.undo(created["id"])
    assert result["undone"] == "delete"
    assert _comparable(result["system"]) == _comparable(created)
    assert store.system_by_name(GALAXY, "Aldera")["id"] == created["id"]
    assert store.galaxy(GALAXY)["system_count"] == 1
    assert store.lod_member(GALAXY, *_node_of(store, created["id"]))["id"] == created["id"]


def _node_of(store, system_id: int) -> tuple[int, int, int]:
    row = store.conn.execute("SELECT lod_level, lod_cell FROM system WHERE id = ?", (system_id,)).fetchone()
    members = store.lod_members(GALAXY, row[0], row[1])
    return row[0], row[1], list(members["id"]).index(system_id)


def test_undo_of_a_derived_system_edit_gives_back_the_seed(store) -> None:
    generate_galaxy(store, GALAXY, 50, seed=7)
    some = store.page(GALAXY, limit=1).items[0]
    before = store.system(some["id"])
    assert before["derived"] is True
    store.patch(some["id"], SystemPatch(planets=[]))
    assert store.system(some["id"])["derived"] is False
    restored = store.undo(some["id"])["system"]
    assert restored["derived"] is True
    assert restored["planets"] == before["planets"]


def test_undo_refuses_when_the_old_name_is_taken(store) -> None:
    first = store.create(GALAXY, _system())
    store.patch(first["id"], SystemPatch(name="Elsewhere"))
    store.create(GALAXY, _system(name="Aldera"))
    with pytest.raises(Conflict, match="Aldera"):
        store.undo(first["id"])
    assert store.system(first["id"])["name"] == "Elsewhere"  # nothing changed
    assert len(store.history(first["id"])) == 2  # and the entry is kept


def test_failed_writes_record_nothing(store) -> None:
    created = store.create(GALAXY, _system())
    with pytest.raises(Conflict):
        store.patch(created["id"], SystemPatch(fauna="x", version=99))
    assert [e["op"] for e in store.history(created["id"])] == ["create"]


def test_history_keeps_a_bounded_number_of_entries(store, monkeypatch) -> None:
    monkeypatch.setattr(history, "HISTORY_LIMIT", 5)
    created = store.create(GALAXY, _system())
    for i in range(10):
        store.patch(created["id"], SystemPatch(fauna=f"f{i}"))
    assert store.conn.execute("SELECT COUNT(*) FROM system_change").fetchone()[0] == 5
    assert len(store.history(created["id"], limit=100)) == 5


def test_history_lookup_uses_its_index(store) -> None:
    plan = " ".join(store.explain(
        "SELECT id, galaxy_id, op, version_after, before FROM system_change "
        "WHERE system_id = ? ORDER BY id DESC LIMIT 1", (1,)))
    assert "system_change_system" in plan


def test_an_undone_delete_comes_back_above_every_version_it_had(store) -> None:
    """An editor still holding the version from before the delete gets a 409, not a silent overwrite."""
    created = store.create(GALAXY, _system())
    sid = created["id"]
    for fauna in ("Poor", "Lush"):
        store.patch(sid, SystemPatch.model_validate({"fauna": fauna}))
    assert store.delete(sid) == 4  # the deletion's own version, one above the system's last
    assert store.history(sid)[0]["op"] == "delete" and store.history(sid)[0]["version"] == 4
    restored = store.undo(sid)["system"]
    assert restored["version"] == 5 and restored["fauna"] == "Lush"
    for stale in (1, 2, 3, 4):
        with pytest.raises(Conflict):
            store.patch(sid, SystemPatch.model_validate({"fauna": "Overwritten", "version": stale}))
    # the update before the delete can still be undone: it is now the latest entry
    assert store.undo(sid)["system"]["fauna"] == "Poor"


def test_a_delete_recorded_without_its_version_comes_back_above_the_history(store) -> None:
    """Entries written before snapshots kept the version (and before deletes kept their own)
    fall back to the history's highest one."""
    sid = store.create(GALAXY, _system())["id"]
    store.patch(sid, SystemPatch.model_validate({"fauna": "Poor"}))
    store.delete(sid)
    entry_id, before = store.conn.execute(
        "SELECT id, before FROM system_change WHERE system_id = ? AND op = 'delete'", (sid,)).fetchone()
    old_style = {k: v for k, v in orjson.loads(before).items() if k != "version"}
    store.conn.execute("UPDATE system_change SET before = ?, version_after = NULL WHERE id = ?",
                       (orjson.dumps(old_style), entry_id))
    assert store.undo(sid)["system"]["version"] == 3


def test_a_delete_recorded_before_deletes_kept_their_version_is_dated_by_its_snapshot(store) -> None:
    sid = store.create(GALAXY, _system())["id"]
    store.patch(sid, SystemPatch.model_validate({"fauna": "Poor"}))  # version 2
    store.delete(sid)
    store.conn.execute("UPDATE system_change SET version_after = NULL WHERE system_id = ? AND op = 'delete'", (sid,))
    with pytest.raises(StaleVersion):  # the deletion was version 3, as the snapshot's 2 tells
        store.undo(sid, expected_version=2)
    assert store.undo(sid, expected_version=3)["system"]["version"] == 4


def test_an_undo_naming_the_version_its_change_made_undoes_only_that_change(store) -> None:
    """Two editors: the one whose edit was followed by another's must not undo the other's."""
    sid = store.create(GALAXY, _system())["id"]
    mine = store.patch(sid, SystemPatch.model_validate({"fauna": "Mine"}))["version"]  # 2
    store.patch(sid, SystemPatch.model_validate({"flora": "Theirs", "version": mine}))  # 3
    before = store.system(sid)
    with pytest.raises(StaleVersion) as err:
        store.undo(sid, expected_version=mine)
    assert err.value.current_version == 3 and "is at version 3, not 2" in err.value.message
    assert store.system(sid) == before and len(store.history(sid)) == 3
    assert store.undo(sid, expected_version=3)["system"]["flora"] is None  # theirs, named by its version


def test_an_undo_meant_for_an_edit_does_not_undo_a_later_delete(store) -> None:
    sid = store.create(GALAXY, _system())["id"]
    edited = store.patch(sid, SystemPatch.model_validate({"fauna": "Mine"}))["version"]  # 2
    deleted_as = store.delete(sid)  # someone else deletes it: version 3
    with pytest.raises(StaleVersion) as err:
        store.undo(sid, expected_version=edited)
    assert err.value.current_version is None and "was deleted" in err.value.message
    assert store.undo(sid, expected_version=deleted_as)["undone"] == "delete"


def test_an_undo_meant_for_a_delete_does_not_undo_what_came_before_it(store) -> None:
    """A delete already undone by someone else: a second undo naming it changes nothing."""
    sid = store.create(GALAXY, _system())["id"]
    store.patch(sid, SystemPatch.model_validate({"fauna": "Theirs"}))
    deleted_as = store.delete(sid)
    back = store.undo(sid)["system"]  # someone else brings it back
    with pytest.raises(StaleVersion):
        store.undo(sid, expected_version=deleted_as)
    assert store.system(sid) == back


def test_an_empty_patch_changes_nothing(store) -> None:
    created = store.create(GALAXY, _system())
    same = store.patch(created["id"], SystemPatch.model_validate({}))
    assert same["version"] == created["version"] and same["modified_at"] == created["modified_at"]
    assert [h["op"] for h in store.history(created["id"])] == ["create"]
    with pytest.raises(Conflict):  # a stale version is still refused
        store.patch(created["id"], SystemPatch.model_validate({"version": created["version"] + 1}))


def test_replace_keeps_legacy_id_and_refuses_to_change_it(store) -> None:
    created = store.create(GALAXY, _system(legacy_id="OLD-1"))
    kept = store.replace(created["id"], _system(fauna="Lush"))  # a body without it keeps it
    assert kept["legacy_id"] == "OLD-1" and kept["fauna"] == "Lush"
    assert store.replace(created["id"], _system(legacy_id="OLD-1"))["legacy_id"] == "OLD-1"
    with pytest.raises(InvalidInput) as err:
        store.replace(created["id"], _system(legacy_id="NEW-2", fauna="Changed"))
    assert err.value.field == "legacy_id"
    assert store.system(created["id"])["fauna"] == "Rich"  # nothing written (the replace before set it back)


def test_a_system_ids_galaxy_is_known_after_it_is_deleted(store) -> None:
    store.ensure_galaxy("Other")
    sid = store.create("Other", _system())["id"]
    assert store.system_galaxy(sid) == "Other"
    store.delete(sid)
    assert store.system_galaxy(sid) == "Other"  # its history and undo are still served
    assert store.system_galaxy(sid + 1000) is None


def test_the_history_of_an_id_never_used_is_not_found(store) -> None:
    store.create(GALAXY, _system())
    with pytest.raises(NotFound, match="no system with id 424242"):
        store.history(424242)


def test_a_system_with_nothing_recorded_has_an_empty_history(store) -> None:
    """Generated and bulk-loaded systems exist without a single entry: theirs is an empty list, not a 404."""
    generate_galaxy(store, GALAXY, 20, seed=3)
    store.import_systems(GALAXY, [_system(name="Loaded")])
    generated = store.page(GALAXY, limit=1).items[0]
    assert store.system(generated["id"])["derived"] is True
    assert store.history(generated["id"]) == []
    assert store.history(store.system_by_name(GALAXY, "Loaded")["id"]) == []


def test_a_deleted_system_keeps_answering_its_history(store) -> None:
    sid = store.create(GALAXY, _system())["id"]
    store.patch(sid, SystemPatch(fauna="Poor"))
    store.delete(sid)
    assert [e["op"] for e in store.history(sid)] == ["delete", "update", "create"]
    assert [e["op"] for e in store.history(sid, limit=1)] == ["delete"]


def test_an_id_with_nothing_left_recorded_and_no_system_is_not_found(store) -> None:
    """An undone creation leaves neither the system nor an entry: history answers as undo and the read do."""
    sid = store.create(GALAXY, _system())["id"]
    store.undo(sid)
    with pytest.raises(NotFound, match=f"no system with id {sid}"):
        store.history(sid)


def test_the_history_of_an_unknown_id_costs_indexed_lookups_only(store) -> None:
    """Telling "never used" from "nothing recorded" costs one primary-key lookup, in the same snapshot."""
    generate_galaxy(store, GALAXY, 200, seed=5)
    bare = store.page(GALAXY, limit=1).items[0]["id"]
    for system_id, answers in ((bare, True), (10**9, False)):
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        try:
            if answers:
                assert store.history(system_id) == []
            else:
                with pytest.raises(NotFound):
                    store.history(system_id)
        finally:
            store.conn.set_trace_callback(None)
        assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements
        queries = [sql for sql in statements if sql.startswith("SELECT")]
        assert len(queries) == 2, statements
        plans = [store.explain(sql, ()) for sql in queries]
        assert "system_change_system" in " ".join(plans[0]), plans
        assert "USING INTEGER PRIMARY KEY" in " ".join(plans[1]), plans
        assert not any(detail.startswith("SCAN") for plan in plans for detail in plan), plans
