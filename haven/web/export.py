"""Self-contained map pages: one HTML file that opens from disk, without a server.

Three kinds of page are built here:

* a **system** page: the system's JSON inlined and drawn by ``js/system-view.js``;
* a **region** page: the region's systems (ids, names, positions and a few
  details, as columns) inlined and drawn by ``js/static-map.js``;
* a **galaxy** page: ``map.html`` with its modules inlined, talking to a
  running Haven server (``HAVEN_API_BASE``) for its chunks.

How a page is made self-contained:

* every ES module the page needs (found by following its imports) becomes a
  ``data:text/javascript;base64,…`` URL in an inline import map, under a bare
  key (``haven/js/api.js``, ``three``, ``three/build/three.core.js``,
  ``three/addons/controls/OrbitControls.js``); relative and absolute import
  specifiers inside the modules are rewritten to those keys;
* ``new URL("./worker.js", import.meta.url)`` becomes the worker's own data URL,
  with the worker's imports nested as data URLs (workers have no import maps);
* stylesheets are inlined in ``<style>``;
* data goes in ``<script type="application/json" id="haven-data">`` with
  ``<``, ``>`` and ``&`` written as JSON escapes, so no text in it can close
  the element;
* a Content-Security-Policy allows scripts only from the page's own inline
  scripts (by hash) and ``data:`` modules.

:class:`MapRegistry` keeps the pages the original API's
``/api/generate/system/{name}`` generated, for ``/maps/{filename}``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import mimetypes
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import orjson

from haven.errors import HavenError, InvalidInput, NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"

MAX_REGION_SYSTEMS = 200_000
REGION_PAGE_SIZE = 5000
DEFAULT_SERVER = "http://127.0.0.1:8000"

# How the served pages map bare specifiers (their import map), used when a page has none.
DEFAULT_IMPORTS = {
    "three": "/vendor/three/build/three.module.js",
    "three/addons/": "/vendor/three/examples/jsm/",
}

# Per-system text the region map shows in its details panel.
REGION_DETAIL_FIELDS = ("sentinel", "fauna", "flora", "materials")


class ExportUnavailable(HavenError):
    """A page cannot be built because part of the web front end is missing."""

    code = "export_unavailable"
    status = 503


# -- where the files are ---------------------------------------------------------------


@dataclass(frozen=True)
class Roots:
    """The two folders a page's modules come from, and the URL paths they are served at."""

    static: Path
    three: Path | None

    def file_for(self, url_path: str) -> Path | None:
        """The file the server would answer ``url_path`` with, if it is one of ours."""
        if url_path.startswith("/vendor/three/"):
            if self.three is None:
                raise ExportUnavailable(
                    "three.js is not installed (run `make`, or set HAVEN_THREE_DIR to the npm package)"
                )
            return _inside(self.three, url_path[len("/vendor/three/"):])
        if url_path.startswith("/static/"):
            return _inside(self.static, url_path[len("/static/"):])
        if url_path.startswith("/"):  # the web app also serves the static folder at /
            return _inside(self.static, url_path[1:])
        return None

    def key_for(self, path: Path) -> str:
        """The bare import-map key of a module file."""
        if self.three is not None and path.is_relative_to(self.three):
            rel = path.relative_to(self.three).as_posix()
            if rel == "build/three.module.js":
                return "three"
            if rel.startswith("examples/jsm/"):
                return "three/addons/" + rel[len("examples/jsm/"):]
            return "three/" + rel
        return "haven/" + path.relative_to(self.static).as_posix()


def _inside(root: Path, rel: str) -> Path | None:
    rel = unquote(rel)
    if "\x00" in rel:
        return None
    candidate = (root / rel).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def default_roots() -> Roots:
    """The package's web front end and the installed three.js."""
    from haven.api.app import three_js_dir  # late: haven.api imports this module

    three = three_js_dir()
    return Roots(STATIC_DIR.resolve(), three.resolve() if three is not None else None)


# -- modules -------------------------------------------------------------------------------

# Import statements that start a line (how every module here is written). Comments
# (``//``, `` * ``) do not start with ``import``/``export``, so they are not matched.
_FROM_IMPORT = re.compile(r"""^[ \t]*(?:import|export)\b[^;'"`]*?\bfrom[ \t]*(['"])([^'"\n]+)\1""", re.M)
_BARE_IMPORT = re.compile(r"""^[ \t]*import[ \t]*(['"])([^'"\n]+)\1""", re.M)
_DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*(['"])([^'"\n]+)\1\s*\)""")
_ASSET_URL = re.compile(r"""\bnew\s+URL\(\s*(['"])([^'"\n]+)\1\s*,\s*import\.meta\.url\s*\)""")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9._/@+-]+$")

DATA_JS = "data:text/javascript;base64,"


def data_url(source: str | bytes, mime: str = "text/javascript") -> str:
    raw = source.encode("utf-8") if isinstance(source, str) else source
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _in_comment(source: str, at: int) -> bool:
    """Whether ``at`` is on a comment line (``// …``, `` * …``) or after ``//`` on its line."""
    line_start = source.rfind("\n", 0, at) + 1
    before = source[line_start:at]
    stripped = before.lstrip()
    return "//" in before or stripped.startswith(("*", "/*"))


def _import_specifiers(source: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, specifier, dynamic) of every import specifier, in source order.

    Dynamic ``import("…")`` calls on comment lines (JSDoc types such as
    ``{import("three").Camera}``) are left out.
    """
    found: dict[int, tuple[int, int, str, bool]] = {}
    for pattern in (_FROM_IMPORT, _BARE_IMPORT):
        for m in pattern.finditer(source):
            found.setdefault(m.start(2), (m.start(2), m.end(2), m.group(2), False))
    for m in _DYNAMIC_IMPORT.finditer(source):
        if not _in_comment(source, m.start()):
            found.setdefault(m.start(2), (m.start(2), m.end(2), m.group(2), True))
    return sorted(found.values())


def _asset_urls(source: str) -> list[re.Match[str]]:
    """``new URL("…", import.meta.url)`` expressions outside comments."""
    return [m for m in _ASSET_URL.finditer(source) if not _in_comment(source, m.start())]


def _replace_spans(source: str, spans: Iterable[tuple[int, int, str]]) -> str:
    parts: list[str] = []
    last = 0
    for start, end, text in sorted(spans):
        parts.append(source[last:start])
        parts.append(text)
        last = end
    parts.append(source[last:])
    return "".join(parts)


class ModuleBundle:
    """The ES modules of one page, inlined as data URLs behind an import map.

    ``add(specifier, base)`` follows a specifier the way the browser would (the
    page's import map for bare names, URL resolution for the rest), then every
    import of every module it reaches. Each module's source is rewritten so it
    imports the others by their bare keys.
    """

    def __init__(self, roots: Roots, imports: dict[str, str] | None = None) -> None:
        self.roots = roots
        self.imports = dict(DEFAULT_IMPORTS if imports is None else imports)
        self.modules: dict[str, str] = {}  # key -> rewritten source
        self.files: dict[Path, tuple[int, int]] = {}  # every file read -> (mtime_ns, size)
        self.workers: dict[str, str] = {}  # key of a file used as new URL(…) -> its data URL
        self._added: set[Path] = set()
        self._self_contained: dict[Path, str] = {}
        self._map_cache: dict[str, Any] | None = None
        self._map_json: str | None = None

    # resolution ---------------------------------------------------------------------

    def url_path(self, path: Path) -> str:
        if self.roots.three is not None and path.is_relative_to(self.roots.three):
            return "/vendor/three/" + path.relative_to(self.roots.three).as_posix()
        return "/static/" + path.relative_to(self.roots.static).as_posix()

    def _mapped(self, specifier: str) -> str | None:
        if specifier in self.imports:
            return self.imports[specifier]
        prefixes = [k for k in self.imports if k.endswith("/") and specifier.startswith(k)]
        if prefixes:
            best = max(prefixes, key=len)
            return self.imports[best] + specifier[len(best):]
        return None

    def resolve(self, specifier: str, base: str, *, url: bool = False) -> Path:
        """The file ``specifier`` names when imported from the URL path ``base``.

        ``url=True`` resolves it as an HTML attribute (``src="js/map.js"``) instead of
        an import specifier: every relative reference is then a URL, never a bare name.
        """
        target: str | None
        if url and not urlsplit(specifier).scheme:
            target = urljoin(base, specifier)
        elif specifier.startswith(("./", "../", "/")):
            target = urljoin(base, specifier)
        elif specifier.startswith("haven/"):  # our own keys, used by the pages built here
            target = "/static/" + specifier[len("haven/"):]
        else:
            target = self._mapped(specifier)
            if target is not None and not target.startswith("/"):
                target = urljoin(base, target)
        path = self.roots.file_for(urlsplit(target).path) if target is not None else None
        if path is None:
            raise ExportUnavailable(
                f"the module {specifier!r} (imported by {base}) is not part of Haven's web front end"
            )
        return path

    def read(self, path: Path) -> str:
        stat = path.stat()
        self.files[path] = (stat.st_mtime_ns, stat.st_size)
        return path.read_text(encoding="utf-8")

    # page modules ---------------------------------------------------------------------

    def add(self, specifier: str, base: str = "/static/index.html", *, url: bool = False) -> str:
        """Add the module ``specifier`` names and everything it imports; returns its key."""
        entry = self.resolve(specifier, base, url=url)
        pending = [entry]
        while pending:
            path = pending.pop()
            if path in self._added:
                continue
            self._added.add(path)
            key = self._key(path)
            source = self.read(path)
            spans: list[tuple[int, int, str]] = []
            for start, end, spec, dynamic in _import_specifiers(source):
                dep = self._resolve_import(spec, path, dynamic)
                if dep is None:
                    continue
                spans.append((start, end, self._key(dep)))
                pending.append(dep)
            spans.extend(self._asset_spans(source, path))
            self.modules[key] = _replace_spans(source, spans)
            self._map_cache = None
        return self._key(entry)

    def _resolve_import(self, specifier: str, importer: Path, dynamic: bool) -> Path | None:
        """A static import must resolve; a dynamic one that does not is left for the browser to report."""
        try:
            return self.resolve(specifier, self.url_path(importer))
        except ExportUnavailable:
            if dynamic:
                return None
            raise

    def rewrite_inline(self, source: str, base: str) -> str:
        """An inline module script of a page, with its imports rewritten to keys (and added)."""
        spans = []
        for start, end, spec, _dynamic in _import_specifiers(source):
            spans.append((start, end, self.add(spec, base)))
        return _replace_spans(source, spans)

    def _key(self, path: Path) -> str:
        key = self.roots.key_for(path)
        if not _SAFE_KEY.match(key):
            raise ExportUnavailable(f"the module file name {key!r} cannot be inlined")
        return key

    def _asset_spans(self, source: str, path: Path) -> list[tuple[int, int, str]]:
        """``new URL("./x.js", import.meta.url)`` → ``new URL("data:…")``."""
        spans = []
        for m in _asset_urls(source):
            asset = self.resolve(m.group(2), self.url_path(path))
            url = self._asset_url(asset)
            spans.append((m.start(), m.end(), f"new URL({orjson.dumps(url).decode()})"))
        return spans

    def _asset_url(self, path: Path) -> str:
        if path.suffix in (".js", ".mjs"):
            url = self.self_contained(path)
            self.workers[self._key(path)] = url
            return url
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        stat = path.stat()
        self.files[path] = (stat.st_mtime_ns, stat.st_size)
        return data_url(path.read_bytes(), mime)

    # workers ----------------------------------------------------------------------------

    def self_contained(self, path: Path, _stack: tuple[Path, ...] = ()) -> str:
        """A module as one data URL whose imports are nested data URLs (for workers)."""
        if path in self._self_contained:
            return self._self_contained[path]
        if path in _stack:
            raise ExportUnavailable(f"{self.url_path(path)} is part of an import cycle; it cannot run as a worker")
        source = self.read(path)
        spans = []
        for start, end, spec, dynamic in _import_specifiers(source):
            dep = self._resolve_import(spec, path, dynamic)
            if dep is not None:
                spans.append((start, end, self.self_contained(dep, _stack + (path,))))
        for m in _asset_urls(source):
            asset = self.resolve(m.group(2), self.url_path(path))
            if asset.suffix not in (".js", ".mjs"):
                url = self._asset_url(asset)
            elif asset in _stack or asset == path:
                # A module that names the worker it runs in (decode.js names chunk-worker.js):
                # only the page starts that worker, so inside the worker the reference stays.
                continue
            else:
                url = self.self_contained(asset, _stack + (path,))
            spans.append((m.start(), m.end(), f"new URL({orjson.dumps(url).decode()})"))
        url = data_url(_replace_spans(source, spans))
        self._self_contained[path] = url
        return url

    # output -----------------------------------------------------------------------------

    def import_map(self) -> dict[str, Any]:
        if self._map_cache is None:
            self._map_cache = {"imports": {key: data_url(src) for key, src in sorted(self.modules.items())}}
            self._map_json = None
        return self._map_cache

    def import_map_json(self) -> str:
        """The import map as the text of a ``<script type="importmap">``."""
        current = self.import_map()
        if self._map_json is None:
            self._map_json = script_json(current)
        return self._map_json

    def fresh(self) -> bool:
        """True while no file this bundle read has changed on disk."""
        for path, signature in self.files.items():
            try:
                stat = path.stat()
            except OSError:
                return False
            if (stat.st_mtime_ns, stat.st_size) != signature:
                return False
        return True


_bundles: dict[tuple[Any, ...], ModuleBundle] = {}
_bundles_lock = threading.Lock()


def cached_bundle(roots: Roots, entries: tuple[str, ...]) -> ModuleBundle:
    """The bundle of ``entries`` (``haven/…`` keys), rebuilt when one of its files changes."""
    cache_key = (roots, entries)
    with _bundles_lock:
        bundle = _bundles.get(cache_key)
        if bundle is not None and bundle.fresh():
            return bundle
        bundle = ModuleBundle(roots)
        for entry in entries:
            bundle.add(entry)
        bundle.import_map_json()
        _bundles[cache_key] = bundle
        return bundle


# -- HTML ------------------------------------------------------------------------------------


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` characters."""
    text = orjson.dumps(value).decode("utf-8")
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(inline_scripts: Iterable[str], connect: Iterable[str] = ()) -> str:
    """Scripts: only the page's own inline scripts (by hash) and data: modules. No network but ``connect``."""
    hashes = " ".join(sorted({_hash(s) for s in inline_scripts}))
    connect_src = " ".join(connect) or "'none'"
    return (
        f"default-src 'none'; script-src {hashes} data:; worker-src data: blob:; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        f"connect-src {connect_src}; base-uri 'none'; form-action 'none'"
    )


def _stylesheet(roots: Roots, rel: str) -> str | None:
    path = roots.file_for("/static/" + rel)
    return path.read_text(encoding="utf-8") if path is not None else None


def _style_block(css: str) -> str:
    return "<style>\n" + re.sub(r"</(style)", r"<\\/\1", css, flags=re.I) + "\n</style>"


EXPORT_CSS = """
html, body { margin: 0; height: 100%; }
body.haven-export { display: flex; flex-direction: column; height: 100vh; overflow: hidden;
  background: var(--bg-sunken, #0a0e14); color: var(--text, #e6edf3); font-family: var(--font, system-ui, sans-serif); }
.haven-export-bar { flex: none; display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; padding: .5rem 1rem;
  background: var(--bg-raised, #161b22); border-bottom: 1px solid var(--line, #2d3643); }
.haven-export-brand { font-weight: 700; }
.haven-export-bar h1 { font-size: 1.1rem; margin: 0; overflow-wrap: anywhere; }
.haven-export-meta { color: var(--text-dim, #9aa7b4); font-size: .85rem; }
main.haven-export-view, main.haven-export-main { position: relative; flex: 1 1 auto; min-height: 0; max-width: none;
  width: 100%; margin: 0; padding: 0; overflow: hidden; }
main.haven-export-main { display: flex; }
.haven-export .system-view { position: relative; flex: 1 1 auto; min-width: 0; }
.haven-export-error { flex: none; margin: 1rem; padding: .75rem 1rem; border: 1px solid var(--danger, #ff6b6b);
  background: var(--danger-bg, #4a1c1f); border-radius: var(--radius, 6px); white-space: pre-wrap; }
.haven-export-error[hidden] { display: none; }
"""


@dataclass
class Shell:
    """The parts of a generated page other than its modules. ``main`` is markup Haven wrote, never user text."""

    title: str
    meta: str
    data: dict[str, Any]
    boot: str
    main: str
    heading: str | None = None
    body_class: str = "haven-export"
    css: list[str] = field(default_factory=list)


def render_shell(shell: Shell, bundle: ModuleBundle) -> str:
    importmap = bundle.import_map_json()
    policy = content_security_policy([importmap, shell.boot])
    styles = "\n".join(_style_block(css) for css in shell.css)
    heading = f"<h1>{html.escape(shell.heading)}</h1>" if shell.heading is not None else ""
    return "\n".join([
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{html.escape(shell.title)}</title>",
        styles,
        f'<script type="importmap">{importmap}</script>',
        "</head>",
        f'<body class="{html.escape(shell.body_class)}">',
        '<header class="haven-export-bar">',
        '<span class="haven-export-brand">Haven</span>',
        heading,
        f'<span class="haven-export-meta">{html.escape(shell.meta)}</span>',
        "</header>",
        shell.main,
        '<p id="haven-export-error" class="haven-export-error" role="alert" hidden></p>',
        f'<script type="application/json" id="haven-data">{script_json(shell.data)}</script>',
        f'<script type="module">{shell.boot}</script>',
        "</body>",
        "</html>",
        "",
    ])


def _shell_css(roots: Roots, *extra: str) -> list[str]:
    sheets = [_stylesheet(roots, rel) for rel in ("css/haven.css", *extra)]
    return [css for css in sheets if css] + [EXPORT_CSS]


# -- system pages ------------------------------------------------------------------------------

SYSTEM_ENTRIES = ("haven/js/export-boot.js", "haven/js/system-view.js")
SYSTEM_BOOT = (
    'import { start } from "haven/js/export-boot.js";\n'
    'import { mountSystemView } from "haven/js/system-view.js";\n'
    "start(async (container, data) => {\n"
    '  const panel = document.getElementById("system-panel");\n'
    "  const view = mountSystemView(container, data.system, { panel });\n"
    "  globalThis.havenSystemView = view;\n"
    "  await view?.ready;\n"
    "  return view;\n"
    "});\n"
)
SYSTEM_MAIN = (
    '<main class="system-main haven-export-main">'
    '<div id="haven-view" class="system-view"></div>'
    '<aside id="system-panel" class="system-panel" aria-label="System"></aside>'
    "</main>"
)


def _require(roots: Roots, entries: tuple[str, ...]) -> None:
    for entry in entries:
        if roots.file_for("/static/" + entry[len("haven/"):]) is None:
            rel = entry[len("haven/"):]
            raise ExportUnavailable(f"the web front end has no {rel}; this Haven cannot build the page")
    if roots.three is None:
        raise ExportUnavailable("three.js is not installed (run `make`, or set HAVEN_THREE_DIR to the npm package)")


def system_bundle(roots: Roots | None = None) -> ModuleBundle:
    roots = roots or default_roots()
    _require(roots, SYSTEM_ENTRIES)
    return cached_bundle(roots, SYSTEM_ENTRIES)


def system_page(system: dict[str, Any], *, galaxy: str, roots: Roots | None = None) -> str:
    """One system (as the store returns it) drawn by ``mountSystemView``, from disk."""
    roots = roots or default_roots()
    bundle = system_bundle(roots)
    planets = system.get("planets") or []
    moons = sum(len(p.get("moons") or []) for p in planets)
    parts = [f"System of {galaxy}"]
    parts.append(f"{len(planets)} planet{'s' if len(planets) != 1 else ''}, {moons} moon{'s' if moons != 1 else ''}")
    if system.get("version") is not None:
        parts.append(f"version {system['version']}")
    parts.append("drag to turn, scroll to zoom, click a body for its details")
    shell = Shell(
        title=f"{system['name']} · Haven",
        meta=" · ".join(parts),
        data={"kind": "system", "galaxy": galaxy, "system": system},
        boot=SYSTEM_BOOT,
        main=SYSTEM_MAIN,
        body_class="haven-export system-page",
        css=_shell_css(roots, "css/map.css"),
    )
    return render_shell(shell, bundle)


# -- region pages ------------------------------------------------------------------------------

REGION_ENTRIES = ("haven/js/export-boot.js", "haven/js/static-map.js")
REGION_BOOT = (
    'import { start } from "haven/js/export-boot.js";\n'
    'import { mountStaticMap } from "haven/js/static-map.js";\n'
    "start((container, data) => mountStaticMap(container, data));\n"
)


def region_data(
    store: Any,
    galaxy: str,
    region: str,
    *,
    cap: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """A region's systems as columns, read in name order with keyset pages.

    Raises :class:`NotFound` for an unknown region and :class:`InvalidInput` for
    an empty one or one with more than ``cap`` (default :data:`MAX_REGION_SYSTEMS`) systems.
    """
    cap = MAX_REGION_SYSTEMS if cap is None else cap
    page = store.page(galaxy, region=region, limit=REGION_PAGE_SIZE)
    total = page.total
    if total > cap:
        raise InvalidInput(
            f"region {region!r} has {total:,} systems; a static region map holds at most {cap:,}. "
            "Use `haven map --galaxy` for a map that loads the galaxy progressively from the server",
            field="region",
        )
    if not page.items:
        raise InvalidInput(f"region {region!r} has no systems; there is nothing to draw", field="region")
    ids: list[int] = []
    names: list[str] = []
    xyz: list[float] = []
    details: dict[str, list[Any]] = {f: [] for f in REGION_DETAIL_FIELDS}
    while True:
        for s in page.items:
            ids.append(s["id"])
            names.append(s["name"])
            xyz.extend((round(s["x"], 3), round(s["y"], 3), round(s["z"], 3)))
            for f in REGION_DETAIL_FIELDS:
                value = s.get(f)
                details[f].append(value[:200] if isinstance(value, str) else value)
        if len(ids) > cap:
            raise InvalidInput(
                f"region {region!r} grew past {cap:,} systems during the export; a static region map "
                "holds at most that many",
                field="region",
            )
        if progress is not None:
            progress(len(ids), max(total, len(ids)))
        if not page.has_more or not page.items:
            break
        page = store.page(galaxy, region=region, after=page.items[-1]["name"], limit=REGION_PAGE_SIZE)
    return {
        "kind": "region",
        "galaxy": galaxy,
        "region": region,
        "count": len(ids),
        "ids": ids,
        "names": names,
        "xyz": xyz,
        "details": details,
    }


def region_page(data: dict[str, Any], *, roots: Roots | None = None) -> str:
    """A region's systems as a three.js star field with a details panel, from disk."""
    roots = roots or default_roots()
    _require(roots, REGION_ENTRIES)
    bundle = cached_bundle(roots, REGION_ENTRIES)
    count = data["count"]
    shell = Shell(
        title=f"{data['region']} · Haven",
        heading=data["region"],
        meta=f"Region of {data['galaxy']} · {count:,} system{'s' if count != 1 else ''} · "
        "drag to turn, scroll to zoom, click a star for its details",
        data=data,
        boot=REGION_BOOT,
        main='<main id="haven-view" class="haven-export-view"></main>',
        css=_shell_css(roots),
    )
    return render_shell(shell, bundle)


# -- galaxy pages --------------------------------------------------------------------------------

GALAXY_PAGE = "map.html"

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_LINK = re.compile(r"<link\b([^>]*?)/?>", re.I)
_ANCHOR_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])([^"']*)\2""", re.I)
_META_CHARSET = re.compile(r"<meta\b[^>]*\bcharset\b[^>]*>", re.I)
_HEAD = re.compile(r"<head\b[^>]*>", re.I)
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


def _attrs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR.finditer(text):
        value = next((g for g in m.groups()[1:] if g is not None), "")
        out.setdefault(m.group(1).lower(), html.unescape(value))
    return out


def check_server_url(url: str) -> str:
    """``http(s)://host[:port][/path]`` without a query or fragment; returned without a trailing slash."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise InvalidInput(
            f"{url!r} is not a server address; give one like http://127.0.0.1:8000", field="server"
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidInput(f"{url!r} has an invalid port", field="server") from None
    return text.rstrip("/")


def galaxy_page(*, server: str = DEFAULT_SERVER, galaxy: str | None = None, roots: Roots | None = None) -> str:
    """``map.html`` with its modules and styles inlined, loading chunks from ``server``.

    ``galaxy`` picks one of the server's galaxies (``HAVEN_GALAXY``); by default the
    map shows the server's own galaxy.
    """
    roots = roots or default_roots()
    server = check_server_url(server)
    page_path = roots.file_for("/static/" + GALAXY_PAGE)
    if page_path is None:
        raise ExportUnavailable(f"the web front end has no {GALAXY_PAGE}; this Haven cannot build a galaxy map")
    if roots.three is None:
        raise ExportUnavailable("three.js is not installed (run `make`, or set HAVEN_THREE_DIR to the npm package)")
    source = page_path.read_text(encoding="utf-8")
    base = "/" + GALAXY_PAGE

    imports = dict(DEFAULT_IMPORTS)
    for m in _SCRIPT.finditer(source):
        if _attrs(m.group(1)).get("type", "").lower() == "importmap":
            try:
                declared = orjson.loads(m.group(2)).get("imports", {})
            except (orjson.JSONDecodeError, AttributeError):
                declared = {}
            imports.update({k: v for k, v in declared.items() if isinstance(k, str) and isinstance(v, str)})
    bundle = ModuleBundle(roots, imports)
    inline_scripts: list[str] = []

    def script(m: re.Match[str]) -> str:
        attrs = _attrs(m.group(1))
        kind = attrs.get("type", "").lower()
        if kind == "importmap":
            return ""
        if kind == "module":
            if "src" in attrs:
                body = f'import "{bundle.add(attrs["src"], base, url=True)}";'
            else:
                body = bundle.rewrite_inline(m.group(2), base)
            inline_scripts.append(body)
            return f'<script type="module">{body}</script>'
        if kind in ("", "text/javascript", "application/javascript"):
            if "src" in attrs:
                body = bundle.read(bundle.resolve(attrs["src"], base, url=True))
            else:
                body = m.group(2)
            body = re.sub(r"</(script)", r"<\\/\1", body, flags=re.I)
            inline_scripts.append(body)
            return f"<script>{body}</script>"
        return m.group(0)  # data blocks (application/json, templates) stay as they are

    def link(m: re.Match[str]) -> str:
        attrs = _attrs(m.group(1))
        rel = attrs.get("rel", "").lower().split()
        href = attrs.get("href", "")
        if href.startswith("data:") and "stylesheet" not in rel:
            return m.group(0)  # already inline (e.g. an empty favicon)
        if "stylesheet" in rel and href:
            path = roots.file_for(urlsplit(urljoin(base, href)).path)
            if path is None:
                raise ExportUnavailable(
                    f"the stylesheet {href!r} of {GALAXY_PAGE} is not part of Haven's web front end"
                )
            return _style_block(path.read_text(encoding="utf-8"))
        if "icon" in rel and href:
            path = roots.file_for(urlsplit(urljoin(base, href)).path)
            if path is not None:
                mime = mimetypes.guess_type(path.name)[0] or "image/x-icon"
                return f'<link rel="icon" href="{data_url(path.read_bytes(), mime)}">'
        return ""  # modulepreload, preload, manifest: nothing to load from disk

    def anchor(m: re.Match[str]) -> str:
        href = html.unescape(m.group(3))
        if href.startswith("#") or urlsplit(href).scheme:
            return m.group(0)
        absolute = server + urljoin(base, href)
        return f"{m.group(1)}{m.group(2)}{html.escape(absolute)}{m.group(2)}"

    body = _SCRIPT.sub(script, source)
    body = _LINK.sub(link, body)
    body = _ANCHOR_HREF.sub(anchor, body)

    settings: dict[str, Any] = {"HAVEN_API_BASE": server}
    if galaxy:
        settings["HAVEN_GALAXY"] = galaxy
    workers = [url for key, url in bundle.workers.items() if "worker" in key.rsplit("/", 1)[-1].lower()]
    if len(workers) == 1:
        settings["HAVEN_WORKER_URL"] = workers[0]
    boot = "".join(f"globalThis.{name} = {script_json(value)};\n" for name, value in settings.items())
    importmap = bundle.import_map_json()
    inline_scripts += [boot, importmap]
    origin = urlsplit(server)
    socket_scheme = "wss" if origin.scheme == "https" else "ws"  # the chunk WebSocket the map follows edits on
    policy = content_security_policy(inline_scripts, connect=[
        f"{origin.scheme}://{origin.netloc}", f"{socket_scheme}://{origin.netloc}", "data:", "blob:",
    ])
    policy = policy.replace("img-src data: blob:", f"img-src data: blob: {origin.scheme}://{origin.netloc}")
    head = (
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<script>{boot}</script>\n"
        f'<script type="importmap">{importmap}</script>\n'
    )
    anchor_at = _META_CHARSET.search(body) or _HEAD.search(body)
    if anchor_at is None:
        raise ExportUnavailable(f"{GALAXY_PAGE} has no <head>; it cannot be exported")
    return body[: anchor_at.end()] + "\n" + head + body[anchor_at.end():]


# -- file names ----------------------------------------------------------------------------------


def slugify(text: str, *, max_chars: int = 60) -> str:
    """``"AMOT 16/O5"`` → ``"amot-16-o5"``: ASCII letters, digits and dashes only (may be empty)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:max_chars].rstrip("-")


def default_filename(kind: str, name: str) -> str:
    """A safe file name in the current folder for a page about ``name``."""
    slug = slugify(name)
    if not slug or slug != slugify(name, max_chars=10_000):  # nothing left, or shortened: keep names apart
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug}-{digest}" if slug else digest
    return f"{kind}-{slug}.html"


def write_page(target: Path, page: str) -> int:
    """Write ``page`` to ``target`` whole or not at all; returns the size in bytes.

    A symlink is followed and the file it names replaced; a FIFO or a device
    (``/dev/stdout``) is written directly (:func:`haven.outfile.write_output`).
    """
    from haven.outfile import write_output

    return write_output(target, [page.encode("utf-8")])


# -- the original API's generated pages -------------------------------------------------------------


class MapRegistry:
    """Pages generated by ``/api/generate/system/{name}``, served by ``/maps/{filename}``.

    Bounded in memory: at most ``max_pages`` systems and ``max_bytes`` of system
    JSON, least recently used first out. Only a system's JSON is kept; the page is
    rendered from it on request (the inlined modules are shared and cached). File
    names are chosen here, ``system-<id>-v<version>.html``, and a requested name is
    only ever a dictionary key. A new version of a system replaces its older page.
    """

    def __init__(self, *, max_pages: int = 256, max_bytes: int = 64 * 1024 * 1024,
                 roots: Roots | None = None) -> None:
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.roots = roots
        self._pages: OrderedDict[str, tuple[int, str, bytes]] = OrderedDict()  # name -> (id, galaxy, json)
        self._by_system: dict[int, str] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def publish(self, system: dict[str, Any], *, galaxy: str) -> str:
        """Register a system's page; returns its file name. Fails now if the page cannot be built."""
        system_bundle(self.roots or default_roots())
        filename = f"system-{int(system['id'])}-v{int(system.get('version') or 1)}.html"
        snapshot = orjson.dumps(system)
        with self._lock:
            old = self._by_system.get(system["id"])
            if old is not None and old != filename:
                self._drop(old)
            if filename in self._pages:
                self._pages.move_to_end(filename)
                return filename
            self._pages[filename] = (system["id"], galaxy, snapshot)
            self._by_system[system["id"]] = filename
            self._bytes += len(snapshot)
            while len(self._pages) > 1 and (len(self._pages) > self.max_pages or self._bytes > self.max_bytes):
                self._drop(next(iter(self._pages)))
        return filename

    def _drop(self, filename: str) -> None:
        system_id, _, snapshot = self._pages.pop(filename)
        self._bytes -= len(snapshot)
        if self._by_system.get(system_id) == filename:
            del self._by_system[system_id]

    def page(self, filename: str) -> str:
        """The page registered as ``filename``; :class:`NotFound` for any other name."""
        with self._lock:
            entry = self._pages.get(filename) if isinstance(filename, str) else None
            if entry is None:
                raise NotFound("Map not found", field="filename")
            self._pages.move_to_end(filename)
        _, galaxy, snapshot = entry
        return system_page(orjson.loads(snapshot), galaxy=galaxy, roots=self.roots)
