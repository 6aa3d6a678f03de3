// Live edits for the map: subscribe on the chunk WebSocket, or poll the change feed.
//
// The socket (`/api/v1/chunks/ws`, `subscribe`) pushes `chunk_updated` within a few
// milliseconds of a write (about 20 ms for a write by another process). Where no socket opens (a proxy that does not pass
// WebSockets) or it drops, the map polls `/api/v1/chunks/changes` once a second, and
// meanwhile tries the socket again, 1 s after the failure, then 2, 4, … up to 30 s apart.
// Once a new socket is subscribed the polling stops. The subscription asks for the changes
// since the last clock the map applied, so nothing written in between is lost.
// Both give the same answers: `{clock, nodes, total_systems}` or a reset.

import { API_BASE, api, sleep } from "../api.js";
import { galaxyQuery } from "./config.js";
import { parseTreeJson } from "./octree.js";

/** How often the map asks the server which nodes changed when it has no socket. */
export const LIVE_POLL_MS = 1000;
/** The first wait before trying the socket again, doubled after each failed try... */
export const SOCKET_RETRY_MIN_MS = 1000;
/** ...up to this. */
export const SOCKET_RETRY_MAX_MS = 30_000;
/** A socket that has not answered `subscribed` this long after it was made counts as failed. */
export const SOCKET_SUBSCRIBE_TIMEOUT_MS = 10_000;
/** A socket that closes sooner than this after subscribing does not reset the backoff. */
export const SOCKET_STABLE_MS = 30_000;


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
 * return a promise, and the next batch waits for it (batches from the socket and
 * from polling are applied one at a time, in the order they arrive).
 * `onTransport(name, why)` says which transport is in use: "websocket" once a socket
 * is subscribed, "polling" while there is none. `onSocketRetry({failures, nextTryMs})`
 * reports each failed try and the wait before the next; `register(socket)` gets each
 * new socket (null when it closes), so its owner can close it. While polling,
 * `onPollError(err)` gets each failed poll and `onPollSuccess()` the first one answered after
 * a failure: with every chunk loaded, polls are the only requests that find the server gone.
 */
export async function followChanges(since, { apply, isClosed, onTransport, onSocketRetry, register, onPollError, onPollSuccess }) {
  let clock = since;
  let queue = Promise.resolve();
  /** Apply `feed` after every batch before it; skipped when `stale()` by then. */
  const enqueue = (feed, stale = () => false) => {
    queue = queue
      .then(async () => {
        if (isClosed() || stale()) return;
        await apply(feed);
        if (feed.clock !== undefined) clock = feed.clock;
      })
      .catch(() => {});
    return queue;
  };

  let poller = null;
  let failures = 0;
  let waitMs = 0; // the first try is right away
  let hadSocket = false;
  while (!isClosed()) {
    if (waitMs) await sleep(waitMs);
    if (isClosed()) break;
    // Ask for everything after the last batch applied: a poll answer still waiting in the
    // queue is then dropped (below), and the socket repeats what it held.
    const session = openSocket(() => clock, { enqueue, isClosed, register });
    if (await session.subscribed) {
      poller?.stop();
      poller = null;
      hadSocket = true;
      onTransport?.("websocket");
      const subscribedAt = performance.now();
      await session.closed;
      if (isClosed()) break;
      // A socket that drops soon after subscribing (a proxy that cuts it) keeps backing off.
      const stable = performance.now() - subscribedAt >= SOCKET_STABLE_MS;
      if (stable) failures = 0;
      else failures++;
      waitMs = stable ? SOCKET_RETRY_MIN_MS : Math.min(Math.max(waitMs * 2, SOCKET_RETRY_MIN_MS), SOCKET_RETRY_MAX_MS);
      poller = startPolling(() => clock, { enqueue, isClosed, onPollError, onPollSuccess });
      onTransport?.("polling", "the socket closed");
      onSocketRetry?.({ failures, nextTryMs: waitMs });
    } else {
      if (isClosed()) break;
      failures++;
      waitMs = waitMs ? Math.min(waitMs * 2, SOCKET_RETRY_MAX_MS) : SOCKET_RETRY_MIN_MS;
      if (!poller) {
        poller = startPolling(() => clock, { enqueue, isClosed, onPollError, onPollSuccess });
        onTransport?.("polling", hadSocket ? "the socket closed" : "no socket could be opened");
      }
      onSocketRetry?.({ failures, nextTryMs: waitMs });
    }
  }
  poller?.stop();
}

/** Poll the change feed from `getClock()` once a second until stopped. */
function startPolling(getClock, { enqueue, isClosed, onPollError, onPollSuccess }) {
  let stopped = false;
  let failing = false; // a poll failed and no poll has answered since
  const done = () => stopped || isClosed();
  (async () => {
    while (!done()) {
      await sleep(LIVE_POLL_MS);
      if (done()) return;
      let feed;
      try {
        // Read as text: deep cells exceed what a JSON number parsed by the browser keeps exact.
        const res = await api(`/api/v1/chunks/changes${galaxyQuery({ since: getClock() })}`, { raw: true });
        feed = parseTreeJson(await res.text());
      } catch (err) {
        if (!done()) {
          failing = true;
          onPollError?.(err); // e.g. the server is gone: say so, and try again later
        }
        continue;
      }
      if (done()) return; // a socket took over: it sends everything after the clock it subscribed from
      if (failing) {
        failing = false;
        onPollSuccess?.(); // the server is back (an error of other requests is theirs to clear)
      }
      await enqueue(feed, done);
    }
  })();
  return {
    stop() {
      stopped = true;
    },
  };
}

/**
 * Open a socket and subscribe from `getClock()` when it opens. `subscribed` resolves true
 * when the server confirms, false if the socket fails first (or takes too long); `closed`
 * resolves once it has closed (its batches stay queued, ahead of any that follow).
 */
function openSocket(getClock, { enqueue, isClosed, register }) {
  let resolveSubscribed;
  const subscribed = new Promise((resolve) => {
    resolveSubscribed = resolve;
  });
  let resolveClosed;
  const closed = new Promise((resolve) => {
    resolveClosed = resolve;
  });
  let socket;
  try {
    socket = new WebSocket(socketUrl());
  } catch {
    resolveSubscribed(false);
    resolveClosed();
    return { subscribed, closed };
  }
  register?.(socket);
  const timer = setTimeout(() => {
    resolveSubscribed(false);
    socket.close();
  }, SOCKET_SUBSCRIBE_TIMEOUT_MS);
  socket.onopen = () => {
    if (isClosed()) {
      socket.close();
      return;
    }
    socket.send(JSON.stringify({ type: "subscribe", since: getClock() }));
  };
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") return;
    let message;
    try {
      message = parseTreeJson(event.data);
    } catch {
      return;
    }
    let feed = null;
    if (message.type === "subscribed") {
      clearTimeout(timer);
      resolveSubscribed(true);
    } else if (message.type === "chunk_updated") {
      feed = { clock: message.clock, nodes: message.nodes, total_systems: message.total_systems };
    } else if (message.type === "resync") {
      feed = { clock: message.clock, reset: true, nodes: [] };
    }
    if (feed) enqueue(feed);
  };
  socket.onclose = () => {
    clearTimeout(timer);
    register?.(null, socket);
    resolveSubscribed(false); // no effect once it has resolved true
    resolveClosed(); // batches it sent stay queued; what follows is applied after them
  };
  return { subscribed, closed };
}
