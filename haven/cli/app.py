"""``haven`` commands (Typer + Rich).

Every command takes ``--database PATH`` (default: ``HAVEN_DATABASE_URL``, then
``data/haven.db``). Exit codes: 0 success, 1 an error Haven reports (the
message names the record and field), 2 bad usage or a refused backup file.
User errors never print a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from haven.config import DEFAULT_GALAXY, DatabaseUrl, cache_mib, parse_database_url, worker_threads
from haven.errors import HavenError, ImportFailed, InvalidInput, StoreUnavailable
from haven.ingest.export import FORMATS as EXPORT_FORMATS
from haven.ingest.legacy import show_controls
from haven.model import clean_name
from haven.outfile import OutputTarget
from haven.store import SQLiteStore, filelocks, migrate, open_store

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


#: What a command interrupted with Ctrl-C kept, and how to go on (every other command: "Interrupted.").
INTERRUPTED = {
    "import": "A haven-json or legacy file imports all or nothing: nothing of it was imported. A Parquet, "
              "CSV or JSONL import keeps the batches it committed: run the same command again to finish it.",
    "generate": "The batches committed so far are kept: run the same `haven generate` again to finish.",
    "init": "Run `haven init` again: it finishes seeding the demo where it stopped.",
    "export": "The output file was not written (an export appears only once complete).",
    "backup": "No backup was written (a backup appears only once complete).",
}


class HavenGroup(TyperGroup):
    """Turns every error Haven reports into a red message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C: say so, and what was kept, instead of exiting silently
            hint = INTERRUPTED.get(ctx.invoked_subcommand or "")
            err.print(Text(f"Interrupted. {hint}" if hint else "Interrupted.", style="bold red"))
            raise typer.Exit(130) from None
        except HavenError as exc:
            print_error(exc)
            raise typer.Exit(getattr(exc, "exit_code", 1)) from None
        except sqlite3.DatabaseError as exc:  # e.g. HAVEN_DATABASE_URL names a file that is not a database
            err.print(Text(f"Error: database error: {exc}", style="bold red"))
            raise typer.Exit(1) from None
        except BrokenPipeError:  # `haven export | head`: click exits quietly
            raise
        except OSError as exc:  # unreadable file, full disk, missing permission
            where = show_controls(str(exc.filename or ""))
            err.print(Text(f"Error: {exc.strerror or exc}: {where}".rstrip(": "), style="bold red"))
            raise typer.Exit(1) from None


def print_error(exc: HavenError) -> None:
    """The error in red, then its problems; text from a file is shown with its control characters escaped."""
    line = Text("Error: ", style="bold red")
    line.append(show_controls(exc.message), style="red")
    if exc.field and exc.field not in exc.message:
        line.append(f" (field: {show_controls(exc.field)})", style="red")
    err.print(line)
    for note in getattr(exc, "__notes__", ()):
        err.print(Text(f"  {show_controls(note)}", style="red"))
    problems = getattr(exc, "problems", None) or []
    for problem in problems:
        err.print(Text(f"  • {show_controls(problem)}"))


app = typer.Typer(
    cls=HavenGroup,
    name="haven",
    help="Haven: a world-state server for star maps. Run `haven init`, then `haven serve`.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
db_app = typer.Typer(
    help="Schema migrations: show, upgrade or downgrade the database's schema revision.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(db_app, name="db")


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        out.print(f"haven {version('haven')}")
    except PackageNotFoundError:
        out.print("haven (not installed as a package)")
    raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print Haven's version and exit.", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    """Haven: a world-state server for star maps. Run `haven init`, then `haven serve`."""


# -- shared options ----------------------------------------------------------

DatabaseOption = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        "-d",
        envvar="HAVEN_DATABASE_URL",
        metavar="PATH",
        show_default=False,
        help="SQLite file (or sqlite:///PATH) to use. Overrides HAVEN_DATABASE_URL; default data/haven.db.",
    ),
]


def galaxy_name(value: str | None) -> str | None:
    """A ``--galaxy`` name checked as the store checks every galaxy it creates (:func:`haven.model.clean_name`).

    Trimmed, 1 to 200 characters, no control characters; a bad one is refused
    (exit 1) before the command opens the database, so nothing is written.
    """
    if value is None:
        return None
    try:
        return clean_name(value)
    except ValueError as exc:
        raise InvalidInput(f"the galaxy name {exc}", field="galaxy") from None


GalaxyOption = Annotated[str, typer.Option("--galaxy", "-g", callback=galaxy_name, help="Galaxy to work on.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def resolve_url(database: str | None) -> DatabaseUrl:
    """The database named by ``--database`` / ``HAVEN_DATABASE_URL`` (exit 2 if malformed)."""
    try:
        url = parse_database_url(database)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--database' / HAVEN_DATABASE_URL") from None
    if url.engine != "sqlite":
        raise StoreUnavailable(f"the {url.engine} engine is not available in this version of Haven")
    return url


@contextmanager
def opened(url: DatabaseUrl, *, bulk: bool = False, read_only: bool = False) -> Iterator[SQLiteStore]:
    """The store at ``url`` (its schema must be current), closed afterwards (``bulk``, ``read_only``: see ``open_store``)."""
    try:
        store = open_store(url, bulk=bulk, read_only=read_only)
    except ValueError as exc:  # HAVEN_SQLITE_SYNCHRONOUS out of range
        raise typer.BadParameter(str(exc), param_hint="HAVEN_SQLITE_SYNCHRONOUS") from None
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailable(f"{url.location} cannot be opened as a Haven database: {exc}") from None
    try:
        yield store
    finally:
        store.close()


def run_migration(action: Callable[[DatabaseUrl, str], None], url: DatabaseUrl, revision: str) -> None:
    from alembic.util import CommandError

    try:
        action(url, revision)
    except CommandError as exc:
        raise InvalidInput(f"revision {revision!r}: {exc}", field="revision") from None


def current_revision(url: DatabaseUrl) -> str | None:
    try:
        return migrate.current_revision(url)
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailable(f"{url.location} cannot be opened as a Haven database: {exc}") from None


def upgrade_schema(url: DatabaseUrl) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (revision before, revision after)."""
    before = current_revision(url)
    head = migrate.head_revision()
    if before != head:
        run_migration(migrate.upgrade, url, "head")
    return before, head


def check_revision(revision: str) -> None:
    """An empty revision names nothing (Alembic would fail on an assertion)."""
    if not revision.strip():
        raise InvalidInput("revision must not be empty: give head, -1, base or a revision id", field="revision")


def schema_change(before: str | None, after: str) -> str:
    if before is None:
        return f"created (schema revision {after})"
    if before != after:
        return f"upgraded {before} → {after}"
    return f"schema up to date (revision {after})"


def key_value_table(rows: list[tuple[str, str | Text]], title: str | None = None) -> Table:
    table = Table(show_header=False, box=None, title=title, title_justify="left", pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else Text(value))
    return table


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def unfinished_load_note(load: dict[str, Any]) -> str:
    """One sentence on a bulk load that stopped before its end, and how to finish it."""
    source = load["source"] or ""
    if load["kind"] == "import":
        what = f"import of {source.split(':', 1)[-1]!r}"
        again = "`haven import` of that file, unchanged,"
    else:
        what, again = f"generate ({source})" if source else "generate", "`haven generate`"
    of = f" of {load['total_batches']:,}" if load["total_batches"] is not None else ""
    return (f"An unfinished {what} into {load['galaxy']!r} (started {load['started_at']}) stored "
            f"{load['batches_done']:,}{of} batches ({load['rows_done']:,} systems); "
            f"run the same {again} again to finish it.")


def off_map_note(systems: int) -> str:
    return (f"{systems:,} stored systems are not on the map yet (a bulk load stopped before placing "
            "them): they are drawn once that load, or any later load into the galaxy, finishes.")


# -- init / serve --------------------------------------------------------------


def seed_demo_if_wanted(store: SQLiteStore, g: dict[str, Any], wanted: bool) -> str:
    """Seed the demo into an empty galaxy (or finish an interrupted seeding); say what happened."""
    from haven.demo import demo_state, seed_demo

    if not wanted:
        return "off (--no-demo)"
    state = demo_state(store, g["name"])
    if state == "done":
        return "already seeded"
    if state is None and g["system_count"] > 0:
        return "skipped: the galaxy already has systems"
    result = seed_demo(store, g["name"])
    verb = "finished seeding" if state == "started" else "seeded"
    return f"{verb} {result.handmade_created} hand-charted + {result.generated:,} generated systems"


@app.command()
def init(
    galaxy: GalaxyOption = DEFAULT_GALAXY,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo/--no-demo",
            help="Seed the demo galaxy (a dozen hand-charted systems and 3,000 generated ones) "
            "when the galaxy is empty.",
        ),
    ] = True,
    database: DatabaseOption = None,
) -> None:
    """Create or upgrade the database, create the galaxy and seed the demo. Safe to run again."""
    url = resolve_url(database)
    before, after = upgrade_schema(url)
    with opened(url) as store:
        existing = {g["name"] for g in store.galaxies()}
        g = store.ensure_galaxy(galaxy)
        demo_note = seed_demo_if_wanted(store, g, demo)
        stats = store.stats(g["name"])
    out.print(
        key_value_table(
            [
                ("Database", f"{url.location}: {schema_change(before, after)}"),
                ("Galaxy", f"{g['name']} ({'existing' if g['name'] in existing else 'created'})"),
                ("Demo", demo_note),
                ("Systems", f"{stats['total_systems']:,} in {len(stats['regions']):,} regions"),
            ],
            title="Haven is ready",
        )
    )
    out.print("Next: [bold]haven serve[/bold], then open http://127.0.0.1:8000/")


def refuse_an_address_in_use(host: str, port: int) -> None:
    """Exit 3 (as uvicorn does when it cannot start) if ``host:port`` cannot be listened on.

    Checked before the schema is upgraded and the banner printed, so a port in use changes
    nothing and is the only thing said. uvicorn binds again right after (another process
    could take the port in between; uvicorn then reports it).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses and binds
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except (OSError, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            hint = ("; another program (another `haven serve`?) listens there: stop it or choose "
                    "another --port") if getattr(exc, "errno", None) == errno.EADDRINUSE else ""
            err.print(Text(f"Cannot listen on {host}:{port}: {reason}{hint}"))
            raise typer.Exit(3) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    reload: Annotated[bool, typer.Option("--reload/--no-reload", help="Restart when the code changes (development).")] = False,
    database: DatabaseOption = None,
) -> None:
    """Run the HTTP API and web app (uvicorn). Upgrades the schema first if needed; never seeds the demo."""
    url = resolve_url(database)
    for read, variable in ((worker_threads, "HAVEN_WORKER_THREADS"), (cache_mib, "HAVEN_CACHE_MIB")):
        try:
            read()  # the server reads them as it starts: refuse a bad one before anything changes
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=variable) from None
    refuse_an_address_in_use(host, port)
    before, after = upgrade_schema(url)
    with filelocks.serving(url.location) or nullcontext(), opened(url) as store:
        # a database the app cannot open (a schema change, an unfinished bulk load) is refused here, clearly;
        # one that opens but holds the stored part of a stopped load is served, with a word about it
        loads = store.unfinished_loads()
        off_map = {name: store.stats(name)["systems_off_map"] for name in {load["galaxy"] for load in loads}}
    import uvicorn

    from haven.api.app import create_app
    from haven.api.live import MAX_FRAME_BYTES

    # The app (and, with --reload, each worker process) opens the store named here.
    os.environ["HAVEN_DATABASE_URL"] = f"sqlite:///{Path(url.location).resolve()}"
    err.print(Text(f"Database {url.location}: {schema_change(before, after)}"))
    for load in loads:
        err.print(Text(f"Warning: {unfinished_load_note(load)}", style="yellow"))
    for name, systems in sorted(off_map.items()):
        if systems:
            err.print(Text(f"Warning: in {name!r}, {off_map_note(systems)}", style="yellow"))
    err.print(
        Text.assemble(
            ("Haven ", "bold"), "at ", (f"http://{host}:{port}/", "bold cyan"), "  API: /api/v1  docs: /docs"
        )
    )
    # The chunk WebSocket sends gzip bodies: compressing them again per message
    # (permessage-deflate) costs milliseconds per chunk and saves nothing. Its
    # messages are small: one over MAX_FRAME_BYTES is not read, the socket closes with 1009.
    sockets: dict[str, Any] = {"ws_per_message_deflate": False, "ws_max_size": MAX_FRAME_BYTES}
    if reload:
        uvicorn.run(
            "haven.api.app:create_app", factory=True, host=host, port=port, reload=True,
            reload_dirs=[str(Path(__file__).resolve().parents[1])], **sockets,
        )
    else:
        uvicorn.run(create_app(), host=host, port=port, **sockets)


# -- import / export -------------------------------------------------------------


class OnConflict(str, Enum):
    error = "error"
    skip = "skip"
    replace = "replace"


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, show_default=False,
            help="A legacy data.json, an old haven.db, or a Haven export.",
        ),
    ],
    galaxy: GalaxyOption = DEFAULT_GALAXY,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything, write nothing.")] = False,
    on_conflict: Annotated[
        OnConflict,
        typer.Option(
            "--on-conflict",
            case_sensitive=False,
            help="When a system with the same name exists: fail the import (error), keep the stored one "
            "(skip) or overwrite it (replace).",
        ),
    ] = OnConflict.error,
    database: DatabaseOption = None,
) -> None:
    """Import systems from a file, all or nothing. Every problem is listed with its record and field.

    The galaxy is created if it does not exist; a failed import removes the
    galaxy it created, so nothing is left behind. A dry run creates nothing: into
    a galaxy that does not exist yet, it checks the file against the empty galaxy
    the import would create. A dry run that finds problems lists them and exits
    with code 1. Parquet, CSV and
    JSONL files go through the bulk loader: checked first, then written in
    batches; a killed import resumes where it stopped when run again.
    """
    from haven.ingest import tabular
    from haven.ingest.legacy import import_file
    from haven.ingest.sources import check_input_file

    check_input_file(file)  # before anything opens it: opening a pipe waits for its writer
    url = resolve_url(database)
    if file.suffix.lower() in tabular.SUFFIXES:
        if dry_run or on_conflict is not OnConflict.error:
            raise typer.BadParameter("apply to legacy JSON and haven.db files only, not to Parquet, CSV or JSONL",
                                     param_hint="'--dry-run' / '--on-conflict'")
        bulk_import_command(url, galaxy, file)
        return
    with opened(url) as store, stage_bar(err, file.name) as progress:
        if dry_run:
            report = import_file(store, galaxy, file, dry_run=True, on_conflict=on_conflict.value,
                                 progress=progress)
        else:
            # a missing galaxy is created in the import's one transaction: a failed, interrupted
            # or killed import leaves no new, empty galaxy
            report = import_file(store, galaxy, file, on_conflict=on_conflict.value, progress=progress,
                                 create_galaxy=True)
    rows: list[tuple[str, str | Text]] = [
        ("File", f"{file} ({report.shape or 'unreadable'})"),
        ("Galaxy", report.galaxy if report.galaxy_exists
         else f"{report.galaxy} (does not exist yet; the import would create it)"),
        ("Records", f"{report.records:,} ({report.systems:,} valid)"),
    ]
    if report.problems:  # a dry run that found problems: nothing would be created, replaced or skipped
        rows.append(("Outcome", "the import would fail and write nothing; see the problems below"))
    else:
        rows += [("Created", f"{report.created:,}"), ("Replaced", f"{report.replaced:,}"),
                 ("Skipped", f"{report.skipped:,} (already stored)")]
    out.print(key_value_table(rows, title="Dry run: nothing was written" if dry_run else "Imported"))
    for warning in report.warnings:
        out.print(Text(f"  ! {show_controls(warning)}", style="yellow"))
    if report.problems:  # only a dry run returns problems; a real import raises ImportFailed
        raise ImportFailed(f"{file.name}: the import would fail", report.problems)




@contextmanager
def stage_bar(console: Console, file_name: str) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar per stage of a legacy import (reading, checking, writing), gone when done.

    Yields the ``progress(stage, done, total)`` callback that
    :func:`haven.ingest.legacy.import_file` calls.
    """
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    titles = {"reading": f"Reading {escape(file_name)}", "checking": "Checking records",
              "writing": "Writing systems"}
    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(titles.get(stage, stage), total=total or None)
            bar.update(tasks[stage], completed=done)

        yield progress


def count_bar(console: Console, *, transient: bool) -> Any:
    """A Rich progress bar counting items: description, bar, done/total, time left."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=transient)


def _run_bulk(title: str, job: Callable[[Any], dict[str, Any]], total: int | None) -> dict[str, Any]:
    """Run a bulk job under a Rich progress bar and print its summary.

    ``title`` is Rich markup (the bar's description and the table's title): user text
    in it (a file or galaxy name) must go through :func:`rich.markup.escape`.
    """
    from haven.store.bulk import rich_progress

    with count_bar(out, transient=False) as bar:
        task = bar.add_task(title, total=total)
        summary = job(rich_progress(bar, task, total_rows=total))
    shown = {k: v for k, v in summary.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    out.print(key_value_table([(k.replace("_", " ").capitalize(), f"{v:,}" if isinstance(v, int) else str(v))
                               for k, v in shown.items()], title=title))
    return summary


def bulk_import_command(url: DatabaseUrl, galaxy: str, file: Path) -> None:
    from haven.ingest import tabular
    from haven.ingest.bulk import bulk_import

    tabular.check_columns(file, tabular.detect_format(file))  # a file that cannot be read: no progress bar first
    with opened(url, bulk=True) as store:
        _run_bulk(f"Importing {escape(file.name)}",
                  lambda progress: bulk_import(store, galaxy, file, progress=progress), None)


@app.command()
def generate(
    systems: Annotated[int, typer.Option("--systems", "-n", min=1, max=10**10, help="How many systems.")],
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, max=2**63 - 1, help="Same seed, same galaxy.")] = 42,
    galaxy: GalaxyOption = DEFAULT_GALAXY,
    database: DatabaseOption = None,
) -> None:
    """Generate a Milky-Way-like galaxy of procedural systems; a killed run resumes when run again.

    Deterministic: the same --systems and --seed store the same systems. Their
    planets, moons and stations are derived from each system's seed when read,
    and stored only once somebody edits them.
    """
    from haven.ingest.bulk import generate_galaxy

    url = resolve_url(database)
    upgrade_schema(url)
    with opened(url, bulk=True) as store:
        _run_bulk(f"Generating {systems:,} systems",
                  lambda progress: generate_galaxy(store, galaxy, systems, seed, progress=progress), systems)


ExportFormat = Enum("ExportFormat", {name: name for name in EXPORT_FORMATS}, type=str)


@app.command()
def export(
    format: Annotated[
        Optional[ExportFormat],
        typer.Option("--format", "-f", help="Output format; by default the output file's extension "
                                            "(.json, .parquet, .csv, .jsonl), else haven-json."),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE|-", help="Where to write; - is standard output.")
    ] = "-",
    galaxy: GalaxyOption = DEFAULT_GALAXY,
    database: DatabaseOption = None,
) -> None:
    """Write every system of a galaxy (with planets, moons, stations and extra fields).

    haven-json is {"_meta": ..., "data": [...]}; legacy-json is the name-keyed data.json
    of the original tool. parquet, csv and jsonl are flat files, one system per record,
    that `haven import` reads back at bulk speed; a generated system's seed stands for
    its planets. Every format imports back with `haven import`. A file is replaced only
    once the export is complete.
    """
    from haven.ingest.export import export_galaxy, exported_at_ms, format_for_path

    try:
        exported_at_ms()  # a malformed SOURCE_DATE_EPOCH is bad usage, refused before any work
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message, param_hint="SOURCE_DATE_EPOCH") from None
    fmt = format.value if format is not None else (format_for_path(output) if output != "-" else None) or "haven-json"
    url = resolve_url(database)
    if output == "-" and fmt == "parquet":
        raise typer.BadParameter("parquet is a binary format; write it to a file with --output",
                                 param_hint="'--format'")
    target = None if output == "-" else output_file(Path(output))  # a bad path: refused before any work
    with opened(url, read_only=True) as store:
        total = store.galaxy(galaxy)["system_count"]  # an unknown galaxy: refused before any folder is made
        if target is None:
            export_galaxy(store, galaxy, sys.stdout, fmt=fmt)
            sys.stdout.flush()
            return
        with count_bar(err, transient=True) as bar:
            task = bar.add_task(f"Exporting {escape(galaxy)}", total=total)
            count = export_galaxy(store, galaxy, target.path, fmt=fmt,
                                  progress=lambda done: bar.update(task, completed=done, total=max(total, done)))
    size = "" if target.direct else f" ({fmt_bytes(target.real.stat().st_size)})"
    err.print(Text(f"Exported {count:,} systems of {galaxy} to {target.path} as {fmt}{size}"))


# -- map ---------------------------------------------------------------------------


def output_file(target: Path) -> OutputTarget:
    """Where `--output` writes (`haven export`, `haven map`), checked before any work so a bad path writes nothing.

    A symlink counts as the file it names; a FIFO or a device (``/dev/stdout``) must be
    writable and is written directly; otherwise the folder that will hold the file must
    be one (missing folders below it are created when the file is written).
    """
    from haven.outfile import output_target

    def refuse(message: str) -> typer.BadParameter:
        return typer.BadParameter(message, param_hint="'--output'")

    try:
        where = output_target(target)
    except InvalidInput as exc:
        raise refuse(exc.message) from None
    except OSError as exc:  # a folder on the way that cannot be read
        raise refuse(f"cannot write {target}: {exc.strerror or exc}") from None
    if where.direct:
        if not os.access(where.real, os.W_OK):
            raise refuse(f"cannot write {target}: no permission to write to it")
        return where
    folder = where.real.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise refuse(f"cannot write {target}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise refuse(f"cannot write {target}: no permission to write in {folder}")
    return where


def map_target(output: Optional[Path], default_name: str) -> OutputTarget:
    """Where `haven map` writes (see :func:`output_file`)."""
    return output_file(output if output is not None else Path(default_name))


@app.command("map")
def map_(
    system: Annotated[
        Optional[str],
        typer.Option("--system", metavar="NAME", show_default=False,
                     help="Draw one system: its star, planets, moons and station."),
    ] = None,
    region: Annotated[
        Optional[str],
        typer.Option("--region", metavar="NAME", show_default=False,
                     help="Draw a region's systems as a star field; click a star for its details."),
    ] = None,
    galaxy_map: Annotated[
        bool,
        typer.Option("--galaxy", help="The whole galaxy: the progressive map, loading its stars from --server."),
    ] = False,
    server: Annotated[
        Optional[str],
        typer.Option("--server", metavar="URL", show_default=False,
                     help="The Haven server a --galaxy map loads from (default http://127.0.0.1:8000)."),
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", metavar="FILE", show_default=False,
                     help="File to write (default: a name made from the system or region, in the current folder)."),
    ] = None,
    galaxy: Annotated[
        Optional[str],
        typer.Option("--galaxy-name", "-g", metavar="NAME", show_default=False, callback=galaxy_name,
                     help=f"Galaxy to draw (default {DEFAULT_GALAXY}; for --galaxy, the server's own)."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Write a map as one HTML file that opens from disk, without a server.

    Give exactly one of --system NAME, --region NAME or --galaxy. Data, scripts and
    styles are inlined; a region holds at most 200,000 systems. A --galaxy map
    loads its stars from a running `haven serve` (--server). The file is replaced
    only once it is complete.
    """
    from haven.web import export as web_export

    chosen = [flag for flag, given in (("--system", system is not None), ("--region", region is not None),
                                        ("--galaxy", galaxy_map)) if given]
    if len(chosen) != 1:
        raise typer.BadParameter(
            "give exactly one of --system NAME, --region NAME or --galaxy"
            + (f" (got {' and '.join(chosen)})" if chosen else ""),
            param_hint="'--system' / '--region' / '--galaxy'",
        )
    if server is not None and not galaxy_map:
        raise typer.BadParameter("--server applies to --galaxy maps only", param_hint="'--server'")

    if galaxy_map:
        try:
            server_url = web_export.check_server_url(server or web_export.DEFAULT_SERVER)
        except InvalidInput as exc:
            raise typer.BadParameter(exc.message, param_hint="'--server'") from None
        target = map_target(output, web_export.default_filename("galaxy", galaxy or server_url.split("://", 1)[1]))
        page = web_export.galaxy_page(server=server_url, galaxy=galaxy)
        shown = f"galaxy {galaxy}" if galaxy else "the server's galaxy"
        what = f"a map of {shown}, loading from {server_url}"
    elif system is not None:
        target = map_target(output, web_export.default_filename("system", system))
        galaxy = galaxy or DEFAULT_GALAXY
        with opened(resolve_url(database), read_only=True) as store:
            found = store.system_by_name(galaxy, system)
        page = web_export.system_page(found, galaxy=galaxy)
        what = f"system {found['name']} ({len(found.get('planets') or [])} planets)"
    else:
        assert region is not None
        galaxy = galaxy or DEFAULT_GALAXY
        target = map_target(output, web_export.default_filename("region", region))
        with opened(resolve_url(database), read_only=True) as store:
            data = map_region_data(web_export, store, galaxy, region)
        page = web_export.region_page(data)
        what = f"region {region} ({data['count']:,} systems)"
    size = web_export.write_page(target.path, page)
    # Written to a FIFO or a device such as /dev/stdout: the page is the output, the notes go to stderr.
    notes = err if target.direct else out
    notes.print(Text.assemble("Wrote ", (str(target.path), "bold"), f" ({fmt_bytes(size)}): {what}"))
    if not target.direct:
        notes.print(Text(f"Open it in a browser: {target.real.as_uri()}"))
    if galaxy_map:
        notes.print(Text("The page loads its stars from that server: keep `haven serve` running there."))


def map_region_data(web_export: Any, store: SQLiteStore, galaxy: str, region: str) -> dict[str, Any]:
    """A region's systems for `haven map --region`, under a progress bar when there are many."""
    bar: Any = None
    task: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar, task
        if bar is None:
            if total < 20_000:
                return
            bar = count_bar(err, transient=True)
            bar.start()
            task = bar.add_task(f"Reading {escape(region)}", total=total)
        bar.update(task, completed=done, total=total)

    try:
        return web_export.region_data(store, galaxy, region, progress=progress)
    finally:
        if bar is not None:
            bar.stop()


# -- stats -----------------------------------------------------------------------


@app.command()
def stats(
    galaxy: GalaxyOption = DEFAULT_GALAXY,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    top: Annotated[int, typer.Option(min=0, help="Regions to list in the table (largest first).")] = 20,
    database: DatabaseOption = None,
) -> None:
    """Totals for a galaxy: systems, systems per region, database size (from counters, instant)."""
    url = resolve_url(database)
    with opened(url, read_only=True) as store:
        s = store.stats(galaxy)
    if as_json:
        typer.echo(json.dumps(s, ensure_ascii=False, indent=2))
        return
    out.print(
        key_value_table(
            [
                ("Galaxy", s["galaxy"]),
                ("Systems", f"{s['total_systems']:,}"),
                ("Regions", f"{len(s['regions']):,}"),
                ("Database", f"{url.location} ({fmt_bytes(s['database_size_bytes'])}"
                             + (f", write-ahead log {fmt_bytes(s['wal_size_bytes'])})" if s["wal_size_bytes"] else ")")),
            ]
            + ([("Off the map", off_map_note(s["systems_off_map"]))] if s["systems_off_map"] else [])
            + [("Unfinished", unfinished_load_note(load)) for load in s["unfinished_loads"]]
        )
    )
    regions = sorted(s["regions"], key=lambda r: (-r["system_count"], r["name"]))
    if regions and top:
        table = Table(title="Largest regions" if len(regions) > top else "Regions", title_justify="left")
        table.add_column("Region")
        table.add_column("Systems", justify="right")
        for r in regions[:top]:
            table.add_row(Text(r["name"]), f"{r['system_count']:,}")
        out.print(table)
        if len(regions) > top:
            out.print(f"… and {len(regions) - top:,} more regions (--top N or --json to see them)")


# -- bench -------------------------------------------------------------------------


@app.command()
def bench(
    systems: Annotated[int, typer.Option("--systems", "-n", min=1, help="Systems in the generated galaxy.")] = 100_000,
    seed: Annotated[
        int, typer.Option(min=0, max=2**63 - 1, help="Seed of the galaxy and of the query parameters.")
    ] = 42,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where haven-N.db is built (or reused when N and seed match).")
    ] = Path("bench-data"),
    calls: Annotated[int, typer.Option(min=1, max=10_000, help="Timed calls per operation.")] = 200,
    http: Annotated[bool, typer.Option("--http/--no-http", help="Also time the operations over HTTP (uvicorn).")] = True,
    import_rate: Annotated[
        bool, typer.Option("--import-rate/--no-import-rate",
                           help="Also time `haven import` of the galaxy written as Parquet (needs free disk "
                                "about the size of the benchmark database).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of Markdown.")] = False,
    database: Annotated[
        Optional[Path],
        typer.Option("--database", "-d", metavar="PATH", show_default=False,
                     help="Use this file instead of the one in --data-dir. HAVEN_DATABASE_URL is never used."),
    ] = None,
) -> None:
    """Time Haven on a generated galaxy: pages, search, detail, spheres, chunks, writes, sizes, memory.

    Prints a Markdown report (paste it into docs/benchmarks.md) or, with --json, the same as JSON.
    The benchmark database is separate from your data; see docs/benchmarks.md.
    """
    from haven.bench import BenchConfig, run_bench, to_json, to_markdown

    config = BenchConfig(
        n_systems=systems, seed=seed, data_dir=data_dir, calls=calls, http=http, import_rate=import_rate,
        database=database,
        progress=lambda msg: err.print(Text(msg, style="dim")),
    )
    report = run_bench(config)
    typer.echo(to_json(report) if as_json else to_markdown(report))


# -- backup / restore ---------------------------------------------------------------


@app.command()
def backup(
    target: Annotated[
        str, typer.Argument(metavar="PATH", show_default=False,
                            help="New file to write the copy to (must not exist), or a folder to write it in.")
    ],
    database: DatabaseOption = None,
) -> None:
    """Copy the live database while it is in use, then verify the copy with PRAGMA integrity_check.

    Given a folder (one that exists, or a path ending in /), the copy is named after the
    database and the time, e.g. backups/haven-20261123-101500.db.
    """
    from haven.cli.backups import check_file, timestamped_name

    url = resolve_url(database)
    path = Path(target)
    if target.endswith(("/", os.sep)) or path.is_dir():
        path = path / timestamped_name(url.sqlite_path)
    with opened(url, read_only=True) as store:
        started = time.perf_counter()
        store.backup(path)
        elapsed = time.perf_counter() - started
    report = check_file(path)
    integrity = Text("ok", style="green") if report.ok else Text("; ".join(report.integrity[:10]), style="bold red")
    out.print(
        key_value_table(
            [
                ("Backup", str(path)),
                ("Size", fmt_bytes(report.size_bytes)),
                ("Systems", f"{report.total_systems or 0:,}"),
                ("Schema", report.revision or "none"),
                ("Took", f"{elapsed:.2f} s"),
                ("Integrity", integrity),
            ],
            title=f"Backup of {escape(url.location)}",
        )
    )
    if not report.ok:
        err.print(Text("Error: the copy fails PRAGMA integrity_check; do not rely on it.", style="bold red"))
        raise typer.Exit(1)


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(show_default=False, help="A backup made by `haven backup`.")],
    yes: YesOption = False,
    database: DatabaseOption = None,
) -> None:
    """Replace the live database with a checked backup (works while `haven serve` runs).

    The backup must be a SQLite file that passes PRAGMA integrity_check and is at a
    schema revision this Haven knows; otherwise nothing changes and the exit code is 2.
    An existing live database is overwritten in place through SQLite's backup API,
    so a running server sees the restored content; a missing one is created by an
    atomic rename. Restored galaxies get map versions past the live ones, so maps
    and caches reload instead of trusting chunks of the replaced content.
    """
    from haven.cli.backups import Restore, live_system_total

    url = resolve_url(database)
    live = url.sqlite_path
    with Restore(path, live) as job:
        report = job.check()
        current = live_system_total(live)
        rows: list[tuple[str, str | Text]] = [
            ("Backup", f"{path}: {report.total_systems or 0:,} systems, schema {report.revision}"),
            ("Live database", f"{live}: " + ("does not exist yet" if current is None else f"{current:,} systems")),
        ]
        if job.upgraded_from:
            rows.append(("Schema", f"the copy was upgraded {job.upgraded_from} → {migrate.head_revision()}"))
        out.print(key_value_table(rows, title="Restore"))
        if not yes:
            typer.confirm("Replace the live database with this backup?", abort=True)
        how = job.commit(progress=lambda msg: err.print(Text(msg)))
    if how == "rename":
        out.print(Text(f"Restored {live} (moved the checked copy into place).", style="green"))
    else:
        out.print(Text(f"Restored {live} in place; open connections see the restored content.", style="green"))
    if job.advanced:
        # The backup's octree clocks are older than the live ones: moved past them, so maps reload.
        out.print(Text(f"Map versions of {len(job.advanced):,} "
                       f"galax{'y' if len(job.advanced) == 1 else 'ies'} moved past the live database's; "
                       "maps and chunk caches load every node again."))


# -- db ------------------------------------------------------------------------------


@db_app.command("current")
def db_current(database: DatabaseOption = None) -> None:
    """Show the database's schema revision and the newest one this Haven knows."""
    url = resolve_url(database)
    current = current_revision(url)
    head = migrate.head_revision()
    if current is None:
        state = "none (no schema yet; run `haven init` or `haven db upgrade`)"
    elif current == head:
        state = f"{current} (head)"
    else:
        state = f"{current} (head is {head}; run `haven db upgrade`)"
    out.print(key_value_table([("Database", url.location), ("Revision", state)]))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database: DatabaseOption = None,
) -> None:
    """Upgrade the schema (creating the database if needed) to REVISION, the newest by default."""
    url = resolve_url(database)
    check_revision(revision)
    before = current_revision(url)
    run_migration(migrate.upgrade, url, revision)
    after = current_revision(url)
    if before == after:  # already there, or past it (an upgrade never goes back)
        out.print(Text(f"Schema revision: {after or 'none'}, nothing to upgrade"
                       + ("" if revision == "head" or revision == after else
                          f" ({revision} is not newer; `haven db downgrade {revision}` goes back to it)")))
        return
    out.print(Text(f"Schema revision: {before or 'none'} → {after or 'none'}"))


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: -1 for one step back (default), base for an empty schema.")
    ] = "-1",
    yes: YesOption = False,
    database: DatabaseOption = None,
) -> None:
    """Downgrade the schema. Tables the newer revisions added are dropped with their data."""
    url = resolve_url(database)
    check_revision(revision)
    before = current_revision(url)
    if before is None:
        raise InvalidInput(f"{url.location} has no schema to downgrade", field="revision")
    if not yes:
        target = migrate.downgrade_target(before, revision)
        shown = "base (an empty schema)" if target == "base" else target
        typer.confirm(
            f"Downgrade {url.location} from revision {before} to {shown}? "
            "Data in dropped tables is lost (take a `haven backup` first).",
            abort=True,
        )
    run_migration(migrate.downgrade, url, revision)
    after = current_revision(url)
    out.print(Text(f"Schema revision: {before} → {after or 'none'}"))


def main() -> None:
    """Entry point of the ``haven`` script."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside a command (while parsing or loading): no traceback
        err.print(Text("Interrupted.", style="bold red"))
        sys.exit(130)
