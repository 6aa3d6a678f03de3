// system.html?id=N or system.html?name=NAME: fetch the system, then hand it to the system view.
// Errors (unknown system, server unreachable, no WebGL) are shown on the page as text.
// window.havenSystemView is the view's handle (see system-view.js) once it is drawn.

import { api, API_BASE, linkSiteNav, pageGalaxy, query, systemByName } from "./api.js";
import { mountSystemView } from "./system-view.js";

const params = new URLSearchParams(location.search);
const stage = document.getElementById("system-view");
const panel = document.getElementById("system-panel");
const errorBox = document.getElementById("system-error");

linkSiteNav(pageGalaxy());

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
  panel.replaceChildren();
  panel.hidden = true;
}

function where() {
  if (API_BASE) return API_BASE;
  return location.origin && location.origin !== "null" ? location.origin : "(no server address set)";
}

async function load() {
  const id = (params.get("id") ?? "").trim();
  const name = params.get("name");
  if (id) {
    if (!/^\d+$/.test(id)) throw Object.assign(new Error(`“${id}” is not a system id.`), { shown: true });
    // With ?galaxy= the id must be that galaxy's, as the page's links and header say.
    return api(`/api/v1/systems/${id}${query({ galaxy: pageGalaxy() })}`);
  }
  if (name) return systemByName(name, pageGalaxy());
  throw Object.assign(new Error("Which system? Open this page as system.html?id=N or system.html?name=NAME."), { shown: true });
}

/** What a 404 means: the galaxy of ?galaxy= is unknown (the server names the field), or the system is. */
function notFound(err) {
  const id = params.get("id");
  if (err.field === "galaxy") return `No galaxy named “${pageGalaxy()}”.`;
  if (id && pageGalaxy()) return `No system with id ${id} in galaxy “${pageGalaxy()}”.`;
  return id ? `No system with id ${id}.` : `No system named “${params.get("name")}”.`;
}

async function main() {
  let system;
  try {
    system = await load();
  } catch (err) {
    if (err?.shown) showError(err.message);
    else if (err?.unreachable) showError(`Haven's API cannot be reached at ${where()}. Is \`haven serve\` running?`);
    else if (err?.status === 404) showError(notFound(err));
    else showError(`The system could not be loaded: ${err?.message ?? err}`);
    return;
  }
  document.title = `${system.name} · Haven`;
  // The header keeps the URL's galaxy, else the one the system belongs to.
  linkSiteNav(pageGalaxy() ?? system.galaxy);
  try {
    const view = mountSystemView(stage, system, {
      panel,
      mapHref: (s) => `map.html${query({ focus: String(s.name), galaxy: s.galaxy ?? pageGalaxy() })}`,
    });
    window.havenSystemView = view;
  } catch (err) {
    showError(`This browser cannot draw the system view (WebGL is not available): ${err?.message ?? err}`);
  }
}

main();
