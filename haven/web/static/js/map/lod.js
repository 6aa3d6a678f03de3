// Which octree nodes to draw: by projected screen size, under a point budget.
//
// Nodes are additive: a node holds the highest-priority systems of its cube
// that no ancestor holds, so a node plus its ancestors is an even sample of
// its cube and each level down adds detail. Selection starts at the root and
// keeps taking the node that looks biggest on screen (node side / distance,
// scaled to pixels); a taken node whose projected size is above the threshold
// offers its children. A node is taken only if its systems still fit in the
// budget, so the selection never holds more points than the budget allows,
// and children always come after their parent.

import * as THREE from "three";
import { MAX_LEVEL } from "./octree.js";

/** Nodes smaller than this on screen (pixels) are not refined further. */
export const DEFAULT_REFINE_PX = 180;

/** Nodes off screen count this much less than their size says. */
const OFF_SCREEN_WEIGHT = 0.05;

class MaxHeap {
  constructor() {
    this.items = [];
  }
  get size() {
    return this.items.length;
  }
  push(priority, value) {
    const a = this.items;
    a.push({ priority, value });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].priority >= a[i].priority) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop() {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l].priority > a[m].priority) m = l;
        if (r < a.length && a[r].priority > a[m].priority) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

const box = new THREE.Box3();
const frustum = new THREE.Frustum();
const projScreen = new THREE.Matrix4();

function nodeBox(node) {
  box.min.set(node.min[0], node.min[1], node.min[2]);
  box.max.set(node.min[0] + node.side, node.min[1] + node.side, node.min[2] + node.side);
  return box;
}

/** Distance from a point to a node's cube (0 inside). */
export function distanceToNode(node, p) {
  let d2 = 0;
  for (let a = 0; a < 3; a++) {
    const v = a === 0 ? p.x : a === 1 ? p.y : p.z;
    const lo = node.min[a];
    const hi = lo + node.side;
    if (v < lo) d2 += (lo - v) ** 2;
    else if (v > hi) d2 += (v - hi) ** 2;
  }
  return Math.sqrt(d2);
}

/** Projected size in pixels of a node seen from `camera` on a viewport `heightPx` tall. */
export function projectedSize(node, camera, heightPx) {
  const d = distanceToNode(node, camera.position);
  if (d <= 0) return Infinity;
  const fov = THREE.MathUtils.degToRad(camera.fov);
  return (node.side / d) * (heightPx / 2) / Math.tan(fov / 2);
}

/**
 * Choose the nodes to draw.
 * @returns {{wanted: object[], points: number, frontier: object[]}}
 *   wanted: nodes in priority order (parents before children), their counts summing to `points` <= budget;
 *   frontier: taken nodes the camera wants refined whose children are not known yet.
 */
export function selectNodes(octree, camera, { budget, heightPx, refinePx = DEFAULT_REFINE_PX }) {
  camera.updateMatrixWorld();
  projScreen.multiplyMatrices(camera.projectionMatrix, camera.matrixWorldInverse);
  frustum.setFromProjectionMatrix(projScreen);

  const wanted = [];
  const frontier = [];
  let points = 0;
  const heap = new MaxHeap();
  heap.push(Infinity, octree.root);
  while (heap.size > 0) {
    const { value: node } = heap.pop();
    if (node.count > 0) {
      if (points + node.count > budget) continue; // it and its subtree do not fit
      wanted.push(node);
      points += node.count;
    } else if (node !== octree.root) {
      continue;
    }
    const size = projectedSize(node, camera, heightPx);
    if (size < refinePx || node.level >= MAX_LEVEL) continue;
    if (!frustum.intersectsBox(nodeBox(node))) continue;
    if (!node.childrenKnown) {
      frontier.push(node);
      continue;
    }
    for (const child of node.children) {
      if (child.count <= 0) continue;
      let priority = projectedSize(child, camera, heightPx);
      if (!frustum.intersectsBox(nodeBox(child))) priority *= OFF_SCREEN_WEIGHT;
      heap.push(priority, child);
    }
  }
  return { wanted, points, frontier };
}
