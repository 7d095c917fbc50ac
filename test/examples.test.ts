/**
 * The programs of examples/, run as a user runs them: each imports the package by its name `digits`.
 * train.js trains a model on a subset and saves it; predict-png.js reads PNG files with it;
 * http-server.js serves it from a plain node:http server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMnist } from '../src/data/mnist.js';
import { encodePng, mnistAsCanvas } from './serve-fixtures.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples');
let tmp = '';
let model = '';
const pngs: { file: string; label: number }[] = [];

function run(example: string, ...args: string[]): { code: number; stdout: string; stderr: string; seconds: number } {
  const started = performance.now();
  const r = spawnSync(process.execPath, [path.join(examples, example), ...args], { cwd: tmp, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - started) / 1000 };
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-examples-'));
  model = path.join(tmp, 'model');
  // 12 MNIST test digits as PNG files of other sizes, half of them dark ink on white paper
  const test = await loadMnist('test', { limit: 12 });
  for (let i = 0; i < test.count; i++) {
    const file = path.join(tmp, `digit-${i}.png`);
    await fs.writeFile(file, encodePng(mnistAsCanvas(test.images.subarray(i * 784, (i + 1) * 784), 84, i % 2 === 1, 0, 0, 20)));
    pngs.push({ file, label: test.labels![i]! });
  }
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('train.js trains on 3,000 MNIST images and saves a model that reads most test digits', (t) => {
  const r = run('train.js', model, '3000');
  assert.equal(r.code, 0, r.stderr);
  const m = /test accuracy (\d+\.\d)%/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[1]) >= 85, `test accuracy ${m[1]}% after one epoch on 3,000 images`);
  t.diagnostic(`train.js: ${r.stdout.trim()} (${r.seconds.toFixed(1)} s)`);
});

test('predict-png.js reads the digits of PNG files of either polarity; a file that is no image is one line, exit 1', async (t) => {
  const r = run('predict-png.js', model, ...pngs.map((p) => p.file));
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, pngs.length);
  let right = 0;
  lines.forEach((line, i) => {
    const [name, label, p] = line.split('\t');
    assert.equal(name, path.basename(pngs[i]!.file));
    assert.ok(Number(p) > 0 && Number(p) <= 1, line);
    if (Number(label) === pngs[i]!.label) right += 1;
  });
  assert.ok(right >= 10, `${right} of ${pngs.length} read right:\n${r.stdout}`);
  t.diagnostic(`predict-png.js: ${right}/${pngs.length} right (${r.seconds.toFixed(1)} s)`);

  const notImage = path.join(tmp, 'notes.png');
  await fs.writeFile(notImage, 'not a picture');
  const bad = run('predict-png.js', model, notImage);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: notes\.png: not a PNG or JPEG image/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});

test('http-server.js answers POST /predict with the digit of a PNG, 400 for a bad image, 404 elsewhere', async (t) => {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(examples, 'http-server.js'), model, '0'], { cwd: tmp });
  try {
    const [line] = await once(child.stdout, 'data') as [Buffer];
    const url = /listening on (http:\/\/\S+)/.exec(line.toString())?.[1];
    assert.ok(url, line.toString());
    let right = 0;
    for (const p of pngs) {
      const res: Response = await fetch(url, { method: 'POST', body: await fs.readFile(p.file) });
      assert.equal(res.status, 200);
      const body = await res.json() as { label: number; probabilities: number[] };
      assert.equal(body.probabilities.length, 10);
      if (body.label === p.label) right += 1;
    }
    assert.ok(right >= 10, `${right} of ${pngs.length} read right`);
    const bad = await fetch(url, { method: 'POST', body: 'not a picture' });
    assert.equal(bad.status, 400);
    assert.match((await bad.json() as { error: string }).error, /not a PNG or JPEG image/);
    assert.equal((await fetch(url.replace('/predict', '/other'))).status, 404);
    t.diagnostic(`http-server.js: ${right}/${pngs.length} right over HTTP (${((performance.now() - started) / 1000).toFixed(1)} s with start-up)`);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});
