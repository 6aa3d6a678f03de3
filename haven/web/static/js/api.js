// Haven's HTTP API from the browser: one fetch wrapper, one error type, safe DOM building.
//
// Every page of the front end talks to the server through `api()`, so errors look
// the same everywhere: an `ApiError` with the HTTP status, the server's message and
// the field it names (`planets[0].moons[1].name`), or status 0 when the server
// cannot be reached at all.

/** Where the API lives: same origin, unless a page (e.g. a static export) sets HAVEN_API_BASE. */
export const API_BASE = String(globalThis.HAVEN_API_BASE ?? "").replace(/\/+$/, "");

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when the server could not be reached
   * @param {string} message what went wrong, in the server's words
   * @param {{code?: string, field?: string|null, body?: any}} [details]
   */
  constructor(status, message, details = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = details.code ?? null;
    this.field = details.field ?? null;
    this.body = details.body ?? null;
  }

  /** True when the request never got an answer (server down, network gone). */
  get unreachable() {
    return this.status === 0;
  }
}

/** A query string from an object, leaving out null, undefined and "" values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * `href` (a page of this site) with `galaxy` set in its query string; unchanged when `galaxy`
 * is empty or not a string.
 */
export function withGalaxy(href, galaxy) {
  if (typeof galaxy !== "string" || !galaxy.trim()) return href;
  const at = href.indexOf("?");
  const params = new URLSearchParams(at < 0 ? "" : href.slice(at + 1));
  params.set("galaxy", galaxy);
  return `${at < 0 ? href : href.slice(0, at)}?${params}`;
}

/** The site header's links (by id) and the page each one opens. */
const SITE_NAV = { "nav-home": "/", "nav-map": "/map.html", "nav-add": "/wizard.html" };

/**
 * Point the site header's Control Room, Map and Add system links at `galaxy`, so following
 * them keeps it; with no galaxy they open the plain pages. They lead to the server the page
 * talks to: a page opened from disk (`haven map --galaxy`) would otherwise link to file:///.
 */
export function linkSiteNav(galaxy) {
  for (const [id, href] of Object.entries(SITE_NAV)) {
    const link = globalThis.document?.getElementById(id);
    if (link) link.href = API_BASE + withGalaxy(href, galaxy);
  }
}

/** The galaxy a page shows: `HAVEN_GALAXY` (set by an exported page), else `?galaxy=`, else null (the server's). */
export function pageGalaxy() {
  const configured = globalThis.HAVEN_GALAXY;
  return typeof configured === "string" && configured.trim() ? configured : urlGalaxy();
}

/** The page URL's `?galaxy=`, or null when it names none. */
export function urlGalaxy() {
  const g = new URLSearchParams(globalThis.location?.search ?? "").get("galaxy") ?? "";
  return g.trim() ? g : null;
}

/** A path segment for a name: slashes and every other reserved character are escaped. */
export function segment(name) {
  return encodeURIComponent(String(name));
}

/**
 * One system (with planets, moons and station) by its exact name, in `galaxy` (null: the server's).
 * A name that is exactly "." or ".." cannot travel as a path segment from a browser: the URL
 * standard drops such segments even when percent-encoded. Those are found by a prefix jump in
 * name order (one index lookup), then fetched by id.
 */
export async function systemByName(name, galaxy = null) {
  const exact = String(name);
  if (exact !== "." && exact !== "..") return api(`/api/v1/systems/by-name/${segment(exact)}${query({ galaxy })}`);
  const page = await api(`/api/v1/systems${query({ prefix: exact, limit: 1, galaxy })}`);
  const found = page?.items?.[0];
  if (!found || found.name !== exact) {
    throw new ApiError(404, `no system named '${exact}'`, { code: "not_found", field: "name" });
  }
  return api(`/api/v1/systems/${found.id}${query({ galaxy })}`);
}

/** Whether this browser can keep a number's JSON text (Chrome 114+, Firefox 135+, Safari 18.4+). */
const KEEPS_NUMBER_TEXT = typeof JSON.rawJSON === "function" && typeof JSON.isRawJSON === "function";

/** JSON.parse reviver: a number a JS number cannot write back as it came (2^53 + 1, 1.0) stays its text. */
function keepNumberText(key, value, context) {
  if (typeof value !== "number" || typeof context?.source !== "string") return value;
  return JSON.stringify(value) === context.source ? value : JSON.rawJSON(context.source);
}

/** Numbers kept as text stay so inside `extra` (so they are saved back exactly as loaded); elsewhere they are numbers. */
function numbersOutsideExtra(value, inExtra) {
  if (JSON.isRawJSON(value)) return inExtra ? value : Number(value.rawJSON);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = numbersOutsideExtra(value[i], inExtra);
  } else if (value !== null && typeof value === "object") {
    for (const key of Object.keys(value)) value[key] = numbersOutsideExtra(value[key], inExtra || key === "extra");
  }
  return value;
}

/**
 * An API answer's JSON. Values under `extra` are the user's own data, which Haven keeps
 * exactly (integers beyond 2^53, such as chat ids, and `1.0` as written): the browser keeps
 * such numbers as their JSON text (`JSON.rawJSON`), so an edit sends them back unchanged and
 * `JSON.stringify` shows them as stored. Every other number is a plain JS number.
 */
export function parseJson(text) {
  if (!KEEPS_NUMBER_TEXT) return JSON.parse(text);
  return numbersOutsideExtra(JSON.parse(text, keepNumberText), false);
}

/**
 * Call the API. Resolves to the parsed JSON body (null for 204), rejects with ApiError.
 * @param {string} path e.g. "/api/v1/systems"
 * @param {{method?: string, body?: any, signal?: AbortSignal, raw?: boolean}} [options]
 *   raw: resolve to the Response itself (for binary bodies such as CHNK chunks)
 */
export async function api(path, options = {}) {
  const init = { method: options.method ?? "GET", signal: options.signal, headers: {} };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(API_BASE + path, init);
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiError(0, "Haven's API cannot be reached. Is `haven serve` running?");
  }
  if (response.ok && options.raw) return response;
  if (response.status === 204 || response.status === 304) return null;
  const text = await response.text();
  let body = null;
  try {
    body = text ? parseJson(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const detail = body?.error;
    if (detail && typeof detail === "object") {
      throw new ApiError(response.status, detail.message ?? response.statusText, {
        code: detail.code,
        field: detail.field,
        body,
      });
    }
    const message = typeof detail === "string" ? detail : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, { body });
  }
  return body;
}

/**
 * Build a DOM element. Text is always set as text (never parsed as HTML), so names
 * from users cannot inject markup.
 * @param {string} tag
 * @param {Record<string, any>} [attrs] attributes; "on*" keys add listeners; "dataset" sets data-*
 * @param {...(Node|string|number|null|undefined|false)} children
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key === "className") {
      node.className = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A promise that resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Call `fn` once `waitMs` have passed without another call (for search-as-you-type). */
export function debounce(fn, waitMs = 250) {
  let timer = null;
  const call = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), waitMs);
  };
  /** Drop a call still waiting (its work was done another way meanwhile). */
  call.cancel = () => clearTimeout(timer);
  return call;
}

/** "1,234,567" in the reader's locale. */
export function formatCount(n) {
  return Number(n ?? 0).toLocaleString();
}

/** "1 system", "2 systems": a count and its noun (`plural` for irregular ones). */
export function countOf(n, noun, plural = `${noun}s`) {
  return `${formatCount(n)} ${Number(n) === 1 ? noun : plural}`;
}
