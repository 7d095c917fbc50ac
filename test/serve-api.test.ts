/**
 * The HTTP API (src/server/app.ts) through fastify.inject: every route with
 * good input, and every kind of bad input the issue lists getting a 4xx JSON
 * answer that says what was wrong — never a 500, and the server keeps serving.
 * The model is the seed CNN trained briefly on 3,000 MNIST images, so images
 * sent in either polarity and any size must be read right.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../src/server/app.js';
import { MAX_BATCH, Predictor } from '../src/run/predictor.js';
import { loadModel } from '../src/io/model-files.js';
import { createBackend } from '../src/engine/index.js';
import { loadMnist } from '../src/data/mnist.js';
import type { Dataset } from '../src/data/dataset.js';
import { canvas, encodeJpeg, encodePng, fieldBox, mnistAsCanvas, trainTinyModel } from './serve-fixtures.js';

let modelDir: string;
let app: FastifyInstance;
let predictor: Predictor;
let mnist: Dataset;

before(async () => {
  modelDir = await trainTinyModel();
  const { model, metadata } = await loadModel(modelDir);
  model.setBackend(createBackend('auto').backend);
  predictor = new Predictor(model, metadata, modelDir, await fs.readFile(path.join(modelDir, 'model.json'), 'utf8'));
  app = buildServer({ predictor });
  await app.ready();
  mnist = await loadMnist('test', { limit: 40 });
});

after(async () => {
  await app?.close();
  if (modelDir) await fs.rm(modelDir, { recursive: true, force: true });
});

function digit(i: number): number[] {
  return Array.from(mnist.images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
}

async function postJson(url: string, body: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
}

async function postRaw(url: string, contentType: string | undefined, payload: string | Buffer): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, headers: contentType ? { 'content-type': contentType } : {}, payload });
}

/** A 4xx with a JSON body {statusCode, error, message} whose message matches. */
function assertBad(res: LightMyRequestResponse, status: number, message: RegExp): void {
  assert.equal(res.statusCode, status, `expected ${status}, got ${res.statusCode}: ${res.body}`);
  assert.match(String(res.headers['content-type']), /application\/json/);
  const body = res.json() as { statusCode: number; error: string; message: string };
  assert.equal(body.statusCode, status);
  assert.equal(typeof body.error, 'string');
  assert.match(body.message, message);
}

function checkPrediction(p: { label: number; confidence: number; isDigit: boolean; probabilities: number[] }): void {
  assert.ok(Number.isInteger(p.label) && p.label >= 0 && p.label <= 9);
  assert.equal(typeof p.isDigit, 'boolean');
  assert.equal(p.confidence, p.probabilities[p.label], 'the confidence is the calibrated probability of the label');
  assert.equal(p.isDigit, p.confidence >= predictor.calibration.threshold);
  assert.equal(p.probabilities.length, 10);
  const sum = p.probabilities.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
  assert.equal(p.label, p.probabilities.indexOf(Math.max(...p.probabilities)));
}

// ------------------------------------------------------------------------------------------ good

test('POST /api/predict with JSON pixels (scale 255 and scale 1 agree) reads MNIST digits', async () => {
  let correct = 0;
  for (let i = 0; i < 20; i++) {
    const res = await postJson('/api/predict', { pixels: digit(i), scale: 255 });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    checkPrediction(body);
    assert.deepEqual(Object.keys(body).sort(), ['confidence', 'isDigit', 'label', 'model', 'probabilities']);
    assert.deepEqual(body.model, predictor.info);
    assert.match(body.model.id, /^digits-serve-model-.+-[0-9a-f]{12}$/);
    assert.equal(body.model.accuracy, 0.9);
    if (body.label === mnist.labels![i]) correct++;
    if (i < 3) {
      const unit = await postJson('/api/predict', { pixels: digit(i).map((v) => v / 255), scale: 1 });
      assert.equal(unit.statusCode, 200, unit.body);
      const ub = unit.json();
      assert.equal(ub.label, body.label);
      for (let c = 0; c < 10; c++) assert.ok(Math.abs(ub.probabilities[c] - body.probabilities[c]) < 1e-5);
    }
  }
  assert.ok(correct >= 16, `${correct}/20 MNIST digits read right`);
});

test('POST /api/predict with PNG and JPEG uploads: any size, either polarity, read like the JSON digit', async () => {
  let agree = 0;
  let correct = 0;
  const n = 20;
  for (let i = 0; i < n; i++) {
    const img = mnist.images.subarray(i * 784, (i + 1) * 784);
    const dark = i % 2 === 0;
    const c = mnistAsCanvas(img, 140 + 10 * i, dark, 15 - i, i - 10, 30);
    const bytes = i % 3 === 0 ? encodeJpeg(c) : encodePng(c);
    const res = await postRaw('/api/predict', i % 3 === 0 ? 'image/jpeg' : 'image/png', bytes);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    checkPrediction(body);
    assert.deepEqual(body.model, predictor.info);
    assert.equal(body.polarity, dark ? 'dark-on-light' : 'light-on-dark');
    assert.equal(body.preprocessed.width, 28);
    assert.equal(body.preprocessed.height, 28);
    assert.equal(body.preprocessed.pixels.length, 784);
    assert.ok(body.preprocessed.pixels.every((v: number) => Number.isInteger(v) && v >= 0 && v <= 255));
    const box = fieldBox(body.preprocessed.pixels, 32);
    assert.ok(Math.max(box.x1 - box.x0, box.y1 - box.y0) >= 19, `box ${JSON.stringify(box)}`);
    const json = (await postJson('/api/predict', { pixels: digit(i), scale: 255 })).json();
    if (json.label === body.label) agree++;
    if (body.label === mnist.labels![i]) correct++;
  }
  assert.ok(agree >= n - 3, `image and JSON predictions agree on ${agree}/${n}`);
  assert.ok(correct >= n - 4, `${correct}/${n} uploaded digits read right`);
});

test('concurrent single predictions are micro-batched and each gets its own answer', async () => {
  const sequential: { label: number; probabilities: number[] }[] = [];
  for (let i = 0; i < 40; i++) sequential.push((await postJson('/api/predict', { pixels: digit(i), scale: 255 })).json());
  // 40 at once: their bodies arrive in the same event-loop turns, so they share forward passes (up to 32 each)
  const concurrent = await Promise.all(Array.from({ length: 40 }, (_, i) => postJson('/api/predict', { pixels: digit(i), scale: 255 })));
  concurrent.forEach((res, i) => {
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.label, sequential[i].label, `digit ${i}`);
    for (let c = 0; c < 10; c++) assert.ok(Math.abs(body.probabilities[c] - sequential[i].probabilities[c]) < 1e-4);
  });
});

test('POST /api/predict/batch: many inputs at once, same answers as one by one', async () => {
  const inputs = Array.from({ length: 40 }, (_, i) => digit(i));
  const res = await postJson('/api/predict/batch', { inputs, scale: 255 });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.equal(body.predictions.length, 40);
  assert.deepEqual(body.model, predictor.info);
  for (let i = 0; i < 40; i += 7) {
    checkPrediction(body.predictions[i]);
    const one = (await postJson('/api/predict', { pixels: inputs[i], scale: 255 })).json();
    assert.equal(body.predictions[i].label, one.label);
    for (let c = 0; c < 10; c++) assert.ok(Math.abs(body.predictions[i].probabilities[c] - one.probabilities[c]) < 1e-4);
  }
  const unit = await postJson('/api/predict/batch', { inputs: [inputs[0]!.map((v) => v / 255)], scale: 1 });
  assert.equal(unit.statusCode, 200, unit.body);
  assert.equal(unit.json().predictions[0].label, body.predictions[0].label);
});

test('GET /api/model: architecture, parameter count, test accuracy, when trained', async () => {
  const res = await app.inject({ method: 'GET', url: '/api/model' });
  assert.equal(res.statusCode, 200);
  const m = res.json();
  assert.equal(m.id, predictor.info.id);
  assert.equal(m.parameters, 135114);
  assert.equal(m.testAccuracy, 0.9);
  assert.ok(!Number.isNaN(Date.parse(m.trainedAt)));
  assert.deepEqual(m.inputShape, [28, 28, 1]);
  assert.equal(m.layers[0].className, 'Conv2D');
  assert.deepEqual(m.layers[0].outputShape, [null, 26, 26, 32]);
  assert.equal(m.layers.reduce((s: number, l: { parameters: number }) => s + l.parameters, 0), 135114);
  assert.equal(m.architecture.layers.length, m.layers.length);
});

test('GET /health and the page files', async () => {
  const health = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200);
  assert.equal(health.json().status, 'ok');
  assert.equal(health.json().model, predictor.info.id);
  const page = await app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  assert.match(page.body, /<div id="drawing"><\/div>[\s\S]*<script src="page.js" type="module">/);
  for (const [url, type] of [['/page.js', /text\/javascript/], ['/style.css', /text\/css/]] as const) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.match(String(r.headers['content-type']), type);
  }
  // the page loads nothing from other hosts
  assert.doesNotMatch(page.body, /(src|href)="(https?:)?\/\//);
  // the page asks site.json where to predict: here, the server
  const site = await app.inject({ method: 'GET', url: '/site.json' });
  assert.deepEqual(site.json(), { predict: 'server' });
  // the web export's training page and the in-page kernels are not served (they need the export's data)
  for (const url of ['/train.html', '/worker.js', '/digits.wasm']) assert.equal((await app.inject({ method: 'GET', url })).statusCode, 404, url);
});

// ------------------------------------------------------------------------------------------- bad

test('bad JSON inputs to /api/predict: 400 with a message naming what was wrong', async () => {
  const good = digit(0);
  const cases: [string, unknown, RegExp][] = [
    ['too short', { pixels: good.slice(0, 783), scale: 255 }, /body\/pixels must NOT have fewer than 784 items/],
    ['too long', { pixels: [...good, 0], scale: 255 }, /body\/pixels must NOT have more than 784 items/],
    ['empty array', { pixels: [], scale: 255 }, /fewer than 784 items/],
    ['a string pixel', { pixels: ['12', ...good.slice(1)], scale: 255 }, /body\/pixels\/0 must be number/],
    ['a null pixel', { pixels: [...good.slice(0, 5), null, ...good.slice(6)], scale: 255 }, /body\/pixels\/5 must be number/],
    ['a boolean pixel', { pixels: [true, ...good.slice(1)], scale: 255 }, /body\/pixels\/0 must be number/],
    ['a nested array', { pixels: [[0], ...good.slice(1)], scale: 255 }, /body\/pixels\/0 must be number/],
    ['negative', { pixels: [-1, ...good.slice(1)], scale: 255 }, /body\/pixels\/0 must be >= 0/],
    ['over 255', { pixels: [...good.slice(0, 783), 256], scale: 255 }, /body\/pixels\/783 must be <= 255/],
    ['over 1 with scale 1', { pixels: [2, ...good.slice(1).map(() => 0)], scale: 1 }, /body\/pixels\/0 must be <= 1 with "scale": 1 \(got 2\)/],
    ['missing scale', { pixels: good }, /must have required property 'scale'/],
    ['missing pixels', { scale: 255 }, /must have required property 'pixels'/],
    ['bad scale', { pixels: good, scale: 100 }, /body\/scale must be equal to one of the allowed values/],
    ['scale as string', { pixels: good, scale: '255' }, /body\/scale must be number/],
    ['pixels not an array', { pixels: 'abc', scale: 255 }, /body\/pixels must be array/],
    ['an unknown key', { pixels: good, scale: 255, colour: 'red' }, /must NOT have additional properties/],
    ['an array body', [1, 2, 3], /body must be object/],
    ['a number body', 42, /body must be object/],
    ['null body', null, /body must be object|empty body/],
  ];
  for (const [name, body, message] of cases) {
    const res = await postJson('/api/predict', body);
    assert.equal(res.statusCode, 400, `${name}: ${res.statusCode} ${res.body}`);
    assertBad(res, 400, message);
  }
});

test('NaN, Infinity and malformed JSON: 400', async () => {
  const zeros = new Array(784).fill(0);
  const nan = `{"pixels": [NaN, ${zeros.slice(1).join(',')}], "scale": 255}`;
  assertBad(await postRaw('/api/predict', 'application/json', nan), 400, /not valid JSON/);
  const inf = `{"pixels": [1e999, ${zeros.slice(1).join(',')}], "scale": 255}`; // JSON.parse → Infinity
  assertBad(await postRaw('/api/predict', 'application/json', inf), 400, /body\/pixels\/0 must be number/); // ajv: not finite
  const negInf = `{"pixels": [-1e999, ${zeros.slice(1).join(',')}], "scale": 255}`;
  assertBad(await postRaw('/api/predict', 'application/json', negInf), 400, /body\/pixels\/0 must be number/);
  assertBad(await postRaw('/api/predict', 'application/json', '{"pixels": [1, 2'), 400, /not valid JSON/);
  assertBad(await postRaw('/api/predict', 'application/json', 'pixels=1'), 400, /not valid JSON/);
});

test('empty bodies: 400 for JSON, an image type, and no content type', async () => {
  assertBad(await postRaw('/api/predict', 'application/json', ''), 400, /[Bb]ody cannot be empty|empty body/);
  assertBad(await postRaw('/api/predict', 'image/png', ''), 400, /empty body: send a PNG or JPEG image/);
  assertBad(await postRaw('/api/predict', 'image/jpeg', Buffer.alloc(0)), 400, /empty body/);
  assertBad(await postRaw('/api/predict', undefined, ''), 400, /empty body/);
  assertBad(await postRaw('/api/predict/batch', 'application/json', ''), 400, /[Bb]ody cannot be empty|empty body/);
  assertBad(await postRaw('/api/predict/batch', undefined, ''), 400, /empty body/);
});

test('an image that is not an image, a broken one, a blank one: 4xx saying so', async () => {
  assertBad(await postRaw('/api/predict', 'image/png', 'this is text, not a PNG'), 400,
    /request body: not a PNG or JPEG image \(it starts with bytes 74 68 69 73/);
  assertBad(await postRaw('/api/predict', 'image/jpeg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])), 400,
    /could not decode the JPEG image/);
  const png = encodePng(mnistAsCanvas(mnist.images.subarray(0, 784), 100, true));
  assertBad(await postRaw('/api/predict', 'image/png', png.subarray(0, png.length / 2)), 400, /could not decode the PNG image/);
  const huge = Buffer.from(png.subarray(0, 33));
  huge.writeUInt32BE(60000, 16);
  huge.writeUInt32BE(60000, 20);
  assertBad(await postRaw('/api/predict', 'image/png', huge), 400, /60000×60000 pixels; at most/);
  assertBad(await postRaw('/api/predict', 'image/png', encodePng(canvas(64, 64, 255))), 422, /the image is blank/);
  // a PNG sent as image/jpeg is still decoded by its bytes
  const mislabelled = await postRaw('/api/predict', 'image/jpeg', png);
  assert.equal(mislabelled.statusCode, 200, mislabelled.body);
});

test('corrupted PNG and JPEG files (truncated, bytes flipped) never get a 500', async () => {
  const c = mnistAsCanvas(mnist.images.subarray(784, 2 * 784), 90, true);
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const statuses = new Map<number, number>();
  for (const [type, bytes] of [['image/png', encodePng(c)], ['image/jpeg', encodeJpeg(c)]] as const) {
    for (let k = 0; k < 40; k++) {
      let corrupt: Buffer;
      if (k < 20) {
        corrupt = bytes.subarray(0, 8 + rand(bytes.length - 8)); // truncated after the signature
      } else {
        corrupt = Buffer.from(bytes);
        for (let f = 0; f < 1 + (k % 5); f++) corrupt[8 + rand(corrupt.length - 8)] = rand(256); // flipped bytes
      }
      const res = await postRaw('/api/predict', type, corrupt);
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      assert.ok([200, 400, 422].includes(res.statusCode), `${type} #${k}: ${res.statusCode} ${res.body}`);
      if (res.statusCode !== 200) assert.match(res.json().message, /^request body: /);
    }
  }
  assert.ok((statuses.get(400) ?? 0) >= 20, JSON.stringify([...statuses]));
});

test('wrong content types: 415 naming the type and what is accepted', async () => {
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'image/gif', 'application/octet-stream', 'multipart/form-data; boundary=x']) {
    const res = await postRaw('/api/predict', type, 'abc');
    assertBad(res, 415, /is not accepted here: send application\/json or a PNG\/JPEG image as image\/png or image\/jpeg/);
    assert.match(res.json().message, new RegExp(type.split(';')[0]!.replace('/', '\\/')));
  }
  assertBad(await postRaw('/api/predict/batch', 'image/png', encodePng(canvas(4, 4))), 415, /image\/png is not accepted here: \/api\/predict\/batch takes application\/json/);
  assertBad(await postRaw('/api/predict/batch', 'text/csv', '1,2,3'), 415, /text\/csv is not accepted/);
});

test('bodies over the size limit: 413', async () => {
  const bigImage = Buffer.alloc(5 * 1024 * 1024, 1);
  assertBad(await postRaw('/api/predict', 'image/png', bigImage), 413, /over the size limit of 4,194,304 bytes for \/api\/predict/);
  const bigJson = JSON.stringify({ pixels: new Array(784).fill(0), scale: 255, pad: 'x'.repeat(5 * 1024 * 1024) });
  assertBad(await postRaw('/api/predict', 'application/json', bigJson), 413, /over the size limit/);
  const bigBatch = '{"inputs": [' + new Array(2000).fill(JSON.stringify(new Array(784).fill(0.123456789))).join(',') + '], "scale": 1}';
  assert.ok(bigBatch.length > 16 * 1024 * 1024);
  assertBad(await postRaw('/api/predict/batch', 'application/json', bigBatch), 413, /over the size limit of 16,777,216 bytes/);
});

test('bad batches: empty, too many, one bad input among good ones', async () => {
  const good = digit(1);
  assertBad(await postJson('/api/predict/batch', { inputs: [], scale: 255 }), 400, /body\/inputs must NOT have fewer than 1 items/);
  const tooMany = new Array(MAX_BATCH + 1).fill(new Array(784).fill(0));
  assertBad(await postJson('/api/predict/batch', { inputs: tooMany, scale: 255 }), 400, new RegExp(`must NOT have more than ${MAX_BATCH} items`));
  assertBad(await postJson('/api/predict/batch', { inputs: [good, good.slice(1)], scale: 255 }), 400, /body\/inputs\/1 must NOT have fewer than 784 items/);
  assertBad(await postJson('/api/predict/batch', { inputs: [good, [...good.slice(1), 300]], scale: 255 }), 400, /body\/inputs\/1\/783 must be <= 255/);
  assertBad(await postJson('/api/predict/batch', { inputs: [good.map((v) => v / 255), [...new Array(783).fill(0), 7]], scale: 1 }), 400,
    /body\/inputs\/1\/783 must be <= 1 with "scale": 1/);
  assertBad(await postJson('/api/predict/batch', { inputs: good, scale: 255 }), 400, /body\/inputs\/0 must be array/);
  assertBad(await postJson('/api/predict/batch', { pixels: good, scale: 255 }), 400, /required property 'inputs'|additional properties/);
});

test('unknown routes and methods: 404 JSON', async () => {
  assertBad(await app.inject({ method: 'GET', url: '/api/nothing' }), 404, /GET \/api\/nothing: no such route/);
  assertBad(await app.inject({ method: 'GET', url: '/api/predict' }), 404, /no such route/);
  assertBad(await app.inject({ method: 'DELETE', url: '/health' }), 404, /no such route/);
});

test('after all the bad input the server still answers, and nothing gave a 500', async () => {
  const res = await postJson('/api/predict', { pixels: digit(2), scale: 255 });
  assert.equal(res.statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
});
