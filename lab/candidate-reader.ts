/**
 * Whether a reader that has seen the segmentation's own candidates chooses numbers' digits better:
 * the gate's architecture (eleven classes: the digits, and "not one whole digit") trained on
 * candidates of numbers composed of MNIST training digits 0-49,999 and segmented as `digits read`
 * segments them. A candidate that holds one digit (at least `--right` of its ink is that digit's, and
 * it holds at least `--right` of that digit's ink) is that digit; one that is far from it (under 0.7
 * of either) is not one; plain digit fields as the gate learns them are added. Judged on numbers of
 * 3-6 held-out training digits (50,000-59,999) as lab/judge-choice.ts judges: the share read exactly
 * with the package's gate scoring candidates (the choice before the line reader), with this reader instead, and with both.
 *
 *   node dist/lab/candidate-reader.js --model runs/seed [--numbers 4000] [--judge 1500]
 */
import { WHOLE_SHARE, candidateDigits, composeNumber } from '../src/data/compose.js';
import { loadMnist } from '../src/data/mnist.js';
import { digitFields } from '../src/data/outliers.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { createBackend } from '../src/engine/index.js';
import { GATE_CLASSES, NOT_A_DIGIT, buildGate } from '../src/nn/gate.js';
import { openPredictor } from '../src/run/predictor.js';
import { candidateBatch, segmentGray, type Segmentation } from '../src/preprocess/segment.js';
import { benchProgram, intArg, numberArg } from '../bench/options.js';
import { WEIGHINGS, heldOutNumbers, judge } from './judge-choice.js';

const o = benchProgram('candidate-reader', 'a reader trained on the segmentation\'s candidates, judged on held-out numbers')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--numbers <n>', 'numbers composed to train on', intArg(1), 4000)
  .option('--judge <n>', 'held-out numbers to judge on', intArg(1), 1500)
  .option('--right <share>', 'how much of its ink a right candidate shares with its digit, both ways', numberArg(0.5, 1), WHOLE_SHARE)
  .option('--epochs <n>', 'epochs', intArg(1), 6)
  .parse()
  .opts<{ model: string; numbers: number; judge: number; right: number; epochs: number }>();

const started = Date.now();
const train = await loadMnist('train');
const rng = new Rng(11);
const fields: Float32Array[] = [], labels: number[] = [];
let rightN = 0, wrongN = 0;
for (let k = 0; k < o.numbers; k++) {
  const rows = Array.from({ length: 2 + rng.int(4) }, () => rng.int(50_000));
  const number = composeNumber(train, rows, rng, { gap: [-2, 6] });
  const seg = segmentGray(number.image, 'a composed number', { pieceMap: true }) as Segmentation;
  const truth = candidateDigits(seg, number, o.right);
  const wrong: number[] = [];
  let rights = 0;
  truth.forEach((t, i) => {
    if (t >= 0) {
      fields.push(seg.candidates[i]!.pixels);
      labels.push(train.labels![rows[t]!]!);
      rightN++;
      rights++;
    } else if (t === -1) wrong.push(i);
  });
  // as many wrong candidates as right ones, drawn at random
  for (let j = 0, most = wrong.length; j < Math.min(most, rights); j++) {
    const pick = wrong.splice(rng.int(wrong.length), 1)[0]!;
    fields.push(seg.candidates[pick]!.pixels);
    labels.push(NOT_A_DIGIT);
    wrongN++;
  }
}
const plain = Math.round(rightN / 2);
const plainRows = Array.from({ length: plain }, () => rng.int(50_000));
const n = fields.length + plain;
const x = new Tensor([n, 28, 28, 1]);
fields.forEach((f, i) => { for (let p = 0; p < 784; p++) x.data[i * 784 + p] = f[p]! / 255; });
x.data.set(digitFields(train, plainRows, rng), fields.length * 784);
const y = new Tensor([n, GATE_CLASSES]);
labels.forEach((l, i) => { y.data[i * GATE_CLASSES + l] = 1; });
plainRows.forEach((r, i) => { y.data[(fields.length + i) * GATE_CLASSES + train.labels![r]!] = 1; });
console.log(JSON.stringify({ right: rightN, wrong: wrongN, plain, secondsToMake: (Date.now() - started) / 1000 }));

const { backend } = createBackend('auto');
const reader = buildGate(5);
reader.setBackend(backend);
await reader.fit(x, y, { epochs: o.epochs, batchSize: 64, shuffle: true, seed: 5 });

// judged on held-out numbers: the choice with the package's gate, the reader, and both
const predictor = await openPredictor({ model: o.model, lineReader: false }, () => undefined);
const cases = await heldOutNumbers(predictor, o.judge, (seg) =>
  Float32Array.from(reader.predict(new Tensor([seg.candidates.length, 28, 28, 1], candidateBatch(seg)), { batchSize: 256 }).data));
const { gate, 'reader scores': scores, 'gate x reader': both, 'reader reads': reads } = WEIGHINGS;
judge(cases, { gate: gate!, 'reader scores': scores!, 'gate x reader': both!, 'reader reads': reads! }, [0.5, 1, 2]);
console.log(JSON.stringify({ seconds: (Date.now() - started) / 1000 }));
