// The System Entry Wizard: create a system, or edit one (?id=N), with its planets,
// their moons and a space station, in four steps: System → Planets & moons → Station →
// Review & save.
//
// The server is the judge of what is valid: its error names a field path
// (`planets[0].moons[1].orbit_radius`), and the wizard shows the message next to that
// input, on whichever step it lives; when it lists several problems (`error.problems`),
// each is shown at its input and the first gets the focus. Edits are sent with the version they started
// from, so a change made meanwhile by someone else is refused (409) instead of lost.
//
// Unsaved changes are never lost: they are kept in the tab's sessionStorage (one draft per
// galaxy and system, or "new"), restored with a note when the page opens again, and leaving
// the page with unsaved changes asks first. A save that would change nothing is not sent.

import { api, el, linkSiteNav, query, urlGalaxy, withGalaxy } from "./api.js";
import { confirmWith, describeError, showBanner, showNotice, hideNotice } from "./cr-ui.js";
import {
  BODY_FIELDS,
  BODY_NAME,
  MOON_ORBIT,
  STATION_FIELDS,
  SYSTEM_MAIN,
  SYSTEM_MORE,
  blankMoon,
  blankPlanet,
  blankStation,
  bodyFrom,
  bodyText,
  draftFrom,
  draftKey,
  duplicateNames,
  localProblems,
  parentPath,
  readStoredDraft,
  storedDraft,
  tidyMessage,
} from "./wizard-model.js";

const STEPS = ["system", "planets", "station", "review"];
const $ = (id) => document.getElementById(id);
const form = $("wizard-form");

/** The system as last loaded or saved (null while it does not exist yet). */
let record = null;
/** What the inputs hold; see wizard-model.js. */
let draft = draftFrom(null);
/** What saving the draft as loaded would send (see bodyText): a draft that sends the same has no changes. */
let baseText = bodyText(draftFrom(null));
/** The sessionStorage key holding this page's unsaved draft, or null. */
let storedKey = null;
/** The duplicate names marked after the server refused them: {list, paths}, or null. */
let duplicateMarks = null;
let step = "system";
let saving = false;
/** The id whose last change "Undo last change" takes back. */
let undoId = null;
let undoVersion = null; // the version the save made: the undo names it, so it never undoes a later change by someone else

// ---- where to go back to ------------------------------------------------------------------

const params = new URLSearchParams(location.search);

/** The galaxy named by ?galaxy= (new systems go there), or null for the server's galaxy. */
const pageGalaxy = urlGalaxy();
linkSiteNav(pageGalaxy);

/** The Control Room of the page's galaxy: where "back" goes unless ?back= says otherwise. */
let controlRoom = withGalaxy("/", pageGalaxy);

/**
 * Only addresses on this site are followed (never another origin). The value is resolved
 * the way the browser will resolve the link, because the URL parser drops tabs and
 * newlines and reads a backslash as "/": a string test lets "/\t/evil.example" through.
 */
function safeBack(value) {
  if (!value) return controlRoom;
  let url;
  try {
    url = new URL(value, location.origin);
  } catch {
    return controlRoom;
  }
  if (url.origin !== location.origin) return controlRoom;
  // Dot segments collapse ("/.//evil.example" has the path "//evil.example"), and a path
  // that starts with "//" is read as another host when it is used as a link.
  if (url.pathname.startsWith("//")) return controlRoom;
  return url.pathname + url.search + url.hash;
}
let backTo = safeBack(params.get("back"));
/** Where a new system is created: the page's galaxy, or the galaxy of the system being edited. */
let targetGalaxy = pageGalaxy;

function wizardUrl(id) {
  const q = new URLSearchParams();
  if (id) q.set("id", String(id));
  if (backTo !== controlRoom) q.set("back", backTo);
  if (pageGalaxy) q.set("galaxy", pageGalaxy);
  const s = q.toString();
  return `${location.pathname}${s ? `?${s}` : ""}#${step}`;
}

// ---- fields and their errors ------------------------------------------------------------

/** Replace a node's children, skipping the null/false placeholders of optional parts. */
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function idFor(path) {
  return `f-${path.replace(/[^A-Za-z0-9_]+/g, "-")}`;
}

/** One labelled input bound to `p.values[spec.key]`, with its error line below it. */
function fieldInput(spec, p, path) {
  const id = idFor(path);
  const attrs = {
    id,
    name: path,
    "data-field": path,
    "aria-describedby": `${id}-error`,
    autocomplete: "off",
    maxlength: spec.maxlength,
    list: spec.list,
    "aria-required": spec.required ? "true" : null,
  };
  let input;
  if (spec.multiline) {
    input = el("textarea", { ...attrs, rows: 2 });
  } else {
    input = el("input", { ...attrs, type: "text", inputmode: spec.number ? "decimal" : null });
  }
  input.value = p.values[spec.key] ?? "";
  input.addEventListener("input", () => {
    p.values[spec.key] = input.value;
    if (duplicateMarks?.paths.includes(path)) clearDuplicates();
    else clearError(path);
    changed();
  });
  return el(
    "div",
    { className: spec.wide ? "field wide" : "field" },
    el("label", { for: id }, spec.required ? `${spec.label} *` : spec.label),
    input,
    spec.hint ? el("span", { className: "hint" }, spec.hint) : null,
    errorLine(path, `${id}-error`),
  );
}

function errorLine(path, id) {
  return el("p", { className: "field-error", id, "data-error-for": path, hidden: true });
}

/** The node named by a field path, or the nearest enclosing one that exists. */
function targetFor(field) {
  const nodes = form.querySelectorAll("[data-field]");
  for (let path = field; path; path = parentPath(path)) {
    for (const node of nodes) {
      if (node.dataset.field === path && !node.closest("[hidden]:not([data-step-panel])")) return { node, path };
    }
  }
  return null;
}

function errorNodeFor(path) {
  for (const node of form.querySelectorAll("[data-error-for]")) {
    if (node.dataset.errorFor === path) return node;
  }
  return null;
}

/** Show `message` next to the input `field` names, go to its step and focus it. */
function showFieldError(field, message) {
  if (field && showDuplicates(field, message)) return true;
  const target = field ? targetFor(field) : null;
  if (!target) return false;
  const { node, path } = target;
  const line = errorNodeFor(path);
  const text = path === field ? tidyMessage(message, field) : message;
  if (line) {
    line.textContent = text;
    line.hidden = false;
  }
  if (/^(INPUT|TEXTAREA|SELECT)$/.test(node.tagName)) node.setAttribute("aria-invalid", "true");
  const panel = node.closest("[data-step-panel]");
  if (panel) {
    markStepError(panel.dataset.stepPanel);
    goToStep(panel.dataset.stepPanel, { focus: false });
  }
  for (let d = node.closest("details"); d; d = d.parentElement?.closest("details")) d.open = true;
  node.focus();
  node.scrollIntoView({ block: "center" });
  return true;
}

/**
 * Show every problem (`{field, message}`, as the server's `error.problems` lists them) at its
 * field. Last to first, since each opens its step and takes the focus: the first ends up in view.
 * @returns {boolean} whether any was shown
 */
function showFieldErrors(problems) {
  let shown = false;
  for (const p of [...problems].reverse()) if (p?.field && showFieldError(p.field, p.message)) shown = true;
  return shown;
}

/** The planets (`planets`) or moons (`planets[i].moons`) a list path names, with their noun. */
function listAt(path) {
  if (path === "planets") return { items: draft.planets, noun: "planet" };
  const m = /^planets\[(\d+)\]\.moons$/.exec(path);
  const planet = m ? draft.planets[Number(m[1])] : null;
  return planet ? { items: planet.moons, noun: "moon" } : null;
}

/**
 * The server refuses two planets (or moons of a planet) with one name by naming the list.
 * The message stays under the list; each name field that shares its name is marked invalid
 * and says so, and the first one gets the focus.
 */
function showDuplicates(field, message) {
  const list = listAt(field);
  if (!list) return false;
  const paths = duplicateNames(list.items.map((item) => item.values.name)).map((i) => `${field}[${i}].name`);
  const inputs = paths.map((path) => $(idFor(path)));
  if (!paths.length || inputs.some((input) => !input)) return false;
  const line = errorNodeFor(field);
  if (line) {
    line.textContent = tidyMessage(message, field);
    line.hidden = false;
  }
  paths.forEach((path, k) => {
    inputs[k].setAttribute("aria-invalid", "true");
    const own = errorNodeFor(path);
    if (own) {
      own.textContent = `Another ${list.noun} is also named “${inputs[k].value.trim()}”.`;
      own.hidden = false;
    }
  });
  duplicateMarks = { list: field, paths };
  markStepError("planets");
  goToStep("planets", { focus: false });
  inputs[0].focus();
  inputs[0].scrollIntoView({ block: "center" });
  return true;
}

/** Fixing one of the duplicate names clears the marks on all of them, and the list's message. */
function clearDuplicates() {
  if (!duplicateMarks) return;
  const { list, paths } = duplicateMarks;
  duplicateMarks = null;
  for (const path of [list, ...paths]) clearError(path);
}

function clearError(path) {
  const line = errorNodeFor(path);
  if (line) {
    line.hidden = true;
    line.textContent = "";
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) {
    if (node.dataset.field === path) node.removeAttribute("aria-invalid");
  }
}

function clearAllErrors() {
  for (const line of form.querySelectorAll("[data-error-for]")) {
    line.hidden = true;
    line.textContent = "";
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  for (const b of form.querySelectorAll(".steps button")) b.classList.remove("has-error");
  duplicateMarks = null;
  const box = $("save-error");
  box.hidden = true;
  box.replaceChildren();
}

function markStepError(name) {
  form.querySelector(`.steps button[data-step="${name}"]`)?.classList.add("has-error");
}

// ---- read-only extras -----------------------------------------------------------------------

/** `extra` shown as read-only pairs; it goes back to the server unchanged. */
function keptFields(extra) {
  const keys = Object.keys(extra ?? {});
  if (!keys.length) return null;
  return el(
    "div",
    { className: "kept" },
    el("h4", {}, "Other fields kept as-is"),
    el("dl", { className: "pairs" }, ...keys.flatMap((k) => [el("dt", {}, k), el("dd", {}, JSON.stringify(extra[k]))])),
  );
}

function moreDetails(summary, p, fields) {
  const filled = fields.some(({ spec }) => (p.values[spec.key] ?? "") !== "");
  return el(
    "details",
    { open: filled },
    el("summary", {}, summary),
    el("div", { className: "field-grid" }, ...fields.map(({ spec, path }) => fieldInput(spec, p, path))),
  );
}

// ---- step 1: the system ---------------------------------------------------------------------

function renderSystem() {
  const s = draft.system;
  const box = $("system-fields");
  fill(
    box,
    el("div", { className: "field-grid" }, ...SYSTEM_MAIN.map((spec) => fieldInput(spec, s, spec.key))),
    moreDetails("More about this system", s, SYSTEM_MORE.map((spec) => ({ spec, path: spec.key }))),
    draft.legacyId !== null
      ? el("p", { className: "muted" }, "Original id: ", el("code", {}, String(draft.legacyId)), " (kept)")
      : null,
    keptFields(s.extra),
  );
}

// ---- step 2: planets and moons --------------------------------------------------------------

function renderPlanets({ focusPath } = {}) {
  clearDuplicates(); // the fields are made again, numbered anew
  const box = $("planets");
  if (!draft.planets.length) {
    fill(box, el("p", { className: "muted" }, "No planets yet."));
  } else {
    fill(box, ...draft.planets.map((p, i) => planetBlock(p, i)));
  }
  if (focusPath) $(idFor(focusPath))?.focus();
}

function planetBlock(p, i) {
  const path = `planets[${i}]`;
  const remove = el(
    "button",
    {
      type: "button",
      className: "btn btn-small btn-danger",
      "aria-label": `Remove planet ${i + 1}`,
      onclick: () => {
        draft.planets.splice(i, 1);
        renderPlanets();
        changed();
        $("add-planet").focus();
      },
    },
    "Remove planet",
  );
  const addMoon = el(
    "button",
    {
      type: "button",
      className: "btn btn-small",
      "data-add-moon": String(i),
      onclick: () => {
        p.moons.push(blankMoon());
        renderPlanets({ focusPath: `${path}.moons[${p.moons.length - 1}].name` });
        changed();
      },
    },
    "Add moon",
  );
  return el(
    "fieldset",
    { className: "planet", "data-field": path, tabindex: -1 },
    el("legend", {}, `Planet ${i + 1}`),
    errorLine(path, null),
    el("div", { className: "field-grid" }, fieldInput(BODY_NAME, p, `${path}.name`), el("div", { className: "field field-action" }, remove)),
    moreDetails("More about this planet", p, BODY_FIELDS.map((spec) => ({ spec, path: `${path}.${spec.key}` }))),
    keptFields(p.extra),
    el("h3", {}, "Moons"),
    el(
      "div",
      { "data-field": `${path}.moons`, tabindex: -1 },
      p.moons.length ? p.moons.map((m, j) => moonBlock(p, m, i, j)) : el("p", { className: "muted" }, "No moons."),
    ),
    errorLine(`${path}.moons`, null),
    addMoon,
  );
}

function moonBlock(planet, m, i, j) {
  const path = `planets[${i}].moons[${j}]`;
  return el(
    "fieldset",
    { className: "moon", "data-field": path, tabindex: -1 },
    el("legend", {}, `Moon ${j + 1}`),
    errorLine(path, null),
    el(
      "div",
      { className: "field-grid" },
      fieldInput(BODY_NAME, m, `${path}.name`),
      ...MOON_ORBIT.map((spec) => fieldInput(spec, m, `${path}.${spec.key}`)),
      el(
        "div",
        { className: "field field-action" },
        el(
          "button",
          {
            type: "button",
            className: "btn btn-small btn-danger",
            "aria-label": `Remove moon ${j + 1} of planet ${i + 1}`,
            onclick: () => {
              planet.moons.splice(j, 1);
              renderPlanets();
              changed();
              form.querySelector(`[data-add-moon="${i}"]`)?.focus();
            },
          },
          "Remove moon",
        ),
      ),
    ),
    moreDetails("More about this moon", m, BODY_FIELDS.map((spec) => ({ spec, path: `${path}.${spec.key}` }))),
    keptFields(m.extra),
  );
}

// ---- step 3: the station --------------------------------------------------------------------

function renderStation() {
  const box = $("station-fields");
  $("has-station").checked = draft.hasStation;
  if (!draft.hasStation) {
    fill(box, el("p", { className: "muted" }, "No space station."));
    return;
  }
  draft.station ??= blankStation();
  const st = draft.station;
  fill(
    box,
    el("div", { className: "field-grid" }, ...STATION_FIELDS.map((spec) => fieldInput(spec, st, `space_station.${spec.key}`))),
    keptFields(st.extra),
  );
}

// ---- step 4: review -------------------------------------------------------------------------

function pair(label, value) {
  return [el("dt", {}, label), el("dd", {}, value)];
}

function renderReview() {
  const s = draft.system.values;
  const rows = [
    ...pair("Name", s.name || "(missing)"),
    ...pair("Region", s.region || "—"),
    ...pair("Position", `${s.x || "?"}, ${s.y || "?"}, ${s.z || "?"} LY`),
  ];
  for (const spec of SYSTEM_MORE) {
    if (s[spec.key]) rows.push(...pair(spec.label, s[spec.key]));
  }
  const planets = draft.planets.length
    ? el(
        "ul",
        { className: "review-list" },
        ...draft.planets.map((p) =>
          el(
            "li",
            {},
            p.values.name || "(unnamed planet)",
            p.moons.length
              ? ` — ${p.moons.length} moon${p.moons.length === 1 ? "" : "s"}: ${p.moons.map((m) => m.values.name || "(unnamed)").join(", ")}`
              : " — no moons",
          ),
        ),
      )
    : el("p", { className: "muted" }, "No planets.");
  const st = draft.hasStation && draft.station ? draft.station.values : null;
  const keptCount = countExtras();
  fill(
    $("review"),
    el("dl", { className: "pairs", id: "review-system" }, ...rows),
    el("h3", {}, `Planets (${draft.planets.length})`),
    planets,
    el("h3", {}, "Space station"),
    st
      ? el("p", { id: "review-station" }, st.name || "(unnamed station)", st.race ? ` — ${st.race}` : "")
      : el("p", { className: "muted", id: "review-station" }, "None."),
    keptCount
      ? el("p", { className: "muted" }, `Other fields kept as-is: ${keptCount} (saved back unchanged).`)
      : null,
    record
      ? el("p", { className: "muted" }, `Saving replaces version ${record.version} of this system.`)
      : el(
        "p",
        { className: "muted" },
        targetGalaxy ? `Saving adds this system to “${targetGalaxy}”.` : "Saving adds this system to the galaxy.",
      ),
  );
}

function countExtras() {
  const n = (x) => Object.keys(x ?? {}).length;
  let total = n(draft.system.extra);
  for (const p of draft.planets) {
    total += n(p.extra);
    for (const m of p.moons) total += n(m.extra);
  }
  if (draft.hasStation && draft.station) total += n(draft.station.extra);
  return total;
}

// ---- steps ---------------------------------------------------------------------------------

function goToStep(name, { focus = true } = {}) {
  if (!STEPS.includes(name)) name = "system";
  step = name;
  for (const panel of form.querySelectorAll("[data-step-panel]")) panel.hidden = panel.dataset.stepPanel !== name;
  for (const b of form.querySelectorAll(".steps button")) {
    if (b.dataset.step === name) b.setAttribute("aria-current", "step");
    else b.removeAttribute("aria-current");
  }
  const last = name === "review";
  $("step-back").disabled = name === STEPS[0];
  $("step-next").hidden = last;
  $("save").hidden = !last;
  if (last) renderReview();
  history.replaceState(null, "", wizardUrl(record?.id));
  if (focus) {
    const panel = form.querySelector(`[data-step-panel="${name}"]`);
    const first = panel.querySelector("input, textarea, select");
    (last ? $("save") : first ?? panel.querySelector("button"))?.focus();
  }
}

function stepBy(delta) {
  const i = STEPS.indexOf(step) + delta;
  if (i >= 0 && i < STEPS.length) goToStep(STEPS[i]);
}

// ---- the draft in sessionStorage ---------------------------------------------------------------

/** The tab's sessionStorage, or null where the browser refuses it (the question on leaving still works). */
function session() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** Whether saving now would change anything. */
function unsaved() {
  return bodyText(draft) !== baseText;
}

/** The key of the draft this page edits now: its galaxy and its system (or "new"). */
function currentKey() {
  return draftKey(pageGalaxy, record?.id ?? null);
}

/**
 * Keep the draft in sessionStorage while it has unsaved changes, and drop it once it has
 * none (saved, discarded, reloaded or typed back as it was). Called after every change.
 */
function changed() {
  const store = session();
  if (!store) return;
  const key = currentKey();
  try {
    if (storedKey && storedKey !== key) store.removeItem(storedKey);
    if (unsaved()) {
      store.setItem(key, storedDraft(record, draft));
      storedKey = key;
    } else {
      store.removeItem(key);
      storedKey = null;
    }
  } catch {
    // Storage full or refused: the question on leaving still protects the draft.
  }
}

/** The draft kept for system `id` (null: a new system), or null. */
function restoredDraft(id) {
  const key = draftKey(pageGalaxy, id);
  let text = null;
  try {
    text = session()?.getItem(key) ?? null;
  } catch {
    return null;
  }
  const found = readStoredDraft(text, id);
  if (text && !found) {
    try {
      session()?.removeItem(key); // another shape, or damaged: of no use
    } catch {
      // nothing to do
    }
  }
  return found ? { ...found, key } : null;
}

/** Set the system the draft started from (null: a new one), and what saving it unchanged would send. */
function setBase(doc) {
  record = doc;
  baseText = bodyText(draftFrom(doc));
}

/** The note on a restored draft, with "Discard them". `current` is the system now (null: deleted). */
function noteRestored(current) {
  const parts = ["Restored your unsaved changes from earlier in this tab."];
  let kind = "notice";
  if (record && current === null) {
    parts.push(" This system has since been deleted: saving offers to add it again as a new system.");
    kind = "warning";
  } else if (record && current && current.version !== record.version) {
    parts.push(` They started from version ${record.version}; the system is now at version ${current.version}, `
      + "so saving will ask what to do.");
    kind = "warning";
  }
  showNotice(parts, {
    kind,
    actions: [el("button", { type: "button", className: "btn btn-small", id: "discard-draft", onclick: discardDraft }, "Discard them")],
  });
}

/** Drop the unsaved changes: the form shows the system as it is now (or an empty one). */
async function discardDraft() {
  const button = $("discard-draft");
  button?.setAttribute("disabled", "");
  try {
    session()?.removeItem(storedKey ?? currentKey());
  } catch {
    // nothing to do
  }
  storedKey = null;
  let doc = null;
  if (record) {
    try {
      doc = await loadRecord(record.id);
    } catch (err) {
      if (err.status !== 404) {
        button?.removeAttribute("disabled");
        showNotice([`Not discarded: ${describeError(err)}`], { kind: "warning" });
        changed(); // the draft is still unsaved: keep it
        return;
      }
      setBase(null);
      draft = draftFrom(null);
      form.hidden = true;
      hideNotice();
      showBanner("Discarded your unsaved changes. This system no longer exists: it was deleted.", null);
      return;
    }
  }
  const keepStep = step;
  useRecord(doc);
  goToStep(keepStep);
  $("saved").hidden = true;
  showNotice(["Discarded your unsaved changes."]);
}

// ---- loading and saving ------------------------------------------------------------------

function renderAll() {
  renderSystem();
  renderPlanets();
  renderStation();
  if (step === "review") renderReview();
  const title = record ? `Edit “${record.name}”` : pageGalaxy ? `New system in “${pageGalaxy}”` : "New system";
  $("title").textContent = title;
  document.title = `${title} · Haven`;
  $("derived-note").hidden = !record?.derived;
  const navAdd = $("nav-add");
  if (record) navAdd.removeAttribute("aria-current");
  else navAdd.setAttribute("aria-current", "page");
}

function useRecord(doc) {
  setBase(doc);
  if (typeof doc?.galaxy === "string" && doc.galaxy) targetGalaxy = doc.galaxy;
  draft = draftFrom(doc);
  clearAllErrors();
  renderAll();
  changed();
}

async function loadRecord(id) {
  return api(`/api/v1/systems/${id}`);
}

/**
 * Fill the region suggestions of `galaxy`. Resolves to false when the galaxy does not
 * exist (the server answers 404 naming `galaxy`), else true: the suggestions are optional.
 */
async function loadRegionList(galaxy) {
  try {
    const data = await api(`/api/v1/regions${query({ galaxy })}`);
    const list = el("datalist", { id: "region-list" }, ...data.items.map((r) => el("option", { value: r.name })));
    $("region-list")?.remove();
    document.body.append(list);
  } catch (err) {
    if (err?.status === 404 && err.field === "galaxy") return false;
    // Suggestions only: the field works without them.
  }
  return true;
}

/** A new system for a galaxy the database does not have: say so at once, with the way back. */
function showGalaxyMissing() {
  controlRoom = "/";
  backTo = safeBack(params.get("back"));
  $("back-link").href = backTo;
  $("galaxy-missing-message").textContent = pageGalaxy
    ? `There is no galaxy named “${pageGalaxy}” in this database.`
    : "The server's galaxy is not in this database.";
  $("galaxy-missing-home").href = backTo;
  $("galaxy-missing").hidden = false;
  $("loading").hidden = true;
}

function showSaveError(parts, ...actions) {
  const box = $("save-error");
  fill(box, el("span", { className: "message" }, ...parts), ...actions);
  box.hidden = false;
  goToStep("review", { focus: false });
  box.focus();
}

async function save() {
  if (saving) return;
  clearAllErrors();
  hideNotice();
  const local = localProblems(draft);
  if (local.length) {
    showFieldErrors(local);
    return;
  }
  const editing = Boolean(record);
  if (editing && !unsaved()) {
    await nothingToSave();
    return;
  }
  const body = bodyFrom(draft, editing ? record.version : null);
  saving = true;
  $("save").disabled = true;
  try {
    const saved = editing
      ? await api(`/api/v1/systems/${record.id}`, { method: "PUT", body })
      : await api(`/api/v1/systems${query({ galaxy: targetGalaxy })}`, { method: "POST", body });
    useRecord(saved);
    undoId = saved.id;
    undoVersion = saved.version;
    goToStep("review", { focus: false });
    showSaved(saved, editing ? "Saved" : "Created");
  } catch (err) {
    await saveFailed(err, editing);
  } finally {
    saving = false;
    $("save").disabled = false;
    // Save was disabled while it worked, which sent the focus to <body>.
    if (!document.activeElement || document.activeElement === document.body) $("save").focus();
  }
}

/**
 * Save pressed on an edit that changes nothing: nothing is sent (a new version would only
 * fill the history and make other editors conflict). The system is looked up, so a
 * deletion or someone else's newer version is still reported.
 */
async function nothingToSave() {
  saving = true;
  let doc;
  try {
    doc = await loadRecord(record.id);
  } catch (err) {
    await saveFailed(err, true);
    return;
  } finally {
    saving = false;
  }
  const box = $("saved");
  box.className = "notice";
  const newer = doc.version !== record.version;
  fill(
    box,
    el(
      "span",
      { className: "message" },
      "No changes to save.",
      newer ? ` Someone else has saved this system since you opened it: it is now at version ${doc.version}.` : "",
    ),
    newer
      ? el("button", { type: "button", className: "btn btn-small", onclick: reloadCurrent }, "Reload current version")
      : null,
    !newer && undoId === record.id && undoVersion === record.version ? undoButton() : null,
  );
  box.hidden = false;
  goToStep("review", { focus: false });
  box.focus();
}

async function saveFailed(err, editing) {
  if (err.status === 409 && err.code === "stale_version") {
    await offerReload(err);
    return;
  }
  if (editing && err.status === 404 && !err.field) {
    showSaveError(
      ["This system no longer exists: it was deleted after you opened it."],
      el("button", { type: "button", className: "btn btn-small", id: "save-as-new", onclick: saveAsNew }, "Save it as a new system"),
    );
    return;
  }
  const problems = err.body?.error?.problems;
  if (err.status && err.status < 500 && Array.isArray(problems) && problems.length > 1 && showFieldErrors(problems)) return;
  if (err.status && err.status < 500 && err.field && showFieldError(err.field, err.message)) return;
  showSaveError([describeError(err)]);
}

function saveAsNew() {
  setBase(null);
  draft.legacyId = null;
  renderAll();
  changed();
  save();
}

async function offerReload(err) {
  const current = err.body?.error?.current_version;
  $("conflict-message").textContent =
    `You started from version ${record.version}; the system is now at version ${current ?? "a newer one"}.`;
  const answer = await confirmWith($("conflict-dialog"));
  if (answer === "reload") {
    await reloadCurrent();
  } else {
    showSaveError(
      [`Not saved: this system changed since you opened it (now version ${current ?? "newer"}).`],
      el("button", { type: "button", className: "btn btn-small", id: "reload-current", onclick: reloadCurrent }, "Reload current version"),
    );
  }
}

async function reloadCurrent() {
  try {
    const doc = await loadRecord(record.id);
    const keepStep = step;
    useRecord(doc);
    goToStep(keepStep, { focus: false });
    $("saved").hidden = true;
    showNotice([`Loaded the current version (${doc.version}). Make your changes again, then save.`]);
  } catch (err) {
    showSaveError([describeError(err)]);
  }
}

function savedLinks(doc) {
  return [
    el("a", { className: "btn btn-small", href: `/system.html?id=${doc.id}` }, "View"),
    el("a", { className: "btn btn-small", href: backTo }, "Back to Control Room"),
  ];
}

function undoButton() {
  return el("button", { type: "button", className: "btn btn-small", id: "undo-last", onclick: undoLast }, "Undo last change");
}

function showSaved(doc, verb) {
  history.replaceState(null, "", wizardUrl(doc.id));
  const box = $("saved");
  box.className = "notice";
  fill(
    box,
    el("span", { className: "message" }, `${verb} “${doc.name}” (version ${doc.version}).`),
    ...savedLinks(doc),
    undoButton(),
  );
  box.hidden = false;
  box.focus();
}

async function undoLast() {
  if (!undoId) return;
  const id = undoId;
  const box = $("saved");
  $("undo-last")?.setAttribute("disabled", "");
  let result;
  try {
    result = await api(`/api/v1/systems/${id}/undo${query({ version: undoVersion })}`, { method: "POST", body: {} });
  } catch (err) {
    box.className = "warning";
    const why = err.status === 404 ? "There is nothing to undo for this system."
      : err.code === "stale_version" ? "It was changed after your save (by someone else, or in another tab), "
        + "and undoing now would undo that change instead of yours. Reload it to see what changed."
      : describeError(err);
    fill(box, el("span", { className: "message" }, `Not undone. ${why}`));
    return;
  }
  undoId = null;
  undoVersion = null;
  const name = record?.name ?? draft.system.values.name;
  if (result?.system) {
    useRecord(result.system);
    goToStep("review", { focus: false });
    history.replaceState(null, "", wizardUrl(result.system.id));
    box.className = "notice";
    fill(
      box,
      el(
        "span",
        { className: "message" },
        `Undone: “${result.system.name}” is back as it was before your change (now version ${result.system.version}).`,
      ),
      ...savedLinks(result.system),
    );
  } else {
    // The undone change was the creation: the system is gone; the form keeps what was entered
    // (an unsaved new system now, kept as a draft like any other).
    setBase(null);
    draft.legacyId = null;
    renderAll();
    changed();
    goToStep("review", { focus: false });
    history.replaceState(null, "", wizardUrl(null));
    box.className = "notice";
    fill(
      box,
      el(
        "span",
        { className: "message" },
        `Undone: “${name}” was removed again. The form still holds it; save to add it again.`,
      ),
      el("a", { className: "btn btn-small", href: backTo }, "Back to Control Room"),
    );
  }
  box.hidden = false;
}

// ---- wiring ------------------------------------------------------------------------------------

function wire() {
  for (const b of form.querySelectorAll(".steps button")) {
    b.addEventListener("click", () => goToStep(b.dataset.step));
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (step === "review") save();
    else stepBy(1);
  });
  $("step-back").addEventListener("click", () => stepBy(-1));
  $("save").addEventListener("click", save);
  $("add-planet").addEventListener("click", () => {
    draft.planets.push(blankPlanet());
    clearError("planets");
    renderPlanets({ focusPath: `planets[${draft.planets.length - 1}].name` });
    changed();
  });
  $("has-station").addEventListener("change", (e) => {
    draft.hasStation = e.target.checked;
    clearError("space_station");
    renderStation();
    if (draft.hasStation) $(idFor("space_station.name"))?.focus();
    changed();
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
      e.preventDefault();
      if (!form.hidden && !document.querySelector("dialog[open]")) save();
    }
  });
  window.addEventListener("hashchange", () => {
    const name = location.hash.slice(1);
    if (STEPS.includes(name) && name !== step) goToStep(name);
  });
  for (const link of [$("back-link")]) link.href = backTo;
  // Unsaved changes: the browser asks before a reload, Back, a link or closing the tab
  // (the draft is in sessionStorage too, for when the answer is "Leave").
  window.addEventListener("beforeunload", (e) => {
    if (form.hidden || !unsaved()) return;
    changed();
    e.preventDefault();
    e.returnValue = "";
  });
}

/**
 * A system opened by id without ?galaxy= may live in another galaxy than the server's: the
 * header, "Back to Control Room" and the region suggestions then follow the system's galaxy.
 */
function followRecordGalaxy(galaxy) {
  if (pageGalaxy || typeof galaxy !== "string" || !galaxy) return;
  linkSiteNav(galaxy);
  const fromUrl = params.get("back");
  controlRoom = withGalaxy("/", galaxy);
  if (!fromUrl) backTo = controlRoom;
  $("back-link").href = backTo;
}

async function start() {
  wire();
  const idText = params.get("id");
  if (idText !== null && !/^[1-9]\d*$/.test(idText)) {
    $("loading").hidden = true;
    showBanner(`“${idText}” is not a system id. Open a system from the Control Room to edit it.`, null);
    return;
  }
  const id = idText === null ? null : Number(idText);
  const kept = restoredDraft(id);
  /** The system as the server has it now: null for a new system, or one deleted since the draft. */
  let current = null;
  if (id === null) {
    // New systems go to the page's galaxy: make sure it exists before anything is typed.
    if (!(await loadRegionList(pageGalaxy))) {
      showGalaxyMissing();
      return;
    }
  } else {
    try {
      current = await loadRecord(id);
    } catch (err) {
      // A draft of a system deleted since is still restored: saving offers to add it as new.
      if (!(err.status === 404 && kept)) {
        $("loading").hidden = true;
        if (err.status === 404) {
          showBanner(`There is no system with id ${idText}. It may have been deleted.`, null);
        } else {
          showBanner(err, () => location.reload());
        }
        return;
      }
    }
  }
  // A restored edit keeps the version it started from, so the save still meets a newer one.
  setBase(kept ? kept.base : current);
  draft = kept ? kept.draft : draftFrom(record);
  storedKey = kept ? kept.key : null;
  if (typeof record?.galaxy === "string" && record.galaxy) targetGalaxy = record.galaxy;
  if (record) {
    followRecordGalaxy(record.galaxy);
    loadRegionList(targetGalaxy);
  }
  renderAll();
  $("loading").hidden = true;
  form.hidden = false;
  const fromHash = location.hash.slice(1);
  goToStep(STEPS.includes(fromHash) ? fromHash : "system");
  if (kept && unsaved()) noteRestored(current);
  else changed(); // a kept draft with nothing unsaved is of no use
}

start();
