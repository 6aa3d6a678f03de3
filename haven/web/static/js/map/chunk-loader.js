// Fetching, decoding, keeping and dropping the map's chunks.
//
// * At most `maxInFlight` requests (chunks and hierarchy) are open at once.
// * Points held in memory never exceed the budget: a chunk is only requested
//   when its systems fit next to everything loaded or already requested.
// * Chunks the view no longer wants stay cached (hidden or shown) until their
//   room is needed; then the least recently wanted go first, their GPU buffers
//   disposed. Eviction counts points, not chunks.
// * A failed request is retried later, with growing pauses: each on its own timer.
//   The error it reported stands until every request the view still needs has answered.
// * A chunk the server no longer has (404: emptied since the tree was read) makes its
//   node empty: it is not asked for again until the tree or the change feed says otherwise.
// * A chunk's positions are 16 bits per axis of its node's cube (4 LY in the root of a
//   galaxy 262,144 LY across). Once the camera comes so close to a drawn chunk's stars that
//   a step would cover more than half a pixel, its exact positions (CHNX, 32 bits per axis)
//   are fetched and replace them (refine()). At most EXACT_IN_FLIGHT such requests are open;
//   a failed one is tried again after EXACT_RETRY_MS, with no error shown (the chunk stays drawn).

import * as THREE from "three";
import { api, ApiError } from "../api.js";
import { decodeExact } from "../chnk.js";
import { galaxyQuery } from "./config.js";
import { HIERARCHY_DEPTH, parseTreeJson } from "./octree.js";

export const DEFAULT_MAX_IN_FLIGHT = 6;
/** A drawn chunk whose step would cover more than this many pixels gets its exact positions. */
export const EXACT_STEP_PX = 0.5;
const EXACT_IN_FLIGHT = 2;
const EXACT_RETRY_MS = 5000;
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30_000;

export class ChunkLoader {
  /**
   * @param {{octree: import("./octree.js").Octree, decoder: {decode: Function},
   *          group: THREE.Object3D, material: THREE.Material, budget: number,
   *          maxInFlight?: number, retryBaseMs?: number, onChange?: Function, onError?: Function,
   *          onSuccess?: Function}} options
   *   onChange({tree, chunks}) after anything changed; onError(err) for a failed request;
   *   onSuccess() once no request the view needs is failing any more (the error is over);
   *   onAdd(entry) when a chunk is loaded. retryBaseMs: the first pause before a retry.
   */
  constructor(options) {
    this.octree = options.octree;
    this.decoder = options.decoder;
    this.group = options.group;
    this.material = options.material;
    this.budget = options.budget;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.retryBaseMs = options.retryBaseMs ?? RETRY_BASE_MS;
    this.onChange = options.onChange ?? (() => {});
    this.onError = options.onError ?? (() => {});
    this.onSuccess = options.onSuccess ?? (() => {});
    this.onAdd = options.onAdd ?? (() => {});
    /** key -> loaded chunk; Map order is least recently wanted first */
    this.chunks = new Map();
    /** key -> {kind, controller, reserved} */
    this.requests = new Map();
    /** key -> {attempts, retryAt} of requests that failed (chunk keys, `h:` + key for the tree) */
    this.failures = new Map();
    /** key -> the timer that asks again once its pause is over */
    this.retryTimers = new Map();
    this.errorShown = false; // onError was called and no onSuccess since
    this.wanted = [];
    this.wantedKeys = new Set();
    this.frontier = [];
    this.loadedPoints = 0;
    this.reservedPoints = 0;
    this.bytesReceived = 0;
    this.maxLoadedPoints = 0;
    /** key -> AbortController of an exact-positions request */
    this.exactRequests = new Map();
    this.exactLoaded = 0; // chunks redrawn from exact positions, since the start
    this.maxInFlightSeen = 0;
    this.refreshes = 0; // chunks fetched again because they changed on the server
    this.closed = false;
  }

  get inFlight() {
    return this.requests.size;
  }

  /** Take a new selection (see lod.js selectNodes) and start what it needs. */
  setWanted({ wanted, frontier }) {
    this.wanted = wanted;
    this.frontier = frontier;
    this.wantedKeys = new Set(wanted.map((n) => n.key));
    // Most recently wanted to the end of the LRU order (coarsest last, so it goes last).
    for (let i = wanted.length - 1; i >= 0; i--) {
      const entry = this.chunks.get(wanted[i].key);
      if (entry) {
        this.chunks.delete(entry.node.key);
        this.chunks.set(entry.node.key, entry);
      }
    }
    for (const [key, req] of this.requests) {
      if (req.kind === "chunk" && !this.wantedKeys.has(key)) req.controller.abort();
    }
    this.dropUnwantedStale();
    this.pump();
    this.reportRecovery(); // a failed chunk the view no longer wants is no longer an error
  }

  /**
   * A stale chunk (changed on the server, see refresh()) is drawn only while it is wanted,
   * that is while its new copy is on its way: once the view no longer wants it, that
   * fetch is cancelled and nothing would replace it, so it goes, and the coarser chunks
   * cover its space. Otherwise stars deleted since would stay drawn (and clickable).
   */
  dropUnwantedStale() {
    let dropped = false;
    for (const entry of [...this.chunks.values()]) {
      if (entry.stale && !this.wantedKeys.has(entry.node.key)) {
        this.evict(entry);
        dropped = true;
      }
    }
    if (dropped) {
      this.refreshVisibility();
      this.onChange({ chunks: true });
    }
  }

  /** Change the budget; drops chunks at once if they no longer fit. */
  setBudget(budget) {
    this.budget = budget;
    for (const req of this.requests.values()) if (req.kind === "chunk") req.controller.abort();
    this.makeRoom(0);
    // Still over (the budget fell below what is wanted): drop the finest wanted chunks.
    for (let i = this.wanted.length - 1; i >= 0 && this.loadedPoints > this.budget; i--) {
      const entry = this.chunks.get(this.wanted[i].key);
      if (entry) this.evict(entry);
    }
    this.refreshVisibility();
    this.onChange({ chunks: true });
  }

  /** Start requests, most important first, while there is room. */
  pump() {
    if (this.closed) return;
    const now = performance.now();
    for (const node of this.frontier) {
      if (this.requests.size >= this.maxInFlight) return;
      if (node.childrenKnown) continue; // answered since the selection that listed it
      const key = `h:${node.key}`;
      if (this.requests.has(key) || this.backingOff(key, now)) continue;
      this.fetchHierarchy(node, key);
    }
    for (const node of this.wanted) {
      if (this.requests.size >= this.maxInFlight) return;
      if (node.count <= 0) continue; // emptied since the selection listed it: nothing to fetch
      const key = node.key;
      if ((this.chunks.has(key) && !this.chunks.get(key).stale) || this.requests.has(key) || this.backingOff(key, now)) {
        continue;
      }
      if (node.parent !== null) {
        const parent = this.octree.nodes.get(node.parent);
        if (parent && parent.count > 0 && !this.chunks.has(parent.key)) continue; // parents first
      }
      if (!this.makeRoom(this.newPoints(node))) continue;
      this.fetchChunk(node);
    }
  }

  /** Points a fetch of `node` adds: a changed chunk's old points are counted already. */
  newPoints(node) {
    const stale = this.chunks.get(node.key);
    return Math.max(0, node.count - (stale ? stale.count : 0));
  }

  backingOff(key, now) {
    const f = this.failures.get(key);
    return f !== undefined && f.retryAt > now;
  }

  /** Evict unwanted chunks (least recently wanted first) until `needed` more points fit. */
  makeRoom(needed) {
    const fits = () => this.loadedPoints + this.reservedPoints + needed <= this.budget;
    if (fits()) return true;
    for (const entry of [...this.chunks.values()]) {
      if (this.wantedKeys.has(entry.node.key)) continue;
      this.evict(entry);
      if (fits()) break;
    }
    this.refreshVisibility();
    return fits();
  }

  /** A request failed: ask again after its own pause (doubling with each failure), and say so. */
  fail(key, err) {
    const f = this.failures.get(key) ?? { attempts: 0, retryAt: 0 };
    f.attempts += 1;
    const delay = Math.min(RETRY_MAX_MS, this.retryBaseMs * 2 ** (f.attempts - 1));
    f.retryAt = performance.now() + delay;
    this.failures.set(key, f);
    // One timer per request: a later failure must not cancel an earlier one's retry.
    clearTimeout(this.retryTimers.get(key));
    this.retryTimers.set(key, setTimeout(() => {
      this.retryTimers.delete(key);
      this.pump();
    }, delay + 20));
    this.errorShown = true;
    this.onError(err);
  }

  /** A request answered: it is no longer failing. */
  succeeded(key) {
    this.clearFailure(key);
    this.reportRecovery();
  }

  /** Forget a request's failures (and its pending retry): the next try is now, its pause starts over. */
  clearFailure(key) {
    this.failures.delete(key);
    clearTimeout(this.retryTimers.get(key));
    this.retryTimers.delete(key);
  }

  /** Whether a request the view still needs has failed (and waits for its retry). */
  get failing() {
    for (const key of this.failures.keys()) {
      if (this.wantedKeys.has(key)) return true;
      if (this.frontier.some((n) => !n.childrenKnown && `h:${n.key}` === key)) return true;
    }
    return false;
  }

  /** Clear the error once nothing the view needs is failing: another chunk's success is not enough. */
  reportRecovery() {
    if (!this.errorShown || this.failing) return;
    this.errorShown = false;
    this.onSuccess();
  }

  async fetchHierarchy(node, key) {
    const controller = new AbortController();
    this.track(key, { kind: "hierarchy", controller, reserved: 0 });
    try {
      const path = `/api/v1/chunks/hierarchy${galaxyQuery({ level: node.level, cell: node.cell, depth: HIERARCHY_DEPTH })}`;
      const res = await api(path, { raw: true, signal: controller.signal });
      const text = await res.text();
      this.bytesReceived += Number(res.headers.get("content-length")) || text.length;
      this.octree.ingest(parseTreeJson(text), node.level, node.cell, HIERARCHY_DEPTH);
      this.succeeded(key);
    } catch (err) {
      if (err?.name !== "AbortError") this.fail(key, err);
    } finally {
      this.untrack(key);
      if (!this.closed) this.onChange({ tree: true });
    }
  }

  async fetchChunk(node) {
    const key = node.key;
    const controller = new AbortController();
    const reserved = this.newPoints(node);
    this.track(key, { kind: "chunk", controller, reserved });
    this.reservedPoints += reserved;
    let added = false;
    try {
      const res = await api(`/api/v1/chunks/${node.level}/${node.cell}${galaxyQuery()}`, { raw: true, signal: controller.signal });
      const buffer = await res.arrayBuffer();
      this.bytesReceived += Number(res.headers.get("content-length")) || buffer.byteLength;
      const chunk = await this.decoder.decode(buffer, {
        centre: this.octree.centre,
        halfSize: this.octree.halfSize,
        cell: node.cell,
      });
      this.succeeded(key);
      if (controller.signal.aborted || this.closed) return;
      this.reservedPoints -= reserved;
      added = true;
      this.add(node, chunk);
    } catch (err) {
      if (err?.name === "AbortError" || controller.signal.aborted) return;
      if (err instanceof ApiError && err.status === 404) {
        this.emptied(node);
        return;
      }
      this.fail(key, err);
    } finally {
      if (!added) this.reservedPoints -= reserved;
      this.untrack(key);
      // An emptied node changes what the view wants: the map selects again (tree: true).
      if (!this.closed) this.onChange({ chunks: true, tree: node.count <= 0 });
    }
  }

  /**
   * The server has no chunk for `node` (emptied since the tree was read): it counts as empty,
   * so neither pump() nor the next selection asks for it, until the tree or feed says otherwise.
   */
  emptied(node) {
    node.count = 0;
    const old = this.chunks.get(node.key);
    if (old) this.evict(old);
    this.octree.generation++;
    this.succeeded(node.key);
    this.refreshVisibility();
  }

  track(key, req) {
    this.requests.set(key, req);
    this.maxInFlightSeen = Math.max(this.maxInFlightSeen, this.requests.size);
  }

  untrack(key) {
    this.requests.delete(key);
    this.pump();
  }

  add(node, chunk) {
    if (chunk.count !== node.count) {
      node.count = chunk.count; // the node changed since the tree was read
      this.octree.generation++;
    }
    // An answer older than a change the feed already reported is drawn, and fetched again.
    const behind = chunk.version != null && node.version != null && chunk.version < node.version;
    if (!behind) node.version = chunk.version ?? node.version;
    const old = this.chunks.get(node.key);
    if (old) this.evict(old); // a stale copy, drawn until its successor arrived
    // A stale answer is only drawn while a fetch for its successor can follow (see dropUnwantedStale).
    if (chunk.count === 0 || (behind && !this.wantedKeys.has(node.key)) || !this.makeRoom(chunk.count)) {
      if (old) this.refreshVisibility();
      return;
    }
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.BufferAttribute(chunk.positions, 3));
    geometry.setAttribute("region", new THREE.BufferAttribute(chunk.colours, 1));
    const s = chunk.side;
    geometry.boundingBox = new THREE.Box3(new THREE.Vector3(0, 0, 0), new THREE.Vector3(s, s, s));
    geometry.boundingSphere = new THREE.Sphere(new THREE.Vector3(s / 2, s / 2, s / 2), (s * Math.sqrt(3)) / 2);
    const points = new THREE.Points(geometry, this.material);
    points.position.fromArray(chunk.origin);
    points.matrixAutoUpdate = false;
    points.updateMatrix();
    points.updateMatrixWorld(true);
    points.name = `chunk ${node.key}`;
    const entry = {
      node,
      points,
      geometry,
      count: chunk.count,
      positions: chunk.positions,
      colours: chunk.colours,
      origin: chunk.origin,
      side: chunk.side,
      step: chunk.step,
      version: chunk.version,
      stale: behind,
    };
    this.chunks.set(node.key, entry);
    this.loadedPoints += chunk.count;
    this.maxLoadedPoints = Math.max(this.maxLoadedPoints, this.loadedPoints);
    this.group.add(points);
    this.refreshVisibility();
    this.onAdd(entry);
  }

  /**
   * Fetch exact positions for drawn chunks whose quantization step the camera is close
   * enough to see: `pixelScale` is pixels per light year at a distance of one light year
   * (drawing height / 2 / tan(fov / 2)). Nearest first; cheap when nothing is that close.
   */
  refine(cameraPosition, pixelScale) {
    if (this.closed) return;
    const now = performance.now();
    const cam = [cameraPosition.x, cameraPosition.y, cameraPosition.z];
    const candidates = [];
    for (const entry of this.visibleChunks()) {
      if (entry.exact || entry.stale || entry.count === 0 || this.exactRequests.has(entry.node.key)) continue;
      if ((entry.exactRetryAt ?? 0) > now) continue;
      const reach = (entry.step * pixelScale) / EXACT_STEP_PX; // farther than this, a step is too small to see
      if (boxDistance(cam, entry.origin, entry.side) >= reach) continue;
      const nearest = nearestPointDistance(cam, entry);
      if (nearest < reach) candidates.push([nearest, entry]);
    }
    candidates.sort((a, b) => a[0] - b[0]);
    for (const [, entry] of candidates) {
      if (this.exactRequests.size >= EXACT_IN_FLIGHT) break;
      this.fetchExact(entry);
    }
  }

  async fetchExact(entry) {
    const key = entry.node.key;
    const controller = new AbortController();
    this.exactRequests.set(key, controller);
    try {
      const path = `/api/v1/chunks/${entry.node.level}/${entry.node.cell}/exact${galaxyQuery()}`;
      const res = await api(path, { raw: true, signal: controller.signal });
      const buffer = await res.arrayBuffer();
      this.bytesReceived += Number(res.headers.get("content-length")) || buffer.byteLength;
      const exact = decodeExact(buffer, { centre: this.octree.centre, halfSize: this.octree.halfSize, relative: true });
      // Only for the chunk it was read with: a node that changed meanwhile is fetched anew anyway.
      if (this.chunks.get(key) !== entry || exact.version !== entry.version || exact.count !== entry.count) {
        entry.exactRetryAt = performance.now() + EXACT_RETRY_MS;
        return;
      }
      entry.positions.set(exact.positions);
      entry.geometry.attributes.position.needsUpdate = true;
      entry.step = exact.step;
      entry.exact = true;
      this.exactLoaded += 1;
    } catch (err) {
      if (err?.name === "AbortError" || controller.signal.aborted) return;
      entry.exactRetryAt = performance.now() + EXACT_RETRY_MS;
      setTimeout(() => this.closed || this.onChange({ tree: true }), EXACT_RETRY_MS + 20);
    } finally {
      if (this.exactRequests.get(key) === controller) this.exactRequests.delete(key);
      // the map selects again, and so refines the next chunk the camera is close to
      if (!this.closed) this.onChange({ chunks: true, tree: true });
    }
  }

  evict(entry) {
    if (!this.chunks.delete(entry.node.key)) return;
    this.group.remove(entry.points);
    entry.geometry.dispose();
    this.loadedPoints -= entry.count;
    entry.positions = entry.colours = null;
  }

  /**
   * A node changed on the server: a wanted chunk is fetched again and drawn as it
   * was until the new one arrives (if the view stops wanting it first, setWanted
   * drops it); an unwanted or emptied one is dropped.
   */
  refresh(key) {
    const inFlight = this.requests.get(key);
    if (inFlight?.kind === "chunk") inFlight.controller.abort(); // its answer may predate the change: fetch anew
    const entry = this.chunks.get(key);
    if (!entry || entry.version === entry.node.version) return;
    if (this.wantedKeys.has(key) && entry.node.count > 0) {
      entry.stale = true;
      this.clearFailure(key);
      this.refreshes += 1;
      this.pump();
    } else {
      this.invalidate(key);
    }
  }

  /** Drop one chunk so it is fetched again (e.g. it changed on the server). */
  invalidate(key) {
    const entry = this.chunks.get(key);
    if (entry) this.evict(entry);
    this.clearFailure(key);
    this.refreshVisibility();
    this.onChange({ chunks: true, tree: true });
  }

  /** A loaded chunk is drawn when every ancestor is loaded too (an even sample). */
  refreshVisibility() {
    const sorted = [...this.chunks.values()].sort((a, b) => a.node.level - b.node.level);
    const shown = new Set();
    for (const entry of sorted) {
      const p = entry.node.parent;
      const visible = p === null || shown.has(p) || !(this.octree.nodes.get(p)?.count > 0);
      entry.points.visible = visible;
      if (visible) shown.add(entry.node.key);
    }
  }

  /** Loaded chunks that are drawn. */
  *visibleChunks() {
    for (const entry of this.chunks.values()) if (entry.points.visible) yield entry;
  }

  /** Wanted chunks not loaded, or drawn stale (their new copy not arrived), plus unknown parts of the tree. */
  get pending() {
    let n = 0;
    for (const node of this.wanted) {
      if (node.count > 0 && (!this.chunks.has(node.key) || this.chunks.get(node.key).stale)) n++;
    }
    for (const node of this.frontier) if (!node.childrenKnown) n++;
    return n;
  }

  get drawnPoints() {
    let n = 0;
    for (const entry of this.visibleChunks()) n += entry.count;
    return n;
  }

  stopRetries() {
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
  }

  /**
   * Stop (nothing more is fetched) and hand over the loaded chunks as they are: still in
   * the group and drawn, their buffers now the caller's to dispose. A map reading its
   * tree again keeps them on screen until the new tree's chunks replace them.
   */
  detach() {
    this.closed = true;
    this.stopRetries();
    for (const req of this.requests.values()) req.controller.abort();
    for (const controller of this.exactRequests.values()) controller.abort();
    const entries = [...this.chunks.values()];
    this.chunks.clear();
    this.loadedPoints = 0;
    return entries;
  }

  dispose() {
    this.closed = true;
    this.stopRetries();
    for (const req of this.requests.values()) req.controller.abort();
    for (const controller of this.exactRequests.values()) controller.abort();
    for (const entry of [...this.chunks.values()]) this.evict(entry);
  }
}

/** Distance from point `p` to the cube [origin, origin + side] (0 inside it). */
export function boxDistance(p, origin, side) {
  let d2 = 0;
  for (let a = 0; a < 3; a++) {
    const lo = origin[a];
    const hi = lo + side;
    const d = p[a] < lo ? lo - p[a] : p[a] > hi ? p[a] - hi : 0;
    d2 += d * d;
  }
  return Math.sqrt(d2);
}

/** Distance from point `p` to the nearest star of a loaded chunk entry. */
export function nearestPointDistance(p, entry) {
  const q = entry.positions;
  const o = entry.origin;
  const x = p[0] - o[0];
  const y = p[1] - o[1];
  const z = p[2] - o[2];
  let best = Infinity;
  for (let j = 0; j < 3 * entry.count; j += 3) {
    const dx = q[j] - x;
    const dy = q[j + 1] - y;
    const dz = q[j + 2] - z;
    const d2 = dx * dx + dy * dy + dz * dz;
    if (d2 < best) best = d2;
  }
  return Math.sqrt(best);
}
