/**
 * Ensembles: the averaged probabilities, saving N members as one artifact
 * (folder + ensemble.json) and loading it back, and test-time augmentation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceBackend } from '../src/engine/reference.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import { buildPreset, Ensemble, DEFAULT_TTA } from '../src/nn/index.js';
import { isEnsembleDir, loadClassifier, loadEnsemble, saveEnsemble, writeEnsembleJson } from '../src/io/ensemble.js';
import { loadModel } from '../src/io/model-files.js';

test('Ensemble of 3 (different seeds): probabilities are the members\' mean; saved and loaded as one artifact', async () => {
  const ds = await loadMnist('test', { limit: 20 });
  const x = new Tensor([20, 28, 28, 1], ds.images);
  const members = [1, 2, 3].map((s) => buildPreset('fast', s).model);
  const ref = new ReferenceBackend();
  for (const m of members) m.setBackend(ref);
  const ens = new Ensemble(members);
  const p = ens.predict(x);
  const each = members.map((m) => m.predict(x));
  for (let i = 0; i < p.size; i++) {
    const mean = (each[0]!.data[i]! + each[1]!.data[i]! + each[2]!.data[i]!) / 3;
    assert.ok(Math.abs(p.data[i]! - mean) < 1e-6);
  }
  for (let r = 0; r < 20; r++) {
    let s = 0;
    for (let c = 0; c < 10; c++) s += p.data[r * 10 + c]!;
    assert.ok(Math.abs(s - 1) < 1e-5);
  }

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-ensemble-'));
  try {
    await saveEnsemble(members, dir);
    assert.ok(await isEnsembleDir(dir));
    assert.ok(!(await isEnsembleDir(path.join(dir, 'model-0'))));
    assert.deepEqual((await fs.readdir(dir)).sort(), ['ensemble.json', 'model-0', 'model-1', 'model-2']);
    const member1 = await loadModel(path.join(dir, 'model-1')); // each member is an ordinary model folder
    assert.equal(member1.model.countParams(), members[1]!.countParams());
    const loaded = (await loadEnsemble(dir)).model as Ensemble;
    loaded.setBackend(ref);
    assert.equal(loaded.members.length, 3);
    assert.deepEqual(loaded.predict(x).data, p.data);
    // TTA: the identity view alone changes nothing; the default views average 5 shifted copies
    loaded.tta = [{ dx: 0, dy: 0, rotation: 0 }];
    assert.deepEqual(loaded.predict(x).data, p.data);
    loaded.tta = DEFAULT_TTA;
    const t = loaded.predict(x);
    assert.notDeepEqual(t.data, p.data);
    await fs.writeFile(path.join(dir, 'ensemble.json'), '{"format": "other"}');
    await assert.rejects(loadEnsemble(dir), /digits-ensemble/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('TTA is a property of use: recorded in ensemble.json it is the default, --no-tta (false) turns it off; a model with tta is an ensemble of one', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-ensemble-tta-'));
  try {
    const members = [1, 2].map((s) => buildPreset('fast', s).model);
    await saveEnsemble(members, dir);
    assert.deepEqual((await loadClassifier(dir)).tta, []);
    assert.deepEqual((await loadClassifier(dir, { tta: true })).tta, DEFAULT_TTA);
    await writeEnsembleJson(dir, ['model-0', 'model-1'], { tta: DEFAULT_TTA });
    const recorded = await loadClassifier(dir);
    assert.equal(recorded.kind, 'ensemble');
    assert.deepEqual(recorded.tta, DEFAULT_TTA);
    assert.deepEqual((recorded.model as Ensemble).tta, DEFAULT_TTA);
    assert.deepEqual(((await loadClassifier(dir, { tta: false })).model as Ensemble).tta, []);
    assert.match(recorded.model.summary(), /^Ensemble of 2 models, probabilities averaged; test-time augmentation: 5 views averaged \(the image, dx 1, dx -1, dy 1, dy -1\)/);

    const one = await loadClassifier(path.join(dir, 'model-0'), { tta: true });
    assert.equal(one.kind, 'model');
    assert.ok(one.model instanceof Ensemble && one.model.members.length === 1);
    const plain = await loadClassifier(path.join(dir, 'model-0'));
    assert.equal(plain.model, plain.members[0]!.model, 'without TTA a model folder gives its Sequential');
    await fs.writeFile(path.join(dir, 'ensemble.json'), '{"format": "digits-ensemble", "members": ["model-0"], "tta": [{"dx": 1, "dy": 0}]}');
    await assert.rejects(loadClassifier(dir), /ensemble\.json: tta\[0\]: expected \{"dx": pixels, "dy": pixels, "rotation": degrees\}/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
