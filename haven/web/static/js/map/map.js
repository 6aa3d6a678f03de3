// map.html: the galaxy map page. Builds the HUD, search box, region picker and
// details panel around the GalaxyMap scene, and applies the URL parameters:
//
//   ?budget=N      point budget (stars held in memory at once)
//   ?region=NAME   highlight a region, dim the rest, fly to it
//   ?ids=1,2,3     highlight these systems and fly to them
//   ?focus=NAME    fly to a system and show its details
//
// window.havenMap is a small read-only handle for scripts and tests:
// stats(), flyTo(x, y, z, distance), pickAt(x, y), anyVisibleStar(),
// findPoint(x, y, z), screenPositionOf(systemId), ready.

import { api, API_BASE, el, linkSiteNav, systemByName } from "../api.js";
import { GALAXY, galaxyQuery } from "./config.js";
import { DetailsPanel } from "./details-panel.js";
import { DEFAULT_BUDGET, GalaxyMap, MAX_BUDGET, MIN_BUDGET, parseBudget, isStalePick, pickPath } from "./galaxy-map.js";
import { Highlighter, parseIds } from "./highlight.js";
import { Hud } from "./hud.js";
import { SearchBox } from "./search.js";

const FOCUS_DISTANCE_LY = 120;
const EMPTY_NOTICE = "This galaxy has no systems yet.";
/** Live changes this close together share one request for the system the panel shows. */
const FOLLOW_COALESCE_MS = 150;

const params = new URLSearchParams(location.search);
linkSiteNav(GALAXY);
const view = document.getElementById("map-view");
const overlay = document.getElementById("map-overlay");
const toolbar = document.getElementById("map-toolbar");

let map = null;
let highlighter = null;
let resolveReady;
const ready = new Promise((resolve) => {
  resolveReady = resolve;
});

function apiLocation() {
  if (API_BASE) return API_BASE;
  return location.origin && location.origin !== "null" ? location.origin : "(no server address set)";
}

function describeError(err) {
  if (err?.unreachable) {
    return `Haven's API cannot be reached at ${apiLocation()}. Is \`haven serve\` running? The map keeps trying.`;
  }
  if (err?.status === 404 && err?.field === "galaxy") return `The map cannot be drawn: ${err.message}`;
  return `The map could not load part of the galaxy: ${err?.message ?? err}`;
}

function setParam(name, value) {
  const url = new URL(location.href);
  if (value === null || value === undefined || value === "") url.searchParams.delete(name);
  else url.searchParams.set(name, String(value));
  history.replaceState(null, "", url);
}

const budget = parseBudget(params.get("budget")) ?? DEFAULT_BUDGET;

const hud = new Hud(overlay, {
  budget,
  minBudget: MIN_BUDGET,
  maxBudget: MAX_BUDGET,
  onBudget: (n) => {
    if (!map) return;
    const applied = map.setBudget(n);
    hud.setBudget(applied);
    setParam("budget", applied);
  },
});

// Each click or search choice gets a number; an answer for an older one is ignored.
let clickSeq = 0;

const details = new DetailsPanel(overlay, {
  onFly: (s) => {
    map?.flyTo(s.x, s.y, s.z, Math.min(map.controls.distance, FOCUS_DISTANCE_LY * 2));
  },
  onHide: () => {
    clickSeq++; // a lookup still on its way must not reopen the panel, nor ring its star
    map?.markSelection(null);
  },
});

/**
 * Show a system's details (fetching the full record when `s` is a list item). `since`: the
 * map's live clock before `s` was read; if edits were applied since, `s` may predate them.
 */
async function showSystem(s, extra = {}, seq = ++clickSeq, since = map?.liveClock) {
  map?.markSelection([s.x, s.y, s.z]);
  let full = s;
  if (!Array.isArray(s.planets)) {
    details.loading();
    try {
      full = await api(`/api/v1/systems/${encodeURIComponent(s.id)}${galaxyQuery()}`);
    } catch (err) {
      if (seq === clickSeq) details.error(err?.unreachable ? describeError(err) : `The system could not be loaded: ${err?.message ?? err}`);
      return;
    }
  }
  if (seq !== clickSeq) return;
  details.showSystem(full, extra);
  if (map && map.liveClock !== since) followShown();
}

// The open panel follows its system. The live feed names the octree nodes a write changed
// (every edit gives its system's node a new version, a plain rename too): when one of them
// holds the system's place (it was edited or deleted, or a neighbour was), or the tree was
// read again after a resync, the system is asked for again. Changes that arrive together
// share one request, and one request is under way at a time.
let followTimer = null;
let followBusy = false;
let followAgain = false;

function onLiveChange({ nodes, reset }) {
  const s = details.last;
  if (details.followId === null || !s) return;
  if (reset || map.changeTouches(nodes, s.x, s.y, s.z)) followShown();
}

function followShown() {
  if (followBusy) {
    followAgain = true; // once the answer under way is in, ask once more
    return;
  }
  if (followTimer !== null) return; // a request is due: this change rides along with it
  followTimer = setTimeout(async () => {
    followTimer = null;
    followBusy = true;
    try {
      await refetchShown();
    } finally {
      followBusy = false;
      if (followAgain) {
        followAgain = false;
        followShown();
      }
    }
  }, FOLLOW_COALESCE_MS);
}

/** Ask for the panel's system again; show it if it changed, or say that it was deleted. */
async function refetchShown() {
  const id = details.followId;
  if (id === null) return;
  const seq = clickSeq;
  const still = () => seq === clickSeq && details.followId === id; // not closed or replaced meanwhile
  let s;
  try {
    s = await api(`/api/v1/systems/${encodeURIComponent(id)}${galaxyQuery()}`);
  } catch (err) {
    if (!still()) return;
    if (err?.status === 404 && err?.field !== "galaxy" && details.system) {
      details.showDeleted();
      map?.markSelection(null);
    }
    return; // unreachable or busy: the next change (or the catch-up after a reconnect) asks again
  }
  if (!still()) return;
  const shown = details.system;
  if (shown && s?.version !== undefined && shown.version === s.version) return; // unchanged: leave the panel be
  // The swatch is the clicked star's colour: right for the same region only (chunks name no regions).
  const extra = { ...details.extra };
  if (s?.region !== details.last?.region) delete extra.colourIndex;
  map?.markSelection([s.x, s.y, s.z]);
  details.showSystem(s, extra);
}

/** A click on a star: ask the server which system it is, then show it. */
async function onStarClick(hit) {
  const seq = ++clickSeq;
  const since = map.liveClock;
  map.markSelection([hit.x, hit.y, hit.z]);
  details.loading();
  const changed = () => {
    map.loader.invalidate(hit.key);
    details.error("This part of the map changed since it was drawn and is being reloaded. Click the star again.");
  };
  let s;
  try {
    s = await api(pickPath(hit));
  } catch (err) {
    if (seq !== clickSeq) return;
    // The chunk drawn is older than the node: its indexes may name other systems now.
    if (isStalePick(err)) changed();
    else details.error(err?.unreachable ? describeError(err) : `That star could not be looked up: ${err?.message ?? err}`);
    return;
  }
  if (seq !== clickSeq) return;
  // A star's index names a system only for the chunk version it came from (a chunk without one: check the position).
  const tol = hit.step * 1.01 + 0.02;
  if (![["x", hit.x], ["y", hit.y], ["z", hit.z]].every(([k, v]) => Math.abs(Number(s?.[k]) - v) <= tol)) {
    changed();
    return;
  }
  await showSystem(s, { colourIndex: hit.colourIndex }, seq, since);
}

function buildToolbar(highlighter) {
  const search = new SearchBox(toolbar, {
    onChoose: (item) => {
      map?.flyTo(item.x, item.y, item.z, FOCUS_DISTANCE_LY);
      showSystem(item);
    },
  });
  const select = el(
    "select",
    { id: "map-region", "aria-label": "Highlight a region" },
    el("option", { value: "" }, "All regions"),
  );
  const current = params.get("region");
  if (current) select.append(el("option", { value: current, selected: true }, current));
  select.addEventListener("change", () => {
    const name = select.value;
    setParam("region", name);
    setParam("ids", null);
    if (name) highlighter.showRegion(name);
    else highlighter.clear();
  });
  toolbar.append(el("label", { className: "map-region-picker" }, "Region", select));
  api(`/api/v1/regions${galaxyQuery()}`)
    .then((answer) => {
      const names = (answer?.items ?? []).map((r) => String(r.name));
      const options = names
        .filter((n) => n !== current)
        .map((n) => el("option", { value: n }, n));
      select.append(...options);
      if (current) {
        // keep the list in name order with the current region in its place
        const all = [...select.options].slice(1).sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
        select.append(...all);
        select.value = current;
      }
    })
    .catch(() => {});
  return search;
}

function start() {
  try {
    map = new GalaxyMap(view, {
      budget,
      onError: (err) => hud.error(describeError(err)),
      onSuccess: () => hud.error(null),
      onStarClick,
      onStarDoubleClick: (hit) => map.flyTo(hit.x, hit.y, hit.z, Math.min(map.controls.distance, FOCUS_DISTANCE_LY * 2)),
      onChunk: () => highlighter?.onChunk(),
      onEmptyChange: (empty) => (empty ? hud.notice(EMPTY_NOTICE) : hud.clearNotice(EMPTY_NOTICE)),
      onLiveChange,
    });
  } catch (err) {
    hud.error(`This browser cannot draw the map (WebGL is not available): ${err?.message ?? err}`);
    return;
  }
  highlighter = new Highlighter(map, hud);
  buildToolbar(highlighter);
  hud.setBudget(map.budget);
  map.ready.then(() => resolveReady(window.havenMap));
  map.start();

  const focus = params.get("focus");
  const region = params.get("region");
  const ids = parseIds(params.get("ids"));
  if (focus || region || ids.length) map.autoFrame = false;
  if (region) highlighter.showRegion(region, { fly: !focus });
  else if (ids.length) highlighter.showIds(ids, { fly: !focus });
  if (focus) {
    systemByName(focus, GALAXY)
      .then((s) => {
        map.flyTo(s.x, s.y, s.z, FOCUS_DISTANCE_LY);
        showSystem(s);
      })
      .catch((err) => {
        hud.notice(err?.status === 404 ? `No system named “${focus}”.` : `Could not find “${focus}”: ${err?.message ?? err}`);
      });
  }
  setInterval(() => hud.update(map.stats()), 250);
  hud.update(map.stats());
}

window.havenMap = Object.freeze({
  ready,
  stats: () => (map ? map.stats() : null),
  flyTo: (x, y, z, distance) => (map ? map.flyTo(x, y, z, distance) : Promise.resolve(false)),
  pickAt: (clientX, clientY) => (map ? map.pickAt(clientX, clientY) : null),
  anyVisibleStar: () => (map ? map.anyVisibleStar() : null),
  /** The drawn star at a position (LY, to within a chunk's quantization step), or null. */
  findPoint: (x, y, z) => (map ? map.findPoint(x, y, z) : null),
  /** Screen position of a loaded, drawn system by id: {clientX, clientY, level, cell, index} or null. */
  screenPositionOf: async (systemId) => {
    if (!map) return null;
    const s = await api(`/api/v1/systems/${encodeURIComponent(systemId)}${galaxyQuery()}`);
    return map.findPoint(s.x, s.y, s.z);
  },
  /** What is highlighted: {kind: "region", name, total} or {kind: "ids", requested, found, missing, failed, peakFetches}. */
  highlight: () => (highlighter?.summary ? { ...highlighter.summary, peakFetches: highlighter.idsPeak } : null),
});

start();
