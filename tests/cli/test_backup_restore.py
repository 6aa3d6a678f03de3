"""``haven backup`` (online, verified) and ``haven restore`` (checked, in place)."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from haven.config import DatabaseUrl
from haven.model import validate_system
from haven.store import open_store

from cli_helpers import Invoke, assert_fails, assert_ok, system_count
from dbfiles import file_digest


def _add(store, name: str, x: float = 0.0) -> None:
    store.create("Haven", validate_system({"name": name, "x": x, "y": 1.0, "z": 2.0, "region": "Test"}))


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_backup_while_another_thread_writes(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init"))
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    stop = threading.Event()
    started = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set():
                _add(store, f"WRITER {i}/X", x=float(i % 500))
                written.append(i)
                i += 1
                if i == 20:
                    started.set()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        assert started.wait(30)
        at_start = system_count(db_path)
        target = tmp_path / "backups" / "copy.db"
        result = haven("backup", target)
        writes_during = len(written)
    finally:
        stop.set()
        thread.join(30)
        store.close()
    assert not errors, errors
    assert_ok(result)
    assert "Integrity" in result.output and "ok" in result.output
    assert _integrity(target) == "ok"
    assert system_count(target) >= at_start
    assert len(written) >= writes_during  # the writer kept going through the backup
    assert system_count(db_path) == 3012 + len(written)


def test_backup_refuses_an_existing_target(haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    target = tmp_path / "copy.db"
    target.write_bytes(b"precious")
    assert_fails(haven("backup", target), 1, "already exists")
    assert target.read_bytes() == b"precious"


@pytest.mark.parametrize("folder_exists", [True, False])
def test_backup_into_a_folder_names_the_copy_after_the_database_and_time(
    haven: Invoke, tmp_path: Path, folder_exists: bool
) -> None:
    assert_ok(haven("init", "--no-demo"))
    folder = tmp_path / "backups"
    if folder_exists:
        folder.mkdir()
    assert_ok(haven("backup", f"{folder}/" if not folder_exists else folder))
    (copy,) = folder.iterdir()
    assert re.fullmatch(r"haven-\d{8}-\d{6}\.db", copy.name), copy.name
    assert _integrity(copy) == "ok"


def test_backup_of_a_missing_database(haven: Invoke, tmp_path: Path) -> None:
    assert_fails(haven("backup", tmp_path / "copy.db"), 1, "haven init")
    assert not (tmp_path / "copy.db").exists()


def test_restore_round_trip_seen_by_an_open_connection(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    server = open_store(DatabaseUrl("sqlite", str(db_path)))  # stands in for a running `haven serve`
    try:
        _add(server, "BEFORE 1/A")
        backup = tmp_path / "before.db"
        assert_ok(haven("backup", backup))
        _add(server, "AFTER 2/B")
        assert server.stats("Haven")["total_systems"] == 2

        result = haven("restore", backup, "--yes")
        assert_ok(result)
        assert "in place" in result.output
        # The server's existing connection sees the restored content.
        assert server.stats("Haven")["total_systems"] == 1
        assert server.system_by_name("Haven", "BEFORE 1/A")["name"] == "BEFORE 1/A"
        assert [s["name"] for s in server.page("Haven").items] == ["BEFORE 1/A"]
        _add(server, "AFTER RESTORE")  # and can keep writing
    finally:
        server.close()
    assert _integrity(db_path) == "ok"
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert system_count(db_path) == 2
    assert backup.exists()  # the backup itself is left as it was
    assert not list(tmp_path.glob(".haven.db.restore-*"))


def test_restore_into_a_new_location(haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init"))
    backup = tmp_path / "b.db"
    assert_ok(haven("backup", backup))
    fresh = tmp_path / "elsewhere" / "restored.db"
    result = haven("restore", backup, "--yes", "--database", fresh)
    assert_ok(result)
    assert "moved" in result.output
    assert system_count(fresh) == 3012
    assert _integrity(fresh) == "ok"
    assert_ok(haven("stats", "--database", fresh))


def test_restore_asks_before_replacing(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    backup = tmp_path / "b.db"
    assert_ok(haven("backup", backup))
    before = file_digest(db_path)
    assert_fails(haven("restore", backup, input="n\n"), 1)
    assert file_digest(db_path) == before
    assert_ok(haven("restore", backup, input="y\n"))


def test_restore_upgrades_an_older_backup(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    from haven.store import migrate

    old = tmp_path / "old.db"
    assert_ok(haven("init", "--no-demo", "--database", old))
    assert_ok(haven("db", "downgrade", "--yes", "--database", old))
    older = migrate.current_revision(DatabaseUrl("sqlite", str(old)))
    assert older is not None
    assert_ok(haven("init", "--no-demo"))
    result = haven("restore", old, "--yes")
    assert_ok(result)
    assert "upgraded" in result.output
    assert migrate.current_revision(DatabaseUrl("sqlite", str(db_path))) == migrate.head_revision()
    assert migrate.current_revision(DatabaseUrl("sqlite", str(old))) == older  # the backup is untouched


def _not_haven(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()


def _unknown_revision(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")
    conn.commit()
    conn.close()


def _malformed(path: Path) -> None:
    """Scribble over every page after the second: SQLite cannot even read the schema."""
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):
        data[offset + 8 : offset + 400] = b"\xa5" * 392
    path.write_bytes(bytes(data))


def _broken_index(path: Path) -> None:
    """Change letters inside one leaf page of the name index: readable, but integrity_check fails."""
    conn = sqlite3.connect(path)
    try:
        pages = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'system_name' AND pagetype = 'leaf' ORDER BY pageno"
        ).fetchall()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table to locate an index page")
    finally:
        conn.close()
    data = bytearray(path.read_bytes())
    start = (pages[len(pages) // 2][0] - 1) * page_size
    for i in range(start + page_size - 300, start + page_size - 100):
        if ord("a") <= data[i] <= ord("z"):
            data[i] = ord("a") + (data[i] - ord("a") + 1) % 26
    path.write_bytes(bytes(data))


def _drop(*objects: str) -> Callable[[Path], None]:
    """A backup whose revision and integrity are fine, but with some of Haven's schema gone."""

    def make(path: Path) -> None:
        conn = sqlite3.connect(path)
        for kind_name in objects:
            conn.execute(f"DROP {kind_name}")
        conn.commit()
        conn.close()

    return make


def _stuck_at_0007(path: Path) -> None:
    """An older backup whose upgrade fails (0008 creates a table that is already there)."""
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '0007'")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "make_bad, message, from_backup",  # from_backup: damage a real backup rather than write a file from scratch
    [
        (lambda p: p.write_bytes(b"this is not a database at all\n" * 40), "not a SQLite database", False),
        (lambda p: p.write_bytes(b""), "not a SQLite database", False),
        (_not_haven, "not a Haven database", False),
        (_unknown_revision, "does not know", True),
        (_malformed, "cannot be read", True),
        (_broken_index, "fails the integrity check", True),
        (_drop("TABLE space_station", "TABLE moon", "TABLE planet", "TABLE system"),
         "not a whole Haven database: it lacks table moon, table planet, table space_station, table system, index",
         True),
        (_drop("TABLE galaxy"), "it lacks table galaxy", True),
        (_drop("TRIGGER system_fts_name_insert"), "it lacks trigger system_fts_name_insert", True),
        (_stuck_at_0007, "is at schema revision 0007 and cannot be upgraded to 0011", True),
    ],
    ids=["garbage", "empty", "not-haven", "unknown-revision", "malformed", "broken-index", "no-system-table",
         "no-galaxy-table", "no-trigger", "upgrade-fails"],
)
def test_restore_refuses_bad_files(haven: Invoke, db_path: Path, tmp_path: Path, make_bad, message: str,
                                   from_backup: bool) -> None:
    assert_ok(haven("init"))
    bad = tmp_path / "bad.db"
    if from_backup:
        assert_ok(haven("backup", bad))
    make_bad(bad)
    before = file_digest(db_path)
    assert_fails(haven("restore", bad, "--yes"), 2, message)
    assert file_digest(db_path) == before
    assert system_count(db_path) == 3012
    assert not list(tmp_path.glob(".haven.db.restore-*"))


def test_restore_refuses_missing_file_and_the_live_database(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert_fails(haven("restore", tmp_path / "nope.db", "--yes"), 2, "no file")
    assert_fails(haven("restore", db_path, "--yes"), 2, "live database itself")
    assert_fails(haven("restore", tmp_path, "--yes"), 2, "not a file")


def _octree(path: Path, galaxy: str) -> tuple[int, dict[tuple[int, int], tuple[int, int]]]:
    """A galaxy's lod_clock and its nodes: (level, cell) → (count, version)."""
    conn = sqlite3.connect(path)
    try:
        gid, clock = conn.execute("SELECT id, lod_clock FROM galaxy WHERE name = ?", (galaxy,)).fetchone()
        nodes = {(lv, c): (k, v) for lv, c, k, v in conn.execute(
            "SELECT level, cell, count, version FROM lod_node WHERE galaxy_id = ?", (gid,))}
        return clock, nodes
    finally:
        conn.close()


def test_restore_under_a_running_server_gives_the_map_new_versions(haven: Invoke, db_path: Path,
                                                                   tmp_path: Path) -> None:
    """An older backup of the same database: no node version is handed out twice (store audit #4)."""
    from haven.chunks.service import ChunkService

    assert_ok(haven("init", "--no-demo"))
    server = open_store(DatabaseUrl("sqlite", str(db_path)))  # stands in for a running `haven serve`
    chunks = ChunkService(server)  # with the server's in-memory chunk cache
    try:
        server.ensure_galaxy("Tiny", lod_capacity=1)  # one system a node: the octree has depth
        for name, x in (("Base 1/A", 0.0), ("Base 2/B", 50.0)):
            _add(server, name, x=x)
            server.create("Tiny", validate_system({"name": name, "x": x, "y": 1.0, "z": 2.0}))
        backup = tmp_path / "bk1.db"
        assert_ok(haven("backup", backup))
        backup_clock, backup_tiny = _octree(backup, "Tiny")

        _add(server, "Alpha After Backup", x=10.0)
        for i in range(6):
            server.create("Tiny", validate_system({"name": f"Later {i}", "x": -1000.0 * (i + 1), "y": 5.0,
                                                   "z": 3.0 * i}))
        served = chunks.get("Haven", 0, 0)
        assert served.count == 3
        live_clock, _ = _octree(db_path, "Haven")
        live_tiny_clock, live_tiny = _octree(db_path, "Tiny")
        assert set(live_tiny) > set(backup_tiny)

        result = haven("restore", backup, "--yes")
        assert_ok(result)
        assert "Map versions of 2 galaxies moved past the live database's" in result.output

        clock, nodes = _octree(db_path, "Haven")
        assert clock >= live_clock + 1
        assert {v for _, v in nodes.values()} == {clock}  # every node has a version nobody has seen
        tiny_clock, tiny = _octree(db_path, "Tiny")
        assert tiny_clock >= live_tiny_clock + 1 and {v for _, v in tiny.values()} == {tiny_clock}
        assert set(tiny) == set(live_tiny)  # nodes only the live galaxy had are there, emptied
        assert {key for key, (count, _) in tiny.items() if count == 0} == set(live_tiny) - set(backup_tiny)

        # the change feed, from the clock a map was given before the restore, lists every node
        feed = server.changed_nodes("Haven", live_clock)
        assert feed["reset"] or {(n["level"], n["cell"]) for n in feed["nodes"]} == set(nodes)
        feed = server.changed_nodes("Tiny", live_tiny_clock)
        assert {(n["level"], n["cell"]) for n in feed["nodes"]} == set(tiny)

        _add(server, "Bravo After Restore", x=-10.0)
        after = chunks.get("Haven", 0, 0)
        assert after.version > served.version and after.version != served.version
        assert after.count == 3  # Base 1, Base 2 and Bravo: not the cached chunk that held Alpha
        names = {s["name"] for s in server.page("Haven").items}
        assert names == {"Base 1/A", "Base 2/B", "Bravo After Restore"}
    finally:
        server.close()
    assert _integrity(db_path) == "ok"
    assert backup_clock == _octree(backup, "Tiny")[0]  # the backup file itself is unchanged


def test_restore_moves_only_galaxies_the_live_database_has(haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    assert_ok(haven("init", "--no-demo", "-d", other))
    store = open_store(DatabaseUrl("sqlite", str(other)))
    try:
        store.ensure_galaxy("Only In Backup")
        store.create("Only In Backup", validate_system({"name": "G", "x": 1.0, "y": 1.0, "z": 1.0}))
    finally:
        store.close()
    backup = tmp_path / "b.db"
    assert_ok(haven("backup", backup, "-d", other))
    assert_ok(haven("init", "--no-demo"))
    live = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        for i in range(3):
            _add(live, f"Live {i}", x=float(i))
    finally:
        live.close()
    live_clock, _ = _octree(db_path, "Haven")
    only_clock, only_nodes = _octree(backup, "Only In Backup")

    result = haven("restore", backup, "--yes")
    assert_ok(result)
    assert "Map versions of 1 galaxy moved" in result.output
    assert _octree(db_path, "Only In Backup") == (only_clock, only_nodes)  # nobody has seen its versions
    clock, nodes = _octree(db_path, "Haven")
    assert clock > live_clock and set(nodes) == {(0, 0)} and nodes[(0, 0)] == (0, clock)


def test_restore_is_refused_while_a_bulk_load_writes_and_a_load_while_a_restore_runs(
        haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """A restore under a running load let the load write its batches and name index into the
    restored content; now whichever comes second is refused and nothing changes."""
    from haven.errors import StoreUnavailable
    from haven.store.bulk import BulkLoader
    from haven.store.filelocks import restoring

    assert_ok(haven("init", "--no-demo"))
    backup = tmp_path / "b.db"
    assert_ok(haven("backup", backup))
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        _add(store, "KEPT")
        loader = BulkLoader(store, "Haven", "test:running", kind="import")
        before = file_digest(db_path)
        assert_fails(haven("restore", backup, "--yes"), 1, "a bulk load", "is writing to")
        assert file_digest(db_path) == before
        loader.close()  # as a load that ends, or is killed, lets go
        with restoring(db_path):
            with pytest.raises(StoreUnavailable, match="a restore or a schema change is writing to"):
                BulkLoader(store, "Haven", "test:second", kind="import")
        assert_ok(haven("restore", backup, "--yes"))
        assert store.stats("Haven")["total_systems"] == 0
    finally:
        store.close()


def test_a_restore_removes_copies_staged_by_restores_that_were_killed(
        haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    backup = tmp_path / "b.db"
    assert_ok(haven("backup", backup))
    stale = db_path.parent / f".{db_path.name}.restore-999999"
    stale.write_bytes(b"x" * 4096)
    Path(f"{stale}-journal").write_bytes(b"j")
    assert_ok(haven("restore", backup, "--yes"))
    assert not list(db_path.parent.glob(f".{db_path.name}.restore-*"))


def test_a_restore_removes_a_killed_loads_side_name_index_unless_a_helper_still_holds_it(
        haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """The side file was built from the content a restore replaces: no later load would remove it."""
    import fcntl

    from haven.store import sidenames

    assert_ok(haven("init", "--no-demo"))
    backup = tmp_path / "b.db"
    assert_ok(haven("backup", backup))
    side = sidenames.side_path(db_path)
    lock_path = Path(f"{side}.lock")
    side.write_bytes(b"x" * 4096)
    Path(f"{side}-wal").write_bytes(b"w")
    lock_path.write_bytes(b"")
    with open(lock_path, "a") as held:  # an orphaned helper finishing its batch
        fcntl.flock(held, fcntl.LOCK_EX)
        assert_ok(haven("restore", backup, "--yes"))
        assert side.exists() and lock_path.exists()
    assert_ok(haven("restore", backup, "--yes"))
    assert not side.exists() and not Path(f"{side}-wal").exists() and not lock_path.exists()
    assert _integrity(db_path) == "ok"


def test_systems_created_after_a_restore_never_get_an_id_the_live_database_gave_out(
        haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """A client holding an id of the replaced database must get 404, not another system."""
    from haven.cli.backups import ID_MARGINS

    assert_ok(haven("init", "--no-demo"))
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        _add(store, "IN THE BACKUP")
        backup = tmp_path / "b.db"
        assert_ok(haven("backup", backup))
        _add(store, "ONLY LIVE 1")
        _add(store, "ONLY LIVE 2")
        live_ids = {s["id"] for s in store.page("Haven").items}
        assert_ok(haven("restore", backup, "--yes"))
        _add(store, "AFTER THE RESTORE")
        new_id = store.system_by_name("Haven", "AFTER THE RESTORE")["id"]
        # past every live id, by a margin for the ids a server gives out while the copy waits to write
        assert new_id > max(live_ids) + ID_MARGINS["system"]
        new_galaxy_id = store.add_galaxy("AFTER")[0]["id"]
        assert new_galaxy_id > 1 + ID_MARGINS["galaxy"]
    finally:
        store.close()


def test_a_backup_appears_only_when_complete_and_clears_what_a_killed_one_left(
        haven: Invoke, db_path: Path, tmp_path: Path) -> None:
    """A killed backup used to leave a partial file at PATH, which every later backup refused."""
    assert_ok(haven("init"))
    target = tmp_path / "copies" / "b.db"
    target.parent.mkdir()
    left = target.parent / ".b.db.backup-999999"  # what a backup killed mid-copy leaves, under its pid
    left.write_bytes(b"partial")
    Path(f"{left}-journal").write_bytes(b"j")
    assert_ok(haven("backup", target))
    assert sorted(p.name for p in target.parent.iterdir()) == ["b.db"]
    assert system_count(target) == 3012 and _integrity(target) == "ok"


def test_a_load_refused_during_a_restore_makes_no_galaxy(haven: Invoke, db_path: Path) -> None:
    from haven.store.filelocks import restoring

    assert_ok(haven("init", "--no-demo"))
    before = file_digest(db_path)
    with restoring(db_path):
        assert_fails(haven("generate", "--systems", "10", "--galaxy", "NewG"), 1, "a restore or a schema change is writing to")
    assert file_digest(db_path) == before


def test_a_refused_restore_makes_no_folder_and_no_lock_file(haven: Invoke, tmp_path: Path) -> None:
    live = tmp_path / "new" / "sub" / "h.db"
    assert_fails(haven("restore", tmp_path / "nope.db", "--yes", "--database", live), 2, "no file")
    assert not (tmp_path / "new").exists()
