// The map's search box: type part of a name (or a material), pick a result, and the
// camera flies there. Results are built as text.

import { api, debounce, el } from "../api.js";
import { galaxyQuery } from "./config.js";

const RESULTS = 8;

export class SearchBox {
  /**
   * @param {HTMLElement} container
   * @param {{onChoose: (item: object) => void}} options
   */
  constructor(container, { onChoose }) {
    this.onChoose = onChoose;
    this.items = [];
    this.active = -1;
    this.controller = null;
    this.itemsQuery = null; // the query `items` answer (a search still on its way has not answered yet)
    this.input = el("input", {
      type: "search",
      id: "map-search",
      placeholder: "Find a system…",
      autocomplete: "off",
      spellcheck: "false",
      role: "combobox",
      "aria-expanded": "false",
      "aria-controls": "map-search-results",
      "aria-label": "Find a system",
      maxlength: 200,
    });
    this.list = el("ul", { id: "map-search-results", className: "map-search-results", role: "listbox", hidden: true });
    this.element = el("div", { className: "map-search", role: "search" }, this.input, this.list);
    container.append(this.element);

    this.typed = debounce(() => this.search(this.input.value), 220);
    this.input.addEventListener("input", this.typed);
    this.input.addEventListener("keydown", (e) => this.onKey(e));
    this.input.addEventListener("blur", () => setTimeout(() => this.close(), 200));
  }

  async search(text) {
    const q = text.trim();
    this.controller?.abort();
    if (!q) {
      this.render([]);
      return [];
    }
    const controller = new AbortController();
    this.controller = controller;
    try {
      // Search answers come in id order: in a big galaxy a name typed in full would lose to
      // older names containing it, so the system of exactly that name, if any, comes first.
      // (a prefix jump of one: the first name at or after q, an answer without a 404 when none is q)
      const [answer, jump] = await Promise.all([
        api(`/api/v1/systems/search${galaxyQuery({ q, limit: RESULTS })}`, { signal: controller.signal }),
        api(`/api/v1/systems${galaxyQuery({ prefix: q, limit: 1 })}`, { signal: controller.signal }).catch(() => null),
      ]);
      if (controller.signal.aborted) return [];
      const found = answer?.items ?? [];
      const exact = jump?.items?.[0]?.name === q ? jump.items[0] : null;
      this.render(exact ? [exact, ...found.filter((item) => item.id !== exact.id)].slice(0, RESULTS) : found, q);
      return this.items;
    } catch (err) {
      if (err?.name === "AbortError") return [];
      this.renderMessage(err?.unreachable ? "Haven's API cannot be reached." : `Search failed: ${err?.message ?? err}`);
      return [];
    }
  }

  render(items, q = "") {
    this.items = items;
    this.itemsQuery = q;
    this.active = items.length ? 0 : -1;
    if (!q) {
      this.close();
      return;
    }
    if (!items.length) {
      this.renderMessage("No systems match.");
      return;
    }
    this.list.replaceChildren(
      ...items.map((item, i) =>
        el(
          "li",
          {
            role: "option",
            id: `map-search-option-${i}`,
            className: "map-search-item",
            "aria-selected": i === this.active ? "true" : "false",
            onmousedown: (e) => {
              e.preventDefault();
              this.choose(i);
            },
          },
          el("span", { className: "map-search-name" }, String(item.name ?? "")),
          item.region ? el("span", { className: "map-search-region" }, String(item.region)) : null,
        ),
      ),
    );
    this.open();
    if (this.active >= 0) this.highlight(this.active);
  }

  renderMessage(text) {
    this.items = [];
    this.itemsQuery = null;
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    this.list.replaceChildren(el("li", { className: "map-muted" }, text));
    this.open();
  }

  open() {
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
  }

  close() {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  highlight(i) {
    this.active = i;
    [...this.list.children].forEach((li, k) => li.setAttribute("aria-selected", k === i ? "true" : "false"));
    this.input.setAttribute("aria-activedescendant", `map-search-option-${i}`); // read out by screen readers
  }

  async onKey(e) {
    if (e.key === "ArrowDown" && this.items.length) {
      e.preventDefault();
      this.highlight((this.active + 1) % this.items.length);
    } else if (e.key === "ArrowUp" && this.items.length) {
      e.preventDefault();
      this.highlight((this.active - 1 + this.items.length) % this.items.length);
    } else if (e.key === "Enter") {
      e.preventDefault();
      this.typed.cancel(); // searched here and now: the search typing scheduled would reopen the list later
      if (this.itemsQuery !== this.input.value.trim() || !this.items.length) await this.search(this.input.value);
      if (this.items.length) this.choose(Math.max(0, this.active));
    } else if (e.key === "Escape" && !this.list.hidden) {
      e.preventDefault(); // this Esc closes the suggestions only, not the details panel too
      this.typed.cancel(); // and a search still on its way must not reopen them
      this.controller?.abort();
      this.close();
    }
  }

  choose(i) {
    const item = this.items[i];
    if (!item) return;
    this.typed.cancel();
    this.controller?.abort(); // a search still on its way would reopen the list over the details
    this.close();
    this.onChoose(item);
  }
}
