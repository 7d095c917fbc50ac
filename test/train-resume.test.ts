/**
 * `digits train` interrupted for real, as a user (or a scheduler) does it:
 * SIGINT and SIGTERM mid-epoch write a checkpoint and exit 130 / 143; SIGKILL
 * between epochs and mid-epoch leaves the last epoch's checkpoint intact; and
 * `digits train --resume DIR` always ends with the byte-identical weights of
 * the uninterrupted run. The tests wait for the progress lines the child
 * prints, never for a time.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCheckpoint, readCheckpoint } from '../src/io/checkpoint.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
let tmp = '';
let reference: Buffer;
let referenceHistory: unknown;

/** 2 epochs of 100 batches (800 training images, batch 8): progress lines every 10 batches. */
const run = (out: string): string[] => [
  'train', '--limit', '1000', '--epochs', '2', '--batch-size', '8', '--test-limit', '100', '--threads', '1', '--seed', '5', '--out', out,
];
const env = { ...process.env, CI: '1' };

function digits(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: tmp, encoding: 'utf8', env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Start `digits ...args`; `until(re)` resolves at the first stderr line matching re. */
function start(args: string[]): {
  until(re: RegExp): Promise<string>;
  kill(sig: NodeJS.Signals): void;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
} {
  const child = spawn(process.execPath, [cli, ...args], { cwd: tmp, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let pending = '';
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.re.test(line)) waiters.splice(i, 1)[0]!.resolve(line);
      }
    }
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  return {
    until: (re) => Promise.race([
      new Promise<string>((resolve) => waiters.push({ re, resolve })),
      done.then((r) => {
        throw new Error(`the run ended (code ${r.code}, signal ${r.signal}) before printing a line matching ${re}:\n${r.stderr}`);
      }),
    ]),
    kill: (sig) => child.kill(sig),
    done,
  };
}

async function weights(out: string): Promise<Buffer> {
  return fs.readFile(path.join(out, 'group1-shard1of1.bin'));
}

/** `digits train --resume out` ends with the uninterrupted run's weights and history, and removes the checkpoint. */
async function resumeMatchesReference(out: string): Promise<void> {
  const r = digits('train', '--resume', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^resuming /m);
  assert.ok((await weights(out)).equals(reference), 'the resumed run ends with the uninterrupted weights, byte for byte');
  assert.deepEqual(JSON.parse(await fs.readFile(path.join(out, 'history.json'), 'utf8')).history, referenceHistory);
  assert.equal(await findCheckpoint(out), null, 'a finished run leaves no checkpoint');
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-resume-'));
  const out = path.join(tmp, 'reference');
  const r = digits(...run(out));
  assert.equal(r.code, 0, r.stderr);
  reference = await weights(out);
  referenceHistory = JSON.parse(await fs.readFile(path.join(out, 'history.json'), 'utf8')).history;
  assert.equal(await findCheckpoint(out), null);
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

for (const [sig, code, epoch] of [['SIGINT', 130, 2], ['SIGTERM', 143, 1]] as const) {
  test(`${sig} mid-epoch ${epoch}: the batch finishes, a checkpoint is written, exit ${code}; --resume ends with the uninterrupted weights`, async () => {
    const out = path.join(tmp, `${sig}`);
    const child = start(run(out));
    await child.until(new RegExp(`^epoch ${epoch}/2 batch 20/100 `));
    child.kill(sig);
    const r = await child.done;
    assert.equal(r.code, code, r.stderr);
    const m = new RegExp(`^digits: interrupted at epoch ${epoch}, batch (\\d+)/100: checkpoint written to ${out}/checkpoint; ` +
      `resume with: npx digits train --resume ${out}$`, 'm').exec(r.stderr);
    assert.ok(m, `the one-line message:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
    const batch = Number(m[1]);
    assert.ok(batch >= 20 && batch < 100, `interrupted mid-epoch (batch ${batch})`);
    assert.ok(!existsSync(path.join(out, 'model.json')), 'no model is saved for an unfinished run');
    const ck = await readCheckpoint((await findCheckpoint(out))!);
    assert.deepEqual([ck.state.epoch, ck.state.batch], [epoch - 1, batch]);
    await resumeMatchesReference(out);
  });
}

test('SIGKILL between epochs: the epoch-end checkpoint is intact and resuming works', async () => {
  const out = path.join(tmp, 'kill-between');
  const child = start(run(out));
  // an epoch's summary line is printed once its checkpoint is on disk
  await child.until(/^epoch 1\/2 {2}loss /);
  child.kill('SIGKILL');
  assert.equal((await child.done).signal, 'SIGKILL');
  const ck = await readCheckpoint((await findCheckpoint(out))!);
  assert.ok(ck.state.epoch >= 1 && ck.state.batch === 0, `an epoch-end checkpoint (epoch ${ck.state.epoch}, batch ${ck.state.batch})`);
  await resumeMatchesReference(out);
});

test('SIGKILL mid-epoch: the last epoch-end checkpoint is intact; conflicting options are refused; a failed write keeps it; resuming works', async () => {
  const out = path.join(tmp, 'kill-mid');
  const child = start(run(out));
  await child.until(/^epoch 2\/2 batch 50\/100 /);
  child.kill('SIGKILL');
  assert.equal((await child.done).signal, 'SIGKILL');
  const ck = await readCheckpoint((await findCheckpoint(out))!);
  assert.deepEqual([ck.state.epoch, ck.state.batch], [1, 0]);
  // the killed run's lock stays (stale: the next run takes it over); nothing half-written does
  assert.deepEqual((await fs.readdir(out)).sort(), ['.digits.lock', 'checkpoint'], 'no staging folder or half-written file beside it');
  const stateBefore = await fs.readFile(path.join(out, 'checkpoint', 'state.json'), 'utf8');

  const bad = digits('train', '--resume', out, '--epochs', '3', '--seed', '5', '--batch-size', '16');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--resume .*these options conflict with them: --epochs 3 \(the run has 2\), --batch-size 16 \(the run has 8\)\. Drop them/);
  assert.doesNotMatch(bad.stderr, /--seed/, '--seed 5 agrees with the checkpoint');

  // a write that fails for real (the checkpoint's state.bin is over a 1000 KiB file-size limit): one message,
  // the checkpoint it resumed from is untouched, nothing half-written beside it
  const limited = spawnSync('/bin/sh', ['-c', 'ulimit -f 1000 && exec "$0" "$@"', process.execPath, cli, 'train', '--resume', out],
    { cwd: tmp, encoding: 'utf8', env });
  assert.equal(limited.status, 1, limited.stderr);
  assert.match(limited.stderr, new RegExp(`^digits: error: cannot write the checkpoint ${out}/checkpoint: file too large .*; ` +
    `the checkpoint of the end of epoch 1 in ${out}/checkpoint is intact: free some space, then resume with: npx digits train --resume ${out}$`, 'm'));
  assert.doesNotMatch(limited.stderr, /\n\s+at .+:\d+:\d+/);
  assert.deepEqual(await fs.readdir(out), ['checkpoint']);
  assert.deepEqual(await fs.readFile(path.join(out, 'checkpoint', 'state.json'), 'utf8'), stateBefore);

  await resumeMatchesReference(out);
});

test('a second signal quits at once; whichever checkpoint is left loads and verifies', async () => {
  const out = path.join(tmp, 'twice');
  const child = start(run(out));
  await child.until(/^epoch 2\/2 batch 20\/100 /);
  child.kill('SIGINT');
  child.kill('SIGTERM');
  const r = await child.done;
  // normally both signals arrive before the batch ends: the second one (in whatever order they are
  // handled) exits at once; on a very slow machine the first may finish its checkpoint before.
  // Either way a complete checkpoint is left.
  const again = /^digits: (SIGINT|SIGTERM) again: quitting at once/m.exec(r.stderr);
  if (again) assert.equal(r.code, again[1] === 'SIGINT' ? 130 : 143, r.stderr);
  else assert.ok([130, 143].includes(r.code!) && /interrupted at epoch 2/.test(r.stderr), r.stderr);
  const ck = await readCheckpoint((await findCheckpoint(out))!);
  assert.equal(ck.state.epoch, 1);
});

test('bad starts end at once with exit 1 and one message: unwritable --out, nothing to resume, a tampered model', async () => {
  const help = digits('train', '--help');
  assert.match(help.stdout, /--resume <dir>/);
  const file = path.join(tmp, 'a-file');
  await fs.writeFile(file, 'x');
  let r = digits(...run(path.join(file, 'out')));
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `digits: error: --out ${path.join(file, 'out')}: cannot create the folder (a part of the path is a file, not a folder)`);
  r = digits(...run('/proc/digits-out'));
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), 'digits: error: --out /proc/digits-out: cannot create the folder (the file system there does not allow creating it)');

  r = digits('train', '--resume', path.join(tmp, 'reference'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no checkpoint to resume .*; the run there has finished: its model is saved/);

  const model = path.join(tmp, 'tampered');
  await fs.cp(path.join(tmp, 'reference'), model, { recursive: true });
  const shard = path.join(model, 'group1-shard1of1.bin');
  const bytes = await fs.readFile(shard);
  bytes[1234] = bytes[1234]! ^ 0x10;
  await fs.writeFile(shard, bytes);
  r = digits('evaluate', '--model', model, '--limit', '10');
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^digits: error: ${shard}: weight shard does not match its SHA-256: expected [0-9a-f]{64} .*got [0-9a-f]{64}; refused`));
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/);
});

test('train --ensemble interrupted in its second member: the same command again keeps the first and resumes the second', async () => {
  const out = path.join(tmp, 'ensemble');
  // seeds 4 and 5: member 1 is the reference run (seed 5, same settings)
  const args = [...run(out).filter((a, i, all) => a !== '--seed' && all[i - 1] !== '--seed'), '--seed', '4', '--ensemble', '2'];
  const child = start(args);
  await child.until(/^ensemble member 2\/2 /);
  await child.until(/^epoch 2\/2 batch 30\/100 /);
  child.kill('SIGINT');
  const r = await child.done;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, new RegExp(`^digits: interrupted at epoch 2, batch \\d+/100: checkpoint written to ${out}/model-1/checkpoint; ` +
    `resume with the same command \\(npx digits train --ensemble 2 \\.\\.\\. --out ${out}\\): finished members are kept, this one resumes$`, 'm'));
  assert.ok(!existsSync(path.join(out, 'ensemble.json')), 'no ensemble.json before every member is trained');
  const first = path.join(out, 'model-0', 'group1-shard1of1.bin');
  const before = { bytes: await fs.readFile(first), mtime: (await fs.stat(first)).mtimeMs };

  const again = digits(...args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /^ensemble member 1\/2 \(seed 4\): already trained in .*model-0, kept$/m);
  assert.match(again.stderr, /^ensemble member 2\/2 \(seed 5\): resuming its interrupted run in .*model-1$/m);
  assert.ok((await fs.readFile(first)).equals(before.bytes) && (await fs.stat(first)).mtimeMs === before.mtime, 'member 0 is not trained again');
  assert.ok((await weights(path.join(out, 'model-1'))).equals(reference), 'the resumed member ends with the uninterrupted weights');
  assert.ok(existsSync(path.join(out, 'ensemble.json')));
  assert.equal(await findCheckpoint(path.join(out, 'model-1')), null);

  // a member whose metrics say it kept another weight average (as runs of `best` from before its
  // moving average did not) is not this recipe's model: trained again, the other kept
  const metricsPath = path.join(out, 'model-0', 'metrics.json');
  const metrics = JSON.parse(await fs.readFile(metricsPath, 'utf8')) as Record<string, unknown>;
  await fs.writeFile(metricsPath, JSON.stringify({ ...metrics, averaging: { mode: 'ema', decay: 0.999, startEpoch: 0 } }));
  const third = digits(...args);
  assert.equal(third.code, 0, third.stderr);
  assert.doesNotMatch(third.stderr, /^ensemble member 1\/2 .*kept$/m);
  assert.match(third.stderr, /^ensemble member 2\/2 \(seed 5\): already trained in .*model-1, kept$/m);
  assert.ok((await weights(path.join(out, 'model-0'))).equals(before.bytes), 'member 0 trained again ends with the same weights');
  // and so is one whose BatchNorm statistics were recomputed after training, which this recipe does not do
  const m0 = JSON.parse(await fs.readFile(metricsPath, 'utf8')) as Record<string, unknown>;
  await fs.writeFile(metricsPath, JSON.stringify({ ...m0, batchNormPass: true }));
  const fourth = digits(...args);
  assert.equal(fourth.code, 0, fourth.stderr);
  assert.doesNotMatch(fourth.stderr, /^ensemble member 1\/2 .*kept$/m);
  assert.match(fourth.stderr, /^ensemble member 2\/2 \(seed 5\): already trained in .*model-1, kept$/m);

  // a different recipe into the same folder trains the members afresh rather than keeping them
  const other = digits(...args.map((a) => (a === '1000' ? '900' : a)));
  assert.equal(other.code, 0, other.stderr);
  assert.doesNotMatch(other.stderr, /kept$/m);
});

// --- the run folder's lock, and what a killed run leaves (issue 28)

test('a folder being trained into is held: a second train, or a second --resume, gets one line; a killed run\'s lock and leftovers are cleared', async () => {
  const out = path.join(tmp, 'held');
  // long enough epochs (1,500 steps) that the second commands below run while the first is mid-epoch
  const slow = ['train', '--limit', '15000', '--epochs', '2', '--batch-size', '8', '--test-limit', '100', '--threads', '1', '--seed', '5', '--out', out];
  const a = start(slow);
  await a.until(/^epoch 1\/2 batch \d+\/1500/);
  const b = digits(...slow);
  assert.equal(b.code, 1, b.stderr);
  assert.match(b.stderr, /^digits: error: .*held is in use by another run \(digits train --out .*held, pid \d+ on [^,]+, since [0-9T:.-]+Z\): wait for it to finish, or use another folder\n$/);
  // killed after its first checkpoint: the lock stays behind, with what a killed save leaves
  await a.until(/^epoch 2\/2 batch \d+\/1500/);
  a.kill('SIGKILL');
  await a.done;
  assert.ok(existsSync(path.join(out, '.digits.lock')), 'the killed run\'s lock is still there');
  await fs.writeFile(path.join(out, '.history.json.123.456.tmp'), 'half');
  await fs.mkdir(path.join(out, '.checkpoint.saving-123-456'));
  await fs.mkdir(path.join(out, '.saving-123-456'));
  const c = start(['train', '--resume', out]);
  await c.until(/^epoch 2\/2 batch/);
  const d = digits('train', '--resume', out);
  assert.equal(d.code, 1, d.stderr);
  assert.match(d.stderr, /held is in use by another run \(digits train --resume .*held, pid \d+/);
  const r = await c.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /removed what an interrupted run left half-written in .*held: (\.[^,]+(, )?){3}/);
  const left = (await fs.readdir(out)).filter((f) => f.startsWith('.'));
  assert.deepEqual(left, [], 'no lock, no staging files or folders');
});

test('out-of-range --ensemble and --threads are refused with one line before anything runs', () => {
  for (const [args, pattern] of [
    [['train', '--ensemble', '100000'], /--ensemble expects a whole number from 1 to 50, got "100000"/],
    [['train', '--threads', '1000000'], /--threads expects a whole number from 1 to 256, got "1000000"/],
    [['evaluate', '--model', 'x', '--threads', '0'], /--threads expects a whole number from 1 to 256, got "0"/],
  ] as const) {
    const r = digits(...args);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }
});
