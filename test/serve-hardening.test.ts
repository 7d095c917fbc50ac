/**
 * The server under abuse (issue 8), over real sockets where the behaviour is
 * the socket's: slow clients are cut off while others are served, lying
 * Content-Length and chunked bodies get 4xx, predictions past the limit get
 * 503 with Retry-After, no path reaches a file outside the built pages, and CORS headers
 * appear only when asked for. The model is the untrained seed CNN: only the
 * HTTP layer is under test.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildServer, defaultWebDir } from '../src/server/app.js';
import type { Predictor } from '../src/run/predictor.js';
import { canvas, drawRing, encodePng, untrainedPredictor } from './serve-fixtures.js';

let predictor: Predictor;
let app: FastifyInstance;
let port: number;

// Short timeouts so the test takes about a second; the defaults are in SERVER_LIMITS.
const LIMITS = { headersTimeout: 300, requestTimeout: 600, connectionTimeout: 2000, keepAliveTimeout: 200 };

before(async () => {
  predictor = untrainedPredictor();
  app = buildServer({ predictor, ...LIMITS, predictBodyLimit: 64 * 1024 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});

after(async () => {
  await app?.close();
});

interface RawAnswer {
  /** everything the server sent until it closed the socket */
  text: string;
  /** status codes of the responses in `text`, in order */
  statuses: number[];
}

/**
 * Open a socket, write `head` (and then `drip`, one byte every `everyMs`,
 * for as long as the socket is open), and collect what comes back until the
 * server closes the socket.
 */
function raw(head: string | Buffer, drip?: { bytes: string; everyMs: number }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => { /* a reset after the server gave up on us: what we have is the answer */ });
    socket.on('close', () => {
      clearInterval(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ text, statuses });
    });
    socket.on('connect', () => {
      if (head.length > 0) socket.write(head);
      if (drip) {
        let i = 0;
        timer = setInterval(() => {
          if (!socket.destroyed && socket.writable) socket.write(drip.bytes[i++ % drip.bytes.length]!);
        }, drip.everyMs);
      }
    });
    setTimeout(() => reject(new Error('the server never closed the socket')), 20_000).unref();
  });
}

async function health(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  await res.arrayBuffer();
  return res.status;
}

test('slow clients are cut off (408 or closed) while other clients keep being served', async () => {
  const silent = Array.from({ length: 20 }, () => raw(''));
  const slowHeaders = raw('GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ', { bytes: 'abcdefgh', everyMs: 40 });
  const slowBody = raw('POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"pixels": [',
    { bytes: '0,', everyMs: 40 });
  let served = 0;
  let settled = false;
  const all = Promise.all([...silent, slowHeaders, slowBody]).finally(() => { settled = true; });
  while (!settled) {
    assert.equal(await health(), 200);
    served++;
    await new Promise((r) => setTimeout(r, 50));
  }
  const answers = await all;
  assert.ok(served >= 2, `only ${served} /health answers while the slow clients were connected`);
  for (const a of answers) {
    // each was closed by the server; whatever it said was a 408, never a 200 or a 500
    for (const s of a.statuses) assert.equal(s, 408, a.text);
  }
  assert.deepEqual((await slowHeaders).statuses, [408]);
  assert.deepEqual((await slowBody).statuses, [408]);
  assert.equal(await health(), 200);
});

test('a Content-Length over the limit: 413 JSON at once, before any body is sent', async () => {
  const a = await raw('POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n');
  assert.equal(a.statuses[0], 413, a.text);
  assert.match(a.text, /"message":"the body is over the size limit of 65,536 bytes for \/api\/predict"/);
});

test('a chunked body growing past the limit: 413 JSON', async () => {
  const chunk = 'x'.repeat(8192);
  const body = Array.from({ length: 10 }, () => `${(8192).toString(16)}\r\n${chunk}\r\n`).join('') + '0\r\n\r\n';
  const a = await raw('POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n' +
    'Connection: close\r\n\r\n' + body);
  assert.equal(a.statuses[0], 413, a.text);
  assert.match(a.text, /over the size limit of 65,536 bytes/);
});

test('lying Content-Length: too short, too long, and both it and chunked: 4xx, never 500', async () => {
  const json = '{"pixels": [1, 2, 3], "scale": 255}';
  // too short: the first 10 bytes are the body, the rest is not a request (Node's parser: 400)
  const short = await raw(`POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n${json}`);
  assert.equal(short.statuses[0], 400, short.text);
  assert.match(short.text, /"message":"(malformed HTTP request \(HPE_[A-Z_]+|the body is not valid JSON)/);
  assert.ok(short.statuses.every((s) => s === 400), short.text);
  // too long: the body never completes, so the request timeout ends it
  const long = await raw(`POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n${json}`);
  assert.deepEqual(long.statuses, [408], long.text);
  assert.match(long.text, /"message":"the request did not arrive in time: headers are expected within 300 ms and the whole request within 600 ms"/);
  // both headers: refused by Node's parser (request smuggling)
  const both = await raw('POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n' +
    `Transfer-Encoding: chunked\r\n\r\n${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`);
  assert.deepEqual(both.statuses, [400], both.text);
  assert.equal(await health(), 200);
});

test('no path reaches a file outside the built pages: traversal, encodings, backslashes, NUL, absolute paths', async () => {
  const pkg = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  const webFiles = ['index.html', 'page.js', 'style.css'].map((f) => readFileSync(`${defaultWebDir()}/${f}`, 'latin1'));
  const paths = [
    '/../package.json', '/../../package.json', '/%2e%2e/package.json', '/%2E%2E/package.json', '/..%2fpackage.json',
    '/%2e%2e%2fpackage.json', '/..%5cpackage.json', '/..\\package.json', '/%5c..%5cpackage.json', '/index.html/../../package.json',
    '/web/../package.json', '//package.json', '/./../package.json', '/%252e%252e/package.json', '/index.html%00',
    '/index.html%00.png', '/../../../../etc/passwd', '//etc/passwd', '/C:/Windows/win.ini', '/src/server/app.ts',
    '/.git/config', '/node_modules/fastify/package.json', '/web/index.html', '/dist/src/server/app.js', '/%c0%ae%c0%ae/package.json',
  ];
  for (const p of paths) {
    const a = await raw(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const body = a.text.slice(a.text.indexOf('\r\n\r\n') + 4);
    assert.ok(a.statuses[0] === 404 || a.statuses[0] === 400, `${p}: ${a.text.slice(0, 200)}`);
    assert.ok(!body.includes('"name": "digits"') && !body.includes(pkg.slice(0, 40)), `${p} served package.json`);
    assert.ok(!webFiles.includes(body), `${p} served a page file`);
    if (a.statuses[0] === 404) assert.match(body, /"statusCode":404/);
  }
  // a raw NUL, raw backslashes, absolute-form and relative request targets: Node's parser or the router refuses them
  for (const p of ['/index.html\0', '/..\\..\\package.json', 'http://x/../package.json', 'http://x/%2e%2e/package.json', '../package.json',
    'package.json']) {
    const a = await raw(Buffer.from(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'));
    assert.ok(a.statuses[0] === 404 || a.statuses[0] === 400, `${JSON.stringify(p)}: ${a.text.slice(0, 200)}`);
  }
  // and the known files are still served
  const ok = await raw('GET /page.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(ok.statuses[0], 200);
});

test('past maxPending predictions: 503 with Retry-After and a JSON message; /health answers; nothing leaks', async () => {
  const busy = buildServer({ predictor, maxPending: 3 });
  try {
    const pixels = new Array(784).fill(0);
    const predict = (): Promise<LightMyRequestResponse> => busy.inject({
      method: 'POST', url: '/api/predict', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ pixels, scale: 255 }),
    });
    const batch = (): Promise<LightMyRequestResponse> => busy.inject({
      method: 'POST', url: '/api/predict/batch', headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ inputs: [pixels, pixels], scale: 255 }),
    });
    const ring = canvas(20, 20);
    drawRing(ring, 10, 10, 5, 7, 2, 255);
    const png = encodePng(ring);
    const image = (): Promise<LightMyRequestResponse> => busy.inject({
      method: 'POST', url: '/api/predict', headers: { 'content-type': 'image/png' }, payload: png,
    });
    const burst = [...Array.from({ length: 30 }, predict), ...Array.from({ length: 5 }, batch), ...Array.from({ length: 5 }, image)];
    const healthDuring = busy.inject({ method: 'GET', url: '/health' });
    const answers = await Promise.all(burst);
    const counts = new Map<number, number>();
    for (const r of answers) counts.set(r.statusCode, (counts.get(r.statusCode) ?? 0) + 1);
    assert.deepEqual([...counts.keys()].sort(), [200, 503], JSON.stringify([...counts]));
    assert.ok(counts.get(200)! >= 3, JSON.stringify([...counts]));
    for (const r of answers.filter((x) => x.statusCode === 503)) {
      assert.equal(r.headers['retry-after'], '1');
      assert.match(String(r.headers['content-type']), /application\/json/);
      assert.deepEqual(Object.keys(r.json()).sort(), ['error', 'message', 'statusCode']);
      assert.match(r.json().message, /the server is busy: 3 predictions are in flight or queued \(limit 3\); retry in 1 s/);
    }
    // /health answers at once, and says whether the prediction path is full (503 "saturated") or not
    const health = await healthDuring;
    assert.ok([200, 503].includes(health.statusCode), `GET /health: ${health.statusCode}`);
    assert.equal(health.json().status, health.statusCode === 200 ? 'ok' : 'saturated');
    // the count went back to zero: one at a time, all are served
    for (let i = 0; i < 5; i++) assert.equal((await predict()).statusCode, 200);
    assert.equal((await batch()).statusCode, 200);
    assert.equal((await image()).statusCode, 200);
  } finally {
    await busy.close();
  }
});

test('CORS: no Access-Control-* headers by default; --cors origins get them, preflight included', async () => {
  const origin = 'http://localhost:3000';
  const plain = buildServer({ predictor });
  const open = buildServer({ predictor, corsOrigins: [origin, 'https://digits.example'] });
  try {
    const aclHeaders = (h: Record<string, unknown>): string[] => Object.keys(h).filter((k) => k.startsWith('access-control-'));
    const get = await plain.inject({ method: 'GET', url: '/health', headers: { origin } });
    assert.equal(get.statusCode, 200);
    assert.deepEqual(aclHeaders(get.headers), []);
    const pre = await plain.inject({ method: 'OPTIONS', url: '/api/predict', headers: { origin, 'access-control-request-method': 'POST' } });
    assert.equal(pre.statusCode, 404);
    assert.deepEqual(aclHeaders(pre.headers), []);

    const allowed = await open.inject({ method: 'GET', url: '/health', headers: { origin } });
    assert.equal(allowed.statusCode, 200);
    assert.equal(allowed.headers['access-control-allow-origin'], origin);
    const preflight = await open.inject({
      method: 'OPTIONS', url: '/api/predict', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(preflight.statusCode, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], origin);
    assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
    const other = await open.inject({ method: 'GET', url: '/health', headers: { origin: 'http://evil.example' } });
    assert.equal(other.statusCode, 200);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    // a 4xx also carries the header, so a browser page can read the message
    const bad = await open.inject({ method: 'POST', url: '/api/predict', headers: { origin, 'content-type': 'application/json' }, payload: '{' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.headers['access-control-allow-origin'], origin);
  } finally {
    await plain.close();
    await open.close();
  }
});

test('bad limits are refused with a message naming them', () => {
  assert.throws(() => buildServer({ predictor, headersTimeout: 5000, requestTimeout: 1000 }),
    /headersTimeout \(5000 ms\) must not exceed requestTimeout \(1000 ms\)/);
  assert.throws(() => buildServer({ predictor, maxPending: 0 }), /maxPending: expected a whole number >= 1, got 0/);
  assert.throws(() => buildServer({ predictor, connectionTimeout: -1 }), /connectionTimeout: expected a whole number >= 0, got -1/);
});

test('digits serve refuses bad --cors and --max-pending values before loading anything', () => {
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const run = (args: string[]): { code: number | null; stderr: string } => {
    const r = spawnSync(process.execPath, [cli, 'serve', '--model', '/nonexistent', ...args], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stderr: r.stderr };
  };
  const bad = run(['--cors', 'http://a.example/path']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--cors expects origins such as http:\/\/localhost:3000 \(scheme:\/\/host\[:port\], no path\) or "\*", got "http:\/\/a\.example\/path"/);
  const zero = run(['--max-pending', '0']);
  assert.equal(zero.code, 1);
  assert.match(zero.stderr, /--max-pending expects a positive integer, got "0"/);
});
