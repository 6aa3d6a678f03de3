"""Writes: create, replace, patch and delete, each one transaction that keeps
counters, children, search index, octree and history in step."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

from haven.errors import Conflict, InvalidInput, NotFound, StaleVersion
from haven.model import BODY_TEXT_FIELDS, SYSTEM_TEXT_FIELDS, PlanetIn, StationIn, SystemIn, SystemPatch
from haven.spatial import Cube
from haven.store import history
from haven.store.ids import next_row_id, note_deleted
from haven.store.lod import DEFAULT_CAPACITY, LodTree, Member, next_clock, priority_of
from haven.store.base import ImportResult, OnConflict
from haven.store.derived import materialize_seeded
from haven.timeutil import now_ms, parse_ms

from .rows import _json_or_null, _pending_lod


class Writes:
    """Create, replace, patch, delete and plain imports of systems."""

    def _position(self, cube: Cube, x: float, y: float, z: float) -> int:
        for name, v in (("x", x), ("y", y), ("z", z)):
            if abs(v - cube.centre_on(name)) > cube.half_size_ly:
                raise InvalidInput(f"{name} = {cube.outside_message(name, v)}", field=name)
        return cube.code(x, y, z)

    def _name_taken(self, conn: sqlite3.Connection, galaxy_id: int, name: str, except_id: int | None = None) -> bool:
        row = conn.execute("SELECT id FROM system WHERE galaxy_id = ? AND name = ?", (galaxy_id, name)).fetchone()
        return row is not None and row[0] != except_id

    @staticmethod
    def _insert_children(conn: sqlite3.Connection, system_id: int, planets: list[PlanetIn], station: StationIn | None) -> None:
        for pos, p in enumerate(planets):
            planet_id = conn.execute(
                "INSERT INTO planet (system_id, position, name, sentinel, fauna, flora, properties, materials, "
                "base_location, photo, notes, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (system_id, pos, p.name, *(getattr(p, f) for f in BODY_TEXT_FIELDS), _json_or_null(p.extra)),
            ).lastrowid
            if p.moons:
                conn.executemany(
                    "INSERT INTO moon (planet_id, position, name, sentinel, fauna, flora, properties, materials, "
                    "base_location, photo, notes, orbit_radius, orbit_speed, extra) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (planet_id, mpos, m.name, *(getattr(m, f) for f in BODY_TEXT_FIELDS),
                         m.orbit_radius, m.orbit_speed, _json_or_null(m.extra))
                        for mpos, m in enumerate(p.moons)
                    ],
                )
        if station is not None:
            conn.execute(
                "INSERT INTO space_station (system_id, name, x, y, z, race, sell_percent, buy_percent, extra) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (system_id, station.name, station.x, station.y, station.z, station.race,
                 station.sell_percent, station.buy_percent, _json_or_null(station.extra)),
            )

    def _delete_children(self, conn: sqlite3.Connection, system_id: int, planets: bool, station: bool) -> None:
        if planets:
            conn.execute("DELETE FROM planet WHERE system_id = ?", (system_id,))
        if station:
            conn.execute("DELETE FROM space_station WHERE system_id = ?", (system_id,))

    def _insert_system(
        self, conn: sqlite3.Connection, galaxy_id: int, cube: Cube, s: SystemIn, lod: LodTree,
        *, system_id: int | None = None, seed: int | None = None, created_ms: int | None = None,
        modified_ms: int | None = None, version: int = 1,
    ) -> int:
        """Insert one system with its children.

        ``system_id``/``seed``/``version`` write a known system again (an undone delete, an
        import's replace); ``created_ms``/``modified_ms`` override the record's times, which
        otherwise default to now and to the creation time.
        """
        code = self._position(cube, s.x, s.y, s.z)
        region_id = self._region_id(conn, galaxy_id, s.region)
        created = created_ms if created_ms is not None else (
            parse_ms(s.created_at, "created_at") if s.created_at else now_ms())
        modified = modified_ms if modified_ms is not None else (
            parse_ms(s.modified_at, "modified_at") if s.modified_at else created)
        if system_id is None:
            system_id = next_row_id(conn)
        conn.execute(
            "INSERT INTO system (id, galaxy_id, region_id, name, x, y, z, code, "
            + ", ".join(SYSTEM_TEXT_FIELDS)
            + ", confidence, extra, seed, version, created_at, modified_at) VALUES ("
            + ", ".join("?" * (8 + len(SYSTEM_TEXT_FIELDS) + 6))
            + ")",
            (system_id, galaxy_id, region_id, s.name, s.x, s.y, s.z, code,
             *(getattr(s, f) for f in SYSTEM_TEXT_FIELDS),
             s.confidence, _json_or_null(s.extra), seed, version, created, modified),
        )
        self._insert_children(conn, system_id, s.planets, s.space_station)
        self._bump_counts(conn, galaxy_id, region_id, +1)
        lod.insert(Member(system_id, code, priority_of(system_id)))
        return system_id

    def create(self, galaxy: str, system: SystemIn) -> dict[str, Any]:
        """Add a system with its children; names are unique per galaxy."""
        galaxy_id, cube, _ = self._galaxy_key(galaxy)
        with self._write() as conn:
            if self._name_taken(conn, galaxy_id, system.name):
                raise Conflict(f"a system named {system.name!r} already exists", field="name")
            system_id = self._insert_system(conn, galaxy_id, cube, system, self._lod(conn, galaxy_id))
            history.record(conn, galaxy_id, system_id, "create", None, 1)
            return self._as_written(conn, system_id)

    @staticmethod
    def _write_row(conn: sqlite3.Connection, system_id: int) -> sqlite3.Row | None:
        """The columns a write needs to change a system (position, octree node, version, seed,
        the id it was imported with, the fields its derived children follow, its creation
        time), or None."""
        return conn.execute(
            "SELECT id, galaxy_id, region_id, name, x, y, z, code, priority, lod_level, lod_cell, version, seed, "
            "legacy_id, materials, fauna, flora, sentinel, created_at FROM system WHERE id = ?",
            (system_id,),
        ).fetchone()

    def _current(self, conn: sqlite3.Connection, system_id: int, expected_version: int | None) -> sqlite3.Row:
        row = self._write_row(conn, system_id)
        if row is None:
            raise NotFound(f"no system with id {system_id}")
        if expected_version is not None and row["version"] != expected_version:
            raise StaleVersion(
                f"system {system_id} is at version {row['version']}, not {expected_version}; "
                "reload it and apply your change again",
                current_version=row["version"],
            )
        return row

    def _update_fields(self, conn: sqlite3.Connection, current: sqlite3.Row, fields: dict[str, Any]) -> None:
        """Apply changed top-level fields, keeping code, counters and version in step."""
        galaxy_id = current["galaxy_id"]
        if "name" in fields and fields["name"] != current["name"]:
            if self._name_taken(conn, galaxy_id, fields["name"], except_id=current["id"]):
                raise Conflict(f"a system named {fields['name']!r} already exists", field="name")
        moved = False
        if {"x", "y", "z"} & fields.keys():
            cube = self._galaxy_key_by_id(galaxy_id).cube
            pos = [fields.get(k, current[k]) for k in ("x", "y", "z")]
            fields["code"] = self._position(cube, *pos)
            if fields["code"] != current["code"]:
                self._move_in_octree(conn, current, fields["code"])
                moved = True
        if "region" in fields:
            region_id = self._region_id(conn, galaxy_id, fields.pop("region"))
            if region_id != current["region_id"]:
                conn.execute("UPDATE region SET system_count = system_count - 1 WHERE id = ?", (current["region_id"],))
                conn.execute("UPDATE region SET system_count = system_count + 1 WHERE id = ?", (region_id,))
            fields["region_id"] = region_id
        # Every edit gives the system's node a new version, not only those its chunk shows (position,
        # region colour): live maps learn of a rename or a new planet from the change feed, and an
        # open details panel fetches the system again. A move stamped both nodes already.
        if not moved and not _pending_lod(current):
            self._lod(conn, galaxy_id).touch(current["lod_level"], current["lod_cell"])
        if "extra" in fields:
            fields["extra"] = _json_or_null(fields["extra"] or {})
        fields["modified_at"] = now_ms()
        assignments = ", ".join(f"{k} = :{k}" for k in fields)
        conn.execute(
            f"UPDATE system SET {assignments}, version = version + 1 WHERE id = :id", {**fields, "id": current["id"]}
        )

    def _move_in_octree(self, conn: sqlite3.Connection, current: sqlite3.Row, new_code: int) -> None:
        if _pending_lod(current):
            return  # written by a bulk job that has not placed it yet: its finish() will
        lod = self._lod(conn, current["galaxy_id"])
        lod.remove(current["lod_level"], current["lod_cell"], current["id"])
        lod.insert(Member(current["id"], new_code, current["priority"]))

    def replace(self, system_id: int, system: SystemIn) -> dict[str, Any]:
        """Replace every field and child; ``system.version``, when given, must be current."""
        with self._write() as conn:
            current = self._current(conn, system_id, system.version)
            if system.legacy_id is not None and system.legacy_id != current["legacy_id"]:
                raise InvalidInput(
                    f"legacy_id is the id the system had in the file it was imported from "
                    f"({current['legacy_id']!r}); it cannot be changed", field="legacy_id")
            self._record_change(conn, current, "update")
            fields = system.model_dump(exclude={"planets", "space_station", "version", "created_at", "modified_at", "legacy_id"})
            if current["seed"] is not None:
                fields["seed"] = None  # the children are stored from now on
            self._update_fields(conn, current, fields)
            self._delete_children(conn, system_id, planets=True, station=True)
            self._insert_children(conn, system_id, system.planets, system.space_station)
            return self._as_written(conn, system_id)

    def patch(self, system_id: int, patch: SystemPatch) -> dict[str, Any]:
        """Change only the fields present in the patch."""
        given = patch.model_fields_set - {"version"}
        if not given:  # nothing to change: no new version, no history entry; a stale version is still a 409
            with self._read() as conn:
                self._current(conn, system_id, patch.version)
                return self._as_written(conn, system_id)  # the version just checked
        with self._write() as conn:
            current = self._current(conn, system_id, patch.version)
            self._record_change(conn, current, "update")
            fields = {k: getattr(patch, k) for k in given - {"planets", "space_station"}}
            if "region" in fields and fields["region"] is not None:
                fields["region"] = fields["region"].strip() or None
            if current["seed"] is not None and {"planets", "space_station"} & given:
                # The first edit of a derived system's children stores them: the edited part
                # from the patch, the other part as it was derived (what the user saw).
                materialize_seeded(self, conn, current, planets="planets" not in given,
                                   station="space_station" not in given)
                fields["seed"] = None
            self._update_fields(conn, current, fields)
            if "planets" in given:
                self._delete_children(conn, system_id, planets=True, station=False)
                self._insert_children(conn, system_id, patch.planets or [], None)
            if "space_station" in given:
                self._delete_children(conn, system_id, planets=False, station=True)
                self._insert_children(conn, system_id, [], patch.space_station)
            return self._as_written(conn, system_id)

    def _lod(self, conn: sqlite3.Connection, galaxy_id: int) -> LodTree:
        """Octree maintenance for this write; advances the galaxy's node clock once."""
        capacity = self._galaxy_key_by_id(galaxy_id).capacity
        return LodTree(conn, galaxy_id, capacity, next_clock(conn, galaxy_id))

    def delete(self, system_id: int, *, expected_version: int | None = None) -> int:
        """Delete a system and (by cascade) its planets, moons and station.

        Returns the deletion's own version, one above the system's last: like any change
        it makes a new version, which an undo meant for this delete names (:meth:`undo`).
        """
        with self._write() as conn:
            current = self._current(conn, system_id, expected_version)
            deleted_as = self._record_change(conn, current, "delete")
            self._delete_row(conn, current, self._lod(conn, current["galaxy_id"]))
        assert deleted_as is not None
        return deleted_as

    def _delete_row(self, conn: sqlite3.Connection, current: sqlite3.Row, lod: LodTree, *,
                    id_reused: bool = False) -> None:
        """Delete a system row (its children go with it); ``id_reused``: the caller writes the
        same id again in this transaction, so it is not a freed id."""
        if not _pending_lod(current):
            lod.remove(current["lod_level"], current["lod_cell"], current["id"])
        conn.execute("DELETE FROM system WHERE id = ?", (current["id"],))
        if not id_reused:
            note_deleted(conn, current["id"])
        self._bump_counts(conn, current["galaxy_id"], current["region_id"], -1)

    def _replace_from_import(self, conn: sqlite3.Connection, galaxy_id: int, cube: Cube, system_id: int,
                             s: SystemIn, lod: LodTree) -> None:
        """An import's record overwrites the stored system of the same name: the system keeps
        its id (links and ETags name it), its history gains an update that undo reverts, and
        it keeps its creation time unless the record gives one."""
        current = self._write_row(conn, system_id)
        assert current is not None
        version = self._record_change(conn, current, "update")
        self._delete_row(conn, current, lod, id_reused=True)
        self._insert_system(conn, galaxy_id, cube, s, lod, system_id=system_id, version=version or 1,
                            created_ms=None if s.created_at else current["created_at"],
                            modified_ms=None if s.modified_at else now_ms())

    def import_systems(
        self, galaxy: str, systems: Iterable[SystemIn], *, on_conflict: OnConflict = "error",
        create_galaxy: bool = False,
    ) -> ImportResult:
        """Write a batch in one transaction: all of it or, on any error, none of it.

        ``create_galaxy``: a missing galaxy is created (default cube and node capacity)
        in that same transaction, so an import that fails, is interrupted or is killed
        leaves no empty galaxy behind.
        """
        if not create_galaxy:
            self._galaxy_key(galaxy)  # a missing galaxy: NotFound before any write
        spec = self._galaxy_spec(galaxy, None, DEFAULT_CAPACITY) if create_galaxy else None
        result = ImportResult()
        created_id: int | None = None
        try:
            with self._write() as conn:
                if spec is not None:
                    created_id = self._insert_galaxy(conn, *spec)
                self._import_rows(conn, spec[0] if spec else galaxy, systems, on_conflict, result)
        except BaseException:
            if created_id is not None:
                self._forget_galaxy(created_id)  # rolled back with the systems: drop its cached key
            raise
        return result

    def _import_rows(self, conn: sqlite3.Connection, galaxy: str, systems: Iterable[SystemIn],
                     on_conflict: OnConflict, result: ImportResult) -> None:
        """:meth:`import_systems`' rows, inside its write."""
        galaxy_id, cube, _ = self._galaxy_key(galaxy)  # this connection sees a galaxy created in this write
        lod = self._lod(conn, galaxy_id)
        for s in systems:
            row = conn.execute(
                "SELECT id, galaxy_id, region_id, lod_level, lod_cell FROM system WHERE galaxy_id = ? AND name = ?",
                (galaxy_id, s.name),
            ).fetchone()
            if row is not None:
                if on_conflict == "error":
                    raise Conflict(f"a system named {s.name!r} already exists", field="name")
                if on_conflict == "skip":
                    result.skipped += 1
                    continue
                self._replace_from_import(conn, galaxy_id, cube, row["id"], s, lod)
                result.replaced += 1
            else:
                self._insert_system(conn, galaxy_id, cube, s, lod)
                result.created += 1
            result.names.append(s.name)
