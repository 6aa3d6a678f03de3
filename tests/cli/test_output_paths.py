"""``haven export -o`` and ``haven map -o`` onto symlinks, FIFOs and descriptors: the path keeps what it is."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import Invoke, assert_fails, assert_ok

SYSTEMS = {"_meta": {}, "data": [{"name": "Alpha", "x": 1, "y": 2, "z": 3, "region": "Near"},
                                 {"name": "Beta", "x": 4, "y": 5, "z": 6, "region": "Near"}]}


@pytest.fixture
def filled(haven: Invoke, tmp_path: Path) -> Path:
    assert_ok(haven("init", "--no-demo"))
    data = tmp_path / "data.json"
    data.write_text(json.dumps(SYSTEMS), encoding="utf-8")
    assert_ok(haven("import", data))
    return tmp_path


def _names(text: str) -> list[str]:
    return [s["name"] for s in json.loads(text)["data"]]


def test_export_through_a_symlink_replaces_its_target(haven: Invoke, filled: Path) -> None:
    real = filled / "real.json"
    real.write_text('{"keep":1}')
    real.chmod(0o640)
    link = filled / "link.json"
    link.symlink_to("real.json")
    assert_ok(haven("export", "-o", link))
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert _names(real.read_text()) == ["Alpha", "Beta"]
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the replaced file keeps its permissions
    assert sorted(p.name for p in filled.iterdir() if p.name.endswith(".tmp")) == []


def test_a_dangling_symlink_gets_its_target_written(haven: Invoke, filled: Path) -> None:
    (filled / "elsewhere").mkdir()
    link = filled / "link.jsonl"
    link.symlink_to(filled / "elsewhere" / "new.jsonl")
    assert_ok(haven("export", "-o", link))
    assert link.is_symlink()
    lines = (filled / "elsewhere" / "new.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["Alpha", "Beta"]


def test_export_into_a_fifo_reaches_its_reader(haven: Invoke, filled: Path) -> None:
    fifo = filled / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is waiting; the export is small
    try:
        result = haven("export", "-o", fifo)
        assert_ok(result)
        assert "(" not in result.output.split(" as haven-json")[-1]  # no size for a stream
        received = b""
        while chunk := os.read(reader, 65536):
            received += chunk
    except BlockingIOError:
        pass
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _names(received.decode()) == ["Alpha", "Beta"]


def test_export_to_a_descriptor_path_writes_to_the_descriptor(filled: Path, db_path: Path) -> None:
    """``-o /dev/fd/1`` with standard output redirected to a file: the bytes land in that file."""
    out = filled / "redirected.json"
    with out.open("wb") as fh:
        done = subprocess.run([sys.executable, "-m", "haven.cli", "export", "-o", "/dev/fd/1", "-d", str(db_path)],
                              stdout=fh, stderr=subprocess.PIPE, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert _names(out.read_text()) == ["Alpha", "Beta"]
    assert b"to /dev/fd/1 as haven-json" in done.stderr


def test_map_through_a_symlink_replaces_its_target(haven: Invoke, filled: Path) -> None:
    real = filled / "page.html"
    real.write_text("old")
    link = filled / "link.html"
    link.symlink_to(real)
    result = haven("map", "--system", "Alpha", "-o", link)
    assert_ok(result)
    assert link.is_symlink() and "Alpha" in real.read_text() and real.read_text() != "old"
    assert real.as_uri() in result.output


def test_map_into_a_fifo_reaches_its_reader(haven: Invoke, filled: Path) -> None:
    fifo = filled / "fifo.html"
    os.mkfifo(fifo)
    copy = filled / "copy.html"
    with copy.open("wb") as sink:  # the page is bigger than a pipe: a reader that drains it meanwhile
        reader = subprocess.Popen(["cat", str(fifo)], stdout=sink)
        try:
            result = haven("map", "--system", "Alpha", "-o", fifo)
            reader.wait(timeout=20)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
    received = copy.read_bytes()
    assert_ok(result)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert b"<html" in received.lower() and b"Alpha" in received
    assert "file://" not in result.output  # no file to open in a browser


def test_a_symlink_to_a_folder_is_refused(haven: Invoke, filled: Path) -> None:
    (filled / "folder").mkdir()
    (filled / "to-folder").symlink_to(filled / "folder")
    assert_fails(haven("export", "-o", filled / "to-folder"), 2, "is a folder")
    assert list((filled / "folder").iterdir()) == []


def test_export_of_an_unknown_galaxy_creates_no_folder(haven: Invoke, filled: Path) -> None:
    assert_fails(haven("export", "-g", "Nope", "-o", filled / "newdir" / "sub" / "x.json"), 1, "no galaxy named 'Nope'")
    assert not (filled / "newdir").exists()
    assert_ok(haven("export", "-o", filled / "newdir" / "sub" / "x.json"))  # a known one creates the folders
    assert _names((filled / "newdir" / "sub" / "x.json").read_text()) == ["Alpha", "Beta"]


def test_export_inside_a_file_says_so(haven: Invoke, filled: Path) -> None:
    (filled / "text.db").write_text("x")
    assert_fails(haven("export", "-o", filled / "text.db" / "x.json"), 2, "text.db is not a folder")
    assert (filled / "text.db").read_text() == "x"
