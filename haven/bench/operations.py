"""The benchmark: a generated galaxy, seeded parameters, and every operation timed twice.

Each operation runs in-process (straight on the store / chunk service) and,
unless disabled, over HTTP against ``uvicorn`` serving ``haven.api.app`` in a
separate process on 127.0.0.1 (so the server's peak RSS is its own). Writes
are committed (the store's normal ``synchronous`` setting) and the systems the
benchmark adds are deleted again, so a dataset can be reused run after run.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from haven.api.allocator import allocator_setting
from haven.bench.client import LeanClient
from haven.bench.runner import Timing, peak_rss_bytes, reset_peak_rss, time_calls
from haven.chunks.live import LIVE_INTERVAL_S
from haven.chunks.service import ChunkService
from haven.config import DEFAULT_GALAXY, DatabaseUrl
from haven.model import SystemIn, validate_patch, validate_system
from haven.store import SQLiteStore, init_store
from haven.store.scratch import remove_database_files

#: Operations in report order: (key, what is timed).
OPERATIONS: list[tuple[str, str]] = [
    ("page_first", "first page (100) with total"),
    ("page_next", "next page (100) at a random cursor"),
    ("region_page", "region page (100) at a random cursor"),
    ("search_common", 'search "Gold" (~5% of systems), 100 results'),
    ("search_rare", "search a rare name suffix"),
    ("detail_generated", "system detail, derived planets and moons"),
    ("detail_stored", "system detail, stored 5 planets × 2 moons"),
    ("sphere_50", "sphere 50 LY (limit 5000)"),
    ("sphere_500", "sphere 500 LY (limit 5000)"),
    ("chunk_build", "chunk build from rows (first fetch after an edit)"),
    ("chunk_cold", "chunk fetch, stored bytes (fresh process)"),
    ("chunk_warm", "chunk fetch, warm (in-memory bytes)"),
    ("insert", "insert system + 5 planets × 2 moons"),
    ("update", "update (patch) a system with 10 children"),
    ("delete", "delete a system with 10 children"),
]

#: Tables (with their indexes) that hold the galaxy itself; the search index is counted apart.
CORE_TABLES = ("galaxy", "region", "system", "planet", "moon", "space_station", "lod_node")
FTS_PREFIX = "system_fts"
#: Names of the systems the benchmark writes (leftovers of a killed run are removed first).
BENCH_NAME_PREFIX = "~haven-bench "
PAGE_SIZE = 100
SPHERE_LIMIT = 5000
LOAD_CLIENTS = 16  # clients at once in the load phase, each on its own connection
CHUNK_SIZE_SAMPLE = 50
META_BUILD_KEY = "bench:build"


@dataclass
class BenchConfig:
    """What to benchmark; ``database`` overrides ``data_dir/haven-N.db``."""

    n_systems: int
    seed: int = 42
    data_dir: Path = Path("bench-data")
    calls: int = 200  # nearest rank: p95 is then the 11th slowest call and p99 the 3rd
    http: bool = True
    import_rate: bool = True  # also time an import of the galaxy as Parquet (needs disk about the database's size)
    galaxy: str = DEFAULT_GALAXY
    database: Path | None = None
    progress: Callable[[str], None] = field(default=lambda msg: None)

    @property
    def db_path(self) -> Path:
        return self.database or self.data_dir / f"haven-{self.n_systems}.db"


# -- the dataset ------------------------------------------------------------------------


def ensure_dataset(cfg: BenchConfig) -> tuple[SQLiteStore, dict[str, Any]]:
    """Open the benchmark galaxy, generating it first unless it exists with the same N and seed.

    A build that was killed (same N and seed, no build record yet) is resumed, not
    started again: ``generate_galaxy`` skips the batches already written. A file
    holding another galaxy is replaced. Returns the store and the build record
    (import rate of the run that built it; for a resumed build, of the rows written
    by the run that finished it).
    """
    from haven.ingest.bulk import generate_galaxy, procgen_spec

    path = cfg.db_path
    path.parent.mkdir(parents=True, exist_ok=True)
    resuming = False
    if path.exists():
        store = init_store(DatabaseUrl("sqlite", str(path)), bulk=True)
        spec = procgen_spec(store, cfg.galaxy) if cfg.galaxy in {g["name"] for g in store.galaxies()} else None
        record = store.meta_value(META_BUILD_KEY)
        same = bool(spec) and spec["n_systems"] == cfg.n_systems and spec["seed"] == cfg.seed
        if same and record:
            cfg.progress(f"reusing {path} ({cfg.n_systems:,} systems, seed {cfg.seed})")
            return store, {**orjson.loads(record), "reused": True}
        if same:
            resuming = True
            cfg.progress(f"{path} holds an unfinished build of this galaxy; resuming it")
        else:
            store.close()
            cfg.progress(f"{path} holds another galaxy; rebuilding it")
            remove_database_files(path)
    if not resuming:
        store = init_store(DatabaseUrl("sqlite", str(path)), bulk=True)
    cfg.progress(f"generating {cfg.n_systems:,} systems (seed {cfg.seed}) into {path}")
    reset_peak_rss()
    t0 = time.perf_counter()
    summary = generate_galaxy(store, cfg.galaxy, cfg.n_systems, cfg.seed)
    seconds = time.perf_counter() - t0
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # so the file size is the database's
    written = summary["rows_this_run"]  # all N unless resuming
    record = {
        "systems": cfg.n_systems,
        "seed": cfg.seed,
        "seconds": round(seconds, 2),
        "rate_systems_per_s": round(written / seconds) if seconds > 0 and written else None,
        "resumed": resuming,
        "systems_this_run": written,
        "peak_rss_bytes": peak_rss_bytes(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "timings_s": summary.get("timings_s", {}),
    }
    store.set_meta_value(META_BUILD_KEY, orjson.dumps(record).decode())
    return store, {**record, "reused": False}


def remove_leftovers(store: SQLiteStore, galaxy: str) -> int:
    """Delete systems a killed benchmark run left behind (their names sort together)."""
    removed = 0
    while True:
        page = store.page(galaxy, after=BENCH_NAME_PREFIX, limit=100)
        mine = [s for s in page.items if s["name"].startswith(BENCH_NAME_PREFIX)]
        for s in mine:
            store.delete(s["id"])
        removed += len(mine)
        if len(mine) < len(page.items) or not page.has_more:
            return removed


# -- parameters ------------------------------------------------------------------------


@dataclass
class Params:
    """Seeded query parameters, the same for in-process and HTTP runs."""

    names: list[str]
    regions: list[tuple[str, str]]  # (region, a name to start after)
    rare_terms: list[str]
    detail_ids: list[int]
    centres: list[tuple[float, float, float]]
    nodes: list[tuple[int, int]]
    size_nodes: list[tuple[int, int]]


def _random_rows(conn: sqlite3.Connection, rng: random.Random, k: int) -> list[sqlite3.Row]:
    """``k`` random systems (by id, O(log n) each; gaps in ids are skipped)."""
    lo, hi = conn.execute("SELECT min(id), max(id) FROM system").fetchone()
    rows: list[sqlite3.Row] = []
    while len(rows) < k:
        row = conn.execute(
            "SELECT s.id, s.name, s.x, s.y, s.z, r.name AS region FROM system s "
            "LEFT JOIN region r ON r.id = s.region_id WHERE s.id >= ? ORDER BY s.id LIMIT 1",
            (rng.randint(lo, hi),),
        ).fetchone()
        if row is not None and not row["name"].startswith(BENCH_NAME_PREFIX):
            rows.append(row)
    return rows


def make_params(store: SQLiteStore, cfg: BenchConfig) -> Params:
    """Draw every operation's parameters from ``random.Random(seed)``."""
    rng = random.Random(cfg.seed)
    rows = _random_rows(store.conn, rng, cfg.calls * 5)
    take = iter(rows)
    names = [next(take)["name"] for _ in range(cfg.calls)]
    regions = [(r["region"], r["name"]) for r in (next(take) for _ in range(cfg.calls)) if r["region"]]
    rare: list[str] = []
    for r in rows:
        token = r["name"].split()[-1]
        if len(token) >= 3 and len(rare) < cfg.calls:
            rare.append(token)
    detail_ids = [next(take)["id"] for _ in range(cfg.calls)]
    centres = [(r["x"], r["y"], r["z"]) for r in (next(take) for _ in range(cfg.calls))]
    nodes = [(n["level"], n["cell"]) for n in store.lod_hierarchy(cfg.galaxy, 0, 0, 4)["nodes"]]
    rng.shuffle(nodes)
    return Params(names, regions, rare, detail_ids, centres, nodes[: cfg.calls], nodes[:CHUNK_SIZE_SAMPLE])


def system_with_children(name: str, x: float, y: float, z: float) -> SystemIn:
    """A system with 5 planets of 2 moons each (10 children beyond the planets' 5)."""
    planets = [
        {
            "name": f"Planet {p + 1}",
            "fauna": "Rich", "flora": "Lush", "sentinel": "Low", "materials": "Copper, Carbon",
            "moons": [{"name": f"Moon {p + 1}-{m + 1}", "orbit_radius": 1.5 + m, "orbit_speed": 0.1} for m in range(2)],
        }
        for p in range(5)
    ]
    return validate_system({
        "name": name, "x": x, "y": y, "z": z, "region": None,
        "fauna": "Rich", "flora": "Lush", "sentinel": "Low", "materials": "Gold, Copper",
        "planets": planets,
    })


# -- in-process ------------------------------------------------------------------------


def run_in_process(store: SQLiteStore, cfg: BenchConfig, p: Params) -> dict[str, Timing]:
    """Time every operation directly on the store and the chunk service."""
    g = cfg.galaxy
    store.start_background_maintenance()  # as `haven serve` does: commits never checkpoint or merge
    # The last run's writes left a one-row search segment each; a server's maintenance
    # thread merges them within its first round. Timing starts from that steady state.
    store.merge_search_index()
    gc.freeze()  # as `haven serve` does after startup
    t: dict[str, Timing] = {key: Timing(key, "in-process") for key, _ in OPERATIONS}
    n = len
    time_calls(t["page_first"], lambda _: store.page(g, limit=PAGE_SIZE), range(cfg.calls),
               count=lambda r: n(r.items), warmup=1)
    time_calls(t["page_next"], lambda a: store.page(g, after=a, limit=PAGE_SIZE), p.names,
               count=lambda r: n(r.items))
    time_calls(t["region_page"], lambda ra: store.page(g, region=ra[0], after=ra[1], limit=PAGE_SIZE), p.regions,
               count=lambda r: n(r.items))
    time_calls(t["search_common"], lambda _: store.search(g, "Gold", limit=PAGE_SIZE), range(cfg.calls), count=n,
               warmup=1)
    time_calls(t["search_rare"], lambda q: store.search(g, q, limit=PAGE_SIZE), p.rare_terms, count=n)
    time_calls(t["detail_generated"], store.system, p.detail_ids, count=lambda s: n(s["planets"]))
    stored = store.create(g, system_with_children(BENCH_NAME_PREFIX + "stored detail", *p.centres[0]))
    try:
        time_calls(t["detail_stored"], lambda _: store.system(stored["id"]), range(cfg.calls),
                   count=lambda s: n(s["planets"]))
    finally:
        store.delete(stored["id"])
    for radius in (50, 500):
        time_calls(t[f"sphere_{radius}"], lambda c, r=radius: store.near(g, *c, r, limit=SPHERE_LIMIT), p.centres,
                   count=n)
    time_calls(t["chunk_build"], lambda node: ChunkService(store).build(g, *node), p.nodes,
               count=lambda c: c.count)
    for node in p.nodes:  # what the first fetch after a build leaves behind
        ChunkService(store).get(g, *node)
    time_calls(t["chunk_cold"], lambda node: ChunkService(store).get(g, *node), p.nodes,
               count=lambda c: c.count)
    warm = ChunkService(store)
    for node in p.nodes:
        warm.get(g, *node)
    time_calls(t["chunk_warm"], lambda node: warm.get(g, *node), p.nodes, count=lambda c: c.count)
    ids: list[int] = []
    time_calls(t["insert"], lambda i: ids.append(store.create(g, system_with_children(
        f"{BENCH_NAME_PREFIX}insert {i}", *p.centres[i % n(p.centres)]))["id"]), range(cfg.calls))
    time_calls(t["update"], lambda sid: store.patch(sid, validate_patch({"fauna": "Bountiful", "attributes": "edited"})),
               ids)
    time_calls(t["delete"], store.delete, ids)
    t["chunk_cold"].note = "new ChunkService per call (empty LRU): one lod_chunk row; SQLite page cache warm"
    return t


# -- over HTTP ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def http_server(db_path: Path, galaxy: str, timeout_s: float = 60.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``uvicorn`` serving the app on a free 127.0.0.1 port in a child process; yields (base URL, process)."""
    import httpx

    port = free_port()
    env = {**os.environ, "HAVEN_DATABASE_URL": f"sqlite:///{db_path.resolve()}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "haven.api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--ws-per-message-deflate", "false"],  # as `haven serve`: chunk bodies are gzip already
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the HTTP server exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not answer /healthz in time")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ok(response: Any) -> Any:
    response.raise_for_status()
    return response


def run_http(base: str, cfg: BenchConfig, p: Params) -> dict[str, Timing]:
    """Time the same operations through ``/api/v1`` on one keep-alive connection (:mod:`haven.bench.client`)."""
    api = "/api/v1"
    t: dict[str, Timing] = {key: Timing(key, "http") for key, _ in OPERATIONS}
    items = lambda r: len(r.json()["items"])  # noqa: E731
    with LeanClient(base, headers={"Accept-Encoding": "gzip"}) as c:
        get = lambda path, **params: _ok(c.get(path, params=params))  # noqa: E731
        time_calls(t["page_first"], lambda _: get(f"{api}/systems", limit=PAGE_SIZE), range(cfg.calls), count=items,
                   warmup=1)
        # A cursor is opaque: take it from a prefix jump (untimed), then time following it.
        cursors = [get(f"{api}/systems", prefix=name, limit=PAGE_SIZE).json()["next"] for name in p.names]
        time_calls(t["page_next"], lambda cur: get(f"{api}/systems", cursor=cur, limit=PAGE_SIZE),
                   [x for x in cursors if x], count=items)
        # A region's page after a random name may be its last (small galaxies): then the prefix jump is timed.
        region_calls = [(r, get(f"{api}/systems", region=r, prefix=name, limit=PAGE_SIZE).json()["next"], name)
                        for r, name in p.regions]
        time_calls(t["region_page"],
                   lambda rc: get(f"{api}/systems", region=rc[0], limit=PAGE_SIZE,
                                  **({"cursor": rc[1]} if rc[1] else {"prefix": rc[2]})),
                   region_calls, count=items)
        t["page_next"].note = "cursor taken (untimed) from a prefix jump to a random name"
        jumps = sum(1 for rc in region_calls if not rc[1])
        t["region_page"].note = "cursor taken (untimed) from a prefix jump to a random name" + (
            f"; {jumps} calls timed the prefix jump itself (no next page)" if jumps else "")
        time_calls(t["search_common"], lambda _: get(f"{api}/systems/search", q="Gold", limit=PAGE_SIZE),
                   range(cfg.calls), count=items, warmup=1)
        time_calls(t["search_rare"], lambda q: get(f"{api}/systems/search", q=q, limit=PAGE_SIZE), p.rare_terms,
                   count=items)
        time_calls(t["detail_generated"], lambda sid: get(f"{api}/systems/{sid}"), p.detail_ids,
                   count=lambda r: len(r.json()["planets"]))
        # Chunks before any write over HTTP: a write bumps the versions of the nodes it
        # touches, and the next fetch of such a node rebuilds it instead of serving bytes.
        chunk_count = lambda r: int(r.headers.get("X-Haven-Count", 0))  # noqa: E731
        time_calls(t["chunk_cold"], lambda node: get(f"/api/v1/chunks/{node[0]}/{node[1]}"), p.nodes,
                   count=chunk_count)
        time_calls(t["chunk_warm"], lambda node: get(f"/api/v1/chunks/{node[0]}/{node[1]}"), p.nodes,
                   count=chunk_count)
        t["chunk_cold"].note = "first fetch of each node by the fresh server (stored bytes)"
        body = system_with_children(BENCH_NAME_PREFIX + "stored detail http", *p.centres[0]).model_dump(mode="json")
        stored = _ok(c.post(f"{api}/systems", json=body)).json()
        try:
            time_calls(t["detail_stored"], lambda _: get(f"{api}/systems/{stored['id']}"), range(cfg.calls),
                       count=lambda r: len(r.json()["planets"]))
        finally:
            _ok(c.delete(f"{api}/systems/{stored['id']}"))
        for radius in (50, 500):
            time_calls(t[f"sphere_{radius}"],
                       lambda ctr, r=radius: get(f"{api}/systems/near", x=ctr[0], y=ctr[1], z=ctr[2], radius=r,
                                                 limit=SPHERE_LIMIT),
                       p.centres, count=items)
        ids: list[int] = []

        def insert(i: int) -> None:
            body = system_with_children(f"{BENCH_NAME_PREFIX}http insert {i}", *p.centres[i % len(p.centres)])
            ids.append(_ok(c.post(f"{api}/systems", json=body.model_dump(mode="json"))).json()["id"])

        time_calls(t["insert"], insert, range(cfg.calls))
        time_calls(t["update"], lambda sid: _ok(c.patch(f"{api}/systems/{sid}",
                                                        json={"fauna": "Bountiful", "attributes": "edited"})), ids)
        time_calls(t["delete"], lambda sid: _ok(c.delete(f"{api}/systems/{sid}")), ids)
    return t


def run_load(base: str, cfg: BenchConfig, p: Params) -> dict[str, Any]:
    """``LOAD_CLIENTS`` clients at once, each on its own keep-alive connection, reading as users do.

    Each client asks ``max(6, calls / 10)`` times, in a seeded random order, for
    one of six kinds, each equally likely: a first page, a search for "Gold", a
    rare search, a system's detail, a 50 LY and a 500 LY sphere. What it shows is how the server shares its worker
    threads out (requests per second, and each request's time including its wait)
    and that its memory stays bounded when many requests are in work at once.
    """
    api = "/api/v1"
    # Each kind equally likely, whatever the number of parameters: a kind first, then one of its asks.
    kinds: list[list[tuple[str, dict[str, Any]]]] = [
        [(f"{api}/systems", {"limit": PAGE_SIZE})],
        [(f"{api}/systems/search", {"q": "Gold", "limit": PAGE_SIZE})],
        [(f"{api}/systems/search", {"q": q, "limit": PAGE_SIZE}) for q in p.rare_terms[:20]],
        [(f"{api}/systems/{sid}", {}) for sid in p.detail_ids[:20]],
        *([(f"{api}/systems/near", {"x": x, "y": y, "z": z, "radius": r, "limit": SPHERE_LIMIT})
           for x, y, z in p.centres[:20]] for r in (50, 500)),
    ]
    per_client = max(6, cfg.calls // 10)
    timing = Timing("load", "http")
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        rng = random.Random(cfg.seed * 1000 + i)
        samples = []
        try:
            with LeanClient(base, headers={"Accept-Encoding": "gzip"}) as c:
                for _ in range(per_client):
                    path, params = rng.choice(rng.choice(kinds))
                    t0 = time.perf_counter()
                    _ok(c.get(path, params=params))
                    samples.append((time.perf_counter() - t0) * 1000.0)
        except BaseException as exc:  # reported below: a failed request must not pass as a fast one
            failures.append(exc)
        with lock:
            timing.samples_ms.extend(samples)

    threads = [threading.Thread(target=client, args=(i,), name=f"bench-load-{i}") for i in range(LOAD_CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} of {LOAD_CLIENTS} load clients failed; the first: {failures[0]!r}")
    summary = timing.summary()
    return {"clients": LOAD_CLIENTS, "requests": summary["calls"], "seconds": round(seconds, 3),
            "requests_per_s": round(summary["calls"] / seconds, 1),
            **{k: summary[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")}}


#: What is timed on the chunk WebSocket (a third table: there is no in-process column).
SOCKET_OPERATIONS: list[tuple[str, str]] = [
    ("socket_chunk", "chunk fetch (one node per request, warm)"),
    ("socket_notify", "insert over HTTP → `chunk_updated` on a subscribed socket"),
    ("socket_notify_other", "insert by another process → `chunk_updated`"),
]


def _socket_message(ws: Any, wanted: str) -> dict[str, Any]:
    """The next text message of type ``wanted`` (others, e.g. earlier updates, are skipped)."""
    while True:
        frame = ws.recv(timeout=60)
        if isinstance(frame, str):
            message = orjson.loads(frame)
            if message["type"] == wanted:
                return message
            if message["type"] == "error":
                raise RuntimeError(f"the chunk socket answered an error: {message['error']}")


def run_socket(base: str, cfg: BenchConfig, p: Params, store: SQLiteStore) -> dict[str, Timing]:
    """Time chunk fetches over ``/api/v1/chunks/ws`` and how soon a write is announced on it.

    A write through the server wakes its change hub at once; a write by another
    process (this one, through ``store``) is seen at the hub's next read of the
    feed. Those writes start at a random moment (an untimed wait of up to one
    interval), as real ones would, not in step with the hub's reads.
    """
    from websockets.sync.client import connect

    t = {key: Timing(key, "websocket") for key, _ in SOCKET_OPERATIONS}
    url = base.replace("http", "ws", 1) + "/api/v1/chunks/ws"
    with connect(url, max_size=None) as ws, LeanClient(base, headers={"Accept-Encoding": "gzip"}) as c:

        def fetch(node: tuple[int, int]) -> int:
            ws.send(orjson.dumps({"type": "chunk_request", "chunks": [list(node)]}).decode())
            frame = ws.recv(timeout=60)
            _socket_message(ws, "done")
            return 1 if isinstance(frame, bytes) else 0

        # The HTTP run's writes changed some of these nodes: one untimed pass serves them warm.
        time_calls(t["socket_chunk"], fetch, p.nodes, count=lambda n: n, warmup=len(p.nodes))
        ws.send('{"type": "subscribe"}')
        _socket_message(ws, "subscribed")
        ids: list[int] = []

        def announced(i: int) -> int:
            body = system_with_children(f"{BENCH_NAME_PREFIX}socket insert {i}", *p.centres[i % len(p.centres)])
            ids.append(_ok(c.post("/api/v1/systems", json=body.model_dump(mode="json"))).json()["id"])
            return len(_socket_message(ws, "chunk_updated")["nodes"])

        rng = random.Random(cfg.seed)

        def announced_other(i: int) -> int:
            body = system_with_children(f"{BENCH_NAME_PREFIX}socket other {i}", *p.centres[i % len(p.centres)])
            ids.append(store.create(cfg.galaxy, body)["id"])
            return len(_socket_message(ws, "chunk_updated")["nodes"])

        try:
            time_calls(t["socket_notify"], announced, range(cfg.calls), count=lambda n: n)
            for i in range(cfg.calls):
                time.sleep(rng.uniform(0.0, LIVE_INTERVAL_S))  # untimed: start at a random moment
                time_calls(t["socket_notify_other"], announced_other, [i], count=lambda n: n)
        finally:
            ws.send('{"type": "unsubscribe"}')
            for system_id in ids:
                _ok(c.delete(f"/api/v1/systems/{system_id}"))
        t["socket_notify"].note = "the write wakes the server's change hub; results = nodes announced"
        t["socket_notify_other"].note = f"seen at the hub's next check for commits (every {LIVE_INTERVAL_S} s)"
    return t


# -- import rate ------------------------------------------------------------------------

def measure_import(store: SQLiteStore, cfg: BenchConfig) -> dict[str, Any]:
    """Time ``haven import`` of the same systems as Parquet, into a scratch database.

    The galaxy is written to a Parquet file (untimed) as ``haven export`` writes it,
    then ``bulk_import`` loads it into a new database beside the benchmark's, timed
    like the generate run (checks, rows, search indexes, secondary indexes and
    octree). Both files are removed after.
    """
    from haven.ingest.bulk import bulk_import
    from haven.ingest.export import export_galaxy

    with tempfile.TemporaryDirectory(prefix=f".import-{cfg.n_systems}-", dir=cfg.db_path.parent) as folder:
        scratch = Path(folder)
        parquet, db = scratch / "systems.parquet", scratch / "haven.db"
        cfg.progress(f"writing the galaxy as Parquet to time its import ({scratch})")
        written = export_galaxy(store, cfg.galaxy, parquet, fmt="parquet")
        target = init_store(DatabaseUrl("sqlite", str(db)), bulk=True)
        try:
            cfg.progress(f"importing {written:,} systems from Parquet")
            t0 = time.perf_counter()
            summary = bulk_import(target, cfg.galaxy, parquet)
            seconds = time.perf_counter() - t0
        finally:
            target.close()
        return {
            "systems": written,
            "seconds": round(seconds, 2),
            "rate_systems_per_s": round(written / seconds) if seconds > 0 else None,
            "parquet_bytes": parquet.stat().st_size,
            "timings_s": summary.get("timings_s", {}),
        }


# -- sizes --------------------------------------------------------------------------------


def disk_sizes(store: SQLiteStore, n_systems: int) -> dict[str, Any]:
    """Bytes per system of the core tables + indexes and of the search index (``dbstat``)."""
    conn = store.conn
    owner = {r[0]: r[1] for r in conn.execute("SELECT name, tbl_name FROM sqlite_master")}
    by_name = {r[0]: r[1] for r in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")}
    core = sum(b for name, b in by_name.items() if owner.get(name) in CORE_TABLES)
    fts = sum(b for name, b in by_name.items() if name.startswith(FTS_PREFIX))
    total = sum(by_name.values())
    return {
        "core_bytes": core,
        "core_bytes_per_system": round(core / n_systems, 1),
        "fts_bytes": fts,
        "fts_bytes_per_system": round(fts / n_systems, 1),
        "other_bytes": total - core - fts,
        "file_bytes": sum(Path(f"{store.path}{x}").stat().st_size
                          for x in ("", "-wal") if Path(f"{store.path}{x}").exists()),
        "by_name": dict(sorted(by_name.items(), key=lambda kv: -kv[1])),
    }


def chunk_sizes(store: SQLiteStore, galaxy: str, nodes: list[tuple[int, int]]) -> dict[str, Any]:
    """gzip CHNK bytes per system over a sample of nodes."""
    service = ChunkService(store)
    body = systems = 0
    for level, cell in nodes:
        chunk = service.build(galaxy, level, cell, "gzip")
        body += len(chunk.body)
        systems += chunk.count
    return {
        "chunks_sampled": len(nodes),
        "systems_in_sample": systems,
        "gzip_bytes": body,
        "gzip_bytes_per_system": round(body / systems, 2) if systems else 0.0,
    }


# -- the whole run --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "server_malloc": allocator_setting(),  # the server process inherits this environment
    }


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Build or reuse the dataset, time everything, and return the report as a plain dict."""
    if cfg.n_systems < 1:
        from haven.errors import InvalidInput

        raise InvalidInput("--systems must be at least 1", field="systems")
    store, build = ensure_dataset(cfg)
    try:
        removed = remove_leftovers(store, cfg.galaxy)
        if removed:
            cfg.progress(f"removed {removed} systems a previous run left behind")
        params = make_params(store, cfg)
        sizes = disk_sizes(store, cfg.n_systems)
        reset_peak_rss()
        cfg.progress(f"timing in-process ({cfg.calls} calls per operation)")
        inproc = run_in_process(store, cfg, params)
        chunks = chunk_sizes(store, cfg.galaxy, params.size_nodes)
        memory: dict[str, Any] = {"bench_peak_rss_bytes": peak_rss_bytes(), "build_peak_rss_bytes": build.get("peak_rss_bytes")}
        http: dict[str, Timing] = {}
        socket_timings: dict[str, Timing] = {}
        load: dict[str, Any] | None = None
        if cfg.http:
            cfg.progress("timing over HTTP (uvicorn in a child process)")
            for node in params.nodes:  # the in-process writes changed some nodes: store them again
                ChunkService(store).get(cfg.galaxy, *node)
            with http_server(cfg.db_path, cfg.galaxy) as (base, proc):
                http = run_http(base, cfg, params)
                socket_timings = run_socket(base, cfg, params, store)
                memory["server_peak_rss_bytes"] = peak_rss_bytes(proc.pid)
                cfg.progress(f"{LOAD_CLIENTS} clients at once")
                load = run_load(base, cfg, params)
                memory["server_load_peak_rss_bytes"] = peak_rss_bytes(proc.pid)
        imported = None
        if cfg.import_rate:  # last, with its own memory peak
            reset_peak_rss()
            imported = measure_import(store, cfg)
            memory["import_peak_rss_bytes"] = peak_rss_bytes()
    finally:
        store.close()
    operations = []
    for key, label in OPERATIONS:
        row = {"operation": key, "label": label, "in_process": inproc[key].summary()}
        if key in http and http[key].samples_ms:
            row["http"] = http[key].summary()
        operations.append(row)
    return {
        "config": {"systems": cfg.n_systems, "seed": cfg.seed, "calls": cfg.calls, "http": cfg.http,
                   "import_rate": cfg.import_rate, "database": str(cfg.db_path)},
        "machine": machine(),
        "build": build,
        "import": imported,
        "operations": operations,
        "websocket": [{"operation": key, "label": label, **socket_timings[key].summary()}
                      for key, label in SOCKET_OPERATIONS if key in socket_timings],
        "load": load,
        "sizes": {**sizes, "chunks": chunks},
        "memory": memory,
    }
