"""``bench/kit_adapter.py``: Haven behind the baseline kit's function interface.

A tiny dataset in the kit's layout (``systems.parquet``, ``details.jsonl``,
``params.json`` with the fields the kit's runner reads) is written here, imported
with ``haven import`` and queried through every adapter function; each answer is
checked against brute force over the rows this test wrote.
"""

from __future__ import annotations

import importlib.util
import json
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from haven.cli import app

ROOT = Path(__file__).resolve().parents[2]
N = 2_345
PER_PAGE = 100
REGIONS = [("Tessel Expanse", 0.45), ("Gorraur Void", 0.30), ("Ochan Reach", 0.15), ("Brai Drift", 0.07),
           ("Zoo Spur", 0.03)]
KIT_SCHEMA = pa.schema([
    ("id", pa.string()), ("name", pa.string()), ("x", pa.float64()), ("y", pa.float64()), ("z", pa.float64()),
    ("region", pa.string()), ("fauna", pa.string()), ("flora", pa.string()), ("sentinel", pa.string()),
    ("materials", pa.string()), ("base_location", pa.string()), ("photo", pa.string()),
    ("attributes", pa.string()),
])
SYLLABLES = ["WO", "SAN", "JO", "BRAI", "KEE", "OCH", "ANJ", "STEE", "MA", "KOU", "YEN", "PLAI", "RUS", "ZHI"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def load_adapter():
    spec = importlib.util.spec_from_file_location("kit_adapter_under_test", ROOT / "bench" / "kit_adapter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kit = load_adapter()


# -- a kit-shaped dataset ------------------------------------------------------------------


def make_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    codes = rng.permutation(N)
    region_of = rng.choice(len(REGIONS), size=N, p=[w for _, w in REGIONS])
    dense = rng.random(N) < 0.7  # most systems near the origin, so a 500 LY sphere holds hundreds
    xy = np.where(dense[:, None], rng.normal(0, 300, (N, 2)), rng.uniform(-4000, 4000, (N, 2)))
    z = np.where(dense, rng.normal(0, 60, N), rng.uniform(-400, 400, N))
    rows = []
    for i in range(N):
        base = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4))))
        c = int(codes[i])
        suffix = f"{LETTERS[c % 26]}{c // 26}{LETTERS[(c * 7) % 26]}"
        rows.append({
            "id": str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | int(rng.integers(0, 2**62)), version=4)),
            "name": f"{base} {suffix}",
            "x": round(float(xy[i, 0]), 2), "y": round(float(xy[i, 1]), 2), "z": round(float(z[i]), 2),
            "region": REGIONS[region_of[i]][0],
            "fauna": "Average", "flora": "Sparse", "sentinel": "Low",
            "materials": "Gold, Carbon" if i % 20 == 3 else "Carbon, Oxygen, Sodium",
            "base_location": None, "photo": f"photos/{i}.jpg" if i % 31 == 0 else None,
            "attributes": json.dumps({"star": "Yellow", "economy": "Trading", "planet_count": 3,
                                      "discovered": bool(i % 2)}),
        })
    return rows


def body(name: str, rng: np.random.Generator) -> dict[str, Any]:
    return {"name": name, "sentinel": "Low", "fauna": "Full", "flora": "None",
            "properties": {"biome": "Lush", "temperature": round(float(rng.uniform(-50, 50)), 1),
                           "radius_km": int(rng.integers(800, 9000))},
            "materials": "Carbon, Oxygen, Emeril", "base_location": None, "photo": None, "notes": "Surveyed"}


def details_record(row: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    base = row["name"].split(" ")[0]
    planets = []
    for p, roman in enumerate(["I", "II", "III", "IV", "V"]):
        planet = body(f"{base} {roman}", rng)
        planet["moons"] = [dict(body(f"{base} {roman}-{ab}", rng), orbit_radius=0.5, orbit_speed=0.05)
                           for ab in "ab"]
        planets.append(planet)
    station = {"name": f"{base} Station", "x": row["x"] + 0.1, "y": row["y"] - 0.1, "z": row["z"]}
    return {"id": row["id"], "planets": planets, "space_station": station}


def in_sphere(rows: list[dict[str, Any]], centre: list[float], radius: float) -> list[tuple[float, str]]:
    out = []
    for r in rows:
        d2 = (r["x"] - centre[0]) ** 2 + (r["y"] - centre[1]) ** 2 + (r["z"] - centre[2]) ** 2
        if d2 <= radius ** 2:
            out.append((math.sqrt(d2), r["name"]))
    return sorted(out)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("kit")
    rng = np.random.default_rng(11)
    rows = make_rows(rng)
    pq.write_table(pa.Table.from_pylist(rows, schema=KIT_SCHEMA), folder / "systems.parquet", compression="zstd")
    detail_rows = [rows[i] for i in sorted(rng.choice(N, size=24, replace=False).tolist())]
    with (folder / "details.jsonl").open("w") as fh:
        for r in detail_rows:
            fh.write(json.dumps(details_record(r, rng), separators=(",", ":")) + "\n")

    detail_names = {r["name"] for r in detail_rows}
    plain = [r for r in rows if r["name"] not in detail_names]
    counts = {name: sum(1 for r in rows if r["region"] == name) for name, _ in REGIONS}
    centres = [[r["x"], r["y"], r["z"]] for r in plain[100:112]] + [[0.0, 0.0, 0.0]]
    params = {
        "n": N, "seed": 7,
        "names_with_details": [r["name"] for r in detail_rows],
        "names_without_details": [r["name"] for r in plain[:10]],
        "ids_with_details": [r["id"] for r in detail_rows],
        "ids_without_details": [r["id"] for r in plain[:10]],
        "rare_suffixes": [r["name"].split(" ")[-1] for r in plain[10:20]],
        "sphere_centres": centres,
        "sphere_truth": {str(rad): [len(in_sphere(rows, c, rad)) for c in centres] for rad in (50, 500)},
        "regions": [{"name": name, "count": counts[name]} for name, _ in REGIONS],
        "largest_region": {"name": REGIONS[0][0], "count": counts[REGIONS[0][0]]},
        "gold_systems": sum(1 for r in rows if "Gold" in r["materials"]),
    }
    (folder / "params.json").write_text(json.dumps(params, indent=1))

    db = folder / "haven.db"
    runner = CliRunner(env={"COLUMNS": "240"})
    for args in (["init", "--no-demo"], ["import", str(folder / "systems.parquet")],
                 ["import", str(folder / "details.jsonl")]):
        result = runner.invoke(app, [*args, "--database", str(db)])
        assert result.exit_code == 0, result.output
    return {"folder": folder, "db": db, "rows": rows, "params": params, "detail_rows": detail_rows,
            "rng_seed": 11}


@pytest.fixture
def conn(dataset, monkeypatch):
    monkeypatch.delenv("HAVEN_KIT_PARAMS", raising=False)
    monkeypatch.delenv("HAVEN_KIT_GALAXY", raising=False)
    c = kit.connect(str(dataset["db"]))
    yield c
    c.close()


def names(systems: list[dict[str, Any]]) -> list[str]:
    return [s["name"] for s in systems]


# -- pages ---------------------------------------------------------------------------------


def test_pages_in_name_order_with_totals(dataset, conn):
    ordered = sorted(r["name"] for r in dataset["rows"])
    deep = N // PER_PAGE // 2
    assert deep > 2
    for page in (1, 2, deep):
        res = kit.get_systems_paginated(conn, page)
        assert names(res["systems"]) == ordered[(page - 1) * PER_PAGE:page * PER_PAGE]
        assert (res["total"], res["page"], res["per_page"], res["pages"]) == (N, page, PER_PAGE, -(-N // PER_PAGE))
    # the deep page starts at the right name: the cursor is the last name of the page before it
    assert conn.cursors[(None, deep, PER_PAGE)] == ordered[(deep - 1) * PER_PAGE - 1]
    assert kit.get_systems_paginated(conn, deep)["systems"][0]["name"] == ordered[(deep - 1) * PER_PAGE]


def test_region_pages(dataset, conn):
    by_region: dict[str, list[str]] = {}
    for r in dataset["rows"]:
        by_region.setdefault(r["region"], []).append(r["name"])
    regions = dataset["params"]["regions"] + [dataset["params"]["largest_region"]]
    mids = set()
    for reg in regions:
        ordered = sorted(by_region[reg["name"]])
        mid = max(1, reg["count"] // PER_PAGE // 2)
        mids.add(mid)
        for page in {1, mid}:
            res = kit.get_systems_paginated(conn, page, PER_PAGE, reg["name"])
            assert names(res["systems"]) == ordered[(page - 1) * PER_PAGE:page * PER_PAGE], (reg, page)
            assert res["total"] == reg["count"] == len(ordered)
            assert res["page"] == page
    assert max(mids) > 2  # some region pages really are deep


def test_a_page_that_was_not_precomputed_is_refused(conn):
    with pytest.raises(LookupError, match="page 3 .* was not precomputed"):
        kit.get_systems_paginated(conn, 3)
    with pytest.raises(LookupError):
        kit.get_systems_paginated(conn, 2, 50)


def test_a_page_past_the_end_is_empty(dataset):
    params = dict(dataset["params"])
    params["regions"] = params["regions"] + [{"name": "Zoo Spur", "count": 10 * N}]  # page 117 of ~70 rows
    c = kit.connect(str(dataset["db"]), params=params)
    try:
        page = 10 * N // PER_PAGE // 2
        res = kit.get_systems_paginated(c, page, PER_PAGE, "Zoo Spur")
        assert res["systems"] == [] and res["total"] == sum(1 for r in dataset["rows"] if r["region"] == "Zoo Spur")
    finally:
        c.close()


# -- search and detail ---------------------------------------------------------------------


def test_search_finds_the_rows_brute_force_finds(dataset, conn):
    def brute(q: str) -> set[str]:
        q = q.lower()
        return {r["name"] for r in dataset["rows"]
                if q in r["name"].lower() or q in r["materials"].lower() or q in r["attributes"].lower()}

    gold = kit.search_systems(conn, "Gold")
    assert len(gold) == PER_PAGE and set(names(gold)) <= brute("Gold")
    assert set(names(kit.search_systems(conn, "Gold", 5000))) == brute("Gold")
    assert len(brute("Gold")) == dataset["params"]["gold_systems"]
    for suffix in dataset["params"]["rare_suffixes"]:
        found = kit.search_systems(conn, suffix)
        assert names(found) == sorted(brute(suffix)) and len(found) == 1
        assert found[0]["name"].endswith(" " + suffix)


def test_system_by_name_has_planets_moons_and_station(dataset, conn):
    rows = {r["name"]: r for r in dataset["rows"]}
    for name in dataset["params"]["names_with_details"]:
        s = kit.get_system_by_name(conn, name)
        assert s["name"] == name and s["legacy_id"] == rows[name]["id"]
        assert len(s["planets"]) == 5 and [len(p["moons"]) for p in s["planets"]] == [2] * 5
        base = name.split(" ")[0]
        assert s["planets"][4]["moons"][1]["name"] == f"{base} V-b"
        assert set(json.loads(s["planets"][0]["properties"])) == {"biome", "temperature", "radius_km"}
        assert s["space_station"]["name"] == f"{base} Station"
    for name in dataset["params"]["names_without_details"]:
        s = kit.get_system_by_name(conn, name)
        assert s["name"] == name and s["planets"] == [] and s["space_station"] is None
    assert kit.get_system_by_name(conn, "NO SUCH SYSTEM") is None


# -- spheres -------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [50, 500, 2500])
def test_spheres_equal_brute_force_and_are_complete(dataset, conn, radius):
    params = dataset["params"]
    for i, centre in enumerate(params["sphere_centres"]):
        found, fetched = kit.get_systems_in_region_sphere(conn, *centre, radius)
        want = in_sphere(dataset["rows"], centre, radius)
        assert fetched == len(found) == len(want)
        assert names(found) == [n for _, n in want] or sorted(names(found)) == sorted(n for _, n in want)
        dists = [s["distance"] for s in found]
        assert dists == sorted(dists) and all(d <= radius for d in dists)
        assert np.allclose(dists, [d for d, _ in want])
        if str(radius) in params["sphere_truth"]:
            assert len(found) == params["sphere_truth"][str(radius)][i]  # the runner's "complete"
    big = in_sphere(dataset["rows"], [0.0, 0.0, 0.0], 2500)
    assert len(big) > 1000  # the origin sphere is dense: the limit below really cuts


def test_a_sphere_over_its_limit_returns_the_nearest(dataset, conn):
    found, fetched = kit.get_systems_in_region_sphere(conn, 0.0, 0.0, 0.0, 2500, limit=50)
    want = in_sphere(dataset["rows"], [0.0, 0.0, 0.0], 2500)[:50]
    assert fetched == 50 and np.allclose([s["distance"] for s in found], [d for d, _ in want])


# -- writes --------------------------------------------------------------------------------


def kit_new_system(i: int) -> dict[str, Any]:
    """A system as the kit's runner makes one for add_system."""
    x, y, z = 1234.5 + i, -987.25, 42.0

    def b(name: str) -> dict[str, Any]:
        return {"name": name, "sentinel": "Low", "fauna": "Average", "flora": "Sparse",
                "properties": {"biome": "Lush"}, "materials": "Carbon, Oxygen", "notes": "bench"}

    planets = []
    for p in range(5):
        pl = b(f"BENCH-ADD {i} P{p}")
        pl["moons"] = [dict(b(f"BENCH-ADD {i} P{p} M{m}"), orbit_radius=0.5, orbit_speed=0.05) for m in range(2)]
        planets.append(pl)
    return {"id": str(uuid.UUID(int=i + 1, version=4)), "name": f"BENCH-ADD {i:05d}", "x": x, "y": y, "z": z,
            "region": "Bench Region", "fauna": "Average", "flora": "Average", "sentinel": "Low",
            "materials": "Carbon, Gold", "base_location": None, "photo": None, "attributes": {"star": "Yellow"},
            "planets": planets, "space_station": {"name": f"BENCH-ADD {i} Station", "x": x, "y": y, "z": z}}


def test_add_and_delete_round_trip(dataset, conn):
    added = [kit.add_system(conn, kit_new_system(i)) for i in range(3)]
    assert all(isinstance(a, int) for a in added)
    assert kit.get_systems_paginated(conn, 1)["total"] == N + 3
    s = kit.get_system_by_name(conn, "BENCH-ADD 00001")
    src = kit_new_system(1)
    assert s["legacy_id"] == src["id"] and s["region"] == "Bench Region"
    assert s["attributes"] == json.dumps({"star": "Yellow"})
    assert [len(p["moons"]) for p in s["planets"]] == [2] * 5
    assert json.loads(s["planets"][2]["moons"][1]["properties"]) == {"biome": "Lush"}
    assert s["planets"][2]["moons"][1]["orbit_radius"] == 0.5
    assert s["space_station"]["name"] == "BENCH-ADD 1 Station"
    assert "BENCH-ADD 00002" in names(kit.search_systems(conn, "BENCH-ADD", 5000))
    found, _ = kit.get_systems_in_region_sphere(conn, src["x"], src["y"], src["z"], 5)
    assert "BENCH-ADD 00001" in names(found)

    kit.delete_systems(conn, added)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert kit.get_systems_paginated(conn, 1)["total"] == N
    assert kit.get_system_by_name(conn, "BENCH-ADD 00001") is None
    assert kit.search_systems(conn, "BENCH-ADD") == []


def test_the_runner_can_read_pragmas(conn):
    pragmas = {p: conn.execute(f"PRAGMA {p}").fetchone()[0]
               for p in ("journal_mode", "synchronous", "cache_size", "page_size")}
    assert pragmas["journal_mode"] == "wal" and pragmas["synchronous"] == 2


def test_housekeeping_runs_in_the_background_as_the_server_runs_it(dataset, monkeypatch):
    c = kit.connect(str(dataset["db"]))
    assert c.store._maintenance is not None and c.store._maintenance.is_alive()
    assert c.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # commits never checkpoint
    c.close()
    assert c.store._maintenance is None
    monkeypatch.setenv("HAVEN_KIT_MAINTENANCE", "0")
    c = kit.connect(str(dataset["db"]))
    try:
        assert c.store._maintenance is None and c.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 0
    finally:
        c.close()


# -- setup errors --------------------------------------------------------------------------


def test_params_from_the_environment_and_clear_setup_errors(dataset, tmp_path, monkeypatch):
    elsewhere = tmp_path / "p.json"
    elsewhere.write_text((dataset["folder"] / "params.json").read_text())
    copy = tmp_path / "haven.db"
    copy.write_bytes(dataset["db"].read_bytes())
    with pytest.raises(FileNotFoundError, match="HAVEN_KIT_PARAMS"):
        kit.connect(str(copy))
    monkeypatch.setenv("HAVEN_KIT_PARAMS", str(elsewhere))
    c = kit.connect(str(copy))
    try:
        assert (None, N // PER_PAGE // 2, PER_PAGE) in c.cursors
    finally:
        c.close()
    wrong = dict(dataset["params"], n=N + 1)
    with pytest.raises(ValueError, match="params.json is for 2,346 systems but galaxy 'Haven' holds 2,345"):
        kit.connect(str(copy), params=wrong)
