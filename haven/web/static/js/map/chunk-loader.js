// Fetching, decoding, keeping and dropping the map's chunks.
//
// * At most `maxInFlight` requests (chunks and hierarchy) are open at once.
// * Points held in memory never exceed the budget: a chunk is only requested
//   when its systems fit next to everything loaded or already requested.
// * Chunks the view no longer wants stay cached (hidden or shown) until their
//   room is needed; then the least recently wanted go first, their GPU buffers
//   disposed. Eviction counts points, not chunks.
// * A failed request is retried later, with growing pauses.

import * as THREE from "three";
import { api, ApiError } from "../api.js";
import { galaxyQuery } from "./config.js";
import { HIERARCHY_DEPTH } from "./octree.js";

export const DEFAULT_MAX_IN_FLIGHT = 6;
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30_000;

export class ChunkLoader {
  /**
   * @param {{octree: import("./octree.js").Octree, decoder: {decode: Function},
   *          group: THREE.Object3D, material: THREE.Material, budget: number,
   *          maxInFlight?: number, onChange?: Function, onError?: Function, onSuccess?: Function}} options
   *   onChange({tree, chunks}) after anything changed; onError(err) for a failed request;
   *   onSuccess() after any request answered; onAdd(entry) when a chunk is loaded.
   */
  constructor(options) {
    this.octree = options.octree;
    this.decoder = options.decoder;
    this.group = options.group;
    this.material = options.material;
    this.budget = options.budget;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.onChange = options.onChange ?? (() => {});
    this.onError = options.onError ?? (() => {});
    this.onSuccess = options.onSuccess ?? (() => {});
    this.onAdd = options.onAdd ?? (() => {});
    /** key -> loaded chunk; Map order is least recently wanted first */
    this.chunks = new Map();
    /** key -> {kind, controller, reserved} */
    this.requests = new Map();
    this.failures = new Map();
    this.wanted = [];
    this.wantedKeys = new Set();
    this.frontier = [];
    this.loadedPoints = 0;
    this.reservedPoints = 0;
    this.bytesReceived = 0;
    this.maxLoadedPoints = 0;
    this.maxInFlightSeen = 0;
    this.retryTimer = null;
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

  fail(key, err) {
    const f = this.failures.get(key) ?? { attempts: 0, retryAt: 0 };
    f.attempts += 1;
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (f.attempts - 1));
    f.retryAt = performance.now() + delay;
    this.failures.set(key, f);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.pump(), delay + 20);
    this.onError(err);
  }

  async fetchHierarchy(node, key) {
    const controller = new AbortController();
    this.track(key, { kind: "hierarchy", controller, reserved: 0 });
    try {
      const path = `/api/v1/chunks/hierarchy${galaxyQuery({ level: node.level, cell: node.cell, depth: HIERARCHY_DEPTH })}`;
      const res = await api(path, { raw: true, signal: controller.signal });
      const text = await res.text();
      this.bytesReceived += Number(res.headers.get("content-length")) || text.length;
      this.octree.ingest(JSON.parse(text), node.level, node.cell, HIERARCHY_DEPTH);
      this.failures.delete(key);
      this.onSuccess();
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
      this.failures.delete(key);
      this.onSuccess();
      if (controller.signal.aborted || this.closed) return;
      this.reservedPoints -= reserved;
      added = true;
      this.add(node, chunk);
    } catch (err) {
      if (err?.name === "AbortError" || controller.signal.aborted) return;
      if (err instanceof ApiError && err.status === 404) {
        node.count = 0; // the node was emptied since the tree was read
        const old = this.chunks.get(key);
        if (old) this.evict(old);
        this.octree.generation++;
        this.onSuccess();
        return;
      }
      this.fail(key, err);
    } finally {
      if (!added) this.reservedPoints -= reserved;
      this.untrack(key);
      if (!this.closed) this.onChange({ chunks: true });
    }
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
      this.failures.delete(key);
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
    this.failures.delete(key);
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
    for (const node of this.wanted) if (!this.chunks.has(node.key) || this.chunks.get(node.key).stale) n++;
    for (const node of this.frontier) if (!node.childrenKnown) n++;
    return n;
  }

  get drawnPoints() {
    let n = 0;
    for (const entry of this.visibleChunks()) n += entry.count;
    return n;
  }

  /**
   * Stop (nothing more is fetched) and hand over the loaded chunks as they are: still in
   * the group and drawn, their buffers now the caller's to dispose. A map reading its
   * tree again keeps them on screen until the new tree's chunks replace them.
   */
  detach() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const req of this.requests.values()) req.controller.abort();
    const entries = [...this.chunks.values()];
    this.chunks.clear();
    this.loadedPoints = 0;
    return entries;
  }

  dispose() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const req of this.requests.values()) req.controller.abort();
    for (const entry of [...this.chunks.values()]) this.evict(entry);
  }
}
