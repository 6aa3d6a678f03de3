// node --test tests/web/chunk_loader.test.mjs
//
// The map's chunk loader (haven/web/static/js/map/chunk-loader.js) against a fake
// server: `fetch` and the decoder are stand-ins, three.js objects are real (nothing
// is rendered). A chunk that changed on the server is drawn as it was only while
// its new copy is on its way; once the view stops wanting it (and so cancels that
// fetch) it must go, and while it is drawn stale the loader is not settled. A failed
// chunk is retried at its own time whatever fails after it, and one the server no longer
// has (404) is asked for once, not in a loop.

import test from "node:test";
import assert from "node:assert/strict";
import * as THREE from "three";

import { ChunkLoader } from "../../haven/web/static/js/map/chunk-loader.js";
import { Octree } from "../../haven/web/static/js/map/octree.js";

const CUBE = { centre_ly: [0, 0, 0], half_size_ly: 1024 };

/**
 * A fake chunk server. `answers[key]` is a list of what the next requests for the chunk
 * get, one item each (the last one repeats): {count, version}, "hang" (until the request
 * is cancelled), "fail" (a 500) or "gone" (a 404: the node was emptied).
 */
class FakeServer {
  constructor() {
    this.answers = {};
    this.asked = [];
    globalThis.fetch = (url, init) => this.fetch(String(url), init);
  }

  fetch(url, init) {
    const m = url.match(/\/api\/v1\/chunks\/(\d+)\/(\d+)/);
    assert.ok(m, `unexpected request ${url}`);
    const key = `${m[1]}/${m[2]}`;
    this.asked.push(key);
    const list = this.answers[key];
    assert.ok(list?.length, `no answer for ${key}`);
    const answer = list.length > 1 ? list.shift() : list[0];
    if (answer === "hang") {
      return new Promise((_, reject) => {
        const abort = () => reject(new DOMException("cancelled", "AbortError"));
        if (init?.signal?.aborted) abort();
        init?.signal?.addEventListener("abort", abort);
      });
    }
    if (answer === "fail") {
      return Promise.resolve(new Response(JSON.stringify({ error: "boom" }), { status: 500 }));
    }
    if (answer === "gone") {
      const error = { code: "not_found", message: "no such node" };
      const res = new Response(JSON.stringify({ error }), { status: 404 });
      return new Promise((resolve) => setTimeout(() => resolve(res), 1)); // as a network does: timers still run
    }
    const body = new TextEncoder().encode(JSON.stringify(answer));
    return Promise.resolve(new Response(body, { status: 200 }));
  }
}

/** Stands in for decode.js: the fake server's body names the count and version. */
const decoder = {
  async decode(buffer) {
    const { count, version } = JSON.parse(new TextDecoder().decode(buffer));
    return {
      count,
      version,
      positions: new Float32Array(count * 3),
      colours: new Uint8Array(count),
      origin: [0, 0, 0],
      side: 1,
      step: 0.01,
    };
  },
};

/**
 * A root with 4 systems and children 1/0 (2 systems) and 1/1 (3), as a hierarchy answer says.
 * `banner` follows what the loader reports, as the page's error box does.
 */
function setUp({ childVersion = 5 } = {}) {
  const octree = new Octree({ galaxy: "G", cube: CUBE, capacity: 4, total_systems: 9 });
  octree.ingest({ clock: 10, total_systems: 9, nodes: [
    { level: 0, cell: 0, count: 4, version: 5 },
    { level: 1, cell: 0, count: 2, version: childVersion },
    { level: 1, cell: 1, count: 3, version: 5 },
  ] }, 0, 0, 3);
  const server = new FakeServer();
  const banner = { shown: false, changes: [] };
  const loader = new ChunkLoader({
    octree,
    decoder,
    group: new THREE.Group(),
    material: new THREE.PointsMaterial(),
    budget: 1000,
    retryBaseMs: 20, // pauses of 20, 40, 80 ms... instead of seconds
    onError: () => {
      banner.shown = true;
    },
    onSuccess: () => {
      banner.shown = false;
    },
    onChange: (change) => banner.changes.push(change),
  });
  const root = octree.nodes.get("0/0");
  const child = octree.nodes.get("1/0");
  const sibling = octree.nodes.get("1/1");
  return { octree, server, loader, root, child, sibling, banner };
}

function asked(server, key) {
  return server.asked.filter((k) => k === key).length;
}

/** Let fetches, decodes and their follow-ups run until `done()` (or fail after a while). */
async function until(done, what) {
  for (let i = 0; i < 500; i++) {
    if (done()) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function drawn(loader) {
  return [...loader.visibleChunks()].map((e) => e.node.key).sort();
}

/** The map's reaction to a change-feed batch (galaxy-map.js applyChanges). */
function feed(octree, loader, nodes) {
  for (const key of octree.applyChanges(nodes)) loader.refresh(key);
}

/** The root and its child loaded and drawn, the child's later answers queued as ``childAnswers``. */
async function bothLoaded(t, ...childAnswers) {
  const parts = setUp();
  const { server, loader, root, child } = parts;
  t.after(() => loader.dispose());
  server.answers = { "0/0": [{ count: 4, version: 5 }], "1/0": [{ count: 2, version: 5 }, ...childAnswers] };
  loader.setWanted({ wanted: [root, child], frontier: [] });
  await until(() => loader.chunks.size === 2 && loader.inFlight === 0, "both chunks");
  return parts;
}

test("a changed chunk whose refetch the view cancels is dropped, not drawn with its old stars", async (t) => {
  const { octree, server, loader, root, child } = await bothLoaded(t, "hang");
  assert.deepEqual(drawn(loader), ["0/0", "1/0"]);

  // A star of 1/0 is deleted: its new copy is asked for, the old one drawn meanwhile.
  feed(octree, loader, [{ level: 1, cell: 0, count: 1, version: 6 }]);
  await until(() => loader.inFlight === 1, "the refetch");
  assert.equal(loader.chunks.get("1/0").stale, true);
  assert.deepEqual(drawn(loader), ["0/0", "1/0"]);
  assert.ok(loader.pending >= 1, "a stale wanted chunk is still to load");

  // The camera moves away before the answer: the refetch is cancelled, the old copy goes.
  loader.setWanted({ wanted: [root], frontier: [] });
  await until(() => loader.inFlight === 0, "the cancelled refetch");
  assert.equal(loader.chunks.has("1/0"), false, "the stale chunk stayed loaded");
  assert.deepEqual(drawn(loader), ["0/0"]);
  assert.equal(loader.loadedPoints, 4);
  assert.equal(loader.pending, 0);

  // Wanted again: fetched afresh, with the change.
  server.answers["1/0"] = [{ count: 1, version: 6 }];
  loader.setWanted({ wanted: [root, child], frontier: [] });
  await until(() => loader.chunks.get("1/0")?.version === 6 && loader.inFlight === 0, "the new copy");
  assert.deepEqual(drawn(loader), ["0/0", "1/0"]);
  assert.equal(loader.chunks.get("1/0").stale, false);
  assert.equal(loader.loadedPoints, 5);
  assert.equal(loader.pending, 0);
});

test("a changed chunk drawn stale while its refetch fails keeps the loader unsettled", async (t) => {
  const { octree, server, loader } = await bothLoaded(t, "fail");
  assert.equal(loader.pending, 0);

  feed(octree, loader, [{ level: 1, cell: 0, count: 1, version: 6 }]);
  await until(() => server.asked.filter((k) => k === "1/0").length === 2 && loader.inFlight === 0, "the failed refetch");
  // Nothing is in flight (the retry waits), but the drawn chunk is not what the server has.
  assert.equal(loader.chunks.get("1/0").stale, true);
  assert.equal(loader.pending, 1);
});

test("an answer older than the tree is dropped once the view no longer wants it", async (t) => {
  // The tree already says version 7 (an edit committed after the chunk's answer was made).
  const { server, loader, root, child } = setUp({ childVersion: 7 });
  t.after(() => loader.dispose());
  server.answers = { "0/0": [{ count: 4, version: 5 }], "1/0": [{ count: 2, version: 6 }, "hang"] };
  loader.setWanted({ wanted: [root, child], frontier: [] });
  await until(() => loader.chunks.size === 2 && loader.inFlight === 1, "the behind chunk and its refetch");
  assert.equal(loader.chunks.get("1/0").stale, true);
  assert.ok(loader.pending >= 1);

  loader.setWanted({ wanted: [root], frontier: [] });
  await until(() => loader.inFlight === 0, "the cancelled refetch");
  assert.equal(loader.chunks.has("1/0"), false, "the behind chunk stayed loaded");
  assert.deepEqual(drawn(loader), ["0/0"]);
  assert.equal(loader.pending, 0);
});

test("an unchanged chunk the view stops wanting stays cached", async (t) => {
  const { loader, root } = await bothLoaded(t);
  loader.setWanted({ wanted: [root], frontier: [] });
  assert.equal(loader.chunks.has("1/0"), true);
  assert.equal(loader.pending, 0);
});

test("every failed chunk is retried at its own time, and the error stands until all have loaded", async (t) => {
  const { server, loader, root, child, sibling, banner } = setUp();
  t.after(() => loader.dispose());
  // 1/0 fails three times (its next try is 80 ms away), then 1/1 fails once (20 ms).
  server.answers = {
    "0/0": [{ count: 4, version: 5 }],
    "1/0": ["fail", "fail", "fail", { count: 2, version: 5 }],
    "1/1": ["fail", { count: 3, version: 5 }],
  };
  loader.setWanted({ wanted: [root, child], frontier: [] });
  await until(() => asked(server, "1/0") === 3 && loader.inFlight === 0, "three failures of 1/0");
  loader.setWanted({ wanted: [root, child, sibling], frontier: [] });
  await until(() => loader.chunks.has("1/1"), "1/1 on its second try");
  // 1/1 loaded, 1/0 has not: the error is not over.
  assert.equal(loader.chunks.has("1/0"), false);
  assert.equal(banner.shown, true, "another chunk's success cleared the error of one still failing");
  assert.equal(loader.pending, 1);

  // 1/1's failure must not have cancelled 1/0's retry.
  await until(() => loader.chunks.has("1/0"), "1/0 asked again at its own time");
  assert.equal(asked(server, "1/0"), 4);
  assert.equal(loader.pending, 0);
  assert.equal(banner.shown, false);
});

test("the error of a failed chunk goes once the view no longer wants it", async (t) => {
  const { server, loader, root, child, banner } = setUp();
  t.after(() => loader.dispose());
  server.answers = { "0/0": [{ count: 4, version: 5 }], "1/0": ["fail"] };
  loader.setWanted({ wanted: [root, child], frontier: [] });
  await until(() => asked(server, "1/0") === 1 && loader.inFlight === 0, "the failure");
  assert.equal(banner.shown, true);
  loader.setWanted({ wanted: [root], frontier: [] });
  assert.equal(banner.shown, false);
});

test("a chunk the server no longer has is asked for once, then its node counts as empty", async (t) => {
  const { server, loader, root, child, banner } = setUp();
  t.after(() => loader.dispose());
  server.answers = { "0/0": [{ count: 4, version: 5 }], "1/0": ["gone"] };
  loader.setWanted({ wanted: [root, child], frontier: [] });
  await until(() => asked(server, "1/0") >= 1, "the request");
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(asked(server, "1/0"), 1, "the emptied node was asked for again and again");
  assert.equal(child.count, 0);
  assert.equal(loader.pending, 0, "an emptied node is nothing left to load");
  assert.equal(banner.shown, false);
  // The map selects again (the tree changed), and that selection leaves the node out.
  assert.ok(banner.changes.some((c) => c.tree), "no new selection was asked for");

  // Until the change feed says the node holds systems again.
  server.answers["1/0"] = [{ count: 1, version: 8 }];
  const { octree } = loader;
  feed(octree, loader, [{ level: 1, cell: 0, count: 1, version: 8 }]);
  loader.setWanted({ wanted: [root, child], frontier: [] });
  await until(() => loader.chunks.has("1/0"), "the node's new chunk");
  assert.equal(asked(server, "1/0"), 2);
});
