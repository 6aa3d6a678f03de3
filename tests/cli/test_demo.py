"""The demo galaxy: hand-charted systems plus a deterministic generated part."""

from __future__ import annotations

from pathlib import Path

from haven.config import DatabaseUrl
from haven.demo import DEMO_FILE, demo_state, handmade_systems, seed_demo
from haven.store import init_store


def _store(path: Path):
    store = init_store(DatabaseUrl("sqlite", str(path)))
    store.ensure_galaxy("Demo")
    return store


def test_demo_file_is_valid_and_varied() -> None:
    systems = handmade_systems()
    assert 10 <= len(systems) <= 15
    names = [s.name for s in systems]
    assert len(set(names)) == len(names)
    assert any("/" in n and " " in n for n in names)
    assert any(s.space_station is not None for s in systems)
    assert any(p.moons for s in systems for p in s.planets)
    assert DEMO_FILE.read_text(encoding="utf-8").lstrip().startswith("{")


def test_seed_demo_is_deterministic(tmp_path: Path) -> None:
    dumps = []
    for name in ("a.db", "b.db"):
        store = _store(tmp_path / name)
        try:
            result = seed_demo(store, "Demo", n_generated=300)
            assert (result.generated, result.handmade_created) == (300, len(handmade_systems()))
            systems = list(store.iter_systems("Demo"))
            assert len(systems) == 300 + len(handmade_systems())
            generated = next(s for s in systems if s["name"] not in {h.name for h in handmade_systems()})
            detail = store.system(generated["id"])
            assert detail["planets"], "generated systems get planets derived from their seed"
            dumps.append(([(s["id"], s["name"], s["x"], s["y"], s["z"], s["region"]) for s in systems],
                          detail["planets"]))
        finally:
            store.close()
    assert dumps[0] == dumps[1]


def test_seeding_resumes_and_then_stays_done(tmp_path: Path) -> None:
    store = _store(tmp_path / "d.db")
    try:
        assert demo_state(store, "Demo") is None
        # An interrupted run: marked started, generated part written, hand-charted part missing.
        from haven.ingest.bulk import generate_galaxy

        store.set_meta_value("demo:Demo", "started")
        generate_galaxy(store, "Demo", 300, 7_340_112)
        assert demo_state(store, "Demo") == "started"
        result = seed_demo(store, "Demo", n_generated=300)
        assert result.handmade_created == len(handmade_systems())
        assert store.stats("Demo")["total_systems"] == 300 + len(handmade_systems())
        assert demo_state(store, "Demo") == "done"
    finally:
        store.close()
