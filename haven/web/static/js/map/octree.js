// The galaxy's level-of-detail octree as far as the map has discovered it.
//
// The server describes the tree through /api/v1/chunks/hierarchy: a node and
// its descendants a few levels down, each with its system count and version.
// The map starts with the root and asks for more of the tree only where the
// camera needs detail, so a galaxy of a billion systems costs no more to open
// than one of a thousand.

import { nodeBounds } from "../chnk.js";

/** The deepest level of the octree (docs/formats/chnk.md: 21 bits per axis). */
export const MAX_LEVEL = 21;

/**
 * Down to this level a cell is a JavaScript number (8^17 = 2^51, exact and fast); deeper
 * cells exceed 2^53 and are BigInts. A node's key is the same decimal text either way.
 */
export const MAX_NUMBER_CELL_LEVEL = 17;

/** Levels of the tree asked for at once, below a node whose children are unknown. */
export const HIERARCHY_DEPTH = 3;

export function nodeKey(level, cell) {
  return `${level}/${cell}`;
}

/** The cell (a number, string or BigInt, exact) as the map keeps it at `level`. */
export function toCell(level, cell) {
  return level > MAX_NUMBER_CELL_LEVEL ? BigInt(cell) : Number(cell);
}

/** The cell of the parent (one level up) of node (level, cell). */
export function parentCell(level, cell) {
  if (typeof cell !== "bigint") return Math.floor(cell / 8);
  return toCell(level - 1, cell >> 3n);
}

/**
 * JSON.parse for the tree's answers (hierarchy, change feed): a `cell` too long for a
 * JavaScript number is kept as its digits (toCell makes it exact), not rounded.
 */
export function parseTreeJson(text) {
  return JSON.parse(String(text).replace(/("cell"\s*:\s*)(\d{16,})/g, '$1"$2"'));
}

export class Octree {
  /** @param {{cube: {centre_ly: number[], half_size_ly: number}, capacity: number, total_systems: number}} answer */
  constructor(answer) {
    this.centre = answer.cube.centre_ly.map(Number);
    this.halfSize = Number(answer.cube.half_size_ly);
    this.capacity = Number(answer.capacity);
    this.totalSystems = Number(answer.total_systems);
    this.galaxy = answer.galaxy;
    /** @type {Map<string, object>} */
    this.nodes = new Map();
    this.root = this.node(0, 0);
    this.generation = 0; // bumped whenever the known tree changes
  }

  /** The node (level, cell), created (empty, children unknown) if not seen before. */
  node(level, rawCell) {
    const cell = toCell(level, rawCell);
    const key = nodeKey(level, cell);
    let n = this.nodes.get(key);
    if (!n) {
      const { min, side } = nodeBounds(level, cell, this.centre, this.halfSize);
      n = {
        key,
        level,
        cell,
        count: 0,
        version: null,
        min,
        side,
        centre: [min[0] + side / 2, min[1] + side / 2, min[2] + side / 2],
        children: [],
        childrenKnown: level >= MAX_LEVEL, // the deepest level has no children
        parent: level > 0 ? nodeKey(level - 1, parentCell(level, cell)) : null,
      };
      this.nodes.set(key, n);
    }
    return n;
  }

  /**
   * Take in a hierarchy answer for the subtree (level, cell) fetched `depth` levels deep.
   * The answer is as of its `clock`: a node the change feed reported at a later version
   * (an edit that committed while the answer was on its way) keeps what the feed said.
   */
  ingest(answer, level, cell, depth) {
    this.totalSystems = Number(answer.total_systems ?? this.totalSystems);
    this.capacity = Number(answer.capacity ?? this.capacity);
    const clock = answer.clock ?? null;
    const newer = (n) => clock !== null && n.version !== null && Number(n.version) > Number(clock);
    const deepest = level + depth;
    const top = this.node(level, cell);
    if (!newer(top)) top.count = 0; // absent from the answer means it holds nothing now
    // Every node above the deepest level of the answer now has a known child list.
    const known = [top];
    for (const item of answer.nodes ?? []) {
      const n = this.node(Number(item.level), item.cell);
      if (!newer(n)) {
        n.count = Number(item.count);
        n.version = item.version ?? null;
      }
      if (n.level < deepest) known.push(n);
    }
    for (const n of known) {
      n.children = n.children.filter(newer); // children the feed added after the answer's clock stay
      n.childrenKnown = true;
    }
    for (const item of answer.nodes ?? []) {
      const lvl = Number(item.level);
      if (lvl <= level) continue;
      const n = this.nodes.get(nodeKey(lvl, toCell(lvl, item.cell)));
      const parent = this.nodes.get(n.parent);
      if (parent && parent.childrenKnown && !parent.children.includes(n)) parent.children.push(n);
    }
    this.generation++;
  }

  /**
   * Take in changed nodes from /api/v1/chunks/changes. A node the map has not
   * discovered is skipped (it is read fresh when it is), unless its parent's
   * children are known: then it is a new child. Returns the keys that changed.
   */
  applyChanges(nodes) {
    const changed = [];
    for (const item of nodes ?? []) {
      const level = Number(item.level);
      if (!(level >= 0 && level <= MAX_LEVEL)) continue;
      const cell = toCell(level, item.cell);
      const key = nodeKey(level, cell);
      const parent = level > 0 ? this.nodes.get(nodeKey(level - 1, parentCell(level, cell))) : null;
      if (!this.nodes.has(key) && level > 0 && !parent?.childrenKnown) continue;
      const n = this.node(level, cell);
      if (parent?.childrenKnown && !parent.children.includes(n)) parent.children.push(n);
      if (n.version === item.version && n.count === Number(item.count)) continue;
      n.count = Number(item.count);
      n.version = item.version ?? null;
      changed.push(key);
    }
    if (changed.length) this.generation++;
    return changed;
  }

  /** The node holding the point (x, y, z) at `level`, if the map knows it. */
  nodeAt(level, x, y, z) {
    const h = this.halfSize;
    const side = (2 * h) / 2 ** level;
    const g = [x, y, z].map((v, a) => Math.min(2 ** level - 1, Math.max(0, Math.floor((v - (this.centre[a] - h)) / side))));
    let cell = 0n;
    for (let i = level - 1; i >= 0; i--) {
      const digit = (((g[0] >> i) & 1) | (((g[1] >> i) & 1) << 1) | (((g[2] >> i) & 1) << 2));
      cell = cell * 8n + BigInt(digit);
    }
    return this.nodes.get(nodeKey(level, cell)) ?? null;
  }
}
