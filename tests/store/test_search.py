"""Search over the ids-only indexes: candidates from rare keys of names and of other text, then an exact check."""

from __future__ import annotations

import random
import sqlite3

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from haven.config import DEFAULT_GALAXY as GALAXY
from haven.config import DatabaseUrl
from haven.errors import InvalidInput
from haven.model import validate_patch, validate_system
from haven.store import init_store, migrate, search


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
    add(store, {"name": "ÅSGARD Prime"}, {"name": "ΟΔΟΣ Nine"}, {"name": "Straße 5"}, {"name": "Ascii"},
        {"name": "Plain", "materials": "Weißgold"})
    assert names(store.search(GALAXY, "åsgard")) == ["ÅSGARD Prime"]
    assert names(store.search(GALAXY, "ÅSGARD")) == ["ÅSGARD Prime"]
    assert names(store.search(GALAXY, "οδος")) == ["ΟΔΟΣ Nine"]
    assert names(store.search(GALAXY, "STRASSE 5")) == ["Straße 5"]  # names are folded as str.casefold does
    assert names(store.search(GALAXY, "straße")) == ["Straße 5"]
    assert names(store.search(GALAXY, "WEISSGOLD")) == []  # the text index does not fold ß to "ss"
    assert names(store.search(GALAXY, "weißgold")) == ["Plain"]


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


def text_index(rows: list[str]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE system_fts USING fts5(materials, attributes, "
                 "tokenize='trigram', detail='none', columnsize=0)")
    conn.executemany("INSERT INTO system_fts (materials) VALUES (?)", [(r,) for r in rows])
    conn.execute("INSERT INTO system_fts (system_fts) VALUES ('optimize')")
    return conn


def test_the_rarest_keys_come_first():
    rng = random.Random(1)
    common = ["Haven " + "".join(rng.choice("abcdefghijklmnop") for _ in range(6)) for _ in range(30_000)]
    rare = ["Haven " + "".join(rng.choice("qrstuvwxyz") for _ in range(3)) for _ in range(3_000)]
    conn = text_index(common + rare)
    pages = search.estimated_pages(conn, search.TEXT_INDEX, ["ave", "rst"])
    assert pages["rst"] < pages["ave"]
    chosen = search.rarest_keys(conn, search.TEXT_INDEX, search.trigrams("Haven rstu"), k=2)
    assert not set(chosen) & {"Hav", "ave", "ven", "en "}, chosen
    assert search.rarest_keys(conn, search.TEXT_INDEX, ["Hav"], k=2) == ["Hav"]


def test_an_unreadable_index_layout_falls_back_to_every_key():
    conn = sqlite3.connect(":memory:")  # no system_fts_idx table at all
    keys = search.trigrams("abcdef")
    assert search.rarest_keys(conn, search.TEXT_INDEX, keys, k=2) == ["abc", "bcd", "cde", "def"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40), min_size=1, max_size=20))
def test_a_batch_gets_the_same_name_keys_as_one_name_at_a_time(batch):  # names hold no control characters
    folded, grams = search.name_index_values(batch)
    assert folded == [n.casefold() for n in batch]
    assert grams == [search.name_grams(n) for n in batch]


def test_name_keys_are_one_character_per_trigram_outside_the_basic_plane():
    grams = search.name_grams("Vraemkini DP-09753")
    assert len(grams) == len("Vraemkini DP-09753") - 2
    assert all(0x10000 <= ord(ch) <= 0x10FFFF for ch in grams)
    assert grams == search.name_grams("VRAEMKINI dp-09753")  # folded first
    assert search.name_grams("ab") == "" and search.name_grams(None) is None


def test_long_terms_look_names_up_by_five_character_keys(store):
    # Every trigram of "AB-01234" is in a hundred names; all its five-character keys in one.
    add(store, *({"name": f"Sys AB-0 -01234 {i:02d}"} for i in range(99)), {"name": "Sys AB-01234"})
    keys = search.term_keys("ab-01234")
    assert keys[search.NAME_INDEX] == search.trigrams(search.name_grams("ab-01234"))
    index, match = next(m for m in search.candidate_matches(store.conn, "AB-01234") if m[0] == search.NAME_INDEX)
    candidates = store.conn.execute(f"SELECT rowid FROM {index} WHERE {index} MATCH ?", (match,)).fetchall()
    assert len(candidates) <= 2
    assert names(store.search(GALAXY, "ab-01234")) == ["Sys AB-01234"]
    every_trigram = search.match_expression(search.trigrams("ab-01234"))
    assert store.conn.execute(f"SELECT count(*) FROM {index} WHERE {index} MATCH ?",
                              (every_trigram,)).fetchone()[0] == 100


def test_a_long_terms_name_query_names_its_first_and_last_keys_and_the_check_drops_the_rest(store):
    # Decoys hold both end keys of "abcdefghijkl" but not the term: candidates the check drops.
    add(store, *({"name": f"Abcde {i} hijkl"} for i in range(5)), {"name": "Xabcdefghijklx"})
    keys = search.term_keys("abcdefghijkl")[search.NAME_INDEX]
    assert len(keys) == 8 and search.end_keys(keys) == [keys[0], keys[-1]]
    assert search.end_keys(keys[:2]) == keys[:2]
    index, match = next(m for m in search.candidate_matches(store.conn, "ABCDEFGHIJKL") if m[0] == search.NAME_INDEX)
    assert match == search.match_expression([keys[0], keys[-1]])
    assert store.conn.execute(f"SELECT count(*) FROM {index} WHERE {index} MATCH ?", (match,)).fetchone()[0] == 6
    assert names(store.search(GALAXY, "ABCDEFGHIJKL")) == ["Xabcdefghijklx"]


def test_names_materials_and_attributes_are_searched_together(store):
    add(store, {"name": "Korvax Prime", "materials": "Salt"}, {"name": "Plain", "materials": "korvax ore"},
        {"name": "Other", "attributes": "near KORVAX space"}, {"name": "None"})
    assert names(store.search(GALAXY, "korvax")) == ["Korvax Prime", "Plain", "Other"]
    assert names(store.search(GALAXY, "orv")) == ["Korvax Prime", "Plain", "Other"]
    second = store.search(GALAXY, "korvax", limit=1, after_id=store.search(GALAXY, "korvax", limit=1)[0]["id"])
    assert names(second) == ["Plain"]


def test_renames_and_deletes_keep_the_name_index_in_step(store):
    add(store, {"name": "Old Name 12345"}, {"name": "Keep 12345"})
    old = store.search(GALAXY, "Old Name")[0]
    store.patch(old["id"], validate_patch({"name": "Fresh Title 67890"}))
    assert names(store.search(GALAXY, "old name")) == []
    assert names(store.search(GALAXY, "title 678")) == ["Fresh Title 67890"]
    store.delete(store.search(GALAXY, "Keep 1")[0]["id"])
    assert names(store.search(GALAXY, "12345")) == []
    for index in search.SEARCH_INDEXES:
        store.conn.execute(f"INSERT INTO {index} ({index}) VALUES ('integrity-check')")


def test_match_expression_quotes_each_part():
    assert search.match_expression(['a"b', "c d"]) == '"a""b" AND "c d"'
    assert search.trigrams("abcab") == ["abc", "bca", "cab"]


def fts_options(conn: sqlite3.Connection, index: str = "system_fts") -> str | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()
    return None if row is None else row[0]


def three_systems_at(tmp_path, revision: str) -> tuple[DatabaseUrl, sqlite3.Connection]:
    """A database at ``revision`` holding three systems, two of them with "gold" in a field."""
    url = DatabaseUrl("sqlite", str(tmp_path / "h.db"))
    migrate.upgrade(url, revision)
    conn = sqlite3.connect(url.sqlite_path)
    conn.execute("INSERT INTO galaxy (id, name, half_size_ly, created_at) VALUES (1, 'G', 1000, 0)")
    conn.executemany(
        "INSERT INTO system (galaxy_id, name, x, y, z, code, materials, created_at, modified_at) "
        "VALUES (1, ?, 0, 0, 0, 0, ?, 0, 0)", [("Alpha Gold", "Salt"), ("Beta", "pure gold"), ("Gamma", None)])
    conn.commit()
    return url, conn


def test_revision_0007_rebuilds_the_index_with_ids_only_and_back(tmp_path):
    """Stored systems stay searchable across the upgrade and the downgrade."""
    url, conn = three_systems_at(tmp_path, "0006")
    assert "detail" not in fts_options(conn)
    migrate.upgrade(url, "0007")
    assert "detail='none'" in fts_options(conn)
    config = dict(conn.execute("SELECT k, v FROM system_fts_config").fetchall())
    assert config["automerge"] == 0 and config["crisismerge"] == 128
    found = conn.execute("SELECT rowid FROM system_fts WHERE system_fts MATCH 'gol AND old' ORDER BY rowid").fetchall()
    assert found == [(1,), (2,)]
    migrate.downgrade(url, "0006")
    assert "detail" not in fts_options(conn)
    found = conn.execute("SELECT rowid FROM system_fts WHERE system_fts MATCH '\"gold\"' ORDER BY rowid").fetchall()
    assert found == [(1,), (2,)]


def test_revision_0008_gives_names_their_own_index_and_back(tmp_path):
    """Stored systems stay searchable across the upgrade and the downgrade, and writes keep both indexes."""
    url, conn = three_systems_at(tmp_path, "0007")
    assert fts_options(conn, search.NAME_INDEX) is None
    migrate.upgrade(url)
    assert "fts5(materials, attributes" in fts_options(conn)
    assert "case_sensitive 1" in fts_options(conn, search.NAME_INDEX)
    for index in search.SEARCH_INDEXES:
        config = dict(conn.execute(f"SELECT k, v FROM {index}_config").fetchall())
        assert config["automerge"] == 0 and config["crisismerge"] == 128
    store = init_store(url)
    try:
        assert names(store.search("G", "gold")) == ["Alpha Gold", "Beta"]
        assert names(store.search("G", "alpha gol")) == ["Alpha Gold"]
        store.create("G", validate_system({"name": "Delta Golden", "x": 0, "y": 0, "z": 0}))
        assert names(store.search("G", "golden")) == ["Delta Golden"]
    finally:
        store.close()
    migrate.downgrade(url, "0007")
    assert fts_options(conn, search.NAME_INDEX) is None
    found = conn.execute("SELECT rowid FROM system_fts WHERE system_fts MATCH 'gol AND old' ORDER BY rowid").fetchall()
    assert found == [(1,), (2,), (4,)]


# -- galaxies ---------------------------------------------------------------------------


def vm_steps(store, fn) -> int:
    """SQLite virtual-machine steps (in hundreds) that ``fn`` costs on the store's connection."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store.conn.set_progress_handler(count, 100)
    try:
        fn()
    finally:
        store.conn.set_progress_handler(None, 0)
    return steps[0]


def test_a_search_in_a_small_galaxy_does_not_walk_a_big_ones_matches(store):
    store.ensure_galaxy("Small")
    store.create("Small", validate_system({"name": "Lone", "x": 0, "y": 0, "z": 0, "materials": "Carbon"}))
    small = store.galaxy("Small")["id"]
    costs = []
    for size in (1000, 4000):  # the other galaxy grows fourfold, every system of it a match
        add(store, *({"name": f"Big {size} {i}", "materials": "Carbon, Gold"} for i in range(size - len(costs) * 1000)))
        store.merge_search_index()
        assert names(store.search("Small", "carbon")) == ["Lone"]
        queries = store.search_query(small, "carbon", 100, None)  # the candidate queries, keys chosen
        costs.append(vm_steps(store, lambda: [store.conn.execute(sql, params).fetchall() for sql, params in queries]))
    assert costs[1] < costs[0] * 1.5, costs  # flat: the index is asked for this galaxy's ids only
    assert len(store.search(GALAXY, "carbon", limit=5000)) == 4000  # the big galaxy still finds its own


def test_every_search_index_row_carries_its_galaxy_key(store):
    store.ensure_galaxy("Other")
    add(store, {"name": "Here Gold"})
    store.create("Other", validate_system({"name": "There Gold", "x": 0, "y": 0, "z": 0, "materials": "Gold"}))
    here, there = store.galaxy(GALAXY)["id"], store.galaxy("Other")["id"]
    assert len({search.galaxy_key(here), search.galaxy_key(there)}) == 2
    for index in search.SEARCH_INDEXES:
        for gid, expected in ((here, ["Here Gold"]), (there, ["There Gold"])):
            ids = [r[0] for r in store.conn.execute(
                f"SELECT rowid FROM {index} WHERE {index} MATCH ?", (search.match_expression([search.galaxy_key(gid)]),))]
            assert [store.system(i)["name"] for i in ids] == expected
    view = "SELECT galaxy FROM system_search_text WHERE id = ?"  # the key as the schema's SQL computes it
    there_id = store.system_by_name("Other", "There Gold")["id"]
    assert store.conn.execute(view, (there_id,)).fetchone()[0] == search.galaxy_key(there)
    store.conn.execute("INSERT INTO system_fts (system_fts) VALUES ('integrity-check')")  # index == content


def test_revision_0010_gives_both_indexes_the_galaxy_and_back(tmp_path):
    url = DatabaseUrl("sqlite", str(tmp_path / "h.db"))
    migrate.upgrade(url, "0009")
    conn = sqlite3.connect(url.sqlite_path)
    search.register_functions(conn)  # the name index's triggers call them
    conn.execute("INSERT INTO galaxy (id, name, half_size_ly, created_at, system_count) VALUES (1, 'G', 1000, 0, 3)")
    conn.execute("INSERT INTO galaxy (id, name, half_size_ly, created_at, system_count) VALUES (2, 'H', 1000, 0, 1)")
    conn.executemany(
        "INSERT INTO system (galaxy_id, name, x, y, z, code, materials, created_at, modified_at) "
        "VALUES (?, ?, 0, 0, 0, 0, ?, 0, 0)",
        [(1, "Alpha Gold", "Salt"), (1, "Beta", "pure gold"), (1, "Gamma", None), (2, "Epsilon", "gold dust")])
    conn.commit()
    migrate.upgrade(url)
    assert "galaxy" in fts_options(conn) and "galaxy" in fts_options(conn, search.NAME_INDEX)
    store = init_store(url)
    try:
        assert names(store.search("G", "gold")) == ["Alpha Gold", "Beta"]
        assert names(store.search("H", "gold")) == ["Epsilon"]
        moved = store.create("H", validate_system({"name": "Zeta Gold", "x": 0, "y": 0, "z": 0}))
        assert names(store.search("H", "gold")) == ["Epsilon", "Zeta Gold"]
        store.delete(moved["id"])
        assert names(store.search("H", "gold")) == ["Epsilon"]
        store.conn.execute("INSERT INTO system_fts (system_fts) VALUES ('integrity-check')")
    finally:
        store.close()
    migrate.downgrade(url, "0009")
    assert "galaxy" not in fts_options(conn)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'system_search_text'").fetchone()[0] == 0
    found = conn.execute("SELECT rowid FROM system_fts WHERE system_fts MATCH 'gol AND old' ORDER BY rowid").fetchall()
    assert found == [(2,), (4,)]  # materials only before this revision's view too


def test_prefix_variants_cover_every_case_spelling():
    assert sorted(search.prefix_variants("ab")) == ["AB", "Ab", "aB", "ab"]
    assert sorted(search.prefix_variants("7-")) == ["7-"]
    assert "SS" in search.prefix_variants("ß")  # upper case may be longer than the letter


# -- paging both ways ------------------------------------------------------------------------


def order_of(term: str) -> tuple[str, str, str]:
    """The field a search of ``term`` is ordered by, and its after/before arguments."""
    return ("name", "after_name", "before_name") if len(term.strip()) < 3 else ("id", "after_id", "before_id")


def pages_forward(store, term: str, limit: int) -> list[list[dict]]:
    """Every page of a search, following the last item of each."""
    key, after, _ = order_of(term)
    pages, bound = [], {}
    while page := store.search(GALAXY, term, limit=limit, **bound):
        pages.append(page)
        bound = {after: page[-1][key]}
    return pages


def pages_backward(store, term: str, limit: int, start: dict) -> list[list[dict]]:
    """Every page before ``start`` (an item), nearest first, following the first item of each."""
    key, _, before = order_of(term)
    pages, item = [], start
    while page := store.search(GALAXY, term, limit=limit, **{before: item[key]}):
        pages.append(page)
        item = page[0]
    return pages


def test_pages_read_backwards_are_the_pages_read_forwards_across_both_indexes(store):
    # Matches in names only, in materials only, in both (one id from both indexes: a tie the
    # merge keeps once), interleaved by id with candidates that hold the keys but not the term.
    systems = []
    for i in range(40):
        kind = i % 5
        systems.append(
            {"name": f"Korvax {i:02d}"} if kind == 0
            else {"name": f"Plain {i:02d}", "materials": "korvax ore"} if kind == 1
            else {"name": f"Korvax Twin {i:02d}", "attributes": "KORVAX made"} if kind == 2
            else {"name": f"Korva orvax {i:02d}", "materials": "korva, vax"} if kind == 3  # rejected
            else {"name": f"Other {i:02d}"}
        )
    add(store, *systems)
    for term in ("korvax", "KORVAX", "orv"):  # five-character name keys, and trigrams
        expected = [s["name"] for s in systems if any(term.casefold() in v.casefold() for v in s.values())]
        assert len(expected) == (32 if term == "orv" else 24)  # "orv" is in the rejected ones too
        for limit in (1, 3, 4, 7, 24, 100):
            forward = pages_forward(store, term, limit)
            assert [n for page in forward for n in names(page)] == expected, (term, limit)
            backward = pages_backward(store, term, limit, forward[-1][0])
            assert [names(p) for p in backward] == [names(p) for p in reversed(forward[:-1])], (term, limit)
            assert store.search(GALAXY, term, limit=limit, before_id=forward[0][0]["id"]) == []


def test_prefix_pages_read_backwards_end_every_spelling_at_the_bound(store):
    """Short terms: one name range per spelling; before a name, each range ends there (or goes)."""
    every = sorted(["AB", "ABX-1", "Ab 2", "Abesbae", "aB", "aBc", "ab", "abath", "ab~", "AA", "Ac", "B", "aa",
                    "ac", "zab", "Other", "SSa 1", "SsA", "ßair", "ßA", "SS", "ssa", "ß", "Sa"])
    for name in every:
        store.create(GALAXY, validate_system({"name": name, "x": 0, "y": 0, "z": 0}))
    for term, count in (("ab", 9), ("AB", 9), ("Ab", 9), ("ßa", 5), ("Ss", 4)):
        found = [n for n in every if any(n.startswith(v) for v in search.prefix_variants(term))]
        assert names(store.search(GALAXY, term)) == found and len(found) == count, term
        for limit in (1, 2, 3, 100):
            # before (and after) any name, matching or not, and past every one of them
            for bound in every + ["", "A", "Ab 2 ", "ab\U0010ffff", "\U0010ffff"]:
                below = [n for n in found if n < bound]
                assert names(store.search(GALAXY, term, limit=limit, before_name=bound)) == below[-limit:], (
                    term, limit, bound)
                above = [n for n in found if n > bound]
                assert names(store.search(GALAXY, term, limit=limit, after_name=bound)) == above[:limit]
            forward = pages_forward(store, term, limit)
            backward = pages_backward(store, term, limit, forward[-1][0])
            assert [names(p) for p in backward] == [names(p) for p in reversed(forward[:-1])], (term, limit)


def test_a_page_back_after_deletions_holds_what_is_left_before_the_cursor(store):
    add(store, *({"name": f"Gold {i:02d}", "materials": "Gold" if i % 2 else None} for i in range(30)))
    for term, key, before in (("gold", "id", "before_id"), ("Go", "name", "before_name")):
        first, second = pages_forward(store, term, 5)[:2]
        # Delete the page's first item (the cursor's own position) and some before it.
        gone = [second[0], first[1], first[4]]
        for system in gone:
            store.delete(system["id"])
        left = [s for s in first + second if s["id"] not in {g["id"] for g in gone}]
        back = store.search(GALAXY, term, limit=5, **{before: second[0][key]})
        assert names(back) == names([s for s in left if s[key] < second[0][key]][-5:]), term
        # following it forward again leads to where the cursor was
        _, after, _ = order_of(term)
        again = store.search(GALAXY, term, limit=4, **{after: back[-1][key]})
        assert names(again) == names(second[1:5]), term
        for system in pages_forward(store, term, 100)[0]:
            if system[key] < second[0][key]:
                store.delete(system["id"])
        assert store.search(GALAXY, term, limit=5, **{before: second[0][key]}) == []


def test_merged_by_merges_either_way_and_keeps_each_key_once():
    up = [[(1, "a"), (3, "b"), (4, "c")], [(2, "x"), (3, "b"), (5, "y")]]
    assert [r[0] for r in search.merged_by(map(iter, up), 0)] == [1, 2, 3, 4, 5]
    down = [list(reversed(stream)) for stream in up]
    assert [r[0] for r in search.merged_by(map(iter, down), 0, descending=True)] == [5, 4, 3, 2, 1]


def test_a_search_reads_one_way_at_a_time(store):
    add(store, {"name": "Gold"})
    with pytest.raises(ValueError):
        store.search(GALAXY, "gold", after_id=1, before_id=5)


def test_a_short_term_finds_names_that_go_on_after_the_highest_character(store):
    """``ab`` + U+10FFFF + more sorts above ``ab`` + U+10FFFF: the range must reach past it."""
    from haven.store.search import prefix_end

    names = ["ab", "abc", "ab\U0010ffff", "ab\U0010ffffz", "a\U0010ffff", "a\U0010ffff\U0010ffffq", "ac"]
    store.import_systems("Haven", [validate_system({"name": n, "x": i, "y": 0, "z": 0}) for i, n in enumerate(names)])
    found = lambda q: sorted(s["name"] for s in store.search("Haven", q, limit=50))  # noqa: E731
    assert found("ab") == sorted(["ab", "abc", "ab\U0010ffff", "ab\U0010ffffz"])
    assert found("a") == sorted(names)
    assert prefix_end("a\U0010ffff") == "b" and prefix_end("\U0010ffff") is None
    assert prefix_end("\ud7ff") == "\ue000"  # never a surrogate, which is no text


def test_a_short_term_finds_every_case_form_of_its_letters(store):
    add(store, {"name": "ẞig Sharp"}, {"name": "ßeta Prime"}, {"name": "ssa Major"}, {"name": "SSo"},
        {"name": "Kelvin"}, {"name": "\u212aappa"}, {"name": "Sigma"})
    assert sorted(names(store.search(GALAXY, "ß"))) == ["SSo", "ssa Major", "ßeta Prime", "ẞig Sharp"]
    assert names(store.search(GALAXY, "ßi")) == ["ẞig Sharp"]
    assert names(store.search(GALAXY, "ẞ")) == names(store.search(GALAXY, "ß"))
    assert sorted(names(store.search(GALAXY, "k"))) == ["Kelvin", "\u212aappa"]


def test_no_spelling_of_a_short_term_is_searched_twice():
    for term in ("ß", "ßs", "ss", "ﬃ", "ab"):
        spellings = search.prefix_variants(term)
        assert not [s for s in spellings for t in spellings if s != t and s.startswith(t)], term


def test_a_galaxy_key_in_a_term_is_never_asked_of_the_index(store):
    gk = search.galaxy_key(1)
    add(store, {"name": f"Odd{gk}x"}, {"name": "Plain"})
    for keys in search.term_keys(f"d{gk}x").values():
        assert gk not in keys and keys  # the other keys still narrow the candidates
    assert names(store.search(GALAXY, f"d{gk}x")) == [f"Odd{gk}x"]
    with pytest.raises(InvalidInput) as info:  # only the galaxy's key: it would match the whole galaxy
        store.search(GALAXY, gk)
    assert info.value.field == "q" and "reserves" in str(info.value)


def test_a_term_may_hold_the_line_breaks_stored_text_holds(store):
    add(store, {"name": "Rough", "attributes": "Cluster\nDistance: far"}, {"name": "Other"})
    assert names(store.search(GALAXY, "Cluster\nDistance")) == ["Rough"]
    assert names(store.search(GALAXY, "\tcluster\n")) == ["Rough"]  # white space at the ends is ignored
    with pytest.raises(InvalidInput) as info:
        store.search(GALAXY, "Clu\x00ster")
    assert info.value.field == "q" and "U+0000" in str(info.value)
