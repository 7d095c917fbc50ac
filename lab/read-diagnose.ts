/**
 * Where reading a number goes wrong: composes numbers of 3 to 6 MNIST training digits the gate did not
 * train on, as bench/read.ts composes them, keeps those whose every digit the model reads right
 * alone (the benchmark's figure), and sorts each misread one by its first cause:
 *
 * - choice: a path through the candidates reads the number right, and the costs chose another (fewer
 *   digits, more, or as many but other ones);
 * - no candidate: for some digit no candidate holds it alone (at least 85% of its ink, and it at least
 *   85% of the candidate's): the cuts or the grouping of pieces never isolate it;
 * - misread alone: every digit has a candidate that holds it alone, and for one of them none reads
 *   as that digit (the digit cut out and normalised again reads otherwise);
 * - other.
 *
 * Which ink is whose comes from the composition (ComposedNumber.owner) and the segmentation's piece
 * map. Prints JSON.
 *
 * With --unseen, only the digits the model's own training held out for validation are composed (the
 * others it learned, and reads more surely than digits it never saw).
 *
 *   node dist/lab/read-diagnose.js --model runs/seed [--numbers 2000] [--seed 7] [--unseen]
 */
import { candidateDigits, composeNumber } from '../src/data/compose.js';
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { chooseDigits, numberFromReadings, segmentGray } from '../src/preprocess/segment.js';
import { benchProgram, intArg } from '../bench/options.js';
import { heldOutTrainDigits } from './held-out.js';
import { rightPathExists } from './right-path.js';

const o = benchProgram('read-diagnose', 'why composed numbers are misread')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--numbers <n>', 'numbers to compose', intArg(1), 2000)
  .option('--seed <n>', 'seed', intArg(0), 7)
  .option('--unseen', 'only digits the model held out for validation too (lab/held-out.ts)')
  .parse()
  .opts<{ model: string; numbers: number; seed: number; unseen?: boolean }>();

const predictor = await openPredictor({ model: o.model }, () => undefined);
const ds = await heldOutTrainDigits(o.unseen ? o.model : undefined);
const alone = await predictor.predictBatch(ds.images, ds.count);
const rng = new Rng(o.seed);
const causes: Record<string, number> = {};
let eligible = 0;
for (let t = 0; t < o.numbers; t++) {
  const rows = Array.from({ length: 3 + rng.int(4) }, () => rng.int(ds.count));
  const number = composeNumber(ds, rows, rng, { gap: [-2, 6] });
  if (!rows.every((r) => alone[r]!.label === ds.labels![r] && alone[r]!.isDigit)) continue;
  eligible++;
  const seg = segmentGray(number.image, 'a composed number', { pieceMap: true });
  const readings = await predictor.readCandidates(seg);
  const read = numberFromReadings(seg, readings);
  const cause = read.text === number.text ? 'read exactly' : diagnose();
  causes[cause] = (causes[cause] ?? 0) + 1;

  function diagnose(): string {
    const k = rows.length;
    if (rightPathExists(seg, readings, number.text)) {
      const chosen = chooseDigits(seg, readings).length;
      return `choice: ${chosen < k ? 'fewer digits' : chosen > k ? 'more digits' : 'as many digits, others'}`;
    }
    // the candidates that hold each digit whole
    const holds = candidateDigits(seg, number);
    const isolating = Array.from({ length: k }, (_, d) => seg.candidates.flatMap((_c, i) => holds[i] === d ? [i] : []));
    if (isolating.some((l) => l.length === 0)) return 'no candidate holds a digit alone';
    if (isolating.some((l, d) => !l.some((i) => String(readings[i]!.label) === number.text[d]))) return 'a digit alone misread';
    return 'other';
  }
}
const share = Object.fromEntries(Object.entries(causes).sort((a, b) => b[1] - a[1]).map(([c, v]) => [c, v / eligible]));
console.log(JSON.stringify({ model: o.model, digits: ds.count, numbers: o.numbers, readableAlone: eligible, share }, null, 2));
