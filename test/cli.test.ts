/**
 * The `digits` command end to end, as a user runs it: train → evaluate →
 * predict → score on small subsets, and bad input ending in one clear
 * message with exit code 1, no stack trace and nothing half-written.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMnist } from '../src/data/mnist.js';
import { writeKaggleCsv, writeLabelsCsv } from '../src/data/kaggle.js';
import { encodeIdx } from '../src/data/index.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/io/model-files.js';
import { createBackend } from '../src/engine/index.js';
import { datasetToTensors, takeRows, validationSplitIndices } from '../src/nn/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
let tmp = '';

function digits(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, CI: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function assertCleanError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit code 1 expected; stderr: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `no stack trace expected:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error/);
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-cli-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('every command has --help', () => {
  // the commands as the program lists them, not a hand-kept list
  const top = digits('--help');
  assert.equal(top.code, 0, top.stderr);
  const listed = top.stdout.split(/\nCommands:\n/)[1] ?? '';
  const commands = [...listed.matchAll(/^  ([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  assert.ok(commands.length >= 12, `commands listed by digits --help: ${commands.join(', ')}`);
  for (const cmd of commands) {
    const r = digits(cmd, '--help');
    assert.equal(r.code, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Usage: digits ${cmd}`));
  }
  // --preset names its choices
  assert.match(digits('train', '--help').stdout.replace(/\s+/g, ' '), /--preset <name> model and training recipe: seed, fast, best/);
});

test('evaluate, predict and report default --model to runs/seed, as serve does, and say where they looked', () => {
  for (const cmd of [['evaluate'], ['predict', '--input', 'test.csv'], ['report']]) {
    assertCleanError(digits(...cmd), /runs\/seed/);
  }
});

test('summary --preset seed: the layer table with 135,114 parameters', () => {
  const r = digits('summary', '--preset', 'seed');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /135,114/);
  assert.match(r.stdout, /conv2d_2/);
});

test('`npx digits` in a checkout runs this checkout\'s command, and --json output is nothing but JSON', () => {
  const r = spawnSync('npx', ['--no-install', 'digits', 'bench', '--json', '--steps', '2', '--infer-batch', '10'],
    { cwd: root, encoding: 'utf8', env: { ...process.env, CI: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>; // the whole of stdout parses: no banner, no progress
  assert.equal(typeof out, 'object');
});

test('a reader that closes the pipe early (digits summary | head) ends the command quietly, exit 0', async () => {
  const child = spawn(process.execPath, [cli, 'summary', '--preset', 'seed'], { cwd: tmp, env: { ...process.env, CI: '1' } });
  child.stdout.destroy(); // the reader is gone before the first write: every write meets EPIPE
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
});

test('the Kaggle workflow: train, evaluate, predict a test.csv, score the submission', async () => {
  const model = path.join(tmp, 'model');
  const t = digits('train', '--limit', '3000', '--epochs', '2', '--test-limit', '500', '--seed', '1', '--out', model);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /test accuracy \d+\.\d\d% on 500 test images/);
  for (const f of ['model.json', 'group1-shard1of1.bin', 'history.json', 'metrics.json', 'submission.csv']) {
    assert.ok(existsSync(path.join(model, f)), `${f} written`);
  }
  const metrics = JSON.parse(await fs.readFile(path.join(model, 'metrics.json'), 'utf8'));
  assert.ok(metrics.testAccuracy > 0.85, `test accuracy ${metrics.testAccuracy}`);
  assert.equal(metrics.testImages, 500);
  // --precision auto (the default): the seed preset names float32, on every CPU (it reproduces a Keras notebook)
  assert.equal(metrics.precision, 'fp32');
  const history = JSON.parse(await fs.readFile(path.join(model, 'history.json'), 'utf8'));
  assert.equal(history.history.loss.length, 2);
  assert.equal(history.history.val_accuracy.length, 2);
  const sub = (await fs.readFile(path.join(model, 'submission.csv'), 'utf8')).trim().split(/\r?\n/);
  assert.equal(sub[0], 'ImageId,Label');
  assert.equal(sub.length, 501);
  assert.match(sub[1]!, /^1,\d$/);

  const e = digits('evaluate', '--model', model, '--limit', '500');
  assert.equal(e.code, 0, e.stderr);
  const acc = Number(/accuracy (\d+\.\d+)%/.exec(e.stdout)![1]) / 100;
  assert.ok(Math.abs(acc - metrics.testAccuracy) < 1e-4, `evaluate ${acc} vs train's test accuracy ${metrics.testAccuracy}`);
  assert.match(e.stdout, /precision/);
  assert.match(e.stdout, /actual \\ predicted/);
  // calibrated on the 600 validation images at training time; evaluate reports the ECE before and after
  const { metadata: saved } = await loadModel(model);
  assert.equal(saved!.calibration!.images, 600);
  assert.ok(saved!.calibration!.temperature > 0 && saved!.calibration!.threshold > 0 && saved!.calibration!.threshold < 1);
  const ece = /expected calibration error (\d+\.\d+)% as the network says, (\d+\.\d+)% calibrated/.exec(e.stdout);
  assert.ok(ece, e.stdout);
  assert.match(e.stdout, /taken for digits: \d+\.\d\d% of the images/);
  assert.match(e.stdout, /5\.0% refused → \d+\.\d\d%/);

  // Kaggle test.csv without labels, and the true labels beside it
  const test = await loadMnist('test', { limit: 200 });
  await writeKaggleCsv(path.join(tmp, 'test.csv'), test, { labelled: false });
  await writeLabelsCsv(path.join(tmp, 'test-labels.csv'), test.labels!);
  const p = digits('predict', '--model', model, '--input', 'test.csv', '--out', 'submission.csv', '--probabilities');
  assert.equal(p.code, 0, p.stderr);
  const rows = (await fs.readFile(path.join(tmp, 'submission.csv'), 'utf8')).trim().split(/\r?\n/);
  assert.equal(rows[0], 'ImageId,Label,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9');
  assert.equal(rows.length, 201);
  const probs = rows[1]!.split(',').slice(2).map(Number);
  assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'probabilities sum to 1');

  const c = digits('predict', '--model', model, '--input', 'test.csv', '--out', 'confidence.csv', '--confidence');
  assert.equal(c.code, 0, c.stderr);
  const crows = (await fs.readFile(path.join(tmp, 'confidence.csv'), 'utf8')).trim().split(/\r?\n/);
  assert.equal(crows[0], 'ImageId,Label,Confidence,IsDigit');
  const [, , conf, isDigit] = crows[1]!.split(',');
  assert.ok(Number(conf) > 0 && Number(conf) <= 1);
  assert.equal(isDigit, String(Number(conf) >= saved!.calibration!.threshold));

  const s = digits('score', 'submission.csv', '--labels', 'test-labels.csv');
  assert.equal(s.code, 0, s.stderr);
  const scored = Number(/accuracy (\d+\.\d+)%/.exec(s.stdout)![1]) / 100;
  assert.ok(scored > 0.85, `scored ${scored}`);

  const sm = digits('summary', '--model', model);
  assert.equal(sm.code, 0, sm.stderr);
  assert.match(sm.stdout, /135,114/);
});

test('nothing the user did not name as output is replaced: train into a model folder, predict over submission.csv', async () => {
  const model = path.join(tmp, 'model'); // the Kaggle workflow's model
  const before = await fs.readFile(path.join(model, 'model.json'), 'utf8');
  assertCleanError(digits('train', '--limit', '300', '--epochs', '1', '--test-limit', '100', '--out', model),
    /--out .*model already holds a model \(model\.json, test accuracy \d+\.\d\d%\): pick another folder, or pass --force to replace it/);
  assert.equal(await fs.readFile(path.join(model, 'model.json'), 'utf8'), before, 'the model is untouched');
  assertCleanError(digits('train', '--preset', 'fast', '--ensemble', '2', '--limit', '300', '--epochs', '1', '--out', model), /already holds a model/);

  // submission.csv (written above) is not replaced by a predict that does not name it
  const submission = await fs.readFile(path.join(tmp, 'submission.csv'), 'utf8');
  assertCleanError(digits('predict', '--model', model, '--input', 'test.csv'),
    /submission\.csv already exists: name the file to write with --out \(for example --out submission-2\.csv\), or pass --force to replace it/);
  assert.equal(await fs.readFile(path.join(tmp, 'submission.csv'), 'utf8'), submission);
  const named = digits('predict', '--model', model, '--input', 'test.csv', '--out', 'submission.csv');
  assert.equal(named.code, 0, named.stderr);
  assert.equal(digits('predict', '--model', model, '--input', 'test.csv', '--force').code, 0);

  // --force replaces the model
  const forced = digits('train', '--limit', '300', '--epochs', '1', '--test-limit', '100', '--out', model, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(JSON.parse(await fs.readFile(path.join(model, 'metrics.json'), 'utf8')).testImages, 100);
});

test('train --preset best: the saved model is the moving average of the weights with BatchNorm statistics recomputed over the training rows; metrics.json and the summary score it on validation again', async () => {
  const dir = path.join(tmp, 'best-ema');
  const t = digits('train', '--preset', 'best', '--limit', '2000', '--epochs', '3', '--validation-split', '0.25', '--test-limit', '300',
    '--seed', '2', '--out', dir);
  assert.equal(t.code, 0, t.stderr);
  const metrics = JSON.parse(await fs.readFile(path.join(dir, 'metrics.json'), 'utf8'));
  assert.deepEqual(metrics.averaging, { mode: 'ema', decay: 0.999, startEpoch: 0 });
  assert.equal(metrics.batchNormPass, true);
  assert.match(t.stderr, /BatchNorm statistics recomputed over the 1,500 training images/);
  const line = /final model \(the weights' moving average, decay 0\.999, BatchNorm statistics recomputed\): validation (\d+\.\d\d)%, test (\d+\.\d\d)%/.exec(t.stdout);
  assert.ok(line, t.stdout);
  assert.equal(Number(line[1]), Number((metrics.modelValAccuracy * 100).toFixed(2)));
  assert.equal(Number(line[2]), Number((metrics.testAccuracy * 100).toFixed(2)));
  // the same held-out rows found independently, and the saved model scored on them, in the run's precision
  const { model } = await loadModel(dir);
  model.setBackend(createBackend('auto', undefined, metrics.precision).backend);
  const { x, y } = datasetToTensors(await loadMnist('train', { limit: 2000 }));
  const rows = validationSplitIndices(2000, 0.25, new Rng(2)).validation;
  const v = model.evaluate(takeRows(x, rows), takeRows(y!, rows));
  assert.equal(v.accuracy, metrics.modelValAccuracy);
  assert.ok(v.accuracy > 0.9, `the averaged model learnt: ${v.accuracy}`);
  // its BatchNorm statistics are those of a pass over the 1,500 training rows (a pass depends on the
  // weights alone, so running it again on the loaded model changes nothing but rounding)
  const stats = (): Map<string, Float32Array> =>
    new Map(model.namedWeights().filter((w) => w.name.includes('moving_')).map((w) => [w.name, new Float32Array(w.tensor.data)]));
  const saved = stats();
  assert.equal(saved.size, 12, 'six BatchNorm layers, mean and variance each');
  model.recomputeBatchNormStatistics(x, { batchSize: 64, rows: validationSplitIndices(2000, 0.25, new Rng(2)).train });
  for (const [name, want] of stats()) {
    want.forEach((w, i) => assert.ok(Math.abs(saved.get(name)![i]! - w) <= 1e-4 * (1 + Math.abs(w)), `${name}[${i}]: saved ${saved.get(name)![i]}, a pass gives ${w}`));
  }
  // the report says what the model is, beside curves that follow the weights as trained; written by
  // train, and again by `digits report` from the saved files
  const says = (page: string): void => {
    const plain = page.replace(/&#39;|&#x27;|&apos;/g, "'");
    assert.match(plain, /The curves follow the weights as they trained; the model is the weights' moving average, decay 0\.999, BatchNorm statistics recomputed, not the last epoch's weights\./);
    assert.doesNotMatch(plain, /the last epoch's weights are the model/);
    assert.ok(plain.includes(`the weights' moving average, decay 0.999, BatchNorm statistics recomputed (validation accuracy ${(metrics.modelValAccuracy * 100).toFixed(2)}%)`), 'settings row');
  };
  says(await fs.readFile(path.join(dir, 'report.html'), 'utf8'));
  const again = path.join(tmp, 'best-ema-report');
  const r = digits('report', '--model', dir, '--limit', '100', '--out', again);
  assert.equal(r.code, 0, r.stderr);
  says(await fs.readFile(path.join(again, 'report.html'), 'utf8'));
});

test('train --preset fast runs its convs in fp32 under --precision auto (its own choice); evaluate runs a model in the arithmetic it records, and says which; an explicit --precision wins', async () => {
  const dir = path.join(tmp, 'fast-auto');
  const t = digits('train', '--preset', 'fast', '--limit', '1500', '--epochs', '1', '--test-limit', '300', '--out', dir);
  assert.equal(t.code, 0, t.stderr);
  const metrics = JSON.parse(await fs.readFile(path.join(dir, 'metrics.json'), 'utf8'));
  assert.equal(metrics.precision, 'fp32');
  assert.doesNotMatch(t.stderr, /bf16 convolutions/);
  assert.ok(metrics.testAccuracy > 0.5, `test accuracy ${metrics.testAccuracy}`);
  // evaluate (auto) runs a float32-trained model in float32, says so, and gets the same accuracy to the image
  const e = digits('evaluate', '--model', dir, '--limit', '300');
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /^model in float32 /);
  assert.equal(Number(/accuracy (\d+\.\d+)%/.exec(e.stdout)![1]) / 100, metrics.testAccuracy);
  const bf16Dir = path.join(tmp, 'fast-bf16');
  const b = digits('train', '--preset', 'fast', '--limit', '1500', '--epochs', '1', '--test-limit', '300', '--precision', 'bf16', '--out', bf16Dir);
  assert.equal(b.code, 0, b.stderr);
  const bf16Metrics = JSON.parse(await fs.readFile(path.join(bf16Dir, 'metrics.json'), 'utf8'));
  assert.equal(bf16Metrics.precision, 'bf16');
  // the model records its bf16 training, so auto runs it in bf16 (the same accuracy to the image), and --precision fp32 in float32
  const eb = digits('evaluate', '--model', bf16Dir, '--limit', '300', '--json');
  assert.equal(eb.code, 0, eb.stderr);
  const scored = JSON.parse(eb.stdout) as { precision: string; accuracy: number };
  assert.deepEqual([scored.precision, scored.accuracy], ['bf16', bf16Metrics.testAccuracy]);
  const ef = digits('evaluate', '--model', bf16Dir, '--limit', '300', '--precision', 'fp32');
  assert.match(ef.stdout, /^model in float32 /);
});

test('classes named by the data (a class-names.txt beside IDX files) are saved in the model and used by its report', async () => {
  const folder = path.join(tmp, 'named-idx');
  await fs.mkdir(folder, { recursive: true });
  const bytes = (ds: { images: Float32Array }): Uint8Array => Uint8Array.from(ds.images, (v) => Math.round(v * 255));
  const train = await loadMnist('train', { limit: 400 });
  const test = await loadMnist('test', { limit: 100 });
  await fs.writeFile(path.join(folder, 'train-images-idx3-ubyte'), encodeIdx([400, 28, 28], bytes(train)));
  await fs.writeFile(path.join(folder, 'train-labels-idx1-ubyte'), encodeIdx([400], train.labels!));
  await fs.writeFile(path.join(folder, 't10k-images-idx3-ubyte'), encodeIdx([100, 28, 28], bytes(test)));
  await fs.writeFile(path.join(folder, 't10k-labels-idx1-ubyte'), encodeIdx([100], test.labels!));
  const fashion = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  await fs.writeFile(path.join(folder, 'class-names.txt'), fashion.join('\n') + '\n');
  const out = path.join(tmp, 'named-model');
  const t = digits('train', '--data', folder, '--epochs', '1', '--out', out);
  assert.equal(t.code, 0, t.stderr);
  const { metadata } = await loadModel(out);
  assert.deepEqual(metadata?.classNames, fashion);
  const html = await fs.readFile(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /Misclassified images/);
  assert.match(html, /Training images/);
  assert.match(html, /Predicted (T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot), Class /);
  assert.doesNotMatch(html, /Misclassified digits|Predicted \d, Class \d/);
});

test('bad input: a CSV with a wrong header names the file and column, and no model, nor an empty folder, is left', async () => {
  const bad = path.join(tmp, 'bad-header.csv');
  await fs.writeFile(bad, 'label,pixel0,pixelX\n1,0,0\n');
  const out = path.join(tmp, 'never');
  const r = digits('train', '--data', bad, '--out', out, '--epochs', '1');
  assertCleanError(r, /bad-header\.csv.*(header|column)/);
  assert.ok(!existsSync(out), 'no folder left behind by a run that wrote nothing');
});

test('bad input: a pixel out of range names the line and the column', async () => {
  const header = ['label', ...Array.from({ length: 784 }, (_, i) => `pixel${i}`)].join(',');
  const row = (v: number): string => ['3', ...Array.from({ length: 784 }, (_, i) => (i === 100 ? v : 0))].join(',');
  const bad = path.join(tmp, 'bad-pixel.csv');
  await fs.writeFile(bad, `${header}\n${row(0)}\n${row(300)}\n`);
  assertCleanError(digits('train', '--data', bad, '--out', path.join(tmp, 'never2')), /bad-pixel\.csv line 3.*pixel100.*0-255/);
});

test('bad input: a missing data path, an unknown preset, bad option values', () => {
  assertCleanError(digits('train', '--data', 'nope/train.csv'), /nope\/train\.csv/);
  assertCleanError(digits('train', '--preset', 'giant'), /preset.*"seed".*"giant"/);
  assertCleanError(digits('train', '--epochs', '0'), /--epochs expects a positive integer, got "0"/);
  assertCleanError(digits('train', '--validation-split', '1.5'), /--validation-split expects a number in \[0, 1\), got "1.5"/);
  assertCleanError(digits('train', '--backend', 'gpu'), /gpu/);
  assertCleanError(digits('train', '--precision', 'fp16'), /--precision <p>' argument 'fp16' is invalid. Allowed choices are auto, fp32, bf16/);
  assertCleanError(digits('summary'), /exactly one of --model DIR or --preset NAME/);
});

test('bad input: a model whose weight shard is missing or truncated', async () => {
  const model = path.join(tmp, 'model');
  const broken = path.join(tmp, 'broken');
  await fs.mkdir(broken, { recursive: true });
  await fs.copyFile(path.join(model, 'model.json'), path.join(broken, 'model.json'));
  assertCleanError(digits('evaluate', '--model', broken, '--limit', '10'), /group1-shard1of1\.bin/);
  const shard = await fs.readFile(path.join(model, 'group1-shard1of1.bin'));
  await fs.writeFile(path.join(broken, 'group1-shard1of1.bin'), shard.subarray(0, 1000));
  assertCleanError(digits('predict', '--model', broken, '--input', 'test.csv', '--out', 'broken.csv'), /group1-shard1of1\.bin.*(540,?456|bytes)/);
  assertCleanError(digits('evaluate', '--model', path.join(tmp, 'no-such-model')), /no-such-model/);
});

test('an unwritable --out fails at the start, before any training', async () => {
  const blocker = path.join(tmp, 'a-file');
  await fs.writeFile(blocker, 'x');
  const r = digits('train', '--out', path.join(blocker, 'sub'), '--limit', '100');
  assertCleanError(r, /--out .*a-file\/sub: cannot create the folder \(a part of the path is a file, not a folder\)/);
  assert.doesNotMatch(r.stderr, /epoch/);
});
