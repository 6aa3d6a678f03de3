// node --test tests/chunks/chnk_decode.test.mjs
//
// Decodes the fixtures written by the Python encoder (tests/chunks/chnk_fixtures.py)
// with the browser decoder and compares against what the Python decoder read.

import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  ChunkFormatError,
  cellToGrid,
  crc32,
  decodeChunk,
  decodeMsgpack,
  nodeBounds,
  readHeader,
} from "../../haven/web/static/js/chnk.js";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const NAMES = ["sample", "sample_deep", "sample_empty"];

function load(name) {
  const raw = readFileSync(new URL(`${name}.chnk`, FIXTURES));
  // copy into a fresh ArrayBuffer, as fetch().arrayBuffer() would give
  const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const expected = JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8"));
  return { buf, expected };
}

// Undo the JSON tagging of chnk_fixtures._tag.
function untag(v) {
  if (Array.isArray(v)) return v.map(untag);
  if (v && typeof v === "object") {
    if ("$bigint" in v) return BigInt(v.$bigint);
    if ("$bytes" in v) return Uint8Array.from(v.$bytes);
    if ("$map" in v) {
      const out = {};
      for (const [k, x] of v.$map) {
        Object.defineProperty(out, k, { value: untag(x), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
  }
  return v;
}

function assertClose(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tol = Math.abs(expected[i]) * 1.5e-7 + 1e-9; // float32 rounding
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      assert.fail(`${what}[${i}]: ${actual[i]} != ${expected[i]} (tol ${tol})`);
    }
  }
}

for (const name of NAMES) {
  test(`${name}: decodes like the Python decoder`, () => {
    const { buf, expected } = load(name);
    const c = decodeChunk(buf, { centre: expected.centre, halfSize: expected.half_size });
    assert.equal(c.version, 1);
    assert.equal(c.level, expected.level);
    assert.equal(BigInt(c.cell), BigInt(expected.cell));
    assert.equal(c.count, expected.count);
    assert.deepEqual(c.origin, expected.origin);
    assert.equal(c.side, expected.side);
    assert.ok(c.positions instanceof Float32Array);
    assertClose(c.positions, expected.positions, "positions");
    assert.ok(c.colours instanceof (expected.colour_bits === 16 ? Uint16Array : Uint8Array));
    assert.deepEqual(Array.from(c.colours), expected.colours);
    if (expected.ids === null) {
      assert.equal(c.ids, null);
    } else {
      assert.ok(c.ids instanceof Uint32Array);
      assert.deepEqual(Array.from(c.ids), expected.ids);
    }
    assert.deepStrictEqual(c.metadata, untag(expected.metadata));
  });

  test(`${name}: relative positions are quantized offsets from origin`, () => {
    const { buf, expected } = load(name);
    const c = decodeChunk(new Uint8Array(buf), { centre: expected.centre, halfSize: expected.half_size, relative: true });
    assert.equal(c.relative, true);
    const step = expected.side / 65535;
    assertClose(c.positions, expected.quantized.map((q) => q * step), "relative positions");
  });
}

test("metadata.galaxy places the chunk when no cube is passed", () => {
  for (const name of ["sample", "sample_deep"]) {
    const { buf, expected } = load(name);
    const c = decodeChunk(buf);
    assert.deepEqual(c.origin, expected.origin);
    assertClose(c.positions, expected.positions, `${name} positions`);
  }
});

test("explicit node cube {min, side}", () => {
  const { buf, expected } = load("sample");
  const c = decodeChunk(buf, { min: expected.origin, side: expected.side });
  assertClose(c.positions, expected.positions, "positions");
});

test("cell option must agree with the chunk's cell", () => {
  const { buf, expected } = load("sample_deep");
  decodeChunk(buf, { cell: BigInt(expected.cell) });
  assert.throws(() => decodeChunk(buf, { cell: 5 }), ChunkFormatError);
});

test("a level-0 chunk without a cube or galaxy metadata cannot be placed", () => {
  const { buf } = load("sample_empty");
  assert.throws(() => decodeChunk(buf), RangeError);
  const c = decodeChunk(buf, { centre: [1, 2, 3], halfSize: 10 });
  assert.equal(c.count, 0);
  assert.equal(c.positions.length, 0);
});

test("geometry matches the Python reference", () => {
  assert.deepEqual(cellToGrid(0, 0), [0, 0, 0]);
  assert.deepEqual(cellToGrid(1, 0b101), [1, 0, 1]);
  assert.deepEqual(cellToGrid(3, 0o527), [5, 3, 5]);
  assert.deepEqual(nodeBounds(3, 0o527, [10, 20, 30], 1000), { min: [260, -230, 280], side: 250 });
  assert.throws(() => cellToGrid(1, 8), RangeError);
  assert.throws(() => cellToGrid(22, 0), RangeError);
});

test("crc32 is zlib's", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test("msgpack subset", () => {
  const b = (...xs) => Uint8Array.from(xs);
  assert.equal(decodeMsgpack(b(0xc0)), null);
  assert.equal(decodeMsgpack(b(0xff)), -1);
  assert.equal(decodeMsgpack(b(0xd0, 0x80)), -128);
  assert.equal(decodeMsgpack(b(0xca, 0x3f, 0xc0, 0, 0)), 1.5);
  assert.equal(decodeMsgpack(b(0xcf, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), 2 ** 53 - 1); // safe: Number
  assert.equal(decodeMsgpack(b(0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0)), 2n ** 53n); // beyond: BigInt
  assert.equal(decodeMsgpack(b(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)), -2);
  assert.equal(decodeMsgpack(b(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), 2n ** 64n - 1n);
  assert.deepEqual(decodeMsgpack(b(0x92, 0xa1, 0x61, 0xc3)), ["a", true]);
  assert.throws(() => decodeMsgpack(b(0xd4, 1, 2)), ChunkFormatError); // fixext
  assert.throws(() => decodeMsgpack(b(0x81, 0x01, 0x02)), ChunkFormatError); // int key
  assert.throws(() => decodeMsgpack(b(0xa2, 0x61)), ChunkFormatError); // truncated
  assert.throws(() => decodeMsgpack(b(0xa1, 0xff)), ChunkFormatError); // bad utf-8
  assert.throws(() => decodeMsgpack(b(0xc0, 0xc0)), ChunkFormatError); // trailing
  assert.throws(() => decodeMsgpack(b(0xdd, 0xff, 0xff, 0xff, 0xff)), ChunkFormatError); // huge array
});

// --- malformed input: always ChunkFormatError, never anything else ---------

function withHeader(buf, patch) {
  const u = new Uint8Array(buf.slice(0));
  patch(u, new DataView(u.buffer));
  return u.buffer;
}

test("header errors", () => {
  const { buf } = load("sample");
  const cases = {
    "bad magic": (u) => { u[0] = 0x58; },
    "version": (u) => { u[4] = 2; },
    "unknown flag": (u) => { u[5] |= 0x80; },
    "level": (u) => { u[6] = 22; },
    "reserved": (u) => { u[7] = 1; },
    "count too big": (u, dv) => { dv.setUint32(8, dv.getUint32(8, true) + 1, true); },
    "count too small": (u, dv) => { dv.setUint32(8, dv.getUint32(8, true) - 1, true); },
    "crc": (u, dv) => { dv.setUint32(12, dv.getUint32(12, true) ^ 1, true); },
    "body bit flip": (u) => { u[40] ^= 0x10; },
  };
  for (const [what, patch] of Object.entries(cases)) {
    assert.throws(() => decodeChunk(withHeader(buf, patch)), ChunkFormatError, what);
  }
  assert.throws(() => readHeader(new Uint8Array([0x43, 0x48, 0x4e])), ChunkFormatError);
});

test("every truncation and extension is rejected", () => {
  const { buf } = load("sample_deep");
  const u = new Uint8Array(buf);
  for (let len = 0; len < u.length; len++) {
    assert.throws(() => decodeChunk(u.slice(0, len)), ChunkFormatError, `length ${len}`);
  }
  const longer = new Uint8Array(u.length + 1);
  longer.set(u);
  assert.throws(() => decodeChunk(longer), ChunkFormatError);
});

test("random bytes and random corruptions only ever raise ChunkFormatError", () => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const { buf } = load("sample_deep");
  const original = new Uint8Array(buf);
  for (let trial = 0; trial < 2000; trial++) {
    let u;
    if (trial % 2 === 0) {
      u = new Uint8Array(Math.floor(rand() * 80));
      for (let i = 0; i < u.length; i++) u[i] = Math.floor(rand() * 256);
      if (trial % 4 === 0 && u.length >= 5) u.set([0x43, 0x48, 0x4e, 0x4b, 1]);
    } else {
      u = original.slice(0);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) u[Math.floor(rand() * u.length)] ^= 1 + Math.floor(rand() * 255);
    }
    try {
      decodeChunk(u, { verifyCrc: trial % 3 !== 0, centre: [0, 0, 0], halfSize: 65536 });
    } catch (e) {
      if (!(e instanceof ChunkFormatError)) assert.fail(`trial ${trial}: ${e && e.name}: ${e && e.message}`);
    }
  }
});
