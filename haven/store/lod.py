"""The additive level-of-detail octree, kept inside the store.

Every system has a fixed ``priority`` (a hash of its id). Every octree node
``(level, cell)`` holds at most ``capacity`` systems: the highest-priority
systems of its cube that no ancestor holds. So drawing every node down to some
depth shows a uniform random sample of that space, denser the deeper you go.

Each system row records its node as ``(lod_level, lod_cell)``; the index
``system_lod (galaxy_id, lod_level, lod_cell, priority)`` makes a node's
members one range scan, already in priority order. ``lod_node`` keeps each
node's count, lowest and highest member priority and version, so inserts and
deletes touch O(depth) nodes and clients can walk the hierarchy without
touching systems. A node's version is the galaxy's ``lod_clock`` at the write
that last changed it: it only grows, so it works as an HTTP ETag. A galaxy's
clock starts at a random value below :data:`FIRST_CLOCK_BELOW` (:func:`first_clock`),
so the same node of two databases (one served after the other at the same
address, a galaxy generated again) does not carry the same version: a browser
revalidating a chunk it cached from the other would be told "not modified".
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import numpy as np
import orjson

from haven.errors import NotFound
from haven.spatial.morton import MAX_LEVEL, cell_code_range

DEFAULT_CAPACITY = 4096
#: ``lod_level`` of a system a bulk load wrote and has not placed in the octree yet
#: (see :mod:`haven.store.bulk`); it is stored and readable, but in no node.
PENDING_LEVEL = -1
#: A new galaxy's clock starts below this: 2**40 leaves 2**53 - 2**40 writes before a
#: version passes what a JavaScript number holds exactly.
FIRST_CLOCK_BELOW = 2**40


def first_clock() -> int:
    """The ``lod_clock`` a new galaxy starts at (random: see the module's docstring)."""
    return secrets.randbelow(FIRST_CLOCK_BELOW)
PRIORITY_BITS = 31

_MASK64 = (1 << 64) - 1


def priority_of(system_id: int) -> int:
    """A system's priority: a well-mixed 31-bit hash of its id (splitmix64 finaliser)."""
    z = (system_id + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> (64 - PRIORITY_BITS)


def priorities_of(system_ids: np.ndarray) -> np.ndarray:
    """Vectorised :func:`priority_of`."""
    with np.errstate(over="ignore"):
        z = system_ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(64 - PRIORITY_BITS)).astype(np.int64)


def cell_at(code: int, level: int) -> int:
    """The node at ``level`` whose cube contains the point with this Morton code."""
    return code >> (3 * (MAX_LEVEL - level))


@dataclass
class Member:
    system_id: int
    code: int
    priority: int


class LodTree:
    """Octree maintenance for one galaxy inside an open write transaction."""

    def __init__(self, conn: sqlite3.Connection, galaxy_id: int, capacity: int, clock: int) -> None:
        self.conn = conn
        self.galaxy_id = galaxy_id
        self.capacity = capacity
        self.clock = clock  # the version stamped on every node this write changes

    # -- node bookkeeping ---------------------------------------------------

    def _node(self, level: int, cell: int) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT count, min_priority, max_priority FROM lod_node WHERE galaxy_id = ? AND level = ? AND cell = ?",
            (self.galaxy_id, level, cell),
        ).fetchone()

    def _ends(self, level: int, cell: int, highest: bool, count: int = 1) -> list[sqlite3.Row]:
        """The node's ``count`` highest (or lowest) priority members, best (or weakest) first."""
        order = "DESC" if highest else "ASC"
        return self.conn.execute(
            "SELECT id, code, priority FROM system WHERE galaxy_id = ? AND lod_level = ? AND lod_cell = ? "
            f"ORDER BY priority {order} LIMIT ?",
            (self.galaxy_id, level, cell, count),
        ).fetchall()

    def _extreme(self, level: int, cell: int, highest: bool) -> sqlite3.Row | None:
        ends = self._ends(level, cell, highest)
        return ends[0] if ends else None

    def _refresh(self, level: int, cell: int, count_delta: int) -> None:
        """Recount bounds of a node after a member joined or left, and stamp its version."""
        low = self._extreme(level, cell, highest=False)
        high = self._extreme(level, cell, highest=True)
        self._stamp(level, cell, count_delta, low["priority"] if low else None, high["priority"] if high else None)

    def _stamp(self, level: int, cell: int, count_delta: int, low: int | None, high: int | None) -> None:
        """Write a node's count change and its new priority bounds, and stamp its version."""
        self.conn.execute(
            "INSERT INTO lod_node (galaxy_id, level, cell, count, min_priority, max_priority, version) "
            "VALUES (:g, :l, :c, :d, :lo, :hi, :v) "
            "ON CONFLICT (galaxy_id, level, cell) DO UPDATE SET count = count + :d, "
            "min_priority = :lo, max_priority = :hi, version = :v",
            {"g": self.galaxy_id, "l": level, "c": cell, "d": count_delta, "lo": low, "hi": high, "v": self.clock},
        )

    def touch(self, level: int, cell: int) -> None:
        """Stamp a node whose members stay but whose content changed (a member's region, or its
        position within its Morton cell): its chunk is different, so clients must see a new version."""
        self.conn.execute(
            "UPDATE lod_node SET version = ? WHERE galaxy_id = ? AND level = ? AND cell = ?",
            (self.clock, self.galaxy_id, level, cell),
        )

    def _place(self, m: Member, level: int | None, cell: int | None) -> None:
        self.conn.execute(
            "UPDATE system SET lod_level = ?, lod_cell = ?, priority = ? WHERE id = ?",
            (level, cell, m.priority, m.system_id),
        )

    # -- insert -------------------------------------------------------------

    def insert(self, m: Member) -> None:
        """Place a new member: it stays in the first node with room or whose weakest member it beats.

        The node's new priority bounds follow from its stored ones and the two
        weakest members, so each level costs at most four statements. A demoted
        member keeps its old node in its row until it is placed one level down
        (later in this same loop): nothing reads that node again meanwhile.
        """
        level = 0
        while True:
            cell = cell_at(m.code, level)
            node = self._node(level, cell)
            count = node["count"] if node else 0
            if count < self.capacity or level == MAX_LEVEL:
                self._place(m, level, cell)
                low, high = (node["min_priority"], node["max_priority"]) if count else (None, None)
                self._stamp(level, cell, +1, m.priority if low is None else min(low, m.priority),
                            m.priority if high is None else max(high, m.priority))
                return
            if m.priority > node["min_priority"]:
                weakest, *rest = self._ends(level, cell, highest=False, count=2)
                self._place(m, level, cell)
                low = min(rest[0]["priority"], m.priority) if rest else m.priority
                self._stamp(level, cell, 0, low, max(node["max_priority"], m.priority))
                m = Member(weakest["id"], weakest["code"], weakest["priority"])
            level += 1

    # -- remove -------------------------------------------------------------

    def remove(self, level: int, cell: int, system_id: int) -> None:
        """Take a member out and refill its node from the best of its children, recursively."""
        self.conn.execute("UPDATE system SET lod_level = NULL, lod_cell = NULL WHERE id = ?", (system_id,))
        while True:
            best = self._best_child(level, cell)
            if best is None:
                self._refresh(level, cell, -1)
                return
            child_level, child_cell, promoted = best
            self._place(promoted, level, cell)
            self._refresh(level, cell, 0)
            level, cell = child_level, child_cell  # the child lost a member: refill it in turn

    def _best_child(self, level: int, cell: int) -> tuple[int, int, Member] | None:
        if level == MAX_LEVEL:
            return None
        row = self.conn.execute(
            "SELECT cell FROM lod_node WHERE galaxy_id = ? AND level = ? AND cell BETWEEN ? AND ? AND count > 0 "
            "ORDER BY max_priority DESC LIMIT 1",
            (self.galaxy_id, level + 1, cell * 8, cell * 8 + 7),
        ).fetchone()
        if row is None:
            return None
        top = self._extreme(level + 1, row["cell"], highest=True)
        return level + 1, row["cell"], Member(top["id"], top["code"], top["priority"])


_PATH_SQL = (
    "WITH path (level, cell) AS (VALUES " + ", ".join(["(?, ?)"] * (MAX_LEVEL + 1)) + ") "
    "SELECT n.level, n.count FROM path CROSS JOIN lod_node n "  # CROSS: probe nodes per path entry
    "ON n.galaxy_id = ? AND n.level = path.level AND n.cell = path.cell"
)


def systems_per_ly3_at(conn: sqlite3.Connection, galaxy_id: int, code: int, side_ly: float) -> float | None:
    """About how many systems per cubic light year there are around a Morton code (None: no octree yet).

    Read from the nodes on the code's path (one statement, O(depth) index probes):
    the deepest node there holds its own members plus about ``count / 8^k`` of each
    ancestor ``k`` levels up, whose members sample the ancestor's cube evenly.
    It assumes the deepest node's cube is evenly filled, so it is low where a
    tight cluster sits in a large, otherwise empty node. ``side_ly`` is the
    galaxy cube's side. A scheduling hint, not an answer.
    """
    params: list[int] = []
    for level in range(MAX_LEVEL + 1):
        params += (level, cell_at(code, level))
    counts = dict(conn.execute(_PATH_SQL, (*params, galaxy_id)).fetchall())
    if not counts:
        return None
    deepest = max(counts)
    held = sum(count / 8.0 ** (deepest - level) for level, count in counts.items())
    return held / (side_ly / (1 << deepest)) ** 3


def next_clock(conn: sqlite3.Connection, galaxy_id: int) -> int:
    """Advance the galaxy's LOD clock; the new value versions every node this write touches."""
    row = conn.execute(
        "UPDATE galaxy SET lod_clock = lod_clock + 1 WHERE id = ? RETURNING lod_clock", (galaxy_id,)
    ).fetchone()
    if row is None:  # removed by another process since this one looked it up
        raise NotFound("the galaxy no longer exists", field="galaxy")
    return row[0]


def assign_levels(codes: np.ndarray, priorities: np.ndarray, capacity: int,
                  *, first_level: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bulk build: the node of every system, filling levels greedily in priority order.

    Returns ``(level, cell)`` arrays aligned with the inputs. At each level the
    systems not yet placed are grouped by cell; the ``capacity`` best of each
    group stay, the rest go one level down. ``first_level`` > 0 places the
    systems of one cube at that level whose ancestors' members were taken out.
    """
    n = len(codes)
    levels = np.full(n, -1, dtype=np.int8)  # MAX_LEVEL fits: a byte a system, not eight
    cells = np.zeros(n, dtype=np.int64)
    remaining = np.arange(n)
    for level in range(first_level, MAX_LEVEL + 1):
        if remaining.size == 0:
            break
        cell = codes[remaining] >> np.int64(3 * (MAX_LEVEL - level))
        order = np.lexsort((-priorities[remaining], cell))
        sorted_cells = cell[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_cells)) + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, sorted_cells.size]))
        rank = np.arange(sorted_cells.size) - group_start
        keep = rank < capacity if level < MAX_LEVEL else np.ones_like(rank, dtype=bool)
        chosen = remaining[order[keep]]
        levels[chosen] = level
        cells[chosen] = sorted_cells[keep]
        remaining = remaining[order[~keep]]
    return levels, cells


#: A bulk octree build holds the arrays of at most about this many systems at once (about
#: 150 bytes each, with the text they are read as). A larger galaxy is placed one cube of
#: the octree at a time (see :func:`rebuild`), so a build's memory does not grow with the
#: galaxy. Keep it under about 30 million: a part is read as one text, and SQLite's texts
#: end at 1 GB.
PLACE_BUDGET_SYSTEMS = 2_000_000

_COUNT_IN_CODES_SQL = "SELECT count(*) FROM system INDEXED BY system_code WHERE galaxy_id = ? AND code BETWEEN ? AND ?"
#: Read as one text of comma-separated integers: about 30% faster than a Python tuple per row.
_IDS_IN_CODES_SQL = ("SELECT group_concat(id || ',' || code, ',') FROM system INDEXED BY system_code "
                     "WHERE galaxy_id = ? AND code BETWEEN ? AND ?")
#: Systems of a galaxy not yet in a node: bulk-loaded (level -1) or from before the octree (NULL).
_UNPLACED_SQL = ("SELECT (SELECT count(*) FROM system WHERE galaxy_id = ? AND lod_level IS NULL) "
                 "+ (SELECT count(*) FROM system WHERE galaxy_id = ? AND lod_level < 0)")
_NODE_RANGE_SQL = ("SELECT group_concat(id || ',' || lod_cell, ',') FROM system INDEXED BY system_lod "
                   "WHERE galaxy_id = ? AND lod_level = ? AND lod_cell BETWEEN ? AND ?")


@dataclass(frozen=True, order=True)
class OctreeCube:
    """One node's cube: ``(level, cell)``; its systems are one range of Morton codes."""

    level: int
    cell: int

    @property
    def codes(self) -> tuple[int, int]:
        """The first and last Morton code inside the cube."""
        return cell_code_range(self.level, self.cell)

    def ancestor(self, level: int) -> OctreeCube:
        """The cube at ``level`` (above this one) that contains this one."""
        return OctreeCube(level, cell_at(self.codes[0], level))

    def cells_at(self, level: int) -> tuple[int, int]:
        """The first and last cell at ``level`` that overlap this cube: its ancestor there, or its descendants."""
        first_code, last_code = self.codes
        return cell_at(first_code, level), cell_at(last_code, level)


def split_for_placement(conn: sqlite3.Connection, galaxy_id: int, total: int,
                        budget_systems: int) -> tuple[list[OctreeCube], list[OctreeCube]]:
    """``(parts, inner)``: cubes of at most ``budget_systems`` systems that tile the galaxy's
    systems (in code order), and the larger cubes above them (parents first).

    Only cubes holding more than the budget are split, each into its eight children,
    counted on the ``(galaxy_id, code)`` index: every level that is split costs one
    scan of that index.
    """
    parts: list[OctreeCube] = []
    inner: list[OctreeCube] = []

    def visit(cube: OctreeCube, count: int) -> None:
        if count == 0:
            return
        if count <= budget_systems or cube.level == MAX_LEVEL:
            parts.append(cube)
            return
        inner.append(cube)
        first, last = cube.cells_at(cube.level + 1)
        for cell in range(first, last + 1):
            child = OctreeCube(cube.level + 1, cell)
            visit(child, conn.execute(_COUNT_IN_CODES_SQL, (galaxy_id, *child.codes)).fetchone()[0])

    visit(OctreeCube(0, 0), total)
    return parts, inner


def _ranked(ids: np.ndarray, priorities: np.ndarray) -> np.ndarray:
    """Positions in the octree's order of preference: highest priority first, then oldest (lowest id)."""
    return np.lexsort((ids, -priorities))


class _Members(NamedTuple):
    """Systems as aligned arrays of ids and Morton codes (priorities are a hash of the ids)."""

    ids: np.ndarray
    codes: np.ndarray

    def take(self, index: np.ndarray) -> _Members:
        """The members at these positions, in this order."""
        return _Members(self.ids[index], self.codes[index])

    def best(self, k: int) -> _Members:
        """The ``k`` the octree prefers, in its order of preference."""
        return self.take(_ranked(self.ids, priorities_of(self.ids))[:k])

    @staticmethod
    def concat(groups: Iterable[_Members]) -> _Members:
        """All members of several groups, one group after the other."""
        listed = list(groups)
        return _Members(np.concatenate([g.ids for g in listed]), np.concatenate([g.codes for g in listed]))


def _place_inner(candidates: dict[OctreeCube, _Members], capacity: int) -> tuple[_Members, np.ndarray, np.ndarray]:
    """The members of the cubes too large to place whole: ``(members, levels, cells)``, by code.

    ``candidates[cube]`` are the ``capacity * (level + 1)`` best systems of a cube at
    ``level``: every system that cube or its ancestors hold is among them (each
    ancestor, and the cube, holds at most ``capacity`` of the cube's systems, and
    each holds the best of what is left). So, parents first, each cube holds the
    ``capacity`` best of its candidates that its ancestors did not take: what the
    greedy fill of :func:`assign_levels` gives it on the whole galaxy. Empties
    ``candidates`` as it goes.
    """
    picks: dict[OctreeCube, _Members] = {}
    for cube in sorted(candidates):  # by level: every ancestor of a large cube is a large cube
        mine = candidates.pop(cube)
        if cube.level:
            taken = np.concatenate([picks[cube.ancestor(level)].ids for level in range(cube.level)])
            mine = mine.take(np.flatnonzero(~np.isin(mine.ids, taken)))
        picks[cube] = mine.best(capacity)
    if not picks:
        empty = np.empty(0, dtype=np.int64)
        return _Members(empty, empty), np.empty(0, dtype=np.int8), empty
    held = _Members.concat(picks.values())
    sizes = [len(m.ids) for m in picks.values()]
    levels = np.repeat(np.array([c.level for c in picks], dtype=np.int8), sizes)
    cells = np.repeat(np.array([c.cell for c in picks], dtype=np.int64), sizes)
    by_code = np.argsort(held.codes, kind="stable")
    return held.take(by_code), levels[by_code], cells[by_code]


def _nodes_now(conn: sqlite3.Connection, galaxy_id: int, part: OctreeCube) -> np.ndarray:
    """``(id, level, cell)`` rows, by id, of the nodes a part's systems may sit in now: those
    inside its cube and those of its ancestors (whose members may lie outside it).

    Range scans of the ``system_lod`` index, one per level: sequential reads,
    where reading the rows by code would read the table.
    """
    found = []
    for level in range(MAX_LEVEL + 1):
        rows = _int_rows(conn, _NODE_RANGE_SQL, (galaxy_id, level, *part.cells_at(level)), 2)
        found.append(np.column_stack([rows[:, 0], np.full(len(rows), level, dtype=np.int64), rows[:, 1]]))
    now = np.concatenate(found)
    return now[np.argsort(now[:, 0], kind="stable")]


def _moved(ids: np.ndarray, levels: np.ndarray, cells: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Positions in ``ids`` (ascending) whose node is not ``(levels, cells)`` in ``now``; a system
    found in no node there (new, pending, or from before the octree) has moved too."""
    if len(now) == 0:
        return np.arange(len(ids))
    at = np.minimum(np.searchsorted(now[:, 0], ids), len(now) - 1)
    same = (now[at, 0] == ids) & (now[at, 1] == levels) & (now[at, 2] == cells)
    return np.flatnonzero(~same)


def rebuild(conn: sqlite3.Connection, galaxy_id: int, capacity: int,
            timings: dict[str, float] | None = None, *, all_pending: bool = False,
            budget_systems: int | None = None) -> int:
    """Recompute the whole octree of one galaxy from its systems (bulk loads, migrations).

    Gives the same nodes as inserting every system one by one. The galaxy is
    placed in parts of at most ``budget_systems`` (default
    :data:`PLACE_BUDGET_SYSTEMS`) systems, cubes of the octree read one at a
    time from the ``(galaxy_id, code)`` index; the members of the cubes above
    them come first, from each part's best systems (:func:`_place_inner`). A
    galaxy within the budget is one part. Only rows whose node changes are
    rewritten, found by reading the nodes from the ``system_lod`` index, unless
    many rows are new: with ``all_pending``, or when the galaxy's systems not
    yet in a node are over a quarter of the database's, every row is
    rewritten and that index dropped and rebuilt around the update (inside the
    caller's transaction: readers keep using their snapshot's index). Rows
    must already hold their priority (:func:`priority_of`, written whenever a
    row is stored); only the node columns are rewritten. Returns the number
    of nodes.
    """
    t = time.perf_counter()

    def tick(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + now - t
        t = now

    budget = PLACE_BUDGET_SYSTEMS if budget_systems is None else budget_systems
    n = conn.execute("SELECT system_count FROM galaxy WHERE id = ?", (galaxy_id,)).fetchone()[0]
    if n == 0 and conn.execute("SELECT 1 FROM system WHERE galaxy_id = ? LIMIT 1", (galaxy_id,)).fetchone():
        raise RuntimeError(f"galaxy {galaxy_id} counts no systems but holds some")
    parts, inner = split_for_placement(conn, galaxy_id, n, budget)

    def read(cube: OctreeCube) -> _Members:
        # A covering index scan (sequential), then id order: ties in priority go to
        # the older system, as when inserting one by one.
        rows = _int_rows(conn, _IDS_IN_CODES_SQL, (galaxy_id, *cube.codes), 2)
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
        return _Members(rows[:, 0].copy(), rows[:, 1].copy())

    candidates: dict[OctreeCube, _Members] = {}
    if inner:
        for part in parts:
            best = read(part).best(capacity * part.level)  # all that its ancestors can take from it
            tick("octree_read")
            for level in range(part.level):
                cube, keep = part.ancestor(level), capacity * (level + 1)
                mine = best.take(np.arange(min(keep, len(best.ids))))
                if cube in candidates:
                    mine = _Members.concat([candidates[cube], mine]).best(keep)
                candidates[cube] = mine
            tick("octree_assign")
    held, held_levels, held_cells = _place_inner(candidates, capacity)

    index_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'system_lod'").fetchone()
    rebuild_index = False
    if index_sql is not None:
        table_rows = conn.execute("SELECT coalesce(sum(system_count), 0) FROM galaxy").fetchone()[0]
        unplaced = n if all_pending else conn.execute(_UNPLACED_SQL, (galaxy_id, galaxy_id)).fetchone()[0]
        rebuild_index = unplaced * 4 > table_rows
    rewrite_all = all_pending or rebuild_index or index_sql is None
    if rebuild_index:
        conn.execute("DROP INDEX system_lod")
    clock = conn.execute(
        "UPDATE galaxy SET lod_clock = lod_clock + 1 WHERE id = ? RETURNING lod_clock", (galaxy_id,)
    ).fetchone()[0]
    conn.execute("DELETE FROM lod_node WHERE galaxy_id = ?", (galaxy_id,))
    node_count = 0

    def write_nodes(node_levels: np.ndarray, node_cells: np.ndarray, member_priorities: np.ndarray) -> None:
        nonlocal node_count
        table = node_table(node_levels, node_cells, member_priorities)
        conn.executemany(
            "INSERT INTO lod_node (galaxy_id, level, cell, count, min_priority, max_priority, version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((galaxy_id, lv, c, k, lo, hi, clock) for lv, c, k, lo, hi in table),
        )
        node_count += len(table)

    write_nodes(held_levels, held_cells, priorities_of(held.ids))
    placed = 0
    for part in parts:
        members = read(part)
        priorities = priorities_of(members.ids)
        placed += len(members.ids)
        tick("octree_read")
        levels, cells = np.empty(len(members.ids), dtype=np.int8), np.empty(len(members.ids), dtype=np.int64)
        first, last = np.searchsorted(held.codes, part.codes[0]), np.searchsorted(held.codes, part.codes[1], "right")
        above = np.isin(members.ids, held.ids[first:last])
        if above.any():  # members of the cubes above this part, placed by _place_inner
            by_id = first + np.argsort(held.ids[first:last])
            at = by_id[np.searchsorted(held.ids[by_id], members.ids[above])]
            levels[above], cells[above] = held_levels[at], held_cells[at]
        rest = np.flatnonzero(~above)
        rest_levels, rest_cells = assign_levels(members.codes[rest], priorities[rest], capacity,
                                                first_level=part.level)
        levels[rest], cells[rest] = rest_levels, rest_cells
        if rewrite_all:
            # Most rows change (a bulk load's are all new): rewrite them all rather than read the old nodes.
            changed = np.arange(len(members.ids))
        else:
            changed = _moved(members.ids, levels, cells, _nodes_now(conn, galaxy_id, part))
        tick("octree_assign")
        _set_nodes(conn, members.ids[changed], levels[changed])
        tick("octree_update")
        write_nodes(rest_levels, rest_cells, priorities[rest])
        tick("octree_nodes")
    if placed != n:
        raise RuntimeError(f"galaxy {galaxy_id} counts {n} systems but holds {placed}")
    if rebuild_index:
        conn.execute(index_sql[0])
        tick("octree_index")
    return node_count



#: Puts systems in their nodes, all at one level: each row's cell follows from its
#: code (:func:`cell_at`), and its priority is left alone (written when the row was).
_SET_NODES_SQL = (
    "UPDATE system SET lod_level = ?1, lod_cell = code >> (3 * (?2 - ?1)) "
    "WHERE id IN (SELECT value FROM json_each(?3))"
)
SET_NODES_SLICE = 262_144  # ids per statement: about 2.5 MB of JSON text


def _set_nodes(conn: sqlite3.Connection, ids: np.ndarray, levels: np.ndarray) -> None:
    """Record each system's node, ``(levels[i], its cell at that level)``, in its row.

    One statement per level and slice of ids, which SQLite reads as one JSON text:
    about 40 % less time than a statement per row from Python at a bulk load's
    millions of rows, and the ids need never become Python ints.
    """
    for level in np.unique(levels).tolist():
        at_level = ids[levels == level]
        for start in range(0, len(at_level), SET_NODES_SLICE):
            text = orjson.dumps(at_level[start:start + SET_NODES_SLICE], option=orjson.OPT_SERIALIZE_NUMPY)
            conn.execute(_SET_NODES_SQL, (level, MAX_LEVEL, text.decode()))


SET_PRIORITIES_SLICE = 65_536  # rows per statement batch of _set_priorities


def _set_priorities(conn: sqlite3.Connection, galaxy_id: int) -> None:
    """Write every system's priority (:func:`priority_of`) into its row, for rows stored before
    priorities were (the migration that introduced the octree)."""
    after = 0
    while True:
        # ``+galaxy_id``: walk the table by id; the galaxy's index would sort all its remaining rows each time
        part = _int_rows(conn, "SELECT group_concat(id) FROM (SELECT id FROM system WHERE id > ? "
                               "AND +galaxy_id = ? ORDER BY id LIMIT ?)", (after, galaxy_id, SET_PRIORITIES_SLICE), 1)[:, 0]
        if len(part) == 0:
            return
        conn.executemany("UPDATE system SET priority = ? WHERE id = ?", zip(priorities_of(part).tolist(), part.tolist()))
        after = int(part.max())


def _int_rows(conn: sqlite3.Connection, sql: str, params: tuple[int, ...], width: int) -> np.ndarray:
    """Rows of ``width`` integers from a query that returns them as one comma-separated text."""
    text = conn.execute(sql, params).fetchone()[0]
    return np.fromstring(text or "", dtype=np.int64, sep=",").reshape(-1, width)



def node_table(levels: np.ndarray, cells: np.ndarray, priorities: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """``(level, cell, count, min_priority, max_priority)`` for every non-empty node."""
    if levels.size == 0:
        return []
    order = np.lexsort((priorities, cells, levels))
    lv, c, p = levels[order], cells[order], priorities[order]
    boundary = np.r_[True, (np.diff(lv) != 0) | (np.diff(c) != 0)]
    starts = np.flatnonzero(boundary)
    ends = np.r_[starts[1:], lv.size] - 1
    return list(
        zip(lv[starts].tolist(), c[starts].tolist(), (ends - starts + 1).tolist(),
            p[starts].tolist(), p[ends].tolist())
    )


def rebuild_all(conn: sqlite3.Connection) -> None:
    """Give every system its priority and build every galaxy's octree (the migration that introduces them)."""
    for galaxy_id, capacity in conn.execute("SELECT id, lod_capacity FROM galaxy").fetchall():
        _set_priorities(conn, galaxy_id)
        rebuild(conn, galaxy_id, capacity)
