// The map's heads-up display: what is loaded, the point budget, requests, bytes, frame rate,
// plus a status line for notices and a banner for errors. Everything is set as text.

import { el, formatCount } from "../api.js";

export const BUDGET_PRESETS = [100_000, 250_000, 500_000, 1_000_000, 2_000_000, 4_000_000];

export function formatBytes(n) {
  const v = Number(n) || 0;
  if (v < 1024) return `${v} B`;
  if (v < 1024 ** 2) return `${(v / 1024).toFixed(1)} KiB`;
  if (v < 1024 ** 3) return `${(v / 1024 ** 2).toFixed(1)} MiB`;
  return `${(v / 1024 ** 3).toFixed(2)} GiB`;
}

export class Hud {
  /**
   * @param {HTMLElement} container
   * @param {{budget: number, minBudget: number, maxBudget: number, onBudget: (n: number) => void}} options
   */
  constructor(container, { budget, minBudget, maxBudget, onBudget }) {
    this.values = {};
    const row = (key, label) => {
      const value = el("dd", { "data-stat": key }, "–");
      this.values[key] = value;
      return [el("dt", {}, label), value];
    };
    this.budgetInput = el("input", {
      type: "number",
      id: "map-budget",
      min: minBudget,
      max: maxBudget,
      step: 5_000, // from min (5,000): a step that divides the presets, so the arrows keep to round numbers
      value: budget,
      list: "map-budget-presets",
      "aria-describedby": "map-budget-help",
    });
    const presets = el("datalist", { id: "map-budget-presets" }, ...BUDGET_PRESETS.map((n) => el("option", { value: n })));
    this.budget = budget;
    const apply = () => {
      const text = this.budgetInput.value.trim();
      const n = Math.round(Number(text));
      if (!text || !Number.isFinite(n)) {  // emptied or not a number: keep the budget, show it again
        this.budgetInput.value = String(this.budget);
        return;
      }
      const clamped = Math.min(maxBudget, Math.max(minBudget, n));
      this.budgetInput.value = String(clamped);
      this.budget = clamped;
      onBudget(clamped);
    };
    this.budgetInput.addEventListener("change", apply);
    this.budgetInput.addEventListener("keydown", (e) => {
      if (e.key === "Enter") apply();
    });

    this.element = el(
      "section",
      { className: "map-hud", "aria-label": "Map statistics" },
      el(
        "dl",
        {},
        row("systems", "Systems loaded"),
        row("drawn", "Drawn"),
        row("requests", "Requests"),
        row("received", "Received"),
        row("fps", "Frame rate"),
      ),
      el(
        "label",
        { className: "map-budget", for: "map-budget" },
        "Point budget",
        this.budgetInput,
        presets,
      ),
      el("p", { id: "map-budget-help", className: "map-hint" }, "Most stars held in memory at once."),
    );
    this.status = el("p", { className: "map-status", id: "map-status", role: "status", "aria-live": "polite" });
    this.banner = el("div", { className: "map-error", id: "map-error", role: "alert", hidden: true });
    container.append(this.element, this.status, this.banner);
  }

  /** Refresh the figures from map.stats(). */
  update(s) {
    this.values.systems.textContent = `${formatCount(s.loadedSystems)} of ${formatCount(s.totalSystems)}`;
    this.values.drawn.textContent = `${formatCount(s.drawnSystems)} in ${formatCount(s.chunksVisible)} chunks`;
    this.values.requests.textContent = `${s.inFlight} of ${s.maxInFlight} · ${s.decoder} decode`;
    this.values.received.textContent = formatBytes(s.bytesReceived);
    this.values.fps.textContent = s.rendering ? `${Math.round(s.fps)} fps` : `${Math.round(s.fps)} fps (idle)`;
  }

  setBudget(n) {
    this.budget = n;
    if (document.activeElement !== this.budgetInput) this.budgetInput.value = String(n);
  }

  /** A short notice under the HUD ("" clears it). */
  notice(text) {
    this.status.textContent = text ?? "";
  }

  /** Clear the notice if it still says `text` (another notice has taken its place otherwise). */
  clearNotice(text) {
    if (this.status.textContent === text) this.notice("");
  }

  /** A plain, visible error ("" or null hides it). */
  error(text) {
    this.banner.textContent = text ?? "";
    this.banner.hidden = !text;
  }
}
