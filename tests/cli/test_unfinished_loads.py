"""A bulk load killed in a galaxy that already had systems: its stored part is told about.

Such a load writes its systems batch by batch and places them in the octree
only when it ends. Killed before that, its systems are stored, counted and
searchable, but on no map; ``haven stats``, ``/api/v1/stats`` and ``haven
serve`` say so, and what to run to finish it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from haven.config import DatabaseUrl
from haven.errors import HavenError
from haven.ingest.bulk import bulk_import
from haven.store import open_store

from cli_helpers import Invoke, assert_ok

GALAXY = "Haven"


class Killed(Exception):
    """Stands for SIGKILL between two batches: what is committed stays, nothing else runs."""


def _write_csv(path: Path, first: int, n: int) -> Path:
    lines = ["name,x,y,z,region"]
    lines += [f"Ulvar {i},{i * 3.5 - 900},{i % 50 - 25},{i % 7},Rim {i % 3}" for i in range(first, first + n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _kill_after_batch(index: int):
    def progress(p) -> None:
        if p.batch_index == index and not p.skipped:
            raise Killed()
    return progress


@pytest.fixture
def half_loaded(haven: Invoke, db_path: Path, tmp_path: Path) -> Path:
    """A database holding 2,000 placed systems and 1,500 of a 4,000-row import that was killed."""
    assert_ok(haven("init", "--no-demo"))
    assert_ok(haven("import", _write_csv(tmp_path / "first.csv", 0, 2_000)))
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        with pytest.raises(Killed):
            bulk_import(store, GALAXY, _write_csv(tmp_path / "more stars.csv", 10_000, 4_000), batch_rows=500,
                        progress=_kill_after_batch(2))
    finally:
        store.close()
    return tmp_path / "more stars.csv"


def test_stats_names_the_unfinished_load_and_the_systems_off_the_map(haven: Invoke, half_loaded: Path) -> None:
    result = haven("stats", "--json")
    assert_ok(result)
    stats = json.loads(result.output)
    assert stats["total_systems"] == 3_500
    assert stats["systems_off_map"] == 1_500
    [load] = stats["unfinished_loads"]
    assert load | {"started_at": None} == {
        "galaxy": GALAXY, "kind": "import", "source": "csv:more stars.csv", "batches_done": 3,
        "total_batches": None, "rows_done": 1_500, "started_at": None,  # a CSV's length is not known ahead
    }
    table = haven("stats")
    assert_ok(table)
    text = " ".join(table.output.split())
    assert "1,500 stored systems are not on the map yet" in text
    assert "unfinished import of 'more stars.csv' into 'Haven'" in text
    assert "stored 3 batches (1,500 systems)" in text and "`haven import` of that file" in text


def test_running_the_load_again_finishes_it_and_clears_both(haven: Invoke, half_loaded: Path) -> None:
    assert_ok(haven("import", half_loaded))
    stats = json.loads(haven("stats", "--json").output)
    assert (stats["total_systems"], stats["systems_off_map"], stats["unfinished_loads"]) == (6_000, 0, [])
    assert "not on the map" not in haven("stats").output


def test_a_load_stopped_by_bad_input_is_listed_but_its_systems_are_placed(
    haven: Invoke, db_path: Path, tmp_path: Path
) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert_ok(haven("import", _write_csv(tmp_path / "first.csv", 0, 2_000)))
    bad = _write_csv(tmp_path / "bad.csv", 10_000, 1_000)
    bad.write_text(bad.read_text(encoding="utf-8").replace("Ulvar 10700,", "Ulvar 10700,9e9"), encoding="utf-8")
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:  # written batch by batch without the check first: the batch before the bad row is stored
        with pytest.raises(HavenError, match="row 701"):
            bulk_import(store, GALAXY, bad, batch_rows=500, check_first=False)
    finally:
        store.close()
    stats = json.loads(haven("stats", "--json").output)
    assert stats["systems_off_map"] == 0  # the batch before the bad one is stored and drawn
    assert [(load["source"], load["rows_done"]) for load in stats["unfinished_loads"]] == [("csv:bad.csv", 500)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_warns_and_the_api_reports_it(half_loaded: Path, db_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "haven.cli", "serve", "--port", str(port), "--database", str(db_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/stats", timeout=2.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "haven serve did not answer"
                time.sleep(0.1)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["systems_off_map"] == 1_500
        assert [load["rows_done"] for load in body["unfinished_loads"]] == [1_500]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    log = " ".join(proc.stdout.read().split())
    assert "Warning: An unfinished import of 'more stars.csv' into 'Haven'" in log
    assert "in 'Haven', 1,500 stored systems are not on the map yet" in log
    assert "Traceback" not in log
