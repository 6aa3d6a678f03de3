"""The server process's C allocator: large blocks stay mapped on their own, operators' tunables win."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from haven.api import allocator, create_app
from haven.store import init_store

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc's")

# In a fresh process: allocate and free a 1 MiB block, allocate another, and print how many
# blocks glibc has mapped on their own after each allocation (mallinfo2's ``hblks``).
_PROBE = """
import ctypes, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "tuned":
    from haven.api.allocator import tune_allocator
    assert tune_allocator()
first = bytearray(1 << 20)
mapped_first = libc.mallinfo2().hblks
del first
second = bytearray(1 << 20)
print(mapped_first, libc.mallinfo2().hblks)
"""


def _mapped_blocks(mode: str) -> tuple[int, int]:
    env = {name: value for name, value in os.environ.items()
           if name not in ("GLIBC_TUNABLES", "PYTHONMALLOC") and not name.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                         env=env, cwd=Path(__file__).resolve().parents[2]).stdout
    first, second = out.split()
    return int(first), int(second)


@glibc_only
def test_a_large_block_after_a_large_free_is_still_mapped_on_its_own():
    """glibc's default raises its mapping threshold after the first large free, so the next answer's
    buffer comes from an arena that keeps its pages; tuned, it is mapped and unmapped again."""
    first, second = _mapped_blocks("default")
    assert second < first  # the default: the second block came from the heap
    first, second = _mapped_blocks("tuned")
    assert second == first


@glibc_only
def test_the_operators_malloc_settings_win(monkeypatch):
    for name in [n for n in os.environ if n.startswith("MALLOC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=8")
    assert allocator.operator_tunables()
    assert allocator.tune_allocator() is False
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=512")
    assert not allocator.operator_tunables()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "1")  # glibc's older way to say the same
    assert allocator.operator_tunables()
    assert allocator.tune_allocator() is False


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator.tune_allocator() is False
    assert allocator.allocator_setting() == "not glibc: left alone"


@glibc_only
def test_the_setting_in_words_follows_the_environment(monkeypatch):
    """The benchmark prints it next to its memory figures."""
    for name in [n for n in os.environ if n.startswith("MALLOC_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert allocator.allocator_setting() == "glibc, 2 arenas, blocks from 128 KiB mapped"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert allocator.allocator_setting() == "glibc, the environment's malloc settings"


def test_a_served_app_tunes_the_allocator_before_opening_its_store(monkeypatch, db_url):
    """Only the app that opens its own store (as `haven serve`) does it: embedders keep their process's settings."""
    init_store(db_url).close()  # the schema is current before the app holds its server lock
    calls: list[str] = []
    monkeypatch.setattr("haven.api.app.tune_allocator", lambda: calls.append("tuned") or True)
    monkeypatch.setattr("haven.api.app.open_store", lambda **kw: calls.append("opened") or init_store(db_url))
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{db_url.location}")
    with TestClient(create_app()):
        pass
    assert calls == ["tuned", "opened"]
    store = init_store(db_url)
    try:
        with TestClient(create_app(store)):
            pass
    finally:
        store.close()
    assert calls == ["tuned", "opened"]
