// Which galaxy the map shows: `globalThis.HAVEN_GALAXY` (set by an exported page),
// else the page's `?galaxy=NAME`, else the server's own galaxy.

import { pageGalaxy, query } from "../api.js";

export const GALAXY = pageGalaxy();

/** A query string with `params` plus `galaxy` when one is chosen. */
export function galaxyQuery(params = {}) {
  return query({ ...params, galaxy: GALAXY });
}
