"""Properties: random valid maps round-trip exactly; random corruption never changes the database."""

from __future__ import annotations

import datetime
import io
import itertools
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haven.config import DatabaseUrl
from haven.errors import ImportFailed
from haven.ingest import export_galaxy, import_file
from haven.ingest.mapping import MOON_RESERVED, PLANET_RESERVED, STATION_RESERVED, SYSTEM_RESERVED
from haven.model import BODY_TEXT_FIELDS, name_problem, validate_system
from haven.store import init_store

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
_galaxies = itertools.count()


@pytest.fixture(scope="module")
def mstore(tmp_path_factory):
    """One store for the module; every example works in galaxies of its own."""
    path = tmp_path_factory.mktemp("prop") / "haven.db"
    s = init_store(DatabaseUrl("sqlite", str(path)))
    yield s
    s.close()


def fresh_galaxy(store) -> str:
    name = f"G{next(_galaxies)}"
    store.ensure_galaxy(name)
    return name


# -- strategies ------------------------------------------------------------------

name_text = st.one_of(
    st.text(st.characters(min_codepoint=32, exclude_categories=("Cs",)), min_size=1, max_size=20),
    st.sampled_from(["AMOT 16/O5", "a/b/c", "  padded  name ", "Ünïcødé ✨", "日本語の星", "%2F/?#&=", "data"]),
).filter(lambda s: s.strip() != "" and name_problem(s.strip()) is None)  # the model's name rules

#: Text a text field holds: any Unicode but U+0000, which text fields refuse.
field_chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
text_value = st.one_of(st.none(), st.text(field_chars, max_size=12), st.integers(-10**6, 10**6))
coordinate = st.one_of(
    st.floats(-1e5, 1e5, allow_nan=False, allow_infinity=False), st.integers(-100_000, 100_000)
)
percent = st.one_of(st.floats(-100, 1000, allow_nan=False), st.integers(-100, 1000))  # the model's range
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
timestamp = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2099, 12, 31)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
)


def extras(reserved: frozenset[str], *also: str) -> st.SearchStrategy[dict[str, Any]]:
    banned = set(reserved) | set(also)
    key = st.text(max_size=12).filter(lambda k: k not in banned)
    return st.dictionaries(key, json_value, max_size=3)


def unique_names(max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(name_text, max_size=max_size, unique_by=lambda s: s.strip())


@st.composite
def body(draw, name: str, moon: bool) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return name  # a planet or moon given by name only
    d: dict[str, Any] = {"name": name}
    for f in BODY_TEXT_FIELDS:
        if draw(st.booleans()):
            d[f] = draw(text_value)
    if "sentinel" not in d and draw(st.booleans()):
        d["sentinels"] = draw(text_value)
    if "materials" not in d and draw(st.booleans()):
        d["resources"] = draw(st.lists(st.text(field_chars, max_size=8), max_size=3))
    if moon:
        for f in ("orbit_radius", "orbit_speed"):
            if draw(st.booleans()):
                d[f] = draw(st.one_of(st.none(), coordinate))
        d.update(draw(extras(MOON_RESERVED, "sentinels", "resources")))
    else:
        d.update(draw(extras(PLANET_RESERVED, "sentinels", "resources")))
        d["moons"] = [draw(body(n, moon=True)) for n in draw(unique_names(3))]
    return d


@st.composite
def legacy_system(draw, name: str) -> dict[str, Any]:
    s: dict[str, Any] = {"name": name, "x": draw(coordinate), "y": draw(coordinate), "z": draw(coordinate)}
    if draw(st.booleans()):
        s["id"] = draw(st.one_of(st.text(field_chars, min_size=1, max_size=12), st.integers(0, 10**15)))
    s["region"] = draw(st.one_of(st.none(), st.just(""), st.sampled_from(["Euclid", "Star", "Outer Rim"])))
    for f in ("fauna", "flora", "sentinel", "materials", "base_location", "photo", "attributes"):
        if draw(st.booleans()):
            s[f] = draw(text_value)
    for f in ("glyph", "provenance"):
        if draw(st.booleans()):
            s[f] = draw(st.one_of(st.none(), st.text(field_chars, max_size=12)))
    if draw(st.booleans()):
        s["confidence"] = draw(st.one_of(st.none(), st.floats(0, 1)))
    s["created_at"] = draw(timestamp)
    if s["created_at"] is not None and draw(st.booleans()):
        s["modified_at"] = s["created_at"]
    s["planets"] = [draw(body(n, moon=False)) for n in draw(unique_names(3))]
    if draw(st.booleans()):
        st_: dict[str, Any] = {"name": draw(name_text)}
        for f in ("race", "sell_percent", "buy_percent"):
            if draw(st.booleans()):
                st_[f] = draw(text_value) if f == "race" else draw(st.one_of(st.none(), percent))
        if draw(st.booleans()):
            st_.update({"x": draw(coordinate), "y": draw(coordinate), "z": draw(coordinate)})
        st_.update(draw(extras(STATION_RESERVED)))
        s["space_station"] = st_
    s.update(draw(extras(SYSTEM_RESERVED, "type", "legacy_key")))
    return s


@st.composite
def legacy_file(draw, max_systems: int = 5) -> tuple[str, list[dict[str, Any]]]:
    names = draw(unique_names(max_systems).filter(lambda ns: len(ns) >= 1))
    records = [draw(legacy_system(n)) for n in names]
    return draw(st.sampled_from(["name-keyed", "array"])), records


def write_file(path: Path, shape: str, records: list[dict[str, Any]], *, drop_names: bool = False) -> None:
    if shape == "array":
        doc: dict[str, Any] = {"_meta": {"version": "1.0.0"}, "data": records}
    else:
        doc = {"_meta": {"version": "1.0.0"}}
        for r in records:
            key = r["name"] if isinstance(r, dict) and isinstance(r.get("name"), str) else str(len(doc))
            if drop_names and isinstance(r, dict):
                r = {k: v for k, v in r.items() if k != "name"}
            doc[key] = r
    path.write_text(json.dumps(doc))


def export_data(store, galaxy: str) -> list[dict[str, Any]]:
    buf = io.StringIO()
    export_galaxy(store, galaxy, buf)
    return json.loads(buf.getvalue())["data"]


# -- (1) valid maps round-trip exactly ---------------------------------------------


@SETTINGS
@given(legacy_file(), st.booleans())
def test_random_valid_maps_roundtrip_exactly(mstore, snapshot, file, drop_names):
    shape, records = file
    g1, g2 = fresh_galaxy(mstore), fresh_galaxy(mstore)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "map.json"
        write_file(src, shape, records, drop_names=drop_names and shape == "name-keyed")
        first = import_file(mstore, g1, src)
        assert first.ok and first.created == len(records)
        assert sorted(first.names) == sorted(r["name"].strip() for r in records)

        out = Path(tmp) / "export.json"
        export_galaxy(mstore, g1, out)
        second = import_file(mstore, g2, out)
        assert second.ok and second.created == len(records)

    assert snapshot(mstore, g2) == snapshot(mstore, g1)
    assert export_data(mstore, g2) == export_data(mstore, g1)  # the export is a fixed point
    # nothing the file carried was dropped: every unknown key is in extra
    for r in records:
        stored = mstore.system_by_name(g1, r["name"].strip())
        unknown = {k for k in r if k not in SYSTEM_RESERVED}
        assert unknown <= set(stored["extra"])


system_in = st.builds(
    lambda name, x, extra, pextra, mextra, sextra, station: validate_system({
        "name": name, "x": x, "y": 0.0, "z": -x,
        "extra": extra,
        "planets": [{"name": "p", "extra": pextra, "moons": [{"name": "m", "extra": mextra}]}],
        "space_station": {"name": "s", "x": 0, "y": 0, "z": 0, "extra": sextra} if station else None,
    }),
    name_text, coordinate,
    # any key at all, including field names, aliases, "id" and "extra"
    *(st.dictionaries(st.one_of(st.text(max_size=10), st.sampled_from(
        ["name", "id", "extra", "x", "planets", "moons", "sentinels", "resources", "materials",
         "version", "legacy_id", "provenance", "space_station", "type", "legacy_key", "orbit_radius"])),
        json_value, max_size=4) for _ in range(4)),
    st.booleans(),
)


@SETTINGS
@given(st.lists(system_in, min_size=1, max_size=4, unique_by=lambda s: s.name))
def test_any_extra_keys_survive_export_and_import(mstore, snapshot, systems):
    g1, g2 = fresh_galaxy(mstore), fresh_galaxy(mstore)
    mstore.import_systems(g1, systems)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "export.json"
        export_galaxy(mstore, g1, out, fmt="haven-json")
        assert import_file(mstore, g2, out).created == len(systems)
    assert snapshot(mstore, g2) == snapshot(mstore, g1)


# -- (2) corruption never changes the database --------------------------------------

BAD_COORDINATES = ["12", "", None, True, [1.0], {"ly": 1}, math.nan, math.inf, -math.inf, 1e12]
BAD_NAMES = ["", "   ", 5, ["x"], {"n": 1}, "tab\there", "x" * 201]
NOT_OBJECTS = [42, "text", [], None, True, 1.5]


@st.composite
def corruption(draw, records: list[dict[str, Any]]) -> tuple[list[Any], int]:
    """Break one record of a valid file; return the records and the 1-based index a problem must name."""
    records = json.loads(json.dumps(records))  # deep copy
    i = draw(st.integers(0, len(records) - 1))
    r = records[i]
    kind = draw(st.integers(0, 11))
    if kind == 0:
        r[draw(st.sampled_from("xyz"))] = draw(st.sampled_from(BAD_COORDINATES))
    elif kind == 1:
        del r["name"]
    elif kind == 2:
        r["name"] = draw(st.sampled_from(BAD_NAMES))
    elif kind == 3:
        records[i] = draw(st.sampled_from(NOT_OBJECTS))
    elif kind == 4:
        r["planets"] = draw(st.sampled_from(["Ruva", 5, {"name": "Ruva"}]))
    elif kind == 5:
        r.setdefault("planets", []).append(draw(st.sampled_from([3.5, True, None, ["a"]])))
    elif kind == 6:
        r.setdefault("planets", []).append(
            {"name": "\x00corrupt", "moons": [{"name": "m", "orbit_radius": "far"}]})
    elif kind == 7:
        r["confidence"] = draw(st.sampled_from([1.5, -0.1, "high", math.nan]))
    elif kind == 8:
        r["space_station"] = draw(st.sampled_from([[1], "station", {"name": "", "x": 0}, {"x": "a"}]))
    elif kind == 9:
        r["weird"] = draw(st.sampled_from([math.nan, math.inf, 2**70, {"deep": [math.nan]}]))
    elif kind == 10:
        r["created_at"] = draw(st.sampled_from(["not a date", "2025-13-45 99:00:00", [2025]]))
    else:
        if len(records) == 1:
            records.append(dict(r))  # an exact duplicate: the second copy is the one named
            return records, 2
        j = draw(st.integers(0, len(records) - 1).filter(lambda j: j != i))
        r["name"] = records[j]["name"]
        return records, max(i, j) + 1
    return records, i + 1


def db_state(store, galaxy: str):
    stats = store.stats(galaxy)
    return stats, [(s["name"], s["version"]) for s in store.page(galaxy, limit=100).items], \
        [json.dumps(s, sort_keys=True) for s in store.iter_systems(galaxy)]


@SETTINGS
@given(st.data(), legacy_file(max_systems=4), st.sampled_from(["error", "skip", "replace"]), st.booleans())
def test_random_corruption_changes_nothing_and_names_the_record(mstore, data, file, on_conflict, dry_run):
    _, records = file
    shape = "array"  # a name-keyed file would supply a missing name from its key
    bad, index = data.draw(corruption(records))
    galaxy = fresh_galaxy(mstore)
    # the galaxy already holds systems, some under the names the file replaces
    keep = {r["name"].strip(): None for r in records[:2]}
    keep.setdefault("Bystander", None)
    for n, name in enumerate(keep):
        mstore.create(galaxy, validate_system({"name": name, "x": n, "y": 0, "z": 0, "region": "Before"}))
    before = db_state(mstore, galaxy)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corrupt.json"
        write_file(path, shape, bad)
        if dry_run:
            report = import_file(mstore, galaxy, path, dry_run=True, on_conflict=on_conflict)
            problems = report.problems
            assert not report.ok
        else:
            with pytest.raises(ImportFailed) as info:
                import_file(mstore, galaxy, path, on_conflict=on_conflict)
            problems = info.value.problems
    assert db_state(mstore, galaxy) == before
    pattern = re.compile(rf"^record (#{index}|\".*\" \(#{index}\)): ")
    assert any(pattern.match(p) for p in problems), problems
