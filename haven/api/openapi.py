"""The OpenAPI document at ``/openapi.json`` (and the reference at ``/docs``).

FastAPI builds it from the routes; four corrections make it say what the
server does:

- the body models Haven validates itself (``SystemIn``, ``SystemPatch``) are
  added, since routes read raw bodies (:func:`haven.api.common.read_json_body`);
- FastAPI's ``422`` answers are removed: Haven answers bad input with ``400``,
  which every route documents (:func:`haven.api.errors.error_responses`);
- errors are documented as JSON, also on routes that answer HTML when they succeed;
- bounds that pydantic writes under their Python names (``ge``, ``le``: it does
  so for a constraint placed after a ``BeforeValidator``, as on every
  digits-only number here) get their JSON Schema names (``minimum``, ``maximum``).

The test suite fuzzes the server against this document
(``tests/api/test_api_openapi.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from haven.model import SystemIn, SystemPatch

#: pydantic's metadata names → the JSON Schema keywords for the same bounds.
BOUND_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
#: Components FastAPI adds for its 422 answers, which Haven never sends.
VALIDATION_COMPONENTS = ("HTTPValidationError", "ValidationError")


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once and kept on ``app.openapi_schema``."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (SystemIn, SystemPatch):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            for status, response in responses.items():
                if str(status)[:1] in ("4", "5"):  # 404, 4XX, ...
                    errors_are_json(response)
    for name in VALIDATION_COMPONENTS:
        components.pop(name, None)
    rename_bounds(schema)
    app.openapi_schema = schema
    return schema


def errors_are_json(response: dict[str, Any]) -> None:
    """Document an error answer as JSON, whatever the route answers when it succeeds.

    FastAPI files an error's model under the route's own media type (``text/html`` for a
    map page); every error is JSON (:func:`haven.api.errors.error_response`)."""
    content = response.get("content")
    if content and "application/json" not in content:
        response["content"] = {"application/json": next(iter(content.values()))}


def rename_bounds(node: Any) -> None:
    """Rename ``ge``/``le``/``gt``/``lt`` to their JSON Schema keywords in every schema under ``node``.

    Only in objects that describe a number (``"type": "integer"`` or ``"number"``), so a
    property that happens to be called ``ge`` is left alone."""
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            for short, keyword in BOUND_KEYWORDS.items():
                if short in node and keyword not in node:
                    node[keyword] = node.pop(short)
        for value in node.values():
            rename_bounds(value)
    elif isinstance(node, list):
        for value in node:
            rename_bounds(value)
