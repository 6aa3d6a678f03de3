"""Fixtures for the HTTP layer: a TestClient over the fresh ``store`` fixture, and a seeded galaxy."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # for the apihelpers module
    sys.path.insert(0, HERE)

# starlette's TestClient warns that it would prefer httpx2; httpx is what this project has.
warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")

from fastapi.testclient import TestClient  # noqa: E402

from haven.api import create_app  # noqa: E402
from haven.config import DatabaseUrl  # noqa: E402
from haven.store import init_store  # noqa: E402


@pytest.fixture(autouse=True)
def _allocator_left_alone(request, monkeypatch):
    """An app that opens its own store tunes its process's C allocator (``haven.api.allocator``).

    In the test process that would change it for every later test, in whatever
    order they run; only the allocator's own tests call it.
    """
    if request.module.__name__.rpartition(".")[2] != "test_api_allocator":
        monkeypatch.setattr("haven.api.app.tune_allocator", lambda: False)


@pytest.fixture
def app(store):
    return create_app(store)


@pytest.fixture
def client(app):
    """Server errors come back as responses (500), so tests can assert they never happen."""
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def map_galaxy(store) -> str:
    """A galaxy "Map" of 200 systems whose octree nodes hold at most 25 (several levels deep)."""
    import random

    from haven.model import validate_system

    store.ensure_galaxy("Map", half_size_ly=8192.0, lod_capacity=25)
    rng = random.Random(4)
    store.import_systems("Map", [
        validate_system({"name": f"M{i:03d}", "x": rng.uniform(-3000, 3000), "y": rng.uniform(-3000, 3000),
                         "z": rng.uniform(-300, 300), "region": f"R{i % 4}"})
        for i in range(200)
    ])
    return "Map"


@pytest.fixture
def seeded(store):
    from apihelpers import seed

    return seed(store, 57)


@pytest.fixture(scope="module")
def module_store(tmp_path_factory):
    """One store per test module, for read-only tests (a migration per test is the slow part)."""
    path = tmp_path_factory.mktemp("api") / "haven.db"
    s = init_store(DatabaseUrl("sqlite", str(path)))
    s.ensure_galaxy("Haven")
    yield s
    s.close()


@pytest.fixture(scope="module")
def module_client(module_store):
    with TestClient(create_app(module_store), raise_server_exceptions=False) as c:
        yield c
