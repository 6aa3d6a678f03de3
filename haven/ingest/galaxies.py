"""The galaxy a bulk import writes into: created when missing, and gone again if the import fails.

A bulk import (Parquet, CSV, JSONL, ``haven generate``) writes in many
transactions and can be run again to finish, so it creates its galaxy first, on
its own. An import that then fails (a bad file, a bad record) must leave the
database as it found it, so the galaxy it created is removed again, provided it
still holds no system. (A legacy JSON import is one transaction and creates its
galaxy in it: ``store.import_systems(..., create_galaxy=True)``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from haven.errors import JobVanished

__all__ = ["galaxy_for_import"]


@contextmanager
def galaxy_for_import(store: Any, galaxy: str) -> Iterator[dict[str, Any]]:
    """Ensure ``galaxy`` exists for the block; remove it again if this call created it and the block fails.

    Yields the galaxy (as ``store.galaxy()`` returns it). The galaxy is removed only
    when the block raises an exception, the galaxy did not exist before, no system
    is stored in it and no bulk load holds its indexes back (checked in the same
    transaction as the removal, so systems written meanwhile, by this import or
    another writer, keep it). Its bookkeeping rows go with it (bulk jobs, chunks and
    change entries cascade; octree nodes are deleted).

    Ctrl-C (``KeyboardInterrupt``) and ``kill -9`` keep the galaxy: the import run
    again continues into it.
    """
    g, created = store.add_galaxy(galaxy)  # "created" is decided in the insert: no race with another writer
    try:
        yield g
    except JobVanished:  # the database was replaced meanwhile: that galaxy id is not ours any more
        raise
    except Exception:  # bad input, a conflict…
        if created:
            _remove_if_empty(store, g["id"])
        raise


def _remove_if_empty(store: Any, galaxy_id: int) -> None:
    """Delete the galaxy if it holds no system; best effort (the import's own error is the one to report)."""
    try:
        store.drop_empty_galaxy(galaxy_id)
    except Exception:  # noqa: BLE001 - never hide the import's own error behind this one
        pass
