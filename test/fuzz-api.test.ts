/**
 * Property-based fuzz tests of the HTTP API's request handling
 * (src/server/app.ts): random methods, URLs, content types and bodies
 * (random JSON, near-valid prediction bodies with wrong lengths, types and
 * values, mutated JSON text, NaN-like and huge numbers, deep nesting, random
 * bytes), sent one at a time and in concurrent bursts against a small
 * prediction limit, and random or mutated raw HTTP requests over a socket:
 * always a 2xx or a 4xx JSON answer (or a 503 with Retry-After past the
 * limit), never a 500, and the server healthy after. Seeded (see
 * fuzz-helpers.ts); the case counts are printed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../src/server/app.js';
import { MAX_PIECES, MIN_PIECE_BYTES } from '../src/server/body.js';
import type { Predictor } from '../src/run/predictor.js';
import { canvas, drawRing, encodePng, untrainedPredictor } from './serve-fixtures.js';
import { fuzz, mutated, reportCases } from './fuzz-helpers.js';

let predictor: Predictor;
let app: FastifyInstance;
/** the same API with a limit of 4 predictions in flight, for bursts */
let busy: FastifyInstance;
/** a listening server with short timeouts, for raw requests */
let wire: FastifyInstance;
let port: number;

before(async () => {
  predictor = untrainedPredictor();
  app = buildServer({ predictor });
  busy = buildServer({ predictor, maxPending: 4 });
  wire = buildServer({ predictor, headersTimeout: 300, requestTimeout: 500, keepAliveTimeout: 100, connectionTimeout: 1000 });
  await Promise.all([app.ready(), busy.ready()]);
  await wire.listen({ port: 0, host: '127.0.0.1' });
  port = (wire.server.address() as AddressInfo).port;
});

after(async () => {
  reportCases('api');
  await Promise.all([app?.close(), busy?.close(), wire?.close()]);
});

const ring = canvas(20, 20);
drawRing(ring, 10, 10, 5, 7, 2, 255);
const PNG_BYTES = encodePng(ring);
const GOOD_JSON = JSON.stringify({ pixels: new Array(784).fill(0).map((_, i) => (i * 7) % 256), scale: 255 });

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 30 });

const urlArb = fc.oneof(
  fc.constantFrom('/api/predict', '/api/predict/batch', '/api/model', '/health', '/', '/index.html', '/page.js', '/site.json', '/style.css',
    '/api/predict/', '/API/PREDICT', '/api/predict?scale=1', '/api/predict#x', '/api//predict', '/../package.json',
    '/%2e%2e/package.json', '/..%2fpackage.json', '/index.html%00', '/%', '/%zz', '/%c0%ae%c0%ae/', '/api/predict/batch/../../health',
    '/' + 'a'.repeat(5000), '/?' + 'q='.repeat(500)),
  fc.array(fc.oneof(fc.constantFrom('api', 'predict', 'batch', 'health', 'model', '..', '.', '%2e%2e', '%00', '%ff', '%', 'index.html', ''),
    printable.map(encodeURIComponent)), { maxLength: 4 }).map((segs) => '/' + segs.join('/')),
);

const contentTypeArb = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'APPLICATION/JSON',
    'application/json;;', 'image/png', 'image/jpeg', 'image/gif', 'text/plain', 'text/csv', 'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded', 'application/octet-stream', '', ';', '*/*', 'application/json, image/png'),
  printable,
);

const numberArb = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.double({ min: -1e3, max: 1e3, noNaN: true }),
  fc.constantFrom(-1, 256, 1e308, -1e308, 5e-324, -0, 0.5, 1, 255, 1e21),
);
const pixelsArb = fc.oneof(
  fc.array(numberArb, { minLength: 783, maxLength: 785 }),
  fc.array(fc.oneof(numberArb, fc.constantFrom<unknown>(null, '12', true, [], {}, 'NaN')), { maxLength: 800 }),
);
const scaleArb = fc.constantFrom<unknown>(255, 1, 0, 2, '255', null, -255, 255.0000001, [255]);

/** Near-valid bodies: the shape of a prediction request with its parts wrong. */
const predictBody = fc.record({ pixels: pixelsArb, scale: scaleArb }, { requiredKeys: [] });
const batchBody = fc.record({ inputs: fc.array(pixelsArb, { maxLength: 3 }), scale: scaleArb }, { requiredKeys: [] });

const bodyArb: fc.Arbitrary<string | Buffer | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.tuple(fc.oneof(predictBody, batchBody), fc.dictionary(printable, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }))
    .map(([body, extra]) => JSON.stringify({ ...body, ...extra })),
  mutated(Buffer.from(GOOD_JSON), [',', ']', '[', '"', 'NaN', 'Infinity', '-', '1e999', '0x10', 'null', '\u0000', '__proto__', '{}'])
    .map((b) => Buffer.from(b)),
  fc.constantFrom(
    GOOD_JSON.replace('0,', 'NaN,'), GOOD_JSON.replace('0,', '1e999,'), GOOD_JSON.replace('0,', '"0",'), GOOD_JSON.replace('255}', '"255"}'),
    '{"pixels": ' + '['.repeat(50_000) + ']'.repeat(50_000) + ', "scale": 255}', '['.repeat(100_000), '{"__proto__": {"x": 1}}',
    '{"constructor": {"prototype": {"x": 1}}}', '9'.repeat(10_000), '"' + 'x'.repeat(10_000) + '"', '', ' ', '\uFEFF{}',
  ),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  mutated(PNG_BYTES, [], 2).map((b) => Buffer.from(b)),
  fc.constant(PNG_BYTES),
);

// Weighted towards POSTs of JSON to the prediction routes, so that most cases get past routing and
// content-type checks to the schemas and the handlers.
const requestArb = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constant('POST') }, fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD')),
  url: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('/api/predict', '/api/predict/batch') }, urlArb),
  contentType: fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constant('image/png') },
    { weight: 2, arbitrary: contentTypeArb }),
  body: bodyArb,
});
type Req = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

async function send(server: FastifyInstance, r: Req): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {};
  if (r.contentType !== undefined) headers['content-type'] = r.contentType;
  const withBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD';
  return server.inject({ method: r.method as 'POST', url: r.url, headers, ...(withBody ? { payload: r.body } : {}) });
}

/** A 2xx, or a 4xx JSON error, or (only where allowed) a 503 with Retry-After; never a 500. */
function checkAnswer(r: Req, res: LightMyRequestResponse, allow503: boolean): void {
  const what = `${r.method} ${r.url.slice(0, 80)} (${r.contentType}): ${res.statusCode} ${res.body.slice(0, 300)}`;
  const s = res.statusCode;
  assert.ok((s >= 200 && s < 300) || (s >= 400 && s < 500) || (allow503 && s === 503), what);
  if (s === 503) assert.equal(res.headers['retry-after'], '1', what);
  if (s >= 400 && r.method !== 'HEAD') {
    assert.match(String(res.headers['content-type']), /^application\/json/, what);
    const body = res.json() as { statusCode: number; message: string };
    assert.equal(body.statusCode, s, what);
    assert.ok(typeof body.message === 'string' && body.message.length > 0, what);
  }
  if (s === 200 && r.method === 'POST' && r.url === '/api/predict') {
    const body = res.json() as { label: number; probabilities: number[] };
    assert.ok(body.label >= 0 && body.label <= 9 && body.probabilities.length === 10, what);
  }
}

async function stillHealthy(server: FastifyInstance): Promise<void> {
  assert.equal((await server.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  const res = await server.inject({ method: 'POST', url: '/api/predict', headers: { 'content-type': 'application/json' }, payload: GOOD_JSON });
  assert.equal(res.statusCode, 200, res.body);
}

test('random methods, URLs, content types and bodies, one at a time: 2xx or 4xx JSON, never 500', async (t) => {
  const statuses = new Map<number, number>();
  await fuzz(t, requestArb, 1500, async (r) => {
    const res = await send(app, r);
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    checkAnswer(r, res, false);
  });
  t.diagnostic(`statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`);
  assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, 'the cases reach both good and bad answers');
  await stillHealthy(app);
});

test('concurrent bursts against a limit of 4 predictions: 2xx, 4xx or 503 with Retry-After, never 500; the limit recovers', async (t) => {
  let saw503 = 0;
  const good: Req = { method: 'POST', url: '/api/predict', contentType: 'application/json', body: GOOD_JSON };
  const burstArb = fc.array(fc.oneof(fc.constant(good), requestArb), { minLength: 1, maxLength: 12 });
  await fuzz(t, burstArb, 150, async (burst) => {
    const answers = await Promise.all(burst.map((r) => send(busy, r)));
    answers.forEach((res, i) => {
      const r = burst[i]!;
      const isPrediction = r.method === 'POST' && (r.url === '/api/predict' || r.url === '/api/predict/batch');
      if (res.statusCode === 503) saw503++;
      checkAnswer(r, res, isPrediction);
    });
  });
  t.diagnostic(`503 answers: ${saw503}`);
  assert.ok(saw503 > 0, 'the bursts reach the limit');
  await stillHealthy(busy);
});

/** Write `bytes` to a fresh socket, half-close it, and collect the answer until the server closes. */
/**
 * Sends raw bytes and resolves with all that came back (latin1). `halfClose`: end the socket's
 * writing side after the bytes, which Node's server takes as the client leaving (it answers only
 * what it can answer at once); otherwise the socket stays open until the server closes it.
 */
function rawExchange(bytes: Uint8Array, halfClose = true): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => { /* reset by the server: keep what came */ });
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('connect', () => (halfClose ? socket.end(bytes) : socket.write(bytes)));
  });
}

const RAW_GOOD = [
  `POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${GOOD_JSON.length}\r\n\r\n${GOOD_JSON}`,
  'GET /health HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
    `${GOOD_JSON.length.toString(16)}\r\n${GOOD_JSON}\r\n0\r\n\r\n`,
];

test('random and mutated raw HTTP requests over a socket: no 500 in any answer, the server healthy after', async (t) => {
  const tokens = ['\r\n', '\r\n\r\n', ':', ' ', 'Content-Length: 99999999\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: -1\r\n',
    'Expect: 100-continue\r\n', 'Host: y\r\n', '\0', 'HTTP/1.0', 'HTTP/2.0', 'GET', 'OPTIONS', '/../', '%00', 'ffffffff\r\n'];
  const arb = fc.oneof(
    { weight: 4, arbitrary: fc.oneof(...RAW_GOOD.map((g) => mutated(Buffer.from(g, 'latin1'), tokens, 3))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  );
  const statuses = new Map<number, number>();
  await fuzz(t, arb, 300, async (bytes) => {
    const answer = await rawExchange(bytes);
    for (const m of answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)) {
      const s = Number(m[1]);
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
      assert.ok(s < 500, `${s} for ${JSON.stringify(Buffer.from(bytes).toString('latin1').slice(0, 200))}: ${answer.slice(0, 300)}`);
    }
  });
  t.diagnostic(`statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`);
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(res.status, 200);
});

test('odd framing: a body in chunks of random sizes (one byte upwards, with chunk extensions) gets the answer it gets in one piece', async (t) => {
  const arb = fc.record({
    url: fc.constantFrom('/api/predict', '/api/predict/batch'),
    contentType: fc.constantFrom('application/json', 'image/png'),
    body: bodyArb.filter((b): b is string | Buffer => b !== undefined && b.length > 0 && b.length <= 20_000),
    /** chunk sizes cycled through; 1 is the one-byte framing of the memory attack */
    sizes: fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 4096 })), { minLength: 1, maxLength: 5 }),
    extension: fc.constantFrom('', ';x=1', ';' + 'e'.repeat(40)),
  });
  let tinyRefusals = 0;
  await fuzz(t, arb, 150, async ({ url, contentType, body, sizes, extension }) => {
    const bytes = Buffer.from(body);
    // at most ~2,000 chunks a body, so that the request arrives well within the test server's timeout
    const least = Math.ceil(bytes.length / 2000);
    const parts: Buffer[] = [Buffer.from(`POST ${url} HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`)];
    let chunks = 0;
    for (let at = 0, i = 0; at < bytes.length; i++, chunks++) {
      const piece = bytes.subarray(at, at + Math.max(least, sizes[i % sizes.length]!));
      parts.push(Buffer.from(`${piece.length.toString(16)}${extension}\r\n`), piece, Buffer.from('\r\n'));
      at += piece.length;
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    const answer = await rawExchange(Buffer.concat(parts), false); // Connection: close ends it
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? 0);
    const whole = await app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload: bytes });
    const what = `${url} (${contentType}), ${bytes.length} bytes in ${chunks} chunks of ${sizes.join('/')}: ${answer.slice(0, 300)}`;
    const message = (text: string): unknown => (JSON.parse(text) as { message?: unknown }).message;
    const text = Buffer.from(answer.slice(answer.indexOf('\r\n\r\n') + 4), 'latin1').toString('utf8');
    if (status === 400 && String(message(text)).startsWith('the body arrives in pieces of')) {
      // refused for its framing: only a body of many tiny chunks (a chunk split between two reads counts twice)
      tinyRefusals++;
      assert.ok(chunks * 2 > MAX_PIECES && bytes.length < chunks * MIN_PIECE_BYTES, what);
      return;
    }
    assert.equal(status, whole.statusCode, what);
    if (status !== 200) assert.equal(message(text), message(whole.body), what);
  });
  t.diagnostic(`refused for pieces under ${MIN_PIECE_BYTES} bytes on average: ${tinyRefusals}`);
});
