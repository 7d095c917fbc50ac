/**
 * Kaggle files Digits writes and reads back:
 *
 *   submission.csv    ImageId,Label            ImageId from 1, Label 0..9
 *                     [,p0,...,p9]             with --probabilities (6 significant digits)
 *   test-labels.csv   ImageId,Label            the answers, for `digits score`
 *   train.csv/test.csv                          written from a Dataset (pixels round(v * 255))
 *
 * Every write goes to a temporary name and is renamed into place, so an error
 * part-way leaves no file behind.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError, describe, invalidParameter } from '../errors.js';
import { openAtomic } from '../util/atomic.js';
import { KAGGLE_HEIGHT, KAGGLE_PIXELS, KAGGLE_WIDTH, kaggleHeader, parseNumberCell } from './csv.js';
import { NUM_CLASSES, type Dataset } from './dataset.js';
import { loadMnist } from './mnist.js';

/** Rows written per write call (keeps each string near a megabyte). */
const ROWS_PER_WRITE = 512;

/** A probability with 6 significant digits, without trailing zeros ("0.5", "1.23457e-7"). */
export function formatProbability(p: number): string {
  return String(Number(p.toPrecision(6)));
}

/** Write `chunks()` to `file` atomically: nothing is left behind if it throws. */
async function writeAtomicChunks(file: string, chunks: () => Iterable<string>): Promise<void> {
  let out: Awaited<ReturnType<typeof openAtomic>>;
  try {
    out = await openAtomic(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DigitsError(`${file}: cannot write: the folder ${path.dirname(file)} does not exist`);
    if (code === 'EACCES') throw new DigitsError(`${file}: cannot write: permission denied`);
    throw err;
  }
  try {
    for (const chunk of chunks()) await out.write(chunk);
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/**
 * A Kaggle submission: `ImageId,Label` with ImageId from 1; with `files` (one name per row, the
 * images it was read from) a `File` column after them; with `readings` (one per row) `Confidence` and
 * `IsDigit` (true/false); with `probabilities` (N x 10, row-major) ten more columns `p0..p9`.
 */
export async function writeSubmission(
  file: string,
  labels: ArrayLike<number>,
  opts: { probabilities?: Float32Array; files?: readonly string[]; readings?: readonly { confidence: number; isDigit: boolean }[] } = {},
): Promise<void> {
  const n = labels.length;
  const readings = opts.readings;
  if (readings !== undefined && readings.length !== n) throw new DigitsError(`readings: expected ${n} (one per label), got ${readings.length}`);
  const files = opts.files;
  if (files !== undefined && files.length !== n) throw new DigitsError(`files: expected ${n} names (one per label), got ${files.length}`);
  for (let i = 0; i < n; i++) {
    const v = labels[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v < NUM_CLASSES)) throw invalidParameter(`labels[${i}]`, 'an integer 0-9', v);
  }
  const probs = opts.probabilities;
  if (probs !== undefined) {
    if (probs.length !== n * NUM_CLASSES) {
      throw new DigitsError(
        `probabilities: expected ${n} x ${NUM_CLASSES} = ${n * NUM_CLASSES} values (one row per label), got ${probs.length}`,
      );
    }
    for (let i = 0; i < probs.length; i++) {
      if (!Number.isFinite(probs[i]!)) {
        throw invalidParameter(`probabilities[${Math.floor(i / NUM_CLASSES)}][${i % NUM_CLASSES}]`, 'a finite number', probs[i]);
      }
    }
  }
  const header = submissionHeader(probs !== undefined, files !== undefined, readings !== undefined);
  await writeAtomicChunks(file, function* () {
    yield header + '\n';
    let buf = '';
    for (let i = 0; i < n; i++) {
      buf += `${i + 1},${labels[i]}`;
      if (files) buf += ',' + csvField(files[i]!);
      if (readings) buf += `,${formatProbability(readings[i]!.confidence)},${readings[i]!.isDigit}`;
      if (probs) {
        for (let c = 0; c < NUM_CLASSES; c++) buf += ',' + formatProbability(probs[i * NUM_CLASSES + c]!);
      }
      buf += '\n';
      if ((i + 1) % ROWS_PER_WRITE === 0) {
        yield buf;
        buf = '';
      }
    }
    if (buf) yield buf;
  });
}

/** A CSV field: as is, or quoted (quotes doubled) when it holds a comma, a quote or a line break. */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function submissionHeader(probabilities: boolean, files = false, readings = false): string {
  let h = files ? 'ImageId,Label,File' : 'ImageId,Label';
  if (readings) h += ',Confidence,IsDigit';
  if (probabilities) for (let c = 0; c < NUM_CLASSES; c++) h += `,p${c}`;
  return h;
}

/** `ImageId,Label` answers (test-labels.csv); the same format as a submission. */
export async function writeLabelsCsv(file: string, labels: ArrayLike<number>): Promise<void> {
  await writeSubmission(file, labels);
}

/**
 * A Dataset as a Kaggle train.csv (`labelled`: label first) or test.csv.
 * Images must be 28 x 28 x 1 with values 0..1; each pixel is written as the
 * integer round(v * 255), so MNIST bytes survive a round trip exactly.
 */
export async function writeKaggleCsv(file: string, ds: Dataset, opts: { labelled: boolean }): Promise<void> {
  if (ds.height !== KAGGLE_HEIGHT || ds.width !== KAGGLE_WIDTH || ds.channels !== 1) {
    throw invalidParameter(
      'dataset',
      `${KAGGLE_HEIGHT} x ${KAGGLE_WIDTH} x 1 images for a Kaggle CSV`,
      `${ds.height} x ${ds.width} x ${ds.channels}`,
    );
  }
  if (ds.images.length !== ds.count * KAGGLE_PIXELS) {
    throw invalidParameter('dataset.images', `${ds.count * KAGGLE_PIXELS} values`, `${ds.images.length}`);
  }
  const labels = ds.labels;
  if (opts.labelled && !labels) {
    throw new DigitsError(`writeKaggleCsv: ${ds.source} has no labels; a labelled train.csv needs them`);
  }
  const header = kaggleHeader(opts.labelled).join(',') + '\n';
  const images = ds.images;
  const rowMax = KAGGLE_PIXELS * 4 + 3; // "255," per pixel, "9," and "\n"
  const bytes = Buffer.allocUnsafe(ROWS_PER_WRITE * rowMax);
  await writeAtomicChunks(file, function* () {
    yield header;
    for (let r0 = 0; r0 < ds.count; r0 += ROWS_PER_WRITE) {
      const r1 = Math.min(ds.count, r0 + ROWS_PER_WRITE);
      let o = 0;
      for (let r = r0; r < r1; r++) {
        if (opts.labelled) {
          const label = labels![r]!;
          if (label >= NUM_CLASSES) {
            throw new DigitsError(`writeKaggleCsv: ${ds.source} image ${r + 1} has label ${label}; expected 0-9`);
          }
          bytes[o++] = 48 + label;
          bytes[o++] = 44;
        }
        const base = r * KAGGLE_PIXELS;
        for (let k = 0; k < KAGGLE_PIXELS; k++) {
          const v = Math.round(images[base + k]! * 255);
          if (!(v >= 0 && v <= 255)) {
            throw new DigitsError(
              `writeKaggleCsv: ${ds.source} image ${r + 1}, pixel${k}: expected a value 0..1, got ${images[base + k]}`,
            );
          }
          if (v >= 100) {
            bytes[o++] = 48 + ((v / 100) | 0);
            bytes[o++] = 48 + (((v / 10) | 0) % 10);
            bytes[o++] = 48 + (v % 10);
          } else if (v >= 10) {
            bytes[o++] = 48 + ((v / 10) | 0);
            bytes[o++] = 48 + (v % 10);
          } else {
            bytes[o++] = 48 + v;
          }
          bytes[o++] = k === KAGGLE_PIXELS - 1 ? 10 : 44;
        }
      }
      yield bytes.toString('latin1', 0, o);
    }
  });
}

/**
 * `digits prepare --kaggle DIR`: the bundled MNIST as Kaggle files:
 * train.csv (60,000 labelled), test.csv (10,000, no labels), test-labels.csv.
 */
export async function prepareKaggle(
  dir: string,
  opts: { onProgress?(file: string, rows: number): void } = {},
): Promise<{ train: string; test: string; testLabels: string; trainRows: number; testRows: number }> {
  await fs.mkdir(dir, { recursive: true });
  const train = path.join(dir, 'train.csv');
  const test = path.join(dir, 'test.csv');
  const testLabels = path.join(dir, 'test-labels.csv');
  let trainRows: number;
  {
    const ds = await loadMnist('train');
    await writeKaggleCsv(train, ds, { labelled: true });
    trainRows = ds.count;
    opts.onProgress?.(train, ds.count);
  }
  const ds = await loadMnist('test');
  await writeKaggleCsv(test, ds, { labelled: false });
  opts.onProgress?.(test, ds.count);
  await writeLabelsCsv(testLabels, ds.labels!);
  opts.onProgress?.(testLabels, ds.count);
  return { train, test, testLabels, trainRows, testRows: ds.count };
}

/** A submission (or answers) file as read back. */
export interface Submission {
  /** ImageId of each row, in file order */
  readonly ids: Uint32Array;
  readonly labels: Uint8Array;
  /** N x 10 when the file has p0..p9 columns, else null */
  readonly probabilities: Float32Array | null;
  readonly count: number;
}

interface ParsedIdLabels extends Submission {
  /** the 1-based line of each row, for messages */
  readonly lines: Uint32Array;
}

async function readText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DigitsError(`${file}: no such file`);
    if (code === 'EISDIR') throw new DigitsError(`${file}: is a directory, expected a CSV file`);
    throw err;
  }
}

function unquote(s: string): string {
  const t = s.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).trim() : t;
}

async function parseIdLabelCsv(file: string, allowProbabilities: boolean): Promise<ParsedIdLabels> {
  let text = await readText(file);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) throw new DigitsError(`${file}: the file is empty; expected a header line "ImageId,Label"`);
  const lines = text.split('\n');
  let li = 0;
  while (li < lines.length && lines[li]!.trim() === '') li++;
  if (li === lines.length) throw new DigitsError(`${file}: the file holds only blank lines; expected a header "ImageId,Label"`);
  const headerLine = li + 1;
  const cols = lines[li]!.replace(/\r$/, '').split(',').map(unquote);
  const withP = allowProbabilities && cols.length > 2;
  const expected = submissionHeader(withP).split(',');
  for (let i = 0; i < Math.min(cols.length, expected.length); i++) {
    if (cols[i] !== expected[i]) {
      throw new DigitsError(`${file} line ${headerLine}, column ${i + 1}: expected header "${expected[i]}", got ${describe(cols[i])}`);
    }
  }
  if (cols.length !== expected.length) {
    throw new DigitsError(
      `${file} line ${headerLine}: expected ${expected.length} header columns (${expected.join(',')}` +
        `${allowProbabilities && !withP ? ', optionally followed by p0,...,p9' : ''}), got ${cols.length}`,
    );
  }
  const ncols = expected.length;
  const cap = lines.length;
  const ids = new Uint32Array(cap);
  const labels = new Uint8Array(cap);
  const lineNos = new Uint32Array(cap);
  const probs = withP ? new Float32Array(cap * NUM_CLASSES) : null;
  const seen = new Map<number, number>();
  let n = 0;
  for (li = li + 1; li < lines.length; li++) {
    const line = lines[li]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const lineNo = li + 1;
    const cells = line.split(',');
    if (cells.length !== ncols) {
      throw new DigitsError(`${file} line ${lineNo}: expected ${ncols} columns (${expected.join(',')}), got ${cells.length}`);
    }
    const where = (c: number): string => `${file} line ${lineNo}, column ${c + 1} (${expected[c]})`;
    const id = parseNumberCell(cells[0]!);
    if (!(Number.isInteger(id) && id >= 1 && id <= 0xffffffff)) {
      throw new DigitsError(`${where(0)}: expected an ImageId, a whole number from 1, got ${describe(cells[0]!.trim())}`);
    }
    const prev = seen.get(id);
    if (prev !== undefined) {
      throw new DigitsError(`${where(0)}: ImageId ${id} appears again (first on line ${prev}); expected each ImageId once`);
    }
    seen.set(id, lineNo);
    const label = parseNumberCell(cells[1]!);
    if (!(Number.isInteger(label) && label >= 0 && label < NUM_CLASSES)) {
      throw new DigitsError(`${where(1)}: expected a label, an integer 0-9, got ${describe(cells[1]!.trim())}`);
    }
    if (probs) {
      for (let c = 0; c < NUM_CLASSES; c++) {
        const p = parseNumberCell(cells[2 + c]!);
        if (!Number.isFinite(p)) {
          throw new DigitsError(`${where(2 + c)}: expected a probability (a number), got ${describe(cells[2 + c]!.trim())}`);
        }
        probs[n * NUM_CLASSES + c] = p;
      }
    }
    ids[n] = id;
    labels[n] = label;
    lineNos[n] = lineNo;
    n++;
  }
  if (n === 0) throw new DigitsError(`${file}: no data rows after the header (line ${headerLine})`);
  return {
    ids: ids.slice(0, n),
    labels: labels.slice(0, n),
    probabilities: probs ? probs.slice(0, n * NUM_CLASSES) : null,
    count: n,
    lines: lineNos.slice(0, n),
  };
}

/** Read a submission.csv (`ImageId,Label`, optionally `,p0..p9`). */
export async function readSubmission(file: string): Promise<Submission> {
  const { lines: _lines, ...sub } = await parseIdLabelCsv(file, true);
  return sub;
}

/** Read answers (`ImageId,Label`), as test-labels.csv. */
export async function readLabelsCsv(file: string): Promise<{ ids: Uint32Array; labels: Uint8Array; count: number }> {
  const { ids, labels, count } = await parseIdLabelCsv(file, false);
  return { ids, labels, count };
}

/**
 * Score a submission against answers: every answer's ImageId must appear in
 * the submission exactly once, and the submission may hold no others.
 */
export async function scoreSubmission(
  submissionFile: string,
  labelsFile: string,
): Promise<{ accuracy: number; correct: number; total: number }> {
  const sub = await parseIdLabelCsv(submissionFile, true);
  const truth = await parseIdLabelCsv(labelsFile, false);
  const answer = new Map<number, number>();
  for (let i = 0; i < truth.count; i++) answer.set(truth.ids[i]!, truth.labels[i]!);
  let correct = 0;
  for (let i = 0; i < sub.count; i++) {
    const want = answer.get(sub.ids[i]!);
    if (want === undefined) {
      throw new DigitsError(
        `${submissionFile} line ${sub.lines[i]}: ImageId ${sub.ids[i]} is not in ${labelsFile} ` +
          `(${truth.count} answers); expected the ImageIds of the answers file`,
      );
    }
    if (want === sub.labels[i]) correct++;
  }
  if (sub.count !== truth.count) {
    const given = new Set(sub.ids);
    let missing = 0;
    for (let i = 0; i < truth.count; i++) {
      if (!given.has(truth.ids[i]!)) {
        missing = truth.ids[i]!;
        break;
      }
    }
    throw new DigitsError(
      `${submissionFile}: ${sub.count} rows but ${labelsFile} has ${truth.count} answers; ` +
        `expected one row per answer (ImageId ${missing} is missing)`,
    );
  }
  return { accuracy: correct / truth.count, correct, total: truth.count };
}
