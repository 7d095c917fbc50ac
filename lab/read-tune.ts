/**
 * Tunes the segmentation's costs (src/preprocess/segment.ts COSTS) on numbers of 1 to 6 digits
 * composed of MNIST TRAIN digits the digit gate did not learn as digits (rows 50,000-59,999,
 * lab/held-out.ts) (one digit alone is the drawing page's commonest case): every
 * candidate of every number is read once (the model and the package's digit gate, as `digits read`
 * reads them), then each cost setting of a grid chooses its digits; prints the share read exactly
 * for each setting, best first (JSON lines), with the share of generated scribbles read as no digit
 * at all, whether a right path through the candidates existed, and the first failures in detail.
 *
 *   node dist/lab/read-tune.js --model runs/seed [--numbers 600]
 */
import { composeNumber } from '../src/data/compose.js';
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { outlierImage } from '../src/data/outliers.js';
import { COSTS, chooseDigits, numberFromReadings, segmentGray, type CandidateReading, type SegmentCosts } from '../src/preprocess/segment.js';
import { benchProgram, intArg, numberArg } from '../bench/options.js';
import { heldOutTrainDigits } from './held-out.js';
import { rightPathExists } from './right-path.js';

const o = benchProgram('read-tune', 'grid over the segmentation costs on composed MNIST train numbers')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--numbers <n>', 'numbers to compose', intArg(1), 600)
  .option('--seed <n>', 'seed', intArg(0), 7)
  .option('--scribbles <n>', 'scribbles to read (each setting\'s share read as no digit at all)', intArg(0), 300)
  .option('--scribbles-floor <share>', 'list the best settings that read at least this share of scribbles as no digit (default: as COSTS does)', numberArg(0, 1))
  .parse()
  .opts<{ model: string; numbers: number; seed: number; scribbles: number; scribblesFloor?: number }>();

const predictor = await openPredictor({ model: o.model }, () => undefined);
const ds = await heldOutTrainDigits();
const rng = new Rng(o.seed);
const cases: { text: string; seg: ReturnType<typeof segmentGray>; readings: CandidateReading[] }[] = [];
for (let k = 0; k < o.numbers; k++) {
  const rows = Array.from({ length: 1 + rng.int(6) }, () => rng.int(ds.count));
  const number = composeNumber(ds, rows, rng, { gap: [-2, 6] });
  const seg = segmentGray(number.image);
  cases.push({ text: number.text, seg, readings: await predictor.readCandidates(seg) });
}
// scribbles, of other seeds than the gate trained on and than bench/read.ts reads
const scribbles: { seg: ReturnType<typeof segmentGray>; readings: CandidateReading[] }[] = [];
for (let k = 0; k < o.scribbles; k++) {
  const seg = segmentGray(outlierImage('scribble', ds, new Rng(2_000_000 + k)));
  scribbles.push({ seg, readings: await predictor.readCandidates(seg) });
}
const grid: SegmentCosts[] = [];
for (const gate of [0.5, 1]) for (const cut of [0.5, 1]) for (const overlap of [0.5, 1]) for (const join of [0.5, 1]) for (const digit of [0.5, 1])
  for (const keepWhole of [0.6, 0.9]) for (const lineDigit of [0, 0.1, 0.3, 0.5]) grid.push({ ...COSTS, gate, cut, overlap, join, digit, keepWhole, lineDigit });
const measure = (costs: SegmentCosts): { exact: number; scribblesNoDigit: number } => ({
  exact: cases.filter((c) => numberFromReadings(c.seg, c.readings, undefined, costs).text === c.text).length / cases.length,
  scribblesNoDigit: scribbles.filter((c) => numberFromReadings(c.seg, c.readings, undefined, costs).digits.every((d) => !d.isDigit)).length /
    Math.max(1, scribbles.length),
});
const results = grid.map((costs) => ({ ...costs, ...measure(costs) })).sort((a, b) => b.exact - a.exact);
for (const r of results.slice(0, 12)) console.log(JSON.stringify(r));
// the settings that read scribbles as no digit at least as often as the shipped costs (COSTS) do, or --scribbles-floor, best first
const current = measure(COSTS);
const floor = o.scribblesFloor ?? current.scribblesNoDigit;
for (const r of results.filter((r) => r.scribblesNoDigit >= floor).slice(0, 6)) console.log('keeps scribbles', JSON.stringify(r));
console.log('current', JSON.stringify({ ...COSTS, ...current }));

// could any path through the candidates read the number right (the candidates' fault), or did the choice miss it?
let reachable = 0, fewer = 0, more = 0, same = 0;
for (const c of cases) {
  const m = c.text.length;
  if (rightPathExists(c.seg, c.readings, c.text)) reachable++;
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
    return `[${cd.from},${cd.to}) ${c.readings[i]!.label} ${(c.readings[i]!.confidence * 100).toFixed(1)}% g${((c.readings[i]!.digitScore ?? 1) * 100).toFixed(1)} a${cd.aspect.toFixed(2)} j${cd.joined.toFixed(2)}` +
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
