/**
 * Digits as a dependency: `npm pack`, then the tarball installed into an empty project the way a
 * package manager that does not run install scripts leaves it (no native addon). The library
 * imports by name with its types, trains and predicts on the WebAssembly kernels, and says once,
 * in one line, how to build the native kernels; the `digits` command runs from the project.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let tmp = '';
let app = '';

function npm(args: string[], cwd: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-package-'));
  // dist/ is built by `npm test` before the suite: pack it as it is (--ignore-scripts skips prepare's rebuild)
  const pack = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], root);
  assert.equal(pack.code, 0, pack.stderr);
  const tarball = path.join(tmp, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);
  app = path.join(tmp, 'app');
  await fs.mkdir(app);
  await fs.writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const install = npm(['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
  assert.equal(install.code, 0, install.stderr);
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('the packed package holds the compiled library, the native sources, the WebAssembly kernels, the page, the digit gate and the line reader, and no tests, benches or lab', async () => {
  const pkg = path.join(app, 'node_modules', 'digits');
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/server/index.js', 'dist/src/cli/main.js', 'native/addon.cc', 'wasm/digits.wasm', 'binding.gyp', 'dist/web/index.html', 'dist/web/worker.js', 'dist/web/digits.wasm',
    'models/gate/model.json', 'models/line-reader/model.json']) {
    assert.ok(await fs.stat(path.join(pkg, f)).then(() => true, () => false), `${f} is in the package`);
  }
  for (const f of ['dist/test', 'dist/bench', 'dist/lab', 'src', 'build']) {
    assert.equal(await fs.stat(path.join(pkg, f)).then(() => true, () => false), false, `${f} is not in the package`);
  }
});

test('without its install script: the library works on the WebAssembly kernels and says once, in one line, how to build the native ones', async () => {
  await fs.writeFile(path.join(app, 'use.ts'), `
import { trainRun, openPredictor, loadMnist, type TrainResult } from 'digits';
import { startServer } from 'digits/server';

const r: TrainResult = await trainRun({ data: 'mnist', preset: 'fast', seed: 0, backend: 'auto', out: 'runs/fast', limit: 3000, epochs: 1, testLimit: 300 });
const predictor = await openPredictor({ model: 'runs/fast' });
const test = await loadMnist('test', { limit: 1 });
const p = await predictor.predict(test.images.subarray(0, 784));
console.log(JSON.stringify({ backend: r.metrics.backend, accuracy: r.testReport?.accuracy, label: p.label, truth: test.labels![0], files: r.files, server: typeof startServer }));
`);
  await fs.writeFile(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')] },
    files: ['use.ts'],
  }));
  // the package's own types check the program, as in a TypeScript project that depends on Digits
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: app, encoding: 'utf8' });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);

  const r = spawnSync(process.execPath, ['use.js'], { cwd: app, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { backend: string; accuracy: number; label: number; truth: number; files: string[]; server: string };
  assert.equal(out.backend, 'wasm');
  assert.ok(out.accuracy > 0.8, `test accuracy ${out.accuracy} after one epoch on 3,000 images`);
  assert.deepEqual(out.files, ['model.json', 'history.json', 'metrics.json', 'submission.csv', 'report.html']);
  assert.equal(out.server, 'function');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^digits: warning: .*native kernels are not built.*`npm rebuild digits`.*npm install-scripts approve digits.*using the WebAssembly kernels/);
});

test('the digits command runs from the project that installed it', () => {
  const r = spawnSync(process.execPath, [path.join(app, 'node_modules', 'digits', 'dist', 'src', 'cli', 'main.js'), 'summary', '--preset', 'seed'], { cwd: app, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /135,114/);
  const bin = spawnSync(path.join(app, 'node_modules', '.bin', 'digits'), ['--version'], { cwd: app, encoding: 'utf8' });
  assert.equal(bin.status, 0, bin.stderr);
  assert.match(bin.stdout, /^\d+\.\d+\.\d+/);
});
