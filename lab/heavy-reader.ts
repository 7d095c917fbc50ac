/**
 * Whether a second reader that has seen heavy pens reads a marker's and a heavy marker's digits
 * where the MNIST-trained models cannot: MNIST training digits drawn again with a heavier pen (the
 * ink dilated by 1-10 pixels at a digit 60 pixels high, so that loops fill in as a marker's do),
 * passed through the product's preprocessing (stroke normalisation included), and learned by a model
 * of the gate's size. Judged on bench/printed.ts's printed digits (14 fonts, 4 sizes, 4 weights):
 * the model alone, the reader alone, and the two probabilities multiplied (always, or only for ink
 * heavier than HEAVY_STROKE).
 *
 *   node dist/lab/heavy-reader.js --model runs/seed [--digits 60000] [--epochs 4]
 */
import { loadMnist } from '../src/data/mnist.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { createBackend } from '../src/engine/index.js';
import { Conv2D } from '../src/nn/conv2d.js';
import { Dense } from '../src/nn/dense.js';
import { Flatten } from '../src/nn/flatten.js';
import { MaxPooling2D } from '../src/nn/pooling.js';
import { Sequential } from '../src/nn/sequential.js';
import { Adam } from '../src/nn/optimizers.js';
import { argmaxRow } from '../src/nn/losses.js';
import { openPredictor } from '../src/run/predictor.js';
import { BOX, HEAVY_STROKE, cropInk, distanceToZero, inkBoundingBox, inkMap, mnistFromInk, preprocessGray, resize, strokeWidth } from '../src/preprocess/pixels.js';
import { FONT_FILES, renderText } from '../bench/glyphs.js';
import { benchProgram, intArg, numberArg } from '../bench/options.js';

const o = benchProgram('heavy-reader', 'a reader trained on heavy pens, judged on printed digits')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--digits <n>', 'MNIST training digits to learn from', intArg(1), 60000)
  .option('--epochs <n>', 'epochs', intArg(1), 4)
  .option('--heavy <share>', 'share of the digits drawn with a heavier pen', numberArg(0, 1), 0.7)
  .option('--most <px>', 'heaviest pen: pixels added around a stroke at a digit 60 pixels high', numberArg(1, 20), 10)
  .option('--wide <k>', 'filters and dense units times this', intArg(1), 1)
  .option('--raw', 'the reader sees heavy ink as it is, not eroded (the model still reads it eroded)')
  .parse()
  .opts<{ model: string; digits: number; epochs: number; heavy: number; most: number; wide: number; raw?: boolean }>();
/** How the reader's fields are made: the product's stroke normalisation, or (--raw) heavy strokes left as they are. */
const readerStrokes = o.raw ? { heavyStroke: Infinity } : {};

/** Ink (0..255, w×h) drawn with a pen r pixels heavier: every pixel within r of the ink's strokes, its edge anti-aliased. */
function heavier(ink: Float32Array, w: number, h: number, r: number): Float32Array {
  const paper = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) paper[i] = ink[i]! > 127.5 ? 0 : 1;
  const d = distanceToZero(paper, w, h);
  return ink.map((v, i) => Math.max(v, Math.min(1, Math.max(0, r + 0.5 - Math.sqrt(d[i]!))) * 255));
}

function buildReader(seed: number, k: number): Sequential {
  const model = new Sequential({
    name: 'heavy-reader',
    layers: [
      new Conv2D({ filters: 32 * k, kernelSize: 3, padding: 'valid', activation: 'relu', inputShape: [28, 28, 1] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Conv2D({ filters: 64 * k, kernelSize: 3, padding: 'valid', activation: 'relu' }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 128 * k, activation: 'relu' }),
      new Dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.build([28, 28, 1], seed);
  model.compile({ optimizer: new Adam({ learningRate: 0.001 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

const started = Date.now();
const train = await loadMnist('train');
const rng = new Rng(3);
const n = Math.min(o.digits, train.count);
const x = new Tensor([n, 28, 28, 1]);
const y = new Tensor([n, 10]);
const M = 84; // the digit 3 times MNIST's size: its 20-pixel box 60 pixels
for (let i = 0; i < n; i++) {
  const src = new Float32Array(784);
  for (let p = 0; p < 784; p++) src[p] = train.images[i * 784 + p]! * 255;
  let ink = resize(src, 28, 28, M, M);
  if (rng.uniform() < o.heavy) ink = heavier(ink, M, M, rng.range(1, o.most));
  const { pixels } = mnistFromInk(ink, M, M, 'a training digit', readerStrokes);
  for (let p = 0; p < 784; p++) x.data[i * 784 + p] = pixels[p]! / 255;
  y.data[i * 10 + train.labels![i]!] = 1;
}
console.log(JSON.stringify({ digits: n, secondsToMake: (Date.now() - started) / 1000 }));
const { backend } = createBackend('auto');
const reader = buildReader(5, o.wide);
reader.setBackend(backend);
await reader.fit(x, y, { epochs: o.epochs, batchSize: 64, shuffle: true, seed: 5 });
console.log(JSON.stringify({ secondsToTrain: (Date.now() - started) / 1000 }));

const predictor = await openPredictor({ model: o.model }, () => undefined);
const argmax = (p: ArrayLike<number>): number => argmaxRow(p, 0, 10);
const WEIGHTS = { printed: 0, bold: 3, marker: 7, heavy: 12 } as const;
const SIZES = [16, 32, 64, 128];
const right: Record<string, Record<string, number>> = {};
const count: Record<string, number> = {};
for (const font of FONT_FILES) {
  for (const [name, w] of Object.entries(WEIGHTS)) {
    for (const size of SIZES) {
      for (let d = 0; d <= 9; d++) {
        const img = renderText(String(d), font, { size, stroke: (w * size) / 64 });
        const field = preprocessGray(img).pixels;
        const { ink } = inkMap(img);
        const box = inkBoundingBox(ink, img.width, img.height)!;
        const bw = box.x1 - box.x0, bh = box.y1 - box.y0;
        const heavy = strokeWidth(cropInk(ink, img.width, box), bw, bh) * (BOX / Math.max(bw, bh)) > HEAVY_STROKE;
        const p = (await predictor.predictField(field)).probabilities;
        const x01 = Float32Array.from(o.raw ? mnistFromInk(ink, img.width, img.height, 'x', readerStrokes).pixels : field, (v) => v / 255);
        const q = reader.predict(new Tensor([1, 28, 28, 1], x01)).data;
        const both = p.map((v, k) => v * q[k]!);
        const r = (right[name] ??= {});
        count[name] = (count[name] ?? 0) + 1;
        const tally = (k: string, label: number): void => { r[k] = (r[k] ?? 0) + (label === d ? 1 : 0); };
        tally('model', argmax(p));
        tally('reader', argmax(q));
        tally('product', argmax(both));
        tally('product when heavy', heavy ? argmax(both) : argmax(p));
        tally('reader when heavy', heavy ? argmax(q) : argmax(p));
      }
    }
  }
}
for (const [name, r] of Object.entries(right)) {
  console.log(JSON.stringify({ weight: name, ...Object.fromEntries(Object.entries(r).map(([k, v]) => [k, +(v / count[name]! * 100).toFixed(2)])) }));
}
// MNIST test fields as evaluate reads them: the model alone, and times the reader
const test = await loadMnist('test');
const pm = await predictor.predictBatch(test.images, test.count);
const qm = reader.predict(new Tensor([test.count, 28, 28, 1], test.images), { batchSize: 256 }).data;
let m = 0, rd = 0, pr = 0;
for (let i = 0; i < test.count; i++) {
  const t = test.labels![i]!;
  const p = pm[i]!.probabilities, q = qm.subarray(i * 10, i * 10 + 10);
  if (argmax(p) === t) m++;
  if (argmax(q) === t) rd++;
  if (argmax(p.map((v, k) => v * q[k]!)) === t) pr++;
}
console.log(JSON.stringify({ mnistTest: { model: m / test.count, reader: rd / test.count, product: pr / test.count }, seconds: (Date.now() - started) / 1000 }));
