"""Substring search over a trigram index that stores row ids only.

``system_fts`` is an FTS5 index with the ``trigram`` tokenizer and
``detail=none``: for every three-character sequence it keeps the ids of the
systems whose name, materials or attributes hold it, and nothing else (no
positions). That makes it about a quarter of the size of a full index and
quick to build, but it cannot check that the trigrams of a term sit next to
each other. So a search runs in two steps:

1. **Candidates.** The index answers ``AND`` of a few of the term's trigrams:
   every system that contains the term contains all of them.
2. **Check.** Each candidate, read in id order, is kept only if the term
   really occurs in one of its three columns, ignoring case
   (:func:`contains_term`). Reading stops as soon as the page is full.

Which trigrams: an ``AND`` costs about the length of the id lists it walks,
and the term is usually decided by its rarest trigrams. FTS5 keeps, per index
segment, the first term of each leaf page in ``system_fts_idx``; the number of
leaf pages between a trigram's entry and the next one bounds the length of its
id list. :func:`rarest_trigrams` reads those two rows per trigram (an index
search each; the segment's last leaf page bounds the last entry) and picks
the shortest lists. It is only an estimate: if the
layout ever changed, the answer would still be exact, just slower.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable

#: Trigrams of a term that go into the candidate query.
CANDIDATE_TRIGRAMS = 3

_SEGMENTS = (
    "WITH RECURSIVE seg (id) AS ("
    " SELECT min(segid) FROM system_fts_idx"
    " UNION ALL SELECT (SELECT min(segid) FROM system_fts_idx WHERE segid > seg.id) FROM seg WHERE seg.id IS NOT NULL"
    ") SELECT id FROM seg WHERE id IS NOT NULL"
)
_PAGE_AT_OR_BEFORE = (
    "SELECT pgno >> 1 FROM system_fts_idx WHERE segid = ? AND term <= ? ORDER BY term DESC LIMIT 1"
)
_SEGMENT_SHIFT = 37  # FTS5_SEGMENT_ROWID: segment id above 1 dlidx bit, 5 height bits and 31 page bits
_LEAF_PAGES = 1 << 31
_LAST_LEAF = "SELECT max(id) FROM system_fts_data WHERE id BETWEEN ? AND ?"
_PAGE_AFTER = "SELECT pgno >> 1 FROM system_fts_idx WHERE segid = ? AND term > ? ORDER BY term LIMIT 1"


def trigrams(term: str) -> list[str]:
    """The distinct three-character sequences of ``term``, in order of first appearance."""
    return list(dict.fromkeys(term[i:i + 3] for i in range(len(term) - 2)))


def match_expression(parts: Iterable[str]) -> str:
    """An FTS5 query that every row holding all ``parts`` matches (each quoted as a string)."""
    return " AND ".join('"' + p.replace('"', '""') + '"' for p in parts)


def _index_key(trigram: str) -> bytes:
    # FTS5 stores a term of the main index as "0" followed by its folded UTF-8 bytes.
    return ("0" + trigram.lower()).encode()


def _last_leaf_page(conn: sqlite3.Connection, segment: int) -> int:
    # A leaf page's row in system_fts_data has the id (segment << 37) + page number.
    first = segment << _SEGMENT_SHIFT
    row = conn.execute(_LAST_LEAF, (first, first + _LEAF_PAGES - 1)).fetchone()
    return (row[0] - first) if row[0] is not None else 0


def estimated_pages(conn: sqlite3.Connection, trigram_list: list[str]) -> dict[str, int]:
    """Leaf pages each trigram's id list may span, summed over the index segments (an upper bound)."""
    segments = [(seg, _last_leaf_page(conn, seg)) for (seg,) in conn.execute(_SEGMENTS).fetchall()]
    pages: dict[str, int] = {}
    for t in trigram_list:
        key = _index_key(t)
        total = 0
        for seg, last_page in segments:
            at = conn.execute(_PAGE_AT_OR_BEFORE, (seg, key)).fetchone()
            if at is None:
                continue
            after = conn.execute(_PAGE_AFTER, (seg, key)).fetchone()
            total += (after[0] if after is not None else last_page + 1) - at[0]
        pages[t] = total
    return pages


def rarest_trigrams(conn: sqlite3.Connection, term: str, k: int = CANDIDATE_TRIGRAMS) -> list[str]:
    """Up to ``k`` trigrams of ``term`` whose id lists look shortest."""
    found = trigrams(term)
    if len(found) <= k:
        return found
    try:
        pages = estimated_pages(conn, found)
    except sqlite3.Error:  # an FTS5 whose shadow tables look different: fall back to all of them
        return found
    return sorted(found, key=lambda t: pages[t])[:k]


def contains_term(needle_folded: str, values: Iterable[str | None]) -> bool:
    """Whether ``needle_folded`` (already ``casefold()``-ed) occurs in one of ``values``, ignoring case.

    ``str.casefold`` maps every case variant of a character to one form, so it
    matches whatever the index's own case folding matches (and a few newer
    Unicode case pairs the index does not know).
    """
    return any(v is not None and needle_folded in v.casefold() for v in values)
