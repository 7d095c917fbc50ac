/**
 * Reading a number: an image of digits written in a row cut into one 28×28 field a digit, by
 * over-segmenting it and letting the classifier choose (docs/guide.md, "Reading a number").
 *
 *   ink map (pixels.ts: either polarity, contrast stretched)
 *   → connected components of the ink (8-connected, above INK_THRESHOLD; faint edge pixels join the
 *     stroke they touch); specks far smaller than the largest mark are dropped
 *   → pieces: each component, and a component wide for its height cut at the columns where its ink
 *     is thinnest (where touching digits meet), at most MAX_CUTS of them, then into slivers no wider
 *     than SLIVER of its height
 *   → candidates: every run of up to MAX_SPAN neighbouring pieces (in reading order, left to right),
 *     as a digit would be if they were one (a 4 in two strokes, a 5 with a detached bar); each made
 *     MNIST-like (mnistFromInk) from its own strokes only, and seen in its line too (its line field:
 *     its ink and its neighbours', for the line reader, nn/line-reader.ts)
 *   → the classifier reads every candidate (one batch), the line reader weighs in, and `chooseDigits`
 *     picks the segmentation (a path through the pieces) that maximises the sum of the log
 *     confidences of its digits (times the line reader's agreement), less
 *     the costs of implausible shapes: a digit much wider than tall, a cut through one stroke, two
 *     digits that overlap most of their width.
 *
 * The pixel work (segmentInk) is separate from the choice (chooseDigits), so the server does the one
 * on a worker thread and the other beside its model. No Node imports: the drawing page runs it too.
 */
import { LINE_SHAPE } from '../nn/line-reader.js';
import { BOX, INK_THRESHOLD, ImageError, cropInk, inkMap, isFaint, mnistFromInk, type Box, type GrayImage, type Polarity } from './pixels.js';

/** Most pieces a line may be cut into (the work grows with pieces × MAX_SPAN): a line of some 40 digits. */
export const MAX_PIECES = 256;
/** Most pieces merged into one digit. */
export const MAX_SPAN = 12;
/** Most cuts through one connected component at its thinnest columns (its slivers, SLIVER, add more). */
export const MAX_CUTS = 8;

/** A run of pieces read as one digit: where it is and the 28×28 field (0..255) the classifier sees. */
export interface Candidate {
  /** first piece (inclusive) */
  from: number;
  /** last piece (exclusive) */
  to: number;
  /** the ink's bounding box in the image */
  box: Box;
  /** [28, 28] row-major, 0..255, white on black */
  pixels: Float32Array;
  /** width / height of its box */
  aspect: number;
  /** its height / the line's (the median height of the image's larger marks) */
  relativeHeight: number;
  /** over the boundaries inside it between pieces of different strokes: the sum of (1 - their overlap) */
  joined: number;
  /**
   * the candidate in its line, what the line reader sees (nn/line-reader.ts): LINE_SHAPE ([28, 40, 2])
   * row-major, 0..1, its own ink in channel 0 and the line's other ink in channel 1
   */
  line: Float32Array;
}

/**
 * In a line field (Candidate.line) the candidate's box is scaled so that its longer side (or half the
 * line's height, for a small mark) is this many pixels, as a digit's is in its field, and centred.
 */
export const LINE_SIDE = 20;
/** Samples per pixel of a line field, each way. */
const LINE_SAMPLES = 3;

/** An image cut into pieces, and the candidate digits made of them. */
export interface Segmentation {
  width: number;
  height: number;
  polarity: Polarity;
  /** pieces, left to right */
  pieces: number;
  /** the boundary before piece i (index 1..pieces-1): whether it cuts through a stroke, and how much of the narrower piece's width the two overlap (0..1) */
  boundaries: { cut: boolean; overlap: number }[];
  candidates: Candidate[];
  /** per pixel, the piece (0..pieces-1) it belongs to, -1 for none; only when asked for (segmentInk's `pieceMap`) */
  pieceMap?: Int32Array;
}

/** A piece: the pixels of component `comp` inside `box` (a component cut into pieces is cut between their columns). */
interface Piece {
  comp: number;
  box: Box;
  /** made by cutting a component (the boundary at its left is a cut through ink) */
  cutLeft: boolean;
}

/** The costs (nats) of implausible digits and boundaries, against the log confidences of the digits read. */
export interface SegmentCosts {
  /** per unit of a digit's width/height past `wideAspect` */
  wide: number;
  wideAspect: number;
  /** a boundary that cuts through a stroke */
  cut: number;
  /** a boundary between two digits, per share of the narrower one's width they overlap */
  overlap: number;
  /** a digit made of separate strokes, per boundary between them, times (1 - their overlap) */
  join: number;
  /** a reward per digit: without it, fewer digits always win (each adds a log confidence, never above 0) */
  digit: number;
  /** a reward per digit the line reader read too (CandidateReading.lineAgreement), beside `digit`: its say adds a log term to each */
  lineReward: number;
  /** the weight of the log of the gate's digit score */
  gate: number;
  /** a digit shorter than `shortRatio` of the line's height, per share of that it is short of it: a fragment read as a digit */
  short: number;
  shortRatio: number;
  /** a mark cut into pieces stays whole when, whole, it is a digit with a gate score at least this */
  keepWhole: number;
  /** a mark counts as a digit outright, for whether the line is a number, when a digit with a gate score at least this */
  lineDigit: number;
}

/** The costs `chooseDigits` uses: tuned on numbers composed of MNIST training digits (lab/read-tune.ts; lineReward lab/line-weights.ts), never on its test set. */
export const COSTS: Readonly<SegmentCosts> = Object.freeze({ wide: 1, wideAspect: 1.2, cut: 0.5, overlap: 1, join: 0.5, digit: 0.5, lineReward: 0.5, gate: 0.5, short: 2, shortRatio: 0.6, keepWhole: 0.9, lineDigit: 0.3 });

/** What a segmentation gives besides its candidates. */
export interface SegmentOptions {
  /** also the piece each pixel belongs to (Segmentation.pieceMap), to tell which ink each candidate holds */
  pieceMap?: boolean;
}

/** A decoded image → its candidates (see the module comment). Throws an ImageError when it holds no ink. */
export function segmentGray(img: GrayImage, where = 'image', o: SegmentOptions = {}): Segmentation {
  const { ink, polarity } = inkMap(img);
  return { ...segmentInk(ink, img.width, img.height, where, o), polarity };
}

/** An ink map [h, w] (0 none .. 255) → its candidates. */
export function segmentInk(ink: Float32Array, w: number, h: number, where = 'image', o: SegmentOptions = {}): Omit<Segmentation, 'polarity'> {
  const { label, comps } = components(ink, w, h);
  if (comps.length === 0) throw new ImageError(`${where}: the image is blank (no ink found to read a digit from)`);
  const maxArea = Math.max(...comps.map((c) => c.area));
  const maxHeight = Math.max(...comps.map((c) => c.box.y1 - c.box.y0));
  // specks: tiny beside the largest mark, in area and in height
  const kept = comps.filter((c) => !(c.area * 40 < maxArea && (c.box.y1 - c.box.y0) * 4 < maxHeight));

  // the line's height: the median height of the marks of at least a quarter of the largest's area (not fragments)
  const heights = kept.filter((c) => c.area * 4 >= maxArea).map((c) => c.box.y1 - c.box.y0).sort((a, b) => a - b);
  const lineHeight = heights[heights.length >> 1]!;
  // the pen is the row's: whether it draws a faint line is measured once, on all the ink, at the
  // scale that makes the row's digits as tall as MNIST's box (a piece of a digit alone may look faint)
  const row = kept.reduce((u, c) => union(u, c.box), kept[0]!.box);
  const faint = isFaint(cropInk(ink, w, row), row.x1 - row.x0, row.y1 - row.y0, BOX / lineHeight);
  const pieces: Piece[] = [];
  for (const c of kept) {
    const cuts = cutColumns(label, w, c);
    let xa = c.box.x0;
    for (const [k, x] of [...cuts, c.box.x1].entries()) {
      const box = pieceBox(label, ink, w, c.id, xa, x, c.box);
      if (box !== null) pieces.push({ comp: c.id, box, cutLeft: k > 0 });
      xa = x;
    }
  }
  if (pieces.length > MAX_PIECES) {
    throw new ImageError(`${where}: the ink falls into ${pieces.length} pieces (its marks, wide ones cut where digits may touch); ` +
      `a number of at most ${MAX_PIECES} pieces is read (send one row of digits, without a background pattern)`);
  }
  pieces.sort((a, b) => (a.box.x0 + a.box.x1) - (b.box.x0 + b.box.x1));

  const boundaries = pieces.map((p, i) => {
    if (i === 0) return { cut: false, overlap: 0 };
    const a = pieces[i - 1]!.box, b = p.box;
    const overlap = Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0));
    const narrower = Math.max(1, Math.min(a.x1 - a.x0, b.x1 - b.x0));
    return { cut: p.cutLeft && p.comp === pieces[i - 1]!.comp, overlap: Math.min(1, overlap / narrower) };
  });

  const pieceMap = new Int32Array(w * h).fill(-1);
  pieces.forEach((p, i) => {
    for (let y = p.box.y0; y < p.box.y1; y++) for (let x = p.box.x0; x < p.box.x1; x++) if (label[y * w + x] === p.comp) pieceMap[y * w + x] = i;
  });
  const candidates: Candidate[] = [];
  for (let from = 0; from < pieces.length; from++) {
    for (let to = from + 1; to <= Math.min(pieces.length, from + MAX_SPAN); to++) {
      const run = pieces.slice(from, to);
      const box = run.reduce((u, p) => union(u, p.box), run[0]!.box);
      const bw = box.x1 - box.x0, bh = box.y1 - box.y0;
      // a run of several pieces is one digit only if it is not much wider than tall (a longer run may
      // be: the two ends of a 7's bar are wide, the bar with its stem is not)
      if (to - from > 1 && bw > 1.6 * bh) continue;
      const crop = new Float32Array(bw * bh);
      for (const p of run) {
        for (let y = p.box.y0; y < p.box.y1; y++) {
          for (let x = p.box.x0; x < p.box.x1; x++) {
            if (label[y * w + x] === p.comp) crop[(y - box.y0) * bw + x - box.x0] = ink[y * w + x]!;
          }
        }
      }
      const { pixels } = mnistFromInk(crop, bw, bh, where, { faint });
      let joined = 0;
      for (let k = from + 1; k < to; k++) if (!boundaries[k]!.cut) joined += 1 - boundaries[k]!.overlap;
      const line = lineField(ink, pieceMap, w, h, from, to, box, lineHeight);
      candidates.push({ from, to, box, pixels, aspect: bw / bh, relativeHeight: bh / lineHeight, joined, line });
    }
  }
  const seg = { width: w, height: h, pieces: pieces.length, boundaries, candidates };
  return o.pieceMap ? { ...seg, pieceMap } : seg;
}

/**
 * The candidate made of pieces [from, to) seen in its line (Candidate.line): each pixel of the field
 * the mean of LINE_SAMPLES² samples of the ink, into channel 0 where they fall on the candidate's
 * pieces, into channel 1 where they fall on the line's other pieces (specks left out).
 */
function lineField(ink: Float32Array, pieceMap: Int32Array, w: number, h: number, from: number, to: number, box: Box, lineHeight: number): Float32Array {
  const [H, W] = LINE_SHAPE;
  const s = LINE_SIDE / Math.max(box.x1 - box.x0, box.y1 - box.y0, 0.5 * lineHeight);
  const cx = (box.x0 + box.x1) / 2, cy = (box.y0 + box.y1) / 2;
  const out = new Float32Array(H * W * 2);
  const per = 1 / (255 * LINE_SAMPLES * LINE_SAMPLES);
  for (let gy = 0; gy < H; gy++) {
    for (let sy = 0; sy < LINE_SAMPLES; sy++) {
      const y = Math.floor(cy + (gy + (sy + 0.5) / LINE_SAMPLES - H / 2) / s);
      if (y < 0 || y >= h) continue;
      for (let gx = 0; gx < W; gx++) {
        for (let sx = 0; sx < LINE_SAMPLES; sx++) {
          const x = Math.floor(cx + (gx + (sx + 0.5) / LINE_SAMPLES - W / 2) / s);
          if (x < 0 || x >= w) continue;
          const p = pieceMap[y * w + x]!;
          if (p < 0) continue;
          out[(gy * W + gx) * 2 + (p >= from && p < to ? 0 : 1)]! += ink[y * w + x]! * per;
        }
      }
    }
  }
  return out;
}

/** A candidate's reading, as the classifier gave it (calibrated). */
export interface CandidateReading {
  label: number;
  confidence: number;
  isDigit: boolean;
  /** the digit gate's probability that it is one whole digit (nn/gate.ts); absent: no gate */
  digitScore?: number;
  /** it passed one of the two not-a-digit tests and failed the other (nn/gate.ts GateSay): in a row of digits, a digit */
  oneTest?: boolean;
  /** the line reader's agreement with the label (nn/line-reader.ts LineSay); absent: no line reader */
  lineAgreement?: number;
}

/**
 * The cut boundaries no digit may end at (1 at index i: the boundary before piece i stays): a mark
 * cut into pieces stays whole when, whole, it is a digit with a gate score at least `keepWhole`. Cuts
 * are for touching digits, which whole are not one (the gate learned that), not for a digit drawn in
 * one stroke.
 */
export function keptWhole(seg: Pick<Segmentation, 'pieces' | 'boundaries' | 'candidates'>, readings: readonly CandidateReading[],
  keepWhole: number): Uint8Array {
  const n = seg.pieces;
  const uncut = new Uint8Array(n + 1);
  for (let a = 0; a < n;) {
    let b = a + 1;
    while (b < n && seg.boundaries[b]!.cut) b++;
    if (b - a > 1) {
      const whole = seg.candidates.findIndex((c) => c.from === a && c.to === b);
      if (whole >= 0 && readings[whole]!.isDigit && (readings[whole]!.digitScore ?? 1) >= keepWhole) for (let k = a + 1; k < b; k++) uncut[k] = 1;
    }
    a = b;
  }
  return uncut;
}

/** The digits chosen: indices into `seg.candidates`, left to right (see the module comment). */
export function chooseDigits(seg: Pick<Segmentation, 'pieces' | 'boundaries' | 'candidates'>, readings: readonly CandidateReading[],
  costs: SegmentCosts = COSTS): number[] {
  const n = seg.pieces;
  const uncut = keptWhole(seg, readings, costs.keepWhole);
  const best = new Float64Array(n + 1).fill(-Infinity);
  const back = new Int32Array(n + 1).fill(-1);
  best[0] = 0;
  const byFrom: number[][] = Array.from({ length: n }, () => []);
  seg.candidates.forEach((c, i) => byFrom[c.from]!.push(i));
  for (let from = 0; from < n; from++) {
    if (best[from] === -Infinity) continue;
    for (const i of byFrom[from]!) {
      const c = seg.candidates[i]!;
      if (uncut[c.to]) continue;
      const b = seg.boundaries[from]!;
      const line = readings[i]!.lineAgreement;
      const score = best[from]! + costs.digit + (line === undefined ? 0 : costs.lineReward) + Math.log(Math.max(readings[i]!.confidence * (line ?? 1), 1e-6)) +
        costs.gate * Math.log(Math.max(readings[i]!.digitScore ?? 1, 1e-6)) - costs.wide * Math.max(0, c.aspect - costs.wideAspect) -
        costs.join * c.joined - costs.short * Math.max(0, costs.shortRatio - c.relativeHeight) / costs.shortRatio - (from > 0 ? (b.cut ? costs.cut : 0) + costs.overlap * b.overlap : 0);
      if (score > best[c.to]!) {
        best[c.to] = score;
        back[c.to] = i;
      }
    }
  }
  const chosen: number[] = [];
  for (let at = n; at > 0;) {
    const i = back[at]!;
    chosen.push(i);
    at = seg.candidates[i]!.from;
  }
  return chosen.reverse();
}

// ------------------------------------------------------------------------------------------- helpers

interface Component {
  id: number;
  area: number;
  box: Box;
}

/**
 * 8-connected components of the pixels above INK_THRESHOLD, labelled 1..n in `label`; the fainter
 * ink pixels (the anti-aliased edges of a stroke) take the label of a stroke pixel they touch.
 */
function components(ink: Float32Array, w: number, h: number): { label: Int32Array; comps: Component[] } {
  const label = new Int32Array(w * h);
  const comps: Component[] = [];
  const stack = new Int32Array(w * h);
  for (let start = 0; start < w * h; start++) {
    if (label[start] !== 0 || !(ink[start]! > INK_THRESHOLD)) continue;
    const id = comps.length + 1;
    let top = 0, area = 0;
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    stack[top++] = start;
    label[start] = id;
    while (top > 0) {
      const p = stack[--top]!;
      const px = p % w, py = (p - px) / w;
      area++;
      if (px < x0) x0 = px;
      if (px > x1) x1 = px;
      if (py < y0) y0 = py;
      if (py > y1) y1 = py;
      for (let dy = -1; dy <= 1; dy++) {
        const qy = py + dy;
        if (qy < 0 || qy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const qx = px + dx;
          if (qx < 0 || qx >= w) continue;
          const q = qy * w + qx;
          if (label[q] === 0 && ink[q]! > INK_THRESHOLD) {
            label[q] = id;
            stack[top++] = q;
          }
        }
      }
    }
    comps.push({ id, area, box: { x0, y0, x1: x1 + 1, y1: y1 + 1 } });
  }
  // faint edges join a stroke they touch (4-neighbours), within the stroke's box grown by a pixel
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (label[p] !== 0 || !(ink[p]! > 0)) continue;
      const l = (x > 0 && label[p - 1]! > 0 ? label[p - 1]! : 0) || (x < w - 1 && label[p + 1]! > 0 ? label[p + 1]! : 0) ||
        (y > 0 && label[p - w]! > 0 ? label[p - w]! : 0) || (y < h - 1 && label[p + w]! > 0 ? label[p + w]! : 0);
      if (l > 0) {
        label[p] = -l; // marked, so that it does not spread further this pass
        const b = comps[l - 1]!.box;
        if (x < b.x0) b.x0 = x;
        if (x >= b.x1) b.x1 = x + 1;
        if (y < b.y0) b.y0 = y;
        if (y >= b.y1) b.y1 = y + 1;
      }
    }
  }
  for (let p = 0; p < w * h; p++) if (label[p]! < 0) label[p] = -label[p]!;
  return { label, comps };
}

/** A component cut into pieces is cut into slivers no wider than this share of its height. */
export const SLIVER = 0.15;

/**
 * Where to cut a component that is wide for its height: the columns where its ink is thinnest (local
 * minima of its column counts), at least 0.08 of its height from its ends and from each other,
 * thinnest first, at most MAX_CUTS; then every piece wider than SLIVER of the height is cut evenly
 * into slivers no wider than that. A component no wider than half its height is not cut. Where a
 * number was misread for want of a candidate that holds a digit alone, a vertical cut would nearly
 * always have parted the digits, at a column no local minimum marked (lab/read-diagnose.ts): the
 * slivers put a cut near every column, and the classifier and the costs choose among them.
 */
function cutColumns(label: Int32Array, w: number, c: Component): number[] {
  const { x0, x1, y0, y1 } = c.box;
  const bw = x1 - x0, bh = y1 - y0;
  if (bw <= 0.5 * bh || bw < 6) return [];
  const counts = new Float64Array(bw);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (label[y * w + x] === c.id) counts[x - x0]! += 1;
  // a piece may be as narrow as a 1; cuts keep apart by more than a stroke's width
  const margin = Math.max(2, Math.round(0.08 * bh));
  const spacing = Math.max(3, Math.round(0.08 * bh));
  const smooth = (i: number): number => (counts[i - 1]! + 2 * counts[i]! + counts[i + 1]!) / 4;
  const minima: { x: number; v: number }[] = [];
  for (let i = Math.max(1, margin); i < Math.min(bw - 1, bw - margin); i++) {
    const v = smooth(i);
    if (v <= smooth(i - 1) && v <= smooth(i + 1)) minima.push({ x: x0 + i, v });
  }
  minima.sort((a, b) => a.v - b.v || a.x - b.x);
  const cuts: number[] = [];
  const most = Math.min(MAX_CUTS, Math.floor(bw / (0.1 * bh)));
  for (const m of minima) {
    if (cuts.length >= most) break;
    if (cuts.every((x) => Math.abs(x - m.x) >= spacing)) cuts.push(m.x);
  }
  const ends = [x0, ...cuts.sort((a, b) => a - b), x1];
  for (let i = 1; i < ends.length; i++) {
    const a = ends[i - 1]!, b = ends[i]!, k = Math.ceil((b - a) / (SLIVER * bh));
    for (let j = 1; j < k; j++) cuts.push(Math.round(a + (j * (b - a)) / k));
  }
  return cuts.sort((a, b) => a - b);
}

/** The box of component `id`'s pixels in columns [xa, xb) (null: none there, or only its faint edge). */
function pieceBox(label: Int32Array, ink: Float32Array, w: number, id: number, xa: number, xb: number, within: Box): Box | null {
  let x0 = xb, y0 = within.y1, x1 = -1, y1 = -1, stroke = false;
  for (let y = within.y0; y < within.y1; y++) {
    for (let x = xa; x < xb; x++) {
      if (label[y * w + x] !== id) continue;
      if (ink[y * w + x]! > INK_THRESHOLD) stroke = true;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return stroke ? { x0, y0, x1: x1 + 1, y1: y1 + 1 } : null;
}

function union(a: Box, b: Box): Box {
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

/** A mark not read as a digit and shorter than this share of the line's height is left out of a number. */
export const SMALL_MARK = 0.6;

/** One digit of a number read: its reading and where it is in the image. */
export interface DigitRead extends CandidateReading {
  box: { x: number; y: number; width: number; height: number };
}

/** A number read from an image: its text ("?" for a mark that is not a digit) and each digit, left to right. */
export interface NumberRead {
  text: string;
  digits: DigitRead[];
}

/** The number `seg` holds, given the classifier's reading of each of its candidates. */
export function numberFromReadings(seg: Pick<Segmentation, 'pieces' | 'boundaries' | 'candidates'>, readings: readonly CandidateReading[],
  classNames: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], costs: SegmentCosts = COSTS): NumberRead {
  // a small mark that is not a digit (a stray dot, a stroke broken off) is left out, not read as "?"
  const chosen = chooseDigits(seg, readings, costs).filter((i) => readings[i]!.isDigit || seg.candidates[i]!.relativeHeight >= SMALL_MARK);
  // in a row of digits, one of the two not-a-digit tests is enough: when most of the marks chosen are
  // digits outright (both tests, and a gate score of at least costs.lineDigit), a mark of the line's
  // height is likelier a digit than the same mark alone (the gate alone refuses 0.3% of digits, the
  // confidence 0.5%, both together up to 0.8%). A line where most marks are not digits outright is no
  // number (a scribble cut into pieces, some of which look like a 1 or a 7): every mark is "?"
  const outright = (i: number): boolean => readings[i]!.isDigit && (readings[i]!.digitScore ?? 1) >= costs.lineDigit;
  const amongDigits = 2 * chosen.filter(outright).length > chosen.length;
  const digits = chosen.map((i): DigitRead => {
    const { box } = seg.candidates[i]!;
    const r = readings[i]!;
    const isDigit = amongDigits && (r.isDigit || r.oneTest === true);
    return { label: r.label, confidence: r.confidence, isDigit, box: { x: box.x0, y: box.y0, width: box.x1 - box.x0, height: box.y1 - box.y0 } };
  });
  return { text: digits.map((d) => (d.isDigit ? classNames[d.label] ?? String(d.label) : '?')).join(''), digits };
}

/** The candidates' fields as one batch of model input, values 0..1: [n, 784]. */
export function candidateBatch(seg: Pick<Segmentation, 'candidates'>): Float32Array {
  const per = 28 * 28;
  const x = new Float32Array(seg.candidates.length * per);
  seg.candidates.forEach((c, i) => {
    for (let k = 0; k < per; k++) x[i * per + k] = c.pixels[k]! / 255;
  });
  return x;
}

/** The candidates' line fields as one batch of the line reader's input: [n, ...LINE_SHAPE]. */
export function lineBatch(seg: Pick<Segmentation, 'candidates'>): Float32Array {
  const per = LINE_SHAPE[0] * LINE_SHAPE[1] * LINE_SHAPE[2];
  const x = new Float32Array(seg.candidates.length * per);
  seg.candidates.forEach((c, i) => x.set(c.line, i * per));
  return x;
}
