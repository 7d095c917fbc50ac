/**
 * Do two models make different mistakes? On validation only: saved models that held out the same
 * rows (`--seed S` of a 10% split, as `best-select.js` and `digits train` draw it, or fold I of
 * `best-select.js --folds K --fold I`'s fixed partition) are scored on those rows alone, in pairs
 * and all together (class probabilities averaged), and a model given as NAME=DIR@NORMALIZATION
 * sees the rows normalized as it was trained (lab/normalize.ts).
 * Naming a directory more than once weights it more in "all" (it is loaded and run once).
 * Names starting with F are the reference family: each other model is scored paired with every
 * family member, against the family's own pairs. The MNIST test images are never loaded.
 *
 *   node dist/lab/val-pairs.js [--seed 0 | --folds K --fold I] F0=runs/a F1=runs/b W14=runs/w14@width:14 DSK=runs/dsk@deskew
 *
 * Prints one JSON object: each model's errors alone, the family's pairs, each other model's pairs
 * with the family, the family's errors together, and everything's together.
 */
import { benchProgram, intArg } from '../bench/options.js';
import { foldOptionsError, foldRows } from './folds.js';
import { loadNativeBackend } from '../src/engine/native.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import { countCorrect, datasetToTensors, takeRows, validationSplitIndices } from '../src/nn/index.js';
import { loadModel } from '../src/io/model-files.js';
import { normalizeImages, parseNormalization } from './normalize.js';

const program = benchProgram('val-pairs', 'errors of saved models on a validation split, alone, in pairs and together')
  .option('--seed <n>', 'the seed of the 10% validation split the models held out', intArg(0), 0)
  .option('--folds <k>', 'the models held out a fold of best-select\'s k-fold partition (with --fold)', intArg(2))
  .option('--fold <i>', 'the 0-based fold they held out', intArg(0))
  .argument('<models...>', 'NAME=DIR or NAME=DIR@NORMALIZATION (names starting with F: the reference family)')
  .allowExcessArguments(true);
program.parse();
const { seed, folds, fold } = program.opts<{ seed: number; folds?: number; fold?: number }>();
const foldError = foldOptionsError(folds, fold);
if (foldError !== null) program.error(foldError);
const specs = program.args.map((a) => {
  const m = /^([^=]+)=([^@]+)(?:@(.+))?$/.exec(a);
  if (m === null) return program.error(`error: ${a}: expected NAME=DIR or NAME=DIR@NORMALIZATION`);
  return { name: m[1]!, dir: m[2]!, norm: m[3] === undefined ? null : parseNormalization(m[3]) };
});

const nat = loadNativeBackend();
if (!nat.ok) throw new Error(`native backend: ${nat.reason}`);
const { x, y } = datasetToTensors(await loadMnist('train'));
const rows = (folds === undefined ? validationSplitIndices(x.shape[0]!, 0.1, seed) : foldRows(x.shape[0]!, folds, fold!)).validation;
const n = rows.length;
const xv = takeRows(x, rows).data;
const yv = takeRows(y!, rows).data;

// A directory named more than once (the way a mix weights its models) is loaded and run once.
const probs = new Map<string, Float32Array>();
const byModel = new Map<string, Float32Array>();
for (const s of specs) {
  const key = JSON.stringify([s.dir, s.norm]);
  let p = byModel.get(key);
  if (p === undefined) {
    const { model } = await loadModel(s.dir);
    model.setBackend(nat.backend);
    p = model.predict(new Tensor([n, 28, 28, 1], s.norm === null ? xv : normalizeImages(xv, s.norm))).data;
    byModel.set(key, p);
  }
  probs.set(s.name, p);
}

/** errors of the named models' averaged probabilities (their sum has the same argmax) */
function errors(names: string[]): number {
  const sum = new Float32Array(n * 10);
  for (const m of names) {
    const p = probs.get(m)!;
    for (let i = 0; i < sum.length; i++) sum[i] += p[i]!;
  }
  return n - countCorrect(sum, yv, n, 10);
}
const mean = (a: number[]): number => Number((a.reduce((s, v) => s + v, 0) / a.length).toFixed(2));
const names = specs.map((s) => s.name);
const family = names.filter((m) => m.startsWith('F'));
const others = names.filter((m) => !m.startsWith('F'));
const familyPairs: number[] = [];
for (let i = 0; i < family.length; i++) for (let j = i + 1; j < family.length; j++) familyPairs.push(errors([family[i]!, family[j]!]));
console.log(JSON.stringify({
  ...(folds === undefined ? { seed } : { folds, fold }), rows: n,
  alone: Object.fromEntries(names.map((m) => [m, errors([m])])),
  familyPairs: { mean: familyPairs.length > 0 ? mean(familyPairs) : null, each: familyPairs },
  withFamily: Object.fromEntries(others.map((o) => {
    const each = family.map((f) => errors([f, o]));
    return [o, { mean: each.length > 0 ? mean(each) : null, each }];
  })),
  family: family.length > 0 ? errors(family) : null,
  all: errors(names),
}));
