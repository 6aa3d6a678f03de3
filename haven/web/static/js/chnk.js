// CHNK chunk decoder for the browser map (ES module, no dependencies).
//
// The byte-by-byte format is specified in docs/formats/chnk.md; the Python
// reference encoder/decoder is haven/chunks/format.py.  Everything here works
// on typed arrays: no object is created per star system.
//
//   import { decodeChunk } from "./chnk.js";
//   const res = await fetch(url);            // the browser undoes gzip
//   const chunk = decodeChunk(await res.arrayBuffer(), { centre, halfSize });
//   geometry.setAttribute("position", new THREE.BufferAttribute(chunk.positions, 3));

export const FORMAT_VERSION = 1;
export const HEADER_SIZE = 16;
export const FLAG_METADATA = 0x01;
export const FLAG_IDS = 0x02;
export const FLAG_COLOUR16 = 0x04;
export const KNOWN_FLAGS = FLAG_METADATA | FLAG_IDS | FLAG_COLOUR16;
export const MAX_LEVEL = 21;
export const QUANT_MAX = 65535;
const MAGIC = [0x43, 0x48, 0x4e, 0x4b]; // "CHNK"
const MAX_METADATA_DEPTH = 512;

/** Thrown for every malformed or unsupported chunk. */
export class ChunkFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "ChunkFormatError";
  }
}

// ---------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, the one zlib.crc32 computes)

let crcTable = null;

export function crc32(bytes) {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------
// Octree geometry (same arithmetic as haven/chunks/geometry.py)

/**
 * Grid position [ix, iy, iz] of node (level, cell): de-interleave the cell,
 * bit 3i -> x bit i, 3i+1 -> y bit i, 3i+2 -> z bit i.  `cell` may be a
 * Number or a BigInt (cells of deep levels exceed 2^53).
 */
export function cellToGrid(level, cell) {
  if (!Number.isInteger(level) || level < 0 || level > MAX_LEVEL) {
    throw new RangeError(`level must be an integer in 0..${MAX_LEVEL}, got ${level}`);
  }
  let c;
  try {
    c = BigInt(cell);
  } catch {
    throw new RangeError(`cell must be an integer, got ${cell}`);
  }
  if (c < 0n || c >= 1n << BigInt(3 * level)) {
    throw new RangeError(`cell ${c} out of range for level ${level}`);
  }
  const g = [0, 0, 0];
  for (let i = 0; i < level; i++) {
    const digit = Number((c >> BigInt(3 * i)) & 7n);
    g[0] += (digit & 1) * 2 ** i;
    g[1] += ((digit >> 1) & 1) * 2 ** i;
    g[2] += ((digit >> 2) & 1) * 2 ** i;
  }
  return g;
}

/** {min: [x, y, z], side} of node (level, cell) in a galaxy cube (centre, halfSize). */
export function nodeBounds(level, cell, centre, halfSize) {
  const g = cellToGrid(level, cell);
  const h = Number(halfSize);
  if (!(Number.isFinite(h) && h > 0)) throw new RangeError(`halfSize must be finite and > 0, got ${halfSize}`);
  if (!centre || centre.length !== 3) throw new RangeError("centre must be [x, y, z]");
  const side = (2 * h) / 2 ** level;
  const min = [0, 1, 2].map((a) => Number(centre[a]) - h + g[a] * side);
  if (!min.every(Number.isFinite)) throw new RangeError("centre must be finite numbers");
  return { min, side };
}

// ---------------------------------------------------------------------------
// msgpack subset: nil, bool, ints (BigInt beyond 2^53), float32/64, str, bin,
// array, map with string keys.  Extension types are rejected.

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decode one msgpack value that must fill `bytes` (a Uint8Array) exactly. */
export function decodeMsgpack(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;

  const need = (n) => {
    if (pos + n > bytes.length) throw new ChunkFormatError("metadata is not valid msgpack: truncated");
  };
  const u8 = () => (need(1), view.getUint8(pos++));
  const u16 = () => { need(2); const v = view.getUint16(pos); pos += 2; return v; };
  const u32 = () => { need(4); const v = view.getUint32(pos); pos += 4; return v; };
  const int = (big) => (big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big);
  const str = (n) => {
    need(n);
    const s = bytes.subarray(pos, pos + n);
    pos += n;
    try {
      return utf8.decode(s);
    } catch {
      throw new ChunkFormatError("metadata is not valid msgpack: string is not UTF-8");
    }
  };
  const bin = (n) => { need(n); const b = bytes.slice(pos, pos + n); pos += n; return b; };
  const array = (n, depth) => {
    if (n > bytes.length - pos) throw new ChunkFormatError("metadata is not valid msgpack: array longer than data");
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = value(depth + 1);
    return out;
  };
  const map = (n, depth) => {
    if (n > bytes.length - pos) throw new ChunkFormatError("metadata is not valid msgpack: map longer than data");
    const out = {};
    for (let i = 0; i < n; i++) {
      const k = value(depth + 1);
      if (typeof k !== "string") throw new ChunkFormatError("metadata map keys must be strings");
      // defineProperty: a key such as "__proto__" stays an ordinary key.
      Object.defineProperty(out, k, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };

  function value(depth) {
    if (depth > MAX_METADATA_DEPTH) throw new ChunkFormatError("metadata nests too deeply");
    const b = u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b >= 0x80 && b <= 0x8f) return map(b & 0x0f, depth);
    if (b >= 0x90 && b <= 0x9f) return array(b & 0x0f, depth);
    if (b >= 0xa0 && b <= 0xbf) return str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(u8());
      case 0xc5: return bin(u16());
      case 0xc6: return bin(u32());
      case 0xca: { need(4); const v = view.getFloat32(pos); pos += 4; return v; }
      case 0xcb: { need(8); const v = view.getFloat64(pos); pos += 8; return v; }
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: { need(8); const v = view.getBigUint64(pos); pos += 8; return int(v); }
      case 0xd0: { need(1); const v = view.getInt8(pos); pos += 1; return v; }
      case 0xd1: { need(2); const v = view.getInt16(pos); pos += 2; return v; }
      case 0xd2: { need(4); const v = view.getInt32(pos); pos += 4; return v; }
      case 0xd3: { need(8); const v = view.getBigInt64(pos); pos += 8; return int(v); }
      case 0xd9: return str(u8());
      case 0xda: return str(u16());
      case 0xdb: return str(u32());
      case 0xdc: return array(u16(), depth);
      case 0xdd: return array(u32(), depth);
      case 0xde: return map(u16(), depth);
      case 0xdf: return map(u32(), depth);
      default:
        // 0xc1 (never used), 0xc7-0xc9 and 0xd4-0xd8 (extension types)
        throw new ChunkFormatError(`metadata uses unsupported msgpack type 0x${b.toString(16)}`);
    }
  }

  const v = value(0);
  if (pos !== bytes.length) throw new ChunkFormatError("metadata is not valid msgpack: trailing bytes");
  return v;
}

// ---------------------------------------------------------------------------
// chunk decoder

function asBytes(buf) {
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  throw new TypeError("decodeChunk expects an ArrayBuffer or a typed array");
}

/** Parse and check the 16-byte header. */
export function readHeader(buf) {
  const bytes = asBytes(buf);
  if (bytes.length < HEADER_SIZE) {
    throw new ChunkFormatError(`truncated chunk: ${bytes.length} bytes, shorter than the ${HEADER_SIZE}-byte header`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC[i]) throw new ChunkFormatError("bad magic: not a CHNK chunk");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = bytes[4];
  const flags = bytes[5];
  const level = bytes[6];
  if (version !== FORMAT_VERSION) {
    throw new ChunkFormatError(`unsupported CHNK format version ${version} (this decoder reads version ${FORMAT_VERSION})`);
  }
  if (flags & ~KNOWN_FLAGS) throw new ChunkFormatError(`unknown flag bits set in flags 0x${flags.toString(16)}`);
  if (level > MAX_LEVEL) throw new ChunkFormatError(`level ${level} is deeper than the maximum ${MAX_LEVEL}`);
  if (bytes[7] !== 0) throw new ChunkFormatError(`reserved header byte 7 must be 0, got ${bytes[7]}`);
  const count = dv.getUint32(8, true);
  const crc = dv.getUint32(12, true);
  const colourBytes = flags & FLAG_COLOUR16 ? 2 : 1;
  const hasIds = (flags & FLAG_IDS) !== 0;
  return {
    version, flags, level, count, crc,
    hasMetadata: (flags & FLAG_METADATA) !== 0,
    hasIds,
    colourBytes,
    bytesPerSystem: 6 + colourBytes + (hasIds ? 4 : 0),
  };
}

/**
 * Decode a CHNK chunk.
 *
 * options (all optional):
 *   centre, halfSize  galaxy cube ([x, y, z] LY, LY); otherwise metadata.galaxy
 *                     ({centre, half_size}) is used
 *   min, side         the node's cube directly (skips the level/cell geometry)
 *   cell              node cell when the chunk carries none (or to check it)
 *   relative          positions relative to `origin` (the node's min corner)
 *                     instead of absolute LY -- better float32 precision deep
 *                     in the tree; place the THREE.Points at `origin`.
 *   verifyCrc         default true
 *
 * Returns {version, flags, level, cell, count, positions (Float32Array,
 * xyz interleaved), colours (Uint8Array | Uint16Array), ids (Uint32Array |
 * null), metadata (object), origin ([x, y, z] node min, LY), side, step,
 * relative}.
 */
export function decodeChunk(buf, options = {}) {
  const bytes = asBytes(buf);
  const hdr = readHeader(bytes);
  const n = hdr.count;
  const total = bytes.length;

  const fixedEnd = HEADER_SIZE + n * hdr.bytesPerSystem; // < 2^53: exact
  let need = fixedEnd + (hdr.hasMetadata ? 4 : 0);
  if (total < need) {
    throw new ChunkFormatError(`truncated chunk: header says ${n} systems, which needs at least ${need} bytes, but the buffer has ${total}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let metaLen = 0;
  if (hdr.hasMetadata) {
    metaLen = dv.getUint32(fixedEnd, true);
    need += metaLen;
    if (total < need) {
      throw new ChunkFormatError(`truncated chunk: header says ${n} systems, so the ${metaLen}-byte metadata (length at offset ${fixedEnd}) would end at byte ${need}, but the buffer has ${total}`);
    }
  }
  if (total > need) {
    throw new ChunkFormatError(`chunk length ${total} does not match its header: needs exactly ${need} bytes (${total - need} trailing bytes)`);
  }
  if (options.verifyCrc !== false) {
    const crc = crc32(bytes.subarray(HEADER_SIZE));
    if (crc !== hdr.crc) throw new ChunkFormatError("CRC-32 mismatch: corrupt chunk");
  }

  const metadata = hdr.hasMetadata ? decodeMsgpack(bytes.subarray(fixedEnd + 4, need)) : {};
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata) || metadata instanceof Uint8Array) {
    throw new ChunkFormatError("metadata must be a msgpack map");
  }
  if (Object.hasOwn(metadata, "level") && metadata.level !== hdr.level) {
    throw new ChunkFormatError(`metadata level ${metadata.level} disagrees with header level ${hdr.level}`);
  }
  let cell = null;
  if (Object.hasOwn(metadata, "cell")) {
    const c = metadata.cell;
    const ok = (typeof c === "number" && Number.isInteger(c)) || typeof c === "bigint";
    if (!ok || BigInt(c) < 0n || BigInt(c) >= 1n << BigInt(3 * hdr.level)) {
      throw new ChunkFormatError(`metadata cell ${c} is not a valid cell for level ${hdr.level}`);
    }
    cell = c;
  }
  if (options.cell !== undefined && options.cell !== null) {
    if (cell !== null && BigInt(cell) !== BigInt(options.cell)) {
      throw new ChunkFormatError(`chunk is node (level ${hdr.level}, cell ${cell}), not the expected cell ${options.cell}`);
    }
    cell = options.cell;
  }

  // The node's cube.
  let origin, side;
  if (options.min !== undefined && options.side !== undefined) {
    origin = [0, 1, 2].map((a) => Number(options.min[a]));
    side = Number(options.side);
  } else {
    if (cell === null) {
      if (hdr.level !== 0) throw new ChunkFormatError(`chunk at level ${hdr.level} carries no cell; pass options.cell`);
      cell = 0;
    }
    let centre = options.centre;
    let halfSize = options.halfSize;
    if (centre === undefined || halfSize === undefined) {
      const g = Object.hasOwn(metadata, "galaxy") ? metadata.galaxy : undefined;
      if (!g || typeof g !== "object" || g.centre === undefined || g.half_size === undefined) {
        throw new RangeError("cannot place the chunk: pass {centre, halfSize} (or {min, side}); the chunk's metadata has no galaxy cube {centre, half_size}");
      }
      centre = g.centre;
      halfSize = g.half_size;
    }
    ({ min: origin, side } = nodeBounds(hdr.level, cell, centre, halfSize));
  }
  const step = side / QUANT_MAX;
  const relative = options.relative === true;

  // Positions: per axis a high-byte plane then a low-byte plane.
  const positions = new Float32Array(3 * n);
  let off = bytes.byteOffset + HEADER_SIZE;
  for (let a = 0; a < 3; a++) {
    const hi = new Uint8Array(bytes.buffer, off, n);
    const lo = new Uint8Array(bytes.buffer, off + n, n);
    const base = relative ? 0 : origin[a];
    for (let i = 0, j = a; i < n; i++, j += 3) positions[j] = base + ((hi[i] << 8) | lo[i]) * step;
    off += 2 * n;
  }

  let colours;
  if (hdr.colourBytes === 1) {
    colours = bytes.slice(off - bytes.byteOffset, off - bytes.byteOffset + n);
  } else {
    colours = new Uint16Array(n);
    const hi = new Uint8Array(bytes.buffer, off, n);
    const lo = new Uint8Array(bytes.buffer, off + n, n);
    for (let i = 0; i < n; i++) colours[i] = (hi[i] << 8) | lo[i];
  }
  off += hdr.colourBytes * n;

  let ids = null;
  if (hdr.hasIds) {
    ids = new Uint32Array(n);
    const p0 = new Uint8Array(bytes.buffer, off, n);
    const p1 = new Uint8Array(bytes.buffer, off + n, n);
    const p2 = new Uint8Array(bytes.buffer, off + 2 * n, n);
    const p3 = new Uint8Array(bytes.buffer, off + 3 * n, n);
    for (let i = 0; i < n; i++) ids[i] = ((p0[i] << 24) | (p1[i] << 16) | (p2[i] << 8) | p3[i]) >>> 0;
  }

  return {
    version: hdr.version,
    flags: hdr.flags,
    level: hdr.level,
    cell,
    count: n,
    positions,
    colours,
    ids,
    metadata,
    origin,
    side,
    step,
    relative,
  };
}

// ---------------------------------------------------------------------------
// CHNX: a node's exact positions (docs/formats/chnk.md, "Exact positions: CHNX")

export const EXACT_HEADER_SIZE = 32;
export const EXACT_QUANT_MAX = 0xffffffff;
const EXACT_MAGIC = [0x43, 0x48, 0x4e, 0x58]; // "CHNX"

/**
 * Decode a CHNX: the positions of a node's systems in the order of its CHNK, each axis at
 * 32 bits of the node's cube. options: {centre, halfSize} (the galaxy cube) and `relative`
 * as for decodeChunk. Returns {level, cell (a BigInt past 2^53), version, count, positions
 * (Float32Array, xyz interleaved), origin, side, step}.
 */
export function decodeExact(buf, options = {}) {
  const bytes = asBytes(buf);
  if (bytes.length < EXACT_HEADER_SIZE) {
    throw new ChunkFormatError(`truncated CHNX: ${bytes.length} bytes, shorter than the ${EXACT_HEADER_SIZE}-byte header`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== EXACT_MAGIC[i]) throw new ChunkFormatError("bad magic: not a CHNX");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[4] !== 1) throw new ChunkFormatError(`unsupported CHNX format version ${bytes[4]} (this decoder reads version 1)`);
  const level = bytes[5];
  if (level > MAX_LEVEL) throw new ChunkFormatError(`level ${level} is deeper than the maximum ${MAX_LEVEL}`);
  if (dv.getUint16(6, true) !== 0) throw new ChunkFormatError("CHNX reserved bytes must be 0");
  const n = dv.getUint32(8, true);
  if (bytes.length !== EXACT_HEADER_SIZE + 12 * n) {
    throw new ChunkFormatError(`a CHNX of ${n} points is ${EXACT_HEADER_SIZE + 12 * n} bytes, got ${bytes.length}`);
  }
  if (crc32(bytes.subarray(EXACT_HEADER_SIZE)) !== dv.getUint32(12, true)) {
    throw new ChunkFormatError("CRC-32 mismatch: corrupt CHNX");
  }
  const big = dv.getBigUint64(16, true);
  const cell = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  const v = dv.getBigUint64(24, true);
  const version = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  const { min: origin, side } = nodeBounds(level, cell, options.centre, options.halfSize);
  const step = side / EXACT_QUANT_MAX;
  const relative = options.relative === true;
  const positions = new Float32Array(3 * n);
  let off = bytes.byteOffset + EXACT_HEADER_SIZE;
  for (let a = 0; a < 3; a++) {
    const p = [0, 1, 2, 3].map((k) => new Uint8Array(bytes.buffer, off + k * n, n));
    const base = relative ? 0 : origin[a];
    for (let i = 0, j = a; i < n; i++, j += 3) {
      const q = p[0][i] * 16777216 + ((p[1][i] << 16) | (p[2][i] << 8) | p[3][i]);
      positions[j] = base + q * step;
    }
    off += 4 * n;
  }
  return { level, cell, version, count: n, positions, origin, side, step };
}
