"""Importing legacy star maps: ``data.json`` files and old ``haven.db`` databases.

The flow is read → validate everything → write once, reading the file again
at each step rather than holding it, so memory does not grow with the file:

1. :func:`read_legacy` detects the shape and counts the records
   (:mod:`haven.ingest.sources`);
2. :func:`parse_legacy` maps every record onto the model
   (:mod:`haven.ingest.mapping`) and validates it, collecting **every**
   problem in the file, each naming the record and the field path, and
   keeping only the names;
3. :func:`import_file` checks names against the store and, only if there is
   no problem at all, writes the whole file in one transaction
   (``store.import_systems`` fed by :func:`legacy_systems`; a galaxy the
   import creates is created in that same transaction). With problems it
   raises :class:`~haven.errors.ImportFailed` and writes nothing; a dry run
   reports instead of writing.

User-facing description: ``docs/formats/legacy.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from haven.errors import ImportFailed, InvalidInput, NotFound
from haven.ingest.mapping import system_from_legacy
from haven.ingest.sources import SHAPE_NAME_KEYED, SHAPE_SQLITE, LegacyFile, LegacyRecord, read_legacy
from haven.model import REFUSED_NAME_CHARS, SystemIn, clean_name, field_path, plain_message
from haven.spatial.morton import Cube
from haven.store.sqlite import DEFAULT_HALF_SIZE_LY
from haven.timeutil import parse_ms

__all__ = [
    "ImportReport",
    "LegacyFile",
    "LegacyRecord",
    "ParsedFile",
    "import_file",
    "legacy_systems",
    "parse_legacy",
    "read_legacy",
]

LABEL_MAX_CHARS = 60  # longer names are shortened in problem messages
MAX_PROBLEMS = 1000  # a report lists at most this many; the rest are counted
OnConflict = Literal["error", "skip", "replace"]
_ON_CONFLICT = ("error", "skip", "replace")


#: ``progress(stage, done, total)``: stage "reading" counts bytes, "checking" and "writing" records.
Progress = Callable[[str, int, int], None]
PROGRESS_EVERY = 500  # records between two progress calls


@dataclass
class ParsedFile:
    """A legacy file mapped and validated: its systems' names, or why they cannot be imported.

    The systems themselves are not kept (:func:`legacy_systems` reads them again
    to write them). ``problems`` lists the first :data:`MAX_PROBLEMS`;
    ``problem_count`` counts them all.
    """

    legacy: LegacyFile
    names: list[tuple[int, str]] = field(default_factory=list)  # (record index, system name), file order
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    warnings: list[str] = field(default_factory=list)

    def add_problem(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def listed_problems(self) -> list[str]:
        """The problems as a report lists them: the first ones, then how many more."""
        rest = self.problem_count - len(self.problems)
        return self.problems + ([f"… and {rest} more problems"] if rest else [])


@dataclass
class ImportReport:
    """What an import did or, for a dry run, would do."""

    file: str
    galaxy: str
    dry_run: bool
    on_conflict: str
    galaxy_exists: bool = True  # False: a dry run into a galaxy the import would create
    shape: str | None = None
    records: int = 0  # entries in the file, valid or not (``_meta`` not counted)
    systems: int = 0  # valid systems found in the file
    created: int = 0
    replaced: int = 0
    skipped: int = 0
    names: list[str] = field(default_factory=list)  # written (or would be), in file order
    replaced_names: list[str] = field(default_factory=list)
    skipped_names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def show_controls(text: str) -> str:
    """``text`` with its control characters written as escapes (ESC as ``\\x1b``, a newline as ``\\n``).

    Names and keys come from the file as they are; one holding ESC would otherwise
    reach the terminal that prints the problem as a live escape sequence (clearing
    the screen, setting the window title). C0 and C1 controls and DEL are escaped, and so
    are the line separators and bidirectional controls names refuse (``\\u202e``): a
    right-to-left override would reverse the rest of the printed line.
    """
    if text.isprintable():
        return text
    return "".join(_ESCAPES.get(ch, _escape(ch)) if _is_control(ch) else ch for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or REFUSED_NAME_CHARS.match(ch) is not None


def record_label(record: LegacyRecord, name: Any = None) -> str:
    """``record "ZOLA 7" (#3)``, or ``record #3`` when the record has no usable name.

    Control characters in the name are shown as escapes (:func:`show_controls`).
    """
    label_name = None
    if isinstance(name, str) and name.strip():
        label_name = name.strip()
    elif record.key is not None and record.key.strip():
        label_name = record.key.strip()
    if label_name is None:
        return f"record #{record.index}"
    if len(label_name) > LABEL_MAX_CHARS:
        label_name = label_name[: LABEL_MAX_CHARS - 1] + "…"
    return f'record "{show_controls(label_name)}" (#{record.index})'


def _problem(label: str, path: str, message: str) -> str:
    """One problem line; a field path may hold a key from the file, so its controls are escaped."""
    path = show_controls(path)
    return f"{label}: {path}: {message}" if path else f"{label}: {message}"


def _model_problems(exc: ValidationError, renamed: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = field_path(loc)
        path = renamed.get(path, path)
        out.append((path, _message(err)))
    return out


def _message(err: Any) -> str:
    """Pydantic's wording, in the voice of the rest of Haven's messages (one place: the model's)."""
    return plain_message(err)


def _semantic_problems(s: SystemIn, galaxy: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Checks the store would otherwise make mid-transaction: timestamps and the galaxy cube."""
    out: list[tuple[str, str]] = []
    for name in ("created_at", "modified_at"):
        value = getattr(s, name)
        if value:
            try:
                parse_ms(value, name)
            except InvalidInput:
                out.append((name, f"{value!r} is not a date and time"))
    if galaxy is not None:
        cube = Cube.of_galaxy(galaxy)
        for axis in ("x", "y", "z"):
            v = getattr(s, axis)
            if abs(v - cube.centre_on(axis)) > cube.half_size_ly:
                out.append((axis, cube.outside_message(axis, v)))
    return out


#: What ``haven export`` writes in ``_meta``: facts about the export, made again by the next one.
EXPORT_HEADER_KEYS = frozenset({"format", "version", "generator", "exported_at", "galaxy", "count"})


def _unkept_header(legacy: LegacyFile) -> str | None:
    """A warning naming the file's own header fields, which Haven does not store (it stores systems)."""
    if legacy.shape == SHAPE_SQLITE:
        keys, where = list(legacy.meta), "the _metadata table"
    else:
        keys, where = [k for k in legacy.meta if k not in EXPORT_HEADER_KEYS], "_meta"
    if not keys:
        return None
    shown = ", ".join(repr(k) for k in keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
    return (f"{where} ({shown}) describes the file, not a system, and is not stored; "
            "keep the file if you need it")


def parse_legacy(
    legacy: LegacyFile, *, galaxy: dict[str, Any] | None = None, provenance: str | None = None,
    progress: Progress | None = None,
) -> ParsedFile:
    """Map and validate every record, collecting every problem in the file.

    ``galaxy`` (a dict from ``store.galaxy()``) adds the check that positions
    lie inside the galaxy's cube. ``provenance`` is given to records that do
    not carry their own (default ``import:<file name>``).
    """
    parsed = ParsedFile(legacy=legacy, warnings=list(legacy.warnings))
    for problem in legacy.problems:
        parsed.add_problem(problem)
    unkept = _unkept_header(legacy)
    if unkept:
        parsed.warnings.append(unkept)
    first_index: dict[str, int] = {}
    first_with_id: dict[str, int] = {}
    for done, record in enumerate(legacy.records(), start=1):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress("checking", done, legacy.record_count)
        label, system, problems, warning = _parse_record(legacy, record, galaxy, provenance)
        if warning is not None:
            parsed.warnings.append(warning)
        if system is not None:
            earlier = first_index.get(system.name)
            if earlier is not None:
                problems.append(("name", f'"{system.name}" is also the name of record #{earlier}; '
                                         "names must be unique"))
            else:
                first_index[system.name] = record.index
            if system.legacy_id is not None:
                same_id = first_with_id.setdefault(system.legacy_id, record.index)
                if same_id != record.index:  # the original tool's primary key: say so, keep both
                    parsed.warnings.append(f"{label}: id {system.legacy_id!r} is also the id of record "
                                           f"#{same_id}; legacy routes show both systems with it")
        if problems:
            for path, message in problems:
                parsed.add_problem(_problem(label, path, message))
        elif system is not None:
            parsed.names.append((record.index, system.name))
    if progress is not None:
        progress("checking", legacy.record_count, legacy.record_count)
    return parsed


def legacy_systems(
    legacy: LegacyFile, *, galaxy: dict[str, Any] | None = None, provenance: str | None = None,
    progress: Progress | None = None,
) -> Iterator[SystemIn]:
    """The systems of a file that :func:`parse_legacy` found no problem in, read from it again.

    A problem now means the file changed after it was checked: :class:`ImportFailed`,
    raised inside the import's transaction, so nothing is written.
    """
    total = legacy.record_count
    for done, record in enumerate(legacy.records(), start=1):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress("writing", done, total)
        label, system, problems, _ = _parse_record(legacy, record, galaxy, provenance)
        if problems:
            raise ImportFailed(f"{legacy.path.name}: changed while it was being imported; nothing was imported",
                               [_problem(label, path, message) for path, message in problems])
        if system is not None:
            yield system
    if progress is not None:
        progress("writing", total, total)


def _parse_record(
    legacy: LegacyFile, record: LegacyRecord, galaxy: dict[str, Any] | None, provenance: str | None
) -> tuple[str, SystemIn | None, list[tuple[str, str]], str | None]:
    """One record as ``(label, system or None, problems, warning or None)``.

    A region marker is no system and no problem, only a warning.
    """
    if provenance is None:
        provenance = f"import:{legacy.path.name}"
    mapped = system_from_legacy(record.value, key=record.key, provenance=provenance, plain=record.plain)
    if mapped.region_marker:
        v = record.value
        return record_label(record), None, [], (
            f"record #{record.index}: region marker {v.get('region')!r} at "
            f"({v.get('x')}, {v.get('y')}, {v.get('z')}) was not imported; "
            "Haven keeps regions by the name on each system"
        )
    raw_name = mapped.data.get("name") if mapped.data else None
    label = record_label(record, raw_name)
    problems = list(mapped.problems)
    system: SystemIn | None = None
    if mapped.data is not None:
        try:
            system = SystemIn.model_validate(mapped.data)
        except ValidationError as exc:
            model_problems = _model_problems(exc, mapped.renamed)
            if mapped.problems:
                # the mapping already named the exact unstorable value inside `extra`
                model_problems = [(p, m) for p, m in model_problems if not p.endswith("extra")]
            problems += model_problems
        else:
            problems += _semantic_problems(system, galaxy)
    if system is not None:
        label = record_label(record, system.name)
        if system.name == "_meta" and legacy.shape == SHAPE_NAME_KEYED:
            problems.append(("name", 'a system named "_meta" cannot be kept in a name-keyed file, where '
                                     "that key is the file's header: rename it"))
    return label, system, problems, None


def new_galaxy_preview(name: str) -> dict[str, Any]:
    """The galaxy an import would create under ``name`` (empty, the default cube), as
    ``store.galaxy()`` describes one; for a dry run, which creates nothing."""
    try:
        name = clean_name(name)
    except ValueError as exc:
        raise InvalidInput(f"the galaxy name {exc}", field="galaxy") from None
    return {"name": name, "system_count": 0, "half_size_ly": DEFAULT_HALF_SIZE_LY,
            "centre_x_ly": 0.0, "centre_y_ly": 0.0, "centre_z_ly": 0.0}


def _exists(store: Any, galaxy: str, name: str) -> bool:
    try:
        store.system_by_name(galaxy, name)
    except NotFound:
        return False
    return True


def import_file(
    store: Any,
    galaxy: str,
    path: Path | str,
    *,
    dry_run: bool = False,
    on_conflict: OnConflict = "error",
    provenance: str | None = None,
    progress: Progress | None = None,
    create_galaxy: bool = False,
) -> ImportReport:
    """Import a legacy file into ``galaxy``: all of it, or nothing.

    * Any problem in the file (or, with ``on_conflict="error"``, a name that
      already exists in the galaxy) → :class:`ImportFailed` listing every
      problem; nothing is written.
    * ``dry_run=True`` validates fully and returns the report of what would be
      created, replaced and skipped, problems included, without writing and
      without raising for problems in the file.
    * Otherwise the systems are written in one transaction.

    The file is read three times (shape, checks, write), one record at a time;
    ``progress`` hears about each stage. The galaxy must exist
    (:class:`NotFound`), except on a dry run: a galaxy that does not exist yet
    is what a real import would create, an empty one with the default cube, and
    the file is checked against that (nothing is created). With
    ``create_galaxy`` a real import creates that galaxy itself, in the one
    transaction that writes its systems, so a failed, interrupted or killed
    import leaves no galaxy. The file must exist.
    """
    if on_conflict not in _ON_CONFLICT:
        raise InvalidInput(f"on_conflict must be one of {', '.join(_ON_CONFLICT)}", field="on_conflict")
    try:
        g = store.galaxy(galaxy)
        exists = True
    except NotFound:
        if not (dry_run or create_galaxy):
            raise
        g, exists = new_galaxy_preview(galaxy), False
    path = Path(path)
    report = ImportReport(file=path.name, galaxy=g["name"], dry_run=dry_run, on_conflict=on_conflict,
                          galaxy_exists=exists)
    size = path.stat().st_size if path.is_file() else 0
    on_bytes = None if progress is None else (lambda done: progress("reading", done, size))
    try:
        legacy = read_legacy(path, on_bytes=on_bytes)
    except ImportFailed as exc:
        if dry_run:
            report.problems = list(exc.problems)
            return report
        raise
    report.shape = legacy.shape
    report.meta = legacy.meta
    report.records = legacy.record_count
    parsed = parse_legacy(legacy, galaxy=g, provenance=provenance, progress=progress)
    report.systems = len(parsed.names)
    report.warnings = parsed.warnings

    existing: set[str] = set()
    for index, name in parsed.names:
        if exists and _exists(store, galaxy, name):
            existing.add(name)
            if on_conflict == "error":
                parsed.add_problem(_problem(
                    record_label(LegacyRecord(index=index, value=None), name), "name",
                    f'a system named "{name}" already exists in galaxy "{g["name"]}" '
                    "(import with on-conflict skip or replace)",
                ))
    report.problems = parsed.listed_problems()
    if parsed.problem_count:
        if dry_run:
            return report
        count = parsed.problem_count
        raise ImportFailed(f"{path.name}: {count} problem{'s' if count != 1 else ''}; nothing was imported",
                           report.problems)

    for _, name in parsed.names:
        if name not in existing:
            report.names.append(name)
        elif on_conflict == "skip":
            report.skipped_names.append(name)
        else:
            report.names.append(name)
            report.replaced_names.append(name)
    if dry_run:
        report.skipped = len(report.skipped_names)
        report.replaced = len(report.replaced_names)
        report.created = len(report.names) - report.replaced
        return report

    systems = legacy_systems(legacy, galaxy=g, provenance=provenance, progress=progress)
    try:
        result = store.import_systems(galaxy, systems, on_conflict=on_conflict, create_galaxy=not exists)
        report.galaxy_exists = True
    except InvalidInput as exc:
        # Checked above; only reachable if the store has rules this module does not know.
        raise ImportFailed(f"{path.name}: nothing was imported", [f"{path.name}: {exc.message}"]) from None
    report.created, report.replaced, report.skipped = result.created, result.replaced, result.skipped
    report.names = list(result.names)
    return report

