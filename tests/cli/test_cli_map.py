"""``haven map``: writes one self-contained HTML file, or refuses bad input and writes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli_helpers import assert_fails, assert_ok
from haven.config import DatabaseUrl
from haven.model import validate_system
from haven.store import open_store
from haven.web import export

HOSTILE = "</script><b>x</b>"


@pytest.fixture
def seeded(haven, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database with a few systems in region Near; the current folder is an empty ``out`` folder."""
    assert_ok(haven("init", "--no-demo"))
    store = open_store(DatabaseUrl("sqlite", str(db_path)))
    try:
        for i in range(12):
            store.create("Haven", validate_system({
                "name": f"Star {i:02d}", "x": i, "y": 2 * i, "z": 0, "region": "Near",
                "planets": [{"name": f"Rock {i}", "moons": [{"name": "Pebble", "orbit_radius": 2}]}],
            }))
        store.create("Haven", validate_system({"name": "AMOT 16/O5", "x": 1, "y": 1, "z": 1, "region": "Far/Away"}))
        store.create("Haven", validate_system({"name": HOSTILE, "x": 5, "y": 5, "z": 5, "region": "Near"}))
    finally:
        store.close()
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    return out


def inlined(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="haven-data">(.*?)</script>', text, re.S)
    assert m, "no inlined data"
    return json.loads(m.group(1))


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_system_map_is_written_under_a_name_made_from_the_system(haven, seeded: Path) -> None:
    result = haven("map", "--system", "AMOT 16/O5")
    assert_ok(result)
    assert files(seeded) == ["system-amot-16-o5.html"]
    page = seeded / "system-amot-16-o5.html"
    assert "system-amot-16-o5.html" in result.output and "file://" in result.output
    data = inlined(page)
    assert data["kind"] == "system" and data["system"]["name"] == "AMOT 16/O5"
    text = page.read_text(encoding="utf-8")
    assert '<script type="importmap">' in text and "data:text/javascript;base64," in text
    assert 'src="/' not in text and "href=\"/static" not in text  # nothing to fetch from a server


def test_region_map_is_written_where_output_says(haven, seeded: Path, tmp_path: Path) -> None:
    target = tmp_path / "maps" / "near.html"
    assert_ok(haven("map", "--region", "Near", "-o", target))
    data = inlined(target)
    assert data["kind"] == "region" and data["count"] == 13
    assert HOSTILE in data["names"]
    assert HOSTILE not in target.read_text(encoding="utf-8")
    assert files(seeded) == []


def test_region_with_a_slash_gets_a_safe_default_name(haven, seeded: Path) -> None:
    assert_ok(haven("map", "--region", "Far/Away"))
    assert files(seeded) == ["region-far-away.html"]


def test_an_existing_file_is_replaced_whole(haven, seeded: Path) -> None:
    target = seeded / "m.html"
    target.write_text("old")
    assert_ok(haven("map", "--system", "Star 03", "-o", target))
    assert inlined(target)["system"]["name"] == "Star 03"
    assert files(seeded) == ["m.html"]  # no temporary file left behind


def test_galaxy_map_points_at_the_server(haven, seeded: Path) -> None:
    result = haven("map", "--galaxy", "--server", "http://192.0.2.7:8123/", "-o", "g.html")
    assert_ok(result)
    text = (seeded / "g.html").read_text(encoding="utf-8")
    assert 'globalThis.HAVEN_API_BASE = "http://192.0.2.7:8123";' in text
    assert "connect-src http://192.0.2.7:8123" in text
    assert "keep `haven serve` running" in result.output


def test_galaxy_map_default_server_and_name(haven, seeded: Path) -> None:
    assert_ok(haven("map", "--galaxy"))
    [name] = files(seeded)
    assert name == "galaxy-127-0-0-1-8000.html"
    assert 'globalThis.HAVEN_API_BASE = "http://127.0.0.1:8000";' in (seeded / name).read_text(encoding="utf-8")


def test_galaxy_map_of_a_named_galaxy(haven, seeded: Path) -> None:
    assert_ok(haven("map", "--galaxy", "-g", "Andromeda"))
    assert files(seeded) == ["galaxy-andromeda.html"]
    text = (seeded / "galaxy-andromeda.html").read_text(encoding="utf-8")
    assert 'globalThis.HAVEN_GALAXY = "Andromeda";' in text
    assert_ok(haven("map", "--galaxy", "-g", HOSTILE, "-o", "hostile.html"))
    text = (seeded / "hostile.html").read_text(encoding="utf-8")
    assert 'globalThis.HAVEN_GALAXY = "\\u003c/script\\u003e\\u003cb\\u003ex\\u003c/b\\u003e";' in text
    assert HOSTILE not in text


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((), "give exactly one of --system NAME, --region NAME or --galaxy"),
        (("--system", "Star 01", "--region", "Near"), "got --system and --region"),
        (("--system", "Star 01", "--galaxy"), "got --system and --galaxy"),
        (("--region", "Near", "--server", "http://127.0.0.1:9"), "--server applies to --galaxy"),
        (("--galaxy", "--server", "ftp://example.org"), "is not a server address"),
        (("--system", "Star 01", "-o", "."), "is a folder"),
    ],
)
def test_bad_usage_exits_2_and_writes_nothing(haven, seeded: Path, args: tuple[str, ...], fragment: str) -> None:
    assert_fails(haven("map", *args), 2, fragment)
    assert files(seeded) == []


def test_output_inside_a_file_is_refused(haven, seeded: Path) -> None:
    (seeded / "plain.txt").write_text("x")
    assert_fails(haven("map", "--system", "Star 01", "-o", seeded / "plain.txt" / "m.html"), 2, "is not a folder")
    assert files(seeded) == ["plain.txt"]


def test_output_that_is_a_folder_is_refused(haven, seeded: Path) -> None:
    (seeded / "sub").mkdir()
    assert_fails(haven("map", "--region", "Near", "-o", seeded / "sub"), 2, "is a folder")
    assert files(seeded / "sub") == []


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--system", "Nowhere"), "no system named 'Nowhere'"),
        (("--region", "Nowhere"), "no region named 'Nowhere'"),
        (("--system", "Star 01", "-g", "Andromeda"), "no galaxy named 'Andromeda'"),
    ],
)
def test_unknown_names_exit_1_and_write_nothing(haven, seeded: Path, args: tuple[str, ...], fragment: str) -> None:
    assert_fails(haven("map", *args), 1, fragment)
    assert files(seeded) == []


def test_a_region_over_the_cap_is_refused(haven, seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "MAX_REGION_SYSTEMS", 5)
    assert_fails(haven("map", "--region", "Near"), 1, "has 13 systems", "at most 5", "haven map --galaxy")
    assert files(seeded) == []


def test_a_missing_database_is_reported(haven, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_fails(haven("map", "--system", "Star 01", "-d", tmp_path / "none.db"), 1, "run `haven init` first")
    assert not list(tmp_path.glob("*.html"))
