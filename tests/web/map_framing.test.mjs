// node --test tests/web/map_framing.test.mjs
//
// How far the map's camera stands back to fit a set of systems (?ids=, a region, the first
// view of the galaxy): far enough for the narrower of the two fields of view. The camera's
// 55° is vertical; in a portrait window (a phone, 375 × 667) the horizontal one is narrower.

import test from "node:test";
import assert from "node:assert/strict";
import * as THREE from "three";

import { fitDistance } from "../../haven/web/static/js/map/galaxy-map.js";

const FOV = 55;

/** Where a point at (x, y, 0) falls on screen, in normalized coordinates (-1..1 is in view). */
function ndc(x, y, distance, aspect) {
  const camera = new THREE.PerspectiveCamera(FOV, aspect, 0.1, 1e6);
  camera.position.set(0, 0, distance);
  camera.lookAt(0, 0, 0);
  camera.updateMatrixWorld();
  return new THREE.Vector3(x, y, 0).project(camera);
}

test("two systems far apart in x both fit a portrait window", () => {
  const aspect = 375 / 667;
  const d = fitDistance(1000, FOV, aspect);
  for (const x of [-1000, 1000]) assert.ok(Math.abs(ndc(x, 0, d, aspect).x) <= 1 + 1e-9, `x = ${x} is off screen`);
});

test("in a landscape window the vertical field of view decides, as before", () => {
  const aspect = 16 / 9;
  const d = fitDistance(1000, FOV, aspect);
  assert.ok(Math.abs(d - 1000 / Math.tan(THREE.MathUtils.degToRad(FOV) / 2)) < 1e-6);
  for (const y of [-1000, 1000]) assert.ok(Math.abs(ndc(0, y, d, aspect).y) <= 1 + 1e-9);
});
