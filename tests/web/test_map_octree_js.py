"""The map's octree, selection, chunk loader and framing modules under node (tests/web/*.test.mjs): no browser needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def run_node_test(name: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    proc = subprocess.run([node, "--test", str(HERE / name)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_maps_octree_keeps_what_the_change_feed_said_after_an_older_answer():
    run_node_test("octree.test.mjs")


def test_the_maps_chunk_loader_never_draws_a_changed_chunk_it_will_not_fetch_again():
    if not (ROOT / "node_modules" / "three" / "package.json").is_file():
        pytest.skip("three.js is not installed in node_modules (`make test` installs it)")
    run_node_test("chunk_loader.test.mjs")


def test_the_maps_octree_and_selection_reach_level_21_with_exact_cells():
    if not (ROOT / "node_modules" / "three" / "package.json").is_file():
        pytest.skip("three.js is not installed in node_modules (`make test` installs it)")
    run_node_test("lod.test.mjs")


def test_the_map_fits_systems_into_the_narrower_field_of_view():
    if not (ROOT / "node_modules" / "three" / "package.json").is_file():
        pytest.skip("three.js is not installed in node_modules (`make test` installs it)")
    run_node_test("map_framing.test.mjs")
