/**
 * The line reader: a small CNN that reads a candidate digit of a number in its place in the line
 * (preprocess/segment.ts Candidate.line: the candidate's own ink, and beside it its neighbours'),
 * as eleven classes: the ten digits, and "not one whole digit" (part of a digit, or parts of two).
 * The classifier and the gate see a candidate alone, and a stem cut out of a 4 is a 1 to anyone who
 * sees it alone; beside the rest of the 4 it is not. One reader serves every digit model: it is
 * trained once on numbers composed of MNIST training digits, by `npm run line-reader`
 * (run/line-reader.ts), and shipped in the package (models/line-reader).
 *
 * Reading a number weighs each candidate by both (inLine): the digit chosen is the one the
 * classifier's probabilities times the reader's (at LINE_WEIGHT) make likeliest, and the gate's score
 * is multiplied by the reader's probability of a whole digit (at LINE_WEIGHT too). The confidence
 * answered stays the classifier's calibrated probability of that digit.
 */
import type { Sequential } from './sequential.js';
import { Tensor } from '../engine/tensor.js';
import type { Reading } from './calibration.js';
import { gateNetwork, type GateSay } from './gate.js';

/** The reader's classes: the ten digits, then "not one whole digit" (NOT_WHOLE). */
export const LINE_CLASSES = 11;
/** The reader's class for a candidate that is not one whole digit: part of a digit, or parts of two. */
export const NOT_WHOLE = 10;
/**
 * A line field's shape (preprocess/segment.ts Candidate.line): [height, width, channels], the
 * channels the candidate's own ink and the line's other ink. Wider than a digit's field, so that
 * what goes on beside the candidate shows.
 */
export const LINE_SHAPE: readonly [number, number, number] = Object.freeze([28, 40, 2] as [number, number, number]);

/** The reader's architecture: the gate's (two conv/pool blocks, a dense layer), on a wider, two-channel field. */
export function buildLineReader(seed = 0): Sequential {
  return gateNetwork('line-reader', LINE_SHAPE, LINE_CLASSES, seed);
}

/** The reader's probabilities ([n, LINE_CLASSES]) for n line fields laid back to back in `lines`, in chunks. */
export function lineProbabilities(reader: Sequential, lines: Float32Array, n: number): Float32Array {
  const per = LINE_SHAPE[0] * LINE_SHAPE[1] * LINE_SHAPE[2];
  const out = new Float32Array(n * LINE_CLASSES);
  for (let from = 0; from < n; from += 1024) {
    const m = Math.min(1024, n - from);
    const p = reader.predict(new Tensor([m, ...LINE_SHAPE], lines.subarray(from * per, (from + m) * per)), { batchSize: Math.min(m, 256) });
    out.set(p.data, from * LINE_CLASSES);
  }
  return out;
}

/**
 * The power the reader's probabilities are raised to where they weigh in (a product of experts
 * tempered: the classifier's probabilities times the reader's to this power). Half: chosen by
 * lab/line-weights.ts on numbers of held-out training digits, over 0.5-2 for the digits and the
 * probability of a whole digit apart.
 */
export const LINE_WEIGHT = 0.5;

/** What the line reader adds to a candidate's reading. */
export interface LineSay {
  /**
   * how much likelier the two readers together make the label than the classifier alone: the
   * reader's probability of it over the sum of the classifier's probabilities times the reader's
   * (each of the reader's at LINE_WEIGHT; 1 without a reader). The choice of digits adds its log to
   * the classifier's log confidence.
   */
  lineAgreement: number;
}

/**
 * Readings of a number's candidates with the line reader's say (`probs`: lineProbabilities, one row
 * per reading): the label the classifier's probabilities times the reader's (at LINE_WEIGHT) make
 * likeliest, with the classifier's calibrated probability of it as the confidence, and the gate's
 * score times the reader's probability of one whole digit (at LINE_WEIGHT).
 */
export function inLine<R extends Reading & GateSay>(readings: readonly R[], probs: Float32Array): (R & LineSay)[] {
  return readings.map((r, i) => {
    const q = probs.subarray(i * LINE_CLASSES, (i + 1) * LINE_CLASSES);
    let label = 0, best = -1, sum = 0;
    for (let d = 0; d < 10; d++) {
      const v = r.probabilities[d]! * q[d]! ** LINE_WEIGHT;
      sum += v;
      if (v > best) { best = v; label = d; }
    }
    return {
      ...r, label, confidence: r.probabilities[label]!,
      digitScore: r.digitScore * Math.max(0, 1 - q[NOT_WHOLE]!) ** LINE_WEIGHT,
      lineAgreement: sum > 0 ? q[label]! ** LINE_WEIGHT / sum : 1,
    };
  });
}
