// Highlighting on the map: a region (?region=NAME) or a list of systems (?ids=1,2,3).
//
// A region: a page of its systems is fetched, marked with rings and framed by
// the camera, and the rest of the galaxy is dimmed. As chunks arrive, one of
// those systems is found among the drawn stars; its colour index (confirmed by
// asking the server which system that star is) then lights the whole region.
//
// Systems by id: each is fetched (a few at a time), marked and framed. Ids are unique
// across galaxies and an id route answers for any galaxy unless one is named, so every
// fetch names the map's galaxy: another galaxy's id counts as not found.

import { api, countOf, formatCount, query } from "../api.js";
import { GALAXY, galaxyQuery } from "./config.js";
import { isStalePick, pickPath } from "./galaxy-map.js";

export const MAX_IDS = 1000;
export const ID_CONCURRENCY = 4;
const REGION_SAMPLE = 100;

/** Positive integer ids from "1,2, 3" (duplicates and junk dropped, at most MAX_IDS). */
export function parseIds(text) {
  const out = [];
  const seen = new Set();
  for (const part of String(text ?? "").split(/[\s,]+/)) {
    if (!/^\d+$/.test(part)) continue;
    const n = Number(part);
    if (!Number.isSafeInteger(n) || n <= 0 || seen.has(n)) continue;
    seen.add(n);
    out.push(n);
    if (out.length >= MAX_IDS) break;
  }
  return out;
}

/**
 * Run `fn` over `items` with at most `limit` calls pending at once.
 * Resolves to [{ok, value|error}] in item order; reports the peak concurrency to `onPeak`.
 */
export async function mapWithLimit(items, limit, fn, onPeak = () => {}) {
  const results = new Array(items.length);
  let next = 0;
  let running = 0;
  let peak = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      running++;
      peak = Math.max(peak, running);
      onPeak(peak);
      try {
        results[i] = { ok: true, value: await fn(items[i]) };
      } catch (error) {
        results[i] = { ok: false, error };
      } finally {
        running--;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const positionOf = (s) => [Number(s.x), Number(s.y), Number(s.z)];

export class Highlighter {
  /**
   * @param {import("./galaxy-map.js").GalaxyMap} map
   * @param {{notice: (text: string) => void}} ui
   */
  constructor(map, ui) {
    this.map = map;
    this.ui = ui;
    this.token = 0;
    this.region = null; // {name, candidates, tried, resolving, index}
    this.idsPeak = 0;
    this.summary = null;
  }

  clear() {
    this.token++;
    this.region = null;
    this.summary = null;
    this.map.setHighlight("none");
    this.map.markHighlights([]);
    this.ui.notice("");
  }

  /** Highlight region `name`; fly there unless `fly` is false. */
  async showRegion(name, { fly = true } = {}) {
    this.clear();
    const token = this.token;
    this.ui.notice(`Finding region “${name}”…`);
    let page;
    try {
      page = await api(`/api/v1/systems${galaxyQuery({ region: name, limit: REGION_SAMPLE })}`);
    } catch (err) {
      if (token !== this.token) return;
      this.ui.notice(err?.status === 404 ? `No region named “${name}”.` : `The region could not be loaded: ${err?.message ?? err}`);
      return;
    }
    if (token !== this.token) return;
    const items = (page?.items ?? []).filter((s) => [s.x, s.y, s.z].every(Number.isFinite));
    if (!items.length) {
      this.ui.notice(`Region “${name}” has no systems.`);
      return;
    }
    this.region = { name, candidates: items, tried: new Set(), resolving: false, index: null };
    this.summary = { kind: "region", name, total: page.total ?? items.length };
    this.map.setHighlight("dim");
    this.map.markHighlights(items.map(positionOf));
    const total = page.total ?? items.length;
    this.ui.notice(`Region “${name}”: ${countOf(total, "system")}.`);
    this.resolveRegion();
    if (fly) await this.map.flyToFit(items.map(positionOf), 300);
  }

  /** Called for every chunk the map loads: try to learn the region's colour index. */
  onChunk() {
    if (this.region && this.region.index === null) this.resolveRegion();
  }

  async resolveRegion() {
    const r = this.region;
    if (!r || r.resolving || r.index !== null) return;
    const token = this.token;
    r.resolving = true;
    try {
      for (const s of r.candidates) {
        if (r.tried.has(s.id)) continue;
        const hit = this.map.findPoint(s.x, s.y, s.z);
        if (!hit) continue;
        r.tried.add(s.id);
        let found;
        try {
          found = await api(pickPath(hit));
        } catch (err) {
          if (token === this.token && isStalePick(err)) {
            // The chunk drawn is older than its node: fetch it again, and try this one once it is back.
            r.tried.delete(s.id);
            this.map.loader?.invalidate(hit.key);
          }
          continue;
        }
        if (token !== this.token) return;
        if (found?.region === r.name) {
          r.index = hit.colourIndex;
          this.map.setHighlight("region", hit.colourIndex);
          this.map.markHighlights([]);
          return;
        }
      }
    } finally {
      r.resolving = false;
    }
  }

  /** Highlight systems by id (fetched ID_CONCURRENCY at a time); fly to them unless `fly` is false. */
  async showIds(ids, { fly = true } = {}) {
    this.clear();
    const token = this.token;
    if (!ids.length) return;
    this.ui.notice(`Loading ${countOf(ids.length, "system")}…`);
    // Without ?galaxy= the map shows the server's galaxy: its name comes with the octree.
    const galaxy = GALAXY ?? (await this.map.galaxyName);
    if (token !== this.token) return;
    const results = await mapWithLimit(
      ids,
      ID_CONCURRENCY,
      (id) => api(`/api/v1/systems/${id}${query({ galaxy })}`),
      (peak) => {
        this.idsPeak = Math.max(this.idsPeak, peak);
      },
    );
    if (token !== this.token) return;
    const systems = results.filter((r) => r.ok && r.value).map((r) => r.value);
    const missing = results.filter((r) => !r.ok && r.error?.status === 404).length;
    const failed = results.filter((r) => !r.ok).length - missing;
    this.summary = { kind: "ids", requested: ids.length, found: systems.length, missing, failed };
    const parts = [`Highlighting ${formatCount(systems.length)} of ${countOf(ids.length, "system")}`];
    if (missing) parts.push(`${formatCount(missing)} not found`);
    if (failed) parts.push(`${formatCount(failed)} could not be loaded`);
    this.ui.notice(`${parts.join(", ")}.`);
    if (!systems.length) return;
    this.map.setHighlight("dim");
    this.map.markHighlights(systems.map(positionOf));
    if (fly) await this.map.flyToFit(systems.map(positionOf));
  }
}
