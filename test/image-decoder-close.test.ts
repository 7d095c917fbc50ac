/**
 * ImageDecoder closed while its worker is still starting. On Node 20.19+ Piscina's require() of
 * an ES-module worker file went through require(esm), and terminating the worker during that load
 * aborted the whole process (an internal assertion, exit 134): a server closed soon after it
 * started. Under CPU contention a loop like this one aborted in 2 of 3 runs with the ES-module
 * entry and in none of 4 with the CommonJS entry (src/server/image-worker-entry.cts). It runs in
 * a child process so that an abort is a failed assertion here, not a lost test file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const decoderUrl = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/server/image-decoder.js')).href;

test('an image decoder closed at any moment of its worker\'s start-up exits cleanly, and one that started decodes', () => {
  const script = `
    import { ImageDecoder } from ${JSON.stringify(decoderUrl)};
    for (let i = 0; i < 60; i++) {
      const d = new ImageDecoder(1);
      await new Promise((r) => setTimeout(r, i));
      await d.close();
    }
    const d = new ImageDecoder(1);
    await d.decode(new Uint8Array([1, 2, 3]), 'three bytes').then(() => console.log('decoded?'), (e) => console.log('refused: ' + e.message));
    await d.close();
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr.slice(0, 500)}`);
  assert.equal(r.status, 0, r.stderr.slice(0, 500));
  assert.doesNotMatch(r.stderr, /Assertion failed/);
  // the worker's entry loaded the decoder: a bad image comes back as the decoder's own error
  assert.match(r.stdout, /^refused: three bytes: /m);
});
