/**
 * Whether a reader that sees a candidate in its place in the line chooses numbers' digits better
 * than the gate, which sees the candidate alone. A stem cut out of a 4 is a 1 to anyone who sees it
 * alone (lab/candidate-reader.ts); beside the rest of the 4 it is not. Each candidate becomes a
 * two-channel field, 28 high and 40 wide: its box scaled to fit 20 pixels and centred, channel 0
 * its own ink, channel 1 the line's other ink in the same frame. A model of the gate's size with
 * eleven classes (the digits, and "not one whole digit") learns these from candidates of numbers
 * composed of MNIST training digits 0-49,999, labelled by which digit's ink each holds
 * (src/data/compose.ts candidateDigits). Judged on numbers of 3-6 held-out training digits
 * (50,000-59,999, lab/held-out.ts) as lab/judge-choice.ts judges.
 *
 *   node dist/lab/context-reader.js --model runs/seed [--numbers 8000] [--judge 1500] [--wide 2] [--save DIR | --load DIR]
 */
import { WHOLE_SHARE, candidateDigits, composeNumber } from '../src/data/compose.js';
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
import { DIGIT_CLASS_NAMES, loadModel, makeMetadata, saveModel } from '../src/io/model-files.js';
import { GATE_CLASSES, NOT_A_DIGIT } from '../src/nn/gate.js';
import { openPredictor } from '../src/run/predictor.js';
import { segmentGray, type Candidate, type Segmentation } from '../src/preprocess/segment.js';
import { benchProgram, intArg, numberArg } from '../bench/options.js';
import { WEIGHINGS, heldOutNumbers, judge } from './judge-choice.js';

const o = benchProgram('context-reader', 'a reader that sees each candidate in its line, judged on held-out numbers')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--numbers <n>', 'numbers composed to train on', intArg(1), 8000)
  .option('--judge <n>', 'held-out numbers to judge on', intArg(1), 1500)
  .option('--right <share>', 'how much of its ink a right candidate shares with its digit, both ways', numberArg(0.5, 1), WHOLE_SHARE)
  .option('--wrong <ratio>', 'wrong candidates drawn per right one', numberArg(0, 10), 1)
  .option('--epochs <n>', 'epochs', intArg(1), 5)
  .option('--wide <k>', 'filters and dense units times this', intArg(1), 1)
  .option('--strict', 'candidates between whole and far (see --right) are not whole too, not left out')
  .option('--save <dir>', 'save the reader trained here')
  .option('--load <dir>', 'judge a reader saved before instead of training one')
  .parse()
  .opts<{ model: string; numbers: number; judge: number; right: number; wrong: number; epochs: number; wide: number; strict?: boolean; save?: string; load?: string }>();

const H = 28, W = 40, SIDE = 20, SUB = 3, per = H * W * 2;

/** The candidate's field: [H, W, 2], its ink (channel 0) and the line's other ink (channel 1), 0..1. */
function contextField(seg: Segmentation, gray: Float32Array, c: Candidate, out: Float32Array, at: number): void {
  const { x0, y0, x1, y1 } = c.box;
  const bw = x1 - x0, bh = y1 - y0, line = bh / c.relativeHeight;
  const s = SIDE / Math.max(bw, bh, 0.5 * line);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  for (let gy = 0; gy < H; gy++) {
    for (let gx = 0; gx < W; gx++) {
      let own = 0, other = 0;
      for (let sy = 0; sy < SUB; sy++) {
        const y = Math.floor(cy + (gy + (sy + 0.5) / SUB - H / 2) / s);
        if (y < 0 || y >= seg.height) continue;
        for (let sx = 0; sx < SUB; sx++) {
          const x = Math.floor(cx + (gx + (sx + 0.5) / SUB - W / 2) / s);
          if (x < 0 || x >= seg.width) continue;
          const p = seg.pieceMap![y * seg.width + x]!;
          if (p < 0) continue;
          const v = (255 - gray[y * seg.width + x]!) / 255;
          if (p >= c.from && p < c.to) own += v; else other += v;
        }
      }
      out[at + (gy * W + gx) * 2] = own / (SUB * SUB);
      out[at + (gy * W + gx) * 2 + 1] = other / (SUB * SUB);
    }
  }
}

function buildReader(seed: number, k: number): Sequential {
  const model = new Sequential({
    name: 'context-reader',
    layers: [
      new Conv2D({ filters: 32 * k, kernelSize: 3, padding: 'valid', activation: 'relu', inputShape: [H, W, 2] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Conv2D({ filters: 64 * k, kernelSize: 3, padding: 'valid', activation: 'relu' }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 128 * k, activation: 'relu' }),
      new Dense({ units: GATE_CLASSES, activation: 'softmax' }),
    ],
  });
  model.build([H, W, 2], seed);
  model.compile({ optimizer: new Adam({ learningRate: 0.001 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

const started = Date.now();
const { backend } = createBackend('auto');
const reader = o.load !== undefined ? (await loadModel(o.load)).model : await trainReader();
reader.setBackend(backend);

async function trainReader(): Promise<Sequential> {
  const train = await loadMnist('train');
  const rng = new Rng(11);
  const chunks: Float32Array[] = [], labels: number[] = [];
  let rightN = 0;
  for (let k = 0; k < o.numbers; k++) {
    const rows = Array.from({ length: 1 + rng.int(6) }, () => rng.int(50_000));
    const number = composeNumber(train, rows, rng, { gap: [-2, 6] });
    const seg = segmentGray(number.image, 'a composed number', { pieceMap: true }) as Segmentation;
    const truth = candidateDigits(seg, number, o.right);
    const wrong: number[] = [], chosen: number[] = [];
    truth.forEach((t, i) => {
      if (t >= 0) {
        chosen.push(i);
        labels.push(train.labels![rows[t]!]!);
      } else if (t === -1 || o.strict) wrong.push(i);
    });
    const rights = chosen.length;
    for (let j = 0, most = Math.min(wrong.length, Math.round(o.wrong * rights)); j < most; j++) {
      chosen.push(wrong.splice(rng.int(wrong.length), 1)[0]!);
      labels.push(NOT_A_DIGIT);
    }
    const fields = new Float32Array(chosen.length * per);
    chosen.forEach((i, j) => contextField(seg, number.image.gray, seg.candidates[i]!, fields, j * per));
    chunks.push(fields);
    rightN += rights;
  }
  const n = labels.length, wrongN = n - rightN;
  const x = new Tensor([n, H, W, 2]);
  let filled = 0;
  for (const c of chunks) {
    x.data.set(c, filled);
    filled += c.length;
  }
  chunks.length = 0;
  const y = new Tensor([n, GATE_CLASSES]);
  labels.forEach((l, j) => { y.data[j * GATE_CLASSES + l] = 1; });
  console.log(JSON.stringify({ right: rightN, wrong: wrongN, secondsToMake: (Date.now() - started) / 1000 }));

  const reader = buildReader(5, o.wide);
  reader.setBackend(backend);
  await reader.fit(x, y, { epochs: o.epochs, batchSize: 64, shuffle: true, seed: 5 });
  console.log(JSON.stringify({ secondsToTrain: (Date.now() - started) / 1000 }));
  if (o.save !== undefined) await saveModel(reader, o.save, makeMetadata(reader, { classNames: [...DIGIT_CLASS_NAMES, 'not one whole digit'], seed: 5 }));
  return reader;
}

// judged on held-out numbers: the choice with the package's gate, with the reader, and with both
const predictor = await openPredictor({ model: o.model, lineReader: false }, () => undefined);
const cases = await heldOutNumbers(predictor, o.judge, (seg, gray) => {
  const fields = new Float32Array(seg.candidates.length * per);
  seg.candidates.forEach((c, i) => contextField(seg, gray, c, fields, i * per));
  return Float32Array.from(reader.predict(new Tensor([seg.candidates.length, H, W, 2], fields), { batchSize: 256 }).data);
});
judge(cases, WEIGHINGS, [0.5, 1, 2]);
console.log(JSON.stringify({ seconds: (Date.now() - started) / 1000 }));
