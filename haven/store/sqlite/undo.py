"""History and undo: every write records what it changed, and the last change can be taken back."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from haven.errors import Conflict, NotFound, StaleVersion
from haven.store import history
from haven.timeutil import now_ms, to_iso

from .rows import _check_limit


def _deletion_version(entry: sqlite3.Row) -> int | None:
    """The version a recorded delete made. Entries of older Havens lack it: then one above the
    version their snapshot kept, or None when that is missing too."""
    if entry["version_after"] is not None:
        return int(entry["version_after"])
    before = orjson.loads(entry["before"]).get("version")
    return before + 1 if isinstance(before, int) else None


def _check_undo_target(system_id: int, entry: sqlite3.Row, row: sqlite3.Row | None, expected_version: int) -> None:
    """Refuse an undo whose caller meant another change than the latest (see :meth:`SQLiteStore.undo`)."""
    if entry["op"] == "delete":
        made = _deletion_version(entry)
    else:
        made = row["version"] if row is not None else None
    if made != expected_version:
        now = (f"is at version {row['version']}" if row is not None
               else f"was deleted (the deletion is version {made})" if made is not None else "was deleted")
        raise StaleVersion(
            f"system {system_id} {now}, not {expected_version}: it changed after the change you meant "
            "to undo, so nothing was undone; reload it to see the change",
            current_version=row["version"] if row is not None else None,
        )


class Undo:
    """A system's change history and undo of its last change."""

    def _record_change(self, conn: sqlite3.Connection, current: sqlite3.Row, op: str) -> int | None:
        """Remember the system as stored before this change (see haven.store.history); returns
        the version the change makes (an update's or a delete's)."""
        system_id = current["id"]
        before = history.snapshot(conn, system_id, self._children(conn, [system_id])[system_id])
        version_after = current["version"] + 1 if op in ("update", "delete") else None
        history.record(conn, current["galaxy_id"], system_id, op, before, version_after)
        return version_after

    def history(self, system_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
        """A system's recorded changes, newest first (``op``, ``version`` it produced, ``at``).

        Empty for a system with nothing recorded (generated, bulk loaded); a deleted system
        answers while any of its history is kept. NotFound for an id with neither a system
        nor a recorded change, as :meth:`system` answers it.
        """
        _check_limit(limit)
        with self._read() as conn:  # one snapshot: the entries and the row agree
            items = history.entries(conn, system_id, limit)
            # only when nothing is recorded: one primary-key lookup
            if not items and self._write_row(conn, system_id) is None:
                raise NotFound(f"no system with id {system_id}")
        for item in items:
            item["at"] = to_iso(item.pop("at_ms"))
        return items

    def undo(self, system_id: int, *, expected_version: int | None = None) -> dict[str, Any]:
        """Undo the latest recorded change of a system and forget it.

        ``expected_version``: the version the change to undo made (what its answer's
        ``ETag`` said; for a delete, the deletion's version). When the latest change made
        another one, someone changed the system since, and undoing theirs instead is
        refused with StaleVersion.

        Returns ``{"undone": op, "system": <the system now, or None if undoing removed it>}``.
        Raises NotFound when nothing is recorded, Conflict when the system changed
        outside the history (a bulk load) or its old name or id is taken since.
        """
        with self._write() as conn:
            entry = history.latest(conn, system_id)
            if entry is None:
                raise NotFound(f"system {system_id} has no change to undo")
            row = self._write_row(conn, system_id)
            op = entry["op"]
            if expected_version is not None:
                _check_undo_target(system_id, entry, row, expected_version)
            if op == "delete":
                if row is not None:
                    raise Conflict(f"cannot undo the delete: id {system_id} is in use again")
                galaxy_id = entry["galaxy_id"]
                system, seed, created_ms = history.restored_system(entry["before"])
                if self._name_taken(conn, galaxy_id, system.name):
                    raise Conflict(f"cannot undo the delete: a system named {system.name!r} exists now", field="name")
                cube = self._galaxy_key_by_id(galaxy_id).cube
                self._insert_system(conn, galaxy_id, cube, system, self._lod(conn, galaxy_id),
                                    system_id=system_id, seed=seed, created_ms=created_ms, modified_ms=now_ms(),
                                    version=self._version_after_undone_delete(
                                        conn, system_id, _deletion_version(entry)))
            else:
                if row is None or (entry["version_after"] is not None and row["version"] != entry["version_after"]):
                    raise Conflict(f"system {system_id} changed outside its history; it cannot be undone")
                if op == "create":
                    self._delete_row(conn, row, self._lod(conn, row["galaxy_id"]))
                else:
                    system, seed, _ = history.restored_system(entry["before"])
                    fields = system.model_dump(
                        exclude={"planets", "space_station", "version", "created_at", "modified_at"})
                    fields["seed"] = seed
                    self._update_fields(conn, row, fields)
                    self._delete_children(conn, system_id, planets=True, station=True)
                    self._insert_children(conn, system_id, system.planets, system.space_station)
            history.forget(conn, entry["id"])
            restored = None
            if op != "create":
                version = conn.execute("SELECT version FROM system WHERE id = ?", (system_id,)).fetchone()[0]
                history.now_at_version(conn, system_id, version)
                restored = self._as_written(conn, system_id)
        return {"undone": op, "system": restored}

    @staticmethod
    def _version_after_undone_delete(conn: sqlite3.Connection, system_id: int, deleted_at: int | None) -> int:
        """The version a system comes back at when its delete is undone: above every version
        it had and above the deletion's, so an editor still holding an older one gets 409,
        as after any other change, and an undo naming the deletion's version cannot match
        the system that came back.

        ``deleted_at`` is the deletion's version (:func:`_deletion_version`); when unknown
        (an entry written before snapshots kept the system's version), the system comes back
        above every version the remaining history names.
        """
        if deleted_at is not None:
            return deleted_at + 1
        seen = conn.execute(
            "SELECT max(version_after) FROM system_change WHERE system_id = ?", (system_id,)
        ).fetchone()[0]
        return (seen or 1) + 1
