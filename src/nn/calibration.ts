/**
 * What a prediction's confidence means, and when an input is not a digit.
 *
 * Confidence: temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"). A
 * network's softmax is divided through by one number T before the softmax, fitted on the validation
 * split after training to minimise the negative log-likelihood: the predicted digit never changes,
 * but a "97%" then means right about 97 times in 100. It works from the probabilities alone:
 * log p = z - logsumexp(z), and softmax((z - c) / T) = softmax(z / T) for any c, so
 * softmax(log p / T) is the temperature-scaled softmax of the logits.
 *
 * Not a digit: the calibrated top probability (the maximum-softmax score of Hendrycks & Gimpel 2017)
 * under a threshold chosen on the validation split so that all but ACCEPT_MISS of its digits are
 * accepted. docs/guide.md ("Is it a digit?") gives the measurements behind the choice of score.
 *
 * Both are saved in the model (`userDefinedMetadata.digits.calibration`); a model saved without them
 * reads with DEFAULT_CALIBRATION. No Node imports: the drawing page uses this file too.
 */

/** How a model's probabilities are read: the temperature and the not-a-digit threshold. */
export interface Calibration {
  /** divide the logits by this (1: as the network says) */
  temperature: number;
  /** an input is a digit when its calibrated top probability is at least this */
  threshold: number;
  /** validation images both were fitted on (0: the defaults, not fitted) */
  images: number;
}

/**
 * For models saved without a calibration (older Digits versions, TF.js): the network's own
 * probabilities, and "not a digit" under 0.5, where no class has the majority.
 */
export const DEFAULT_CALIBRATION: Readonly<Calibration> = Object.freeze({ temperature: 1, threshold: 0.5, images: 0 });

/** Share of validation digits the threshold may refuse (its choice accepts all but this share). */
export const ACCEPT_MISS = 0.005;

/** Smallest probability taken as such before its log (float32 softmax underflows to 0). */
const TINY = 1e-30;
/** The temperature is searched in [1/T_RANGE, T_RANGE]. */
const T_RANGE = 20;

/** A digit read: the label, the calibrated probabilities, the top one as the confidence, and whether it is a digit at all. */
export interface Reading {
  label: number;
  /** the calibrated probability of `label`, 0..1 */
  confidence: number;
  /** false: the input does not look like any digit (confidence under the model's threshold) */
  isDigit: boolean;
  /** the ten calibrated class probabilities */
  probabilities: number[];
}

/** Row r of `probs` ([n, k]) scaled by temperature t into `out` (length k). */
function scaledRow(probs: Float32Array, r: number, k: number, t: number, out: Float64Array): void {
  let max = -Infinity;
  for (let c = 0; c < k; c++) {
    const v = Math.log(Math.max(probs[r * k + c]!, TINY)) / t;
    out[c] = v;
    if (v > max) max = v;
  }
  let sum = 0;
  for (let c = 0; c < k; c++) sum += (out[c] = Math.exp(out[c]! - max));
  for (let c = 0; c < k; c++) out[c]! /= sum;
}

/** Probabilities [n, k] with temperature t applied: a new array (t = 1 gives the same values back, renormalised). */
export function applyTemperature(probs: Float32Array, k: number, t: number): Float32Array {
  const n = probs.length / k;
  const out = new Float32Array(probs.length);
  const row = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    scaledRow(probs, r, k, t, row);
    for (let c = 0; c < k; c++) out[r * k + c] = row[c]!;
  }
  return out;
}

/** Mean negative log-likelihood of `labels` under `probs` ([n, k]) at temperature t. */
export function temperatureNll(probs: Float32Array, labels: ArrayLike<number>, k: number, t: number): number {
  const n = labels.length;
  const row = new Float64Array(k);
  let sum = 0;
  for (let r = 0; r < n; r++) {
    scaledRow(probs, r, k, t, row);
    sum -= Math.log(Math.max(row[labels[r]!]!, TINY));
  }
  return sum / n;
}

/**
 * The temperature that minimises the validation NLL: a golden-section search over log T in
 * [-ln 20, ln 20] (the NLL is convex in 1/T, so unimodal in log T), to a relative precision of 1e-4.
 */
export function fitTemperature(probs: Float32Array, labels: ArrayLike<number>, k = 10): number {
  if (labels.length === 0) return 1;
  const f = (logT: number): number => temperatureNll(probs, labels, k, Math.exp(logT));
  const g = (Math.sqrt(5) - 1) / 2;
  let a = -Math.log(T_RANGE), b = Math.log(T_RANGE);
  let c = b - g * (b - a), d = a + g * (b - a);
  let fc = f(c), fd = f(d);
  while (b - a > 1e-4) {
    if (fc < fd) {
      b = d; d = c; fd = fc; c = b - g * (b - a); fc = f(c);
    } else {
      a = c; c = d; fc = fd; d = a + g * (b - a); fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}

/** Top probability of each row of `probs` ([n, k]). */
export function topProbabilities(probs: Float32Array, k = 10): Float32Array {
  const n = probs.length / k;
  const top = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let m = 0;
    for (let c = 0; c < k; c++) if (probs[r * k + c]! > m) m = probs[r * k + c]!;
    top[r] = m;
  }
  return top;
}

/** The threshold that accepts all but `miss` of the digits whose calibrated top probabilities are `top`. */
export function acceptanceThreshold(top: Float32Array, miss = ACCEPT_MISS): number {
  if (top.length === 0) return DEFAULT_CALIBRATION.threshold;
  const sorted = Float32Array.from(top).sort();
  return sorted[Math.floor(miss * sorted.length)]!;
}

/** A calibration fitted on validation probabilities ([n, k], the network's own) and their labels. */
export function fitCalibration(probs: Float32Array, labels: ArrayLike<number>, k = 10): Calibration {
  if (labels.length === 0) return { ...DEFAULT_CALIBRATION };
  const temperature = fitTemperature(probs, labels, k);
  const threshold = acceptanceThreshold(topProbabilities(applyTemperature(probs, k, temperature), k));
  return { temperature, threshold, images: labels.length };
}

/** Each row of the network's probabilities ([n, k]) read with `calibration`: label, confidence, isDigit, calibrated probabilities. */
export function readProbabilities(probs: Float32Array, k: number, calibration: Calibration = DEFAULT_CALIBRATION): Reading[] {
  const n = probs.length / k;
  const row = new Float64Array(k);
  const out: Reading[] = [];
  for (let r = 0; r < n; r++) {
    scaledRow(probs, r, k, calibration.temperature, row);
    let label = 0;
    for (let c = 1; c < k; c++) if (row[c]! > row[label]!) label = c;
    const confidence = row[label]!;
    out.push({ label, confidence, isDigit: confidence >= calibration.threshold, probabilities: Array.from(row) });
  }
  return out;
}

/** A calibration as saved, checked field by field (`where` names the JSON path); throws a message naming the field. */
export function parseCalibration(raw: unknown, where: string, fail: (field: string, expected: string, actual: unknown) => never): Calibration {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail(where, 'an object {temperature, threshold, images}', raw);
  const c = raw as Record<string, unknown>;
  const t = c.temperature, th = c.threshold, im = c.images;
  if (typeof t !== 'number' || !(t > 0) || !Number.isFinite(t)) fail(`${where}.temperature`, 'a positive number', t);
  if (typeof th !== 'number' || !(th >= 0 && th <= 1)) fail(`${where}.threshold`, 'a number from 0 to 1', th);
  if (!Number.isInteger(im) || (im as number) < 0) fail(`${where}.images`, 'a whole number >= 0', im);
  return { temperature: t as number, threshold: th as number, images: im as number };
}
