// Live edits for the map: subscribe on the chunk WebSocket, or poll the change feed.
//
// The socket (`/api/v1/chunks/ws`, `subscribe`) pushes `chunk_updated` within a few
// milliseconds of a write (about 20 ms for a write by another process). Where no socket opens (a proxy that does not pass
// WebSockets) or it drops, the map polls `/api/v1/chunks/changes` once a second.
// Both give the same answers: `{clock, nodes, total_systems}` or a reset.

import { API_BASE, api, sleep } from "../api.js";
import { galaxyQuery } from "./config.js";

/** How often the map asks the server which nodes changed when it has no socket. */
export const LIVE_POLL_MS = 1000;


/** The chunk socket's ws:// (or wss://) address, on the API's server. */
export function socketUrl() {
  const base = API_BASE || location.origin;
  return `${base}/api/v1/chunks/ws${galaxyQuery()}`.replace(/^http/, "ws");
}

/**
 * Follow the changes after `since` until `isClosed()`.
 *
 * `apply(feed)` gets `{clock, nodes, total_systems}` for each batch of changed
 * nodes, or `{clock, reset: true}` when the octree must be read again; it may
 * return a promise, and the next batch waits for it. `onTransport(name)` says
 * which transport is in use: "websocket", then "polling" if the socket fails.
 */
export async function followChanges(since, { apply, isClosed, onTransport, register }) {
  let clock = since;
  const worked = await followSocket(clock, {
    apply: async (feed) => {
      await apply(feed);
      if (feed.clock !== undefined) clock = feed.clock;
    },
    isClosed, onTransport, register,
  });
  if (isClosed()) return;
  onTransport?.("polling", worked ? "the socket closed" : "no socket could be opened");
  while (!isClosed()) {
    await sleep(LIVE_POLL_MS);
    if (isClosed()) return;
    let feed;
    try {
      feed = await api(`/api/v1/chunks/changes${galaxyQuery({ since: clock })}`);
    } catch {
      continue; // the chunk requests report an unreachable server; try again later
    }
    if (isClosed()) return;
    await apply(feed);
    clock = feed.clock;
  }
}

/** Subscribe on the socket; resolves when it closes (true if it ever opened). */
function followSocket(since, { apply, isClosed, onTransport, register }) {
  return new Promise((resolve) => {
    let socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch {
      resolve(false);
      return;
    }
    register?.(socket);
    let opened = false;
    let chain = Promise.resolve(); // batches are applied one after another, in order
    socket.onopen = () => {
      opened = true;
      onTransport?.("websocket");
      socket.send(JSON.stringify({ type: "subscribe", since }));
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      let feed = null;
      if (message.type === "chunk_updated") {
        feed = { clock: message.clock, nodes: message.nodes, total_systems: message.total_systems };
      } else if (message.type === "resync") {
        feed = { clock: message.clock, reset: true, nodes: [] };
      }
      if (feed) chain = chain.then(() => (isClosed() ? null : apply(feed))).catch(() => {});
    };
    socket.onclose = () => {
      register?.(null);
      chain.then(() => resolve(opened));
    };
  });
}
