"""The map's octree module under node (tests/web/octree.test.mjs): no browser needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_the_maps_octree_keeps_what_the_change_feed_said_after_an_older_answer():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    proc = subprocess.run([node, "--test", str(HERE / "octree.test.mjs")], capture_output=True, text=True,
                          timeout=120, cwd=HERE.parents[1])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
