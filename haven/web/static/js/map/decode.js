// Decoding CHNK chunks for the map, in a Web Worker when one can start, else on the main thread.
//
//   const decoder = createDecoder();
//   const chunk = await decoder.decode(arrayBuffer, { centre, halfSize, cell });
//   decoder.kind   // "worker" or "main"
//
// The worker is a module worker at `globalThis.HAVEN_WORKER_URL` when a page sets
// it, else ./chunk-worker.js next to this file. Pages opened from disk (file://)
// cannot start module workers; there, and whenever the worker fails to load,
// chunks are decoded on the main thread instead. Jobs are only handed to the
// worker once it has said it is ready, so no chunk is lost in the switch.

import { decodeChunk } from "../chnk.js";

/** How long a worker may take to start before the main thread takes over. */
const WORKER_START_TIMEOUT_MS = 10_000;

/**
 * Decode one chunk into what the map draws: positions relative to the node's
 * min corner (`origin`), for float32 precision deep in the tree.
 */
export function decodeForMap(buffer, options) {
  const c = decodeChunk(buffer, { ...options, relative: true });
  const version = c.metadata?.version;
  return {
    level: c.level,
    cell: c.cell, // a BigInt deep in the tree (beyond 2^53)
    count: c.count,
    positions: c.positions,
    colours: c.colours,
    origin: c.origin,
    side: c.side,
    step: c.step,
    version: typeof version === "number" ? version : null,
  };
}

/** The buffers a decoded chunk can hand over without copying. */
export function transferables(chunk) {
  return [chunk.positions.buffer, chunk.colours.buffer];
}

function workerUrl() {
  const configured = globalThis.HAVEN_WORKER_URL;
  if (configured !== undefined && configured !== null && configured !== "") return configured;
  return new URL("./chunk-worker.js", import.meta.url);
}

/**
 * A chunk decoder. `decode(buffer, options)` resolves to decodeForMap()'s result;
 * the buffer is transferred to the worker (do not reuse it).
 */
export function createDecoder() {
  let worker = null;
  let ready = false;
  let kind = "main";
  let nextId = 1;
  let startTimer = null;
  const waiting = []; // jobs queued until the worker is ready
  const running = new Map(); // id -> job, posted to the worker

  const runHere = (job) => {
    try {
      job.resolve(decodeForMap(job.buffer, job.options));
    } catch (err) {
      job.reject(err);
    }
  };

  const useMainThread = () => {
    clearTimeout(startTimer);
    if (worker) {
      worker.terminate();
      worker = null;
    }
    kind = "main";
    ready = false;
    // A job already posted has given its buffer away; it fails and the map asks again.
    for (const job of running.values()) job.reject(new Error("the chunk decoder stopped; the chunk will be fetched again"));
    running.clear();
    for (const job of waiting.splice(0)) runHere(job);
  };

  const post = (job) => {
    const id = nextId++;
    running.set(id, job);
    worker.postMessage({ id, buffer: job.buffer, options: job.options }, [job.buffer]);
  };

  try {
    worker = new Worker(workerUrl(), { type: "module", name: "haven-chunk-decoder" });
    kind = "worker";
    worker.addEventListener("message", (event) => {
      const data = event.data ?? {};
      if (data.ready) {
        ready = true;
        clearTimeout(startTimer);
        for (const job of waiting.splice(0)) post(job);
        return;
      }
      const job = running.get(data.id);
      if (!job) return;
      running.delete(data.id);
      if (data.ok) {
        job.resolve(data.chunk);
      } else {
        const err = new Error(data.error || "the chunk could not be decoded");
        err.name = data.name || "ChunkFormatError";
        job.reject(err);
      }
    });
    worker.addEventListener("error", (event) => {
      event.preventDefault?.();
      useMainThread();
    });
    worker.addEventListener("messageerror", () => useMainThread());
    startTimer = setTimeout(() => {
      if (!ready) useMainThread();
    }, WORKER_START_TIMEOUT_MS);
  } catch {
    // file:// pages and strict content policies cannot start module workers.
    worker = null;
    kind = "main";
  }

  return {
    get kind() {
      return kind;
    },
    decode(buffer, options) {
      return new Promise((resolve, reject) => {
        const job = { buffer, options, resolve, reject };
        if (!worker) runHere(job);
        else if (ready) post(job);
        else waiting.push(job);
      });
    },
    dispose() {
      clearTimeout(startTimer);
      if (worker) worker.terminate();
      worker = null;
      for (const job of [...waiting.splice(0), ...running.values()]) job.reject(new Error("the decoder was closed"));
      running.clear();
    },
  };
}
