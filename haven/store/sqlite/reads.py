"""Reads by name and id: pages, search, a system's detail and whole-galaxy iteration."""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Iterator

from haven.errors import InvalidInput, NotFound
from haven.model import END_OF_NAMES, NAME_MAX_CHARS, NUL_MESSAGE
from haven.store import search
from haven.store.base import MAX_OFFSET, MIN_SEARCH_CHARS, Page

from .connection import BUSY_TIMEOUT_MS
from .rows import (
    SYSTEM_COLUMNS, SYSTEM_FROM, _body_row, _check_limit, _derived_children, _fetch_systems, _finish_system,
)


class Reads:
    """Pages in name order, search, one system with its children, and iteration for export."""

    def _page_query(
        self,
        galaxy_id: int,
        region_id: int | None,
        after: str | None,
        before: str | None,
        limit: int,
        offset: int,
    ) -> tuple[str, list[Any]]:
        """The one query builder for name-ordered pages (keyset, optional region)."""
        where: list[str] = []
        params: list[Any] = []
        if region_id is not None:
            where.append("s.region_id = ?")  # (region_id, name) index: region implies galaxy
            params.append(region_id)
        else:
            where.append("s.galaxy_id = ?")
            params.append(galaxy_id)
        order = "ASC"
        if after is not None:
            where.append("s.name > ?")
            params.append(after)
        elif before is not None:
            where.append("s.name < ?")
            params.append(before)
            order = "DESC"
        sql = (
            f"SELECT {SYSTEM_COLUMNS} FROM {SYSTEM_FROM} WHERE {' AND '.join(where)} "
            f"ORDER BY s.name {order} LIMIT ? OFFSET ?"
        )
        params += [limit + 1, offset]
        return sql, params

    def page(
        self,
        galaxy: str,
        *,
        region: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """Systems in name order after (or before) a name, with the O(1) total."""
        _check_limit(limit)
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}; use a cursor", field="offset")
        galaxy_id = self._galaxy_key(galaxy).id
        with self._read() as conn:
            if region is not None:
                row = conn.execute(
                    "SELECT id, system_count FROM region WHERE galaxy_id = ? AND name = ?",
                    (galaxy_id, region),
                ).fetchone()
                if row is None:
                    raise NotFound(f"no region named {region!r}", field="region")
                region_id, total = row
            else:
                region_id = None
                row = conn.execute("SELECT system_count FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()
                if row is None:  # another process removed it; the next key lookup sees the commit
                    raise NotFound(f"no galaxy named {galaxy!r}", field="galaxy")
                total = row[0]
            sql, params = self._page_query(galaxy_id, region_id, after, before, limit, offset)
            rows = _fetch_systems(conn, sql, params)
            if before is not None:  # a page before a name has a next page if that name or a later one exists
                later = conn.execute(*self._name_at_or_after_query(galaxy_id, region_id, before)).fetchone()
        more = len(rows) > limit
        items = rows[:limit]
        if before is not None:
            items.reverse()
            return Page(items, total, has_more=later is not None, has_previous=more)
        return Page(items, total, has_more=more, has_previous=after is not None or offset > 0)

    @staticmethod
    def _name_at_or_after_query(galaxy_id: int, region_id: int | None, name: str) -> tuple[str, tuple[Any, ...]]:
        """Whether the galaxy (or region) has a system named ``name`` or later: one index probe."""
        if region_id is not None:
            return "SELECT 1 FROM system WHERE region_id = ? AND name >= ? LIMIT 1", (region_id, name)
        return "SELECT 1 FROM system WHERE galaxy_id = ? AND name >= ? LIMIT 1", (galaxy_id, name)

    def search_query(
        self,
        galaxy_id: int,
        q: str,
        limit: int,
        after_id: int | None,
        after_name: str | None = None,
        *,
        before_id: int | None = None,
        before_name: str | None = None,
    ) -> list[tuple[str, list[Any]]]:
        """The one query builder for search: one query per index, or one for short terms.

        Terms of three characters or more: for each index of :mod:`haven.store.search`,
        its candidates in id order and without a limit (the caller merges them and
        reads until its page is full). For a galaxy that holds less than half of the
        database's systems the index itself is asked for that galaxy's rows only
        (:func:`haven.store.search.galaxy_key`), so its searches never walk a bigger
        galaxy's matches. A bigger share is searched without the key, which costs it
        at most twice the candidates and keeps its rare terms cheap (FTS5's ``AND``
        with the galaxy's long id list costs 0.6 ms at a million systems). Shorter
        terms: names that start with the term in any case, in name order after
        ``after_name``: one range of the name index per spelling of the term
        (:func:`haven.store.search.prefix_variants`), each with the limit.

        ``before_id`` / ``before_name`` read the other way (the page before a
        cursor): every query runs in descending order below that bound, each name
        range ending there, so the index still starts each query at its bound.
        """
        backward = before_id is not None or before_name is not None
        if backward and (after_id is not None or after_name is not None):
            raise ValueError("a search reads after a position or before one, not both")
        order = " DESC" if backward else ""
        if len(q) < MIN_SEARCH_CHARS:
            sql = (
                f"SELECT {SYSTEM_COLUMNS} FROM {SYSTEM_FROM} "
                f"WHERE s.galaxy_id = ? AND s.name >= ? AND s.name < ? ORDER BY s.name{order} LIMIT ?"
            )
            ranges = [(p, search.prefix_end(p) or END_OF_NAMES) for p in search.prefix_variants(q)]
            if after_name is not None:  # one lower bound per range, so the index starts there
                after = after_name + "\x00"  # the first string above after_name
                ranges = [(max(low, after), high) for low, high in ranges if after < high]
            if before_name is not None:  # one upper bound per range, so the index starts there
                ranges = [(low, min(high, before_name)) for low, high in ranges if low < before_name]
            return [(sql, [galaxy_id, low, high, limit]) for low, high in ranges]
        bound = f"f.rowid < ? ORDER BY f.rowid{order}" if backward else "f.rowid > ? ORDER BY f.rowid"
        return [
            (
                f"SELECT {SYSTEM_COLUMNS} FROM {index} f JOIN system s ON s.id = f.rowid "
                "LEFT JOIN region r ON r.id = s.region_id "
                f"WHERE {index} MATCH ? AND s.galaxy_id = ? AND {bound}",
                [match, galaxy_id, before_id if backward else after_id or 0],
            )
            for index, match in search.candidate_matches(
                self.conn, q, galaxy_id if self._a_minority(galaxy_id) else None)
        ]

    def _a_minority(self, galaxy_id: int) -> bool:
        """Whether the galaxy holds less than half of the database's systems (the galaxies' counters)."""
        return self.conn.execute(
            "SELECT 2 * (SELECT system_count FROM galaxy WHERE id = ?1) < (SELECT sum(system_count) FROM galaxy)",
            (galaxy_id,),
        ).fetchone()[0] == 1

    def search(
        self,
        galaxy: str,
        q: str,
        *,
        limit: int = 100,
        after_id: int | None = None,
        after_name: str | None = None,
        before_id: int | None = None,
        before_name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Systems whose name, materials or attributes contain ``q`` (any case), in id order.

        Terms shorter than three characters match the start of names instead, in any
        case, in name order (``after_name`` continues such a search). ``before_id`` /
        ``before_name`` give the ``limit`` answers just before that position instead
        (a previous page), still in ascending order.
        """
        _check_limit(limit)
        q = q.strip()
        if not q:
            raise InvalidInput("q must not be empty", field="q")
        if len(q) > NAME_MAX_CHARS:
            raise InvalidInput(f"q must be at most {NAME_MAX_CHARS} characters", field="q")
        if "\x00" in q:  # no stored text holds one (and the full-text parser stops there)
            raise InvalidInput(f"q {NUL_MESSAGE}", field="q")
        galaxy_id = self._galaxy_key(galaxy).id
        backward = before_id is not None or before_name is not None
        with self._read():  # one read transaction for every query of the page
            queries = self.search_query(
                galaxy_id, q, limit, after_id, after_name, before_id=before_id, before_name=before_name)
            if len(q) < MIN_SEARCH_CHARS:  # name ranges, one per spelling
                found = self._first_merged(queries, "name", limit, descending=backward)
            else:
                needle = q.casefold()  # candidates in id order, kept if they really contain the term
                found = self._first_merged(
                    queries, "id", limit, lambda text: search.contains_term(needle, text), descending=backward)
        if backward:  # read nearest-first; a page is shown in ascending order
            found.reverse()
        return found

    def _first_merged(
        self,
        queries: list[tuple[str, list[Any]]],
        order: str,
        limit: int,
        keep: Callable[[list[Any]], bool] | None = None,
        *,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """The first ``limit`` rows of several queries ordered by the same column, merged.

        ``keep`` (optional) gets a row's name, materials and attributes and drops the
        rows it refuses (see :mod:`haven.store.search`). Each cursor steps only as far as
        the merge needs, and only the rows returned become dicts: a query whose rows come
        late is not read ahead of the page. ``descending``: the queries come largest
        first, and so do the rows returned.
        """
        cursors = [self.conn.cursor() for _ in queries]
        try:
            for cur, (sql, params) in zip(cursors, queries):
                cur.row_factory = None
                cur.execute(sql, params)
            if not cursors:
                return []
            names = [c[0] for c in cursors[0].description]  # every query has the same columns
            text = [names.index(c) for c in ("name", "materials", "attributes")]
            out: list[dict[str, Any]] = []
            for row in search.merged_by(cursors, names.index(order), descending=descending):
                if keep is None or keep([row[i] for i in text]):
                    out.append(_finish_system(dict(zip(names, row))))
                    if len(out) == limit:
                        break
            return out
        finally:
            for cur in cursors:
                cur.close()

    def _children(self, conn: sqlite3.Connection, system_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Planets (with moons) and stations for a batch of systems."""
        out: dict[int, dict[str, Any]] = {sid: {"planets": [], "space_station": None} for sid in system_ids}
        if not system_ids:
            return out
        marks = ",".join("?" * len(system_ids))
        planets = conn.execute(
            f"SELECT * FROM planet WHERE system_id IN ({marks}) ORDER BY system_id, position", system_ids
        ).fetchall()
        by_planet: dict[int, dict[str, Any]] = {}
        for row in planets:
            p = _body_row(row)
            p["moons"] = []
            by_planet[p["id"]] = p
            out[p["system_id"]]["planets"].append(p)
        if by_planet:
            pmarks = ",".join("?" * len(by_planet))
            for row in conn.execute(
                f"SELECT * FROM moon WHERE planet_id IN ({pmarks}) ORDER BY planet_id, position", list(by_planet)
            ):
                m = _body_row(row)
                by_planet[m["planet_id"]]["moons"].append(m)
        for row in conn.execute(f"SELECT * FROM space_station WHERE system_id IN ({marks})", system_ids):
            out[row["system_id"]]["space_station"] = _body_row(row)
        for sid in system_ids:
            for p in out[sid]["planets"]:
                del p["system_id"], p["position"]
                for m in p["moons"]:
                    del m["planet_id"], m["position"]
            if out[sid]["space_station"]:
                del out[sid]["space_station"]["system_id"]
        return out

    @staticmethod
    def _detail_query(where: str) -> str:
        """A system's row, its galaxy's name, its seed, and whether it has stored children."""
        return (
            f"SELECT {SYSTEM_COLUMNS}, (SELECT g.name FROM galaxy g WHERE g.id = s.galaxy_id) AS galaxy, "
            "s.seed AS seed, (s.seed IS NULL AND (EXISTS (SELECT 1 FROM planet p WHERE p.system_id = s.id) "
            "OR EXISTS (SELECT 1 FROM space_station t WHERE t.system_id = s.id))) AS stored_children "
            f"FROM {SYSTEM_FROM} WHERE {where}"
        )

    def _detail(self, where: str, params: tuple[Any, ...], missing: str,
                *, inside: sqlite3.Connection | None = None) -> dict[str, Any]:
        """One system with its children, from one snapshot.

        The row says whether stored planets or a station exist, so a system
        without any costs one statement (one snapshot by itself, no BEGIN and
        COMMIT around it) instead of four. A system with stored children has
        them read in a read transaction that first checks the row's version
        (every write to a system or its children bumps it), so row and
        children are one snapshot. ``inside``: a connection in a transaction
        already (a write's answer), whose snapshot is used as it is.
        """
        query = self._detail_query(where)
        d = self._detail_row(inside or self.conn, query, params, missing)
        if d.pop("stored_children"):
            if inside is not None:
                d.update(self._children(inside, [d["id"]])[d["id"]])
            else:
                with self._read() as conn:
                    now = conn.execute("SELECT version FROM system WHERE id = ?", (d["id"],)).fetchone()
                    if now is None or now[0] != d["version"]:  # written in between: read it again
                        d = self._detail_row(conn, query, params, missing)
                        del d["stored_children"]
                    d.update(self._children(conn, [d["id"]])[d["id"]])
        seed = d.pop("seed")
        if seed is None:
            d.setdefault("planets", [])
            d.setdefault("space_station", None)
        d["derived"] = seed is not None
        if seed is not None:
            d.update(_derived_children(seed, d))
        return d

    @staticmethod
    def _detail_row(conn: sqlite3.Connection, query: str, params: tuple[Any, ...], missing: str) -> dict[str, Any]:
        """The row of :meth:`_detail_query` as a dict; :class:`NotFound` with ``missing`` if there is none."""
        cur = conn.cursor()
        cur.row_factory = None  # a plain tuple: cheaper than sqlite3.Row for one wide row
        row = cur.execute(query, params).fetchone()
        if row is None:
            raise NotFound(missing)
        return _finish_system(dict(zip([c[0] for c in cur.description], row)))

    def system(self, system_id: int) -> dict[str, Any]:
        """One system with its planets, moons and station."""
        return self._detail("s.id = ?", (system_id,), f"no system with id {system_id}")

    def _as_written(self, conn: sqlite3.Connection, system_id: int) -> dict[str, Any]:
        """:meth:`system` as ``conn``'s open transaction sees it: a write's answer.

        Read before the commit, so the answer (and the version an API answer
        gives as its ``ETag``) is what this write made, never another writer's
        change committed just after it, and a delete committed just after it
        cannot turn a write that happened into a 404.
        """
        return self._detail("s.id = ?", (system_id,), f"no system with id {system_id}", inside=conn)

    def system_galaxy(self, system_id: int) -> str | None:
        """The name of the galaxy a system id belongs to: its row's or, for a deleted system
        (whose history and undo are still served), the galaxy its latest change was recorded
        in; None for an id never used. Ids are never reused and systems never change galaxy."""
        row = self.conn.execute(
            "SELECT name FROM galaxy WHERE id = coalesce((SELECT galaxy_id FROM system WHERE id = :id), "
            "(SELECT galaxy_id FROM system_change WHERE system_id = :id ORDER BY id DESC LIMIT 1))",
            {"id": system_id},
        ).fetchone()
        return row[0] if row else None

    def system_by_name(self, galaxy: str, name: str) -> dict[str, Any]:
        galaxy_id = self._galaxy_key(galaxy).id
        return self._detail("s.galaxy_id = ? AND s.name = ?", (galaxy_id, name), f"no system named {name!r}")

    def _export_snapshot(self) -> "_Snapshot":
        """A connection of its own in one read transaction, for an iteration that spans many pages.

        See :class:`_Snapshot`. Nothing is opened until it is entered.
        """
        return _Snapshot(self)

    #: One page of :meth:`iter_systems`: the next names after a cursor, on the
    #: ``(galaxy_id, name)`` index, with the seed that says whether the children are derived.
    ITER_FIRST_PAGE_SQL = (f"SELECT {SYSTEM_COLUMNS}, s.seed AS seed FROM {SYSTEM_FROM} "
                           "WHERE s.galaxy_id = ? ORDER BY s.name LIMIT ?")
    ITER_PAGE_SQL = (f"SELECT {SYSTEM_COLUMNS}, s.seed AS seed FROM {SYSTEM_FROM} "
                     "WHERE s.galaxy_id = ? AND s.name > ? ORDER BY s.name LIMIT ?")

    def iter_systems(self, galaxy: str, *, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every system of a galaxy with its children (derived ones for generated systems), in name order.

        The whole iteration is one snapshot: every system exactly once, as it
        was when the first page was read, its children with it, whatever is
        written meanwhile. Pages of ``batch_size`` are read as they are consumed,
        so memory does not grow with the galaxy; they are all read in one read
        transaction on a connection of the iteration's own (see :class:`_Snapshot`),
        so a long export holds one snapshot open: in WAL mode writers keep going,
        but the WAL cannot be reset past it (it grows under heavy writes) until
        the iteration ends, is closed, or is dropped.
        """
        if batch_size < 1:
            raise InvalidInput("batch_size must be at least 1", field="batch_size")
        galaxy_id = self._galaxy_key(galaxy).id
        after: str | None = None
        with self._export_snapshot() as conn:
            while True:
                if after is None:
                    page = _fetch_systems(conn, self.ITER_FIRST_PAGE_SQL, (galaxy_id, batch_size))
                else:
                    page = _fetch_systems(conn, self.ITER_PAGE_SQL, (galaxy_id, after, batch_size))
                children = self._children(conn, [s["id"] for s in page if s["seed"] is None])
                for s in page:
                    seed = s.pop("seed")
                    # a generated system's details are derived, as GET /systems/{id} shows them
                    s.update(children[s["id"]] if seed is None else _derived_children(seed, s))
                if page:
                    after = page[-1]["name"]
                yield from page
                if len(page) < batch_size:
                    return

    #: One batch of :meth:`stored_batches`: a range of the primary key. ``+s.galaxy_id``
    #: keeps the planner off the indexes that start with ``galaxy_id``, which would read
    #: the whole galaxy and sort it for every batch.
    STORED_BATCH_SQL = (f"SELECT {SYSTEM_COLUMNS}, s.seed AS seed FROM {SYSTEM_FROM} "
                        "WHERE s.id > ? AND +s.galaxy_id = ? ORDER BY s.id LIMIT ?")

    def stored_batches(self, galaxy: str, *, batch_size: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """Every system of a galaxy as stored, in id order, ``batch_size`` at a time, all from one snapshot.

        Unlike :meth:`iter_systems`, a generated system comes with its ``seed``
        and no planets (they are derived from the seed, so the seed stands for
        them); a stored system comes with its stored planets, moons and station
        and ``seed`` None. Each batch is one key range of the primary key, so a
        galaxy of any size streams in O(batch) memory. As for :meth:`iter_systems`,
        every batch is read in one read transaction of the iteration's own
        connection: the batches together are the galaxy as it was at one moment.
        """
        if batch_size < 1:
            raise InvalidInput("batch_size must be at least 1", field="batch_size")
        galaxy_id = self._galaxy_key(galaxy).id
        sql = self.STORED_BATCH_SQL
        after = 0
        with self._export_snapshot() as conn:
            while True:
                batch = _fetch_systems(conn, sql, (after, galaxy_id, batch_size))
                children = self._children(conn, [s["id"] for s in batch if s["seed"] is None])
                for s in batch:
                    s.update(children.get(s["id"], {"planets": [], "space_station": None}))
                if batch:
                    after = batch[-1]["id"]
                    yield batch
                if len(batch) < batch_size:
                    return


class _Snapshot:
    """``with``: a new connection of the store's, in one read transaction (``BEGIN`` … ``COMMIT``), closed on leaving.

    For iterations that yield between their reads (exports): their pages must all
    see one snapshot, and the consumer may advance them from any thread (a
    streamed HTTP answer's ``next()`` runs on whichever worker thread is free), so
    they cannot hold a transaction open on a thread's own connection. The
    connection is opened like the store's others (read-only for a read-only store,
    rows as :class:`sqlite3.Row`, the search functions, the busy timeout and page
    cache) and listed among them while it is open, so :meth:`Connections.close`
    closes it too and ``connection_count()`` counts it. Leaving, also by an
    exception or by a generator's ``close()`` (``GeneratorExit``, a consumer that
    stopped early or was dropped), ends the transaction and closes the connection.

    The snapshot starts at the first read inside (``BEGIN`` is deferred) and is
    held until the end: in WAL mode writers keep going meanwhile, and checkpoints
    copy what they can, but the WAL cannot be reset past the snapshot, so it may
    grow until the iteration ends. On a database in a rollback-journal mode (a
    read-only backup), the read lock keeps writers out until then.
    """

    __slots__ = ("store", "conn")

    def __init__(self, store: Any) -> None:
        self.store = store
        self.conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        store = self.store
        conn = store._connect()
        try:
            conn.row_factory = sqlite3.Row
            search.register_functions(conn)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute(f"PRAGMA cache_size = -{int(store.cache_kib):d}")
            conn.execute("BEGIN")
        except BaseException:
            conn.close()
            raise
        with store._lock:
            store._connections.append(conn)
        self.conn = conn
        return conn

    def __exit__(self, *exc_info: object) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        store = self.store
        with store._lock:
            # Not listed any more: the store was closed meanwhile, and closed it.
            mine = any(c is conn for c in store._connections)
            if mine:
                store._connections[:] = [c for c in store._connections if c is not conn]
        if not mine:
            return
        try:
            if conn.in_transaction:
                conn.execute("COMMIT")  # a read transaction: nothing to write, the snapshot is let go
        except sqlite3.Error:
            pass  # closing ends it anyway
        finally:
            conn.close()
