"""Names and paths a user chose are shown as they are: never read as Rich markup."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Invoke, assert_ok

SYSTEMS = {"_meta": {}, "data": [{"name": "Alpha", "x": 1, "y": 2, "z": 3, "region": "[/b]"},
                                 {"name": "Beta", "x": 4, "y": 5, "z": 6, "region": "[/b]"}]}


def test_export_of_a_galaxy_whose_name_is_markup(haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    data = tmp_path / "data.json"
    data.write_text(json.dumps(SYSTEMS), encoding="utf-8")
    assert_ok(haven("import", data, "--galaxy", "[/bold]"))
    target = tmp_path / "out.json"
    result = haven("export", "--galaxy", "[/bold]", "-o", target)
    assert_ok(result)
    assert "of [/bold] to" in result.output
    assert [s["name"] for s in json.loads(target.read_text())["data"]] == ["Alpha", "Beta"]


def test_a_file_name_that_parses_as_markup_is_shown_as_it_is(haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    path = tmp_path / "y[red].csv"
    path.write_text("name,x,y,z\nGamma,1,2,3\n", encoding="utf-8")
    result = haven("import", path)
    assert_ok(result)
    assert "Importing y[red].csv" in result.output


def test_map_of_a_large_region_whose_name_is_markup(haven: Invoke, tmp_path: Path) -> None:
    """A region of 20,000 systems or more is read under a progress bar labelled with its name."""
    assert_ok(haven("init", "--no-demo"))
    path = tmp_path / "big.csv"
    path.write_text("name,x,y,z,region\n" + "".join(f"S{i},{i % 100},{i // 100 % 100},{i // 10000},[/b]\n"
                                                    for i in range(20_001)), encoding="utf-8")
    assert_ok(haven("import", path))
    target = tmp_path / "region.html"
    result = haven("map", "--region", "[/b]", "-o", target)
    assert_ok(result)
    assert "region [/b] (20,001 systems)" in result.output
    assert target.stat().st_size > 0


def test_backup_path_with_markup_is_shown_as_it_is(haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    weird = tmp_path / "[bold]x.db"
    assert_ok(haven("init", "--no-demo", "-d", weird))
    result = haven("backup", tmp_path / "copy.db", "-d", weird)
    assert_ok(result)
    assert "Backup of " + str(weird) in result.output


EVIL = "EVIL\u001b[2J\u001b]0;pwned\u0007X"


def test_control_characters_from_a_file_never_reach_the_terminal(haven: Invoke, tmp_path: Path) -> None:
    assert_ok(haven("init", "--no-demo"))
    path = tmp_path / "esc.json"
    path.write_text(json.dumps({"_meta": {}, "data": [
        {"name": EVIL, "x": "far", "y": 0, "z": 0},
        {"name": "Keyed", "x": 1, "y": 2, "z": 3, "extra": {"k\u001b[31m": 1, "k\u001b[31m ": 2}},
    ]}), encoding="utf-8")
    result = haven("import", path)
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert 'record "EVIL\\x1b[2J\\x1b]0;pwned\\x07X" (#1): x:' in result.output

    bad = tmp_path / "esc.jsonl"
    bad.write_text(json.dumps({"name": "Fine", "x": 1, "y": 2, "z": 3, "fauna": EVIL, "\u001b]0;t\u0007": 10**30})
                   + "\n", encoding="utf-8")
    result = haven("import", bad)
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "esc.jsonl line 1: \\x1b]0;t\\x07: is an integer beyond 64 bits" in result.output
