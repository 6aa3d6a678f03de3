"""Substring search over two ids-only FTS5 indexes: one for names, one for the other text.

A search for a term finds the systems whose name, materials or attributes
contain it, ignoring case. Two FTS5 indexes answer it, both with
``detail=none`` (for every key they keep the ids of the rows holding it, and
nothing else: no positions, no columns):

``system_fts``
    trigrams of ``materials`` and ``attributes`` (the ``trigram`` tokenizer,
    external content: the text stays in ``system``, read through the view
    ``system_search_text``).
``system_fts_name``
    keys of the *case-folded* name (``str.casefold``), of two kinds: its
    trigrams, and its **five-character sequences**. A trigram is in about one
    name of a thousand whatever the galaxy's size, so the id list of even the
    rarest trigram of a term grows with the galaxy; a five-character sequence
    such as ``09753`` or ``emkin`` is in a handful of names. Terms of five
    characters or more use those, and a rare term costs about the same at ten
    million systems as at one million. FTS5 has no tokenizer for five-character
    sequences, so :func:`name_grams` writes each trigram of the name as one
    character (a hash of the trigram onto Unicode planes 1–16) and the
    ``trigram`` tokenizer makes every three of those characters one key: a
    five-character sequence of the name. Two different sequences may share a
    key; that only adds a candidate the check drops.

A search runs in two steps:

1. **Candidates.** Each index answers ``AND`` of a few of the term's keys:
   every system that contains the term contains all of them. For the text
   index and short terms these are the rarest few (below); for a long term's
   name keys, its first and its last (:func:`end_keys`). The two id
   lists are merged in id order (descending, for the page before a cursor).
   Both indexes hold, in a column of their own, one key per row that says
   which galaxy the system is in (:func:`galaxy_key`). A search in a galaxy
   holding less than half of the database's systems also names that key, so
   it walks only its own galaxy's ids, never every match of the database.
2. **Check.** Each candidate is kept only if the term really occurs in one of
   its three columns, ignoring case (:func:`contains_term`). Reading stops as
   soon as the page is full.

Which keys: an ``AND`` costs about the length of the id lists it walks, and
the term is usually decided by its rarest keys. FTS5 keeps, per index
segment, the first key of each leaf page in ``<index>_idx``; the number of
leaf pages between a key's entry and the next one bounds the length of its id
list. :func:`rarest_keys` reads those two rows per key and segment (an index
search each, all in one statement per key; the segment's last leaf page
bounds the last entry) and picks the shortest lists. It is only an estimate: if the layout ever changed, the answer would
still be exact, just slower.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from haven.errors import InvalidInput

#: Keys of a term that go into each index's candidate query.
CANDIDATE_KEYS = 3
#: The index of materials and attributes, and the index of names.
TEXT_INDEX = "system_fts"
NAME_INDEX = "system_fts_name"
SEARCH_INDEXES = (TEXT_INDEX, NAME_INDEX)
#: Terms at least this long look names up by five-character sequences.
LONG_KEY_CHARS = 5
#: FTS5's buffer of pending keys while a bulk load fills an index: a batch's keys
#: become a few large segments instead of many small ones. A cap, not an
#: allocation: 100,000 systems need about 80 MiB.
LOAD_HASH_BYTES = 256 << 20
#: One row of the name index, as bulk loads write it: id, folded name, grams, galaxy key.
NAME_INDEX_INSERT = f"INSERT INTO {NAME_INDEX} (rowid, name, grams, galaxy) VALUES (?, ?, ?, ?)"
#: SQL functions the name index's triggers call (registered on every connection).
FOLD_FUNCTION = "haven_fold"
GRAMS_FUNCTION = "haven_name_grams"

_PLANE_1 = 0x10000  # the first code point above the Basic Multilingual Plane
_PLANE_16 = 0x100000  # the last private-use plane: a galaxy's key is made of its characters
_GALAXY_MARK = 0x10FFFD  # the first character of every galaxy key
_HASH_MASK = 0xFFFFF  # planes 1-16 hold 2**20 code points, none of them surrogates
_MASK64 = (1 << 64) - 1
_K1, _K2, _K3 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D
_TRANSFORM_CHUNK = 50_000  # names per numpy pass (bounds the temporary arrays)

# Each segment of an index with its last leaf page: a leaf page's row in <index>_data has
# the id (segment << 37) + page number (FTS5_SEGMENT_ROWID: 1 dlidx bit, 5 height bits and
# 31 page bits below the segment id).
_SEGMENTS = (
    "WITH RECURSIVE seg (n) AS ("
    " SELECT min(segid) FROM {idx}"
    " UNION ALL SELECT (SELECT min(segid) FROM {idx} WHERE segid > seg.n) FROM seg WHERE seg.n IS NOT NULL"
    ") SELECT json_group_array(json_array(n, coalesce("
    "(SELECT max(d.id) FROM {data} d WHERE d.id BETWEEN n << 37 AND (n << 37) + (1 << 31) - 1) - (n << 37), 0)))"
    " FROM seg WHERE n IS NOT NULL"
)
# Leaf pages a key's id list may span, summed over the segments (two index searches each).
_KEY_PAGES = (
    "SELECT coalesce(sum(after - at), 0) FROM ("
    " SELECT (SELECT pgno >> 1 FROM {idx} WHERE segid = s.seg AND term <= :key ORDER BY term DESC LIMIT 1) AS at,"
    " coalesce((SELECT pgno >> 1 FROM {idx} WHERE segid = s.seg AND term > :key ORDER BY term LIMIT 1),"
    " s.last + 1) AS after"
    " FROM (SELECT value ->> 0 AS seg, value ->> 1 AS last FROM json_each(:segments)) s"
    ") WHERE at IS NOT NULL"
)


# -- the name index's keys ---------------------------------------------------------------


def _trigram_char(a: int, b: int, c: int) -> str:
    h = ((a * _K1) ^ (b * _K2) ^ (c * _K3)) & _MASK64
    h ^= h >> 29
    return chr(_PLANE_1 + (h & _HASH_MASK))


def name_grams(name: str | None) -> str | None:
    """The name's trigrams, one character each: the ``trigram`` tokenizer turns them into five-character keys.

    ``name`` is case-folded first. Used for one name at a time (the triggers,
    a search term); :func:`name_index_values` does the same for a whole batch.
    """
    if name is None:
        return None
    points = [ord(ch) for ch in name.casefold()]
    return "".join(_trigram_char(*points[i:i + 3]) for i in range(len(points) - 2))


def fold(text: str | None) -> str | None:
    """Text as the name index stores it: ``str.casefold``, the same folding the check uses."""
    return None if text is None else text.casefold()


def name_index_values(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Folded names and :func:`name_grams` of a batch, vectorised (a bulk load's whole batch).

    Names hold no control characters (every entry point refuses them), so a
    NUL can only be numpy's padding after the end of a shorter name.
    """
    folded = [n.casefold() for n in names]
    grams: list[str] = []
    for start in range(0, len(folded), _TRANSFORM_CHUNK):
        grams.extend(_grams_of_chunk(folded[start:start + _TRANSFORM_CHUNK]))
    return folded, grams


def _grams_of_chunk(folded: list[str]) -> list[str]:
    arr = np.array(folded, dtype=str)
    width = arr.dtype.itemsize // 4
    if width < 3:
        return [""] * len(folded)
    points = arr.view(np.uint32).reshape(len(folded), width).astype(np.uint64)
    a, b, c = points[:, :-2], points[:, 1:-1], points[:, 2:]
    h = (a * np.uint64(_K1)) ^ (b * np.uint64(_K2)) ^ (c * np.uint64(_K3))
    h ^= h >> np.uint64(29)
    chars = (np.uint64(_PLANE_1) + (h & np.uint64(_HASH_MASK))).astype(np.uint32)
    chars[c == 0] = 0  # past the end of a shorter name: numpy strips trailing NULs
    return np.ascontiguousarray(chars).view(f"<U{width - 2}").reshape(len(folded)).tolist()


def galaxy_key(galaxy_id: int) -> str:
    """The one key (three characters of Unicode's plane 16) both indexes hold for a galaxy's systems.

    The ``trigram`` tokenizers make exactly one key of it. A name's key may
    rarely be the same three characters; that only adds a candidate, which the
    query's ``galaxy_id`` condition drops.
    """
    return chr(_GALAXY_MARK) + chr(_PLANE_16 + (galaxy_id >> 15)) + chr(_PLANE_16 + (galaxy_id & 0x7FFF))



def register_functions(conn: sqlite3.Connection) -> None:
    """Give a connection the functions the name index's triggers call."""
    conn.create_function(FOLD_FUNCTION, 1, fold, deterministic=True)
    conn.create_function(GRAMS_FUNCTION, 1, name_grams, deterministic=True)


# -- candidates ----------------------------------------------------------------------------


def trigrams(term: str) -> list[str]:
    """The distinct three-character sequences of ``term``, in order of first appearance."""
    return list(dict.fromkeys(term[i:i + 3] for i in range(len(term) - 2)))


def match_expression(parts: Iterable[str]) -> str:
    """An FTS5 query that every row holding all ``parts`` matches (each quoted as a string)."""
    return " AND ".join('"' + p.replace('"', '""') + '"' for p in parts)


def is_long(term: str) -> bool:
    """Whether ``term`` looks names up by five-character keys rather than trigrams."""
    return len(term.casefold()) >= LONG_KEY_CHARS


def is_galaxy_key(key: str) -> bool:
    """Whether ``key`` has the shape of a :func:`galaxy_key`, which every row of a galaxy holds."""
    return (len(key) == 3 and ord(key[0]) == _GALAXY_MARK
            and ord(key[1]) >= _PLANE_16 and ord(key[2]) >= _PLANE_16)


def term_keys(term: str) -> dict[str, list[str]]:
    """For each index, the keys every row containing ``term`` holds (the name index's as stored).

    A key shaped like a galaxy's is left out: asked for, it would make every system
    of a galaxy a candidate. The other keys and the check of each candidate still
    find every row that holds the term. A term with no other key is refused.
    """
    folded = term.casefold()
    name_keys = trigrams(name_grams(folded) or "") if is_long(term) else trigrams(folded)
    keys = {TEXT_INDEX: trigrams(term), NAME_INDEX: name_keys}
    kept = {index: [k for k in index_keys if not is_galaxy_key(k)] for index, index_keys in keys.items()}
    if any(index_keys and not kept[index] for index, index_keys in keys.items()):
        raise InvalidInput(
            "q is made of characters the search index reserves (U+10FFFD followed by two characters "
            "of plane 16); add a character before or after them", field="q")
    return kept


def _stored_key(index: str, key: str) -> bytes:
    # FTS5 stores a key of the main index as "0" followed by its UTF-8 bytes; the text
    # index folds case itself, the name index is case-sensitive over folded text.
    return ("0" + (key.lower() if index == TEXT_INDEX else key)).encode()


def estimated_pages(conn: sqlite3.Connection, index: str, keys: list[str]) -> dict[str, int]:
    """Leaf pages each key's id list may span in ``index``, summed over its segments (an upper bound)."""
    idx = f"{index}_idx"
    segments = conn.execute(_SEGMENTS.format(idx=idx, data=f"{index}_data")).fetchone()[0]
    query = _KEY_PAGES.format(idx=idx)
    return {key: conn.execute(query, {"key": _stored_key(index, key), "segments": segments}).fetchone()[0]
            for key in keys}


def rarest_keys(conn: sqlite3.Connection, index: str, keys: list[str], k: int = CANDIDATE_KEYS) -> list[str]:
    """Up to ``k`` of ``keys`` whose id lists in ``index`` look shortest."""
    if len(keys) <= k:
        return keys
    try:
        pages = estimated_pages(conn, index, keys)
    except sqlite3.Error:  # an FTS5 whose shadow tables look different: fall back to all of them
        return keys
    return sorted(keys, key=lambda key: pages[key])[:k]


def end_keys(keys: list[str]) -> list[str]:
    """The first and the last of a term's ``keys`` (all of them if there are fewer than three).

    Which five-character keys a long term's name query names: the two at its
    ends cover every character of a term of up to ten characters (unless a
    sequence repeats: ``keys`` holds each once), and almost always leave a
    single candidate. Each key more costs the length of its id list, which
    grows with the galaxy (a code's middle keys hold thousands of ids at 10M
    systems), while the few candidates it could remove cost a row read each.
    """
    return keys if len(keys) < 3 else [keys[0], keys[-1]]


def candidate_matches(conn: sqlite3.Connection, term: str, galaxy_id: int | None = None) -> list[tuple[str, str]]:
    """``(index, MATCH expression)`` per index: together they find every row containing ``term``.

    With ``galaxy_id``, only rows of that galaxy (its :func:`galaxy_key` joins
    each expression).

    Five-character keys are nearly all rare, so a long term's name keys are not
    estimated: its first and last go into the query (:func:`end_keys`).
    """
    long_term = is_long(term)
    scope = [] if galaxy_id is None else [galaxy_key(galaxy_id)]
    return [(index, match_expression([*(end_keys(keys) if index == NAME_INDEX and long_term
                                        else rarest_keys(conn, index, keys)), *scope]))
            for index, keys in term_keys(term).items() if keys]


def _letter_key(ch: str) -> str:
    """The one character standing for ``ch``'s case forms: its case fold, or its lower case
    where the fold is longer (``ß`` and ``ẞ`` fold to ``ss``, both lower to ``ß``)."""
    for form in (ch.casefold(), ch.lower()):
        if len(form) == 1:
            return form
    return ch


@functools.cache
def _case_forms() -> dict[str, frozenset[str]]:
    """Characters by :func:`_letter_key`, for the keys that more than one character has."""
    forms: dict[str, set[str]] = {}
    for point in range(_PLANE_1 * 2):  # every cased letter is in the first two planes
        ch = chr(point)
        key = _letter_key(ch)
        if key != ch:
            forms.setdefault(key, {key}).add(ch)
    return {key: frozenset(chars) for key, chars in forms.items()}


def prefix_variants(term: str) -> list[str]:
    """Every way of writing a short ``term`` with each letter in any of its case forms.

    A name index is in binary order, so "names starting with ``ab``, ignoring case" is one
    range per spelling (``ab``, ``aB``, ``Ab``, ``AB``). A letter's forms are the single
    characters with the same case fold (``k``, ``K`` and the Kelvin sign ``K``; ``ß`` and
    ``ẞ``) and the spellings of a longer fold (``ß``: ``ss``, ``SS``, ``ſs``…). Meant for the
    short terms search answers from the name index (two characters: a few spellings, at
    most a few hundred for two ligatures).
    """
    spellings = {"".join(parts) for parts in itertools.product(*(_spellings(ch) for ch in term))}
    # a spelling that starts with another is inside that one's range: its names would come twice
    return sorted(s for s in spellings if not any(s != t and s.startswith(t) for t in spellings))


def _spellings(ch: str) -> list[str]:
    """``ch``'s case forms and, for a letter that folds to several (``ß`` to ``ss``), every
    spelling of its fold: a name's case is compared by its fold (:func:`fold`)."""
    forms = _case_forms()
    found = forms.get(_letter_key(ch), frozenset()) | {ch}
    folded = ch.casefold()
    if len(folded) > 1:
        found |= {"".join(p) for p in itertools.product(*(sorted(forms.get(_letter_key(c), frozenset()) | {c})
                                                        for c in folded))}
    return sorted(found)


def prefix_end(prefix: str) -> str | None:
    """The smallest text above every text that starts with ``prefix`` (None: there is none).

    In binary (UTF-8) order that is ``prefix`` with its last character raised by one;
    a last character that cannot be raised (U+10FFFF) is dropped first. ``prefix +
    "\U0010ffff"`` would be short of names that go on after such a character.
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if last + 1 != 0xD800 else 0xE000  # surrogates are no text
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def merged_by(
    streams: Iterable[Iterator[Sequence[Any]]], key_at: int, *, descending: bool = False
) -> Iterator[Sequence[Any]]:
    """Rows of several streams ordered by column ``key_at`` in one order, each key once
    (an id, or a name, which is unique in a galaxy).

    With ``descending`` every stream must come largest key first (a search read
    backwards), and so does the merge.
    """
    last = None
    for row in heapq.merge(*streams, key=lambda r: r[key_at], reverse=descending):
        if row[key_at] != last:
            last = row[key_at]
            yield row


def contains_term(needle_folded: str, values: Iterable[str | None]) -> bool:
    """Whether ``needle_folded`` (already ``casefold()``-ed) occurs in one of ``values``, ignoring case.

    ``str.casefold`` maps every case variant of a character to one form. The
    name index stores names folded the same way; the text index folds with
    its own (smaller) table, so in materials and attributes a few newer or
    multi-character case pairs (``ß`` and ``ss``) are not found.
    """
    return any(v is not None and needle_folded in v.casefold() for v in values)


def set_fts_options(conn: sqlite3.Connection, index: str, **values: int) -> None:
    """Set FTS5 options of an index (tunings only: an SQLite without one of them just runs slower)."""
    for key, value in values.items():
        try:
            conn.execute(f"INSERT INTO {index} ({index}, rank) VALUES (?, ?)", (key, int(value)))
        except sqlite3.OperationalError:
            pass
