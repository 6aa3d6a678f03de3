"""GET /api/v1/export: a galaxy as a download, streamed, in every format `haven export` writes."""

from __future__ import annotations

import io
import json
from urllib.parse import unquote

import pyarrow.parquet as pq
import pytest

from haven.ingest.bulk import bulk_import
from haven.model import validate_system

GALAXY = "Haven"


@pytest.fixture
def galaxy(store):
    store.import_systems(GALAXY, [
        validate_system({"name": f"Exp {i:03d}", "x": i, "y": -i, "z": 0.5, "region": "R",
                         "extra": {"note": f"n{i}"},
                         "planets": [{"name": "p", "moons": [{"name": "m"}]}] if i % 10 == 0 else []})
        for i in range(120)
    ])
    return GALAXY


def test_jsonl_by_default_and_back_through_the_importer(client, store, galaxy, tmp_path):
    r = client.get("/api/v1/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["content-disposition"] == "attachment; filename=\"Haven.jsonl\"; filename*=UTF-8''Haven.jsonl"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 120 and lines[0]["name"] == "Exp 000" and lines[0]["extra"] == {"note": "n0"}
    assert lines[0]["planets"][0]["moons"][0]["name"] == "m"

    path = tmp_path / "download.jsonl"
    path.write_bytes(r.content)
    bulk_import(store, "Copy", path)
    assert store.system_by_name("Copy", "Exp 010")["planets"][0]["name"] == "p"
    assert store.stats("Copy")["total_systems"] == 120


@pytest.mark.parametrize("fmt, media", [
    ("parquet", "application/vnd.apache.parquet"), ("csv", "text/csv; charset=utf-8"),
    ("haven-json", "application/json"), ("legacy-json", "application/json"),
])
def test_every_format(client, galaxy, fmt, media):
    r = client.get("/api/v1/export", params={"format": fmt})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(r.content))
        assert table.num_rows == 120 and table.column("name")[5].as_py() == "Exp 005"
    elif fmt == "csv":
        assert len(r.text.splitlines()) == 121
    elif fmt == "haven-json":
        assert len(r.json()["data"]) == 120
    else:
        assert len(r.json()) == 121  # _meta and one key per name


def test_a_galaxy_named_with_any_text_gets_a_safe_file_name(client, store):
    name = 'Ring "7"/../\u2605 ;x'
    store.ensure_galaxy(name)
    store.import_systems(name, [validate_system({"name": "A", "x": 0, "y": 0, "z": 0})])
    r = client.get("/api/v1/export", params={"galaxy": name, "format": "csv"})
    assert r.status_code == 200
    disposition = r.headers["content-disposition"]
    fallback = disposition.split('filename="')[1].split('"')[0]
    assert fallback == "Ring _7__..__ _x.csv"  # no quote, slash or semicolon survives
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"{name}.csv"


def test_bad_requests_answer_before_any_byte(client, galaxy):
    r = client.get("/api/v1/export", params={"format": "xlsx"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "format"
    r = client.get("/api/v1/export", params={"galaxy": "Nowhere"})
    assert r.status_code == 404 and "Nowhere" in r.json()["error"]["message"]


def test_legacy_json_refuses_a_system_named_meta(client, store, galaxy):
    store.create(GALAXY, validate_system({"name": "_meta", "x": 0, "y": 0, "z": 0}))
    r = client.get("/api/v1/export", params={"format": "legacy-json"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "format"


def test_every_export_format_has_a_download_type():
    from haven.ingest.export import DOWNLOADS, FORMATS

    assert set(DOWNLOADS) == set(FORMATS)  # a format without one would fail at download time
