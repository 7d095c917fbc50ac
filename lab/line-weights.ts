/**
 * How much the line reader (src/nn/line-reader.ts) should weigh in the choice of a number's digits:
 * the shipped weighing (nn/line-reader.ts inLine) is one point of a family, searched here on numbers
 * of 3-6 held-out training digits (lab/judge-choice.ts), with generated scribbles for the share read
 * as no digit at all. For a candidate with the classifier's probabilities p, the reader's q (ten
 * digits and "not whole", qN) and the gate's score g:
 *
 * - the label is the argmax of p·q^line, and the choice adds log(q[label]^line / Σ p·q^line);
 * - the gate's score becomes g · (1 - qN)^whole · (q[label] / (1 - qN))^agrees;
 * - the costs' gate weight and the reward of a digit the reader read (lineReward) are searched with them.
 *
 * The settings are chosen on --seed and the best ones judged again on --confirm (other numbers).
 *
 *   node dist/lab/line-weights.js --model runs/seed [--judge 1500] [--seed 7] [--confirm 8]
 */
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { outlierImage } from '../src/data/outliers.js';
import { lineProbabilities, LINE_CLASSES, LINE_WEIGHT, NOT_WHOLE } from '../src/nn/line-reader.js';
import { loadLineReader } from '../src/run/line-reader.js';
import { COSTS, lineBatch, numberFromReadings, segmentGray, type CandidateReading, type SegmentCosts } from '../src/preprocess/segment.js';
import { benchProgram, intArg } from '../bench/options.js';
import { heldOutNumbers, type JudgedNumber } from './judge-choice.js';
import { heldOutTrainDigits } from './held-out.js';
import type { Prediction } from '../src/run/predictor.js';
import type { GateSay } from '../src/nn/gate.js';

const o = benchProgram('line-weights', 'how much the line reader weighs in the choice of a number\'s digits')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--judge <n>', 'held-out numbers a seed', intArg(1), 1500)
  .option('--seed <n>', 'the numbers the settings are chosen on', intArg(0), 7)
  .option('--confirm <n>', 'the numbers the best settings are judged again on', intArg(0), 8)
  .option('--scribbles <n>', 'scribbles to read', intArg(0), 300)
  .parse()
  .opts<{ model: string; judge: number; seed: number; confirm: number; scribbles: number }>();

interface Weights { line: number; whole: number; agrees: number; gate: number; reward: number }
/** what the product does (nn/line-reader.ts inLine, preprocess/segment.ts COSTS) */
const SHIPPED: Weights = { line: LINE_WEIGHT, whole: LINE_WEIGHT, agrees: 0, gate: COSTS.gate, reward: COSTS.lineReward };

const predictor = await openPredictor({ model: o.model, lineReader: false }, () => undefined);
const reader = await loadLineReader(predictor.model.backend);
const opinion = (seg: Parameters<typeof lineBatch>[0]): Float32Array => lineProbabilities(reader, lineBatch(seg), seg.candidates.length);

function weigh(r: Prediction & GateSay, q: Float32Array, w: Weights): CandidateReading {
  let label = 0, sum = 0, bestV = -1;
  for (let d = 0; d < 10; d++) {
    const v = r.probabilities[d]! * q[d]! ** w.line;
    sum += v;
    if (v > bestV) { bestV = v; label = d; }
  }
  const whole = Math.max(1e-9, 1 - q[NOT_WHOLE]!);
  return {
    ...r, label, confidence: r.probabilities[label]!,
    lineAgreement: sum > 0 ? q[label]! ** w.line / sum : 1,
    digitScore: r.digitScore * whole ** w.whole * (q[label]! / whole) ** w.agrees,
  };
}

function read(c: Pick<JudgedNumber, 'seg' | 'readings' | 'opinion'>, w: Weights): string[] {
  const readings = c.readings.map((r, i) => weigh(r, c.opinion.subarray(i * LINE_CLASSES, (i + 1) * LINE_CLASSES), w));
  const costs: SegmentCosts = { ...COSTS, gate: w.gate, lineReward: w.reward };
  return numberFromReadings(c.seg, readings, undefined, costs).digits.map((d) => (d.isDigit ? String(d.label) : 'x'));
}

const held = await heldOutTrainDigits();
const scribbles: Pick<JudgedNumber, 'seg' | 'readings' | 'opinion'>[] = [];
for (let k = 0; k < o.scribbles; k++) {
  const seg = segmentGray(outlierImage('scribble', held, new Rng(2_000_000 + k)));
  scribbles.push({ seg, readings: await predictor.readCandidates(seg), opinion: opinion(seg) });
}

function measure(cases: readonly JudgedNumber[], w: Weights): { exact: number; exactOfReadable: number; scribblesNoDigit: number } {
  const readable = cases.filter((c) => c.readable).length;
  const right = cases.filter((c) => read(c, w).join('') === c.text);
  return {
    exact: right.length / cases.length, exactOfReadable: right.filter((c) => c.readable).length / readable,
    scribblesNoDigit: scribbles.filter((c) => read(c, w).every((d) => d === 'x')).length / Math.max(1, scribbles.length),
  };
}

const choose = await heldOutNumbers(predictor, o.judge, (seg) => opinion(seg), o.seed);
const grid: Weights[] = [];
for (const line of [0.5, 1, 1.5, 2]) for (const whole of [0.5, 1, 2]) for (const agrees of [0, 0.5, 1])
  for (const gate of [0.25, 0.5, 1]) for (const reward of [0, 0.5]) grid.push({ line, whole, agrees, gate, reward });
const shipped = measure(choose, SHIPPED);
const floor = shipped.scribblesNoDigit;
const results = grid.map((w) => ({ ...w, ...measure(choose, w) })).sort((a, b) => b.exactOfReadable - a.exactOfReadable);
console.log(JSON.stringify({ seed: o.seed, shipped: { ...SHIPPED, ...shipped } }));
const best = results.filter((r) => r.scribblesNoDigit >= floor - 0.01).slice(0, 8);
for (const r of best) console.log(JSON.stringify(r));
const confirm = await heldOutNumbers(predictor, o.judge, (seg) => opinion(seg), o.confirm);
console.log(JSON.stringify({ seed: o.confirm, shipped: { ...SHIPPED, ...measure(confirm, SHIPPED) } }));
for (const r of best) console.log(JSON.stringify({ line: r.line, whole: r.whole, agrees: r.agrees, gate: r.gate, reward: r.reward, ...measure(confirm, r) }));
