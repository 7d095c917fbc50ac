/**
 * Whether the digit gate's own reading of a candidate (it has the ten digits as classes beside "not
 * a digit") should weigh in on which digit it is, not only on whether it is one: judged on numbers
 * of 3-6 held-out training digits as lab/judge-choice.ts judges.
 *
 *   node dist/lab/gate-agrees.js --model runs/seed [--judge 1500]
 */
import { Tensor } from '../src/engine/tensor.js';
import { openPredictor } from '../src/run/predictor.js';
import { candidateBatch } from '../src/preprocess/segment.js';
import { benchProgram, intArg } from '../bench/options.js';
import { WEIGHINGS, heldOutNumbers, judge } from './judge-choice.js';

const o = benchProgram('gate-agrees', 'the gate\'s digit probabilities in the choice of a number\'s digits')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--judge <n>', 'held-out numbers to judge on', intArg(1), 1500)
  .option('--tta', 'candidates read with the model\'s test-time views too (the four 1-pixel shifts)')
  .parse()
  .opts<{ model: string; judge: number; tta?: boolean }>();

const predictor = await openPredictor({ model: o.model, lineReader: false, ...(o.tta ? { tta: true } : {}) }, () => undefined);
const gate = predictor.gate!;
const cases = await heldOutNumbers(predictor, o.judge, (seg) =>
  Float32Array.from(gate.model.predict(new Tensor([seg.candidates.length, 28, 28, 1], candidateBatch(seg)), { batchSize: 256 }).data));
judge(cases, {
  gate: (r) => r,
  // the gate's probability of the classifier's digit, instead of its probability of any digit
  'gate agrees': (r, g) => ({ ...r, digitScore: g[r.label]! }),
  // the classifier's probabilities times the gate's
  product: (r, g) => WEIGHINGS.product!({ ...r, digitScore: 1 }, g),
}, [0.25, 0.5, 1]);
