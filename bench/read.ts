/**
 * Reading numbers: numbers of 3 to 6 digits composed from MNIST digits (src/data/compose.ts: varied
 * size, height and spacing, some touching or overlapping by a few pixels), read by a saved model
 * through the whole pipeline (segmentation, classification, the choice of digits). Prints JSON.
 *
 * The figure that matters: of the numbers whose every digit the model reads right alone (its MNIST
 * image read as that digit, and taken for a digit), the share read exactly. Digits come from MNIST test (`--from test`, the figure reported) or
 * from MNIST train (`--from train`, what the segmentation's costs were tuned on). Also: the share of
 * scribbles (data/outliers.ts's kind, other seeds than the gate trained on, drawn 4 times larger)
 * read as no digit at all.
 *
 *   node dist/bench/read.js --model runs/seed [--numbers 1000] [--from test|train] [--seed 1] [--overlap 2] [--no-line-reader]
 */
import { loadMnist } from '../src/data/mnist.js';
import { composeNumber } from '../src/data/compose.js';
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { segmentGray } from '../src/preprocess/segment.js';
import { outlierImage } from '../src/data/outliers.js';
import { benchProgram, intArg, numberArg, oneOfArg } from './options.js';

const o = benchProgram('read', 'reading numbers composed from MNIST digits')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--numbers <n>', 'numbers to compose', intArg(1), 1000)
  .option('--from <set>', 'MNIST set the digits come from', oneOfArg('test', 'train'), 'test')
  .option('--seed <n>', 'seed of the composition', intArg(0), 1)
  .option('--overlap <px>', 'most pixels neighbouring digits overlap', numberArg(0, 10), 2)
  .option('--show <n>', 'list this many misread numbers', intArg(0), 10)
  .option('--scribbles <n>', 'scribbles to read', intArg(0), 200)
  .option('--no-line-reader', 'choose the digits by the model and the gate alone, without the line reader')
  .parse()
  .opts<{ model: string; numbers: number; from: 'test' | 'train'; seed: number; overlap: number; show: number; scribbles: number; lineReader: boolean }>();

const predictor = await openPredictor({ model: o.model, ...(o.lineReader ? {} : { lineReader: false as const }) }, () => undefined);
const ds = await loadMnist(o.from);
const alone = await predictor.predictBatch(ds.images, ds.count);
const rng = new Rng(o.seed);
let eligible = 0, exact = 0, exactAll = 0, digitsTotal = 0, wrongCount = 0;
const misread: { truth: string; read: string }[] = [];
const started = performance.now();
for (let k = 0; k < o.numbers; k++) {
  const len = 3 + rng.int(4);
  const rows = Array.from({ length: len }, () => rng.int(ds.count));
  const number = composeNumber(ds, rows, rng, { gap: [-o.overlap, 6] });
  const read = await predictor.readSegmentation(segmentGray(number.image));
  const ok = read.text === number.text;
  digitsTotal += len;
  if (read.digits.length !== len) wrongCount++;
  if (ok) exactAll++;
  if (rows.every((r) => alone[r]!.label === ds.labels![r] && alone[r]!.isDigit)) {
    eligible++;
    if (ok) exact++;
    else if (misread.length < o.show) misread.push({ truth: number.text, read: read.text });
  }
}
const msPerNumber = (performance.now() - started) / o.numbers;
let noDigit = 0;
for (let k = 0; k < o.scribbles; k++) {
  const read = await predictor.readSegmentation(segmentGray(outlierImage('scribble', ds, new Rng(1_000_000 + k))));
  if (read.digits.every((d) => !d.isDigit)) noDigit++;
}
console.log(JSON.stringify({
  bench: 'read', model: o.model, from: `MNIST ${o.from}`, numbers: o.numbers, digits: digitsTotal, overlapPx: o.overlap,
  exactOfReadableAlone: eligible === 0 ? null : exact / eligible, readableAlone: eligible,
  exactOfAll: exactAll / o.numbers, wrongDigitCount: wrongCount / o.numbers,
  msPerNumber, scribblesReadAsNoDigit: o.scribbles === 0 ? null : noDigit / o.scribbles, misread,
}, null, 2));
