/**
 * Checkpoints in the library: a fit stopped by its signal at any point and
 * resumed from a checkpoint read back from disk ends with the very weights
 * (bit for bit) and history of an uninterrupted fit; checkpoints and weight
 * shards that were changed are refused; the folder swap leaves the previous
 * checkpoint whole when a write fails; output folders are checked up front.
 * On every backend (test/backends.ts): a native resume is bit for bit too.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DigitsError } from '../src/errors.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import type { Backend } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import {
  Activation, Adam, BatchNormalization, Conv2D, Dense, Dropout, EarlyStopping, Flatten, MaxPooling2D, OneCycle, ReduceLROnPlateau,
  SGD, Sequential, WeightAveraging, oneHot, type Callback, type FitOptions, type History,
} from '../src/nn/index.js';
import { makeMetadata, saveModel, loadModel } from '../src/io/model-files.js';
import { checkpointDir, findCheckpoint, readCheckpoint, writeCheckpoint } from '../src/io/checkpoint.js';
import { writeFolderAtomic } from '../src/util/atomic.js';
import { checkOutputFolder } from '../src/util/disk.js';
import { weightsOf } from './model-helpers.js';
import { onEveryBackend } from './backends.js';

let tmp = '';
let dirs = 0;
/** the backend of the suite running now (onEveryBackend) */
let backend: Backend = new ReferenceBackend();
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-ckpt-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});
const freshDir = (): string => path.join(tmp, `d${++dirs}`);

// --- a small run that uses every piece of state: BatchNorm statistics, dropout from the model's Rng and
// from a layer's own, augmentation, label smoothing, AdamW, a one-cycle rate, early stopping with best weights,
// weight averaging (the epoch-end mean here, the moving average in the SGD recipe)

const rng = new Rng(11);
const N = 60;
const X = new Tensor([N, 8, 8, 1]);
for (let i = 0; i < X.size; i++) X.data[i] = rng.uniform();
const Y = oneHot(Array.from({ length: N }, () => rng.int(3)), 3);

interface Recipe {
  model(): Sequential;
  callbacks(): Callback[];
  fit: FitOptions;
}

const adamRecipe: Recipe = {
  model() {
    const m = new Sequential({
      layers: [
        new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'linear', useBias: false, inputShape: [8, 8, 1] }),
        new BatchNormalization({ momentum: 0.9 }),
        new Activation({ activation: 'relu' }),
        new MaxPooling2D({ poolSize: 2 }),
        new Flatten(),
        new Dense({ units: 16, activation: 'relu' }),
        new Dropout({ rate: 0.3 }),
        new Dropout({ rate: 0.2, seed: 5 }),
        new Dense({ units: 3, activation: 'softmax' }),
      ],
    });
    m.build([8, 8, 1], 3);
    m.setBackend(backend);
    m.compile({ optimizer: new Adam({ learningRate: 0.01, weightDecay: 1e-3 }) });
    return m;
  },
  callbacks: () => [
    new OneCycle({ maxLr: 0.02 }), new EarlyStopping({ monitor: 'val_loss', patience: 3, restoreBestWeights: true }),
    new WeightAveraging({ mode: 'swa', startEpoch: 1 }),
  ],
  fit: { epochs: 4, batchSize: 8, validationSplit: 0.2, seed: 7, augment: { rotation: 10, zoom: 0.1, shift: 1 }, labelSmoothing: 0.1 },
};

const sgdRecipe: Recipe = {
  model() {
    const m = new Sequential({ layers: [new Flatten({ inputShape: [8, 8, 1] }), new Dense({ units: 12, activation: 'relu' }), new Dense({ units: 3, activation: 'softmax' })] });
    m.build([8, 8, 1], 4);
    m.setBackend(backend);
    m.compile({ optimizer: new SGD({ learningRate: 0.05, momentum: 0.9, nesterov: true }) });
    return m;
  },
  callbacks: () => [new ReduceLROnPlateau({ monitor: 'val_loss', patience: 1, factor: 0.5 }), new WeightAveraging({ decay: 0.8 })],
  fit: { epochs: 5, batchSize: 7, validationData: [X, Y], seed: 2 },
};

const meta = (m: Sequential): ReturnType<typeof makeMetadata> => makeMetadata(m, { classNames: ['a', 'b', 'c'] });

/** Aborts the fit's signal when `epoch` (0-based) has `batch` batches done (batch 0: before the epoch starts). */
class InterruptAt implements Callback {
  private epoch = 0;
  constructor(private readonly ac: AbortController | null, private readonly at: { epoch: number; batch: number } | null) {}
  onEpochBegin(e: number): void {
    this.epoch = e;
  }
  onBatchEnd(b: number): void {
    if (this.at !== null && this.epoch === this.at.epoch && b + 1 === this.at.batch) this.ac!.abort();
  }
  onEpochEnd(e: number): void {
    if (this.at !== null && this.at.batch === 0 && e + 1 === this.at.epoch) this.ac!.abort();
  }
}

function weightBytes(m: Sequential): Buffer {
  return Buffer.concat(m.namedWeights().map((w) => Buffer.from(w.tensor.data.buffer, w.tensor.data.byteOffset, w.tensor.data.byteLength)));
}

async function uninterrupted(r: Recipe): Promise<{ weights: Buffer; history: History }> {
  const m = r.model();
  const history = await m.fit(X, Y, { ...r.fit, callbacks: [...r.callbacks(), new InterruptAt(null, null)] });
  return { weights: weightBytes(m), history };
}

/**
 * Run `r`, interrupting it at each of `stops` in turn: after every stop the
 * checkpoint goes to disk and a fresh model (fresh optimizer and callbacks, as
 * a new process has) resumes from what is read back.
 */
async function interrupted(r: Recipe, stops: { epoch: number; batch: number }[]): Promise<{ weights: Buffer; history: History }> {
  const dir = freshDir();
  let model = r.model();
  let resume: FitOptions['resume'];
  for (const stop of [...stops, null]) {
    const ac = new AbortController();
    const history = await model.fit(X, Y, {
      ...r.fit, callbacks: [...r.callbacks(), new InterruptAt(ac, stop)], signal: ac.signal, ...(resume ? { resume } : {}),
    });
    if (stop === null) return { weights: weightBytes(model), history };
    assert.deepEqual(history.interrupted, stop, 'fit stops where it was interrupted');
    await writeCheckpoint(dir, model, meta(model), { settings: { recipe: 'test' }, state: model.trainingState() });
    const ck = await readCheckpoint(dir);
    assert.equal(ck.state.epoch, stop.epoch);
    assert.equal(ck.state.batch, stop.batch);
    model = r.model();
    model.setNamedWeights(new Map(ck.model.namedWeights().map((w) => [w.name, w.tensor.data])));
    resume = ck.state;
  }
  throw new Error('unreachable');
}

onEveryBackend((b) => {
  backend = b;
}, () => {
  for (const [name, recipe] of [['Adam + one-cycle + early stopping + augmentation + dropout', adamRecipe], ['SGD (Nesterov) + reduce-on-plateau', sgdRecipe]] as const) {
    test(`resume equals uninterrupted, bit for bit (${name}): mid-epoch, at an epoch start, at an epoch's last batch, twice`, async () => {
      const ref = await uninterrupted(recipe);
      const steps = name.startsWith('Adam') ? 6 : Math.ceil(N / 7);
      for (const stops of [[{ epoch: 0, batch: 3 }], [{ epoch: 1, batch: 0 }], [{ epoch: 2, batch: steps - 1 }], [{ epoch: 0, batch: 2 }, { epoch: 2, batch: 4 }]]) {
        const got = await interrupted(recipe, stops);
        assert.ok(got.weights.equals(ref.weights), `weights differ after resuming at ${JSON.stringify(stops)}`);
        assert.deepEqual(got.history, ref.history, `history differs after resuming at ${JSON.stringify(stops)}`);
      }
    });
  }

  test('a state is refused by a run it does not belong to', async () => {
    const m = adamRecipe.model();
    const ac = new AbortController();
    await m.fit(X, Y, { ...adamRecipe.fit, callbacks: [...adamRecipe.callbacks(), new InterruptAt(ac, { epoch: 1, batch: 2 })], signal: ac.signal });
    const state = m.trainingState();
    const fresh = (): Sequential => adamRecipe.model();
    const cbs = (): Callback[] => [...adamRecipe.callbacks(), new InterruptAt(null, null)];
    await assert.rejects(fresh().fit(X, Y, { ...adamRecipe.fit, batchSize: 4, callbacks: cbs(), resume: state }), /resume: batchSize: the run has 4, the state 8/);
    await assert.rejects(fresh().fit(X, Y, { ...adamRecipe.fit, seed: 8, callbacks: cbs(), resume: state }), /training rows differ/);
    await assert.rejects(fresh().fit(X, Y, { ...adamRecipe.fit, callbacks: cbs().slice(1), resume: state }), /resume: callbacks/);
    assert.throws(() => fresh().trainingState(), DigitsError);
  });

  test('a state is refused by a run with other augmentation, label smoothing or SAM; the order of augment\'s keys does not matter', async () => {
    const m = adamRecipe.model();
    const ac = new AbortController();
    await m.fit(X, Y, { ...adamRecipe.fit, callbacks: [...adamRecipe.callbacks(), new InterruptAt(ac, { epoch: 1, batch: 2 })], signal: ac.signal });
    const state = m.trainingState();
    const weights = weightsOf(m);
    assert.deepEqual(state.fitOptions, { augment: { rotation: 10, zoom: 0.1, shift: 1 }, labelSmoothing: 0.1, sam: 0 });
    const fit = (opts: FitOptions, s = state): Promise<History> => {
      const resumed = adamRecipe.model();
      resumed.setNamedWeights(weights);
      return resumed.fit(X, Y, { ...adamRecipe.fit, ...opts, callbacks: [...adamRecipe.callbacks(), new InterruptAt(null, null)], resume: s });
    };
    await assert.rejects(fit({ augment: { rotation: 10, zoom: 0.2, shift: 1 } }),
      /^DigitsError: Sequential\.fit: resume: augment: the run has "rotation 10, zoom 0\.2, shift 1", the state "rotation 10, zoom 0\.1, shift 1"/);
    await assert.rejects(fit({ augment: undefined }), /resume: augment: the run has "none", the state "rotation 10/);
    await assert.rejects(fit({ augment: { rotation: 10, zoom: 0.1, shift: 1, elastic: { alpha: 20, sigma: 5 } } }), /resume: augment: the run has "rotation 10, zoom 0\.1, shift 1, elastic alpha 20 sigma 5"/);
    await assert.rejects(fit({ labelSmoothing: 0 }), /resume: labelSmoothing: the run has 0, the state 0\.1/);
    await assert.rejects(fit({ sam: 0.05 }), /resume: sam: the run has 0\.05, the state 0/);
    // the same settings given with their keys in another order resume, as does a state from before fitOptions were recorded
    const ref = await adamRecipe.model().fit(X, Y, { ...adamRecipe.fit, callbacks: [...adamRecipe.callbacks(), new InterruptAt(null, null)] });
    const reordered = await fit({ augment: { shift: 1, zoom: 0.1, rotation: 10 } });
    assert.deepEqual(reordered.history, ref.history);
    const older = { ...state };
    delete older.fitOptions;
    assert.deepEqual((await fit({}, older)).history, ref.history);
  });

  // --- checkpoint and model files on disk

  async function smallCheckpoint(dir: string, epochs = 1): Promise<Sequential> {
    const m = sgdRecipe.model();
    const ac = new AbortController();
    await m.fit(X, Y, { ...sgdRecipe.fit, epochs, callbacks: [...sgdRecipe.callbacks(), new InterruptAt(ac, { epoch: 0, batch: 2 })], signal: ac.signal });
    await writeCheckpoint(dir, m, meta(m), { settings: {}, state: m.trainingState() });
    return m;
  }

  async function flipByte(file: string, at: number): Promise<void> {
    const b = await fs.readFile(file);
    b[at] = b[at]! ^ 0x01;
    await fs.writeFile(file, b);
  }

  test('a changed or truncated weight shard is refused (model and checkpoint), naming the file, expected and actual', async () => {
    const m = sgdRecipe.model();
    const dir = freshDir();
    await saveModel(m, dir, meta(m));
    const shard = path.join(dir, 'group1-shard1of1.bin');
    const size = (await fs.stat(shard)).size;
    await flipByte(shard, 100);
    await assert.rejects(loadModel(dir), (err: Error) => err instanceof DigitsError &&
      err.message.startsWith(`${shard}: weight shard does not match its SHA-256: expected `) && /got [0-9a-f]{64}; refused/.test(err.message));
    await fs.truncate(shard, size - 8);
    await assert.rejects(loadModel(dir), new RegExp(`^DigitsError: ${shard}: weight shard has the wrong length: expected ${size} bytes .*got ${size - 8} bytes`));

    const ck = freshDir();
    await smallCheckpoint(ck);
    await flipByte(path.join(ck, 'group1-shard1of1.bin'), 0);
    await assert.rejects(readCheckpoint(ck), /group1-shard1of1\.bin: weight shard does not match its SHA-256/);
    await assert.rejects(findCheckpoint(path.dirname(ck)).then((d) => readCheckpoint(d ?? ck)));
  });

  test("a changed or truncated checkpoint state is refused, naming state.bin", async () => {
    const ck = freshDir();
    await smallCheckpoint(ck);
    const bin = path.join(ck, 'state.bin');
    await flipByte(bin, 5);
    await assert.rejects(readCheckpoint(ck), new RegExp(`^DigitsError: ${bin}: checkpoint state refused: SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64}`));
    await fs.truncate(bin, 16);
    await assert.rejects(readCheckpoint(ck), /state\.bin: checkpoint state refused: expected \d+ bytes .*got 16 bytes/);
  });

  test('a model without recorded digests (as TF.js writes it) still loads', async () => {
    const m = sgdRecipe.model();
    const dir = freshDir();
    await saveModel(m, dir, meta(m));
    const jsonPath = path.join(dir, 'model.json');
    const json = JSON.parse(await fs.readFile(jsonPath, 'utf8'));
    delete json.userDefinedMetadata;
    await fs.writeFile(jsonPath, JSON.stringify(json));
    const loaded = await loadModel(dir);
    assert.ok(weightBytes(loaded.model).equals(weightBytes(m)));
  });

  test('a failed checkpoint write (no space left) leaves the previous checkpoint whole and no staging folder', async () => {
    const out = freshDir();
    await fs.mkdir(out);
    const dir = checkpointDir(out);
    await smallCheckpoint(dir);
    const before = await fs.readFile(path.join(dir, 'state.json'), 'utf8');
    const m = sgdRecipe.model();
    const ac = new AbortController();
    await m.fit(X, Y, { ...sgdRecipe.fit, callbacks: [...sgdRecipe.callbacks(), new InterruptAt(ac, { epoch: 2, batch: 3 })], signal: ac.signal });
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    await assert.rejects(writeCheckpoint(dir, m, meta(m), { settings: {}, state: m.trainingState() }, {
      beforeCommit: () => {
        throw enospc;
      },
    }), /ENOSPC/);
    assert.equal(await fs.readFile(path.join(dir, 'state.json'), 'utf8'), before);
    assert.deepEqual(await fs.readdir(out), ['checkpoint']);
    assert.equal((await readCheckpoint(dir)).state.epoch, 0);
  });

  test('a crash between the two renames of a checkpoint swap leaves checkpoint.prev, which is found and read', async () => {
    const out = freshDir();
    await fs.mkdir(out);
    await smallCheckpoint(checkpointDir(out));
    await fs.rename(checkpointDir(out), `${checkpointDir(out)}.prev`);
    const found = await findCheckpoint(out);
    assert.equal(found, `${path.resolve(checkpointDir(out))}.prev`);
    assert.equal((await readCheckpoint(found!)).state.batch, 2);
    // the next write puts a new checkpoint in place, then removes the old one
    await writeFolderAtomic(checkpointDir(out), [{ name: 'x', data: 'y' }]);
    assert.deepEqual((await fs.readdir(out)).sort(), ['checkpoint']);
    assert.deepEqual(await fs.readdir(checkpointDir(out)), ['x']);
  });

  test('output folders are checked before any work: a path under a file, /proc, too little free space', async () => {
    const file = path.join(tmp, 'a-file');
    await fs.writeFile(file, 'x');
    await assert.rejects(checkOutputFolder(path.join(file, 'out'), '--out x'), /^DigitsError: --out x: cannot create the folder \(a part of the path is a file, not a folder\)$/);
    await assert.rejects(checkOutputFolder(file, '--out f'), /^DigitsError: --out f: expected a folder, but it is a file$/);
    await assert.rejects(checkOutputFolder('/proc/digits-out', '--out /proc/digits-out'), /^DigitsError: --out \/proc\/digits-out: cannot create the folder/);
    const ok = freshDir();
    const free = (bytes: number) => async (): Promise<number> => bytes;
    await assert.rejects(checkOutputFolder(ok, '--out ok', { needBytes: 20 * 1024 * 1024, needFor: 'the model', freeBytes: free(3 * 1024 * 1024) }),
      /^DigitsError: --out ok: not enough free space: 3\.0 MB free, 20 MB needed \(the model\)$/);
    assert.deepEqual(await checkOutputFolder(ok, '--out ok', { needBytes: 1024, freeBytes: free(4096) }), { freeBytes: 4096 });
    assert.deepEqual(await fs.readdir(ok), [], 'the write probe is removed');
  });
});
