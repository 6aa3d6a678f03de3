// The galaxy map's scene: renderer, camera, controls, octree streaming and picking.
//
// It talks to the server only through api.js, so it works against the page's own
// server or against `globalThis.HAVEN_API_BASE` (a copy of the map opened from disk).
// The page around it (HUD, search, details panel, URL parameters) is map.js.
//
//   const map = new GalaxyMap(container, { budget: 1_000_000 });
//   map.start();                       // discovers the octree, streams chunks
//   await map.ready;                   // the first stars are drawn
//   await map.flyTo(x, y, z, 500);     // glide there (LY)

import * as THREE from "three";
import { api, sleep } from "../api.js";
import { nodeBounds } from "../chnk.js";
import { ChunkLoader, DEFAULT_MAX_IN_FLIGHT } from "./chunk-loader.js";
import { galaxyQuery } from "./config.js";
import { MapControls } from "./controls.js";
import { createDecoder } from "./decode.js";
import { selectNodes } from "./lod.js";
import { HIERARCHY_DEPTH, Octree, toCell } from "./octree.js";
import { followChanges } from "./live-feed.js";
import { findLoadedPoint, nearestStar, screenPosition, worldPosition } from "./picking.js";
import {
  createStarMaterial,
  HIGHLIGHT_DIM_ALL,
  HIGHLIGHT_NONE,
  HIGHLIGHT_REGION,
  MarkerLayer,
  updateStarMaterial,
} from "./stars.js";

export const DEFAULT_BUDGET = 1_000_000;
export const MIN_BUDGET = 5_000;
export const MAX_BUDGET = 20_000_000;
export const BACKGROUND = 0x04050a;

const SELECT_EVERY_MS = 120;
const CLICK_SLOP_PX = 5;


/** A budget from user input, clamped to what the map supports (null if not a number). */
export function parseBudget(value) {
  const n = Math.round(Number(String(value ?? "").replace(/[_,\s]/g, "")));
  if (!Number.isFinite(n) || n <= 0) return null;
  return Math.min(MAX_BUDGET, Math.max(MIN_BUDGET, n));
}

/**
 * What a click on a star asks the server (see describe()): the system at that index of the
 * chunk, as of the chunk's version, so a node changed since it was drawn answers
 * 409 `stale_version` instead of another system.
 */
export function pickPath(hit) {
  const v = hit.version;
  const version = Number.isSafeInteger(v) && v >= 1 ? v : null;
  return `/api/v1/chunks/${hit.level}/${hit.cell}/${hit.index}${galaxyQuery({ version })}`;
}

/**
 * How far from the centre of a sphere of `radius` the camera must be to have all of it in
 * view. The narrower of the vertical and horizontal fields of view decides: in a portrait
 * window the horizontal one is the narrower.
 */
export function fitDistance(radius, fovDeg, aspect) {
  const halfV = THREE.MathUtils.degToRad(fovDeg) / 2;
  const halfH = Math.atan(Math.tan(halfV) * aspect);
  return radius / Math.tan(Math.min(halfV, halfH));
}

/** True for the answer to a pick made from a chunk older than its node (see pickPath). */
export function isStalePick(err) {
  return err?.status === 409 && err?.code === "stale_version";
}

export class GalaxyMap {
  /**
   * @param {HTMLElement} container element the canvas fills
   * @param {{budget?: number, maxInFlight?: number,
   *          onError?: (err: any) => void, onSuccess?: () => void,
   *          onStarClick?: (hit: object) => void, onStarDoubleClick?: (hit: object) => void,
   *          onChunk?: (entry: object) => void, onEmptyChange?: (empty: boolean) => void,
   *          onLiveChange?: (change: {nodes: object[], reset: boolean}) => void}} options
   */
  constructor(container, options = {}) {
    this.container = container;
    this.options = options;
    this.budget = options.budget ?? DEFAULT_BUDGET;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.closed = false;
    this.octree = null;
    this.loader = null;
    this.autoFrame = true;
    this.empty = false; // the galaxy has no systems (see checkEmpty)
    this.dirty = true;
    this.viewDirty = true;
    this.lastSelect = -Infinity;
    this.renderTimes = [];
    this.fps = 0;
    this.lastRender = -Infinity;
    this.highlightMode = HIGHLIGHT_NONE;
    this.highlightRegion = null;
    this.liveClock = null; // the octree clock the map is current with
    this.liveUpdates = 0; // change-feed answers that changed something
    this.liveTransport = null; // "websocket", or "polling" while no socket is open
    this.liveSocket = null;
    this.liveSockets = 0; // sockets subscribed so far (more than one: the map went back to the socket)
    this.liveSocketFailures = 0; // tries at a socket that failed since the last one that worked
    this.liveNextSocketTryMs = null; // the wait before the next try, while polling
    // After a resync: the old tree's chunks, drawn until the new tree's replace them (key -> entry).
    this.retired = new Map();
    this.retiredPoints = 0;
    this.retiredUntilFirst = false; // the cube changed: keys do not match, the first new chunk ends them all

    // WebGLRenderer throws when the browser cannot draw WebGL; map.js says so on the page.
    this.renderer = new THREE.WebGLRenderer({ antialias: false, powerPreference: "high-performance" });
    this.pixelRatio = Math.min(window.devicePixelRatio || 1, 2);
    this.renderer.setPixelRatio(this.pixelRatio);
    this.renderer.setClearColor(BACKGROUND, 1);
    this.canvas = this.renderer.domElement;
    this.canvas.className = "map-canvas";
    this.canvas.setAttribute("aria-label", "Galaxy map: drag to orbit, scroll to zoom, W A S D Q E to fly, click a star for details");
    this.canvas.tabIndex = 0;
    container.append(this.canvas);

    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(55, 1, 0.05, 5e6);
    this.camera.up.set(0, 0, 1); // the galactic disc lies in the x/y plane
    this.camera.position.set(0, -100_000, 80_000);
    this.group = new THREE.Group();
    this.scene.add(this.group);
    this.material = createStarMaterial({ pixelRatio: this.pixelRatio });
    this.highlightMarkers = new MarkerLayer(this.scene, { colour: 0x7ff6ff, sizePx: 11, pixelRatio: this.pixelRatio, order: 10 });
    this.selectionMarker = new MarkerLayer(this.scene, { colour: 0xffe066, sizePx: 18, pixelRatio: this.pixelRatio, order: 11 });
    // The camera is the user's from their first move on: nothing frames the galaxy after it.
    this.controls = new MapControls(this.camera, this.canvas, {
      maxDistance: 4e6,
      onUserInput: () => {
        this.autoFrame = false;
      },
    });
    this.decoder = createDecoder();

    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
    /** The galaxy shown, as the server spells it, once the top of its octree has been read. */
    this.galaxyName = new Promise((resolve) => {
      this.resolveGalaxyName = resolve;
    });

    this.resize();
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.installPointer();
    this.lastFrame = performance.now();
    this.raf = requestAnimationFrame((t) => this.frame(t));
  }

  // ---- start-up -----------------------------------------------------------------------

  /** Read the top of the octree (retrying while the server is unreachable or failing), then stream. */
  async start() {
    let answer = null;
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        answer = await api(`/api/v1/chunks/hierarchy${galaxyQuery({ level: 0, cell: 0, depth: HIERARCHY_DEPTH })}`);
        break;
      } catch (err) {
        this.options.onError?.(err);
        if (err?.status >= 400 && err?.status < 500) return; // e.g. no such galaxy: asking again will not help
        await sleep(Math.min(10_000, 1500 * 2 ** Math.min(attempt, 3)));
      }
    }
    if (this.closed) return;
    this.options.onSuccess?.();
    this.resolveGalaxyName(answer.galaxy ?? null);
    const previous = this.octree;
    this.octree = new Octree(answer);
    this.octree.ingest(answer, 0, 0, HIERARCHY_DEPTH);
    const h = this.octree.halfSize;
    this.controls.orbit.maxDistance = h * 8;
    this.camera.far = h * 40;
    this.camera.near = Math.max(0.01, h * 1e-7);
    this.camera.updateProjectionMatrix();
    if (this.autoFrame) {
      // Until the first stars arrive: the whole cube, seen from above at an angle.
      this.controls.place(new THREE.Vector3(...this.octree.centre), h * 1.1, [0, -0.75, 0.66]);
    }
    // A reload: the old tree's stars stay drawn until this tree's chunks replace them.
    if (this.loader) this.retire(this.loader, previous);
    this.loader = new ChunkLoader({
      octree: this.octree,
      decoder: this.decoder,
      group: this.group,
      material: this.material,
      budget: this.budget,
      maxInFlight: this.maxInFlight,
      onChange: ({ tree }) => {
        this.dirty = true;
        if (tree) this.viewDirty = true;
      },
      onError: (err) => this.options.onError?.(err),
      onSuccess: () => this.options.onSuccess?.(),
      onAdd: (entry) => this.chunkAdded(entry),
    });
    this.checkEmpty();
    this.viewDirty = true;
    if (answer.clock !== undefined && this.liveClock === null) this.followLiveEdits(answer.clock);
  }

  /**
   * Tell the page (onEmptyChange) whenever the galaxy becomes empty or stops being so, at
   * start and after live edits. An empty galaxy is ready at once: it has nothing to draw.
   */
  checkEmpty() {
    const empty = this.octree.root.count === 0 && this.octree.totalSystems === 0;
    if (empty === this.empty) return;
    this.empty = empty;
    if (empty) this.resolveReady(this);
    this.options.onEmptyChange?.(empty);
  }

  // ---- live edits ---------------------------------------------------------------------

  /**
   * Follow the octree's changes from `clock` on (live-feed.js: the chunk WebSocket,
   * else polling): changed nodes the map draws are fetched again (the old points
   * stay until the new ones arrive), new nodes join the known tree, emptied ones
   * go. A reset (a bulk load rebuilt the octree) reads the tree again from the
   * root, keeping the camera. Each batch, once applied, goes to `onLiveChange`
   * (the page's details panel follows the system it shows with it).
   */
  followLiveEdits(clock) {
    this.liveClock = clock;
    followChanges(clock, {
      apply: async (feed) => {
        if (this.closed || !this.loader) return;
        if (feed.total_systems !== undefined) this.octree.totalSystems = Number(feed.total_systems);
        if (feed.reset) await this.reloadTree();
        else this.applyChanges(feed.nodes);
        this.checkEmpty(); // the first system arrived, or the last one went
        if (feed.clock !== undefined) this.liveClock = feed.clock;
        try {
          this.options.onLiveChange?.({ nodes: feed.nodes ?? [], reset: !!feed.reset });
        } catch (err) {
          console.error(err); // the page's trouble: the feed must still move on to the next batch
        }
      },
      isClosed: () => this.closed,
      onTransport: (name) => {
        this.liveTransport = name;
        if (name === "websocket") {
          this.liveSockets++;
          this.liveSocketFailures = 0;
          this.liveNextSocketTryMs = null;
        }
      },
      onSocketRetry: ({ failures, nextTryMs }) => {
        this.liveSocketFailures = failures;
        this.liveNextSocketTryMs = nextTryMs;
      },
      register: (socket, closedOne) => {
        if (socket) this.liveSocket = socket;
        else if (this.liveSocket === closedOne) this.liveSocket = null;
      },
      onPollError: (err) => this.options.onError?.(err),
      onPollSuccess: () => this.options.onSuccess?.(),
    });
  }

  applyChanges(nodes) {
    const changed = this.octree.applyChanges(nodes);
    for (const key of changed) this.loader.refresh(key);
    if (changed.length) {
      this.liveUpdates++;
      this.viewDirty = this.dirty = true;
    }
  }

  /**
   * Whether a change to any of `nodes` ({level, cell} from the change feed) may have changed
   * a system at (x, y, z): a node holds only systems inside its cube. A node the map cannot
   * place counts as touching (a refetch too many, never one too few).
   */
  changeTouches(nodes, x, y, z) {
    const o = this.octree;
    if (!o) return false;
    const p = [Number(x), Number(y), Number(z)];
    return (nodes ?? []).some((n) => {
      const level = Number(n.level);
      let box;
      try {
        box = nodeBounds(level, toCell(level, n.cell), o.centre, o.halfSize);
      } catch {
        return true; // a node the map cannot place: assume it touches
      }
      const slack = box.side * 1e-9; // a point on a face belongs to one of two cells: take both
      return p.every((v, a) => v >= box.min[a] - slack && v <= box.min[a] + box.side + slack);
    });
  }

  /** Read the octree again, where the camera is; the stars drawn stay until the new tree replaces them. */
  async reloadTree() {
    this.autoFrame = false;
    await this.start();
  }

  /**
   * Keep a replaced loader's chunks drawn, not pickable (the map's clicks name chunks of the
   * tree it reads now): each goes when the new tree's chunk of the same node arrives, or
   * room is needed, and all when the new tree has loaded what the view wants.
   */
  retire(loader, previousOctree) {
    const o = this.octree;
    const sameCube = !!previousOctree && previousOctree.halfSize === o.halfSize
      && previousOctree.centre.every((v, a) => v === o.centre[a]);
    // Retired ones of another cube than the new tree's: their keys name other places.
    if (!sameCube || this.retiredUntilFirst) this.dropRetired();
    for (const entry of loader.detach()) {
      const older = this.retired.get(entry.node.key);
      if (older) this.dropRetiredEntry(older);
      this.retired.set(entry.node.key, entry);
      this.retiredPoints += entry.count;
    }
    this.retiredUntilFirst = !sameCube;
  }

  dropRetiredEntry(entry) {
    if (this.retired.get(entry.node.key) !== entry) return;
    this.retired.delete(entry.node.key);
    this.retiredPoints -= entry.count;
    this.group.remove(entry.points);
    entry.geometry.dispose();
    entry.positions = entry.colours = null;
    this.dirty = true;
  }

  dropRetired() {
    for (const entry of [...this.retired.values()]) this.dropRetiredEntry(entry);
  }

  /** Retired chunks give way to the new tree's: together they stay within the budget (finest go first). */
  trimRetired() {
    const l = this.loader;
    if (!this.retired.size || !l) return;
    const over = () => l.loadedPoints + l.reservedPoints + this.retiredPoints > this.budget;
    if (!over()) return;
    const finestFirst = [...this.retired.values()].sort((a, b) => b.node.level - a.node.level);
    for (const entry of finestFirst) {
      if (!over()) break;
      this.dropRetiredEntry(entry);
    }
  }

  chunkAdded(entry) {
    if (this.retired.size) {
      if (this.retiredUntilFirst) this.dropRetired();
      else {
        const replaced = this.retired.get(entry.node.key);
        if (replaced) this.dropRetiredEntry(replaced);
        this.trimRetired();
      }
    }
    if (entry.node.level === 0) {
      // Frame the first root chunk with stars only: later ones are live refreshes (any edit
      // in a small galaxy changes the root), and the camera must stay where the user put it.
      if (this.autoFrame && this.frameSample(entry)) this.autoFrame = false;
      this.dirty = true;
      // Draw once before announcing readiness, so a screenshot right after shows stars.
      requestAnimationFrame(() => requestAnimationFrame(() => this.resolveReady(this)));
    }
    this.options.onChunk?.(entry);
  }

  /** Frame the root chunk's stars (an even sample of the galaxy); false when it has none. */
  frameSample(entry) {
    const n = entry.count;
    if (!n) return false;
    const pts = [];
    for (let i = 0; i < n; i++) pts.push(worldPosition(entry, i));
    const c = [0, 1, 2].map((a) => pts.reduce((s, p) => s + p[a], 0) / n);
    const d = pts.map((p) => Math.hypot(p[0] - c[0], p[1] - c[1], p[2] - c[2])).sort((a, b) => a - b);
    const r = Math.max(d[Math.floor(0.95 * (n - 1))], 50);
    this.controls.place(new THREE.Vector3(...c), this.fitDistance(r) * 1.05, [0, -0.75, 0.66]);
    this.viewDirty = this.dirty = true;
    return true;
  }

  // ---- frame loop ---------------------------------------------------------------------

  resize() {
    const w = Math.max(1, this.container.clientWidth);
    const h = Math.max(1, this.container.clientHeight);
    this.renderer.setSize(w, h, true);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.viewDirty = this.dirty = true;
  }

  frame(now) {
    if (this.closed) return;
    this.raf = requestAnimationFrame((t) => this.frame(t));
    const dt = Math.max(0, (now - this.lastFrame) / 1000);
    this.lastFrame = now;
    if (this.controls.update(dt)) {
      this.dirty = true;
      this.viewDirty = true;
    }
    if (this.loader && this.viewDirty && now - this.lastSelect >= SELECT_EVERY_MS) this.select(now);
    // The new tree has loaded what the view wants: what is left of the old one goes.
    if (this.retired.size && this.loader && !this.viewDirty && this.loader.inFlight === 0 && this.loader.pending === 0) {
      this.dropRetired();
    }
    if (this.dirty) this.render(now);
  }

  select(now = performance.now()) {
    this.lastSelect = now;
    this.viewDirty = false;
    const heightPx = this.renderer.domElement.height;
    this.selection = selectNodes(this.octree, this.camera, { budget: this.budget, heightPx });
    this.loader.setWanted(this.selection);
    const pixelScale = heightPx / 2 / Math.tan(THREE.MathUtils.degToRad(this.camera.fov) / 2);
    this.loader.refine(this.camera.position, pixelScale);
  }

  render(now) {
    this.dirty = false;
    updateStarMaterial(this.material, this.camera, this.renderer.domElement.height);
    this.renderer.render(this.scene, this.camera);
    this.renderTimes.push(now);
    while (this.renderTimes.length > 2 && now - this.renderTimes[0] > 1000) this.renderTimes.shift();
    if (this.renderTimes.length >= 2 && now - this.lastRender < 250) {
      const span = now - this.renderTimes[0];
      if (span > 0) this.fps = ((this.renderTimes.length - 1) * 1000) / span;
    } else {
      this.renderTimes = [now];
    }
    this.lastRender = now;
  }

  // ---- pointer ------------------------------------------------------------------------

  installPointer() {
    let down = null;
    this.canvas.addEventListener("pointerdown", (e) => {
      down = { x: e.clientX, y: e.clientY, button: e.button };
    });
    this.canvas.addEventListener("pointerup", (e) => {
      if (!down || down.button !== 0) return;
      const moved = Math.hypot(e.clientX - down.x, e.clientY - down.y);
      down = null;
      if (moved > CLICK_SLOP_PX) return;
      const hit = this.pickAt(e.clientX, e.clientY);
      if (hit) this.options.onStarClick?.(hit);
    });
    this.canvas.addEventListener("dblclick", (e) => {
      const hit = this.pickAt(e.clientX, e.clientY);
      if (hit) this.options.onStarDoubleClick?.(hit);
    });
  }

  describe(entry, index, screen) {
    const [x, y, z] = worldPosition(entry, index);
    return {
      level: entry.node.level,
      cell: entry.node.cell,
      index,
      version: entry.version,
      key: entry.node.key,
      x,
      y,
      z,
      step: entry.step,
      colourIndex: entry.colours[index],
      clientX: screen?.clientX ?? null,
      clientY: screen?.clientY ?? null,
    };
  }

  /** The drawn star nearest to (clientX, clientY) within a few pixels, or null. */
  pickAt(clientX, clientY, radiusPx) {
    if (!this.loader) return null;
    const rect = this.canvas.getBoundingClientRect();
    const { best } = nearestStar(this.loader.visibleChunks(), this.camera, rect, clientX, clientY, radiusPx);
    return best ? this.describe(best.entry, best.index, best) : null;
  }

  /**
   * A drawn star well inside the canvas, not under a panel, that a click would pick unambiguously:
   * {clientX, clientY, level, cell, index, x, y, z, ...}, or null.
   */
  anyVisibleStar({ margin = 30, maxTries = 200 } = {}) {
    if (!this.loader) return null;
    const rect = this.canvas.getBoundingClientRect();
    let tries = 0;
    for (const entry of this.loader.visibleChunks()) {
      const stride = Math.max(1, Math.floor(entry.count / 50));
      for (let i = 0; i < entry.count; i += stride) {
        const s = screenPosition(entry, i, this.camera, rect);
        if (!s) continue;
        if (s.clientX < rect.left + margin || s.clientX > rect.right - margin) continue;
        if (s.clientY < rect.top + margin || s.clientY > rect.bottom - margin) continue;
        if (document.elementFromPoint(s.clientX, s.clientY) !== this.canvas) continue; // under a panel
        if (++tries > maxTries) return null;
        const { best, secondDistancePx } = nearestStar(this.loader.visibleChunks(), this.camera, rect, s.clientX, s.clientY, 6);
        if (best && best.entry === entry && best.index === i && secondDistancePx > 4) return this.describe(entry, i, s);
      }
    }
    return null;
  }

  /** The loaded star at (x, y, z) LY, with its screen position (null off screen), or null. */
  findPoint(x, y, z) {
    if (!this.loader) return null;
    const found = findLoadedPoint(this.loader.visibleChunks(), Number(x), Number(y), Number(z));
    if (!found) return null;
    const rect = this.canvas.getBoundingClientRect();
    return this.describe(found.entry, found.index, screenPosition(found.entry, found.index, this.camera, rect));
  }

  // ---- camera, budget, highlights -----------------------------------------------------

  /** Glide to look at (x, y, z) from `distance` LY. Resolves when there. */
  flyTo(x, y, z, distance) {
    this.autoFrame = false;
    return this.controls.flyTo(x, y, z, distance);
  }

  /** Fly so that all `positions` ([[x, y, z], ...]) are in view. */
  flyToFit(positions, minDistance = 150) {
    if (!positions.length) return Promise.resolve(false);
    const c = [0, 1, 2].map((a) => positions.reduce((s, p) => s + p[a], 0) / positions.length);
    const r = Math.max(...positions.map((p) => Math.hypot(p[0] - c[0], p[1] - c[1], p[2] - c[2])));
    return this.flyTo(c[0], c[1], c[2], Math.max(minDistance, this.fitDistance(r) * 1.3));
  }

  /** The camera distance that fits a sphere of `radius` into this window (see fitDistance). */
  fitDistance(radius) {
    return fitDistance(radius, this.camera.fov, this.camera.aspect);
  }

  setBudget(budget) {
    const n = parseBudget(budget);
    if (n === null) return this.budget;
    this.budget = n;
    if (this.loader) {
      this.loader.setBudget(n);
      this.viewDirty = true;
    }
    return n;
  }

  /** Dim everything but one region index ("region"), dim everything ("dim"), or plain ("none"). */
  setHighlight(mode, regionIndex = null) {
    const u = this.material.uniforms;
    this.highlightMode = mode === "region" ? HIGHLIGHT_REGION : mode === "dim" ? HIGHLIGHT_DIM_ALL : HIGHLIGHT_NONE;
    this.highlightRegion = mode === "region" ? Number(regionIndex) : null;
    u.uMode.value = this.highlightMode;
    u.uRegion.value = this.highlightRegion ?? -1;
    this.dirty = true;
  }

  markHighlights(positions) {
    this.highlightMarkers.set(positions);
    this.dirty = true;
  }

  markSelection(position) {
    if (position) this.selectionMarker.set([position]);
    else this.selectionMarker.clear();
    this.dirty = true;
  }

  stats() {
    const l = this.loader;
    const modes = { [HIGHLIGHT_NONE]: "none", [HIGHLIGHT_REGION]: "region", [HIGHLIGHT_DIM_ALL]: "dim" };
    let chunksVisible = 0;
    let retiredDrawn = 0;
    if (l) for (const _ of l.visibleChunks()) chunksVisible++;
    for (const entry of this.retired.values()) {
      if (!entry.points.visible) continue;
      chunksVisible++;
      retiredDrawn += entry.count;
    }
    return {
      loadedSystems: l ? l.loadedPoints : 0,
      drawnSystems: (l ? l.drawnPoints : 0) + retiredDrawn,
      retiredSystems: this.retiredPoints, // the old tree's, still drawn after a resync (not pickable)
      chunksRetired: this.retired.size,
      sceneChunks: this.group.children.length, // point clouds in the scene (loaded plus retired)
      sceneChunksVisible: this.group.children.filter((c) => c.visible).length,
      totalSystems: this.octree ? this.octree.totalSystems : 0,
      budget: this.budget,
      reservedSystems: l ? l.reservedPoints : 0,
      inFlight: l ? l.inFlight : 0,
      maxInFlight: this.maxInFlight,
      maxInFlightSeen: l ? l.maxInFlightSeen : 0,
      maxLoadedSystems: l ? l.maxLoadedPoints : 0,
      chunksLoaded: l ? l.chunks.size : 0,
      chunksVisible,
      wantedSystems: this.selection ? this.selection.points : 0,
      pending: l ? l.pending : 1,
      // Not before the first selection has run: until then `pending` does not know what the view needs.
      settled: !!l && !this.viewDirty && l.inFlight === 0 && l.pending === 0 && l.exactRequests.size === 0 &&
        !this.controls.flight && this.retired.size === 0,
      bytesReceived: l ? l.bytesReceived : 0,
      fps: this.fps,
      liveClock: this.liveClock,
      liveUpdates: this.liveUpdates,
      liveTransport: this.liveTransport,
      liveSockets: this.liveSockets,
      liveSocketFailures: this.liveSocketFailures,
      liveNextSocketTryMs: this.liveNextSocketTryMs,
      chunkRefreshes: l ? l.refreshes : 0,
      exactChunks: l ? [...l.chunks.values()].filter((e) => e.exact).length : 0, // redrawn at 32 bits per axis
      exactLoaded: l ? l.exactLoaded : 0,
      rendering: performance.now() - this.lastRender < 300,
      decoder: this.decoder.kind,
      geometries: this.renderer.info.memory.geometries,
      highlightMode: modes[this.highlightMode],
      highlightRegionIndex: this.highlightRegion,
      markers: this.highlightMarkers.count,
      selectionMarked: this.selectionMarker.count > 0, // the ring around the selected star
      camera: {
        position: this.camera.position.toArray(),
        target: this.controls.target.toArray(),
      },
    };
  }

  dispose() {
    this.closed = true;
    this.liveSocket?.close();
    cancelAnimationFrame(this.raf);
    this.resizeObserver.disconnect();
    this.loader?.dispose();
    this.dropRetired();
    this.decoder.dispose();
    this.controls.dispose();
    this.highlightMarkers.dispose();
    this.selectionMarker.dispose();
    this.material.dispose();
    this.renderer.dispose();
    this.canvas.remove();
  }
}
