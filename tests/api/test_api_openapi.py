"""The OpenAPI document tells the truth: Schemathesis fuzzes every operation it lists.

For each operation Schemathesis sends requests built from the document, both
valid and invalid ones, to the app in this process, over a real SQLite file
holding a generated galaxy (derived planets and moons) and a few stored
systems with children. Every answer must:

- not be a server error;
- have a status the operation documents, and that status's content type;
- match the documented schema of that status (answers and error bodies alike);
- carry the headers the document promises;

and a request the document says is invalid must be refused. Whether a valid
request is accepted is not checked: some limits depend on another parameter
or on stored data (a box's min not above its max, a cursor this server made),
which a document cannot state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from apihelpers import FULL_SYSTEM, enc, seed
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from haven.api import create_app
from haven.config import DatabaseUrl
from haven.ingest.bulk import generate_galaxy
from haven.store import init_store
from haven.store.sqlite import SQLiteStore

#: The project's Schemathesis settings (which statuses refuse invalid input), as ``st run`` reads them.
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


def galaxy_app(folder: Path) -> tuple[FastAPI, SQLiteStore]:
    """An app over a galaxy of 300 generated systems (planets derived) and 20 stored ones."""
    store = init_store(DatabaseUrl("sqlite", str(folder / "haven.db")))
    generate_galaxy(store, "Haven", 300, seed=11)
    seed(store, 20)
    return create_app(store), store


def load_schema(app: FastAPI) -> Any:
    """The app's document as Schemathesis reads it, with the project's settings."""
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_path(CONFIG))


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    app, store = galaxy_app(tmp_path_factory.mktemp("openapi"))
    yield app
    store.close()


#: Every operation the document lists, as (method, path): one test each.
OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in create_app().openapi()["paths"].items()  # no store needed to build the document
    for method in operations
)


#: Operations no request to which can break the document: no parameter, or one free-text path segment
#: (the legacy detail's only invalid names, `search` and `visible`, are the paths of other routes).
NOTHING_INVALID = {
    ("GET", "/healthz"), ("GET", "/api/v1/galaxies"), ("GET", "/api/regions"), ("GET", "/api/stats"),
    ("GET", "/api/systems/{name}"), ("GET", "/api/generate/system/{name}"), ("GET", "/maps/{filename}"),
}
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (mode is GenerationMode.NEGATIVE and (method, path) in NOTHING_INVALID)
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_every_answer_is_documented(api_app, method: str, path: str, mode: GenerationMode) -> None:
    """Valid requests (``positive``) and invalid ones (``negative``: each breaks the document somewhere)."""
    operation = load_schema(api_app)[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_as_documented(case) -> None:
        case.call_and_validate(checks=CHECKS)

    answers_as_documented()


def test_known_answers_match_the_document(tmp_path) -> None:
    """Answers that random requests seldom reach (found systems, derived and stored planets,
    the write round trip, legacy pages) are each checked against their documented schema."""
    app, store = galaxy_app(tmp_path)
    try:
        schema = load_schema(app)
        generated = store.page("Haven", limit=1).items[0]
        stored = store.search("Haven", "Sys 0003", limit=1)[0]  # seeded: stored with its children
        centre = {"x": generated["x"], "y": generated["y"], "z": generated["z"]}

        def answer(method: str, path: str, status: int, **request: Any) -> Any:
            case = schema[path][method].Case(**request)
            response = case.call()
            assert response.status_code == status, (method, path, response.text)
            case.validate_response(response, checks=CHECKS[:-1])
            return response.json() if response.headers.get("content-type") == ["application/json"] else None

        v1 = "/api/v1"
        answer("GET", f"{v1}/systems", 200, query={"limit": 5})
        answer("GET", f"{v1}/systems", 200, query={"region": stored["region"], "limit": 2})
        assert answer("GET", f"{v1}/systems/search", 200, query={"q": "Sys 00"})["items"]
        assert answer("GET", f"{v1}/systems/search", 200, query={"q": "Sy"})["items"]
        assert answer("GET", f"{v1}/systems/near", 200, query={**centre, "radius": 20000})["items"]
        answer("GET", f"{v1}/systems/box", 200, query={
            "min_x": -1e5, "min_y": -1e5, "min_z": -1e5, "max_x": 1e5, "max_y": 1e5, "max_z": 1e5})
        assert answer("GET", f"{v1}/systems/{{system_id}}", 200,
                      path_parameters={"system_id": generated["id"]})["derived"] is True
        answer("GET", f"{v1}/systems/{{system_id}}", 200, path_parameters={"system_id": stored["id"]})
        answer("GET", f"{v1}/systems/by-name/{{name}}", 200, path_parameters={"name": generated["name"]})
        answer("GET", f"{v1}/systems/{{system_id}}", 404, path_parameters={"system_id": 10**9})

        json_body = {"media_type": "application/json"}
        created = answer("POST", f"{v1}/systems", 201, body=FULL_SYSTEM, **json_body)
        one = {"system_id": created["id"]}
        answer("POST", f"{v1}/systems", 409, body=FULL_SYSTEM, **json_body)
        answer("PATCH", f"{v1}/systems/{{system_id}}", 200, path_parameters=one,
               body={"version": 1, "fauna": "None"}, **json_body)
        answer("PATCH", f"{v1}/systems/{{system_id}}", 409, path_parameters=one,
               body={"version": 1, "fauna": "Rich"}, **json_body)
        answer("PUT", f"{v1}/systems/{{system_id}}", 200, path_parameters=one,
               body={**FULL_SYSTEM, "version": 2}, **json_body)
        answer("POST", f"{v1}/systems/{{system_id}}/undo", 200, path_parameters=one, **json_body)
        answer("DELETE", f"{v1}/systems/{{system_id}}", 204, path_parameters=one)
        assert answer("GET", f"{v1}/systems/{{system_id}}/history", 200, path_parameters=one)["items"]
        assert answer("POST", f"{v1}/systems/{{system_id}}/undo", 200, path_parameters=one, **json_body)["system"]

        answer("GET", f"{v1}/regions", 200)
        answer("GET", f"{v1}/stats", 200)
        answer("GET", f"{v1}/galaxies", 200)
        answer("GET", f"{v1}/export", 200, query={"format": "jsonl"})
        answer("GET", f"{v1}/chunks/hierarchy", 200)
        answer("GET", f"{v1}/chunks/changes", 200)
        answer("GET", f"{v1}/chunks/{{level}}/{{cell}}", 200, path_parameters={"level": 0, "cell": 0})
        answer("GET", f"{v1}/chunks/{{level}}/{{cell}}/{{index}}", 200,
               path_parameters={"level": 0, "cell": 0, "index": 0})
        answer("GET", "/healthz", 200)

        assert answer("GET", "/api/systems/visible", 200, query={"cx": centre["x"], "cy": centre["y"],
                                                                 "cz": centre["z"], "radius": 20000})
        assert answer("GET", "/api/systems/search", 200, query={"q": "Sys"})
        answer("GET", "/api/systems/{name}", 200, path_parameters={"name": enc(stored["name"])})
        answer("GET", "/api/systems/{name}", 200, path_parameters={"name": enc(generated["name"])})
        answer("GET", "/api/regions", 200)
        answer("GET", "/api/regions/{region}/systems", 200, path_parameters={"region": enc(stored["region"])})
        answer("GET", "/api/stats", 200)
        link = answer("GET", "/api/generate/system/{name}", 200, path_parameters={"name": enc(stored["name"])})
        answer("GET", "/maps/{filename}", 200, path_parameters={"filename": link["map_url"].rsplit("/", 1)[1]})
        answer("GET", "/maps/{filename}", 404, path_parameters={"filename": "none.html"})
    finally:
        store.close()
