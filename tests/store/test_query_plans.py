"""Every request-path query is an index search, never a table scan (DESIGN principle 1)."""

from __future__ import annotations

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.model import validate_patch, validate_system
from haven.spatial import sphere_code_ranges
from haven.store.sqlite import SYSTEM_COLUMNS, SQLiteStore


def populate(store, n: int = 300) -> None:
    store.import_systems(
        GALAXY,
        [validate_system({"name": f"Sys {i:04d}", "x": i, "y": -i, "z": i % 7, "region": f"R{i % 5}",
                          "materials": "Gold" if i % 20 == 0 else "Salt",
                          "planets": [{"name": "p", "moons": [{"name": "m"}]}]})
         for i in range(n)],
    )
    store.conn.execute("ANALYZE")


def assert_no_scan(plan: list[str], must_use: str) -> None:
    text = " | ".join(plan)
    assert must_use in text, text
    for step in plan:
        # A SCAN of a real table would be O(n); FTS5 virtual-table scans and CTE rows are fine.
        if step.startswith("SCAN") and not any(ok in step for ok in ("VIRTUAL TABLE", "ranges", "CONSTANT ROW")):
            raise AssertionError(f"table scan on a request path: {text}")
    assert "USE TEMP B-TREE FOR ORDER BY" not in text or "ranges" in text, text


def galaxy_id(store) -> int:
    return store._galaxy_key(GALAXY)[0]


def test_name_pages_use_the_name_index(store):
    populate(store)
    for after, before in ((None, None), ("Sys 0100", None), (None, "Sys 0100")):
        sql, params = store._page_query(galaxy_id(store), None, after, before, 100, 0)
        assert_no_scan(store.explain(sql, params), "USING INDEX system_name")


def test_region_pages_use_the_region_index(store):
    populate(store)
    region_id = store.conn.execute("SELECT id FROM region WHERE name = 'R3'").fetchone()[0]
    sql, params = store._page_query(galaxy_id(store), region_id, "Sys 0010", None, 100, 0)
    assert_no_scan(store.explain(sql, params), "USING INDEX system_region_name")


def test_a_page_before_a_name_probes_for_a_next_page_on_the_index(store):
    populate(store)
    region_id = store.conn.execute("SELECT id FROM region WHERE name = 'R3'").fetchone()[0]
    for region, index in ((None, "system_name"), (region_id, "system_region_name")):
        sql, params = store._name_at_or_after_query(galaxy_id(store), region, "Sys 0100")
        assert_no_scan(store.explain(sql, params), f"USING COVERING INDEX {index}")


def test_search_uses_the_search_indexes(store):
    populate(store)
    for term in ("gold", "Sys 0010"):  # trigrams, and the names' five-character keys
        queries = store.search_query(galaxy_id(store), term, 100, None)
        assert len(queries) == 2, queries  # one per index
        for sql, params in queries:
            plan = store.explain(sql, params)
            assert_no_scan(plan, "VIRTUAL TABLE INDEX")
            assert any(p.startswith("SEARCH s USING INTEGER PRIMARY KEY") for p in plan), plan
    short = store.search_query(galaxy_id(store), "Sy", 100, None)
    assert len(short) == 6  # one name range per spelling: S, s or the long s ſ, then y or Y
    for sql, params in short:
        assert_no_scan(store.explain(sql, params), "USING INDEX system_name")
    # A next page starts each range at the cursor (its index bound), never at the prefix,
    # and drops the ranges that lie wholly before it.
    paged = store.search_query(galaxy_id(store), "Sy", 100, None, after_name="Sys 0010")
    lows = sorted(params[1] for _, params in paged)
    assert lows == ["Sys 0010\x00", "sY", "sy", "ſY", "ſy"]
    for sql, params in paged:
        assert_no_scan(store.explain(sql, params), "USING INDEX system_name")


def test_search_read_backwards_uses_the_same_indexes_in_descending_order(store):
    """A previous page walks each index down from its bound: no sort of every match, no scan."""
    populate(store)
    for term in ("gold", "Sys 0010"):
        queries = store.search_query(galaxy_id(store), term, 100, None, before_id=150)
        assert len(queries) == 2, queries
        for sql, params in queries:
            assert "f.rowid < ?" in sql and sql.endswith("ORDER BY f.rowid DESC") and params[-1] == 150
            plan = store.explain(sql, params)
            assert_no_scan(plan, "VIRTUAL TABLE INDEX")
            assert any(p.startswith("SEARCH s USING INTEGER PRIMARY KEY") for p in plan), plan
    # Each spelling's range ends at the cursor (its index bound); ranges wholly after it go.
    paged = store.search_query(galaxy_id(store), "Sy", 100, None, before_name="Sys 0010")
    # ("SY" ends where the names after every "SY…" begin: "SZ")
    assert sorted((params[1], params[2]) for _, params in paged) == [("SY", "SZ"), ("Sy", "Sys 0010")]
    for sql, params in paged:
        assert sql.endswith("ORDER BY s.name DESC LIMIT ?")
        assert_no_scan(store.explain(sql, params), "USING INDEX system_name")


def test_detail_queries_use_keys(store):
    populate(store)
    conn = store.conn
    checks = [
        ("SELECT * FROM system s WHERE s.id = ?", [1], "USING INTEGER PRIMARY KEY"),
        ("SELECT * FROM system s WHERE s.galaxy_id = ? AND s.name = ?", [1, "Sys 0001"], "USING INDEX system_name"),
        ("SELECT * FROM planet WHERE system_id IN (?) ORDER BY system_id, position", [1], "USING INDEX planet_system"),
        ("SELECT * FROM moon WHERE planet_id IN (?) ORDER BY planet_id, position", [1], "USING INDEX moon_planet"),
        ("SELECT * FROM space_station WHERE system_id IN (?)", [1], "USING INTEGER PRIMARY KEY"),
    ]
    for sql, params, index in checks:
        plan = [r["detail"] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        assert_no_scan(plan, index)
    plan = store.explain(store._detail_query("s.id = ?"), [1])
    for index in ("USING INTEGER PRIMARY KEY", "USING COVERING INDEX planet_system"):
        assert_no_scan(plan, index)


def test_a_system_without_stored_children_is_one_query(store):
    populate(store, n=3)
    bare = store.create(GALAXY, validate_system({"name": "Bare", "x": 1, "y": 2, "z": 3}))
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        assert store.system(bare["id"])["planets"] == []
        assert len(statements) == 1 and statements[0].startswith("SELECT"), statements  # no BEGIN/COMMIT
        statements.clear()
        full = store.system_by_name(GALAXY, "Sys 0001")
        assert [p["name"] for p in full["planets"]] == ["p"] and full["planets"][0]["moons"][0]["name"] == "m"
        if statements[0] == "PRAGMA data_version":  # the galaxy-key cache's check (the lookup by name)
            statements.pop(0)
        # the row; then, in one read transaction, its version again, planets, moons and station
        assert statements[1] == "BEGIN" and statements[-1] == "COMMIT" and len(statements) == 7, statements
    finally:
        store.conn.set_trace_callback(None)


def test_children_come_from_the_snapshot_of_the_row_they_are_shown_with(store):
    """A write between the row's read and the children's read makes the detail read the row again."""
    populate(store, n=3)
    before = store.system_by_name(GALAXY, "Sys 0001")
    other = SQLiteStore(store.path)
    real_read = store._read

    def read_after_a_rename():
        other.patch(before["id"], validate_patch({"name": "Renamed", "version": before["version"]}))
        return real_read()

    store._read = read_after_a_rename
    try:
        after = store.system(before["id"])
    finally:
        store._read = real_read
        other.close()
    assert after["name"] == "Renamed" and after["version"] == before["version"] + 1
    assert [p["name"] for p in after["planets"]] == ["p"]


def claim_rows(store, n: int) -> None:
    """Make the planner plan for a galaxy of ``n`` systems (its statistics say so)."""
    conn = store.conn
    for (idx,) in conn.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'system'").fetchall():
        width = len(conn.execute(f"PRAGMA index_info({idx})").fetchall())
        conn.execute("UPDATE sqlite_stat1 SET stat = ? WHERE tbl = 'system' AND idx = ?",
                     (" ".join([str(n), str(n)] + ["1"] * (width - 1)), idx))  # one galaxy
    conn.execute("ANALYZE sqlite_schema")  # reload the statistics


def test_sphere_scans_code_ranges_on_the_index_alone(store):
    populate(store)
    gid, cube, _ = store._galaxy_key(GALAXY)
    for cells in (4, 16):
        ranges = sphere_code_ranges(cube, 10, -10, 0, 50, cells_per_axis=cells)
        sql = store._code_scan_query(gid, len(ranges))
        params = [v for r in ranges for v in r]
        # COVERING: codes and ids come from the index; the table is not read at all
        for stats in ("small", "large"):
            plan = store.explain(sql, params)
            assert_no_scan(plan, "USING COVERING INDEX system_code (galaxy_id=? AND code>? AND code<?)")
            assert not any("BLOOM" in step for step in plan), plan
            claim_rows(store, 10_000_000)


def test_sphere_rows_are_read_by_id(store):
    populate(store)
    sql = (f"SELECT {SYSTEM_COLUMNS} FROM json_each(?) j JOIN system s ON s.id = j.value "
           "LEFT JOIN region r ON r.id = s.region_id")
    plan = store.explain(sql, ("[1, 2, 3]",))
    assert any("SEARCH s USING INTEGER PRIMARY KEY" in line for line in plan), plan
    assert not any(line.startswith("SCAN s") for line in plan), plan


def test_counters_not_count_star(store):
    """Totals come from counters: the page query never counts rows."""
    populate(store)
    sql, _ = store._page_query(galaxy_id(store), None, None, None, 100, 0)
    assert "count(" not in sql.lower()


def test_sphere_density_hint_probes_the_path_nodes_by_key(store):
    from haven.store.lod import _PATH_SQL

    populate(store)
    plan = store.explain(_PATH_SQL, [*range(44), galaxy_id(store)])
    assert any("USING PRIMARY KEY (galaxy_id=? AND level=? AND cell=?)" in step for step in plan), plan
    # the only scan is of the 22 (level, cell) pairs of the path itself
    assert [step for step in plan if step.startswith("SCAN")] == ["SCAN 22 CONSTANT ROWS", "SCAN path"], plan


def test_export_batches_are_primary_key_ranges(store):
    """A flat export reads id ranges: no index that starts with galaxy_id, and no sort per batch."""
    populate(store)
    plan = store.explain(store.STORED_BATCH_SQL, [100, galaxy_id(store), 5000])
    assert_no_scan(plan, "SEARCH s USING INTEGER PRIMARY KEY (rowid>?)")
