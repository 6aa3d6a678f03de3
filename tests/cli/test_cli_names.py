"""``--galaxy NAME`` is checked as the API checks names: trimmed, 1 to 200 characters, no control
characters. A bad one is a one-line error, exit code 1, and nothing written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from haven.model import NAME_MAX_CHARS

from cli_helpers import Invoke, assert_fails, assert_ok, system_count
from dbfiles import file_digest

BAD_NAMES = {
    "too long": ("G" * (NAME_MAX_CHARS + 1), f"at most {NAME_MAX_CHARS} characters"),
    "a tab": ("Milky\tWay", "control characters"),
    "a newline": ("Milky\nWay", "control characters"),
    "blank": ("   ", "must not be empty"),
}


def galaxy_names(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [name for (name,) in conn.execute("SELECT name FROM galaxy ORDER BY name")]
    finally:
        conn.close()


def refused_name(result, said: str) -> None:
    """Exit 1 and exactly one line, naming the galaxy and what is wrong with its name."""
    assert_fails(result, 1, "galaxy name", said)
    assert result.output.strip().count("\n") == 0, result.output


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    systems = tmp_path / "systems.jsonl"
    systems.write_text(json.dumps({"name": "Far One", "x": 1, "y": 2, "z": 3}) + "\n", encoding="utf-8")
    legacy = tmp_path / "data.json"
    legacy.write_text(json.dumps({"Far Two": {"x": 1, "y": 2, "z": 3, "region": "Edge"}}), encoding="utf-8")
    return {"jsonl": systems, "legacy": legacy, "out": tmp_path / "out.json", "map": tmp_path / "map.html"}


COMMANDS = {
    "init": lambda f: ["init", "--no-demo"],
    "generate": lambda f: ["generate", "--systems", "20"],
    "import jsonl": lambda f: ["import", f["jsonl"]],
    "import legacy": lambda f: ["import", f["legacy"]],
    "import dry run": lambda f: ["import", f["legacy"], "--dry-run"],
    "export": lambda f: ["export", "--output", f["out"]],
    "stats": lambda f: ["stats"],
    "map": lambda f: ["map", "--system", "Far One", "--output", f["map"]],
}


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_bad_galaxy_name_is_refused_and_nothing_is_written(haven: Invoke, db_path: Path, files, command,
                                                             bad) -> None:
    assert_ok(haven("init", "--no-demo"))
    before = file_digest(db_path)
    name, said = bad
    flag = "--galaxy-name" if command(files)[0] == "map" else "--galaxy"
    refused_name(haven(*command(files), flag, name), said)
    assert file_digest(db_path) == before
    assert galaxy_names(db_path) == ["Haven"]
    assert not files["out"].exists() and not files["map"].exists()


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_init_with_a_bad_galaxy_name_creates_no_database(haven: Invoke, db_path: Path, bad) -> None:
    name, said = bad
    refused_name(haven("init", "--galaxy", name), said)
    assert not db_path.exists()


def test_the_short_flag_and_the_limit_itself(haven: Invoke, db_path: Path) -> None:
    longest = "G" * NAME_MAX_CHARS
    assert_ok(haven("init", "--no-demo", "-g", longest))
    refused_name(haven("stats", "-g", longest + "G"), f"at most {NAME_MAX_CHARS} characters")
    assert galaxy_names(db_path) == [longest]


def test_a_galaxy_name_is_trimmed_like_the_apis(haven: Invoke, db_path: Path, files) -> None:
    """Spaces around a name are dropped everywhere, so every command finds the galaxy it made."""
    assert_ok(haven("generate", "--systems", "30", "--galaxy", "  Far Reach  "))
    assert galaxy_names(db_path) == ["Far Reach"]
    assert system_count(db_path) == 30
    result = haven("stats", "--json", "--galaxy", " Far Reach")
    assert_ok(result)
    assert json.loads(result.output)["total_systems"] == 30
    assert_ok(haven("import", files["jsonl"], "--galaxy", "Far Reach "))
    assert_ok(haven("export", "--output", files["out"], "-g", "\u00a0Far Reach"))  # any Unicode space
    assert len(json.loads(files["out"].read_text(encoding="utf-8"))["data"]) == 31
