/**
 * What a request may cost the real server process (issue 28): a body sent in one-byte chunks costs
 * about what the same body costs in one piece, a PNG bomb is refused without the memory it asks
 * for, and the server answers /health meanwhile. `digits serve` runs in a child process; its peak
 * resident memory (VmHWM in /proc/PID/status) is read after the attack.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { ihdr, png, pngChunk, zeroBomb } from './hostile-images.js';
import { trainTinyModel } from './serve-fixtures.js';
import { peakRssMiB, spawnServe } from './serve-process.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
let modelDir = '';
let child: ChildProcess;
let port = 0;


before(async () => {
  modelDir = await trainTinyModel({ images: 500 });
  ({ child, port } = await spawnServe(CLI, ['--model', modelDir, '--image-threads', '1']));
});

after(async () => {
  child?.kill('SIGTERM');
  await fs.rm(modelDir, { recursive: true, force: true });
});

/**
 * Sends `body` in chunked framing, `chunk` bytes a chunk; resolves with the answer's status and JSON
 * message, and the time (a server that stops reading and closes cuts the sending short).
 */
function chunked(path: string, type: string, body: Buffer, chunk: number): Promise<{ status: number; message: string; ms: number }> {
  return new Promise((resolve) => {
    // the whole request is built before it is sent, so that this process reads the answer as soon as it comes
    const parts = [`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`];
    for (let i = 0; i < body.length; i += chunk) {
      const piece = body.subarray(i, i + chunk);
      parts.push(`${piece.length.toString(16)}\r\n${piece.toString('latin1')}\r\n`);
    }
    parts.push('0\r\n\r\n');
    const wire = Buffer.from(parts.join(''), 'latin1');
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(wire));
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => { /* the server closed while we were still sending: keep what came */ });
    socket.on('close', () => resolve({
      status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0),
      message: String((JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4) || '{}') as { message?: string }).message),
      ms: performance.now() - started,
    }));
  });
}

test('a 2 MB body in small chunks costs the server about what it costs in one piece, and is answered', async () => {
  const body = Buffer.alloc(2 * 1024 * 1024, 0x41);
  const before = peakRssMiB(child.pid!);
  const r = await chunked('/api/predict', 'image/png', body, 256);
  assert.deepEqual([r.status, r.message.replace(/ \(it starts.*/, '')], [400, 'request body: not a PNG or JPEG image'], 'read whole, then refused');
  const peak = peakRssMiB(child.pid!);
  // before readBody, each chunk was an object of its own: 2 MB in one-byte chunks cost ~850 MB
  assert.ok(peak - before < 120, `peak RSS went from ${before.toFixed(0)} to ${peak.toFixed(0)} MiB`);
  assert.ok(peak < 400, `peak RSS ${peak.toFixed(0)} MiB`);
  const health = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(health.status, 200);
});

test('a body in one-byte chunks is refused after 1,024 of them, unread past that, and the server goes on', async () => {
  const r = await chunked('/api/predict', 'image/png', Buffer.alloc(1024 * 1024, 0x41), 1);
  assert.equal(r.status, 400);
  assert.match(r.message, /^the body arrives in pieces of 1\.0 bytes on average \(1,025 so far\): send it in one piece, or in chunks of at least 64 bytes$/);
  const health = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(health.status, 200);
});

test('a PNG bomb (28×28 inflating to 256 MiB, interlaced) is refused by the server without the memory', async () => {
  const bomb = png(ihdr(28, 28, 8, 0, 1), pngChunk('IDAT', zeroBomb(256)));
  const before = peakRssMiB(child.pid!);
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(bomb) });
  const ms = performance.now() - started;
  assert.equal(res.status, 400);
  assert.match((await res.json() as { message: string }).message, /inflates to more than the \d+ bytes its 28×28 pixels need/);
  const peak = peakRssMiB(child.pid!);
  assert.ok(peak - before < 100, `peak RSS went from ${before.toFixed(0)} to ${peak.toFixed(0)} MiB`);
  assert.ok(ms < 5000, `${ms.toFixed(0)} ms`);
});

test('a flood of batches (12 at once, 1,000 inputs each) is admitted by inputs: 200 or 503, other clients served, memory bounded', async () => {
  const url = `http://127.0.0.1:${port}`;
  const body = JSON.stringify({ inputs: Array.from({ length: 1000 }, () => new Array(784).fill(0)), scale: 255 });
  const single = JSON.stringify({ pixels: new Array(784).fill(0), scale: 255 });
  const before = peakRssMiB(child.pid!);
  let flooding = true;
  const others: number[] = [];
  const probe = (async () => {
    while (flooding) {
      const [p, h] = await Promise.all([
        fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: single }),
        fetch(`${url}/health`),
      ]);
      others.push(p.status, h.status);
      await Promise.all([p.arrayBuffer(), h.arrayBuffer()]);
    }
  })();
  const answers = await Promise.all(Array.from({ length: 12 }, async () => {
    const res = await fetch(`${url}/api/predict/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const json = await res.json() as { predictions?: unknown[]; message?: string };
    return { status: res.status, retryAfter: res.headers.get('retry-after'), predictions: json.predictions?.length, message: json.message };
  }));
  flooding = false;
  await probe;
  for (const a of answers) {
    if (a.status === 200) assert.equal(a.predictions, 1000);
    else assert.deepEqual([a.status, a.retryAfter], [503, '1'], JSON.stringify(a));
  }
  assert.ok(answers.some((a) => a.status === 200), 'some batches are served');
  assert.ok(others.length > 0 && others.every((s) => s === 200), `single predictions and /health beside the flood: ${others.join(' ')}`);
  const peak = peakRssMiB(child.pid!);
  assert.ok(peak - before < 300, `peak RSS went from ${before.toFixed(0)} to ${peak.toFixed(0)} MiB`);
});
