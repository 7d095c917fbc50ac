/**
 * How well a model's confidence means what it says, and what refusing the least sure inputs buys.
 *
 * Expected calibration error (Guo et al. 2017): the images split into BINS equal-width bins of
 * their top probability; ECE is the mean over bins of |accuracy - mean confidence|, weighted by the
 * share of images in the bin. The reliability diagram plots each bin's accuracy against its
 * confidence (a calibrated model lies on the diagonal).
 *
 * Rejection curve: the images sorted by confidence, the least sure refused first; for each share
 * refused, the accuracy on the rest.
 */
import { applyTemperature, type Calibration } from '../nn/calibration.js';

/** Bins of the reliability diagram and the ECE, as Guo et al. use. */
export const BINS = 15;

/** One bin of the reliability diagram: confidences in [from, to). */
export interface ReliabilityBin {
  from: number;
  to: number;
  count: number;
  /** mean top probability in the bin (NaN when empty) */
  confidence: number;
  /** share right in the bin (NaN when empty) */
  accuracy: number;
}

/** The expected calibration error and the bins it was computed from. */
export interface CalibrationFigures {
  ece: number;
  /** largest |accuracy - confidence| of a bin that holds images */
  mce: number;
  bins: ReliabilityBin[];
}

/** A point of the rejection curve. */
export interface RejectionPoint {
  /** share of the images refused (the least confident) */
  refused: number;
  /** accuracy on the images kept (1 when none is kept) */
  accuracy: number;
  /** the confidence under which images were refused */
  threshold: number;
}

function topAndRight(probs: Float32Array, labels: ArrayLike<number>, k: number): { top: Float32Array; right: Uint8Array } {
  const n = labels.length;
  const top = new Float32Array(n);
  const right = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[r * k + c]! > probs[r * k + best]!) best = c;
    top[r] = probs[r * k + best]!;
    right[r] = best === labels[r] ? 1 : 0;
  }
  return { top, right };
}

/** ECE, MCE and the reliability bins of probabilities [n, k] against labels. */
export function calibrationFigures(probs: Float32Array, labels: ArrayLike<number>, k = 10, bins = BINS): CalibrationFigures {
  const { top, right } = topAndRight(probs, labels, k);
  const count = new Float64Array(bins), conf = new Float64Array(bins), acc = new Float64Array(bins);
  for (let r = 0; r < top.length; r++) {
    const b = Math.min(bins - 1, Math.floor(top[r]! * bins));
    count[b]! += 1;
    conf[b]! += top[r]!;
    acc[b]! += right[r]!;
  }
  let ece = 0, mce = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const c = count[b]!;
    const bin = { from: b / bins, to: (b + 1) / bins, count: c, confidence: c > 0 ? conf[b]! / c : NaN, accuracy: c > 0 ? acc[b]! / c : NaN };
    if (c > 0) {
      const gap = Math.abs(bin.accuracy - bin.confidence);
      ece += (c / Math.max(1, top.length)) * gap;
      mce = Math.max(mce, gap);
    }
    out.push(bin);
  }
  return { ece, mce, bins: out };
}

/** The figures before calibration (the network's own probabilities) and after (with `calibration`'s temperature). */
export function calibrationBeforeAfter(probs: Float32Array, labels: ArrayLike<number>, calibration: Calibration, k = 10):
  { before: CalibrationFigures; after: CalibrationFigures } {
  return {
    before: calibrationFigures(probs, labels, k),
    after: calibrationFigures(applyTemperature(probs, k, calibration.temperature), labels, k),
  };
}

/** The rejection curve at the given shares refused (default 0, 0.5%, 1%, ... 20%). */
export function rejectionCurve(probs: Float32Array, labels: ArrayLike<number>, k = 10,
  shares: readonly number[] = [0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2]): RejectionPoint[] {
  const { top, right } = topAndRight(probs, labels, k);
  const order = Array.from(top.keys()).sort((a, b) => top[a]! - top[b]!);
  // suffix sums: right answers among the images from position i on (the most confident)
  const n = order.length;
  const rightFrom = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) rightFrom[i] = rightFrom[i + 1]! + right[order[i]!]!;
  return shares.map((share) => {
    const refused = Math.min(n, Math.round(share * n));
    const kept = n - refused;
    return {
      refused: n === 0 ? 0 : refused / n,
      accuracy: kept === 0 ? 1 : rightFrom[refused]! / kept,
      threshold: refused === 0 ? 0 : top[order[refused - 1]!]!,
    };
  });
}
