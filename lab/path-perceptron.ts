/**
 * Whether a learned scoring of whole paths chooses numbers' digits better than the hand-set costs
 * (src/preprocess/segment.ts COSTS): a structured perceptron (Collins 2002), averaged, over features
 * of each candidate on a path, started from the costs themselves. Numbers of 3-6 MNIST training
 * digits the gate did not learn as digits (lab/held-out.ts): it learns on one draw of numbers and is
 * judged on another. Prints the share read exactly by the costs and by the learned weights after
 * each pass (JSON lines).
 *
 *   node dist/lab/path-perceptron.js --model runs/seed [--numbers 1500] [--rate 0.01]
 */
import { composeNumber } from '../src/data/compose.js';
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { COSTS, chooseDigits, keptWhole, segmentGray, type CandidateReading, type Segmentation } from '../src/preprocess/segment.js';
import { benchProgram, intArg, numberArg } from '../bench/options.js';
import { heldOutTrainDigits } from './held-out.js';

const o = benchProgram('path-perceptron', 'a structured perceptron over path features against the hand-set costs')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--numbers <n>', 'numbers to learn on, and as many to judge on', intArg(1), 1500)
  .option('--rate <r>', 'the perceptron\'s step', numberArg(0, 10), 0.01)
  .option('--passes <n>', 'passes over the numbers learned on', intArg(1), 8)
  .parse()
  .opts<{ model: string; numbers: number; rate: number; passes: number }>();

interface Case {
  text: string;
  seg: Segmentation;
  readings: CandidateReading[];
  /** each candidate's features */
  phis: Float64Array[];
}

const FEATURES = ['digit', 'log confidence', 'log gate', 'wide', 'joined', 'short', 'cut left', 'overlap left',
  '1 beside a cut', 'pieces', 'not a digit', 'height off the line', 'aspect', 'cut right'] as const;
const F = FEATURES.length;
const log = (x: number): number => Math.log(Math.max(x, 1e-6));

function features(seg: Segmentation, r: readonly CandidateReading[], i: number): Float64Array {
  const c = seg.candidates[i]!, rd = r[i]!, b = seg.boundaries[c.from]!;
  const cutLeft = c.from > 0 && b.cut, cutRight = c.to < seg.pieces && seg.boundaries[c.to]!.cut;
  return Float64Array.from([
    1, log(rd.confidence), log(rd.digitScore ?? 1), Math.max(0, c.aspect - COSTS.wideAspect), c.joined,
    Math.max(0, COSTS.shortRatio - c.relativeHeight) / COSTS.shortRatio, cutLeft ? 1 : 0, c.from > 0 ? b.overlap : 0,
    rd.label === 1 && (cutLeft || cutRight) ? 1 : 0, (c.to - c.from) / 12, rd.isDigit ? 0 : 1, Math.abs(c.relativeHeight - 1),
    c.aspect, cutRight ? 1 : 0,
  ]);
}

/** The weights the hand-set costs are: chooseDigits's score in these features. */
const start = new Float64Array(F);
start.set([COSTS.digit, 1, COSTS.gate, -COSTS.wide, -COSTS.join, -COSTS.short, -COSTS.cut, -COSTS.overlap]);

/** The best path under weights `w`; with `text`, the best of those that read it (null: none does). */
function bestPath(cs: Case, w: Float64Array, text?: string): number[] | null {
  const { seg, readings: r } = cs, n = seg.pieces, m = text?.length ?? 0, K = text === undefined ? 1 : m + 1;
  const uncut = keptWhole(seg, r, COSTS.keepWhole);
  const score = new Float64Array((n + 1) * K).fill(-Infinity), back = new Int32Array((n + 1) * K).fill(-1);
  score[0] = 0;
  const order = seg.candidates.map((_, i) => i).sort((a, b) => seg.candidates[a]!.from - seg.candidates[b]!.from);
  for (const i of order) {
    const c = seg.candidates[i]!;
    if (uncut[c.to]) continue;
    let s = 0;
    for (let k = 0; k < F; k++) s += w[k]! * cs.phis[i]![k]!;
    for (let j = 0; j < K; j++) {
      const from = c.from * K + j;
      if (score[from] === -Infinity) continue;
      if (text !== undefined && (j >= m || String(r[i]!.label) !== text[j])) continue;
      const to = c.to * K + (text === undefined ? 0 : j + 1);
      if (score[from]! + s > score[to]!) {
        score[to] = score[from]! + s;
        back[to] = i * K + j;
      }
    }
  }
  const end = n * K + m;
  if (score[end] === -Infinity) return null;
  const path: number[] = [];
  for (let at = end; at > 0;) {
    const i = Math.floor(back[at]! / K), j = back[at]! % K;
    path.push(i);
    at = seg.candidates[i]!.from * K + j;
  }
  return path.reverse();
}

const predictor = await openPredictor({ model: o.model }, () => undefined);
const ds = await heldOutTrainDigits();
async function draw(seed: number): Promise<Case[]> {
  const rng = new Rng(seed);
  const cases: Case[] = [];
  for (let k = 0; k < o.numbers; k++) {
    const rows = Array.from({ length: 3 + rng.int(4) }, () => rng.int(ds.count));
    const number = composeNumber(ds, rows, rng, { gap: [-2, 6] });
    const seg = segmentGray(number.image);
    const readings = await predictor.readCandidates(seg);
    cases.push({ text: number.text, seg, readings, phis: seg.candidates.map((_, i) => features(seg, readings, i)) });
  }
  return cases;
}
const textOf = (cs: Case, path: number[] | null): string => (path ?? []).map((i) => cs.readings[i]!.label).join('');
const exact = (cases: Case[], w: Float64Array): number => cases.filter((cs) => textOf(cs, bestPath(cs, w)) === cs.text).length / cases.length;

const learn = await draw(7), judge = await draw(8);
console.log(JSON.stringify({
  numbers: o.numbers, costs: judge.filter((cs) => textOf(cs, chooseDigits(cs.seg, cs.readings)) === cs.text).length / judge.length,
  startLearn: exact(learn, start), startJudge: exact(judge, start),
}));
const w = Float64Array.from(start), sum = new Float64Array(F);
let steps = 0;
for (let pass = 0; pass < o.passes; pass++) {
  const rng = new Rng(100 + pass);
  const order = learn.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (const t of order) {
    const cs = learn[t]!;
    const chosen = bestPath(cs, w);
    if (textOf(cs, chosen) !== cs.text) {
      const right = bestPath(cs, w, cs.text);
      if (right !== null) {
        for (const i of right) for (let k = 0; k < F; k++) w[k]! += o.rate * cs.phis[i]![k]!;
        for (const i of chosen!) for (let k = 0; k < F; k++) w[k]! -= o.rate * cs.phis[i]![k]!;
      }
    }
    for (let k = 0; k < F; k++) sum[k]! += w[k]!;
    steps++;
  }
  const average = sum.map((v) => v / steps);
  console.log(JSON.stringify({
    pass, learn: exact(learn, average), judge: exact(judge, average),
    weights: Object.fromEntries(FEATURES.map((f, k) => [f, Number(average[k]!.toFixed(3))])),
  }));
}
