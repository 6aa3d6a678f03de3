"""Command examples in the docs run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cli_helpers import Invoke, assert_ok, system_count

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _sh_block(doc: str, heading: str) -> list[list[str]]:
    """The ``haven`` commands of the first ``sh`` block under ``heading``, comments removed."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, f"no sh block under {heading!r} in {doc}"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "haven", line
            commands.append(words[1:])
    return commands


def test_moving_a_galaxy_to_another_database(haven: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAVEN_DATABASE_URL")
    assert_ok(haven("generate", "-n", "500", "-g", "Milky Way", "-d", "old.db"))
    commands = _sh_block("operating.md", "## Moving a galaxy to another database")
    assert any(c[0] == "import" for c in commands)
    for command in commands:
        assert_ok(haven(*command))
    assert system_count(tmp_path / "new.db") == 500
