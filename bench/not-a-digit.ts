/**
 * Not a digit: how much of what is not a digit a model refuses (isDigit false), and how many MNIST
 * test digits it still accepts. The outliers are made here, unlike anything the digit gate trained
 * on (src/data/outliers.ts): letters and symbols printed in several fonts (letters that look like a
 * digit, such as O, l, S, Z, B, g, are left out), words, SVG shapes and symbols, noise, and
 * blank-ish canvases (faint dust). Each goes through the same preprocessing as an upload. Prints JSON.
 *
 *   node dist/bench/not-a-digit.js --model runs/seed [--per-kind 200] [--no-gate]
 */
import { Resvg } from '@resvg/resvg-js';
import { loadMnist } from '../src/data/mnist.js';
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { ImageError, grayFromRgba, preprocessGray, type GrayImage } from '../src/preprocess/pixels.js';
import { FONT_FILES, LETTERS, SYMBOLS, renderText } from './glyphs.js';
import { benchProgram, intArg } from './options.js';

const o = benchProgram('not-a-digit', 'refusal of what is not a digit, acceptance of MNIST test digits')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--per-kind <n>', 'images of each kind of outlier', intArg(1), 200)
  .option('--no-gate', 'decide by the model\'s calibrated confidence alone')
  .option('--seed <n>', 'seed', intArg(0), 1)
  .parse()
  .opts<{ model: string; perKind: number; gate: boolean; seed: number }>();

const WORDS = ['hello', 'abc', 'yes', 'no', 'cat', 'mm', 'www', 'xyz', 'ok', 'hey', 'wow', 'Fax'];

const rng = new Rng(o.seed);
const pick = <T>(a: readonly T[]): T => a[rng.int(a.length)]!;

function svgImage(body: string, size = 96): GrayImage {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="white"/>${body}</svg>`;
  const png = new Resvg(svg, { background: 'white' }).render();
  return grayFromRgba(png.pixels, png.width, png.height);
}

/** An SVG shape or drawn symbol: filled and outlined polygons, rectangles, arrows, smileys, hearts, grids, zigzags. */
function shape(): GrayImage {
  const w = rng.range(3, 10).toFixed(1);
  const stroke = `fill="none" stroke="black" stroke-width="${w}" stroke-linejoin="round" stroke-linecap="round"`;
  const poly = (k: number): string => Array.from({ length: k }, () => `${rng.range(15, 81).toFixed(0)},${rng.range(15, 81).toFixed(0)}`).join(' ');
  switch (rng.int(8)) {
    case 0: return svgImage(`<rect x="${rng.range(15, 30)}" y="${rng.range(15, 30)}" width="${rng.range(35, 55)}" height="${rng.range(35, 55)}" fill="black"/>`);
    case 1: return svgImage(`<polygon points="${poly(5 + rng.int(5))}" ${stroke}/>`);
    case 2: return svgImage(`<path d="M15 48 L70 48 M52 28 L75 48 L52 68" ${stroke}/>`);
    case 3: return svgImage(`<circle cx="48" cy="48" r="32" ${stroke}/><circle cx="37" cy="40" r="4"/><circle cx="59" cy="40" r="4"/>` +
      `<path d="M34 58 Q48 72 62 58" ${stroke}/>`);
    case 4: return svgImage('<path d="M48 80 C10 50 20 18 48 36 C76 18 86 50 48 80 Z" fill="black"/>');
    case 5: return svgImage(`<path d="M20 30 H76 M20 48 H76 M20 66 H76 M30 20 V76 M48 20 V76 M66 20 V76" ${stroke}/>`);
    case 6: return svgImage(`<polyline points="${Array.from({ length: 7 }, (_, i) => `${15 + i * 11},${i % 2 ? 30 : 66}`).join(' ')}" ${stroke}/>`);
    default: return svgImage(`<polyline points="${poly(8 + rng.int(8))}" ${stroke}/>`);
  }
}

/** Noise: uniform, sparse speckle, or blotches. */
function noise(): GrayImage {
  const width = 64, height = 64, gray = new Float32Array(width * height).fill(255);
  const kind = rng.int(3);
  for (let i = 0; i < gray.length; i++) {
    if (kind === 0) gray[i] = rng.uniform() * 255;
    else if (kind === 1 && rng.uniform() < 0.08) gray[i] = 0;
  }
  if (kind === 2) {
    for (let b = 0; b < 6; b++) {
      const cx = rng.range(5, 59), cy = rng.range(5, 59), r = rng.range(2, 8);
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (Math.hypot(x - cx, y - cy) < r) gray[y * width + x] = 0;
    }
  }
  return { width, height, gray, alpha: null };
}

/** A blank-ish canvas: white with a little faint dust. */
function dust(): GrayImage {
  const width = 200, height = 200, gray = new Float32Array(width * height).fill(255);
  for (let k = 0; k < 3 + rng.int(10); k++) gray[rng.int(gray.length)] = rng.range(200, 240);
  return { width, height, gray, alpha: null };
}

const kinds: Record<string, () => GrayImage> = {
  letters: () => renderText(pick([...LETTERS]), pick(FONT_FILES), { size: 64 + rng.int(40), stroke: rng.int(3) }),
  symbols: () => renderText(pick([...SYMBOLS]), pick(FONT_FILES), { size: 64 + rng.int(40) }),
  words: () => renderText(pick(WORDS), pick(FONT_FILES), { size: 40 + rng.int(30) }),
  shapes: shape,
  noise,
  blankish: dust,
};

const predictor = await openPredictor({ model: o.model, ...(o.gate ? {} : { gate: false as const }) }, () => undefined);
const test = await loadMnist('test');
const accepted = (await predictor.predictBatch(test.images, test.count)).filter((r) => r.isDigit).length / test.count;
const byKind: Record<string, number> = {};
let refused = 0, total = 0;
for (const [kind, make] of Object.entries(kinds)) {
  let r = 0;
  for (let i = 0; i < o.perKind; i++) {
    try {
      const p = await predictor.predictField(preprocessGray(make()).pixels);
      if (!p.isDigit) r++;
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      r++; // blank: refused before the model
    }
  }
  byKind[kind] = r / o.perKind;
  refused += r;
  total += o.perKind;
}
console.log(JSON.stringify({
  bench: 'not-a-digit', model: o.model, decision: o.gate ? 'calibrated confidence and the digit gate' : 'calibrated confidence alone',
  mnistTestAccepted: accepted, outliersRefused: refused / total, byKind, fonts: FONT_FILES.length,
}, null, 2));
