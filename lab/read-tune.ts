/**
 * Tunes the segmentation's costs (src/preprocess/segment.ts COSTS) on numbers composed of MNIST
 * TRAIN digits: every candidate of every number is read once, then each cost setting of a grid
 * chooses its digits; prints the share read exactly for each setting, best first (JSON lines).
 *
 *   node dist/lab/read-tune.js --model runs/seed [--numbers 600]
 */
import { loadMnist } from '../src/data/mnist.js';
import { composeNumber } from '../src/data/compose.js';
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { COSTS, candidateBatch, chooseDigits, segmentGray, type SegmentCosts } from '../src/preprocess/segment.js';
import { benchProgram, intArg } from '../bench/options.js';
import { loadModel } from '../src/io/model-files.js';
import { createBackend } from '../src/engine/index.js';
import { Tensor } from '../src/engine/tensor.js';

const o = benchProgram('read-tune', 'grid over the segmentation costs on composed MNIST train numbers')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--numbers <n>', 'numbers to compose', intArg(1), 600)
  .option('--seed <n>', 'seed', intArg(0), 7)
  .option('--gate <dir>', 'a digit gate model folder')
  .parse()
  .opts<{ model: string; numbers: number; seed: number; gate?: string }>();
const gate = o.gate ? (await loadModel(o.gate)).model : null;
gate?.setBackend(createBackend('auto').backend);

const predictor = await openPredictor({ model: o.model }, () => undefined);
const ds = await loadMnist('train', { limit: 30000 });
const rng = new Rng(o.seed);
const cases: { text: string; seg: ReturnType<typeof segmentGray>; readings: Awaited<ReturnType<typeof predictor.predictBatch>>; gp: Float32Array | null }[] = [];
/** the readings with the gate's weight g folded into the confidence: conf * P(digit)^g */
const gated = (c: (typeof cases)[number], g: number): { label: number; confidence: number; isDigit: boolean }[] =>
  c.readings.map((r, i) => ({ ...r, confidence: r.confidence * (c.gp ? Math.max(1e-6, c.gp[2 * i + 1]!) ** g : 1) }));
for (let k = 0; k < o.numbers; k++) {
  const rows = Array.from({ length: 3 + rng.int(4) }, () => rng.int(ds.count));
  const number = composeNumber(ds, rows, rng);
  const seg = segmentGray(number.image);
  const batch = candidateBatch(seg);
  const gp = gate ? gate.predict(new Tensor([seg.candidates.length, 28, 28, 1], batch)).data : null;
  cases.push({ text: number.text, seg, readings: await predictor.predictBatch(batch, seg.candidates.length), gp });
}
const grid: Partial<SegmentCosts>[] = [];
for (const gw of [0.5, 1, 2]) for (const cut of [0.3, 1, 2]) for (const overlap of [0.5, 1]) for (const join of [0.5, 1]) for (const digit of [0, 0.5])
  for (const short of [2]) grid.push({ gw, cut, overlap, join, digit, short } as Partial<SegmentCosts>);
const results = grid.map((g) => {
  const costs = { ...COSTS, ...g, gate: 0 };
  let exact = 0;
  for (const c of cases) {
    const rd = gated(c, (g as { gw?: number }).gw ?? COSTS.gate);
    const text = chooseDigits(c.seg, rd, costs).map((i) => (rd[i]!.isDigit ? String(rd[i]!.label) : '?')).join('');
    if (text === c.text) exact++;
  }
  return { ...costs, exact: exact / cases.length };
}).sort((a, b) => b.exact - a.exact);
for (const r of results.slice(0, 12)) console.log(JSON.stringify(r));
console.log('current', JSON.stringify(results.find((r) => Object.entries(COSTS).every(([k, v]) => r[k as keyof SegmentCosts] === v))));

// could any path through the candidates read the number right (the candidates' fault), or did the choice miss it?
let reachable = 0, fewer = 0, more = 0, same = 0;
for (const c of cases) {
  // ok[k][j]: the first j pieces can read as the first k digits
  const n = c.seg.pieces, m = c.text.length;
  const ok = Array.from({ length: m + 1 }, () => new Uint8Array(n + 1));
  ok[0]![0] = 1;
  for (let k = 0; k < m; k++) {
    c.seg.candidates.forEach((cand, i) => {
      if (ok[k]![cand.from] && String(c.readings[i]!.label) === c.text[k]) ok[k + 1]![cand.to] = 1;
    });
  }
  if (ok[m]![n]) reachable++;
  const chosen = chooseDigits(c.seg, c.readings);
  if (chosen.length < m) fewer++; else if (chosen.length > m) more++; else if (chosen.map((i) => c.readings[i]!.label).join('') !== c.text) same++;
}
console.log(JSON.stringify({ numbers: cases.length, rightPathExists: reachable / cases.length, fewerDigits: fewer, moreDigits: more, sameCountWrong: same }));

// the first failures in detail: the path chosen, and a right one when there is one
let shown = 0;
for (const c of cases) {
  const chosen = chooseDigits(c.seg, c.readings);
  if (chosen.map((i) => c.readings[i]!.label).join('') === c.text || shown >= 12) continue;
  shown++;
  const desc = (i: number): string => {
    const cd = c.seg.candidates[i]!;
    return `[${cd.from},${cd.to}) ${c.readings[i]!.label} ${(c.readings[i]!.confidence * 100).toFixed(1)}% g${c.gp ? (c.gp[2 * i + 1]! * 100).toFixed(1) : '-'} a${cd.aspect.toFixed(2)} j${cd.joined.toFixed(2)}` +
      (cd.from > 0 ? ` b${c.seg.boundaries[cd.from]!.cut ? 'cut' : ''}${c.seg.boundaries[cd.from]!.overlap.toFixed(2)}` : '');
  };
  // a right path: DFS
  const right = (at: number, k: number): number[] | null => {
    if (k === c.text.length) return at === c.seg.pieces ? [] : null;
    for (const [i, cd] of c.seg.candidates.entries()) {
      if (cd.from !== at || String(c.readings[i]!.label) !== c.text[k]) continue;
      const rest = right(cd.to, k + 1);
      if (rest) return [i, ...rest];
    }
    return null;
  };
  const r = right(0, 0);
  console.log(`${c.text}: chose ${chosen.map(desc).join(' | ')}\n   right: ${r ? r.map(desc).join(' | ') : 'none'}`);
}
