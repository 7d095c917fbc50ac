// `npm install` / `npm ci` step: builds the native addon with node-gyp
// (build/Release/digits_native.node). A failed build does not fail the
// install: Digits then says so once at run time and uses the reference
// backend (correct, but slow). DIGITS_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (process.env.DIGITS_SKIP_NATIVE === '1') {
  console.warn('digits: DIGITS_SKIP_NATIVE=1, not building the native addon; the reference backend will be used');
  process.exit(0);
}

const started = Date.now();
// npm tells its lifecycle scripts where its bundled node-gyp is; else use the one on PATH.
const bundled = process.env.npm_config_node_gyp;
const result = bundled && existsSync(bundled)
  ? spawnSync(process.execPath, [bundled, 'rebuild', '--loglevel=warn'], { stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild', '--loglevel=warn'], { stdio: 'inherit', shell: process.platform === 'win32' });

if (result.status === 0) {
  console.log(`digits: native addon built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} else {
  const why = result.error ? result.error.message : `node-gyp exited with code ${result.status}`;
  console.warn(`digits: WARNING: the native addon could not be built (${why}). Digits will use the reference ` +
    'backend (correct, but slow). To build it, install python3, make and a C++17 compiler, then run `npm rebuild`.');
}
process.exit(0);
