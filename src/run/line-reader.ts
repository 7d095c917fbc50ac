/**
 * The line reader (nn/line-reader.ts) trained, saved and loaded. `trainLineReader` is what `npm run
 * line-reader` runs to make the reader the package ships (models/line-reader); `loadLineReader`
 * opens it (or another).
 *
 * It learns from numbers of 1-6 MNIST training digits (rows the gate learns too, never the rows
 * lab/held-out.ts keeps apart) composed as bench/read.ts composes them and segmented as `digits
 * read` segments them: a candidate that holds one digit whole (data/compose.ts candidateDigits) is
 * that digit; one far from every digit is "not one whole digit", drawn at random, as many as the
 * whole ones; those in between are left out.
 */
import { fileURLToPath } from 'node:url';
import { DigitsError } from '../errors.js';
import { Rng } from '../engine/rng.js';
import { Tensor } from '../engine/tensor.js';
import type { Backend } from '../engine/backend.js';
import { loadMnist } from '../data/mnist.js';
import { candidateDigits, composeNumber } from '../data/compose.js';
import type { Dataset } from '../data/dataset.js';
import { lineBatch, segmentGray, type Segmentation } from '../preprocess/segment.js';
import { LINE_CLASSES, LINE_SHAPE, NOT_WHOLE, buildLineReader, lineProbabilities } from '../nn/line-reader.js';
import type { Sequential } from '../nn/sequential.js';
import { argmaxRow } from '../nn/losses.js';
import { DIGIT_CLASS_NAMES, loadModel, makeMetadata, saveModel } from '../io/model-files.js';
import { GATE_DIGITS, readsDigits } from './gate.js';
import { warnOnStderr, type OnRunEvent } from './events.js';
import type { DigitsMetadata } from '../io/model-files.js';

/** Where the package keeps its line reader. */
export const LINE_READER_DIR = fileURLToPath(new URL('../../../models/line-reader/', import.meta.url));

/** How the line reader is trained. */
export interface TrainLineReaderOptions {
  out: string;
  /** numbers composed to learn from (default 16,000: about 630,000 candidates, 5.7 GB of line fields; 11.5 GB resident at the peak) */
  numbers?: number;
  /** numbers of held-out training digits (rows GATE_DIGITS on) its figures are measured on (default 500) */
  check?: number;
  /** passes over them (default 8) */
  epochs?: number;
  seed?: number;
  backend: Backend;
}

/** What training the line reader measured on candidates of numbers of digits it did not learn from. */
export interface LineReaderTraining {
  /** candidates learned from: whole digits, and not */
  whole: number;
  notWhole: number;
  /** share of held-out whole digits read as their digit */
  wholeRead: number;
  /** share of held-out candidates far from every digit read as not one whole digit */
  notWholeRead: number;
  seconds: number;
}

const PER = LINE_SHAPE[0] * LINE_SHAPE[1] * LINE_SHAPE[2];

/** A number of 1-6 digits of `ds` at rows [from, to), composed and segmented: its candidates' line fields and what each holds. */
function composed(ds: Dataset, from: number, to: number, rng: Rng): { seg: Segmentation; labels: number[] } {
  const rows = Array.from({ length: 1 + rng.int(6) }, () => from + rng.int(to - from));
  const number = composeNumber(ds, rows, rng);
  const seg = segmentGray(number.image, 'a composed number', { pieceMap: true });
  const holds = candidateDigits(seg, number);
  return { seg, labels: Array.from(holds, (d) => (d >= 0 ? ds.labels![rows[d]!]! : d === -1 ? NOT_WHOLE : -1)) };
}

/**
 * Trains the line reader on candidates of `numbers` composed numbers, measures it on `check` numbers of
 * held-out training digits, and saves it in `out`.
 */
export async function trainLineReader(o: TrainLineReaderOptions, onEvent: OnRunEvent = warnOnStderr): Promise<LineReaderTraining> {
  const started = Date.now();
  const numbers = o.numbers ?? 16000, check = o.check ?? 500, seed = o.seed ?? 0;
  if (!(Number.isInteger(numbers) && numbers > 0)) throw new DigitsError(`numbers: expected a whole number >= 1, got ${numbers}`);
  const train = await loadMnist('train');
  const rng = new Rng(seed);
  onEvent({ type: 'info', message: `composing ${numbers.toLocaleString('en-US')} numbers and reading their candidates` });
  const chunks: Float32Array[] = [], labels: number[] = [];
  let whole = 0;
  for (let k = 0; k < numbers; k++) {
    const { seg, labels: held } = composed(train, 0, GATE_DIGITS, rng);
    const picked = held.flatMap((l, i) => (l >= 0 && l !== NOT_WHOLE ? [i] : []));
    const far = held.flatMap((l, i) => (l === NOT_WHOLE ? [i] : []));
    whole += picked.length;
    for (let j = 0, most = Math.min(far.length, picked.length); j < most; j++) picked.push(far.splice(rng.int(far.length), 1)[0]!);
    const fields = new Float32Array(picked.length * PER);
    picked.forEach((i, j) => {
      fields.set(seg.candidates[i]!.line, j * PER);
      labels.push(held[i]!);
    });
    chunks.push(fields);
  }
  const n = labels.length;
  const x = new Tensor([n, ...LINE_SHAPE]);
  chunks.reduce((at, c) => { x.data.set(c, at); return at + c.length; }, 0);
  chunks.length = 0;
  const y = new Tensor([n, LINE_CLASSES]);
  labels.forEach((l, j) => { y.data[j * LINE_CLASSES + l] = 1; });
  const model = buildLineReader(seed);
  model.setBackend(o.backend);
  await model.fit(x, y, { epochs: o.epochs ?? 8, batchSize: 64, shuffle: true, seed });

  // its figures, on numbers of training digits it never saw
  let wholeN = 0, wholeRight = 0, farN = 0, farRight = 0;
  for (let k = 0; k < check; k++) {
    const { seg, labels: held } = composed(train, GATE_DIGITS, train.count, rng);
    const p = lineProbabilities(model, lineBatch(seg), seg.candidates.length);
    held.forEach((l, i) => {
      if (l < 0) return;
      const best = argmaxRow(p, i, LINE_CLASSES);
      if (l === NOT_WHOLE) { farN++; if (best === NOT_WHOLE) farRight++; } else { wholeN++; if (best === l) wholeRight++; }
    });
  }
  await saveModel(model, o.out, makeMetadata(model, { classNames: [...DIGIT_CLASS_NAMES, 'not one whole digit'], seed, preset: 'line-reader',
    trainedAt: new Date().toISOString(), backend: o.backend.name }));
  return {
    whole, notWhole: n - whole, wholeRead: wholeN === 0 ? 0 : wholeRight / wholeN, notWholeRead: farN === 0 ? 0 : farRight / farN,
    seconds: (Date.now() - started) / 1000,
  };
}

/** The line reader in `dir` (default: the package's), on `backend`. */
export async function loadLineReader(backend: Backend, dir = LINE_READER_DIR): Promise<Sequential> {
  const { model } = await loadModel(dir);
  const shape = model.inputShape ?? [];
  if (model.outputShape?.[0] !== LINE_CLASSES || shape.join(',') !== LINE_SHAPE.join(',')) {
    throw new DigitsError(`${dir}: not a line reader (it takes [${shape.join(', ')}] and has ${model.outputShape?.[0]} outputs; ` +
      `a line reader takes [${LINE_SHAPE.join(', ')}] and has ${LINE_CLASSES})`);
  }
  model.setBackend(backend);
  return model;
}

/** The line reader a model reads numbers with: the one in `dir` (default the package's) for a model of digits, none otherwise or when `dir` is false. */
export async function lineReaderFor(metadata: Pick<DigitsMetadata, 'classNames'> | null, backend: Backend, dir: string | false = LINE_READER_DIR): Promise<Sequential | null> {
  return dir === false || !readsDigits(metadata) ? null : loadLineReader(backend, dir);
}
