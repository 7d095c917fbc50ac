/**
 * Kaggle "Digit Recognizer" CSVs, streamed and parsed straight from bytes.
 *
 *   train.csv  label,pixel0,...,pixel783   then one row per image (label 0..9)
 *   test.csv   pixel0,...,pixel783         then one row per image
 *
 * Pixels are integers 0..255 in row-major order of a 28 x 28 image; on load
 * they become 0..1 (v / 255). The header is required; lines end in LF or
 * CRLF; a final newline is optional; blank lines are skipped. A UTF-8 BOM
 * before the header is ignored, and a gzip-compressed file (bytes 1f 8b) is
 * decompressed on the fly.
 *
 * The parser never builds a string of the file: it finds line ends with
 * Buffer.indexOf and reads plain digit cells byte by byte; any other cell
 * ("1.0", " 7", "-1", "abc") takes a slower path that either accepts an
 * integral value or throws a DigitsError naming the file, the 1-based line,
 * the column and what was expected.
 */
import { createReadStream, promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { DigitsError, describe, invalidParameter } from '../errors.js';
import { NUM_CLASSES, type Dataset } from './dataset.js';

export const KAGGLE_HEIGHT = 28;
export const KAGGLE_WIDTH = 28;
export const KAGGLE_PIXELS = KAGGLE_HEIGHT * KAGGLE_WIDTH;

/** The header Kaggle uses: `label,pixel0..pixel783` (labelled) or `pixel0..pixel783`. */
export function kaggleHeader(labelled: boolean): string[] {
  const cols: string[] = labelled ? ['label'] : [];
  for (let i = 0; i < KAGGLE_PIXELS; i++) cols.push(`pixel${i}`);
  return cols;
}

/** How readKaggleCsv reads a file: row limit, progress, and whether labels are expected. */
export interface ReadKaggleCsvOptions {
  /** true: a train.csv is required; false: a test.csv; 'auto' (default): decided by the first header column */
  labelled?: boolean | 'auto';
  /** keep only the first `limit` data rows (the rest of the file is not read) */
  limit?: number;
  /** called after each chunk with the number of rows parsed so far */
  onProgress?(rows: number): void;
  /** a gzipped file may decompress to at most this many bytes (default CSV_MAX_DECOMPRESSED_BYTES) */
  maxDecompressedBytes?: number;
}

const NL = 10;
const CR = 13;
const COMMA = 44;
const ZERO = 48;
const NINE = 57;
/** A line longer than this is not a Kaggle row (785 cells of "255," is ~3 KB). */
const MAX_LINE_BYTES = 16 << 20;

/**
 * An incremental parser: `push` byte chunks as they arrive, then `finish`.
 * `name` is the file name used in messages.
 */
export class KaggleCsvParser {
  /** rows parsed so far */
  rows = 0;
  /** true once `limit` rows are in; further input is ignored */
  done = false;

  private readonly name: string;
  private readonly want: boolean | 'auto';
  private readonly limit: number;
  private labelled = false;
  private headerDone = false;
  private sawBytes = false;
  private lineNo = 1;
  private headerLine = 1;
  private carry: Buffer | null = null;
  private pixels: Float32Array;
  private labels: Uint8Array;
  private capacity: number;
  private readonly sizeHint: number;
  private sized = false;
  /** bytes of the data rows parsed so far (for the size estimate) */
  private rowBytes = 0;

  constructor(name: string, opts: { labelled?: boolean | 'auto'; limit?: number; sizeHint?: number } = {}) {
    this.name = name;
    this.want = opts.labelled ?? 'auto';
    if (this.want !== true && this.want !== false && this.want !== 'auto') {
      throw invalidParameter('labelled', "true, false or 'auto'", this.want);
    }
    if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1)) {
      throw invalidParameter('limit', 'a whole number >= 1', opts.limit);
    }
    this.limit = opts.limit ?? Infinity;
    this.sizeHint = opts.sizeHint ?? 0;
    this.capacity = 0;
    this.pixels = new Float32Array(0);
    this.labels = new Uint8Array(0);
  }

  /** Feed the next bytes of the file. */
  push(chunk: Uint8Array): void {
    if (this.done || chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.sawBytes = true;
    let p = 0;
    if (this.carry) {
      const nl = buf.indexOf(NL);
      if (nl < 0) {
        this.carry = Buffer.concat([this.carry, buf]);
        this.checkLineLength(this.carry.length);
        return;
      }
      const line = Buffer.concat([this.carry, buf.subarray(0, nl)]);
      this.carry = null;
      this.line(line, 0, line.length);
      p = nl + 1;
    }
    while (!this.done) {
      const nl = buf.indexOf(NL, p);
      if (nl < 0) break;
      this.line(buf, p, nl);
      p = nl + 1;
    }
    if (!this.done && p < buf.length) {
      this.carry = Buffer.from(buf.subarray(p)); // a copy, so the big chunk can be collected
      this.checkLineLength(this.carry.length);
    }
    this.estimateRows();
  }

  /** The end of input: the last line (if it had no newline) and the checks of the whole. */
  finish(): Dataset {
    if (this.carry && !this.done) {
      const line = this.carry;
      this.carry = null;
      this.line(line, 0, line.length);
    }
    if (!this.sawBytes) {
      throw new DigitsError(
        `${this.name}: the file is empty; expected a header line ("label,pixel0,...,pixel783" for train.csv ` +
          `or "pixel0,...,pixel783" for test.csv) and then one row per image`,
      );
    }
    if (!this.headerDone) {
      throw new DigitsError(`${this.name}: the file holds only blank lines; expected a header line first`);
    }
    if (this.rows === 0) {
      throw new DigitsError(
        `${this.name}: no data rows after the header (line ${this.headerLine}); expected one row of ${this.columns()} values per image`,
      );
    }
    const n = this.rows;
    // A view when the estimate was close (at most 10% spare), else an exact copy.
    const used = n * KAGGLE_PIXELS;
    const images = this.capacity - n <= n / 10 ? this.pixels.subarray(0, used) : this.pixels.slice(0, used);
    const labels = this.labelled ? this.labels.slice(0, n) : null;
    this.pixels = new Float32Array(0);
    this.labels = new Uint8Array(0);
    return {
      images,
      labels,
      count: n,
      height: KAGGLE_HEIGHT,
      width: KAGGLE_WIDTH,
      channels: 1,
      source: this.name,
    };
  }

  private columns(): number {
    return KAGGLE_PIXELS + (this.labelled ? 1 : 0);
  }

  private checkLineLength(n: number): void {
    if (n > MAX_LINE_BYTES) {
      throw new DigitsError(
        `${this.name} line ${this.lineNo}: longer than ${MAX_LINE_BYTES >> 20} MB without a line end; expected a CSV row of ${this.columns()} values`,
      );
    }
  }

  /** One line, [start, end) without its LF. */
  private line(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === CR) end--;
    const lineNo = this.lineNo++;
    if (!this.headerDone) {
      this.header(buf, start, end, lineNo);
      return;
    }
    if (end === start) return; // blank line
    if (this.rows >= this.limit) {
      this.done = true;
      return;
    }
    if (this.rows >= this.capacity) this.grow();
    this.rowBytes += end - start + 2;
    this.row(buf, start, end, lineNo);
    this.rows++;
    if (this.rows >= this.limit) this.done = true;
  }

  /**
   * Room for more rows. Images are stored as float32 straight away (no byte
   * buffer and second pass). The first 1,024 rows go in a small buffer; once
   * a chunk's rows show the average row length, the file size gives an
   * estimate (+5%) and the buffer is resized to it, usually once. If the
   * estimate runs out, it is made again from the rows read so far; without
   * a file size (gzip) the buffer grows by half.
   */
  private grow(): void {
    let cap: number;
    if (this.sized) cap = Math.max(this.estimate(), this.capacity + 1024);
    else cap = this.capacity === 0 ? 1024 : Math.max(Math.ceil(this.capacity * 1.5), this.capacity + 1024);
    this.resize(cap);
  }

  private estimate(): number {
    return Math.ceil((this.sizeHint / (this.rowBytes / this.rows)) * 1.05) + 16;
  }

  private resize(cap: number): void {
    cap = Math.max(this.rows, Math.min(cap, this.limit));
    if (cap === this.capacity) return;
    const pixels = new Float32Array(cap * KAGGLE_PIXELS);
    pixels.set(this.pixels.subarray(0, this.rows * KAGGLE_PIXELS));
    const labels = new Uint8Array(this.labelled ? cap : 0);
    if (this.labelled) labels.set(this.labels.subarray(0, this.rows));
    this.pixels = pixels;
    this.labels = labels;
    this.capacity = cap;
  }

  /** After a chunk: size the buffers for the whole file from the rows seen so far. */
  private estimateRows(): void {
    if (this.sized || this.sizeHint <= 0 || this.rows < 64) return;
    this.sized = true;
    this.resize(this.estimate());
  }

  private header(buf: Buffer, start: number, end: number, lineNo: number): void {
    let text = buf.toString('utf8', start, end);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.startsWith('PK\u0003\u0004')) {
      throw new DigitsError(`${this.name}: is a zip archive; unzip it first (expected CSV text)`);
    }
    if (text.trim() === '') {
      // A blank line before the header: skip it, as blank lines elsewhere.
      return;
    }
    const cols = text.split(',').map(unquote);
    const first = cols[0];
    // what a CSV from another tool often looks like: say how to save it the Kaggle way
    if (cols.length === 1 && (text.split(';').length > 700 || text.split('\t').length > 700)) {
      const sep = text.includes(';') ? 'semicolons' : 'tabs';
      throw new DigitsError(`${this.name} line ${lineNo}: the columns are separated by ${sep}, not commas; ` +
        'save it with commas (pandas: df.to_csv(path, index=False))');
    }
    if ((first === '' || /^Unnamed: 0$/.test(first ?? '')) && (cols[1] === 'label' || cols[1] === 'pixel0')) {
      throw new DigitsError(`${this.name} line ${lineNo}, column 1: an unnamed first column before "${cols[1]}" is a pandas index; ` +
        'save the file without it (df.to_csv(path, index=False)), or drop the column');
    }
    let labelled: boolean;
    if (this.want === 'auto') {
      if (first !== 'label' && first !== 'pixel0') {
        throw new DigitsError(
          `${this.name} line ${lineNo}, column 1: expected header "label" (train.csv) or "pixel0" (test.csv), got ${describe(first)}`,
        );
      }
      labelled = first === 'label';
    } else {
      labelled = this.want;
    }
    const expected = kaggleHeader(labelled);
    const hint =
      this.want === true && first === 'pixel0'
        ? ' (this looks like an unlabelled test.csv; labelled data is needed here)'
        : this.want === false && first === 'label'
          ? ' (this looks like a labelled train.csv; an unlabelled test.csv is expected here)'
          : '';
    const n = Math.min(cols.length, expected.length);
    for (let i = 0; i < n; i++) {
      if (cols[i] !== expected[i]) {
        throw new DigitsError(
          `${this.name} line ${lineNo}, column ${i + 1}: expected header "${expected[i]}", got ${describe(cols[i])}${hint}`,
        );
      }
    }
    if (cols.length < expected.length) {
      throw new DigitsError(
        `${this.name} line ${lineNo}: expected ${expected.length} header columns (${expected[0]},...,pixel${KAGGLE_PIXELS - 1}), ` +
          `got ${cols.length}; first missing column "${expected[cols.length]}"`,
      );
    }
    if (cols.length > expected.length) {
      throw new DigitsError(
        `${this.name} line ${lineNo}, column ${expected.length + 1}: unexpected extra header column ${describe(cols[expected.length])}; ` +
          `expected ${expected.length} columns ending at "pixel${KAGGLE_PIXELS - 1}"`,
      );
    }
    this.labelled = labelled;
    this.headerDone = true;
    this.headerLine = lineNo;
  }

  /** One data row [start, end) (no line end), into slot `this.rows`. */
  private row(buf: Buffer, start: number, end: number, lineNo: number): void {
    let p = start;
    if (this.labelled) {
      const c = buf[p]!;
      if (c >= ZERO && c <= NINE && p + 1 < end && buf[p + 1] === COMMA) {
        this.labels[this.rows] = c - ZERO;
        p += 2;
      } else {
        const fe = fieldEnd(buf, p, end);
        this.labels[this.rows] = this.slowCell(buf, p, fe, lineNo, 0, NUM_CLASSES - 1);
        if (fe >= end) this.columnCountError(buf, start, end, lineNo);
        p = fe + 1;
      }
    }
    const px = this.pixels;
    const o = this.rows * KAGGLE_PIXELS;
    const firstCol = this.labelled ? 1 : 0;
    const last = KAGGLE_PIXELS - 1;
    for (let k = 0; k <= last; k++) {
      let v = 0;
      let q = p;
      while (q < end) {
        const c = buf[q]!;
        if (c < ZERO || c > NINE) break;
        v = v * 10 + (c - ZERO);
        q++;
      }
      if (q === p || v > 255 || (q < end && buf[q] !== COMMA)) {
        q = fieldEnd(buf, p, end);
        v = this.slowCell(buf, p, q, lineNo, firstCol + k, 255);
      }
      px[o + k] = v / 255;
      if (k < last) {
        if (q >= end) this.columnCountError(buf, start, end, lineNo);
        p = q + 1;
      } else if (q < end) {
        this.columnCountError(buf, start, end, lineNo);
      }
    }
  }

  /** A cell the fast path did not take: an integral value 0..max, or a DigitsError. */
  private slowCell(buf: Buffer, start: number, end: number, lineNo: number, col: number, max: number): number {
    const raw = buf.toString('utf8', start, end);
    const v = parseNumberCell(raw);
    if (Number.isInteger(v) && v >= 0 && v <= max) return v === 0 ? 0 : v; // -0 -> 0
    const what = max === 255 ? 'an integer pixel value 0-255' : 'an integer label 0-9';
    let got: string;
    if (raw.trim() === '') got = 'an empty cell';
    else if (Number.isNaN(v)) got = `${describe(raw.trim())} (not a number)`;
    else if (!Number.isInteger(v)) got = `${raw.trim()} (not an integer)`;
    else got = `${raw.trim()} (out of range)`;
    throw new DigitsError(`${this.name} line ${lineNo}, column ${col + 1} (${this.columnName(col)}): expected ${what}, got ${got}`);
  }

  private columnName(col: number): string {
    if (this.labelled) return col === 0 ? 'label' : `pixel${col - 1}`;
    return `pixel${col}`;
  }

  private columnCountError(buf: Buffer, start: number, end: number, lineNo: number): never {
    let got = 1;
    for (let i = start; i < end; i++) if (buf[i] === COMMA) got++;
    throw new DigitsError(
      `${this.name} line ${lineNo}: expected ${this.columns()} columns (${this.labelled ? 'label,' : ''}pixel0,...,pixel${KAGGLE_PIXELS - 1}), got ${got}`,
    );
  }
}

/** The index of the comma ending the field at `p`, or `end`. */
function fieldEnd(buf: Buffer, p: number, end: number): number {
  const i = buf.indexOf(COMMA, p);
  return i < 0 || i > end ? end : i;
}

function unquote(s: string): string {
  const t = s.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).trim() : t;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A CSV cell as a number (spaces and surrounding quotes allowed), or NaN. */
export function parseNumberCell(raw: string): number {
  const t = unquote(raw);
  return NUMBER.test(t) ? Number(t) : Number.NaN;
}

/**
 * The most a gzipped CSV may decompress to: 512 MiB, about 330,000 rows of 784 pixels (Kaggle's
 * train.csv is 76 MB, MNIST's 60,000 images as CSV 110 MB). A few-MB "gzip bomb" of rows would
 * otherwise fill memory with images.
 */
export const CSV_MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024;

/**
 * Read a Kaggle train.csv / test.csv into a Dataset, streaming the file.
 * Labels are null for an unlabelled (test.csv) file.
 */
export async function readKaggleCsv(file: string, opts: ReadKaggleCsvOptions = {}): Promise<Dataset> {
  let size: number;
  const head = new Uint8Array(2);
  try {
    const handle = await fs.open(file, 'r');
    try {
      const st = await handle.stat();
      if (st.isDirectory()) throw new DigitsError(`${file}: is a directory, expected a CSV file`);
      size = st.size;
      await handle.read(head, 0, 2, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DigitsError(`${file}: no such file`);
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new DigitsError(`${file}: permission denied`);
    throw err;
  }
  const gz = size >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  if (!gz && size >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff) || head[0] === 0 || head[1] === 0)) {
    const utf16 = head[0] === 0xff || head[0] === 0xfe || (head[0] === 0) !== (head[1] === 0);
    throw new DigitsError(`${file}: ${utf16 ? 'the file is UTF-16 text' : 'the file starts with NUL bytes'}, not a UTF-8 CSV; ` +
      'save it as UTF-8 (CSV UTF-8 in a spreadsheet\'s "Save as") and try again');
  }
  const parser = new KaggleCsvParser(file, { labelled: opts.labelled, limit: opts.limit, sizeHint: gz ? 0 : size });
  const input = createReadStream(file, { highWaterMark: 1 << 20 });
  let stream: Readable = input;
  if (gz) {
    const gunzip = zlib.createGunzip();
    input.on('error', (err) => gunzip.destroy(err)); // pipe() does not pass errors on
    stream = input.pipe(gunzip);
  }
  let inflated = 0;
  const maxInflated = opts.maxDecompressedBytes ?? CSV_MAX_DECOMPRESSED_BYTES;
  try {
    for await (const chunk of stream) {
      if (gz && (inflated += (chunk as Buffer).length) > maxInflated) {
        throw new DigitsError(`${file}: decompresses to more than ${maxInflated.toLocaleString('en-US')} bytes, ` +
          'more than a CSV of digits should hold (refused rather than filling memory; --limit N reads only the first N rows)');
      }
      parser.push(chunk as Buffer);
      opts.onProgress?.(parser.rows);
      if (parser.done) break;
    }
  } catch (err) {
    if (gz && !(err instanceof DigitsError)) {
      throw new DigitsError(`${file}: gzip data does not decompress: ${(err as Error).message}`);
    }
    throw err;
  } finally {
    input.destroy();
    if (stream !== input) stream.destroy();
  }
  const ds = parser.finish();
  opts.onProgress?.(ds.count);
  return ds;
}
