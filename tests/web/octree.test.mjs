// node --test tests/web/octree.test.mjs
//
// The map's octree (haven/web/static/js/map/octree.js): a hierarchy answer computed
// before an edit must not undo what the change feed said about that edit.

import test from "node:test";
import assert from "node:assert/strict";

import { Octree } from "../../haven/web/static/js/map/octree.js";

const CUBE = { centre_ly: [0, 0, 0], half_size_ly: 1024 };

function tree() {
  const t = new Octree({ galaxy: "G", cube: CUBE, capacity: 4, total_systems: 8 });
  t.ingest({ clock: 100, total_systems: 8, nodes: [
    { level: 0, cell: 0, count: 4, version: 90 },
    { level: 1, cell: 3, count: 4, version: 95 },
  ] }, 0, 0, 3);
  return t;
}

test("an answer older than the feed keeps the child the feed added", () => {
  const t = tree();
  const parent = t.nodes.get("1/3");
  assert.equal(parent.childrenKnown, true);
  // an insert at clock 101 makes node 2/27 under 1/3; the feed tells the map first
  assert.deepEqual(t.applyChanges([{ level: 2, cell: 27, count: 1, version: 101 },
                                   { level: 1, cell: 3, count: 4, version: 101 }]), ["2/27", "1/3"]);
  // then a hierarchy answer for 1/3 made at clock 100 (before the insert) arrives
  t.ingest({ clock: 100, total_systems: 8, nodes: [{ level: 1, cell: 3, count: 4, version: 95 }] }, 1, 3, 3);
  assert.deepEqual(parent.children.map((n) => n.key), ["2/27"]);
  assert.equal(parent.version, 101);
  assert.equal(t.nodes.get("2/27").count, 1);
});

test("an answer newer than the feed replaces what the map knew", () => {
  const t = tree();
  t.applyChanges([{ level: 2, cell: 27, count: 1, version: 101 }]);
  // made at clock 102, after a delete emptied 2/27: the node is absent from it
  t.ingest({ clock: 102, total_systems: 8, nodes: [{ level: 1, cell: 3, count: 4, version: 102 }] }, 1, 3, 3);
  assert.deepEqual(t.nodes.get("1/3").children.map((n) => n.key), []);
  assert.equal(t.nodes.get("1/3").version, 102);
});

test("an answer without a clock is taken as it is", () => {
  const t = tree();
  t.applyChanges([{ level: 2, cell: 27, count: 1, version: 101 }]);
  t.ingest({ total_systems: 8, nodes: [{ level: 1, cell: 3, count: 3, version: 96 }] }, 1, 3, 3);
  assert.deepEqual(t.nodes.get("1/3").children.map((n) => n.key), []);
  assert.equal(t.nodes.get("1/3").count, 3);
});
