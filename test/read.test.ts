/**
 * Reading a number (src/preprocess/segment.ts, Predictor.readImage, POST /api/read, `digits read`):
 * numbers composed of MNIST test digits read exactly end to end, one digit, an empty image, a
 * scribble (not a digit), bad input as for /api/predict; and the digit gate: it takes MNIST digits
 * for digits and refuses shapes and scribbles, so that isDigit says so everywhere.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/server/app.js';
import { Predictor } from '../src/run/predictor.js';
import { loadGate } from '../src/run/gate.js';
import { loadLineReader } from '../src/run/line-reader.js';
import { LINE_CLASSES, LINE_SHAPE, LINE_WEIGHT, NOT_WHOLE, inLine } from '../src/nn/line-reader.js';
import { trainRun } from '../src/run/train.js';
import { loadModel } from '../src/io/model-files.js';
import { createBackend } from '../src/engine/index.js';
import { Rng } from '../src/engine/rng.js';
import { loadMnist } from '../src/data/mnist.js';
import { composeNumber } from '../src/data/compose.js';
import { outlierField, outlierImage } from '../src/data/outliers.js';
import { COSTS, MAX_PIECES, MAX_SPAN, chooseDigits, numberFromReadings, segmentGray, segmentInk, type CandidateReading, type Segmentation } from '../src/preprocess/segment.js';
import { cropInk, mnistFromInk, type GrayImage } from '../src/preprocess/pixels.js';
import type { Dataset } from '../src/data/dataset.js';
import { canvas, drawFaintRing } from './serve-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
let tmp = '';
let modelDir = '';
let predictor: Predictor;
let app: FastifyInstance;
let mnist: Dataset;

function png(img: GrayImage): Buffer {
  const p = new PNG({ width: img.width, height: img.height });
  for (let i = 0; i < img.gray.length; i++) {
    p.data[4 * i] = p.data[4 * i + 1] = p.data[4 * i + 2] = Math.round(img.gray[i]!);
    p.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(p);
}

/** A scribble drawn with a thick pen on white (one of the digit gate's kinds of outliers, drawn large). */
function scribble(seed: number): GrayImage {
  return outlierImage('scribble', mnist, new Rng(seed));
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-read-'));
  modelDir = path.join(tmp, 'model');
  const { backend } = createBackend('auto');
  await trainRun({ data: 'mnist', preset: 'fast', seed: 0, limit: 12000, testLimit: 500, out: modelDir, backend: 'auto' },
    { backend, onEvent: () => undefined });
  const { model, metadata } = await loadModel(modelDir);
  model.setBackend(backend);
  predictor = new Predictor(model, metadata, modelDir, 'read test', null, await loadGate(backend), await loadLineReader(backend));
  app = buildServer({ predictor });
  await app.ready();
  mnist = await loadMnist('test', { limit: 400 });
});

after(async () => {
  await app?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Numbers of 3 to 6 digits the model reads right one by one, composed as people write them. */
async function readableNumbers(count: number, seed: number): Promise<{ image: GrayImage; text: string }[]> {
  const alone = await predictor.predictBatch(mnist.images, mnist.count);
  const good = Array.from({ length: mnist.count }, (_, i) => i).filter((i) => alone[i]!.label === mnist.labels![i] && alone[i]!.isDigit);
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const rows = Array.from({ length: 3 + rng.int(4) }, () => good[rng.int(good.length)]!);
    return composeNumber(mnist, rows, rng, { gap: [-1, 6] });
  });
}

test('numbers composed of MNIST test digits, some touching, are read exactly, in reading order, with a box for each digit', async () => {
  const numbers = await readableNumbers(60, 3);
  let exact = 0;
  for (const n of numbers) {
    const read = await predictor.readSegmentation(segmentGray(n.image));
    if (read.text !== n.text) continue;
    exact++;
    // boxes in reading order, inside the image, each over ink
    const xs = read.digits.map((d) => d.box.x);
    assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
    for (const d of read.digits) {
      assert.ok(d.box.x >= 0 && d.box.y >= 0 && d.box.x + d.box.width <= n.image.width && d.box.y + d.box.height <= n.image.height);
      assert.ok(d.isDigit && d.confidence > 0 && d.confidence <= 1);
    }
  }
  // a model trained for a few seconds: the benchmark (bench/read.ts) measures the real figure
  assert.ok(exact / numbers.length >= 0.75, `${exact} of ${numbers.length} read exactly`);
});

test('segmentation: two digits apart are two pieces; touching digits get cut candidates; a 7 cut along its bar is whole among them; a blank image is refused', () => {
  const w = 60, h = 30, ink = new Float32Array(w * h);
  for (let y = 5; y < 25; y++) {
    for (const x of [10, 11, 12, 40, 41, 42]) ink[y * w + x] = 255; // two bars
  }
  const seg = segmentInk(ink, w, h);
  assert.equal(seg.pieces, 2);
  assert.ok(seg.candidates.some((c) => c.from === 0 && c.to === 1) && seg.candidates.some((c) => c.from === 1 && c.to === 2));
  assert.ok(!seg.candidates.some((c) => c.from === 0 && c.to === 2), 'two bars far apart, wider together than 1.6 times their height, are not one digit');
  // a wide blob: cut at its thinnest columns
  const wide = new Float32Array(w * h);
  for (let y = 5; y < 25; y++) for (let x = 5; x < 55; x++) if (x < 25 || x > 35 || (y > 13 && y < 16)) wide[y * w + x] = 255;
  const cut = segmentInk(wide, w, h);
  assert.ok(cut.pieces >= 2, `a wide blob with a thin waist is cut (${cut.pieces} pieces)`);
  assert.throws(() => segmentInk(new Float32Array(w * h), w, h, 'blank.png'), /blank\.png: the image is blank/);
  // a 7 with a long thin bar: cut along the bar, its pieces together are still a candidate, though
  // the bar's two ends alone are much wider than tall
  const seven = new Float32Array(w * h);
  for (let y = 3; y < 6; y++) for (let x = 20; x < 42; x++) seven[y * w + x] = 255;
  for (let y = 6; y < 28; y++) for (let x = 0; x < 4; x++) seven[y * w + Math.round(42 - y * 0.5) + x] = 255;
  const s7 = segmentInk(seven, w, h);
  assert.ok(s7.pieces >= 3 && s7.pieces <= MAX_SPAN, `the bar is cut (${s7.pieces} pieces), into no more than a candidate may join`);
  assert.ok(s7.candidates.some((c) => c.from === 0 && c.to === s7.pieces), 'the whole 7 is a candidate');
});

test('a row written with a faint pen (a thin font printed small) is redrawn: each 0 of "00" comes out with a digit\'s ink', () => {
  // two 0s 14 px tall, drawn with a pen under a pixel wide, their ink gray
  const w = 40, h = 24, row = canvas(w, h, 0), ink = row.v;
  for (const cx of [12, 28]) drawFaintRing(row, cx, 12, 4.55, 7, 0.8);
  const seg = segmentInk(ink, w, h);
  const fieldInk = (pixels: Float32Array): number => pixels.reduce((a, v) => a + v / 255, 0);
  for (const [x0, x1] of [[7, 17], [23, 33]] as const) {
    const whole = seg.candidates.filter((c) => c.box.x0 === x0 && c.box.x1 === x1);
    assert.equal(whole.length, 1, `a candidate holds the 0 at ${x0}-${x1}`);
    assert.ok(fieldInk(whole[0]!.pixels) > 100, `the 0 at ${x0}-${x1}: ${fieldInk(whole[0]!.pixels).toFixed(1)} of ink in its field`);
  }
  // the same 0 enlarged as it is stays a faint blur
  const first = cropInk(ink, w, { x0: 0, y0: 0, x1: 20, y1: h });
  const blur = fieldInk(mnistFromInk(first, 20, h, '0', { faint: false }).pixels);
  assert.ok(blur < 60, `not redrawn: ${blur.toFixed(1)} of ink`);
});

test('a composed number says whose ink each pixel is, a segmentation asked for its piece map says which piece, and a long line is read', () => {
  const rows = [0, 1, 2];
  const number = composeNumber(mnist, rows, new Rng(3), { gap: [4, 6] });
  const { width, gray } = number.image;
  // every digit owns ink, inside its own box only; paper is no one's
  number.boxes.forEach((b, d) => {
    let owned = 0;
    for (let i = 0; i < gray.length; i++) {
      if (number.owner[i] !== d) continue;
      owned++;
      const x = i % width, y = (i - x) / width;
      assert.ok(x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height, `digit ${d}'s pixel (${x}, ${y}) is outside its box`);
    }
    assert.ok(owned > 20, `digit ${d} owns ${owned} pixels`);
  });
  for (let i = 0; i < gray.length; i++) if (gray[i] === 255) assert.equal(number.owner[i], -1);
  const seg = segmentGray(number.image, 'number', { pieceMap: true });
  assert.equal(segmentGray(number.image).pieceMap, undefined, 'only when asked for');
  const map = seg.pieceMap!;
  assert.equal(map.length, gray.length);
  // digits 4-6 pixels apart: each piece's pixels are one digit's, and lie in the piece's candidate box
  for (let p = 0; p < seg.pieces; p++) {
    const owners = new Set<number>();
    const alone = seg.candidates.find((c) => c.from === p && c.to === p + 1)!;
    for (let i = 0; i < map.length; i++) {
      if (map[i] !== p) continue;
      owners.add(number.owner[i]!);
      const x = i % width, y = (i - x) / width;
      assert.ok(x >= alone.box.x0 && x < alone.box.x1 && y >= alone.box.y0 && y < alone.box.y1);
    }
    assert.equal([...owners].filter((d) => d >= 0).length, 1, `piece ${p} holds ink of one digit`);
  }
  // each candidate seen in its line: its own ink in channel 0, its neighbours' in channel 1, on their side
  const [H, W, C] = LINE_SHAPE;
  for (let p = 0; p < seg.pieces; p++) {
    const { line } = seg.candidates.find((c) => c.from === p && c.to === p + 1)!;
    assert.equal(line.length, H * W * C);
    let own = 0, left = 0, right = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        own += line[(y * W + x) * C]!;
        const other = line[(y * W + x) * C + 1]!;
        if (x < W / 2) left += other; else right += other;
      }
    }
    assert.ok(own > 5, `piece ${p}: its own ink ${own}`);
    assert.ok(p === 0 ? left === 0 : left > 0.5, `piece ${p}: ink at its left ${left}`);
    assert.ok(p === seg.pieces - 1 ? right === 0 : right > 0.5, `piece ${p}: ink at its right ${right}`);
  }
  // a long line, its digits touching: cut into slivers, still within what is read
  const long = composeNumber(mnist, Array.from({ length: 24 }, (_, i) => i), new Rng(4), { gap: [-2, 0] });
  const longSeg = segmentGray(long.image);
  assert.ok(longSeg.pieces > 48 && longSeg.pieces <= MAX_PIECES, `${longSeg.pieces} pieces`);
});

test('a mark that passes one not-a-digit test reads as a digit among digits, and a line of mostly non-digits is no number', () => {
  // four marks apart, each read as one candidate
  const w = 200, h = 40, ink = new Float32Array(w * h);
  for (let y = 5; y < 35; y++) for (const x0 of [10, 60, 110, 160]) for (let x = x0; x < x0 + 4; x++) ink[y * w + x] = 255;
  const seg = segmentInk(ink, w, h);
  assert.equal(seg.pieces, 4);
  const singles = seg.candidates.filter((c) => c.to - c.from === 1);
  const read = (marks: Pick<CandidateReading, 'isDigit' | 'oneTest' | 'digitScore'>[]): string => {
    // the single marks read as 1, 2, 3, 4 (sure, so that the choice takes them one by one); runs of marks as nothing
    const readings = seg.candidates.map((c): CandidateReading => (c.to - c.from === 1
      ? { label: c.from + 1, confidence: 0.99, digitScore: 0.99, ...marks[c.from]! }
      : { label: 0, confidence: 0.01, digitScore: 0.01, isDigit: false, oneTest: false }));
    return numberFromReadings(seg, readings).text;
  };
  assert.equal(singles.length, 4);
  const sure = { isDigit: true, oneTest: false }, half = { isDigit: false, oneTest: true }, none = { isDigit: false, oneTest: false };
  assert.equal(read([sure, sure, sure, sure]), '1234');
  assert.equal(read([sure, half, sure, sure]), '1234', 'among digits one test is enough');
  assert.equal(read([sure, sure, sure, none]), '123?', 'failing both is not');
  assert.equal(read([half, sure, half, none]), '????', 'two of four sure is not most: no number');
  assert.equal(read([half, half, half, half]), '????');
  // a digit by both tests counts towards a line of digits only with a gate score of COSTS.lineDigit
  const faint = { isDigit: true, oneTest: false, digitScore: COSTS.lineDigit / 2 };
  assert.ok(COSTS.lineDigit > 0);
  assert.equal(read([sure, faint, sure, sure]), '1234', 'three sure marks make a line of digits; the fourth passed both tests');
  assert.equal(read([faint, faint, sure, faint]), '????', 'marks the gate barely passes, as pieces of a scribble are, make no number');
});

test('POST /api/read: a number, one digit, a scribble, an empty image, and bad input', async () => {
  const [n] = await readableNumbers(1, 8);
  const post = (body: Buffer | string, type = 'image/png') => app.inject({ method: 'POST', url: '/api/read', headers: { 'content-type': type }, payload: body });
  const res = await post(png(n!.image));
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.equal(typeof body.text, 'string');
  assert.equal(body.digits.length, body.text.length);
  assert.equal(body.polarity, 'dark-on-light');
  for (const d of body.digits) assert.deepEqual(Object.keys(d).sort(), ['box', 'confidence', 'isDigit', 'label']);

  const one = await post(png(composeNumber(mnist, [0], new Rng(1)).image));
  assert.equal(one.statusCode, 200);
  assert.equal(one.json().text, String(mnist.labels![0]));

  // scribbles: each answered with its marks, and most read as no digit at all (16 of these 20 when written)
  let refused = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const scribbled = await post(png(scribble(seed)));
    assert.equal(scribbled.statusCode, 200);
    const { text, digits } = scribbled.json() as { text: string; digits: { isDigit: boolean }[] };
    assert.ok(digits.length >= 1 && digits.every((d) => typeof d.isDigit === 'boolean'));
    if (/^\?+$/.test(text)) refused++;
  }
  assert.ok(refused >= 12, `${refused} of 20 scribbles read as no digit`);

  const blank = await post(png({ width: 50, height: 40, gray: new Float32Array(2000).fill(255), alpha: null }));
  assert.equal(blank.statusCode, 422);
  assert.match(blank.json().message, /blank/);
  const junk = await post(Buffer.from('not an image at all'));
  assert.equal(junk.statusCode, 400);
  assert.match(junk.json().message, /not a PNG or JPEG/);
  const json = await post(JSON.stringify({ pixels: [] }), 'application/json');
  assert.equal(json.statusCode, 415);
  assert.match(json.json().message, /\/api\/read takes an image/);
  assert.equal((await post(Buffer.alloc(0))).statusCode, 400);
});

test('the digit gate: MNIST digits are digits; shapes and scribbles are not, on /api/predict too', async () => {
  const accepted = (await predictor.predictBatch(mnist.images, mnist.count)).filter((p) => p.isDigit).length;
  assert.ok(accepted / mnist.count >= 0.97, `${accepted} of ${mnist.count} MNIST test digits taken for digits`);
  const rng = new Rng(4);
  let refused = 0;
  for (let i = 0; i < 60; i++) {
    const p = await predictor.predictField(outlierField(i % 2 === 0 ? 'shape' : 'scribble', mnist, rng));
    if (!p.isDigit) refused++;
  }
  assert.ok(refused >= 45, `${refused} of 60 shapes and scribbles refused`);
  const res = await app.inject({ method: 'POST', url: '/api/predict', headers: { 'content-type': 'image/png' }, payload: png(scribble(9)) });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().isDigit, false);
});

test('digits read: text per image, --json with boxes, a blank image named in one line', async () => {
  const folder = path.join(tmp, 'numbers');
  await fs.mkdir(folder);
  const numbers = await readableNumbers(3, 11);
  for (const [i, n] of numbers.entries()) await fs.writeFile(path.join(folder, `n${i}.png`), png(n.image));
  await fs.writeFile(path.join(folder, 'blank.png'), png({ width: 30, height: 30, gray: new Float32Array(900).fill(255), alpha: null }));
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'read', '--model', modelDir, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  const r = run('--input', folder, '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { file: string; text: string | null; digits: unknown[]; error?: string }[];
  assert.equal(out.length, 4);
  const blank = out.find((o) => o.file.endsWith('blank.png'))!;
  assert.equal(blank.text, null);
  assert.match(blank.error!, /blank\.png: the image is blank/);
  const read = out.filter((o) => o.text !== null);
  assert.ok(read.filter((o, i) => o.text === numbers[i]!.text).length >= 2, JSON.stringify(read.map((o) => o.text)) + ' vs ' + numbers.map((n) => n.text));
  const text = run('--input', path.join(folder, 'n0.png'));
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^n0\.png: [0-9?]+ {3}\[/);
  const missing = run('--input', path.join(tmp, 'nope.png'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--input .*nope\.png: no such file or folder/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);
});

test('trainGate trains a gate on a few digits that loads, accepts the held-out digits it was set to, and refuses most outliers', async () => {
  const out = path.join(tmp, 'gate');
  const { backend } = createBackend('auto');
  const { trainGate } = await import('../src/run/gate.js');
  const r = await trainGate({ out, backend, digits: 5000, check: 1000, epochs: 3 }, () => undefined);
  assert.ok(r.threshold > 0 && r.threshold < 1);
  assert.ok(r.digitsAccepted >= 0.99 && r.digitsAccepted <= 1, `accepted ${r.digitsAccepted}`);
  assert.ok(r.outliersRefused > 0.5, `refused ${r.outliersRefused}`);
  const gate = await loadGate(backend, out);
  assert.equal(gate.threshold, r.threshold);
  await assert.rejects(loadGate(backend, modelDir), /not a digit gate \(it has 10 outputs, a gate has 11\)/);
});

test('the line reader weighs a candidate: the label both readers make likeliest, the classifier\'s confidence in it, the gate\'s score times a whole digit\'s', () => {
  const probabilities = [0.05, 0.6, 0, 0, 0.05, 0, 0, 0.3, 0, 0];
  const reading = { label: 1, confidence: 0.6, isDigit: true, probabilities, digitScore: 0.8, oneTest: false };
  // the reader, seeing the rest of the 7 beside it: a 7 much more than a 1, and a fifth not whole
  const q = new Float32Array(LINE_CLASSES);
  q[1] = 0.1; q[7] = 0.7; q[NOT_WHOLE] = 0.2;
  const [r] = inLine([reading], q);
  // the reader's probabilities weigh in at LINE_WEIGHT: 0.3·0.7^w beats 0.6·0.1^w for any w above 0.36
  const w = LINE_WEIGHT;
  assert.ok(w > 0.4 && w <= 1, `LINE_WEIGHT ${w}`);
  assert.equal(r!.label, 7);
  assert.equal(r!.confidence, 0.3);
  assert.ok(Math.abs(r!.digitScore - 0.8 * 0.8 ** w) < 1e-6);
  // 0.7^w / (0.6·0.1^w + 0.3·0.7^w): the product's share of 7, over the classifier's
  const sum = 0.6 * 0.1 ** w + 0.3 * 0.7 ** w;
  assert.ok(Math.abs(r!.lineAgreement - 0.7 ** w / sum) < 1e-6);
  assert.ok(Math.abs(r!.confidence * r!.lineAgreement - (0.3 * 0.7 ** w) / sum) < 1e-6);
  assert.equal(r!.isDigit, true);
});

test('the choice rewards each digit the line reader read too (COSTS.lineReward), so that its say does not favour fewer digits', () => {
  // two marks side by side: each alone a digit of confidence 0.7, together one of 0.99
  const mark = { aspect: 0.5, joined: 0, relativeHeight: 1 };
  const seg = {
    pieces: 2,
    boundaries: [0, 1, 2].map(() => ({ cut: false, overlap: 0 })),
    candidates: [{ from: 0, to: 1, ...mark }, { from: 1, to: 2, ...mark }, { from: 0, to: 2, ...mark }],
  } as unknown as Pick<Segmentation, 'pieces' | 'boundaries' | 'candidates'>;
  const read = (confidence: number, lineAgreement?: number): CandidateReading =>
    ({ label: 3, confidence, isDigit: true, digitScore: 1, ...(lineAgreement === undefined ? {} : { lineAgreement }) });
  // two digits against one: digit + log(0.7 · 0.7 / 0.99) = 0.5 - 0.70 without the reader; + lineReward with it
  assert.ok(COSTS.digit + Math.log(0.49 / 0.99) < 0 && COSTS.digit + COSTS.lineReward + Math.log(0.49 / 0.99) > 0);
  assert.deepEqual(chooseDigits(seg, [read(0.7), read(0.7), read(0.99)]), [2]);
  assert.deepEqual(chooseDigits(seg, [read(0.7, 1), read(0.7, 1), read(0.99, 1)]), [0, 1]);
  assert.deepEqual(chooseDigits(seg, [read(0.7, 1), read(0.7, 1), read(0.99, 1)], { ...COSTS, lineReward: 0 }), [2]);
});

test('trainLineReader trains a reader on a few numbers that loads and reads held-out candidates far better than chance', async () => {
  const out = path.join(tmp, 'line-reader');
  const { backend } = createBackend('auto');
  const { trainLineReader } = await import('../src/run/line-reader.js');
  const r = await trainLineReader({ out, backend, numbers: 150, check: 40, epochs: 3 }, () => undefined);
  assert.ok(r.whole > 1000 && r.notWhole > 500, `${r.whole} whole, ${r.notWhole} not`);
  assert.ok(r.wholeRead > 0.5, `whole digits read ${r.wholeRead}`);
  assert.ok(r.notWholeRead > 0.5, `not whole read ${r.notWholeRead}`);
  const reader = await loadLineReader(backend, out);
  assert.deepEqual(reader.inputShape, [...LINE_SHAPE]);
  await assert.rejects(loadLineReader(backend, modelDir), /not a line reader \(it takes \[28, 28, 1\] and has 10 outputs/);
});

test('the gate and the line reader judge digits only: a model of other classes (Fashion-MNIST) reads without them, a digit model with them', async () => {
  const { openPredictor } = await import('../src/run/predictor.js');
  const { buildPreset } = await import('../src/nn/index.js');
  const { makeMetadata, saveModel } = await import('../src/io/model-files.js');
  const clothes = path.join(tmp, 'clothes');
  const { model } = buildPreset('fast', 0);
  const names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  await saveModel(model, clothes, makeMetadata(model, { classNames: names }));
  const ofClothes = await openPredictor({ model: clothes }, () => undefined);
  assert.equal(ofClothes.gate, null);
  assert.equal(ofClothes.lineReader, null);
  const ofDigits = await openPredictor({ model: modelDir }, () => undefined);
  assert.notEqual(ofDigits.gate, null);
  assert.notEqual(ofDigits.lineReader, null);
  // each left out on its own
  const noGate = await openPredictor({ model: modelDir, gate: false }, () => undefined);
  assert.equal(noGate.gate, null);
  assert.notEqual(noGate.lineReader, null);
  const noReader = await openPredictor({ model: modelDir, lineReader: false }, () => undefined);
  assert.equal(noReader.lineReader, null);
  assert.notEqual(noReader.gate, null);
});
