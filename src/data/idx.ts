/**
 * IDX files, as MNIST and Fashion-MNIST ship them, plain or gzip-compressed.
 *
 * Layout (big-endian): a 4-byte magic number 0x00 0x00 <type> <ndims>, then
 * ndims 32-bit sizes, then the data, row-major. Digits reads the unsigned-byte
 * type (0x08) only, which is what every MNIST-style set uses:
 *   labels  0x00000801  [N]            values 0..9
 *   images  0x00000803  [N, H, W]      values 0..255, scaled to 0..1 on load
 *
 * A file is gzip when it starts with the bytes 1f 8b, whatever its name.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { DigitsError, invalidParameter } from '../errors.js';
import { CLASS_NAMES_FILE, NUM_CLASSES, type Dataset } from './dataset.js';
import {
  IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, UBYTE, bytesToUnit, checkIdxHeader, isGzip, keptCount, parseIdx, type IdxArray, type IdxRead,
} from './idx-format.js';

export { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, bytesToUnit, isGzip, parseIdx, type IdxArray, type IdxRead } from './idx-format.js';

const gunzip = promisify(zlib.gunzip);
const gzip = promisify(zlib.gzip);

function fileError(file: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new DigitsError(`${file}: no such file`);
  if (code === 'EISDIR') return new DigitsError(`${file}: is a directory, expected an IDX file`);
  if (code === 'EACCES') return new DigitsError(`${file}: permission denied`);
  return err;
}

/**
 * The most a gzipped IDX file may decompress to: 1 GiB, about 1.3 million 28x28 images (MNIST's
 * training images are 47 MB). A few-MB "gzip bomb" would otherwise take gigabytes of memory.
 */
export const IDX_MAX_DECOMPRESSED_BYTES = 1 << 30;

async function maybeGunzip(file: string, bytes: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    return await gunzip(bytes, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DigitsError(`${file}: decompresses to more than ${maxBytes.toLocaleString('en-US')} bytes, ` +
        'more than an IDX file of digits should hold (refused rather than filling memory)');
    }
    throw new DigitsError(
      `${file}: the file starts like gzip (1f 8b) but does not decompress: ${(err as Error).message}`,
    );
  }
}

/**
 * Read an IDX file (plain or gzip, told apart by the bytes 1f 8b). For a plain
 * file with a `limit`, only the header and the first `limit` items are read;
 * the file size is still checked against the header.
 */
export async function readIdx(
  file: string,
  opts: { expectMagic?: number; limit?: number; maxDecompressedBytes?: number } = {},
): Promise<IdxRead> {
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1)) {
    throw invalidParameter('limit', 'a whole number >= 1', opts.limit);
  }
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    throw fileError(file, err);
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new DigitsError(`${file}: is a directory, expected an IDX file`);
    const size = stat.size;
    const head = new Uint8Array(Math.min(size, 4 + 4 * 255));
    await readFully(handle, head, 0);
    if (isGzip(head) || opts.limit === undefined) {
      const raw = new Uint8Array(size);
      raw.set(head);
      await readFully(handle, raw.subarray(head.length), head.length);
      if (isGzip(head) && opts.limit !== undefined) {
        return await gunzipLimited(file, raw, opts.limit, opts.maxDecompressedBytes ?? IDX_MAX_DECOMPRESSED_BYTES, opts.expectMagic);
      }
      const bytes = await maybeGunzip(file, raw, opts.maxDecompressedBytes ?? IDX_MAX_DECOMPRESSED_BYTES);
      const arr = parseIdx(file, bytes, opts);
      // Copy a kept prefix so the whole file's buffer can be collected.
      return arr.dims[0] === arr.total ? arr : { ...arr, data: arr.data.slice() };
    }
    const h = checkIdxHeader(file, head, size, opts.expectMagic);
    const total = h.dims[0]!;
    const keep = keptCount(total, opts.limit);
    const itemSize = total > 0 ? h.dataBytes / total : 0;
    const data = new Uint8Array(keep * itemSize);
    await readFully(handle, data, h.headerBytes);
    return { dims: [keep, ...h.dims.slice(1)], total, data };
  } finally {
    await handle.close();
  }
}

/** The first `need` bytes that gzip data `raw` decompresses to (fewer if it ends first); the rest is never inflated. */
function gunzipPrefix(file: string, raw: Uint8Array, need: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = Buffer.allocUnsafe(need);
    let got = 0;
    const gz = zlib.createGunzip();
    gz.on('data', (c: Buffer) => {
      const take = Math.min(c.length, need - got);
      c.copy(out, got, 0, take);
      got += take;
      if (got >= need) {
        gz.destroy();
        resolve(out);
      }
    });
    gz.on('end', () => resolve(out.subarray(0, got)));
    gz.on('error', (err) => {
      if (got >= need) return;
      reject(new DigitsError(`${file}: the file starts like gzip (1f 8b) but does not decompress: ${err.message}`));
    });
    gz.end(raw);
  });
}

/**
 * A gzipped IDX file's first `limit` items: only the header and those items are decompressed, so
 * memory follows the items used, not the file's size (a file of a million images read for 100 of them).
 */
async function gunzipLimited(file: string, raw: Uint8Array, limit: number, maxBytes: number, expectMagic?: number): Promise<IdxRead> {
  const head = await gunzipPrefix(file, raw, 4 + 4 * 255);
  const ndims = head.length >= 4 ? head[3]! : 0;
  const headerBytes = 4 + 4 * ndims;
  // the header checked as if the file held exactly what it declares (the rest is not read)
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const dims = head.length >= headerBytes ? Array.from({ length: ndims }, (_, d) => view.getUint32(4 + 4 * d)) : [];
  const declared = headerBytes + dims.reduce((a, b) => a * b, 1);
  const h = checkIdxHeader(file, head.subarray(0, Math.min(head.length, headerBytes)), head.length >= headerBytes ? declared : head.length, expectMagic);
  const total = h.dims[0]!;
  const keep = keptCount(total, limit);
  const itemSize = total > 0 ? h.dataBytes / total : 0;
  const need = h.headerBytes + keep * itemSize;
  if (need > maxBytes) {
    throw new DigitsError(`${file}: its first ${keep} items need ${need.toLocaleString('en-US')} bytes, more than the ` +
      `${maxBytes.toLocaleString('en-US')} an IDX file of digits may decompress to (refused rather than filling memory)`);
  }
  const bytes = await gunzipPrefix(file, raw, need);
  if (bytes.length < need) {
    throw new DigitsError(`${file}: truncated data: the header (${h.dims.join(' x ')}) needs ${h.dataBytes} bytes after the ` +
      `header, the file decompresses to ${bytes.length - h.headerBytes} before it ends`);
  }
  return { dims: [keep, ...h.dims.slice(1)], total, data: new Uint8Array(bytes.buffer, bytes.byteOffset + h.headerBytes, keep * itemSize).slice() };
}

async function readFully(handle: fs.FileHandle, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
}

/** IDX images [N, H, W] as a Dataset (labels null), pixels scaled to 0..1. */
export async function readIdxImages(file: string, opts: { limit?: number } = {}): Promise<Dataset> {
  return idxToImages(file, await readIdx(file, { expectMagic: IDX_IMAGES_MAGIC, limit: opts.limit }));
}

function idxToImages(file: string, arr: IdxArray): Dataset {
  const [count, height, width] = arr.dims as [number, number, number];
  if (height === 0 || width === 0) {
    throw new DigitsError(`${file}: image size ${height} x ${width} in the header; expected at least 1 x 1`);
  }
  return { images: bytesToUnit(arr.data), labels: null, count, height, width, channels: 1, source: file };
}

/** IDX labels [N], each checked to be 0..9. */
export async function readIdxLabels(file: string, opts: { limit?: number } = {}): Promise<Uint8Array> {
  return checkLabels(file, (await readIdx(file, { expectMagic: IDX_LABELS_MAGIC, limit: opts.limit })).data);
}

function checkLabels(file: string, labels: Uint8Array): Uint8Array {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= NUM_CLASSES) {
      throw new DigitsError(`${file}: item ${i + 1} has label ${labels[i]}; expected a digit 0-9`);
    }
  }
  return labels;
}

/** Bytes of an IDX file holding `data` with sizes `dims` (unsigned byte type). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new DigitsError(`encodeIdx: dims ${dims.join(' x ')} need ${n} bytes, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + n);
  const view = new DataView(out.buffer);
  view.setUint32(0, (UBYTE << 8) | dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** IDX file bytes, gzip-compressed when `gz` is set. */
export async function encodeIdxFile(dims: readonly number[], data: Uint8Array, gz = false): Promise<Uint8Array> {
  const raw = encodeIdx(dims, data);
  return gz ? new Uint8Array(await gzip(raw)) : raw;
}

/** MNIST's two sets: 'train' (60,000 images) and 'test' (10,000). */
export type Split = 'train' | 'test';

/**
 * Names an IDX folder may use for a split, in the order they are tried:
 * MNIST / Fashion-MNIST (`train-images-idx3-ubyte`) and the dotted variant
 * some mirrors use (`train-images.idx3-ubyte`), each plain or `.gz`.
 */
export function idxFileNames(split: Split, kind: 'images' | 'labels'): string[] {
  const prefix = split === 'train' ? 'train' : 't10k';
  const suffix = kind === 'images' ? 'idx3-ubyte' : 'idx1-ubyte';
  const bases = [`${prefix}-${kind}-${suffix}`, `${prefix}-${kind}.${suffix}`];
  return bases.flatMap((b) => [b, `${b}.gz`]);
}

/** The first existing file among `names` in `dir`, or null. */
export async function findIdxFile(dir: string, split: Split, kind: 'images' | 'labels'): Promise<string | null> {
  for (const name of idxFileNames(split, kind)) {
    const p = path.join(dir, name);
    try {
      if ((await fs.stat(p)).isFile()) return p;
    } catch {
      // try the next name
    }
  }
  return null;
}

/**
 * Load `train-*` (or `t10k-*` for 'test') images and labels from a folder of
 * IDX files. Label count must match image count.
 */
export async function loadIdxDirectory(dir: string, split: Split, opts: { limit?: number } = {}): Promise<Dataset> {
  try {
    if (!(await fs.stat(dir)).isDirectory()) throw new DigitsError(`${dir}: not a directory, expected a folder of IDX files`);
  } catch (err) {
    if (err instanceof DigitsError) throw err;
    throw new DigitsError(`${dir}: no such directory`);
  }
  const imagesFile = await findIdxFile(dir, split, 'images');
  const labelsFile = await findIdxFile(dir, split, 'labels');
  const missing: string[] = [];
  if (!imagesFile) missing.push(idxFileNames(split, 'images')[0] + '[.gz]');
  if (!labelsFile) missing.push(idxFileNames(split, 'labels')[0] + '[.gz]');
  if (missing.length > 0) {
    // a Kaggle folder (train.csv, test.csv) named instead of its CSV
    const csv = split === 'train' ? 'train.csv' : 'test.csv';
    const hasCsv = await fs.stat(path.join(dir, csv)).then((s) => s.isFile(), () => false);
    throw new DigitsError(`${dir}: no ${missing.join(' or ')} in this folder (expected IDX files as MNIST ships them)` +
      (hasCsv ? `; it holds ${csv}: pass the file, --data ${path.join(dir, csv)}` : ''));
  }
  const images = await readIdx(imagesFile!, { expectMagic: IDX_IMAGES_MAGIC, limit: opts.limit });
  const labels = await readIdx(labelsFile!, { expectMagic: IDX_LABELS_MAGIC, limit: opts.limit });
  if (labels.total !== images.total) {
    throw new DigitsError(
      `${labelsFile}: ${labels.total} labels but ${imagesFile} has ${images.total} images; expected one label per image`,
    );
  }
  const classNames = await readClassNames(dir);
  return { ...idxToImages(imagesFile!, images), labels: checkLabels(labelsFile!, labels.data), source: dir, ...(classNames ? { classNames } : {}) };
}

/**
 * The class names of a folder of IDX files, from its class-names.txt (one per line, class 0 first; a
 * Fashion-MNIST folder: T-shirt/top, Trouser, ...), or null when it has none: the classes are digits.
 */
export async function readClassNames(dir: string): Promise<string[] | null> {
  const file = path.join(dir, CLASS_NAMES_FILE);
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new DigitsError(`${file}: cannot be read (${err.message})`);
  });
  if (text === null) return null;
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (names.length !== NUM_CLASSES) {
    throw new DigitsError(`${file}: expected ${NUM_CLASSES} class names, one per line (class 0 first), got ${names.length}`);
  }
  const seen = new Set<string>();
  for (const [i, n] of names.entries()) {
    if (n.length > 64) throw new DigitsError(`${file} line ${i + 1}: a class name of at most 64 characters, got ${n.length}`);
    if (seen.has(n)) throw new DigitsError(`${file} line ${i + 1}: "${n}" names two classes`);
    seen.add(n);
  }
  return names;
}
