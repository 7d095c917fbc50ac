/**
 * Image decoding under abuse (issue 28): a decode past its budget is refused with a 422 and its
 * worker ended; an upload whose client hangs up leaves the queue; image uploads are admitted apart
 * from JSON predictions, which keep being served while the decoders are busy; /health says when a
 * prediction path is full. And the thread options have a range, checked through the real command.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { buildServer } from '../src/server/app.js';
import { canvas, drawRing, encodePng, fillRect, untrainedPredictor } from './serve-fixtures.js';

const predictor = untrainedPredictor();
const servers: { close(): Promise<unknown> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

/** A 16-megapixel PNG of a few tens of KB: about a second of a decoder's time. */
function heavyPng(): Uint8Array<ArrayBuffer> {
  const c = canvas(4096, 4096, 255);
  fillRect(c, 1800, 1000, 400, 2000, 0);
  return new Uint8Array(encodePng(c));
}

function smallPng(): Uint8Array<ArrayBuffer> {
  const c = canvas(40, 40, 0);
  drawRing(c, 20, 20, 8, 12, 3, 255);
  return new Uint8Array(encodePng(c));
}

const json784 = JSON.stringify({ pixels: new Array(784).fill(0), scale: 255 });

async function listen(opts: Parameters<typeof buildServer>[0]): Promise<{ url: string; app: ReturnType<typeof buildServer> }> {
  const app = buildServer(opts);
  servers.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, app };
}

test('a decode past its budget is refused with 422 at the budget, and the decoder is free for the next image', async () => {
  const { url } = await listen({ predictor, imageThreads: 1, decodeTimeout: 150 });
  const body = heavyPng();
  const started = performance.now();
  const res = await fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body });
  const ms = performance.now() - started;
  assert.equal(res.status, 422);
  assert.match((await res.json() as { message: string }).message,
    /^request body: the image took more than 0\.15 s to decode \(too many progressive scans or too many pixels for its size\)/);
  assert.ok(ms < 1500, `answered after ${ms.toFixed(0)} ms`);
  // the next image is decoded by the worker that replaces the ended one; its start is not the image's time
  const next = (await fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: smallPng() })).status;
  assert.equal(next, 200, 'the ended worker was replaced');
});

test('uploads whose clients hang up leave the queue: the decoders are free again at once', async () => {
  const { url } = await listen({ predictor, imageThreads: 1, decodeTimeout: 0 });
  const port = Number(new URL(url).port);
  const body = heavyPng();
  // five heavy uploads (five seconds of decoding on one thread), each client gone right after sending
  await Promise.all(Array.from({ length: 5 }, () => new Promise<void>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(body, () => setTimeout(() => {
        socket.destroy();
        resolve();
      }, 50));
    });
    socket.on('error', () => resolve());
  })));
  const deadline = performance.now() + 1500;
  let health: { images: { pending: number; queued: number } } = { images: { pending: -1, queued: -1 } };
  while (performance.now() < deadline) {
    health = await (await fetch(`${url}/health`)).json() as typeof health;
    if (health.images.pending === 0 && health.images.queued === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual({ pending: health.images.pending, queued: health.images.queued }, { pending: 0, queued: 0 },
    'no decode is left for clients that are gone');
  const next = await fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: smallPng() });
  assert.equal(next.status, 200);
});

test('JSON predictions do not wait behind image decodes; past maxPendingImages images get 503 and /health says saturated', async () => {
  const { url } = await listen({ predictor, imageThreads: 1, maxPendingImages: 2, decodeTimeout: 0 });
  const body = heavyPng();
  const images = Array.from({ length: 3 }, () =>
    fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body }));
  await new Promise((r) => setTimeout(r, 300)); // the uploads have arrived and are decoding or queued
  const health = await fetch(`${url}/health`);
  assert.equal(health.status, 503);
  assert.equal(health.headers.get('retry-after'), '1');
  const h = await health.json() as { status: string; images: { pending: number; limit: number } };
  assert.equal(h.status, 'saturated');
  assert.deepEqual({ pending: h.images.pending, limit: h.images.limit }, { pending: 2, limit: 2 });
  const started = performance.now();
  const j = await fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json784 });
  const ms = performance.now() - started;
  assert.equal(j.status, 200);
  assert.ok(ms < 500, `a JSON prediction took ${ms.toFixed(0)} ms while images decoded`);
  const statuses = (await Promise.all(images)).map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 200, 503]);
  const after = await fetch(`${url}/health`);
  assert.equal(after.status, 200);
  assert.equal((await after.json() as { status: string }).status, 'ok');
});

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('digits serve and train refuse thread counts out of range with one line, before loading anything', () => {
  for (const [args, pattern] of [
    [['serve', '--image-threads', '100000'], /--image-threads expects a whole number from 1 to 64, got "100000"/],
    [['serve', '--threads', '1000000'], /--threads expects a whole number from 1 to 256, got "1000000"/],
    [['train', '--threads', '1000000', '--limit', '100'], /--threads expects a whole number from 1 to 256, got "1000000"/],
    [['serve', '--decode-timeout', '-5'], /--decode-timeout expects a non-negative integer, got "-5"/],
    [['serve', '--max-pending-images', '0'], /--max-pending-images expects a positive integer, got "0"/],
  ] as const) {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('JSON work is admitted by inputs, before the body is read: a batch that would pass maxPendingInputs gets 503 at once; reservations are given back', async () => {
  const { url, app } = await listen({ predictor, maxPendingInputs: 999 });
  const port = Number(new URL(url).port);
  // headers only: a Content-Length that holds at least 1,000 inputs is refused before any of the body is sent
  const started = performance.now();
  const answer = await new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('POST /api/predict/batch HTTP/1.1\r\nHost: x\r\n' +
      'Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n'));
    let text = '';
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (text.includes('}')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', () => resolve(text));
  });
  assert.match(answer, /^HTTP\/1\.1 503 /);
  assert.match(answer, /the server is busy: 0 inputs of JSON predictions are in flight or queued \(limit 999, 749 of them for batches; this request would add 1000\)/);
  assert.ok(performance.now() - started < 1000);
  // sized batches within the limit pass, one after another: what each reserved was given back
  const inputs = Array.from({ length: 300 }, () => new Array(784).fill(0));
  for (let i = 0; i < 5; i++) {
    const r = await app.inject({ method: 'POST', url: '/api/predict/batch', headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ inputs, scale: 255 }) });
    assert.equal(r.statusCode, 200, r.body);
  }
  const health = await (await fetch(`${url}/health`)).json() as { predictions: { inputs: number } };
  assert.equal(health.predictions.inputs, 0);
});
