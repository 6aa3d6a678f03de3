// What the System Entry Wizard edits, and how it turns into an API body.
//
// A loaded system becomes a "draft": for each system, planet, moon and station, the
// text of every input (`values`), the value it was loaded with (`orig`) and its `extra`
// object, which is never shown as an input and always sent back untouched. A value the
// user did not change is sent back exactly as it was loaded (so `""` stays `""` and a
// number stays that number); a changed one is converted: empty → null, numeric text →
// number. Text in a number field that is not plain decimal is sent as it is, so the server's
// validation names the field and the wizard can show its message there; a required name
// left empty is sent as "" for the same reason. Decimal text too large for a number ("1e400")
// is refused before sending (`localProblems`): it could only be sent as text.
//
// A draft with unsaved changes is kept in the tab's sessionStorage (see `draftKey`,
// `storedDraft` and `readStoredDraft`) with the system as it was loaded, so a reload,
// Back or a stray click never loses it, and an edit still saves with the version it
// started from.

import { parseJson } from "./api.js";

/** @typedef {{key: string, label: string, number?: boolean, required?: boolean, maxlength?: number,
 *   hint?: string, wide?: boolean, multiline?: boolean, list?: string, percent?: boolean}} FieldSpec */

/** @type {FieldSpec[]} */
export const SYSTEM_MAIN = [
  { key: "name", label: "Name", required: true, maxlength: 200 },
  { key: "region", label: "Region", maxlength: 200, list: "region-list", hint: "Pick one or type a new region" },
  { key: "x", label: "X (light years)", number: true, required: true },
  { key: "y", label: "Y (light years)", number: true, required: true },
  { key: "z", label: "Z (light years)", number: true, required: true },
];

/** @type {FieldSpec[]} */
export const SYSTEM_MORE = [
  { key: "fauna", label: "Fauna" },
  { key: "flora", label: "Flora" },
  { key: "sentinel", label: "Sentinels" },
  { key: "materials", label: "Materials", hint: "Comma-separated" },
  { key: "base_location", label: "Base location" },
  { key: "attributes", label: "Attributes" },
  { key: "glyph", label: "Glyphs" },
  { key: "photo", label: "Photo", hint: "File name or address" },
  { key: "provenance", label: "Provenance", hint: "Where this entry comes from" },
  { key: "confidence", label: "Confidence", number: true, hint: "0 (guess) to 1 (certain)" },
];

export const SYSTEM_FIELDS = [...SYSTEM_MAIN, ...SYSTEM_MORE];

/** Fields planets and moons share, after their name. */
export const BODY_FIELDS = [
  { key: "sentinel", label: "Sentinels" },
  { key: "fauna", label: "Fauna" },
  { key: "flora", label: "Flora" },
  { key: "properties", label: "Properties" },
  { key: "materials", label: "Materials" },
  { key: "base_location", label: "Base location" },
  { key: "photo", label: "Photo" },
  { key: "notes", label: "Notes", wide: true, multiline: true },
];

export const BODY_NAME = { key: "name", label: "Name", required: true, maxlength: 200 };

export const MOON_ORBIT = [
  { key: "orbit_radius", label: "Orbit radius", number: true },
  { key: "orbit_speed", label: "Orbit speed", number: true },
];

export const PLANET_FIELDS = [BODY_NAME, ...BODY_FIELDS];
export const MOON_FIELDS = [BODY_NAME, ...MOON_ORBIT, ...BODY_FIELDS];

/** @type {FieldSpec[]} */
export const STATION_FIELDS = [
  { key: "name", label: "Name", required: true, maxlength: 200 },
  { key: "race", label: "Race" },
  { key: "sell_percent", label: "Sell percent", number: true, percent: true, hint: "−100 to 1000" },
  { key: "buy_percent", label: "Buy percent", number: true, percent: true, hint: "−100 to 1000" },
  { key: "x", label: "X (optional)", number: true },
  { key: "y", label: "Y (optional)", number: true },
  { key: "z", label: "Z (optional)", number: true },
];

/** The text an input shows for a stored value. */
export function display(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  return String(value);
}

/** One record (system, planet, moon or station) as the wizard edits it. */
function part(doc, specs) {
  const values = {};
  const orig = {};
  for (const spec of specs) {
    const v = doc?.[spec.key];
    values[spec.key] = display(v);
    if (doc && spec.key in doc) orig[spec.key] = v;
  }
  const extra = doc?.extra && typeof doc.extra === "object" ? doc.extra : {};
  return { values, orig, extra };
}

export function blankPlanet() {
  return { ...part(null, PLANET_FIELDS), moons: [] };
}

export function blankMoon() {
  return part(null, MOON_FIELDS);
}

export function blankStation() {
  return part(null, STATION_FIELDS);
}

/** A draft from a system as the API answers it (or a blank one for a new system). */
export function draftFrom(doc) {
  const system = part(doc, SYSTEM_FIELDS);
  const planets = (doc?.planets ?? []).map((p) => ({
    ...part(p, PLANET_FIELDS),
    moons: (p.moons ?? []).map((m) => part(m, MOON_FIELDS)),
  }));
  const station = doc?.space_station ? part(doc.space_station, STATION_FIELDS) : null;
  return {
    system,
    planets,
    station,
    hasStation: Boolean(station),
    legacyId: doc?.legacy_id ?? null,
  };
}

/**
 * Plain decimal text ("12", "-3.5", ".5", "1e3"). JavaScript's Number() also reads
 * "0x1F", "0o17" and "0b101", which the server refuses as text: those are sent as typed.
 */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The value to send for one field. */
export function valueOf(spec, p) {
  const raw = p.values[spec.key] ?? "";
  if (spec.key in p.orig && raw === display(p.orig[spec.key])) return p.orig[spec.key];
  const text = raw.trim();
  if (spec.number) {
    if (text === "") return null;
    if (!DECIMAL.test(text)) return raw;
    const n = Number(text);
    return Number.isFinite(n) ? n : raw;
  }
  // An empty name is sent as "", so the server's message says it must not be empty.
  if (text === "") return spec.required ? "" : null;
  return raw;
}

function fieldsOf(p, specs) {
  const out = {};
  for (const spec of specs) out[spec.key] = valueOf(spec, p);
  out.extra = p.extra;
  return out;
}

/**
 * The body for POST or PUT: every field the API knows, `extra` at every level as loaded,
 * and `version` when the system is being edited.
 */
export function bodyFrom(draft, version) {
  const body = fieldsOf(draft.system, SYSTEM_FIELDS);
  if (draft.legacyId !== null && draft.legacyId !== undefined) body.legacy_id = draft.legacyId;
  body.planets = draft.planets.map((p) => ({
    ...fieldsOf(p, PLANET_FIELDS),
    moons: p.moons.map((m) => fieldsOf(m, MOON_FIELDS)),
  }));
  body.space_station = draft.hasStation && draft.station ? fieldsOf(draft.station, STATION_FIELDS) : null;
  if (version !== null && version !== undefined) body.version = version;
  return body;
}

/** Station prices in percent (of the base price, or as a change of it): the server's range. */
export const PERCENT_MIN = -100;
export const PERCENT_MAX = 1000;

/**
 * A number field whose text is plain decimal but too large for a number ("1e400" reads as
 * Infinity): it could only be sent as text, and the server would call it text.
 */
function tooLarge(spec, p) {
  if (!spec.number) return false;
  const text = (p.values[spec.key] ?? "").trim();
  return DECIMAL.test(text) && !Number.isFinite(Number(text));
}

/**
 * Checks made before sending, so the step with the problem opens at once: numbers too large
 * to hold (at every level) and percentages in the server's range.
 * @returns {{field: string, message: string}[]} every problem, in the order of the fields
 */
export function localProblems(draft) {
  const out = [];
  const check = (p, specs, prefix) => {
    for (const spec of specs) {
      const field = `${prefix}${spec.key}`;
      if (tooLarge(spec, p)) {
        out.push({ field, message: `${spec.label} is too large to be a number (beyond ±1.8e308).` });
        continue;
      }
      const v = spec.percent ? valueOf(spec, p) : null;
      if (typeof v === "number" && (v < PERCENT_MIN || v > PERCENT_MAX)) {
        out.push({ field, message: `${spec.label} must be between ${PERCENT_MIN} and ${PERCENT_MAX}.` });
      }
    }
  };
  check(draft.system, SYSTEM_FIELDS, "");
  draft.planets.forEach((planet, i) => {
    check(planet, PLANET_FIELDS, `planets[${i}].`);
    planet.moons.forEach((moon, j) => check(moon, MOON_FIELDS, `planets[${i}].moons[${j}].`));
  });
  if (draft.hasStation && draft.station) check(draft.station, STATION_FIELDS, "space_station.");
  return out;
}

/** "planets[0].moons[1].name" → "planets[0].moons[1]" → "planets[0].moons" → "planets[0]" → "planets" → "". */
export function parentPath(path) {
  const m = /^(.*?)(\[\d+\]|\.[^.[\]]+)$/.exec(path);
  return m ? m[1] : "";
}

/** The server's message without the field path it starts with, starting with a capital. */
export function tidyMessage(message, field) {
  let text = String(message ?? "");
  if (field && text.startsWith(`${field}: `)) text = text.slice(field.length + 2);
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/**
 * The indices of the items whose name (trimmed, as the server compares them) another item
 * also has; empty names are left to the "must not be empty" check.
 * @param {string[]} names
 * @returns {number[]}
 */
export function duplicateNames(names) {
  const byName = new Map();
  names.forEach((name, i) => {
    const key = String(name ?? "").trim();
    if (!key) return;
    if (!byName.has(key)) byName.set(key, []);
    byName.get(key).push(i);
  });
  return [...byName.values()].filter((at) => at.length > 1).flat().sort((a, b) => a - b);
}

// ---- unsaved changes ------------------------------------------------------------------------

/** What saving `draft` would send, as text (without the version): two drafts that send the same are the same. */
export function bodyText(draft) {
  return JSON.stringify(bodyFrom(draft, null));
}

/** Whether saving `draft` would change `base` (the system as loaded, or null for a new one). */
export function hasChanges(draft, base) {
  return bodyText(draft) !== bodyText(draftFrom(base));
}

/** Bumped when what is stored changes shape; a draft in another shape is ignored. */
export const DRAFT_FORMAT = 1;

/**
 * The sessionStorage key of the draft for system `id` (null: a new system) opened with
 * `galaxy` (the page's ?galaxy=, null for none). JSON keeps any galaxy name unambiguous.
 */
export function draftKey(galaxy, id) {
  return `haven.wizard-draft:${JSON.stringify([galaxy ?? "", id === null || id === undefined ? "new" : String(id)])}`;
}

/** The text stored for a draft: the draft and the system it started from (null for a new one). */
export function storedDraft(base, draft) {
  return JSON.stringify({ format: DRAFT_FORMAT, base: base ?? null, draft });
}

const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);

function validPart(p) {
  return isObject(p) && isObject(p.values) && Object.values(p.values).every((v) => typeof v === "string")
    && isObject(p.orig) && isObject(p.extra);
}

function validDraft(d) {
  return isObject(d) && validPart(d.system) && Array.isArray(d.planets)
    && d.planets.every((p) => validPart(p) && Array.isArray(p.moons) && p.moons.every(validPart))
    && (d.station === null || validPart(d.station)) && typeof d.hasStation === "boolean";
}

/**
 * A stored draft read back: `{base, draft}`, or null when the text is not a draft of this
 * format for system `id` (null: a new system). Numbers under `extra` keep their text
 * (see api.js `parseJson`), so they are saved back exactly as they were loaded.
 */
export function readStoredDraft(text, id) {
  if (typeof text !== "string" || !text) return null;
  let data;
  try {
    data = parseJson(text);
  } catch {
    return null;
  }
  if (!isObject(data) || data.format !== DRAFT_FORMAT || !validDraft(data.draft)) return null;
  const base = isObject(data.base) ? data.base : null;
  const wanted = id === null || id === undefined ? null : String(id);
  if ((base ? String(base.id) : null) !== wanted) return null;
  if (base && !Number.isInteger(base.version)) return null;
  const draft = data.draft;
  draft.legacyId ??= null;
  return { base, draft };
}
