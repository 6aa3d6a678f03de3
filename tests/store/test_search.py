"""Search over the ids-only trigram index: candidates from rare trigrams, then an exact check."""

from __future__ import annotations

import random
import sqlite3

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.config import DatabaseUrl
from haven.model import validate_system
from haven.store import init_store, search


def names(found: list[dict]) -> list[str]:
    return [s["name"] for s in found]


def add(store, *systems: dict) -> None:
    store.import_systems(GALAXY, [validate_system({"x": 0, "y": 0, "z": 0, **s}) for s in systems])


def test_a_row_holding_every_trigram_but_not_the_term_is_not_an_answer(store):
    add(store, {"name": "Gol old"}, {"name": "Goldfield"}, {"name": "Dlog", "materials": "old, Gol"})
    assert names(store.search(GALAXY, "gold")) == ["Goldfield"]


def test_the_term_must_lie_inside_one_column(store):
    add(store, {"name": "Ends with Go", "materials": "ld, Salt"}, {"name": "Plain", "attributes": "gold rush"})
    assert names(store.search(GALAXY, "gold")) == ["Plain"]


def test_case_is_ignored_beyond_ascii(store):
    add(store, {"name": "ÅSGARD Prime"}, {"name": "ΟΔΟΣ Nine"}, {"name": "Straße 5"}, {"name": "Ascii"})
    assert names(store.search(GALAXY, "åsgard")) == ["ÅSGARD Prime"]
    assert names(store.search(GALAXY, "ÅSGARD")) == ["ÅSGARD Prime"]
    assert names(store.search(GALAXY, "οδος")) == ["ΟΔΟΣ Nine"]
    assert names(store.search(GALAXY, "STRASSE 5")) == []  # ß is not folded to "ss" by the index
    assert names(store.search(GALAXY, "straße")) == ["Straße 5"]


def test_quotes_and_query_syntax_are_plain_text(store):
    add(store, {"name": 'Say "hi" AND (bye)*'}, {"name": "hi bye"})
    assert names(store.search(GALAXY, '"hi" AND (')) == ['Say "hi" AND (bye)*']
    assert names(store.search(GALAXY, "AND")) == ['Say "hi" AND (bye)*']
    assert store.search(GALAXY, "NOT hi") == []


def test_pages_fill_past_rejected_candidates_and_follow_the_cursor(store):
    # Candidates that fail the check sit between the answers: every page still fills up.
    systems = []
    for i in range(60):
        systems.append({"name": f"Gol old {i:02d}"})
        systems.append({"name": f"Gold {i:02d}"})
    add(store, *systems)
    first = store.search(GALAXY, "gold", limit=25)
    assert names(first) == [f"Gold {i:02d}" for i in range(25)]
    rest = store.search(GALAXY, "gold", limit=100, after_id=first[-1]["id"])
    assert names(rest) == [f"Gold {i:02d}" for i in range(25, 60)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet="abAB -é", min_size=0, max_size=12), min_size=1, max_size=30),
       st.text(alphabet="abAB -é", min_size=3, max_size=6))
def test_answers_match_a_brute_force_substring_test(tmp_path_factory, texts, term):
    assume(len(term.strip()) >= 3)
    store = init_store(DatabaseUrl("sqlite", str(tmp_path_factory.mktemp("search") / "h.db")))
    try:
        store.ensure_galaxy(GALAXY)
        add(store, *({"name": f"S{i}", "materials": t or None} for i, t in enumerate(texts)))
        expected = [f"S{i}" for i, t in enumerate(texts) if term.strip().casefold() in t.casefold()]
        assert names(store.search(GALAXY, term, limit=100)) == expected
    finally:
        store.close()


def trigram_index(rows: list[str]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE system_fts USING fts5(name, materials, attributes, "
                 "tokenize='trigram', detail='none', columnsize=0)")
    conn.executemany("INSERT INTO system_fts (name) VALUES (?)", [(r,) for r in rows])
    conn.execute("INSERT INTO system_fts (system_fts) VALUES ('optimize')")
    return conn


def test_the_rarest_trigrams_come_first():
    rng = random.Random(1)
    common = ["Haven " + "".join(rng.choice("abcdefghijklmnop") for _ in range(6)) for _ in range(30_000)]
    rare = ["Haven " + "".join(rng.choice("qrstuvwxyz") for _ in range(3)) for _ in range(3_000)]
    conn = trigram_index(common + rare)
    pages = search.estimated_pages(conn, ["ave", "rst"])
    assert pages["rst"] < pages["ave"]
    chosen = search.rarest_trigrams(conn, "Haven rstu", k=2)
    assert not set(chosen) & {"Hav", "ave", "ven", "en "}, chosen
    assert search.rarest_trigrams(conn, "Hav", k=2) == ["Hav"]


def test_an_unreadable_index_layout_falls_back_to_every_trigram():
    conn = sqlite3.connect(":memory:")  # no system_fts_idx table at all
    assert search.rarest_trigrams(conn, "abcdef", k=2) == ["abc", "bcd", "cde", "def"]


def test_match_expression_quotes_each_part():
    assert search.match_expression(['a"b', "c d"]) == '"a""b" AND "c d"'
    assert search.trigrams("abcab") == ["abc", "bca", "cab"]


def fts_options(conn: sqlite3.Connection) -> str:
    return conn.execute("SELECT sql FROM sqlite_master WHERE name = 'system_fts'").fetchone()[0]


def test_revision_0007_rebuilds_the_index_with_ids_only_and_back(tmp_path):
    """Stored systems stay searchable across the upgrade and the downgrade."""
    from haven.store import migrate

    url = DatabaseUrl("sqlite", str(tmp_path / "h.db"))
    migrate.upgrade(url, "0006")
    conn = sqlite3.connect(url.sqlite_path)
    conn.execute("INSERT INTO galaxy (id, name, half_size_ly, created_at) VALUES (1, 'G', 1000, 0)")
    conn.executemany(
        "INSERT INTO system (galaxy_id, name, x, y, z, code, materials, created_at, modified_at) "
        "VALUES (1, ?, 0, 0, 0, 0, ?, 0, 0)", [("Alpha Gold", "Salt"), ("Beta", "pure gold"), ("Gamma", None)])
    conn.commit()
    assert "detail" not in fts_options(conn)
    migrate.upgrade(url)
    assert "detail='none'" in fts_options(conn)
    config = dict(conn.execute("SELECT k, v FROM system_fts_config").fetchall())
    assert config["automerge"] == 0 and config["crisismerge"] == 128
    store = init_store(url)
    try:
        assert names(store.search("G", "gold")) == ["Alpha Gold", "Beta"]
    finally:
        store.close()
    migrate.downgrade(url, "0006")
    assert "detail" not in fts_options(conn)
    found = conn.execute("SELECT rowid FROM system_fts WHERE system_fts MATCH '\"gold\"' ORDER BY rowid").fetchall()
    assert found == [(1,), (2,)]
