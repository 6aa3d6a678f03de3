// node --test tests/web/lod.test.mjs
//
// The map's octree and node selection below level 17 (haven/web/static/js/map/octree.js,
// lod.js). The server's octree goes down to level 21 (docs/formats/chnk.md), where a cell
// needs up to 63 bits: more than a JavaScript number holds exactly (2^53). The map must
// keep such cells exact from the JSON text on, and refine its selection down to level 21.

import test from "node:test";
import assert from "node:assert/strict";
import * as THREE from "three";

import { selectNodes } from "../../haven/web/static/js/map/lod.js";
import { Octree, parseTreeJson } from "../../haven/web/static/js/map/octree.js";

const HALF = 131_072; // the default galaxy cube, ±131,072 LY
const CUBE = { centre_ly: [0, 0, 0], half_size_ly: HALF };
const DEEPEST = 21;
/** A point in the cube's far corner: its cells from level 18 on are above 2^53. */
const SPOT = [100_000.3, 90_000.7, 80_000.1];

/** The cell at each level 0..21 holding SPOT (Morton code, x lowest), as BigInts. */
function cellsOf(point) {
  const side = (2 * HALF) / 2 ** DEEPEST;
  const g = point.map((v) => BigInt(Math.floor((v + HALF) / side)));
  let code = 0n;
  for (let i = 0n; i < BigInt(DEEPEST); i++) {
    for (let a = 0n; a < 3n; a++) code |= ((g[a] >> i) & 1n) << (3n * i + a);
  }
  return Array.from({ length: DEEPEST + 1 }, (_, level) => code >> BigInt(3 * (DEEPEST - level)));
}

/** The hierarchy answer for that chain of nodes, as the server writes it: cells as bare JSON integers. */
function chainText(cells, count = 8) {
  const nodes = cells.map((cell, level) => `{"level":${level},"cell":${cell},"count":${count},"version":3}`);
  return `{"clock":5,"total_systems":${count * cells.length},"capacity":${count},"nodes":[${nodes.join(",")}]}`;
}

function deepTree() {
  const cells = cellsOf(SPOT);
  assert.ok(cells[DEEPEST] > 2n ** 53n, "the fixture must reach past 2^53");
  const octree = new Octree({ galaxy: "G", cube: CUBE, capacity: 8, total_systems: 8 * 22 });
  octree.ingest(parseTreeJson(chainText(cells)), 0, 0, DEEPEST);
  return { octree, cells };
}

test("cells deeper than level 17 keep every digit, and their nodes their place", () => {
  const { octree, cells } = deepTree();
  for (let level = 1; level <= DEEPEST; level++) {
    const node = octree.nodes.get(`${level}/${cells[level]}`);
    assert.ok(node, `node ${level}/${cells[level]} is missing`);
    assert.equal(node.count, 8);
    assert.equal(node.parent, `${level - 1}/${cells[level - 1]}`);
    assert.ok(octree.nodes.get(node.parent).children.includes(node), `${node.key} is not its parent's child`);
    for (let a = 0; a < 3; a++) {
      assert.ok(node.min[a] <= SPOT[a] && SPOT[a] < node.min[a] + node.side, `${node.key} does not hold the spot`);
    }
  }
  assert.equal(octree.nodes.get(`${DEEPEST}/${cells[DEEPEST]}`).childrenKnown, true, "level 21 has no children to ask for");
});

test("the change feed reaches nodes deeper than level 17", () => {
  const { octree, cells } = deepTree();
  const feed = parseTreeJson(`{"clock":6,"nodes":[{"level":21,"cell":${cells[21]},"count":9,"version":6}]}`);
  assert.deepEqual(octree.applyChanges(feed.nodes), [`21/${cells[21]}`]);
  assert.equal(octree.nodes.get(`21/${cells[21]}`).count, 9);
});

test("the selection refines down to level 21 when the camera is close", () => {
  const { octree, cells } = deepTree();
  const camera = new THREE.PerspectiveCamera(55, 1, 0.001, 1e7);
  camera.up.set(0, 0, 1);
  camera.position.set(SPOT[0], SPOT[1] - 0.05, SPOT[2] + 0.04);
  camera.lookAt(...SPOT);
  camera.updateProjectionMatrix();
  const { wanted, frontier } = selectNodes(octree, camera, { budget: 1_000_000, heightPx: 560 });
  const levels = wanted.map((n) => n.level);
  assert.equal(Math.max(...levels), DEEPEST, `the selection stopped at level ${Math.max(...levels)}`);
  assert.ok(wanted.some((n) => n.key === `21/${cells[21]}`));
  assert.deepEqual(frontier, [], "nothing below level 21 is asked for");
});
