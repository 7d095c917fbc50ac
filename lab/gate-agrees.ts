/**
 * Whether the digit gate's own reading of a candidate (it has the ten digits as classes beside "not
 * a digit") should weigh in on which digit it is, not only on whether it is one: judged on numbers
 * of 3-6 held-out training digits (lab/held-out.ts) as lab/context-reader.ts judges, all and those
 * whose every digit the model reads right alone.
 *
 *   node dist/lab/gate-agrees.js --model runs/seed [--judge 1500]
 */
import { composeNumber } from '../src/data/compose.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { GATE_CLASSES, type GateSay } from '../src/nn/gate.js';
import { openPredictor, type Prediction } from '../src/run/predictor.js';
import { COSTS, candidateBatch, chooseDigits, segmentGray, type CandidateReading } from '../src/preprocess/segment.js';
import { benchProgram, intArg } from '../bench/options.js';
import { heldOutTrainDigits } from './held-out.js';

const o = benchProgram('gate-agrees', 'the gate\'s digit probabilities in the choice of a number\'s digits')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--judge <n>', 'held-out numbers to judge on', intArg(1), 1500)
  .option('--tta', 'candidates read with the model\'s test-time views too (the four 1-pixel shifts)')
  .parse()
  .opts<{ model: string; judge: number; tta?: boolean }>();

const predictor = await openPredictor({ model: o.model, ...(o.tta ? { tta: true } : {}) }, () => undefined);
const gate = predictor.gate!;
const held = await heldOutTrainDigits();
const alone = await predictor.predictBatch(held.images, held.count);
const rng = new Rng(7);
const cases: { text: string; eligible: boolean; seg: ReturnType<typeof segmentGray>; readings: (Prediction & GateSay)[]; gate: Float32Array }[] = [];
for (let k = 0; k < o.judge; k++) {
  const rows = Array.from({ length: 3 + rng.int(4) }, () => rng.int(held.count));
  const number = composeNumber(held, rows, rng, { gap: [-2, 6] });
  const seg = segmentGray(number.image);
  const m = seg.candidates.length;
  const p = gate.model.predict(new Tensor([m, 28, 28, 1], candidateBatch(seg)), { batchSize: 256 }).data;
  const eligible = rows.every((r) => alone[r]!.label === held.labels![r] && alone[r]!.isDigit);
  cases.push({ text: number.text, eligible, seg, readings: await predictor.readCandidates(seg), gate: Float32Array.from(p) });
}
type Variant = (r: Prediction & GateSay, g: Float32Array) => CandidateReading;
const variants: Record<string, Variant> = {
  shipped: (r) => r,
  // the gate's probability of the classifier's digit, instead of its probability of any digit
  'gate agrees': (r, g) => ({ ...r, digitScore: g[r.label]! }),
  // the classifier's probabilities times the gate's (given a digit)
  product: (r, g) => {
    const q = r.probabilities.map((v, d) => v * g[d]!);
    let best = 0;
    for (let d = 1; d < 10; d++) if (q[d]! > q[best]!) best = d;
    const sum = q.reduce((a, b) => a + b, 0);
    return { ...r, label: best, confidence: q[best]! / Math.max(1e-12, sum) };
  },
};
for (const [name, v] of Object.entries(variants)) {
  for (const weight of [0.25, 0.5, 1]) {
    const costs = { ...COSTS, gate: weight };
    const right = cases.filter((c) => {
      const readings = c.readings.map((r, i) => v(r, c.gate.subarray(i * GATE_CLASSES, (i + 1) * GATE_CLASSES)));
      return chooseDigits(c.seg, readings, costs).map((i) => readings[i]!.label).join('') === c.text;
    });
    const eligible = cases.filter((c) => c.eligible).length;
    console.log(JSON.stringify({ variant: name, gate: weight, exact: right.length / cases.length, exactOfReadableAlone: right.filter((c) => c.eligible).length / eligible }));
  }
}
