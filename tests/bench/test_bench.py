"""``haven bench`` at a small N: every row present, percentiles ordered, sizes positive, JSON parses.

No stopwatch assertions: timings depend on the machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from haven.bench import BenchConfig, run_bench, to_json, to_markdown
from haven.bench.operations import LOAD_CLIENTS, OPERATIONS, SOCKET_OPERATIONS, ensure_dataset
from haven.bench.runner import percentiles
from haven.cli.app import app
from haven.config import DatabaseUrl
from haven.ingest.bulk import generate_galaxy
from haven.store import init_store

N = 3000


def check_summary(s: dict[str, Any], calls: int) -> None:
    assert 1 <= s["calls"] <= calls  # a small galaxy may have fewer octree nodes than calls
    assert 0 <= s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir = tmp_path_factory.mktemp("bench")
    return run_bench(BenchConfig(N, seed=7, data_dir=data_dir, calls=3, http=True))


def test_every_operation_in_process_and_over_http(report: dict[str, Any]) -> None:
    assert [op["operation"] for op in report["operations"]] == [key for key, _ in OPERATIONS]
    in_process_only = {"chunk_build"}  # an internal step; over HTTP it is part of a fetch
    for op in report["operations"]:
        check_summary(op["in_process"], 3)
        if op["operation"] in in_process_only:
            assert "http" not in op
        else:
            check_summary(op["http"], 3)


def test_chunk_socket_rows(report: dict[str, Any]) -> None:
    rows = {op["operation"]: op for op in report["websocket"]}
    assert list(rows) == [key for key, _ in SOCKET_OPERATIONS]
    for op in rows.values():
        check_summary(op, 3)
    assert rows["socket_chunk"]["mean_results"] == 1  # one binary chunk_data frame per request
    assert rows["socket_notify"]["mean_results"] >= 1  # every insert was announced with its nodes
    md = to_markdown(report)
    assert "| over the chunk WebSocket |" in md and f"| {SOCKET_OPERATIONS[1][1]} |" in md


def test_queries_return_rows(report: dict[str, Any]) -> None:
    rows = {op["operation"]: op["in_process"]["mean_results"] for op in report["operations"]}
    assert rows["page_first"] == rows["page_next"] == rows["search_common"] == 100
    assert rows["search_rare"] >= 1  # the term is taken from an existing name
    assert rows["detail_stored"] == 5
    assert rows["chunk_cold"] == rows["chunk_build"] == rows["chunk_warm"] > 0


def test_sizes_and_memory_are_positive(report: dict[str, Any]) -> None:
    sizes = report["sizes"]
    assert sizes["core_bytes_per_system"] > 0
    assert sizes["fts_bytes_per_system"] > 0
    assert sizes["chunks"]["gzip_bytes_per_system"] > 0
    assert report["build"]["rate_systems_per_s"] > 0
    assert report["memory"]["bench_peak_rss_bytes"] > 0
    assert report["memory"]["server_peak_rss_bytes"] > 0


def test_load_phase(report: dict[str, Any]) -> None:
    """Many clients at once: every request answered, the server's peak memory read after them."""
    load = report["load"]
    assert load["clients"] == LOAD_CLIENTS and load["requests"] == LOAD_CLIENTS * 6  # max(6, 3 calls / 10) each
    assert 0 < load["p50_ms"] <= load["p95_ms"] <= load["p99_ms"] <= load["max_ms"]
    assert load["requests_per_s"] > 0
    memory = report["memory"]
    assert memory["server_load_peak_rss_bytes"] >= memory["server_peak_rss_bytes"] > 0
    md = to_markdown(report)
    assert f"| {LOAD_CLIENTS} clients at once (pages, searches, details, spheres) |" in md
    assert f"| peak RSS, HTTP server process, after {LOAD_CLIENTS} clients at once |" in md


def test_markdown_and_json(report: dict[str, Any]) -> None:
    md = to_markdown(report)
    assert f"server malloc: {report['machine']['server_malloc']}." in md  # memory figures depend on it
    for _, label in OPERATIONS:
        assert f"| {label} |" in md
    assert json.loads(to_json(report)) == json.loads(json.dumps(report))


def test_reuses_dataset_and_leaves_it_clean(tmp_path: Path) -> None:
    first = run_bench(BenchConfig(N, data_dir=tmp_path, calls=2, http=False))
    second = run_bench(BenchConfig(N, data_dir=tmp_path, calls=2, http=False))
    assert first["build"]["reused"] is False and second["build"]["reused"] is True
    assert "http" not in second["operations"][0]
    assert list(tmp_path.iterdir())[0].name.startswith(f"haven-{N}.db")


def test_cli_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bench", "--systems", str(N), "--calls", "2", "--no-http", "--json", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["config"]["systems"] == N
    for op in data["operations"]:
        check_summary(op["in_process"], 2)


def test_cli_markdown_and_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--systems", str(N), "--calls", "2", "--no-http",
                                      "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.lstrip().startswith("### 3,000 systems")
    assert CliRunner().invoke(app, ["bench", "--systems", "0"]).exit_code == 2


def test_percentiles_are_ordered() -> None:
    p = percentiles([5.0, 1.0, 3.0, 2.0, 4.0])
    assert p["p50_ms"] == 3.0 and p["p95_ms"] == p["p99_ms"] == p["max_ms"] == 5.0
    assert percentiles([])["p50_ms"] == 0.0


def test_resumes_an_unfinished_build_instead_of_deleting_it(tmp_path: Path) -> None:
    """A file holding this galaxy but no build record is a killed build: keep it, finish it."""

    path = tmp_path / f"haven-{N}.db"
    store = init_store(DatabaseUrl("sqlite", str(path)))
    generate_galaxy(store, BenchConfig(N).galaxy, N, 42)
    store.set_meta_value("marker", "kept")
    ids = [s["id"] for s in store.page(BenchConfig(N).galaxy, limit=20).items]
    store.close()

    store, build = ensure_dataset(BenchConfig(N, data_dir=tmp_path))
    assert build["resumed"] is True and build["systems_this_run"] == 0
    assert store.meta_value("marker") == "kept"
    assert [s["id"] for s in store.page(BenchConfig(N).galaxy, limit=20).items] == ids
    store.close()
    report = run_bench(BenchConfig(N, data_dir=tmp_path, calls=1, http=False))
    assert report["build"]["reused"] is True
    assert "a resumed build" in to_markdown(report)


def test_replaces_a_file_holding_another_galaxy(tmp_path: Path) -> None:

    path = tmp_path / f"haven-{N}.db"
    store = init_store(DatabaseUrl("sqlite", str(path)))
    generate_galaxy(store, BenchConfig(N).galaxy, 100, 42)
    store.close()
    store, build = ensure_dataset(BenchConfig(N, data_dir=tmp_path))
    assert build["resumed"] is False and build["systems_this_run"] == N
    store.close()


def test_the_query_peak_starts_from_what_is_in_use_not_from_what_a_build_freed() -> None:
    from haven.bench.runner import peak_rss_bytes, reset_peak_rss

    held = [bytes(4000) + bytes([i % 256]) for i in range(60_000)]  # ~240 MiB of malloc'd blocks
    pin = [bytes(4000) for _ in range(10)]  # allocated after them: the heap cannot simply shrink
    grown = peak_rss_bytes()
    del held
    if not reset_peak_rss():
        pytest.skip("this kernel does not allow resetting the peak RSS")
    assert peak_rss_bytes() < grown - (100 << 20)  # what was freed went back to the system
    assert len(pin) == 10


def test_times_an_import_of_the_same_systems_as_parquet(report: dict[str, Any]) -> None:
    imported = report["import"]
    assert imported["systems"] == N
    assert imported["rate_systems_per_s"] > 0 and imported["parquet_bytes"] > 0
    assert "check" in imported["timings_s"]  # the import validated the file before writing
    assert "| import rate (`haven import` of the same systems as Parquet) | " in to_markdown(report)


def test_no_import_rate_leaves_it_out(tmp_path: Path) -> None:
    report = run_bench(BenchConfig(N, data_dir=tmp_path, calls=1, http=False, import_rate=False))
    assert report["import"] is None
    assert "not measured (--no-import-rate)" in to_markdown(report)
