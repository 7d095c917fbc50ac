/**
 * What is not one digit, made MNIST-like: the negatives the digit gate (src/nn/gate.ts) learns to
 * refuse. Each is drawn as ink and normalised exactly as a drawing is (mnistFromInk), so that the gate
 * sees what the classifier would.
 *
 * - pair: two digits of a dataset side by side, touching or overlapping (what a segmentation that
 *   failed to cut hands the classifier);
 * - fragment: part of a digit, cut off at a random column or row (a segmentation that cut too much,
 *   or a stroke broken off);
 * - turned: a digit turned on its side (a 3 as a "w"-like arc pair, an 8 as an infinity sign), or a
 *   3, 4 or 7 upside down: handwritten strokes that are no digit;
 * - letter: a handwritten letter or symbol that looks like no digit (A, E, H, K, M, a, e, h, k, r, +,
 *   =, <, a check mark…), drawn from stroke templates with a random slant, width, jitter and pen: what
 *   people write on a page that is not a digit;
 * - glyph: two to four strokes, straight or arcs, between the points of a 3×3 grid: the structure of
 *   a written character without being one in particular;
 * - scribble: a few smooth random strokes with many turns;
 * - shape: polygons (triangles, squares, stars), crosses, spirals, grids and filled blobs; never a
 *   lone straight line or an oval, which would be a 1 or a 0;
 * - noise: scattered specks and smudges.
 *
 * Printed letters and symbols (fonts) and other image sets are left out on purpose: bench/not-a-digit.ts
 * measures the gate on them as outliers it never saw, and lab/gate-select.ts on fonts that benchmark
 * does not use.
 */
import { Rng } from '../engine/rng.js';
import { FIELD, mnistFromInk, resize, type GrayImage } from '../preprocess/pixels.js';
import type { Dataset } from './dataset.js';

/** The kinds of outliers, and the share of each in `outlierFields`. */
export const OUTLIER_KINDS = { pair: 0.2, fragment: 0.2, turned: 0.11, letter: 0.1, glyph: 0.12, scribble: 0.12, shape: 0.1, noise: 0.05 } as const;
/** A kind of outlier: pair, fragment, turned, letter, glyph, scribble, shape or noise. */
export type OutlierKind = keyof typeof OUTLIER_KINDS;

/** The canvas strokes are drawn on before normalisation (pixels a side). */
const CANVAS = 56;

/**
 * The gate's fields are normalised as drawings are, except that only strokes past this width (not
 * HEAVY_STROKE's) are eroded: eroded to MNIST's width, dense scribbles and fragments lose what tells
 * them from digits. Measured (bench/not-a-digit.ts, the gate used on fields normalised from 4.0 either
 * way): trained on fields normalised from 4.0 it refused 82.7% of the outliers, from 6.0 86.9%.
 */
const GATE_HEAVY_STROKE = 6.0;
/**
 * Nor are faint lines redrawn (pixels.ts FAINT_STROKE): shrunk by asDrawn, many thin letters and
 * scribbles come out faint, and redrawn they teach the gate less. Measured: a gate trained on them
 * redrawn refused 87.7% (seed model) and 85.8% (fast) of bench/not-a-digit.ts's outliers, this one
 * 91.4% and 91.9% (MNIST test accepted: 99.25% and 99.16% with the seed model).
 */
const GATE_STROKES = { heavyStroke: GATE_HEAVY_STROKE, faint: false } as const;

/** `n` outlier fields ([n, 28, 28], values 0..1), of the kinds in their shares, from digits of `ds` (pairs, fragments) and `rng`. */
export function outlierFields(ds: Dataset, n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n * FIELD * FIELD);
  const kinds = Object.entries(OUTLIER_KINDS) as [OutlierKind, number][];
  for (let i = 0; i < n; i++) {
    let u = rng.uniform(), kind: OutlierKind = 'noise';
    for (const [k, share] of kinds) {
      if (u < share) { kind = k; break; }
      u -= share;
    }
    const field = outlierField(kind, ds, rng);
    for (let p = 0; p < FIELD * FIELD; p++) out[i * FIELD * FIELD + p] = field[p]! / 255;
  }
  return out;
}

/** One outlier of `kind` as a 28×28 field (0..255). */
export function outlierField(kind: OutlierKind, ds: Dataset, rng: Rng): Float32Array {
  for (;;) {
    const ink = kind === 'pair' ? pair(ds, rng) : kind === 'fragment' ? fragment(ds, rng) : kind === 'turned' ? turned(ds, rng)
      : kind === 'letter' ? letter(rng) : kind === 'glyph' ? glyph(rng) : kind === 'scribble' ? scribble(rng)
      : kind === 'shape' ? shape(rng) : noise(rng);
    const field = asDrawn(ink, rng);
    if (field !== null) return field;
  }
}

/**
 * An outlier of `kind` as an image a page or an upload would hand over: its field enlarged `zoom`
 * times (each pixel a square), dark ink on white paper.
 */
export function outlierImage(kind: OutlierKind, ds: Dataset, rng: Rng, zoom = 4): GrayImage {
  const field = outlierField(kind, ds, rng);
  const width = FIELD * zoom, height = FIELD * zoom, gray = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) gray[y * width + x] = 255 - field[Math.floor(y / zoom) * FIELD + Math.floor(x / zoom)]!;
  return { width, height, gray, alpha: null };
}

/**
 * Ink made a field as a drawing or an upload would be: resampled by a random factor first (a digit
 * written small and enlarged, or large and shrunk, blurs its strokes), stretched so that its
 * strongest ink is 255 (as inkMap does), then normalised (mnistFromInk, heavy strokes from
 * GATE_HEAVY_STROKE, faint lines as they are). Null when no ink is left.
 */
function asDrawn(ink: Ink, rng: Rng): Float32Array | null {
  const r = Math.exp(rng.range(Math.log(0.4), Math.log(1.6)));
  const w = Math.max(1, Math.round(ink.width * r)), h = Math.max(1, Math.round(ink.height * r));
  const data = resize(ink.data, ink.width, ink.height, w, h);
  let max = 0;
  for (const v of data) if (v > max) max = v;
  if (max < 64) return null;
  for (let i = 0; i < data.length; i++) data[i] = (data[i]! * 255) / max;
  let any = false;
  for (let i = 0; i < data.length && !any; i++) any = data[i]! > 32;
  return any ? mnistFromInk(data, w, h, 'a generated field', GATE_STROKES).pixels : null;
}

interface Ink {
  data: Float32Array;
  width: number;
  height: number;
}

/** Digit `row` of ds as ink 0..255, scaled by s. */
function digitInk(ds: Dataset, row: number, s: number): Ink {
  const src = new Float32Array(784);
  for (let p = 0; p < 784; p++) src[p] = ds.images[row * 784 + p]! * 255;
  const w = Math.max(1, Math.round(28 * s));
  return { data: resize(src, 28, 28, w, w), width: w, height: w };
}

/** The ink's columns [x0, x1) (where it is above 32). */
function inkColumns(ink: Ink): [number, number] {
  let x0 = ink.width, x1 = 0;
  for (let y = 0; y < ink.height; y++) {
    for (let x = 0; x < ink.width; x++) {
      if (ink.data[y * ink.width + x]! > 32) { x0 = Math.min(x0, x); x1 = Math.max(x1, x + 1); }
    }
  }
  return [x0, Math.max(x0, x1)];
}

function pair(ds: Dataset, rng: Rng): Ink {
  const a = digitInk(ds, rng.int(ds.count), rng.range(0.85, 1.15));
  const b = digitInk(ds, rng.int(ds.count), rng.range(0.85, 1.15));
  const [, a1] = inkColumns(a);
  const [b0] = inkColumns(b);
  const gap = Math.round(rng.range(-5, 2));
  const dx = a1 + gap - b0; // where b's left column goes
  const dy = Math.round(rng.range(-3, 3));
  const width = Math.max(a.width, dx + b.width) + 4, height = Math.max(a.height, b.height) + 8;
  const data = new Float32Array(width * height);
  const put = (g: Ink, ox: number, oy: number): void => {
    for (let y = 0; y < g.height; y++) {
      for (let x = 0; x < g.width; x++) {
        const X = ox + x, Y = oy + y;
        if (X >= 0 && X < width && Y >= 0 && Y < height) data[Y * width + X] = Math.max(data[Y * width + X]!, g.data[y * g.width + x]!);
      }
    }
  };
  put(a, 2, 4);
  put(b, 2 + dx, 4 + dy);
  return { data, width, height };
}

function fragment(ds: Dataset, rng: Rng): Ink {
  const g = digitInk(ds, rng.int(ds.count), 1);
  const keep = rng.range(0.25, 0.6);
  const data = new Float32Array(g.data);
  const vertical = rng.uniform() < 0.6; // keep a left or right part; else a top or bottom one
  const fromStart = rng.uniform() < 0.5;
  if (vertical) {
    const [x0, x1] = inkColumns(g);
    const cut = Math.round(fromStart ? x0 + keep * (x1 - x0) : x1 - keep * (x1 - x0));
    for (let y = 0; y < g.height; y++) {
      for (let x = 0; x < g.width; x++) if (fromStart ? x >= cut : x < cut) data[y * g.width + x] = 0;
    }
  } else {
    const cut = Math.round(fromStart ? 4 + keep * 20 : 24 - keep * 20);
    for (let y = 0; y < g.height; y++) {
      if (fromStart ? y >= cut : y < cut) data.fill(0, y * g.width, (y + 1) * g.width);
    }
  }
  return { data, width: g.width, height: g.height };
}

/**
 * A digit turned a quarter either way (any digit but 0, which on its side is still an oval), or a half
 * (only 3, 4 and 7, which upside down are no digit; 6 and 9 turn into each other, 2 and 5 nearly so).
 * Without labels, a quarter turn of any digit.
 */
function turned(ds: Dataset, rng: Rng): Ink {
  for (;;) {
    const row = rng.int(ds.count);
    const label = ds.labels?.[row] ?? -1;
    if (label === 0) continue;
    const half = (label === 3 || label === 4 || label === 7) && rng.uniform() < 0.4;
    const g = digitInk(ds, row, 1);
    const data = new Float32Array(g.data.length);
    const n = g.width; // square
    const clockwise = rng.uniform() < 0.5;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const [sx, sy] = half ? [n - 1 - x, n - 1 - y] : clockwise ? [y, n - 1 - x] : [n - 1 - y, x];
        data[y * n + x] = g.data[sy * n + sx]!;
      }
    }
    return { data, width: n, height: n };
  }
}

/** Draws a polyline of thickness t (pixels) onto ink, anti-aliased. */
function strokePath(ink: Float32Array, pts: [number, number][], t: number): void {
  for (let i = 1; i < pts.length; i++) {
    const [ax, ay] = pts[i - 1]!, [bx, by] = pts[i]!;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - t)), x1 = Math.min(CANVAS - 1, Math.ceil(Math.max(ax, bx) + t));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - t)), y1 = Math.min(CANVAS - 1, Math.ceil(Math.max(ay, by) + t));
    const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy || 1;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5 - ax, py = y + 0.5 - ay;
        const s = Math.min(1, Math.max(0, (px * dx + py * dy) / len2));
        const d = Math.hypot(px - s * dx, py - s * dy);
        const v = Math.min(1, Math.max(0, t / 2 + 0.5 - d)) * 255;
        if (v > ink[y * CANVAS + x]!) ink[y * CANVAS + x] = v;
      }
    }
  }
}

function canvas(): Ink {
  return { data: new Float32Array(CANVAS * CANVAS), width: CANVAS, height: CANVAS };
}

function scribble(rng: Rng): Ink {
  const c = canvas();
  const strokes = 1 + rng.int(3);
  for (let s = 0; s < strokes; s++) {
    let x = rng.range(12, 44), y = rng.range(12, 44), heading = rng.range(0, 2 * Math.PI);
    const turn = rng.range(0.15, 0.6) * (rng.uniform() < 0.5 ? -1 : 1);
    const pts: [number, number][] = [[x, y]];
    const steps = 30 + rng.int(60);
    for (let k = 0; k < steps; k++) {
      heading += turn + rng.normal() * 0.5;
      x = Math.min(52, Math.max(4, x + 1.5 * Math.cos(heading)));
      y = Math.min(52, Math.max(4, y + 1.5 * Math.sin(heading)));
      pts.push([x, y]);
    }
    strokePath(c.data, pts, rng.range(1.5, 4.5));
  }
  return c;
}

/** A stroke: points in a unit box (x to the right, y down). */
type Stroke = [number, number][];

/** Points along an ellipse around (cx, cy) with radii rx, ry, from angle a0 to a1 (degrees; 90 is down). */
function arc(cx: number, cy: number, rx: number, ry: number, a0: number, a1: number): Stroke {
  const n = Math.max(4, Math.ceil(Math.abs(a1 - a0) / 15));
  return Array.from({ length: n + 1 }, (_, i) => {
    const a = ((a0 + ((a1 - a0) * i) / n) * Math.PI) / 180;
    return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)] as [number, number];
  });
}

/**
 * Handwritten letters and symbols that look like no digit, as strokes in a unit box: capitals, lower
 * case (an ascender where the letter has one) and a few symbols. Letters a digit can be written like
 * (O, D, I, l, S, Z, B, G, b, g, q, s, z, J) are left out.
 */
const LETTER_STROKES: Record<string, Stroke[]> = {
  A: [[[0, 1], [0.5, 0], [1, 1]], [[0.22, 0.6], [0.78, 0.6]]],
  C: [arc(0.55, 0.5, 0.5, 0.5, -45, -315)],
  E: [[[1, 0], [0, 0], [0, 1], [1, 1]], [[0, 0.5], [0.75, 0.5]]],
  F: [[[1, 0], [0, 0], [0, 1]], [[0, 0.5], [0.75, 0.5]]],
  H: [[[0, 0], [0, 1]], [[1, 0], [1, 1]], [[0, 0.5], [1, 0.5]]],
  K: [[[0, 0], [0, 1]], [[1, 0], [0, 0.55]], [[0.3, 0.4], [1, 1]]],
  M: [[[0, 1], [0, 0], [0.5, 0.6], [1, 0], [1, 1]]],
  N: [[[0, 1], [0, 0], [1, 1], [1, 0]]],
  P: [[[0, 1], [0, 0]], [[0, 0], ...arc(0.5, 0.25, 0.5, 0.25, -90, 90), [0, 0.5]]],
  R: [[[0, 1], [0, 0]], [[0, 0], ...arc(0.5, 0.25, 0.5, 0.25, -90, 90), [0, 0.5]], [[0.35, 0.5], [1, 1]]],
  T: [[[0, 0], [1, 0]], [[0.5, 0], [0.5, 1]]],
  U: [[[0, 0], ...arc(0.5, 0.6, 0.5, 0.4, 180, 0), [1, 0]]],
  V: [[[0, 0], [0.5, 1], [1, 0]]],
  W: [[[0, 0], [0.25, 1], [0.5, 0.3], [0.75, 1], [1, 0]]],
  X: [[[0, 0], [1, 1]], [[1, 0], [0, 1]]],
  Y: [[[0, 0], [0.5, 0.5], [1, 0]], [[0.5, 0.5], [0.5, 1]]],
  a: [[...arc(0.45, 0.55, 0.45, 0.45, -20, -380)], [[0.9, 0.1], [0.9, 0.9], [1, 1]]],
  e: [[[0.05, 0.5], [0.95, 0.5], ...arc(0.5, 0.5, 0.45, 0.5, 0, -320)]],
  f: [[...arc(0.75, 0.2, 0.3, 0.2, -10, -180), [0.45, 1]], [[0.1, 0.4], [0.85, 0.4]]],
  h: [[[0, 0], [0, 1]], [[0, 0.65], ...arc(0.5, 0.65, 0.5, 0.3, -180, 0), [1, 1]]],
  k: [[[0, 0], [0, 1]], [[0.9, 0.4], [0, 0.72], [0.9, 1]]],
  m: [[[0, 1], [0, 0]], [...arc(0.25, 0.3, 0.25, 0.3, -180, 0), [0.5, 1]], [...arc(0.75, 0.3, 0.25, 0.3, -180, 0), [1, 1]]],
  n: [[[0, 1], [0, 0]], [...arc(0.5, 0.4, 0.5, 0.4, -180, 0), [1, 1]]],
  p: [[[0, 0], [0, 1]], [[0, 0.1], ...arc(0.5, 0.3, 0.5, 0.3, -120, 120), [0, 0.5]]],
  r: [[[0, 1], [0, 0]], [...arc(0.55, 0.4, 0.55, 0.35, -180, -40)]],
  t: [[[0.4, 0], [0.4, 0.8], ...arc(0.7, 0.8, 0.3, 0.2, 180, 60)], [[0, 0.3], [0.9, 0.3]]],
  u: [[[0, 0], ...arc(0.5, 0.6, 0.5, 0.4, 180, 0), [1, 0], [1, 1]]],
  v: [[[0, 0], [0.5, 1], [1, 0]]],
  w: [[[0, 0], [0.25, 1], [0.5, 0.35], [0.75, 1], [1, 0]]],
  x: [[[0, 0], [1, 1]], [[1, 0], [0, 1]]],
  y: [[[0, 0], [0.5, 0.55]], [[1, 0], [0.2, 1]]],
  '+': [[[0.5, 0], [0.5, 1]], [[0, 0.5], [1, 0.5]]],
  '=': [[[0, 0.3], [1, 0.3]], [[0, 0.7], [1, 0.7]]],
  '<': [[[1, 0], [0, 0.5], [1, 1]]],
  '>': [[[0, 0], [1, 0.5], [0, 1]]],
  '✓': [[[0, 0.55], [0.35, 1], [1, 0]]],
  '#': [[[0.35, 0], [0.3, 1]], [[0.75, 0], [0.7, 1]], [[0, 0.33], [1, 0.33]], [[0, 0.67], [1, 0.67]]],
  '&': [[[1, 1], [0.2, 0.35], ...arc(0.4, 0.2, 0.25, 0.2, 150, -60), [0.1, 0.75], ...arc(0.4, 0.75, 0.3, 0.25, 180, 30)]],
  '@': [[...arc(0.55, 0.55, 0.2, 0.22, 0, 360), [0.78, 0.75], ...arc(0.5, 0.5, 0.5, 0.5, 30, -300)]],
  '*': [[[0.5, 0], [0.5, 1]], [[0.07, 0.25], [0.93, 0.75]], [[0.93, 0.25], [0.07, 0.75]]],
  '~': [[...arc(0.25, 0.5, 0.25, 0.2, 180, 360), ...arc(0.75, 0.5, 0.25, 0.2, 180, 0)]],
  '→': [[[0, 0.5], [1, 0.5]], [[0.65, 0.2], [1, 0.5], [0.65, 0.8]]],
  '↑': [[[0.5, 1], [0.5, 0]], [[0.2, 0.35], [0.5, 0], [0.8, 0.35]]],
  '♥': [[[0.5, 1], ...arc(0.27, 0.3, 0.25, 0.25, 150, 360), ...arc(0.73, 0.3, 0.25, 0.25, 180, 390), [0.5, 1]]],
};
const LETTER_KEYS = Object.keys(LETTER_STROKES);

/** A letter or symbol of LETTER_STROKES, written: a random width, slant, jitter and pen on the canvas. */
function letter(rng: Rng): Ink {
  const c = canvas();
  const strokes = LETTER_STROKES[LETTER_KEYS[rng.int(LETTER_KEYS.length)]!]!;
  const h = rng.range(26, 40), w = h * rng.range(0.5, 1.05), slant = rng.range(-0.3, 0.3), turn = rng.range(-0.15, 0.15);
  const t = rng.range(1.5, 4.5);
  const cos = Math.cos(turn), sin = Math.sin(turn);
  for (const stroke of strokes) {
    const du = rng.normal() * 0.04, dv = rng.normal() * 0.04; // each stroke a little off its place
    const pts = stroke.map(([u, v]): [number, number] => {
      const x = (u - 0.5 + du + rng.normal() * 0.015) * w + (0.5 - v) * h * slant, y = (v - 0.5 + dv + rng.normal() * 0.015) * h;
      return [28 + x * cos - y * sin, 28 + x * sin + y * cos];
    });
    strokePath(c.data, pts, t);
  }
  return c;
}

function glyph(rng: Rng): Ink {
  const c = canvas();
  const t = rng.range(1.5, 4.5);
  const sx = rng.range(10, 18), sy = rng.range(14, 20); // half the character's width and height
  const point = (): [number, number] => [28 + (rng.int(3) - 1) * sx + rng.normal() * 1.5, 28 + (rng.int(3) - 1) * sy + rng.normal() * 1.5];
  const strokes = 2 + rng.int(3);
  for (let k = 0; k < strokes; k++) {
    const a = point();
    let b = point();
    while (b[0] === a[0] && b[1] === a[1]) b = point();
    if (rng.uniform() < 0.6) {
      strokePath(c.data, [a, b], t);
    } else { // an arc bulging to one side of the chord a-b
      const bulge = rng.range(0.3, 0.9) * (rng.uniform() < 0.5 ? -1 : 1);
      const mx = (a[0] + b[0]) / 2 - bulge * (b[1] - a[1]), my = (a[1] + b[1]) / 2 + bulge * (b[0] - a[0]);
      const pts: [number, number][] = [];
      for (let s = 0; s <= 16; s++) {
        const u = s / 16;
        pts.push([(1 - u) * (1 - u) * a[0] + 2 * u * (1 - u) * mx + u * u * b[0], (1 - u) * (1 - u) * a[1] + 2 * u * (1 - u) * my + u * u * b[1]]);
      }
      strokePath(c.data, pts, t);
    }
  }
  return c;
}

function shape(rng: Rng): Ink {
  const c = canvas();
  const t = rng.range(1.5, 4.5);
  const cx = 28 + rng.range(-4, 4), cy = 28 + rng.range(-4, 4), r = rng.range(12, 22), rot = rng.range(0, 2 * Math.PI);
  const polygon = (k: number, inner = 1): [number, number][] => {
    const pts: [number, number][] = [];
    const n = inner === 1 ? k : 2 * k;
    for (let i = 0; i <= n; i++) {
      const rr = inner !== 1 && i % 2 === 1 ? r * inner : r;
      const a = rot + (2 * Math.PI * i) / n;
      pts.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)]);
    }
    return pts;
  };
  switch (rng.int(6)) {
    case 0: strokePath(c.data, polygon(3), t); break; // triangle
    case 1: strokePath(c.data, polygon(4), t); break; // square
    case 2: strokePath(c.data, polygon(5, 0.45), t); break; // star
    case 3: { // cross, an X or a +
      strokePath(c.data, [[cx - r * Math.cos(rot), cy - r * Math.sin(rot)], [cx + r * Math.cos(rot), cy + r * Math.sin(rot)]], t);
      const b = rot + Math.PI / 2 + rng.range(-0.4, 0.4);
      strokePath(c.data, [[cx - r * Math.cos(b), cy - r * Math.sin(b)], [cx + r * Math.cos(b), cy + r * Math.sin(b)]], t);
      break;
    }
    case 4: { // spiral of two turns or more
      const pts: [number, number][] = [];
      const turns = rng.range(2, 3.5);
      for (let a = 0; a < turns * 2 * Math.PI; a += 0.15) {
        const rr = (r * a) / (turns * 2 * Math.PI);
        pts.push([cx + rr * Math.cos(a + rot), cy + rr * Math.sin(a + rot)]);
      }
      strokePath(c.data, pts, t);
      break;
    }
    default: { // a grid (#) or a filled blob
      if (rng.uniform() < 0.5) {
        for (const o of [-r / 3, r / 3]) {
          strokePath(c.data, [[cx + o, cy - r], [cx + o, cy + r]], t);
          strokePath(c.data, [[cx - r, cy + o], [cx + r, cy + o]], t);
        }
      } else {
        for (let y = 0; y < CANVAS; y++) {
          for (let x = 0; x < CANVAS; x++) {
            const d = Math.hypot((x - cx) / r, (y - cy) / (r * rng.range(0.98, 1.02)));
            if (d < 0.8) c.data[y * CANVAS + x] = 255;
          }
        }
      }
    }
  }
  return c;
}

function noise(rng: Rng): Ink {
  const c = canvas();
  const specks = 5 + rng.int(40);
  for (let i = 0; i < specks; i++) {
    const x = rng.range(2, 54), y = rng.range(2, 54);
    strokePath(c.data, [[x, y], [x + rng.range(-3, 3), y + rng.range(-3, 3)]], rng.range(1, 3));
  }
  return c;
}

/**
 * Digits of `ds` at `rows`, half as the dataset has them and half passed through the same resampling
 * and normalisation as the outliers (asDrawn), a third of those drawn first with a heavier or lighter
 * pen (restroked): the gate's positives, so that it tells them apart by shape, not by how they were drawn.
 */
export function digitFields(ds: Dataset, rows: ArrayLike<number>, rng: Rng): Float32Array {
  const out = new Float32Array(rows.length * FIELD * FIELD);
  for (let i = 0; i < rows.length; i++) {
    // half as the dataset has them (what /api/predict's JSON and evaluate hand over), half as drawn
    if (rng.uniform() < 0.5) {
      out.set(ds.images.subarray(rows[i]! * 784, (rows[i]! + 1) * 784), i * FIELD * FIELD);
      continue;
    }
    const ink = rng.uniform() < 1 / 3 ? restroked(digitInk(ds, rows[i]!, 3), rng) : digitInk(ds, rows[i]!, 1);
    const pixels = asDrawn(ink, rng) ?? mnistFromInk(digitInk(ds, rows[i]!, 1).data, 28, 28).pixels;
    for (let p = 0; p < FIELD * FIELD; p++) out[i * FIELD * FIELD + p] = pixels[p]! / 255;
  }
  return out;
}

/**
 * Ink drawn again with another pen: each pixel the strongest (a heavier pen, radius up to 5 pixels
 * at a digit 84 pixels high) or the weakest (a lighter one, up to 2) of its neighbours within r.
 */
function restroked(ink: Ink, rng: Rng): Ink {
  const heavier = rng.uniform() < 0.7;
  const r = heavier ? rng.range(1.5, 5) : rng.range(0.8, 2);
  const { width: w, height: h } = ink;
  const data = new Float32Array(w * h);
  const R = Math.floor(r);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = heavier ? 0 : 255;
      for (let dy = -R; dy <= R; dy++) {
        for (let dx = -R; dx <= R; dx++) {
          if (dx * dx + dy * dy > r * r) continue;
          const X = x + dx, Y = y + dy;
          const u = X < 0 || Y < 0 || X >= w || Y >= h ? 0 : ink.data[Y * w + X]!;
          v = heavier ? Math.max(v, u) : Math.min(v, u);
        }
      }
      data[y * w + x] = v;
    }
  }
  return { data, width: w, height: h };
}
