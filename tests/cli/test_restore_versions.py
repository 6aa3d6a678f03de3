"""``haven restore`` under a running server: system versions move past the live ones, and a
backup's ``-wal`` file is restored with it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from haven.config import DatabaseUrl
from haven.errors import StaleVersion
from haven.model import SystemPatch, validate_system
from haven.store import open_store

from cli_helpers import Invoke, assert_ok, system_count
from dbfiles import file_digest


def _add(store, name: str, x: float = 0.0) -> dict:
    return store.create("Haven", validate_system({"name": name, "x": x, "y": 1.0, "z": 2.0, "region": "Test"}))


def _versions(path: Path) -> tuple[dict[int, int], dict[int, list[int | None]]]:
    """Each system's version, and each system's history versions (oldest first)."""
    conn = sqlite3.connect(path)
    try:
        rows = dict(conn.execute("SELECT id, version FROM system"))
        history: dict[int, list[int | None]] = {}
        for system_id, version in conn.execute("SELECT system_id, version_after FROM system_change ORDER BY id"):
            history.setdefault(system_id, []).append(version)
        return rows, history
    finally:
        conn.close()


def test_a_version_handed_out_before_a_restore_is_refused_after_it(haven: Invoke, db_path: Path,
                                                                  tmp_path: Path) -> None:
    """The tester's repro: editor 1's ETag "2" must not match editor 2's edit of the restored system."""
    assert_ok(haven("init", "--no-demo"))
    server = open_store(DatabaseUrl("sqlite", str(db_path)))  # stands in for a running `haven serve`
    try:
        y = _add(server, "ETAG Y")
        assert y["version"] == 1
        w = _add(server, "ETAG W", x=5.0)  # deleted after the backup: its deletion has a version too
        backup = tmp_path / "bkv2.db"
        assert_ok(haven("backup", backup))
        backup_versions = _versions(backup)

        editor1 = server.patch(y["id"], SystemPatch(fauna="Editor one", version=1))
        assert editor1["version"] == 2
        deleted_as = server.delete(w["id"], expected_version=1)
        assert deleted_as == 2

        assert_ok(haven("restore", backup, "--yes"))
        assert server.system(y["id"])["fauna"] is None  # the backup's content

        seen = server.system(y["id"])["version"]  # editor 2 loads the system and edits it
        assert seen > 2
        editor2 = server.patch(y["id"], SystemPatch(flora="Editor two", version=seen))
        assert editor2["version"] != 2

        # editor 1 still holds "2": undoing "their" change, or writing over it, is refused (409)
        with pytest.raises(StaleVersion):
            server.undo(y["id"], expected_version=2)
        with pytest.raises(StaleVersion):
            server.patch(y["id"], SystemPatch(fauna="Blind", version=2))
        # and the one who deleted W holds the deletion's "2": W came back, but not at that version
        w_now = server.system(w["id"])
        assert w_now["version"] > deleted_as
        with pytest.raises(StaleVersion):
            server.undo(w["id"], expected_version=deleted_as)
        with pytest.raises(StaleVersion):
            server.patch(w["id"], SystemPatch(fauna="Blind", version=deleted_as))
        assert server.system(y["id"])["flora"] == "Editor two"
        assert server.system(w["id"])["fauna"] is None
    finally:
        server.close()
    assert _versions(backup) == backup_versions  # the backup file itself is unchanged


def test_restored_history_can_still_be_undone(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """The history entries move with their systems' versions: undo still finds nothing changed."""
    assert_ok(haven("init", "--no-demo"))
    server = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        kept = _add(server, "KEPT")
        server.patch(kept["id"], SystemPatch(fauna="First", version=1))
        server.patch(kept["id"], SystemPatch(fauna="Second", version=2))
        gone = _add(server, "GONE", x=3.0)
        gone_deleted_as = server.delete(gone["id"], expected_version=1)
        backup = tmp_path / "b.db"
        assert_ok(haven("backup", backup))

        # the live database moves on: KEPT edited again, GONE brought back and edited
        server.patch(kept["id"], SystemPatch(fauna="Live only", version=3))
        server.undo(gone["id"], expected_version=gone_deleted_as)
        back = server.system(gone["id"])
        server.patch(gone["id"], SystemPatch(flora="Live only", version=back["version"]))
        live_kept, live_gone = server.system(kept["id"])["version"], server.system(gone["id"])["version"]

        assert_ok(haven("restore", backup, "--yes"))
        rows, history = _versions(db_path)
        assert rows[kept["id"]] > live_kept
        assert history[kept["id"]][-1] == rows[kept["id"]]  # the latest entry made the current version
        assert gone["id"] not in rows and history[gone["id"]][-1] > live_gone

        # KEPT: undo (naming the version it is at now) walks back through the restored history
        now = server.system(kept["id"])
        assert now["fauna"] == "Second"
        undone = server.undo(kept["id"], expected_version=now["version"])
        assert undone["undone"] == "update" and undone["system"]["fauna"] == "First"
        undone = server.undo(kept["id"], expected_version=undone["system"]["version"])
        assert undone["undone"] == "update" and undone["system"]["fauna"] is None
        assert server.undo(kept["id"])["undone"] == "create"

        # GONE: the restored delete is undone by the version its history now gives it
        (entry, *_) = server.history(gone["id"])
        assert entry["op"] == "delete" and entry["version"] > live_gone
        result = server.undo(gone["id"], expected_version=entry["version"])
        assert result["undone"] == "delete" and result["system"]["version"] > entry["version"]
        assert result["system"]["flora"] is None
    finally:
        server.close()


def test_every_restored_system_moves_with_its_history(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """Ids the live database has (a row, or a deletion in its history) move past its versions; ids it
    never had (or has forgotten) move by the margin; each history moves with its system."""
    from haven.cli.backups import VERSION_MARGIN

    other = tmp_path / "other.db"
    assert_ok(haven("init", "--no-demo", "-d", other))
    store = open_store(DatabaseUrl("sqlite", str(other)))
    try:
        ids = [_add(store, f"Backup {i}", x=float(i))["id"] for i in range(4)]
        store.patch(ids[2], SystemPatch(fauna="Edited", version=1))
        store.delete(ids[3], expected_version=1)  # only in the backup's history
    finally:
        store.close()
    backup = tmp_path / "b.db"
    assert_ok(haven("backup", backup, "-d", other))
    assert_ok(haven("init", "--no-demo"))
    live = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        first = _add(live, "Live 1")  # the same id as Backup 0, edited to version 9
        for v in range(1, 9):
            live.patch(first["id"], SystemPatch(fauna=f"Live {v}", version=v))
        second = _add(live, "Live 2", x=1.0)  # the same id as Backup 1, deleted at version 2
        live.delete(second["id"], expected_version=1)
    finally:
        live.close()
    assert [first["id"], second["id"]] == ids[:2]

    assert_ok(haven("restore", backup, "--yes"))
    rows, history = _versions(db_path)
    backup_rows, backup_history = _versions(backup)
    assert rows[ids[0]] == 9 + VERSION_MARGIN  # past the live row's version
    assert rows[ids[1]] == 2 + VERSION_MARGIN  # past the live deletion's version
    assert rows[ids[2]] == backup_rows[ids[2]] + VERSION_MARGIN  # an id the live database never had
    assert ids[3] not in rows
    assert history[ids[3]] == [1 + VERSION_MARGIN, 2 + VERSION_MARGIN]  # create, delete
    for system_id, versions in backup_history.items():
        shift = history[system_id][-1] - versions[-1]
        assert shift >= VERSION_MARGIN
        assert history[system_id] == [v + shift for v in versions]
        if system_id in rows:
            assert rows[system_id] == backup_rows[system_id] + shift


def test_restored_snapshots_keep_their_content(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """The version inside each history snapshot moves; nothing else in the snapshot changes."""
    import orjson

    assert_ok(haven("init", "--no-demo"))
    server = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        s = server.create("Haven", validate_system({
            "name": "Ünïcode \"Q\" 星", "x": 1.5e-7, "y": 1234.0000000001, "z": -3.25, "region": "Test",
            "extra": {"nested": {"tags": [1, 2.5, None, True], "text": "tab\there"}}}))
        server.patch(s["id"], SystemPatch(fauna="Changed", version=1))
        backup = tmp_path / "b.db"
        assert_ok(haven("backup", backup))
        assert_ok(haven("restore", backup, "--yes"))
    finally:
        server.close()

    def snapshots(path: Path) -> list[dict]:
        conn = sqlite3.connect(path)
        try:
            return [orjson.loads(b) for (b,) in conn.execute(
                "SELECT before FROM system_change WHERE before IS NOT NULL ORDER BY id")]
        finally:
            conn.close()

    (was,), (now,) = snapshots(backup), snapshots(db_path)
    assert now["version"] > was["version"]
    assert {**now, "version": was["version"]} == was


def test_a_delete_recorded_without_its_version_comes_back_past_the_live_versions(
        haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """Entries of older Havens keep a delete's version only inside the snapshot: it moves too."""
    from haven.cli.backups import VERSION_MARGIN

    assert_ok(haven("init", "--no-demo"))
    server = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        gone = _add(server, "OLD STYLE")
        deleted_as = server.delete(gone["id"], expected_version=1)
        backup = tmp_path / "b.db"
        assert_ok(haven("backup", backup))
        conn = sqlite3.connect(backup)  # as an older Haven recorded it
        conn.execute("UPDATE system_change SET version_after = NULL WHERE op = 'delete'")
        conn.commit()
        conn.close()
        server.undo(gone["id"], expected_version=deleted_as)
        for v in range(3, 6):
            server.patch(gone["id"], SystemPatch(fauna=f"Live {v}", version=v))
        assert server.system(gone["id"])["version"] == 6

        assert_ok(haven("restore", backup, "--yes"))
        with pytest.raises(StaleVersion):
            server.undo(gone["id"], expected_version=6)
        back = server.undo(gone["id"])["system"]
        assert back["version"] == 6 + VERSION_MARGIN + 1  # deleted "at" 6 + margin, back one above
        with pytest.raises(StaleVersion):
            server.patch(gone["id"], SystemPatch(fauna="Blind", version=6))
    finally:
        server.close()


def _copy_with_wal(source: Path, folder: Path, names: int) -> Path:
    """Write ``names`` systems through a connection that never checkpoints and copy the database
    with its ``-wal`` while that connection is open (as after ``kill -9`` of a server): the new
    rows are in the WAL only. Returns the copy."""
    store = open_store(DatabaseUrl("sqlite", str(source)))
    try:
        store.conn.execute("PRAGMA wal_autocheckpoint = 0")  # the connection this thread writes with
        for i in range(names):
            _add(store, f"WAL {i}", x=float(i))
        folder.mkdir()
        for suffix in ("", "-wal"):
            shutil.copyfile(f"{source}{suffix}", f"{folder / source.name}{suffix}")
    finally:
        store.close()
    return folder / source.name


def _seen_by_sqlite(copy: Path, tmp_path: Path) -> int:
    """The systems SQLite sees in ``copy`` with its -wal (looked at in a copy of both, not the files)."""
    look = tmp_path / "look"
    look.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(f"{copy}{suffix}", f"{look / copy.name}{suffix}")
    return system_count(look / copy.name)


@pytest.mark.parametrize("onto", ["new file", "live database"])
def test_a_backup_with_its_wal_file_restores_every_committed_row(haven: Invoke, tmp_path: Path, onto: str) -> None:
    """A database copied with its -wal (a server killed before a checkpoint): the WAL's rows count."""
    source = tmp_path / "wc.db"
    assert_ok(haven("init", "-d", source))
    copy = _copy_with_wal(source, tmp_path / "copy", 30)
    wal = Path(f"{copy}-wal")
    assert wal.stat().st_size > 0
    expected = _seen_by_sqlite(copy, tmp_path)
    assert expected == 3012 + 30
    digests = {p.name: file_digest(p) for p in (copy, wal)}

    target = tmp_path / "target" / "tgt.db"
    if onto == "live database":
        assert_ok(haven("init", "--no-demo", "-d", target))
    result = haven("restore", copy, "-d", target, "--yes")
    assert_ok(result)
    assert f"{expected:,} systems" in result.output  # what the prompt says is what is restored
    assert system_count(target) == expected
    assert {p.name: file_digest(p) for p in (copy, wal)} == digests  # the backup's files are untouched
    assert not Path(f"{copy}-shm").exists()
    assert not list(target.parent.glob(".tgt.db.restore-*"))  # the staged copy went, with its -wal


def test_a_restore_removes_a_staged_wal_left_by_a_killed_restore(haven: Invoke, db_path: Path,
                                                                tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    backup = tmp_path / "b.db"
    assert_ok(haven("backup", backup))
    stale = db_path.parent / f".{db_path.name}.restore-999999-0a1b2c3d4e5f"
    stale.write_bytes(b"x" * 4096)
    for suffix in ("-wal", "-shm"):
        Path(f"{stale}{suffix}").write_bytes(b"w" * 100)
    # killed while removing its copy: the copy is gone, its WAL and shared memory are not
    orphan = db_path.parent / f".{db_path.name}.restore-999998-0a1b2c3d4e5f"
    for suffix in ("-wal", "-shm"):
        Path(f"{orphan}{suffix}").write_bytes(b"w" * 100)
    assert_ok(haven("restore", backup, "--yes"))
    assert not list(db_path.parent.glob(f".{db_path.name}.restore-*"))
