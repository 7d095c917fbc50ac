/**
 * Property-based fuzz tests of the model loader (src/io/model-files.ts,
 * loadModel): model.json mutated field by field (missing fields, wrong types,
 * wrong shapes, random JSON in their place), its text mutated byte by byte,
 * weight manifests pointing outside the folder or at missing, short, long or
 * non-file shards, and shard bytes flipped: a model that predicts finite
 * numbers, or a DigitsError naming the file; never another exception, never a
 * hang. Seeded (see fuzz-helpers.ts); the case counts are printed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { Tensor } from '../src/engine/tensor.js';
import { DigitsError } from '../src/errors.js';
import { BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D, Sequential } from '../src/nn/index.js';
import { loadModel, makeMetadata, saveModel } from '../src/io/model-files.js';
import { fuzz, mutated, position, reportCases } from './fuzz-helpers.js';

let tmp: string;
/** the model folder the cases write model.json into */
let dir: string;
let baseJson: Record<string, unknown>;
let baseText: string;
let shard: Buffer;
const SHARD = 'group1-shard1of1.bin';

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-fuzz-model-'));
  dir = path.join(tmp, 'model');
  // a small model with every kind of weight the presets use: conv kernel/bias, batch-norm statistics, dense
  const model = new Sequential({
    name: 'tiny',
    layers: [
      new Conv2D({ filters: 2, kernelSize: 3, activation: 'relu' }),
      new BatchNormalization(),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.build([8, 8, 1], 1);
  await saveModel(model, dir, makeMetadata(model, { testAccuracy: 0.5, seed: 1 }));
  baseText = await fs.readFile(path.join(dir, 'model.json'), 'utf8');
  baseJson = JSON.parse(baseText) as Record<string, unknown>;
  shard = await fs.readFile(path.join(dir, SHARD));
  // shards a mutated manifest may point at
  await fs.writeFile(path.join(tmp, 'outside.bin'), shard); // the right bytes, but outside the model folder
  await fs.writeFile(path.join(dir, 'short.bin'), shard.subarray(0, shard.length - 4));
  await fs.writeFile(path.join(dir, 'long.bin'), Buffer.concat([shard, Buffer.alloc(4)]));
  await fs.writeFile(path.join(dir, 'empty.bin'), Buffer.alloc(0));
  await fs.mkdir(path.join(dir, 'sub.bin'));
  execFileSync('mkfifo', [path.join(dir, 'fifo.bin')]); // opening it for reading would wait for a writer forever
  const nan = Buffer.from(shard);
  nan.writeFloatLE(Number.NaN, 8);
  await fs.writeFile(path.join(dir, 'nan.bin'), nan);
});

after(async () => {
  reportCases('model.json');
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/**
 * Load `text` as the folder's model.json: 'loaded' (every weight finite and, with `finitePredictions`,
 * finite predictions) or 'refused' (a DigitsError naming a file).
 */
async function load(text: string | Uint8Array, finitePredictions = true): Promise<'loaded' | 'refused'> {
  await fs.writeFile(path.join(dir, 'model.json'), text);
  let loaded;
  try {
    loaded = await loadModel(dir);
  } catch (err) {
    if (!(err instanceof DigitsError)) throw err;
    assert.ok(err.message.startsWith(tmp), `the message does not start with the file: ${err.message}`);
    assert.ok(err.message.length < 2000, `a message of ${err.message.length} characters`);
    return 'refused';
  }
  const { model } = loaded;
  for (const w of model.namedWeights()) assert.ok(w.tensor.data.every(Number.isFinite), `weight ${w.name} is not finite`);
  if (!finitePredictions) return 'loaded';
  const shape = model.inputShape!;
  const out = model.predict(new Tensor([1, ...shape])).data;
  assert.ok(out.length > 0 && out.every(Number.isFinite), `a loaded model predicts [${Array.from(out.slice(0, 10)).join(', ')}]`);
  return 'loaded';
}

/** Every path (list of keys) into a JSON value. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

const SHARD_NAMES = ['../outside.bin', '../../outside.bin', path.join('..', '..', '..', '..', '..', '..', '..', '..', 'dev', 'zero'),
  '/dev/zero', '/etc/passwd', 'sub.bin', 'fifo.bin', '.', '', 'missing.bin', 'short.bin', 'long.bin', 'empty.bin', 'nan.bin', `${SHARD}\u0000`,
  'sub.bin/../' + SHARD, './' + SHARD, SHARD, SHARD.toUpperCase(), '..\\outside.bin'];

const SPECIAL = [null, -1, 0, 1, 1.5, 3, 1e9, 2 ** 31, 2 ** 53, -0, '', 'x', 'NaN', [], {}, true, false, [null], [0], [-1, 2], [1, 1],
  [null, 8, 8, 1], [null, 0, 8, 1], [null, 1e9, 1e9, 1], 'relu', 'linear', 'softmax', 'float32', 'int32', 'float16', 'same', 'valid',
  'Dense', 'Conv2D', 'InputLayer', 'Sequential', 'graph-model', ...SHARD_NAMES];

type Edit = { op: 'delete' | 'set' | 'dup'; at: number; value: unknown };

const editArb: fc.Arbitrary<Edit> = fc.record({
  op: fc.constantFrom('delete', 'set', 'set', 'dup'),
  at: position,
  value: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...SPECIAL) }, fc.jsonValue({ maxDepth: 2 })),
}) as fc.Arbitrary<Edit>;

function applyEdit(json: unknown, e: Edit): unknown {
  const all = paths(json);
  const p = all[Math.floor(e.at * all.length)]!;
  if (p.length === 0) return e.op === 'set' ? e.value : json;
  let parent = json as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = p[p.length - 1]!;
  if (e.op === 'set') parent[key] = e.value;
  else if (Array.isArray(parent)) {
    if (e.op === 'delete') parent.splice(Number(key), 1);
    else parent.splice(Number(key), 0, structuredClone(parent[Number(key)]));
  } else if (e.op === 'delete') delete parent[key];
  else parent[key] = e.value;
  return json;
}

test('the unmutated model loads (so the mutations start from a valid file)', async () => {
  assert.equal(await load(baseText), 'loaded');
});

test('model.json with fields deleted, duplicated or replaced (wrong types, shapes, shard paths): loads or DigitsError', async (t) => {
  const seen = { loaded: 0, refused: 0 };
  await fuzz(t, fc.array(editArb, { minLength: 1, maxLength: 3 }), 1200, async (edits) => {
    const json = edits.reduce((j, e) => applyEdit(j, e), structuredClone(baseJson) as unknown);
    seen[await load(JSON.stringify(json))]++;
  });
  t.diagnostic(`loaded: ${seen.loaded}, refused with a DigitsError: ${seen.refused}`);
  assert.ok(seen.loaded > 0 && seen.refused > 0, JSON.stringify(seen));
});

test('weight manifests pointing outside the folder, at missing, short, long, empty or non-file shards: refused, except the right shard', async (t) => {
  const arb = fc.array(fc.constantFrom(...SHARD_NAMES), { minLength: 1, maxLength: 3 });
  await fuzz(t, arb, 300, async (names) => {
    const json = structuredClone(baseJson) as { weightsManifest: { paths: string[] }[] };
    json.weightsManifest[0]!.paths = names;
    const outcome = await load(JSON.stringify(json));
    // only the one shard (named so that it resolves inside the folder, with empty shards around it) holds the right bytes
    const theShard = names.filter((n) => [SHARD, './' + SHARD, 'sub.bin/../' + SHARD].includes(n)).length;
    const right = theShard === 1 && names.every((n) => n === 'empty.bin' || n.endsWith(SHARD));
    assert.equal(outcome, right ? 'loaded' : 'refused', JSON.stringify(names));
  });
});

test('model.json text mutated byte by byte: loads or DigitsError', async (t) => {
  const tokens = ['{', '}', '[', ']', ',', ':', '"', 'null', '-1', '1e999', '0', '\\u0000', '../', 'NaN', '\uFEFF'];
  await fuzz(t, mutated(Buffer.from(baseText), tokens, 3), 800, async (bytes) => {
    await load(bytes);
  });
});

// Finite weights can still be extreme enough (±3e38) to overflow a prediction to NaN: the loader
// guarantees finite weights, not that every finite weight makes sense.
test('shard bytes flipped: loads (every weight finite) or DigitsError', async (t) => {
  const arb = fc.array(fc.tuple(position, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });
  try {
    await fuzz(t, arb, 400, async (flips) => {
      const bytes = Buffer.from(shard);
      for (const [at, v] of flips) bytes[Math.floor(at * bytes.length)] = v;
      await fs.writeFile(path.join(dir, SHARD), bytes);
      await load(baseText, false);
    });
  } finally {
    await fs.writeFile(path.join(dir, SHARD), shard);
  }
});

test('what the fuzzing found, pinned: escaping paths, a FIFO, no shard files, a NaN weight', async () => {
  const withPaths = async (paths: string[]): Promise<string> => {
    const json = structuredClone(baseJson) as { weightsManifest: { paths: string[] }[] };
    json.weightsManifest[0]!.paths = paths;
    await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    const err = await loadModel(dir).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof DigitsError, `${JSON.stringify(paths)} loaded, or threw ${String(err)}`);
    return err.message;
  };
  const json = path.join(dir, 'model.json');
  assert.equal(await withPaths(['../outside.bin']),
    `${json}: weightsManifest path "../outside.bin": expected a shard file inside the model folder`);
  assert.equal(await withPaths(['/etc/passwd']), `${json}: weightsManifest path "/etc/passwd": expected a shard file inside the model folder`);
  assert.equal(await withPaths(['fifo.bin']),
    `${path.join(dir, 'fifo.bin')}: weight shard is not a regular file (listed in ${json} weightsManifest)`);
  assert.match(await withPaths([]), new RegExp(`^${json.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: weightsManifest\\[0\\]\\.paths: ` +
    `expected shard files holding ${shard.length} bytes \\(\\d+ weights listed in weightsManifest\\[0\\]`));
  assert.match(await withPaths(['nan.bin']), /weightsManifest\[0\] \(nan\.bin\) weight "[^"]+": value 2 is NaN; expected finite numbers$/);
});
