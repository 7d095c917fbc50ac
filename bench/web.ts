/**
 * The web export in headless Chromium, one thread: trains the `fast` preset in train.html on all of
 * MNIST (its test accuracy and training seconds, as the page shows them), then reads drawings on the
 * drawing page of the same site and reports the page's reading time (preprocessing and prediction in
 * the worker, data-ms), and the size of the pages' code. Prints one JSON object; nothing is asserted.
 *
 *   node dist/bench/web.js [--limit N] [--readings N] [--seed S] [--threads N]
 *
 * The site is `digits export --format web` of a model trained here on 5,000 images (the drawing page
 * needs one); it is served by Python's http.server, as any static host would serve it. With
 * --threads N > 1 the server sends the cross-origin isolation headers and train.html trains on N
 * worker threads sharing memory.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { ignoreEvents, trainRun } from '../src/run/index.js';
import { exportSite } from '../src/run/site.js';
import { CHROMIUM, CHROMIUM_FLAGS, pythonStaticServer } from '../test/outside-program.js';
import { benchProgram, intArg } from './options.js';

const o = benchProgram('web', 'the web export in headless Chromium: in-page training and reading times')
  .option('--limit <n>', 'train on the first n MNIST images (default: all 60,000)', intArg())
  .option('--readings <n>', 'drawings read on the drawing page', intArg(), 30)
  .option('--seed <s>', 'the training seed', intArg(0), 0)
  .option('--threads <n>', 'worker threads for in-page training (more than 1: a cross-origin isolated page)', intArg(), 1)
  .parse().opts<{ limit?: number; readings: number; seed: number; threads: number }>();

const gzip = promisify(zlib.gzip);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-bench-web-'));
const server: { kill?: () => void } = {};
try {
  const model = path.join(work, 'model');
  await trainRun({ data: 'mnist', preset: 'fast', seed: 0, backend: 'auto', out: model, limit: 5000, testLimit: 500 });
  const site = path.join(work, 'site');
  const exported = await exportSite({ model, out: site }, ignoreEvents);
  const code: Record<string, number> = {};
  for (const f of exported.files.filter((x) => /\.(js|wasm)$/.test(x.name))) {
    code[f.name] = (await gzip(await fs.readFile(path.join(site, f.name)), { level: 9 })).byteLength;
  }
  const { child, url } = await pythonStaticServer(site, { isolated: o.threads > 1 });
  server.kill = () => child.kill();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 60_000 });
  try {
    // training in the page
    const page = await browser.newPage({ viewport: { width: 900, height: 1200 } });
    const query = new URLSearchParams({ seed: String(o.seed), threads: String(o.threads), ...(o.limit ? { limit: String(o.limit) } : {}) });
    await page.goto(`${url}/train.html?${query}`);
    await page.getByTestId('train').click();
    await page.locator('[data-testid="test-accuracy"]:not(:empty)').waitFor({ timeout: 30 * 60_000 });
    const progress = (await page.locator('#progress-text').textContent()) ?? '';
    const status = (await page.locator('#train-status').textContent()) ?? '';
    const training = {
      preset: 'fast', seed: o.seed, images: o.limit ?? 60_000, threads: Number(/on (\d+) threads/.exec(status)?.[1] ?? 1),
      testAccuracy: (await page.getByTestId('test-accuracy').textContent()) ?? '',
      trainSeconds: Number(await page.getByTestId('train-seconds').textContent()),
      imagesPerSecond: Number(/([\d,]+) images\/s/.exec(progress)?.[1]?.replace(/,/g, '') ?? NaN),
    };
    await page.close();

    // reading drawings on the drawing page: a 7 drawn again and again, a little shifted each time
    const draw = await browser.newPage({ viewport: { width: 900, height: 700 } });
    await draw.goto(`${url}/index.html`);
    await draw.locator('#model').filter({ hasText: 'parameters' }).waitFor({ timeout: 60_000 });
    const box = (await draw.locator('#pad').boundingBox())!;
    const ms: number[] = [];
    for (let i = 0; i < o.readings; i++) {
      await draw.click('#clear');
      const d = (i % 5) * 0.02;
      const at = (fx: number, fy: number): [number, number] => [box.x + (fx + d) * box.height, box.y + (fy + d) * box.height];
      await draw.mouse.move(...at(0.25, 0.2));
      await draw.mouse.down();
      await draw.mouse.move(...at(0.7, 0.2), { steps: 4 });
      await draw.mouse.move(...at(0.4, 0.8), { steps: 4 });
      await draw.mouse.up();
      await draw.waitForTimeout(150);
      await draw.locator('[data-testid="prediction"][data-state="ready"]').waitFor({ timeout: 10_000 });
      ms.push(Number(await draw.getByTestId('prediction').getAttribute('data-ms')));
    }
    ms.sort((a, b) => a - b);
    const reading = { readings: ms.length, medianMs: ms[ms.length >> 1], p90Ms: ms[Math.floor(ms.length * 0.9)], minMs: ms[0] };
    const totalGzip = Object.values(code).reduce((a, b) => a + b, 0);
    console.log(JSON.stringify({ browser: browser.version(), training, reading, codeGzipBytes: { ...code, total: totalGzip } }, null, 2));
  } finally {
    await browser.close();
  }
} finally {
  server.kill?.();
  await fs.rm(work, { recursive: true, force: true });
}
