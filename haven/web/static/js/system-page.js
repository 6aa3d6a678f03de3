// system.html?id=N or system.html?name=NAME: fetch the system, then hand it to the system view.
// Errors (unknown system, server unreachable, no WebGL) are shown on the page as text.
// window.havenSystemView is the view's handle (see system-view.js) once it is drawn.
//
// Next to "Show on the galaxy map" the panel has Edit (the wizard for this system) and a
// History list (GET …/history, loaded when first opened) whose "Undo last change" takes back
// the latest change (POST …/undo). A system that was deleted is offered back ("Restore it"),
// which is the undo of its delete: it returns with the same id and is then shown.

import { api, API_BASE, el, linkSiteNav, pageGalaxy, query, systemByName, withGalaxy } from "./api.js";
import { mountSystemView } from "./system-view.js";

const params = new URLSearchParams(location.search);
const stage = document.getElementById("system-view");
const panel = document.getElementById("system-panel");
const errorBox = document.getElementById("system-error");

/** What a history entry's `op` says in the list. */
const OPS = { create: "Created", update: "Changed", delete: "Deleted" };

linkSiteNav(pageGalaxy());

/** The system drawn now, and the view drawing it. */
let shown = null;
let view = null;

// Parts of the panel that belong to the page (kept when the view is drawn again after an undo).
const notice = el("div", { id: "system-notice", "aria-live": "polite" });
const historyBody = el("div", { id: "system-history-body" });
const historyBox = el(
  "details",
  { id: "system-history", className: "system-history" },
  el("summary", {}, "History"),
  historyBody,
);
let historyLoaded = false;
historyBox.addEventListener("toggle", () => {
  if (historyBox.open && !historyLoaded) loadHistory();
});

function showError(...content) {
  errorBox.replaceChildren(...content);
  errorBox.hidden = false;
  panel.replaceChildren();
  panel.hidden = true;
}

function where() {
  if (API_BASE) return API_BASE;
  return location.origin && location.origin !== "null" ? location.origin : "(no server address set)";
}

/** A line at the top of the panel: `kind` is "notice" (done) or "warning" (not done). */
function say(kind, ...content) {
  notice.replaceChildren(el("p", { className: kind }, el("span", { className: "message" }, ...content)));
}

function reloadLink() {
  return el("a", { className: "btn btn-small", href: location.href }, "Reload");
}

function when(at) {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? String(at ?? "") : date.toLocaleString();
}

async function load() {
  const id = (params.get("id") ?? "").trim();
  const name = params.get("name");
  if (id) {
    if (!/^\d+$/.test(id)) throw Object.assign(new Error(`“${id}” is not a system id.`), { shown: true });
    // With ?galaxy= the id must be that galaxy's, as the page's links and header say.
    return api(`/api/v1/systems/${id}${query({ galaxy: pageGalaxy() })}`);
  }
  if (name) return systemByName(name, pageGalaxy());
  throw Object.assign(new Error("Which system? Open this page as system.html?id=N or system.html?name=NAME."), { shown: true });
}

/** What a 404 means: the galaxy of ?galaxy= is unknown (the server names the field), or the system is. */
function notFound(err) {
  const id = params.get("id");
  if (err.field === "galaxy") return `No galaxy named “${pageGalaxy()}”.`;
  if (id && pageGalaxy()) return `No system with id ${id} in galaxy “${pageGalaxy()}”.`;
  return id ? `No system with id ${id}.` : `No system named “${params.get("name")}”.`;
}

// ---- history and undo ------------------------------------------------------------------------

async function loadHistory() {
  if (!shown) return;
  historyLoaded = true;
  historyBody.replaceChildren(el("p", { className: "map-muted" }, "Loading history…"));
  let items;
  try {
    items = (await api(`/api/v1/systems/${shown.id}/history${query({ galaxy: pageGalaxy() })}`))?.items ?? [];
  } catch (err) {
    historyLoaded = false;
    historyBody.replaceChildren(el("p", { className: "map-muted" }, `The history could not be loaded: ${err?.message ?? err}`));
    return;
  }
  if (!items.length) {
    historyBody.replaceChildren(el("p", { className: "map-muted" },
      "No changes recorded. Systems loaded by `haven import` or `haven generate` have no history until they are edited."));
    return;
  }
  const list = el("ol", { className: "system-history-list" }, ...items.map((entry) => el(
    "li",
    {},
    OPS[entry.op] ?? String(entry.op),
    entry.version !== null && entry.version !== undefined ? ` · version ${entry.version}` : "",
    " · ",
    el("time", { datetime: String(entry.at ?? "") }, when(entry.at)),
  )));
  const latest = items[0];
  // Undo is offered for a change only: undoing the creation would delete the system.
  const undo = latest.op === "update"
    ? el("p", { className: "map-actions" },
      el("button", { type: "button", className: "btn btn-small", id: "undo-last", onclick: undoLast }, "Undo last change"))
    : el("p", { className: "map-muted" },
      "Nothing to undo here: undoing its creation would delete it (Delete in the Control Room does that).");
  historyBody.replaceChildren(list, undo);
}

/**
 * Take back the latest change, naming the version shown: if the system changed since (someone
 * else edited it, or undid that change already), the server refuses rather than undo theirs.
 */
async function undoLast() {
  const system = shown;
  document.getElementById("undo-last")?.setAttribute("disabled", "");
  let result;
  try {
    result = await api(`/api/v1/systems/${system.id}/undo${query({ version: system.version, galaxy: pageGalaxy() })}`,
      { method: "POST", body: {} });
  } catch (err) {
    document.getElementById("undo-last")?.removeAttribute("disabled");
    if (err?.code === "stale_version") {
      say("warning", "Not undone: it changed after this page loaded (someone else edited it, or undid that change), "
        + "so undoing now would take back their change instead. ", reloadLink());
    } else if (err?.status === 404) {
      say("warning", "Not undone: there is nothing left to undo for this system.");
    } else {
      say("warning", `Not undone: ${err?.message ?? err}`);
    }
    return;
  }
  if (result?.system) {
    draw(result.system);
    say("notice", `Undone: “${result.system.name}” is back as it was before that change (now version ${result.system.version}).`);
  } else {
    // Only a creation's undo leaves nothing; this page offers undo for changes only.
    showError(`“${system.name}” was removed: its creation was undone.`);
  }
}

/** The system with id `id` is not found: if its latest recorded change is a delete, offer it back. */
async function offerRestore(id, message) {
  let latest;
  try {
    latest = (await api(`/api/v1/systems/${id}/history${query({ limit: 1, galaxy: pageGalaxy() })}`))?.items?.[0];
  } catch {
    latest = null; // never existed, or nothing recorded: the plain message stands
  }
  if (latest?.op !== "delete") return;
  const restore = el("button", { type: "button", className: "btn btn-small", id: "restore-system" }, "Restore it");
  restore.addEventListener("click", () => restoreDeleted(id, latest, message, restore));
  showError(`${message} It was deleted${latest.at ? ` on ${when(latest.at)}` : ""}. `, restore);
}

async function restoreDeleted(id, entry, message, button) {
  button.disabled = true;
  let result;
  try {
    result = await api(`/api/v1/systems/${id}/undo${query({ version: entry.version, galaxy: pageGalaxy() })}`,
      { method: "POST", body: {} });
  } catch (err) {
    const why = err?.code === "stale_version"
      ? "it changed after it was deleted (someone restored it, or deleted it again)."
      : err?.status === 404 ? "there is nothing left to undo." : err?.message ?? String(err);
    showError(`${message} It was not restored: ${why} `, reloadLink());
    return;
  }
  if (!result?.system) {
    showError(`${message} It was not restored.`);
    return;
  }
  errorBox.hidden = true;
  errorBox.replaceChildren();
  panel.hidden = false;
  draw(result.system);
  say("notice", `Restored “${result.system.name}” (version ${result.system.version}).`);
}

// ---- drawing ---------------------------------------------------------------------------------

/** Draw `system` (again, after an undo: the view is rebuilt around the new data). */
function draw(system) {
  shown = system;
  document.title = `${system.name} · Haven`;
  // The header keeps the URL's galaxy, else the one the system belongs to.
  linkSiteNav(pageGalaxy() ?? system.galaxy);
  notice.replaceChildren();
  if (view) {
    view.dispose();
    view = null;
    window.havenSystemView = undefined;
  }
  const edit = el("a", {
    className: "btn",
    id: "edit-system",
    href: API_BASE + withGalaxy(`/wizard.html?id=${system.id}`, pageGalaxy()),
    "aria-label": `Edit ${system.name}`,
  }, "Edit");
  try {
    view = mountSystemView(stage, system, {
      panel,
      mapHref: (s) => `map.html${query({ focus: String(s.name), galaxy: s.galaxy ?? pageGalaxy() })}`,
      actions: [edit],
      extra: [notice, historyBox],
    });
    window.havenSystemView = view;
  } catch (err) {
    showError(`This browser cannot draw the system view (WebGL is not available): ${err?.message ?? err}`);
    return;
  }
  historyLoaded = false;
  if (historyBox.open) loadHistory();
}

async function main() {
  let system;
  try {
    system = await load();
  } catch (err) {
    if (err?.shown) showError(err.message);
    else if (err?.unreachable) showError(`Haven's API cannot be reached at ${where()}. Is \`haven serve\` running?`);
    else if (err?.status === 404) {
      const message = notFound(err);
      showError(message);
      const id = (params.get("id") ?? "").trim();
      if (id && err.field !== "galaxy") await offerRestore(id, message);
    } else showError(`The system could not be loaded: ${err?.message ?? err}`);
    return;
  }
  draw(system);
}

main();
