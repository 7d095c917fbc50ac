/**
 * `digits ensemble --out DIR MODEL...` through the real command: models saved apart
 * (different architectures, and an ensemble folder whose members join) become one
 * artifact that loads as an ensemble and predicts the members' averaged probabilities;
 * duplicates, a folder that already holds a model, and members that disagree on their
 * input are refused with one line and nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBackend } from '../src/engine/index.js';
import { Tensor } from '../src/engine/tensor.js';
import { Rng } from '../src/engine/rng.js';
import { loadClassifier, writeEnsembleJson } from '../src/io/ensemble.js';
import { makeMetadata, saveModel } from '../src/io/model-files.js';
import { buildPreset } from '../src/nn/presets.js';
import { Dense, Flatten, Sequential } from '../src/nn/index.js';

const run = promisify(execFile);
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(path.join(tmpdir(), 'digits-ensemble-combine-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function digits(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, CI: '1' } });
}

async function digitsFails(...args: string[]): Promise<string> {
  try {
    await digits(...args);
  } catch (err) {
    const e = err as { code: number; stderr: string };
    assert.equal(e.code, 1);
    assert.equal(e.stderr.trim().split('\n').length, 1, `one line: ${e.stderr}`);
    return e.stderr;
  }
  assert.fail(`digits ${args.join(' ')} succeeded`);
}

/** fresh (untrained) presets are enough: the ensemble must average whatever its members say */
async function savePreset(name: string, seed: number, to: string): Promise<void> {
  const { model } = buildPreset(name, seed);
  await saveModel(model, to, makeMetadata(model, { preset: name, seed }));
}

const a = path.join(dir, 'fast-0');
const b = path.join(dir, 'seed-1');
const pair = path.join(dir, 'pair'); // an ensemble folder of two fast members
test.before(async () => {
  await savePreset('fast', 0, a);
  await savePreset('seed', 1, b);
  await savePreset('fast', 2, path.join(pair, 'model-0'));
  await savePreset('fast', 3, path.join(pair, 'model-1'));
  await writeEnsembleJson(pair, ['model-0', 'model-1']);
});

test('models of different architectures and an ensemble\'s members become one ensemble of their averaged probabilities', async () => {
  const out = path.join(dir, 'mix');
  const { stdout } = await digits('ensemble', '--out', out, a, b, pair);
  assert.match(stdout, /wrote an ensemble of 4 models/);
  assert.match(stdout, /model-3 {2}<- .*pair\/model-1/);
  const json = JSON.parse(readFileSync(path.join(out, 'ensemble.json'), 'utf8')) as { members: string[]; tta?: unknown };
  assert.deepEqual(json.members, ['model-0', 'model-1', 'model-2', 'model-3']);
  assert.equal(json.tta, undefined);

  const backend = createBackend('reference').backend;
  const rng = new Rng(7);
  const x = new Tensor([5, 28, 28, 1], Float32Array.from({ length: 5 * 784 }, () => rng.uniform()));
  const mix = await loadClassifier(out);
  assert.equal(mix.kind, 'ensemble');
  mix.model.setBackend(backend);
  const got = mix.model.predict(x).data;
  const sources = [a, b, path.join(pair, 'model-0'), path.join(pair, 'model-1')];
  const want = new Float64Array(50);
  for (const src of sources) {
    const m = await loadClassifier(src);
    m.model.setBackend(backend);
    const p = m.model.predict(x).data;
    for (let i = 0; i < 50; i++) want[i]! += p[i]! / sources.length;
  }
  for (let i = 0; i < 50; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6, `probability ${i}: ${got[i]} vs ${want[i]}`);

  const withTta = path.join(dir, 'mix-tta');
  await digits('ensemble', '--tta', '--out', withTta, a, b);
  assert.equal((JSON.parse(readFileSync(path.join(withTta, 'ensemble.json'), 'utf8')) as { tta: unknown[] }).tta.length, 5);
});

test('refused with one line, nothing written: duplicates, an occupied folder, one model, other inputs', async () => {
  const dup = path.join(dir, 'dup');
  assert.match(await digitsFails('ensemble', '--out', dup, a, b, a), /hold the same weights; name each model once/);
  assert.equal(existsSync(path.join(dup, 'ensemble.json')), false);
  assert.match(await digitsFails('ensemble', '--out', a, b, pair), /already holds model\.json; pick a new folder/);
  assert.match(await digitsFails('ensemble', '--out', path.join(dir, 'one'), a), /gives 1 model; an ensemble needs at least 2/);
  const wide = path.join(dir, 'wide');
  const m = new Sequential({ name: 'wide', layers: [new Flatten(), new Dense({ units: 10, activation: 'softmax' })] });
  m.build([32, 32, 1], 0);
  await saveModel(m, wide, makeMetadata(m));
  assert.match(await digitsFails('ensemble', '--out', path.join(dir, 'shapes'), a, wide), /takes input \[32,32,1\], but .* takes \[28,28,1\]/);
  assert.match(await digitsFails('ensemble', '--out', path.join(dir, 'missing'), a, path.join(dir, 'nothing-here')), /nothing-here/);
});
