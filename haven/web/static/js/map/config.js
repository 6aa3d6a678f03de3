// Which galaxy the map shows: `globalThis.HAVEN_GALAXY` (set by an exported page),
// else the page's `?galaxy=NAME`, else the server's own galaxy.

import { query } from "../api.js";

function pageParam(name) {
  try {
    return new URLSearchParams(globalThis.location?.search ?? "").get(name);
  } catch {
    return null;
  }
}

export const GALAXY = (() => {
  const configured = globalThis.HAVEN_GALAXY;
  if (typeof configured === "string" && configured.trim()) return configured;
  const param = pageParam("galaxy");
  return param && param.trim() ? param : null;
})();

/** A query string with `params` plus `galaxy` when one is chosen. */
export function galaxyQuery(params = {}) {
  return query({ ...params, galaxy: GALAXY });
}
