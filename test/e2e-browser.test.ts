/**
 * End to end in a real browser: `digits serve`'s server on 127.0.0.1 (an
 * ephemeral port), Debian's Chromium driven by playwright-core. The test
 * draws a "7" on the canvas with the mouse and waits for the page to show a
 * prediction, the ten probability bars and the 28×28 image the model saw;
 * then Clear resets it. Then a web export (`digits export --format web`),
 * served by Python's plain static file server: the drawing page reads a
 * drawing in the page, and train.html trains for a few steps, with no request
 * to /api or to any other host. Without Chromium the tests are skipped, saying so,
 * except under CI (CI=true), where they fail: .ci/run installs it. A Chromium
 * that is there but does not launch always fails.
 */
import { test, before, after } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { startServer } from '../src/server/start.js';
import { ignoreEvents, reportRun } from '../src/run/index.js';
import { exportSite } from '../src/run/site.js';
import { trainTinyModel } from './serve-fixtures.js';
import { CHROMIUM, CHROMIUM_FLAGS as FLAGS, CHROMIUM_INSTALL as INSTALL, pythonStaticServer, requireInstalled, skipUnlessInstalled } from './outside-program.js';

const skip = skipUnlessInstalled(CHROMIUM, 'Chromium', INSTALL);

let modelDir: string;
let app: FastifyInstance;
let url: string;
let browser: Browser;
let site: string;
let siteUrl: string;
let staticServer: ChildProcess | undefined;
let isolatedUrl: string;
let isolatedServer: ChildProcess | undefined;

before(async () => {
  if (skip) return;
  requireInstalled(CHROMIUM, 'Chromium', INSTALL);
  modelDir = await trainTinyModel();
  ({ app, url } = await startServer({ model: modelDir, port: 0, host: '127.0.0.1', backend: 'auto' }));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 60_000 });
  site = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'digits-site-')), 'site');
  await exportSite({ model: modelDir, out: site }, ignoreEvents);
  let child: ChildProcess;
  ({ child, url: siteUrl } = await pythonStaticServer(site));
  staticServer = child;
  ({ child, url: isolatedUrl } = await pythonStaticServer(site, { isolated: true }));
  isolatedServer = child;
});

after(async () => {
  await browser?.close();
  await app?.close();
  staticServer?.kill();
  isolatedServer?.kill();
  if (modelDir) await fs.rm(modelDir, { recursive: true, force: true });
  if (site) await fs.rm(path.dirname(site), { recursive: true, force: true });
});

/**
 * Draws a 7 with the mouse on the page's pad (inside `within`, a CSS selector): a bar across the top, then a
 * stroke down to the bottom left, in the square of the pad's height that starts `offset` heights from its left.
 */
async function drawSeven(page: Page, within = 'body', offset = 0): Promise<void> {
  const box = (await page.locator(`${within} #pad`).boundingBox())!;
  const at = (fx: number, fy: number): [number, number] => [box.x + (offset + fx) * box.height, box.y + fy * box.height];
  await page.mouse.move(...at(0.25, 0.2));
  await page.mouse.down();
  await page.mouse.move(...at(0.75, 0.2), { steps: 12 });
  await page.mouse.move(...at(0.42, 0.85), { steps: 16 });
  await page.mouse.up();
}

/** Every request the page makes, and anything that failed or threw in it. */
function watch(page: Page): { requests: string[]; failed: string[] } {
  const w = { requests: [] as string[], failed: [] as string[] };
  page.on('request', (r) => w.requests.push(r.url()));
  page.on('requestfailed', (r) => w.failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('pageerror', (e) => w.failed.push(`page error: ${e.message}`));
  return w;
}

/** Nothing but the site's own files: no request to /api, none to another host. */
function assertOnlySiteFiles(requests: string[], origin = siteUrl): void {
  assert.ok(requests.length > 0);
  for (const r of requests) {
    assert.ok(r.startsWith(`${origin}/`), `request to another host: ${r}`);
    assert.doesNotMatch(new URL(r).pathname, /^\/api\b/, `request to the API: ${r}`);
  }
}

test('draw a 7 with the mouse: the page shows a prediction, the bars and the 28×28 image the model saw', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  const failed: string[] = [];
  page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('pageerror', (e) => failed.push(`page error: ${e.message}`));
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));

  await page.goto(`${url}/`);
  assert.equal(await page.locator('#label').textContent(), '–');
  await page.locator('#model').filter({ hasText: 'parameters' }).waitFor({ timeout: 10_000 });

  // a "7": a bar across the top, then a stroke down to the bottom left (in the square at the pad's left)
  const box = (await page.locator('#pad').boundingBox())!;
  const at = (fx: number, fy: number): [number, number] => [box.x + fx * box.height, box.y + fy * box.height];
  await page.mouse.move(...at(0.25, 0.2));
  await page.mouse.down();
  await page.mouse.move(...at(0.75, 0.2), { steps: 12 });
  // live: a prediction shows while the button is still down
  await page.locator('#label[data-state="ready"]').waitFor({ timeout: 15_000 });
  await page.mouse.move(...at(0.42, 0.85), { steps: 16 });
  await page.mouse.up();
  // the answer for the whole 7: the label is busy until the latest drawing is answered
  await page.locator('#label[data-state="ready"][aria-busy="false"]').waitFor({ timeout: 15_000 });
  const label = (await page.locator('#label').textContent())!;
  assert.match(label, /^[0-9]$/);
  assert.match((await page.locator('#confidence').textContent())!, /^\d+\.\d% sure$/);

  // ten bars whose widths are the probabilities, the predicted digit's the widest
  const widths = await page.$$eval('#bars .fill', (els) => els.map((e) => parseFloat((e as HTMLElement).style.width)));
  assert.equal(widths.length, 10);
  const sum = widths.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 100) < 1, `bars add up to ${sum}%`);
  assert.equal(widths.indexOf(Math.max(...widths)), Number(label));
  assert.equal(await page.locator('#bars li.top').getAttribute('data-digit'), label);

  // the 28×28 image the model saw: white ink on black, in the middle
  const seen = await page.$eval('#seen', (c) => {
    const ctx = (c as HTMLCanvasElement).getContext('2d')!;
    const d = ctx.getImageData(0, 0, 28, 28).data;
    let ink = 0, corner = d[0]!, centre = 0;
    for (let i = 0; i < 784; i++) if (d[4 * i]! > 128) ink++;
    for (let y = 4; y < 24; y++) for (let x = 4; x < 24; x++) centre += d[4 * (y * 28 + x)]!;
    return { ink, corner, centre };
  });
  assert.ok(seen.ink > 20, `the 28×28 image has ${seen.ink} bright pixels`);
  assert.equal(seen.corner, 0);

  // the trained model should read a clean 7 (it is ~90% accurate on MNIST)
  assert.equal(label, '7', `the page read the drawn 7 as ${label}`);

  // everything came from the server itself
  for (const r of requests) assert.ok(r.startsWith(url), `request to another host: ${r}`);
  assert.deepEqual(failed, []);
  await page.screenshot({ path: path.join(os.tmpdir(), 'digits-e2e-page.png') });

  // Clear resets the pad and the answer
  await page.click('#clear');
  assert.equal(await page.locator('#label').textContent(), '–');
  assert.equal(await page.locator('#label').getAttribute('data-state'), 'empty');
  const widthsAfter = await page.$$eval('#bars .fill', (els) => els.map((e) => parseFloat((e as HTMLElement).style.width)));
  assert.ok(widthsAfter.every((w) => w === 0));
  await page.close();
});

test('touch-style input (pointer events from a pen) also draws: a 1 is read', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 }, hasTouch: true });
  await page.goto(`${url}/`);
  // synthesize pointer events with pointerType "pen", as a stylus sends them
  await page.$eval('#pad', (pad) => {
    const r = pad.getBoundingClientRect();
    const fire = (type: string, fx: number, fy: number): void => {
      pad.dispatchEvent(new PointerEvent(type, {
        pointerId: 7, pointerType: 'pen', isPrimary: true, bubbles: true, cancelable: true, buttons: type === 'pointerup' ? 0 : 1,
        clientX: r.left + fx * r.height, clientY: r.top + fy * r.height, pressure: 0.5,
      }));
    };
    fire('pointerdown', 0.5, 0.15);
    for (let i = 1; i <= 20; i++) fire('pointermove', 0.5 + 0.002 * i, 0.15 + (0.7 * i) / 20);
    fire('pointerup', 0.54, 0.85);
  });
  await page.locator('#label[data-state="ready"][aria-busy="false"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('#label').textContent(), '1');
  await page.close();
});

test('the report reads on a phone (390 px): nothing scrolls sideways, no table hides a column', { skip }, async () => {
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-report-390-'));
  try {
    await reportRun({ model: modelDir, out, limit: 200, backend: 'auto' }, ignoreEvents);
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(pathToFileURL(path.join(out, 'report.html')).href);
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      view: document.documentElement.clientWidth,
      // tables sit in sideways-scrolling boxes on wide screens: on a phone none may need the scroll
      hidden: [...document.querySelectorAll('.scroll')].filter((e) => e.scrollWidth > e.clientWidth + 1)
        .map((e) => e.closest('section')?.id ?? '?'),
    }));
    assert.equal(widths.page, widths.view, 'the page does not scroll sideways');
    assert.deepEqual(widths.hidden, [], 'tables that hide columns');
    // the confusion matrix's counts stay readable when the figure shrinks to the screen
    const smallest = await page.$$eval('#confusion-matrix svg text', (els) =>
      Math.min(...els.filter((e) => /^\d+$/.test(e.textContent ?? '')).map((e) => e.getBoundingClientRect().height)));
    assert.ok(smallest >= 8, `confusion-matrix counts ${smallest.toFixed(1)} px high`);
    await page.close();
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
});

test('a web export reads a drawn 7 in the page, served by a plain static file server, asking nothing of /api or another host', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  const w = watch(page);
  await page.goto(`${siteUrl}/index.html`);
  await page.locator('#model').filter({ hasText: 'parameters' }).waitFor({ timeout: 30_000 });
  await drawSeven(page);
  const prediction = page.getByTestId('prediction');
  // busy until the latest drawing (the whole 7) is answered
  await page.locator('[data-testid="prediction"][data-state="ready"][aria-busy="false"]').waitFor({ timeout: 15_000 });
  assert.equal(await prediction.textContent(), '7');
  assert.match((await page.locator('#confidence').textContent())!, /^\d+\.\d% sure$/);
  const ms = Number(await prediction.getAttribute('data-ms'));
  assert.ok(ms > 0, `the page's reading took ${ms} ms`);
  const widths = await page.$$eval('#bars .fill', (els) => els.map((e) => parseFloat((e as HTMLElement).style.width)));
  assert.ok(Math.abs(widths.reduce((a, b) => a + b, 0) - 100) < 1);
  assert.deepEqual(w.failed, []);
  assertOnlySiteFiles(w.requests);
  assert.ok(w.requests.some((r) => r.endsWith('/digits.wasm')), 'the page loaded the WebAssembly kernels');
  assert.ok(w.requests.some((r) => r.endsWith('/gate.json')), 'the page loaded the digit gate');
  assert.ok(w.requests.some((r) => r.endsWith('/line-reader.json')), 'the page loaded the line reader');
  await page.screenshot({ path: path.join(os.tmpdir(), 'digits-e2e-site.png') });

  // a number: a 1, then a 7 beside it; the page reads both, boxes them on the pad and lists them
  await page.click('#clear');
  const box = (await page.locator('#pad').boundingBox())!;
  await page.mouse.move(box.x + 0.45 * box.height, box.y + 0.15 * box.height);
  await page.mouse.down();
  await page.mouse.move(box.x + 0.47 * box.height, box.y + 0.85 * box.height, { steps: 14 });
  await page.mouse.up();
  await drawSeven(page, 'body', 0.9);
  await page.locator('[data-testid="prediction"][data-state="ready"][aria-busy="false"]').waitFor({ timeout: 15_000 });
  const digits = await page.getByTestId('digit').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.digit));
  assert.equal(digits.length, 2, `two digits read: ${JSON.stringify(digits)}`);
  assert.equal(await prediction.textContent(), digits.join(''));
  assert.equal(digits[1], '7');
  assertOnlySiteFiles(w.requests);
  await page.screenshot({ path: path.join(os.tmpdir(), 'digits-e2e-number.png') });
  await page.close();
});

test('train.html trains the fast preset in the page for a few steps, shows its test accuracy and seconds, then reads a drawing with it', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 1200 } });
  const w = watch(page);
  // 18 steps of 128 images (2,560 images, a tenth held out) and 500 test images: the full run is bench/web.ts
  await page.goto(`${siteUrl}/train.html?limit=2560&test=500`);
  await page.getByTestId('train').click();
  await page.locator('[data-testid="test-accuracy"]:not(:empty)').waitFor({ timeout: 120_000 });
  const accuracy = (await page.getByTestId('test-accuracy').textContent())!;
  assert.match(accuracy, /^\d+\.\d\d%$/);
  assert.ok(parseFloat(accuracy) > 60, `test accuracy ${accuracy} after 18 steps`);
  const seconds = (await page.getByTestId('train-seconds').textContent())!;
  assert.match(seconds, /^\d+\.\d$/);
  assert.ok(Number(seconds) > 0);
  assert.equal(await page.locator('#progress').evaluate((p) => (p as HTMLProgressElement).value), 18);
  assert.match((await page.locator('#progress-text').textContent())!, /batch 18\/18 .* images\/s/);
  await page.screenshot({ path: path.join(os.tmpdir(), 'digits-e2e-train.png'), fullPage: true });

  // the trained model reads a drawing
  await drawSeven(page, '#draw');
  await page.locator('#draw [data-testid="prediction"][data-state="ready"][aria-busy="false"]').waitFor({ timeout: 15_000 });
  assert.match((await page.locator('#draw [data-testid="prediction"]').textContent())!, /^[0-9]$/);
  assert.match((await page.locator('#draw #model').textContent())!, /fast, trained in this page/);
  assert.deepEqual(w.failed, []);
  assertOnlySiteFiles(w.requests);
  await page.close();
});

test('where the page is cross-origin isolated (COOP and COEP), train.html trains on two worker threads sharing memory', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 1200 } });
  const w = watch(page);
  await page.goto(`${isolatedUrl}/train.html?limit=2560&test=500&threads=2`);
  assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
  assert.match((await page.getByTestId('threads').textContent())!, /^2 worker threads/);
  await page.getByTestId('train').click();
  await page.locator('[data-testid="test-accuracy"]:not(:empty)').waitFor({ timeout: 120_000 });
  const accuracy = (await page.getByTestId('test-accuracy').textContent())!;
  assert.ok(parseFloat(accuracy) > 60, `test accuracy ${accuracy} after 18 steps on two threads`);
  assert.match((await page.locator('#train-status').textContent())!, /^trained 18 steps on 2,304 images on 2 threads; tested on 500$/);
  assert.match((await page.locator('#progress-text').textContent())!, /batch 18\/18 /);
  // the model the two threads trained reads a drawing
  await drawSeven(page, '#draw');
  await page.locator('#draw [data-testid="prediction"][data-state="ready"][aria-busy="false"]').waitFor({ timeout: 15_000 });
  assert.deepEqual(w.failed, []);
  assertOnlySiteFiles(w.requests, isolatedUrl);
  await page.close();
});

test('on a page that is not cross-origin isolated, train.html says it trains on one thread, whatever ?threads asks', { skip }, async () => {
  const page = await browser.newPage();
  await page.goto(`${siteUrl}/train.html?threads=2`);
  assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), false);
  assert.match((await page.getByTestId('threads').textContent())!, /^one worker thread \(more need a cross-origin isolated page/);
  await page.close();
});
