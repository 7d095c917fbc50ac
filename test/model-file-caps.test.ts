/**
 * Model files that cost memory or reach outside their folder (issue 28): a shard that is a symbolic
 * link out of the folder, or reached through a linked subfolder, is refused without telling the
 * target's size; a shard listed twice is refused; a sparse 1.5 GB shard is refused from its size,
 * without being read; an ensemble.json naming one member many times is refused before loading
 * any; and shards of the wrong total size get a message that says so.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildPreset } from '../src/nn/index.js';
import { loadModel, makeMetadata, saveModel } from '../src/io/model-files.js';
import { loadClassifier } from '../src/io/ensemble.js';
import { DigitsError } from '../src/errors.js';

let tmp = '';
let n = 0;
const { model } = buildPreset('fast', 0);

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-model-caps-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function saved(): Promise<string> {
  const dir = path.join(tmp, `m${++n}`);
  await saveModel(model, dir, makeMetadata(model));
  return dir;
}

async function refused(dir: string, pattern: RegExp): Promise<void> {
  const rss = process.memoryUsage().rss;
  await assert.rejects(loadModel(dir), (err: unknown) => {
    assert.ok(err instanceof DigitsError, String(err));
    assert.match(err.message, pattern);
    assert.ok(err.message.length < 400, `one short line: ${err.message}`);
    return true;
  });
  assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024, 'nothing large was read');
}

/** model.json without the shard digests, so that only the manifest's checks stand between a shard and the loader. */
async function withoutDigests(dir: string, edit: (json: Record<string, any>) => void = () => {}): Promise<void> {
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, any>;
  delete json.userDefinedMetadata.digits.weightFiles;
  edit(json);
  await fs.writeFile(file, JSON.stringify(json));
}

test('a shard that is a symbolic link out of the model folder, or behind a linked subfolder, is refused without its size', async () => {
  const outsideFile = path.join(tmp, 'outside.bin');
  await fs.writeFile(outsideFile, new Uint8Array(123_456));
  const dir = await saved();
  await withoutDigests(dir);
  await fs.rm(path.join(dir, 'group1-shard1of1.bin'));
  await fs.symlink(outsideFile, path.join(dir, 'group1-shard1of1.bin'));
  await refused(dir, /weightsManifest path "group1-shard1of1\.bin": it leads outside the model folder \(a symbolic link\)/);
  assert.doesNotMatch(String(await loadModel(dir).catch((e: Error) => e.message)), /123456|123,456/);

  const dir2 = await saved();
  await fs.mkdir(path.join(tmp, 'elsewhere'));
  await fs.rename(path.join(dir2, 'group1-shard1of1.bin'), path.join(tmp, 'elsewhere', 'group1-shard1of1.bin'));
  await fs.symlink(path.join(tmp, 'elsewhere'), path.join(dir2, 'sub'));
  await withoutDigests(dir2, (json) => {
    json.weightsManifest[0].paths = ['sub/group1-shard1of1.bin'];
  });
  await refused(dir2, /"sub\/group1-shard1of1\.bin": it leads outside the model folder/);
});

test('a shard listed twice is refused before any is read', async () => {
  const dir = await saved();
  await withoutDigests(dir, (json) => {
    json.weightsManifest[0].paths = Array.from({ length: 2000 }, () => 'group1-shard1of1.bin');
  });
  await refused(dir, /weightsManifest\[0\]\.paths: "group1-shard1of1\.bin" is listed more than once/);
});

test('a sparse 1.5 GB shard is refused from its size, without being read', async () => {
  const dir = await saved();
  await withoutDigests(dir);
  await fs.truncate(path.join(dir, 'group1-shard1of1.bin'), 1_500_000_000);
  const started = performance.now();
  await refused(dir, /weight shard has the wrong length: expected \d+ bytes or fewer .*got 1500000000 bytes; refused without reading it/);
  assert.ok(performance.now() - started < 1000);
});

test('shards of the wrong total size: the message gives their sizes and what they should hold in all', async () => {
  const dir = path.join(tmp, `m${++n}`);
  await saveModel(model, dir, makeMetadata(model), { shardBytes: 20_000 });
  await withoutDigests(dir, (json) => {
    json.weightsManifest[0].paths = json.weightsManifest[0].paths.slice(0, 2);
  });
  await refused(dir, /weightsManifest\[0\]: its 2 weight shards hold 20000 \+ 20000 = 40000 bytes, expected \d+ bytes in all/);
});

test('an ensemble.json naming one member 10,000 times, or over 100 members, is refused before loading any', async () => {
  const ens = path.join(tmp, 'ens');
  await saveModel(model, path.join(ens, 'model-0'), makeMetadata(model));
  const write = (members: string[]): Promise<void> =>
    fs.writeFile(path.join(ens, 'ensemble.json'), JSON.stringify({ format: 'digits-ensemble', version: 1, members }));
  await write(Array.from({ length: 10_000 }, () => 'model-0'));
  await assert.rejects(loadClassifier(ens), /10000 members; at most 100 are loaded/);
  await write(['model-0', 'model-0']);
  await assert.rejects(loadClassifier(ens), /member "model-0" is named more than once/);
});

test('layers are added in constant time (20,000 default-named layers in well under a second); a model file of over 10,000 layers is refused', async () => {
  const { Sequential, Activation } = await import('../src/nn/index.js');
  const started = performance.now();
  const m = new Sequential({ layers: Array.from({ length: 20_000 }, () => new Activation({ activation: 'linear' })) });
  assert.equal(m.layers[19_999]!.name, 'activation_19999');
  assert.ok(performance.now() - started < 1500, `${(performance.now() - started).toFixed(0)} ms`);
  const dir = await saved();
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, any>;
  const layers = json.modelTopology.config.layers as unknown[];
  json.modelTopology.config.layers = [...layers, ...Array.from({ length: 10_001 }, (_, i) => (
    { class_name: 'Activation', config: { name: `a${i}`, activation: 'linear', trainable: true, dtype: 'float32' } }))];
  await fs.writeFile(file, JSON.stringify(json));
  await refused(dir, /modelTopology has 10\d\d\d layers; at most 10,000 are loaded/);
});

test('a model.json of a few KB declaring a Dense of a million units is refused before the layer allocates, in well under a second', async () => {
  const dir = await saved();
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, any>;
  const layers = json.modelTopology.config.layers as { class_name: string; config: Record<string, unknown> }[];
  const dense = layers.find((l) => l.class_name === 'Dense')!;
  dense.config.units = 1_000_000;
  await fs.writeFile(file, JSON.stringify(json));
  const started = performance.now();
  await refused(dir, /layer "dense" \(Dense\) needs a weight "kernel" of shape \[\d+, 1000000\] \([\d,]+ values\), more than the weights file declares/);
  assert.ok(performance.now() - started < 1000, `${(performance.now() - started).toFixed(0)} ms`);
});
