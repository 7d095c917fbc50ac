/** Trains the digit gate (quick look): MNIST train digits against generated outliers. */
import { loadMnist } from '../src/data/mnist.js';
import { digitFields, outlierFields } from '../src/data/outliers.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { createBackend } from '../src/engine/index.js';
import { buildGate } from '../src/nn/gate.js';
import { saveModel, makeMetadata } from '../src/io/model-files.js';
import { benchProgram, intArg } from '../bench/options.js';

const o = benchProgram('gate-try', 'train the digit gate').requiredOption('--out <dir>', 'model folder')
  .option('--digits <n>', 'MNIST train digits', intArg(1), 50000).option('--epochs <n>', 'epochs', intArg(1), 3)
  .parse().opts<{ out: string; digits: number; epochs: number }>();
const ds = await loadMnist('train', { limit: o.digits });
const rng = new Rng(11);
const t0 = Date.now();
const neg = outlierFields(ds, o.digits, rng);
console.log(`outliers made in ${(Date.now() - t0) / 1000} s`);
const n = 2 * o.digits;
const x = new Tensor([n, 28, 28, 1]);
x.data.set(digitFields(ds, Array.from({ length: ds.count }, (_, i) => i), rng), 0);
x.data.set(neg, ds.images.length);
const y = new Tensor([n, 2]);
for (let i = 0; i < n; i++) y.data[i * 2 + (i < o.digits ? 1 : 0)] = 1;
const model = buildGate(0);
model.setBackend(createBackend('auto').backend);
const h = await model.fit(x, y, { epochs: o.epochs, batchSize: 64, validationSplit: 0.1, shuffle: true, seed: 0 });
console.log(JSON.stringify(h.history));
await saveModel(model, o.out, makeMetadata(model, { classNames: ['not a digit', 'digit'] }));
