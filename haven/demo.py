"""The demo galaxy that ``haven init`` seeds into an empty galaxy.

Two parts:

* 3,000 procedurally generated systems (:func:`haven.ingest.bulk.generate_galaxy`
  with a fixed seed). Each stores its procgen seed; its planets, moons and
  station are derived from it when read, and stored only once edited;
* a dozen hand-charted systems from ``haven/data/demo.json`` (the name-keyed
  legacy shape, so the file is also a valid ``haven import`` input), with
  planets, moons and space stations, written in one transaction.

A ``meta`` row records the seeding per galaxy ("started", then "done"). An
interrupted seeding is finished by seeding again: the generator continues
from its last committed batch and the hand-charted systems are written with
``on_conflict="skip"``. A finished demo is never seeded again, so systems a
user deletes stay deleted. Same Haven version, same demo galaxy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haven.model import SystemIn, validate_system

DEMO_FILE = Path(__file__).parent / "data" / "demo.json"
DEMO_SEED = 7_340_112
DEMO_GENERATED_SYSTEMS = 3000


@dataclass
class DemoResult:
    generated: int  # generated systems the galaxy holds
    handmade_created: int  # hand-charted systems written by this call


def handmade_systems(path: Path = DEMO_FILE) -> list[SystemIn]:
    """The hand-charted systems of the demo file, validated."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [validate_system(record) for key, record in data.items() if key != "_meta"]


def _state_key(galaxy: str) -> str:
    return f"demo:{galaxy}"


def demo_state(store: Any, galaxy: str) -> str | None:
    """``None`` (never seeded), ``"started"`` (interrupted: seed again to finish) or ``"done"``."""
    return store.meta_value(_state_key(galaxy))


def seed_demo(
    store: Any, galaxy: str, *, n_generated: int = DEMO_GENERATED_SYSTEMS, seed: int = DEMO_SEED
) -> DemoResult:
    """Write (or finish writing) the demo galaxy into ``galaxy``, created if missing.

    Meant for an empty galaxy or one whose seeding was interrupted (state
    ``"started"``); a galaxy generated with other parameters fails with
    :class:`~haven.errors.Conflict`. Marks the galaxy ``"done"`` at the end, so
    systems a user deletes later are not seeded again.
    """
    from haven.ingest.bulk import generate_galaxy

    store.set_meta_value(_state_key(galaxy), "started")
    summary = generate_galaxy(store, galaxy, n_generated, seed)
    result = store.import_systems(galaxy, handmade_systems(), on_conflict="skip")
    store.set_meta_value(_state_key(galaxy), "done")
    return DemoResult(generated=summary["systems"], handmade_created=result.created)
