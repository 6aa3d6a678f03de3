// Finding the star under the pointer, in screen space, over the chunks that are drawn.
//
// Every drawn point is projected with the camera's matrices; the nearest one
// within a few pixels of the pointer wins (the one nearer the camera on a tie).
// Costs one pass over the drawn points, a few milliseconds per million.

import * as THREE from "three";

const m = new THREE.Matrix4();
const viewProj = new THREE.Matrix4();
const box = new THREE.Box3();
const frustum = new THREE.Frustum();

/** Default pick radius in CSS pixels. */
export const PICK_RADIUS_PX = 8;

/**
 * Nearest drawn star to (clientX, clientY).
 * @param {Iterable<object>} chunks loaded chunk entries (chunk-loader.js) to search
 * @param {THREE.PerspectiveCamera} camera
 * @param {DOMRect} rect the canvas's bounding rectangle
 * @returns {{best: object|null, secondDistancePx: number}}
 *   best: {entry, index, clientX, clientY, distancePx, depth}
 */
export function nearestStar(chunks, camera, rect, clientX, clientY, radiusPx = PICK_RADIUS_PX) {
  camera.updateMatrixWorld();
  viewProj.multiplyMatrices(camera.projectionMatrix, camera.matrixWorldInverse);
  frustum.setFromProjectionMatrix(viewProj);
  const r2 = radiusPx * radiusPx;
  let best = null;
  let bestD2 = Infinity;
  let bestW = Infinity;
  let secondD2 = Infinity;
  const halfW = rect.width / 2;
  const halfH = rect.height / 2;
  for (const entry of chunks) {
    if (!entry.positions) continue;
    const o = entry.origin;
    box.min.set(o[0], o[1], o[2]);
    box.max.set(o[0] + entry.side, o[1] + entry.side, o[2] + entry.side);
    if (!frustum.intersectsBox(box)) continue;
    m.makeTranslation(o[0], o[1], o[2]).premultiply(viewProj);
    const e = m.elements;
    const p = entry.positions;
    for (let i = 0, j = 0; i < entry.count; i++, j += 3) {
      const x = p[j];
      const y = p[j + 1];
      const z = p[j + 2];
      const w = e[3] * x + e[7] * y + e[11] * z + e[15];
      if (w <= 0) continue;
      const sx = rect.left + ((e[0] * x + e[4] * y + e[8] * z + e[12]) / w + 1) * halfW;
      const sy = rect.top + (1 - (e[1] * x + e[5] * y + e[9] * z + e[13]) / w) * halfH;
      const dx = sx - clientX;
      const dy = sy - clientY;
      const d2 = dx * dx + dy * dy;
      if (d2 > r2) continue;
      if (d2 < bestD2 || (d2 === bestD2 && w < bestW)) {
        secondD2 = Math.min(secondD2, bestD2);
        bestD2 = d2;
        bestW = w;
        best = { entry, index: i, clientX: sx, clientY: sy, distancePx: Math.sqrt(d2), depth: w };
      } else if (d2 < secondD2) {
        secondD2 = d2;
      }
    }
  }
  return { best, secondDistancePx: Math.sqrt(secondD2) };
}

/** Screen position of point `index` of a chunk entry, or null when behind the camera. */
export function screenPosition(entry, index, camera, rect) {
  camera.updateMatrixWorld();
  viewProj.multiplyMatrices(camera.projectionMatrix, camera.matrixWorldInverse);
  const v = new THREE.Vector3(
    entry.origin[0] + entry.positions[3 * index],
    entry.origin[1] + entry.positions[3 * index + 1],
    entry.origin[2] + entry.positions[3 * index + 2],
  );
  const w = v.clone().applyMatrix4(camera.matrixWorldInverse);
  if (w.z >= 0) return null;
  v.applyMatrix4(viewProj);
  return {
    clientX: rect.left + (v.x + 1) * (rect.width / 2),
    clientY: rect.top + (1 - v.y) * (rect.height / 2),
  };
}

/** World position [x, y, z] (LY) of point `index` of a chunk entry. */
export function worldPosition(entry, index) {
  return [0, 1, 2].map((a) => entry.origin[a] + entry.positions[3 * index + a]);
}

/**
 * The point of a loaded chunk that is the system at (x, y, z): the nearest
 * within the chunk's quantization step. Returns {entry, index} or null.
 */
export function findLoadedPoint(chunks, x, y, z) {
  let found = null;
  let foundD = Infinity;
  for (const entry of chunks) {
    if (!entry.positions) continue;
    const o = entry.origin;
    const s = entry.side;
    // the step, plus float32's own rounding of positions up to `side` from the origin
    const tol = entry.step + s * 2 ** -22 + 1e-6 * Math.max(1, Math.abs(x) + Math.abs(y) + Math.abs(z));
    if (x < o[0] - tol || y < o[1] - tol || z < o[2] - tol) continue;
    if (x > o[0] + s + tol || y > o[1] + s + tol || z > o[2] + s + tol) continue;
    const lx = x - o[0];
    const ly = y - o[1];
    const lz = z - o[2];
    const p = entry.positions;
    for (let i = 0, j = 0; i < entry.count; i++, j += 3) {
      const d = Math.max(Math.abs(p[j] - lx), Math.abs(p[j + 1] - ly), Math.abs(p[j + 2] - lz));
      if (d <= tol && d < foundD) {
        found = { entry, index: i };
        foundD = d;
      }
    }
  }
  return found;
}
