// The panel that shows the system behind a clicked star. Names and every other
// field from the server are put in as text, never as markup.
//
// While it is open it keeps the id and last record of its system (`followId`, `last`),
// so the page can ask for the system again when a live edit may have changed it
// (map.js), show the new record, or say that it was deleted.

import { API_BASE, el } from "../api.js";
import { SYSTEM_FIELDS } from "../labels.js";
import { regionCss } from "./palette.js";


function coords(s) {
  const f = (v) => (typeof v === "number" ? v.toLocaleString(undefined, { maximumFractionDigits: 2 }) : "?");
  return `${f(s.x)}, ${f(s.y)}, ${f(s.z)} LY`;
}

/**
 * Where "Open system view" goes for a system id: next to this page, or on the
 * API's server when the map runs from a copy on disk (HAVEN_API_BASE).
 */
export function systemViewHref(id) {
  const path = `system.html?id=${encodeURIComponent(String(id))}`;
  return API_BASE ? `${API_BASE}/${path}` : path;
}

export class DetailsPanel {
  /**
   * @param {HTMLElement} container
   * @param {{onFly?: (system: object) => void, onHide?: () => void}} options
   *   onHide: the panel was closed (Esc or ×): the page clears the selection ring
   */
  constructor(container, { onFly, onHide } = {}) {
    this.onFly = onFly ?? (() => {});
    this.onHide = onHide ?? (() => {});
    this.body = el("div", { className: "map-details-body" });
    this.closeButton = el(
      "button",
      { type: "button", className: "map-close", "aria-label": "Close details", onclick: () => this.hide() },
      "×",
    );
    this.element = el(
      "aside",
      { className: "map-details", id: "map-details", "aria-label": "System details", "aria-live": "polite", hidden: true },
      this.closeButton,
      this.body,
    );
    this.system = null; // the record on show; null while loading, after an error, or once deleted
    this.followId = null; // the system the panel is about (still set once it was deleted)
    this.last = null; // its last record, for its place and name after a delete
    this.extra = {};
    container.append(this.element);
    document.addEventListener("keydown", (e) => {
      // An Esc another control used (the search box closing its suggestions) is not for the panel.
      if (e.key === "Escape" && !e.defaultPrevented && !this.element.hidden) this.hide();
    });
  }

  show(...children) {
    this.body.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
    this.element.hidden = false;
  }

  /** The panel is about no system any more (a new one is on its way, or it failed, or closed). */
  forget() {
    this.system = null;
    this.followId = null;
    this.last = null;
    this.extra = {};
  }

  loading(text = "Loading system…") {
    this.forget();
    this.show(el("p", { className: "map-muted" }, text));
  }

  error(text) {
    this.forget();
    this.show(el("p", { className: "map-panel-error", role: "alert" }, text));
  }

  hide() {
    this.element.hidden = true;
    this.forget();
    this.onHide();
  }

  /** The system shown was deleted: say so instead of its old fields, and keep following its id (an undo brings it back). */
  showDeleted() {
    this.system = null;
    this.show(
      el("h2", { className: "map-details-name" }, String(this.last?.name ?? "")),
      el("p", { className: "map-panel-error", role: "status" }, "This system was deleted."),
    );
  }

  /**
   * Show a system (the JSON of /api/v1/systems/{id}).
   * @param {object} s
   * @param {{colourIndex?: number|null, note?: string}} [extra]
   */
  showSystem(s, extra = {}) {
    this.system = this.last = s;
    this.followId = s.id;
    this.extra = extra;
    const rows = [];
    const swatch =
      extra.colourIndex !== undefined && extra.colourIndex !== null
        ? el("span", { className: "map-swatch", style: `background: ${regionCss(extra.colourIndex)}`, "aria-hidden": "true" })
        : null;
    rows.push(el("dt", {}, "Region"), el("dd", {}, swatch, s.region ?? "None"));
    rows.push(el("dt", {}, "Position"), el("dd", {}, coords(s)));
    for (const [key, label] of SYSTEM_FIELDS) {
      const v = s[key];
      if (v !== null && v !== undefined && v !== "") rows.push(el("dt", {}, label), el("dd", {}, String(v)));
    }
    const planets = Array.isArray(s.planets) ? s.planets : [];
    const moons = planets.reduce((n, p) => n + (Array.isArray(p.moons) ? p.moons.length : 0), 0);
    if (Array.isArray(s.planets)) {
      rows.push(
        el("dt", {}, "Planets"),
        el("dd", {}, planets.length ? `${planets.length} (${moons} ${moons === 1 ? "moon" : "moons"})` : "None recorded"),
      );
    }
    if (s.space_station) rows.push(el("dt", {}, "Station"), el("dd", {}, String(s.space_station.name ?? "")));
    const planetList = planets.length
      ? el("ul", { className: "map-planets" }, ...planets.slice(0, 12).map((p) => el("li", {}, String(p.name ?? ""))),
          planets.length > 12 ? el("li", { className: "map-muted" }, `and ${planets.length - 12} more`) : null)
      : null;
    this.show(
      el("h2", { className: "map-details-name" }, String(s.name ?? "")),
      extra.note ? el("p", { className: "map-muted" }, extra.note) : null,
      el("dl", { className: "map-fields" }, ...rows),
      planetList,
      s.derived ? el("p", { className: "map-muted" }, "Planets, moons and station are derived from this system's seed.") : null,
      el(
        "div",
        { className: "map-actions" },
        el("a", { className: "btn btn-primary", href: systemViewHref(s.id), id: "open-system-view" }, "Open system view"),
        el("button", { type: "button", className: "btn", onclick: () => this.onFly(s) }, "Fly here"),
      ),
    );
  }
}
