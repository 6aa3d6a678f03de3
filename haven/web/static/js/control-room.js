// The Control Room: every system of one galaxy in name order, 100 to a page, with search,
// a region filter, a jump to a name, view / edit / delete on each row, a download of the
// galaxy, and a galaxy picker when the database holds more than one.
//
// Every request costs the same at ten systems or ten million: pages follow the API's
// cursors, totals come from its counters, search asks for one page at a time. The view
// lives in the URL (?galaxy=&region=&q=&prefix=&cursor=), so reload and Back restore it:
// `cursor` is a page of the list, or with `q` a page of search results.
// Without ?galaxy= the page shows the server's own galaxy and its links name none, but its
// requests do: the page first asks /api/v1/stats (with no galaxy) which galaxy that is, and
// every later request (systems, search, regions) names it, so one page never mixes galaxies.

import { API_BASE, api, countOf, debounce, el, formatCount, linkSiteNav, query, withGalaxy } from "./api.js";
import { confirmWith, showBanner, hideBanner, showNotice, hideNotice } from "./cr-ui.js";

const PER_PAGE = 100;
const SEARCH_WAIT_MS = 300;

const $ = (id) => document.getElementById(id);
const ui = {
  rows: $("rows"),
  table: $("systems"),
  status: $("status"),
  search: $("search"),
  region: $("region"),
  prefixForm: $("prefix-form"),
  prefix: $("prefix"),
  first: $("first"),
  prev: $("prev"),
  next: $("next"),
  addSystem: $("add-system"),
  galaxyField: $("galaxy-field"),
  galaxy: $("galaxy"),
  galaxyMissing: $("galaxy-missing"),
  galaxyMissingMessage: $("galaxy-missing-message"),
  mapButton: $("map-button"),
  mapDialog: $("map-dialog"),
  downloadButton: $("download-button"),
  downloadDialog: $("download-dialog"),
  downloadTitle: $("download-title"),
  downloadFormat: $("download-format"),
  downloadHint: $("download-hint"),
  download: $("download"),
  deleteDialog: $("delete-dialog"),
  deleteMessage: $("delete-message"),
};

/** What is shown; mirrors the URL. While `q` is set, `cursor` is a page of its results. */
let view = readUrl();
/**
 * During a search: the list's place ({cursor, prefix}) it started from, to return to when the
 * search is cleared. Kept in each search's history entry, so reload and Back keep it too.
 */
let listPlace = history.state?.list ?? null;
/** The answer currently on screen. */
let shown = null;
/** Only the latest request may draw; older answers are dropped. */
let loadSeq = 0;
let inFlight = null;
let regionsSeq = 0;
let statsSeq = 0;
/** The name of the galaxy listed here, as the server spells it, once it has said it. */
let galaxyName = null;
/** While the URL names no galaxy and the server has not yet said which is its own: that question. */
let defaultLookup = null;
/** True while the URL names a galaxy the server does not have. */
let galaxyMissing = false;

// ---- the URL ----------------------------------------------------------------------------

function readUrl() {
  const p = new URLSearchParams(location.search);
  const cursor = p.get("cursor") ?? "";
  const galaxy = p.get("galaxy") ?? "";
  const q = (p.get("q") ?? "").trim();
  return {
    galaxy: galaxy.trim() ? galaxy : "",
    region: p.get("region") ?? "",
    q,
    cursor,
    prefix: cursor || q ? "" : p.get("prefix") ?? "",
  };
}

function currentUrl() {
  return location.pathname
    + query({ galaxy: view.galaxy, region: view.region, prefix: view.prefix, cursor: view.cursor, q: view.q });
}

/** `href` (a page of this site) with the URL's galaxy added; unchanged when the URL names none. */
function galaxyLink(href) {
  return withGalaxy(href, view.galaxy);
}

/**
 * The galaxy the page shows, for naming it in requests: the URL's, else the server's own
 * (asked once with /api/v1/stats; rejects with that request's error).
 */
function shownGalaxy() {
  if (view.galaxy) return Promise.resolve(view.galaxy);
  if (galaxyName) return Promise.resolve(galaxyName);
  return defaultLookup ?? loadGalaxy();
}

/** The query string of an API request: `params` plus the galaxy shown. */
function inGalaxy(galaxy, params = {}) {
  return query({ ...params, galaxy });
}

/** Change the view, record it in the URL (a new history entry unless `replace`), and load it. */
function navigate(changes, { replace = false } = {}) {
  const qChanged = "q" in changes && changes.q !== view.q;
  const galaxyChanged = "galaxy" in changes && changes.galaxy !== view.galaxy;
  const placed = "cursor" in changes || "prefix" in changes;
  if (qChanged && !view.q) listPlace = { cursor: view.cursor, prefix: view.prefix }; // a search starts
  view = { ...view, ...changes };
  if (qChanged && view.q && !placed) view.cursor = ""; // another term: its first page of results
  if (qChanged && !view.q) {
    // The search ends: back to the list's place it started from, unless told where to go.
    if (!placed) view = { ...view, cursor: listPlace?.cursor ?? "", prefix: listPlace?.prefix ?? "" };
    listPlace = null;
  }
  if (view.cursor || view.q) view.prefix = "";
  const url = currentUrl();
  const state = view.q && listPlace ? { list: listPlace } : null;
  // The page already shown (Next clicked twice before the first answer came): no second entry.
  if (replace || url === location.pathname + location.search) history.replaceState(state, "", url);
  else history.pushState(state, "", url);
  if (galaxyChanged) galaxySwitched();
  syncControls();
  return load();
}

function syncControls() {
  if (ui.search.value.trim() !== view.q) ui.search.value = view.q;
  ensureRegionOption(view.region);
  ui.region.value = view.region;
  // During a search the box keeps the prefix of the list the search returns to.
  ui.prefix.value = view.q ? listPlace?.prefix ?? "" : view.prefix;
  syncGalaxyPicker();
  const back = encodeURIComponent(currentUrl());
  ui.addSystem.href = galaxyLink(`/wizard.html?back=${back}`);
  linkSiteNav(view.galaxy);
  document.title = view.galaxy ? `Control Room · ${view.galaxy} · Haven` : "Control Room · Haven";
}

// ---- the galaxy ----------------------------------------------------------------------------

/** Another galaxy is shown: what was learnt about the last one no longer holds. */
function galaxySwitched() {
  galaxyName = null;
  defaultLookup = null;
  ui.region.replaceChildren(el("option", { value: "" }, "All regions"));
  loadGalaxy().catch(() => {}); // load() reports a galaxy that cannot be found
  loadRegions();
}

function isMissingGalaxy(err) {
  return err?.status === 404 && err.field === "galaxy";
}

/** The galaxies the database holds; the picker shows once there are two or more. */
async function loadGalaxies() {
  let list;
  try {
    const data = await api("/api/v1/galaxies");
    list = Array.isArray(data?.items) ? data.items : [];
  } catch {
    return; // without the list the page still shows the URL's galaxy; only the picker is missing
  }
  fillGalaxyPicker(list);
}

/** The picker's entries: every galaxy of the database ({name, system_count, …}). */
function fillGalaxyPicker(list) {
  ui.galaxy.replaceChildren(
    ...list.map((g) => el("option", { value: g.name }, `${g.name} (${formatCount(g.system_count)})`)),
  );
  ui.galaxyField.hidden = list.length < 2;
  syncGalaxyPicker();
}

/** The picker shows the galaxy on screen, even one the list does not (yet, or at all) hold. */
function syncGalaxyPicker() {
  const current = view.galaxy || galaxyName || "";
  for (const option of [...ui.galaxy.options]) if (option.dataset.extra !== undefined) option.remove();
  const known = [...ui.galaxy.options].some((option) => option.value === current);
  if (current && !known) {
    ui.galaxy.append(
      el("option", { value: current, dataset: { extra: "" } }, galaxyMissing ? `${current} (not found)` : current),
    );
  }
  ui.galaxy.value = current;
}

/** The URL's galaxy is not in the database: say so instead of showing an empty table. */
function showMissingGalaxy() {
  galaxyMissing = true;
  shown = null;
  const name = view.galaxy || galaxyName || "";
  ui.galaxyMissingMessage.textContent = name
    ? `There is no galaxy named “${name}” in this database.`
    : "The server's galaxy is not in this database.";
  ui.galaxyMissing.hidden = false;
  ui.rows.replaceChildren(emptyRow("Nothing to show."));
  ui.status.textContent = name ? `No galaxy named “${name}”.` : "No galaxy.";
  ui.mapButton.disabled = ui.downloadButton.disabled = true;
  hideBanner();
  updatePager();
  syncGalaxyPicker();
}

function galaxyFound() {
  if (!galaxyMissing) return;
  galaxyMissing = false;
  ui.galaxyMissing.hidden = true;
  ui.mapButton.disabled = ui.downloadButton.disabled = false;
  syncGalaxyPicker();
}

// ---- loading ---------------------------------------------------------------------------

/**
 * Ask for everything the page shows: the galaxy, its regions, the galaxy list and the
 * table. On start, and for "Try again": when the server was down, each of them failed,
 * and the last failure's banner must bring all of them back, not just its own.
 */
function loadAll() {
  if (!galaxyName) loadGalaxy().catch(() => {}); // load() reports a galaxy that cannot be found
  loadRegions();
  loadGalaxies();
  return load();
}

async function load() {
  const seq = ++loadSeq;
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  ui.table.setAttribute("aria-busy", "true");
  const searching = Boolean(view.q);
  try {
    const galaxy = await shownGalaxy();
    if (seq !== loadSeq) return;
    let data;
    if (searching) {
      data = await api(
        `/api/v1/systems/search${inGalaxy(galaxy, { q: view.q, limit: PER_PAGE, cursor: view.cursor })}`,
        { signal: controller.signal },
      );
    } else {
      data = await api(
        `/api/v1/systems${inGalaxy(galaxy, { limit: PER_PAGE, region: view.region, cursor: view.cursor, prefix: view.prefix })}`,
        { signal: controller.signal },
      );
    }
    if (seq !== loadSeq) return;
    if (view.cursor && data.items.length === 0 && data.prev && !data.next) {
      // The rows after this page's start are gone (deleted since): show the last page instead.
      navigate({ cursor: data.prev, prefix: "" }, { replace: true });
      return;
    }
    shown = { ...data, searching };
    hideBanner();
    galaxyFound();
    render();
  } catch (err) {
    if (err?.name === "AbortError" || seq !== loadSeq) return;
    if (isMissingGalaxy(err)) {
      showMissingGalaxy();
      return;
    }
    if (err.status === 400 && err.field === "cursor") {
      // A cursor from an old link that no longer reads: start from the first page (of the search).
      navigate({ cursor: "" }, { replace: true });
      return;
    }
    shown = null;
    ui.rows.replaceChildren(emptyRow("Nothing to show."));
    ui.status.textContent = "The systems could not be loaded.";
    updatePager();
    showBanner(err, loadAll);
  } finally {
    if (seq === loadSeq) ui.table.removeAttribute("aria-busy");
  }
}

async function loadRegions() {
  const seq = ++regionsSeq;
  try {
    const galaxy = await shownGalaxy();
    if (seq !== regionsSeq) return;
    const data = await api(`/api/v1/regions${inGalaxy(galaxy)}`);
    if (seq !== regionsSeq) return;
    const options = [el("option", { value: "" }, "All regions")];
    for (const r of data.items) {
      options.push(el("option", { value: r.name }, `${r.name} (${formatCount(r.system_count)})`));
    }
    ui.region.replaceChildren(...options);
    ensureRegionOption(view.region);
    ui.region.value = view.region;
  } catch (err) {
    // A missing galaxy is reported once, by load().
    if (seq === regionsSeq && !isMissingGalaxy(err)) showBanner(err, loadAll);
  }
}

/** The select shows the URL's region even when the list does not (yet) have it. */
function ensureRegionOption(region) {
  if (!region) return;
  for (const option of ui.region.options) if (option.value === region) return;
  ui.region.append(el("option", { value: region }, region));
}

// ---- drawing -----------------------------------------------------------------------------

function formatCoord(v) {
  return v === null || v === undefined
    ? "—"
    : Number(v).toLocaleString(undefined, { maximumFractionDigits: 2 });
}

function emptyRow(text, ...more) {
  return el("tr", {}, el("td", { colspan: 7, className: "empty" }, text, ...more));
}

function systemRow(s) {
  const back = encodeURIComponent(currentUrl());
  return el(
    "tr",
    { dataset: { id: String(s.id) } },
    el("td", { className: "name" }, s.name),
    el("td", { className: "region" }, s.region ?? "—"),
    el("td", { className: "num" }, formatCoord(s.x)),
    el("td", { className: "num" }, formatCoord(s.y)),
    el("td", { className: "num" }, formatCoord(s.z)),
    el("td", { className: "num" }, s.version ?? ""),
    el(
      "td",
      { className: "actions" },
      el(
        "a",
        { className: "btn btn-small", href: galaxyLink(`/system.html?id=${s.id}`), "aria-label": `View ${s.name}` },
        "View",
      ),
      el(
        "a",
        { className: "btn btn-small", href: galaxyLink(`/wizard.html?id=${s.id}&back=${back}`), "aria-label": `Edit ${s.name}` },
        "Edit",
      ),
      el(
        "button",
        { type: "button", className: "btn btn-small btn-danger", "aria-label": `Delete ${s.name}`, onclick: () => askDelete(s) },
        "Delete",
      ),
    ),
  );
}

function render() {
  const data = shown;
  if (data.items.length) {
    ui.rows.replaceChildren(...data.items.map(systemRow));
  } else if (data.searching) {
    ui.rows.replaceChildren(emptyRow(`No systems match “${view.q}”.`));
  } else if (!view.region && !view.cursor && !view.prefix) {
    ui.rows.replaceChildren(
      emptyRow("No systems yet. ", el("a", { href: galaxyLink("/wizard.html") }, "Add the first one"), "."),
    );
  } else if (view.prefix) {
    ui.rows.replaceChildren(emptyRow(`No names from “${view.prefix}” on.`));
  } else {
    ui.rows.replaceChildren(emptyRow("No systems here."));
  }
  ui.status.textContent = statusText(data);
  updatePager();
}

function statusText(data) {
  if (data.searching) {
    if (!data.items.length) return `No results for “${view.q}”${view.region ? " in any region" : ""}`;
    const more = data.next ? " · more on the next page" : "";
    const everywhere = view.region ? " in every region" : "";
    if (data.page === null || data.page === undefined) {
      // A link whose cursor does not say which page it is (made before search counted pages).
      return `More results for “${view.q}”${everywhere}${more}`;
    }
    const start = (data.page - 1) * (data.per_page ?? PER_PAGE);
    return `Results ${formatCount(start + 1)}–${formatCount(start + data.items.length)} for “${view.q}”${everywhere}${more}`;
  }
  // Totals move while someone pages (another user deletes), so the page can pass the count.
  const pages = Math.max(data.pages ?? 0, 1, data.page ?? 0);
  const totals = `(${formatCount(data.total)} total)`;
  if (data.page !== null && data.page !== undefined) {
    return `Page ${formatCount(data.page)} of ${formatCount(pages)} ${totals}`;
  }
  const from = view.prefix ? `${view.prefix}…` : data.items[0]?.name ?? "";
  return `From “${from}” · ${countOf(pages, "page")} ${totals}`;
}

function updatePager() {
  const data = shown;
  if (!data) {
    ui.first.disabled = ui.prev.disabled = ui.next.disabled = true;
    return;
  }
  ui.prev.disabled = !data.prev;
  ui.first.disabled = !data.prev || (!view.cursor && !view.prefix);
  ui.next.disabled = !data.next;
}

// ---- paging --------------------------------------------------------------------------------
// The list and search results page the same way: each page is its cursor in the URL.

function goNext() {
  if (shown?.next) navigate({ cursor: shown.next, prefix: "" });
}

function goPrev() {
  if (shown?.prev) navigate({ cursor: shown.prev, prefix: "" });
}

function goFirst() {
  navigate({ cursor: "", prefix: "" });
}

// ---- delete and undo -------------------------------------------------------------------------

async function askDelete(system) {
  ui.deleteMessage.replaceChildren(
    "Delete ",
    el("strong", {}, `“${system.name}”`),
    " with its planets, moons and space station?",
  );
  const answer = await confirmWith(ui.deleteDialog);
  if (answer !== "confirm") return;
  let deletedAs; // the deletion's own version (its ETag): Undo names it, so it only ever undoes this delete
  try {
    const response = await api(`/api/v1/systems/${system.id}${query({ version: system.version })}`,
      { method: "DELETE", raw: true });
    deletedAs = Number(/"(\d+)"/.exec(response.headers.get("ETag") ?? "")?.[1]) || system.version + 1;
  } catch (err) {
    if (err.status === 409) {
      showNotice([`“${system.name}” was changed by someone else since this page loaded, so it was not deleted. `
        + "Look at it again before deleting."], { kind: "warning" });
      await load();
      focusRow(system.id);
      return;
    }
    if (err.status === 404) {
      showNotice([`“${system.name}” is already gone.`], { kind: "warning" });
      await load();
      focusRow(system.id);
      return;
    }
    showBanner(err, null);
    return;
  }
  showNotice(
    [`Deleted “${system.name}”.`],
    { actions: [el("button", { type: "button", className: "btn btn-small", id: "undo", onclick: () => undoDelete(system, deletedAs) }, "Undo")] },
  );
  // The focused Delete button goes with its row: hand focus to Undo, the next thing to press.
  $("undo")?.focus();
  loadRegions();
  loadGalaxies();
  await load();
}

async function undoDelete(system, deletedAs) {
  hideNotice(); // takes the focused Undo button with it; focusRow() below puts focus back
  let restoredId = system.id;
  try {
    const result = await api(`/api/v1/systems/${system.id}/undo${query({ version: deletedAs })}`,
      { method: "POST", body: {} });
    restoredId = result.system.id;
    showNotice(
      [`Restored “${result.system.name}”.`],
      { actions: [el("a", { className: "btn btn-small", href: galaxyLink(`/system.html?id=${restoredId}`) }, "View it")] },
    );
  } catch (err) {
    if (err.status === 404) {
      showNotice([`There is nothing left to undo for “${system.name}”.`], { kind: "warning" });
    } else if (err.code === "stale_version") {
      showNotice([`“${system.name}” was not restored: it changed after you deleted it (someone restored it, `
        + "or deleted it again), so there is no delete of yours left to undo."], { kind: "warning" });
    } else if (err.status === 409) {
      showNotice([`“${system.name}” cannot be restored: ${err.message}`], { kind: "warning" });
    } else {
      showBanner(err, null);
    }
  }
  loadRegions();
  loadGalaxies();
  await load();
  focusRow(restoredId);
}

/**
 * After a delete or undo re-drew the table, put keyboard focus back on the page instead of
 * leaving it on <body>: on the system's row when it is listed, else on the table. Focus the
 * user moved elsewhere meanwhile stays where it is.
 */
function focusRow(id) {
  const active = document.activeElement;
  if (active && active !== document.body && active.isConnected) return;
  const row = ui.rows.querySelector(`tr[data-id="${Number(id)}"]`);
  const target = row ?? ui.table;
  target.tabIndex = -1;
  target.focus();
}

// ---- the map -------------------------------------------------------------------------------

function setChoice(link, href, hint, hintText) {
  if (href) {
    link.href = href;
    link.removeAttribute("aria-disabled");
  } else {
    link.removeAttribute("href");
    link.setAttribute("aria-disabled", "true");
  }
  hint.textContent = hintText;
}

function openMapDialog() {
  const region = view.region;
  setChoice(
    $("map-region"),
    region ? galaxyLink(`/map.html?region=${encodeURIComponent(region)}`) : null,
    $("map-region-hint"),
    region ? `only “${region}”` : "choose a region first",
  );
  const ids = (shown?.items ?? []).map((s) => s.id);
  setChoice(
    $("map-page"),
    ids.length ? galaxyLink(`/map.html?ids=${ids.join(",")}`) : null,
    $("map-page-hint"),
    ids.length ? `the ${countOf(ids.length, "system")} listed here` : "nothing is listed",
  );
  $("map-galaxy").href = galaxyLink("/map.html");
  ui.mapDialog.showModal();
}

// ---- download -------------------------------------------------------------------------------

/**
 * Ask the server about the galaxy shown (/api/v1/stats, naming the URL's galaxy, or none
 * for the server's own): resolves to its name as the server spells it. Asked on start and
 * whenever the galaxy changes. Until it answers, downloads name the URL's galaxy, or none.
 * Its errors are the caller's: load() reports a galaxy that cannot be found.
 */
function loadGalaxy() {
  const seq = ++statsSeq;
  const asked = view.galaxy;
  updateDownload();
  const answer = api(`/api/v1/stats${query({ galaxy: asked })}`).then((data) => {
    const name = typeof data?.galaxy === "string" && data.galaxy ? data.galaxy : asked;
    if (!name) throw new Error("the server did not say which galaxy it shows");
    if (seq === statsSeq) {
      galaxyName = name;
      syncGalaxyPicker();
      updateDownload();
    }
    return name;
  });
  if (!asked) {
    defaultLookup = answer;
    // A failed question is asked again by the next request that needs the answer.
    answer.catch(() => {
      if (defaultLookup === answer) defaultLookup = null;
    });
  }
  return answer;
}

/** Point the download link at the chosen format of the whole galaxy; the server streams the file. */
function updateDownload() {
  const format = ui.downloadFormat.value;
  const name = view.galaxy || galaxyName;
  ui.download.href = `${API_BASE}/api/v1/export${query({ galaxy: name, format })}`;
  ui.downloadTitle.textContent = name ? `Download “${name}”` : "Download the galaxy";
  ui.downloadHint.textContent = ui.downloadFormat.selectedOptions[0]?.dataset.hint ?? "";
}

function openDownloadDialog() {
  if (!galaxyName && !defaultLookup) loadGalaxy().catch(() => {});
  updateDownload();
  ui.downloadDialog.showModal();
}

// ---- wiring ----------------------------------------------------------------------------------

const searchSoon = debounce(() => commitSearch(), SEARCH_WAIT_MS);

function commitSearch() {
  const q = ui.search.value.trim();
  if (q === view.q) return;
  // Typing refines one search: one history entry for it, not one per key.
  navigate({ q }, { replace: Boolean(view.q) && Boolean(q) });
}

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName));
}

function wire() {
  ui.search.addEventListener("input", searchSoon);
  ui.search.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && ui.search.value) {
      e.preventDefault();
      ui.search.value = "";
      commitSearch();
    } else if (e.key === "Enter") {
      e.preventDefault();
      commitSearch();
    }
  });
  ui.galaxy.addEventListener("change", () => {
    // Regions, names and cursors belong to one galaxy: another one starts from its first page.
    ui.search.value = "";
    navigate({ galaxy: ui.galaxy.value, region: "", cursor: "", prefix: "", q: "" });
  });
  ui.region.addEventListener("change", () => {
    // A region is a way of paging; picking one leaves the search (which spans every region).
    ui.search.value = "";
    navigate({ region: ui.region.value, cursor: "", prefix: "", q: "" });
  });
  ui.prefixForm.addEventListener("submit", (e) => {
    e.preventDefault();
    ui.search.value = "";
    navigate({ prefix: ui.prefix.value.trim(), cursor: "", q: "" });
  });
  ui.next.addEventListener("click", goNext);
  ui.prev.addEventListener("click", goPrev);
  ui.first.addEventListener("click", goFirst);
  ui.mapButton.addEventListener("click", openMapDialog);
  for (const link of ui.mapDialog.querySelectorAll("a")) {
    link.addEventListener("click", () => ui.mapDialog.close());
  }
  ui.downloadButton.addEventListener("click", openDownloadDialog);
  ui.downloadFormat.addEventListener("change", updateDownload);
  ui.download.addEventListener("click", () => ui.downloadDialog.close());
  window.addEventListener("popstate", () => {
    const before = view.galaxy;
    view = readUrl();
    listPlace = history.state?.list ?? null;
    if (view.galaxy !== before) galaxySwitched();
    syncControls();
    load();
  });
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
    if (document.querySelector("dialog[open]")) return;
    if (e.key === "/") {
      e.preventDefault();
      ui.search.focus();
      ui.search.select();
    } else if (e.key === "n" && !ui.next.disabled) {
      goNext();
    } else if (e.key === "p" && !ui.prev.disabled) {
      goPrev();
    }
  });
}

wire();
syncControls();
loadAll();
