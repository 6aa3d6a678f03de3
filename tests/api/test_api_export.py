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


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "haven-json", "legacy-json"])
def test_a_download_is_one_snapshot_while_others_write(client, store, galaxy, edit_between_pages, fmt):
    """Systems renamed, deleted, created or given new planets while the answer streams are not in it:
    every system comes exactly once, as it was when the download began."""
    import csv

    from haven.model import SystemPatch

    ids = {name: store.system_by_name(GALAXY, name)["id"] for name in ("Exp 003", "Exp 050", "Exp 060", "Exp 100")}
    before = sorted(f"Exp {i:03d}" for i in range(120))

    def edit():  # between the first page of 10 and the second, on whichever thread streams the answer
        store.patch(ids["Exp 100"], SystemPatch(name="A early"))  # unread, now before the cursor
        store.patch(ids["Exp 003"], SystemPatch(name="Z late"))  # read, now after the cursor
        store.delete(ids["Exp 050"])
        store.create(GALAXY, validate_system({"name": "Exp 050 new", "x": 0, "y": 0, "z": 0}))
        store.replace(ids["Exp 060"], validate_system({"name": "Exp 060", "x": 60, "y": -60, "z": 0.5,
                                                       "planets": [{"name": "new"}]}))

    edit_between_pages(store, 10, edit)
    r = client.get("/api/v1/export", params={"format": fmt})
    assert r.status_code == 200, r.text
    if fmt == "parquet":
        records = pq.read_table(io.BytesIO(r.content)).to_pylist()
    elif fmt == "csv":
        records = list(csv.DictReader(io.StringIO(r.text)))
    elif fmt == "jsonl":
        records = [json.loads(line) for line in r.text.splitlines()]
    elif fmt == "haven-json":
        records = r.json()["data"]
    else:
        pairs = json.loads(r.text, object_pairs_hook=lambda kv: kv)  # a repeated name stays twice
        records = [{**dict(v), "name": k} for k, v in pairs if k != "_meta"]
    names = [rec["name"] for rec in records]
    assert sorted(names) == before  # each exactly once, none renamed, deleted or created since
    planets = [rec["planets"] for rec in records if rec["name"] == "Exp 060"][0]
    planets = json.loads(planets) if isinstance(planets, str) else planets
    assert [p["name"] if isinstance(p, dict) else dict(p)["name"] for p in planets] == ["p"]
    assert store.system_by_name(GALAXY, "A early")  # the writes did happen meanwhile
