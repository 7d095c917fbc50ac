/**
 * The IDX format (LeCun's MNIST files) parsed from bytes already in memory: no files, so the browser
 * reads the data a web export carries (src/web) with the same checks. idx.ts reads files and re-exports this.
 */
import { DigitsError } from '../errors.js';

export const IDX_LABELS_MAGIC = 0x00000801;
export const IDX_IMAGES_MAGIC = 0x00000803;
export const UBYTE = 0x08;

/** An IDX array of unsigned bytes: `dims` sizes, `data` row-major. */
export interface IdxArray {
  readonly dims: number[];
  readonly data: Uint8Array;
}

/**
 * Bytes 0..255 to floats 0..1: out[i] = src[i] / 255, rounded once to float32
 * (the one place pixels are scaled; a division beats a table lookup here).
 */
export function bytesToUnit(src: Uint8Array, out = new Float32Array(src.length)): Float32Array {
  const n = src.length;
  for (let i = 0; i < n; i++) out[i] = src[i]! / 255;
  return out;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

function describeMagic(magic: number): string {
  if (magic === IDX_LABELS_MAGIC) return 'IDX labels (unsigned byte, 1 dimension)';
  if (magic === IDX_IMAGES_MAGIC) return 'IDX images (unsigned byte, 3 dimensions)';
  return `IDX unsigned byte, ${magic & 0xff} dimensions`;
}

/** What the header says: sizes, where the data starts, and how many bytes it needs. */
interface IdxHeader {
  dims: number[];
  headerBytes: number;
  dataBytes: number;
}

/**
 * Check an IDX header. `head` holds at least the file's first bytes (all of
 * the header when the file has one); `totalBytes` is the whole (decompressed)
 * length, checked against the sizes. `expectMagic` (0x801 / 0x803) checks the
 * whole magic number; without it any unsigned-byte IDX is accepted.
 */
export function checkIdxHeader(file: string, head: Uint8Array, totalBytes: number, expectMagic?: number): IdxHeader {
  if (totalBytes < 4) {
    throw new DigitsError(`${file}: too short for an IDX file (${totalBytes} bytes; the magic number alone is 4)`);
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = view.getUint32(0);
  const ndims = head[3]!;
  if (expectMagic !== undefined && magic !== expectMagic) {
    throw new DigitsError(
      `${file}: wrong magic number ${hex32(magic)}, expected ${hex32(expectMagic)} (${describeMagic(expectMagic)})`,
    );
  }
  if (head[0] !== 0 || head[1] !== 0 || head[2] !== UBYTE || ndims === 0) {
    throw new DigitsError(
      `${file}: wrong magic number ${hex32(magic)}, expected 0x000008NN (IDX, unsigned byte, NN dimensions)`,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (totalBytes < headerBytes) {
    throw new DigitsError(
      `${file}: truncated header: expected ${headerBytes} bytes for ${ndims} dimension sizes, found ${totalBytes}`,
    );
  }
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d));
  const dataBytes = dims.reduce((a, b) => a * b, 1);
  const actual = totalBytes - headerBytes;
  if (actual !== dataBytes) {
    const what = actual < dataBytes ? 'truncated data' : 'extra bytes after the data';
    throw new DigitsError(
      `${file}: ${what}: the header (${dims.join(' x ')}) needs ${dataBytes} bytes after the ` +
        `${headerBytes}-byte header (${headerBytes + dataBytes} bytes in all), found ${actual} (${totalBytes} in all)`,
    );
  }
  return { dims, headerBytes, dataBytes };
}

/** An IDX array as read: `total` is the item count in the header, `dims[0]` the count kept. */
export interface IdxRead extends IdxArray {
  readonly total: number;
}

export function keptCount(total: number, limit: number | undefined): number {
  return limit === undefined ? total : Math.min(total, limit);
}

/** Parse IDX bytes (already decompressed); `limit` keeps the first items. */
export function parseIdx(
  file: string,
  bytes: Uint8Array,
  opts: { expectMagic?: number; limit?: number } = {},
): IdxRead {
  const h = checkIdxHeader(file, bytes, bytes.length, opts.expectMagic);
  const total = h.dims[0]!;
  const keep = keptCount(total, opts.limit);
  const itemSize = total > 0 ? h.dataBytes / total : 0;
  const dims = [keep, ...h.dims.slice(1)];
  return { dims, total, data: bytes.subarray(h.headerBytes, h.headerBytes + keep * itemSize) };
}

