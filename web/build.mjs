// Builds the pages into dist/web (part of `npm run build`): type-checks src/web against the DOM,
// bundles its three entry points with esbuild (the drawing page, the training page, and the worker
// that runs the engine over the WebAssembly kernels), and copies the HTML, the style sheet and
// wasm/digits.wasm beside them. `digits serve` serves this folder; `digits export --format web`
// copies it. A Node import reaching the bundle fails the build (the platform is the browser).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');

const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'src/web'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { page: 'src/web/page.ts', 'train-page': 'src/web/train-page.ts', worker: 'src/web/worker.ts' },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'train.html', 'style.css']) copyFileSync(path.join(root, 'web', f), path.join(out, f));
copyFileSync(path.join(root, 'wasm', 'digits.wasm'), path.join(out, 'digits.wasm'));
