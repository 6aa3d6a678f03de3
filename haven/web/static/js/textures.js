// Small textures drawn on a canvas, shared by the 3D views.

import * as THREE from "three";

/**
 * A white disc fading to transparent at its rim (for round points and glows).
 * @param {number} sizePx texture side in pixels
 * @param {Array<[number, number]>} stops [offset 0..1, alpha 0..1] from the centre outwards
 */
export function radialTexture(sizePx, stops) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = sizePx;
  const ctx = canvas.getContext("2d");
  const half = sizePx / 2;
  const g = ctx.createRadialGradient(half, half, 0, half, half, half);
  for (const [offset, alpha] of stops) g.addColorStop(offset, `rgba(255,255,255,${alpha})`);
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, sizePx, sizePx);
  return new THREE.CanvasTexture(canvas);
}
