"""The store contract: behaviour every engine must share."""

from __future__ import annotations

import math
import random

import pytest

from haven.errors import Conflict, InvalidInput, NotFound, StaleVersion
from haven.model import validate_patch, validate_system
from haven.config import DEFAULT_GALAXY as GALAXY


def make(name: str, x: float = 0.0, y: float = 0.0, z: float = 0.0, **fields):
    return validate_system({"name": name, "x": x, "y": y, "z": z, **fields})


def full_system(name: str = "AMOT 16/O5"):
    return make(
        name, 1.5, -2.0, 3.25,
        region="Star", fauna="mid", materials="Solanium, Silver", attributes="portal nearby",
        extra={"discord_user": "ab#12", "tags": ["x", 1]},
        planets=[
            {"name": "Ruva", "sentinel": "Low", "moons": [
                {"name": "Ruva-a", "orbit_radius": 0.5, "orbit_speed": 0.05},
                {"name": "Ruva-b", "orbit_radius": 0.9, "orbit_speed": 0.02, "extra": {"notes2": "icy"}},
            ]},
            {"name": "Tesk"},
        ],
        space_station={"name": "Hub", "x": 1.6, "y": -2.0, "z": 3.0, "race": "Gek",
                       "sell_percent": 12.5, "buy_percent": 140},
    )


def test_create_and_read_back_everything(store):
    created = store.create(GALAXY, full_system())
    again = store.system(created["id"])
    assert again == created
    by_name = store.system_by_name(GALAXY, "AMOT 16/O5")
    assert by_name["id"] == created["id"]
    assert created["version"] == 1
    assert created["region"] == "Star"
    assert created["extra"] == {"discord_user": "ab#12", "tags": ["x", 1]}
    assert [p["name"] for p in created["planets"]] == ["Ruva", "Tesk"]
    assert [m["name"] for m in created["planets"][0]["moons"]] == ["Ruva-a", "Ruva-b"]
    assert created["planets"][0]["moons"][1]["extra"] == {"notes2": "icy"}
    assert created["space_station"]["race"] == "Gek"
    assert created["created_at"].endswith("Z")


def test_names_are_unique_per_galaxy(store):
    store.create(GALAXY, make("Twin"))
    with pytest.raises(Conflict) as err:
        store.create(GALAXY, make("Twin", 5, 5, 5))
    assert err.value.field == "name"
    store.ensure_galaxy("Other")
    store.create("Other", make("Twin"))  # a different galaxy may reuse the name
    assert store.stats(GALAXY)["total_systems"] == 1


def test_counters_follow_every_write(store):
    a = store.create(GALAXY, make("A", region="North"))
    b = store.create(GALAXY, make("B", region="North"))
    store.create(GALAXY, make("C", region="South"))
    counts = {r["name"]: r["system_count"] for r in store.regions(GALAXY)}
    assert counts == {"North": 2, "South": 1}
    store.patch(a["id"], validate_patch({"region": "South"}))
    store.delete(b["id"])
    counts = {r["name"]: r["system_count"] for r in store.regions(GALAXY)}
    assert counts == {"North": 0, "South": 2}
    assert store.stats(GALAXY)["total_systems"] == 2


def test_keyset_pages_walk_every_system_once(store):
    names = [f"S{i:03d}" for i in range(37)]
    random.Random(1).shuffle(names)
    for i, n in enumerate(names):
        store.create(GALAXY, make(n, i, 0, 0, region="Even" if i % 2 == 0 else "Odd"))
    seen, after = [], None
    while True:
        page = store.page(GALAXY, after=after, limit=10)
        assert page.total == 37
        seen += [s["name"] for s in page.items]
        if not page.has_more:
            break
        after = page.items[-1]["name"]
    assert seen == sorted(names)
    back = store.page(GALAXY, before="S020", limit=5)
    assert [s["name"] for s in back.items] == ["S015", "S016", "S017", "S018", "S019"]
    assert back.has_more and back.has_previous
    last = store.page(GALAXY, before="S036\uffff", limit=5)  # the last page: nothing after it
    assert [s["name"] for s in last.items][-1] == "S036" and not last.has_more
    odd = sorted(n for i, n in enumerate(names) if i % 2)
    inside = store.page(GALAXY, region="Odd", before=odd[-1], limit=5)
    assert inside.items[-1]["name"] == odd[-2] and inside.has_more
    past = store.page(GALAXY, region="Odd", before=odd[-1] + "\uffff", limit=5)
    assert past.items[-1]["name"] == odd[-1] and not past.has_more
    region = store.page(GALAXY, region="Odd", limit=100)
    assert region.total == 18 and all(s["region"] == "Odd" for s in region.items)
    assert [s["name"] for s in region.items] == sorted(s["name"] for s in region.items)
    with pytest.raises(NotFound):
        store.page(GALAXY, region="Nowhere")


def test_limits_are_checked(store):
    for bad in (0, -1, 5001):
        with pytest.raises(InvalidInput) as err:
            store.page(GALAXY, limit=bad)
        assert err.value.field == "limit"
    with pytest.raises(InvalidInput):
        store.page(GALAXY, offset=10_001)


def test_search_matches_substrings_in_any_case(store):
    store.create(GALAXY, make("Alpha Gold", materials="Carbon"))
    store.create(GALAXY, make("Beta", materials="Pure Gold, Salt"))
    store.create(GALAXY, make("Gamma", attributes='{"star": "golden"}'))
    store.create(GALAXY, make("Delta", materials="Salt"))
    assert [s["name"] for s in store.search(GALAXY, "gOLd")] == ["Alpha Gold", "Beta", "Gamma"]
    assert [s["name"] for s in store.search(GALAXY, "ure go")] == ["Beta"]
    assert [s["name"] for s in store.search(GALAXY, "Be")] == ["Beta"]  # short: name prefix
    first = store.search(GALAXY, "gold", limit=1)
    rest = store.search(GALAXY, "gold", after_id=first[0]["id"])
    assert [s["name"] for s in rest] == ["Beta", "Gamma"]
    assert store.search(GALAXY, 'quote " and * ( )') == []
    with pytest.raises(InvalidInput):
        store.search(GALAXY, "   ")


def test_search_index_follows_updates_and_deletes(store):
    s = store.create(GALAXY, make("Omega", materials="Copper"))
    store.patch(s["id"], validate_patch({"materials": "Tritium"}))
    assert store.search(GALAXY, "copper") == []
    assert [x["name"] for x in store.search(GALAXY, "tritium")] == ["Omega"]
    store.delete(s["id"])
    assert store.search(GALAXY, "tritium") == []


def brute_force(points, centre, radius):
    out = []
    for name, p in points.items():
        d = math.dist(p, centre)
        if d <= radius:
            out.append((d, name))
    return [n for _, n in sorted(out)]


def test_sphere_is_exact_and_ordered(store):
    rng = random.Random(7)
    points = {}
    for i in range(400):
        p = (rng.uniform(-300, 300), rng.uniform(-300, 300), rng.uniform(-40, 40))
        points[f"P{i}"] = p
        store.create(GALAXY, make(f"P{i}", *p))
    for _ in range(20):
        c = (rng.uniform(-300, 300), rng.uniform(-300, 300), rng.uniform(-40, 40))
        r = rng.choice([10, 50, 120, 400])
        got = store.near(GALAXY, *c, r, limit=5000)
        expected = brute_force(points, c, r)
        assert sorted(s["name"] for s in got) == sorted(expected)
        dists = [s["distance"] for s in got]
        assert dists == sorted(dists)
        for s in got:
            assert s["distance"] == pytest.approx(math.dist(points[s["name"]], c))
        capped = store.near(GALAXY, *c, r, limit=3)
        assert [s["name"] for s in capped] == [s["name"] for s in got[:3]]


def test_sphere_rows_are_the_stored_fields_exactly(store):
    """A sphere answer carries the same fields, values and key order as a page does.

    Large answers read rows packed as JSON (see ``PACKED_SYSTEM_COLUMNS``): doubles
    must come back to the last bit and text byte for byte.
    """
    x = 0.1 + 0.2  # 0.30000000000000004: needs all 17 digits
    rich = store.create(GALAXY, make(
        'Qu"ote \\ Ünï ✨ 16/O5', x, -1 / 3, 2.0 ** -30, region="Star", fauna="None",
        materials="Gold", confidence=0.123456789012345678, legacy_id="L-1",
        extra={"k": "v", "n": [1, 2.5e-300]}, provenance="Gaia DR3 ✓",
    ))
    plain = store.create(GALAXY, make("Plain", 1.0, 0, 0))
    got = store.near(GALAXY, 0.0, 0.0, 0.0, 5.0, limit=10)
    assert [s["name"] for s in got] == [rich["name"], "Plain"]
    page = {s["id"]: s for s in store.page(GALAXY, limit=10).items}
    for row in got:
        expected = page[row["id"]]
        distance = row.pop("distance")
        assert list(row) == list(expected) and row == expected
        assert distance == pytest.approx(math.dist((expected["x"], expected["y"], expected["z"]), (0, 0, 0)), rel=1e-15)
    assert got[0]["x"] == x and got[0]["y"] == -1 / 3 and got[0]["confidence"] == 0.123456789012345678
    assert got[0]["extra"] == {"k": "v", "n": [1, 2.5e-300]} and got[1]["id"] == plain["id"]


def test_box_is_exact(store):
    for i in range(-5, 6):
        store.create(GALAXY, make(f"B{i}", i * 10, i, 0))
    got = store.box(GALAXY, (-20, -100, -1), (30, 100, 1), limit=100)
    assert sorted(s["name"] for s in got) == sorted(f"B{i}" for i in range(-2, 4))


def test_spatial_input_is_checked(store):
    for args, field in [((math.nan, 0, 0, 5), "x"), ((0, math.inf, 0, 5), "y"),
                        ((0, 0, 0, 0), "radius"), ((0, 0, 0, -1), "radius"), ((0, 0, 0, math.nan), "radius")]:
        with pytest.raises(InvalidInput) as err:
            store.near(GALAXY, *args)
        assert err.value.field == field


def test_positions_outside_the_galaxy_are_refused(store):
    with pytest.raises(InvalidInput) as err:
        store.create(GALAXY, make("Far", 1e9, 0, 0))
    assert err.value.field == "x"
    assert store.stats(GALAXY)["total_systems"] == 0


def test_a_position_just_past_the_edge_is_named_in_full(store):
    """Shown to six digits, 131072.00001 read as the edge itself: "131072 lies outside (±131072 …)"."""
    edge = store.galaxy(GALAXY)["half_size_ly"]
    with pytest.raises(InvalidInput) as err:
        store.create(GALAXY, make("Edge", 0, -(edge + 0.00001), 0))
    assert err.value.field == "y"
    assert err.value.message == f"y = -{edge + 0.00001!r} lies outside the galaxy (±{edge:g} LY around 0)"
    store.create(GALAXY, make("On the edge", 0, -edge, 0))  # the cube's faces are inside


def test_optimistic_locking(store):
    s = store.create(GALAXY, full_system())
    updated = store.patch(s["id"], validate_patch({"fauna": "high", "version": 1}))
    assert updated["version"] == 2 and updated["fauna"] == "high"
    with pytest.raises(StaleVersion) as err:
        store.patch(s["id"], validate_patch({"fauna": "low", "version": 1}))
    assert err.value.current_version == 2
    with pytest.raises(StaleVersion):
        store.replace(s["id"], validate_system({**full_system().model_dump(), "version": 1}))
    with pytest.raises(StaleVersion):
        store.delete(s["id"], expected_version=1)
    assert store.system(s["id"]) == updated


def test_replace_swaps_children_and_patch_keeps_them(store):
    s = store.create(GALAXY, full_system())
    replaced = store.replace(s["id"], make("AMOT 16/O5", 1, 1, 1, planets=[{"name": "Solo"}]))
    assert [p["name"] for p in replaced["planets"]] == ["Solo"]
    assert replaced["space_station"] is None
    assert replaced["version"] == 2
    patched = store.patch(s["id"], validate_patch({"name": "Renamed"}))
    assert [p["name"] for p in patched["planets"]] == ["Solo"]
    assert store.system_by_name(GALAXY, "Renamed")["id"] == s["id"]
    with pytest.raises(NotFound):
        store.system_by_name(GALAXY, "AMOT 16/O5")


def test_delete_cascades(store):
    s = store.create(GALAXY, full_system())
    store.delete(s["id"])
    with pytest.raises(NotFound):
        store.system(s["id"])
    for table in ("planet", "moon", "space_station"):
        assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    with pytest.raises(NotFound):
        store.delete(s["id"])


def test_failed_write_changes_nothing(store):
    store.create(GALAXY, make("Keep", region="R"))
    before = (store.stats(GALAXY), store.page(GALAXY).items)
    batch = [make("New1", region="R2"), make("Keep")]  # the second clashes
    with pytest.raises(Conflict):
        store.import_systems(GALAXY, batch)
    assert (store.stats(GALAXY), store.page(GALAXY).items) == before


def test_import_conflict_modes(store):
    store.create(GALAXY, make("Keep", 1, 1, 1))
    res = store.import_systems(GALAXY, [make("Keep", 2, 2, 2), make("Fresh")], on_conflict="skip")
    assert (res.created, res.skipped) == (1, 1)
    assert store.system_by_name(GALAXY, "Keep")["x"] == 1
    res = store.import_systems(GALAXY, [make("Keep", 3, 3, 3)], on_conflict="replace")
    assert res.replaced == 1 and store.system_by_name(GALAXY, "Keep")["x"] == 3
    assert store.stats(GALAXY)["total_systems"] == 2


def test_iter_systems_returns_children(store):
    store.create(GALAXY, full_system())
    store.create(GALAXY, make("Bare"))
    systems = list(store.iter_systems(GALAXY, batch_size=1))
    assert [s["name"] for s in systems] == ["AMOT 16/O5", "Bare"]
    assert len(systems[0]["planets"]) == 2 and systems[1]["planets"] == []


def test_the_sqlite_store_implements_every_operation_of_the_contract_as_written():
    """``haven.store.base.Store`` lists what callers use; the engine has each with the same signature."""
    import inspect

    from haven.store.base import Store
    from haven.store.sqlite import SQLiteStore

    operations = [n for n, f in vars(Store).items() if callable(f) and not n.startswith("_")]
    assert len(operations) >= 30
    for name in operations:
        assert inspect.getdoc(getattr(Store, name)), name
        assert str(inspect.signature(getattr(SQLiteStore, name))) == str(inspect.signature(getattr(Store, name))), name


@pytest.mark.parametrize("after_commit", ["patch", "delete"])
def test_a_writes_answer_is_what_it_made_even_when_another_writer_commits_right_after(store, db_url, after_commit):
    """The answer (and so the API's ETag) is read before the commit: another writer committing
    between this write's commit and its return cannot show up in it, nor turn it into a 404."""
    from haven.store import open_store

    other = open_store(db_url)
    created = store.create(GALAXY, full_system("Contested"))
    sid = created["id"]
    fired: list[int] = []

    def another_writer_commits() -> None:  # runs right after each commit of ``store``
        if fired:
            return
        fired.append(1)
        if after_commit == "patch":
            other.patch(sid, validate_patch({"fauna": "theirs"}))
        else:
            other.delete(sid)

    stop = store.on_commit(another_writer_commits)
    try:
        mine = store.patch(sid, validate_patch({"fauna": "mine", "version": 1}))
    finally:
        stop()
        other.close()
    assert fired
    assert mine["fauna"] == "mine" and mine["version"] == 2 and len(mine["planets"]) == len(created["planets"])
    if after_commit == "patch":
        assert store.system(sid)["version"] == 3 and store.system(sid)["fauna"] == "theirs"
    else:
        with pytest.raises(NotFound):
            store.system(sid)
