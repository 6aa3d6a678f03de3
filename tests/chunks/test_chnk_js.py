"""The JS decoder (haven/web/static/js/chnk.js) against Python-made fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import chnk_fixtures

HERE = Path(__file__).resolve().parent
NODE_TEST = HERE / "chnk_decode.test.mjs"


def test_fixtures_are_up_to_date():
    """The committed fixtures are exactly what the current encoder produces.

    After a deliberate format change run ``python tests/chunks/chnk_fixtures.py``
    (or set CHNK_REGEN_FIXTURES=1) and commit the result.
    """
    if os.environ.get("CHNK_REGEN_FIXTURES"):
        chnk_fixtures.write()
    stale = []
    for name, (data, text) in chnk_fixtures.build().items():
        chnk = chnk_fixtures.FIXTURES / f"{name}.chnk"
        js = chnk_fixtures.FIXTURES / f"{name}.json"
        if not chnk.exists() or chnk.read_bytes() != data:
            stale.append(chnk.name)
        if not js.exists() or js.read_text(encoding="utf-8") != text:
            stale.append(js.name)
    assert not stale, f"stale fixtures {stale}: run python tests/chunks/chnk_fixtures.py"


def test_node_decoder():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"node {version} is too old for node:test")
    proc = subprocess.run(
        [node, "--test", str(NODE_TEST)], capture_output=True, text=True, timeout=120, cwd=HERE.parents[1]
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
