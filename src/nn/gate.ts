/**
 * The digit gate: a small CNN that says whether a 28×28 field (as preprocessing makes it) holds one
 * whole digit, or something else: a scribble, a shape, part of a digit, two digits run together.
 * Outlier exposure (Hendrycks et al. 2019): the classifier's own confidence is high on much that is
 * not a digit, so a second network learns the difference from MNIST digits against generated
 * outliers (data/outliers.ts), as an eleventh class beside the ten digits (so it learns each digit's
 * shape, not only what digits share). It is one model for every digit model (it looks at the input,
 * not at a classifier's answer), trained once by `npm run gate` and shipped in the package (models/gate).
 *
 * `isDigit` is then both: the gate's probability of a digit at least its threshold (chosen on MNIST
 * training digits it did not train on, to accept all but ACCEPT_MISS of them), and the classifier's
 * calibrated confidence at least the model's threshold (nn/calibration.ts). Reading a number
 * (preprocess/segment.ts) weighs each candidate digit by the gate too.
 */
import { Conv2D } from './conv2d.js';
import { Dense } from './dense.js';
import { Flatten } from './flatten.js';
import { MaxPooling2D } from './pooling.js';
import { Sequential } from './sequential.js';
import { Adam } from './optimizers.js';
import { Tensor } from '../engine/tensor.js';

/** The gate's classes: the ten digits, then "not a digit" (NOT_A_DIGIT). */
export const GATE_CLASSES = 11;
export const NOT_A_DIGIT = 10;

/**
 * The gate's architecture: two conv/pool blocks, a dense layer, eleven outputs (the digits, and not
 * a digit). Learning which digit a field is, and not only whether it is one, makes it judge by each
 * digit's shape: an H is not a 4, a U not a 0.
 */
export function buildGate(seed = 0): Sequential {
  return gateNetwork('digit-gate', [28, 28, 1], GATE_CLASSES, seed);
}

/**
 * The gate's architecture on any input shape, with `classes` softmax outputs, compiled with Adam
 * (0.001) and cross-entropy: the gate's, and the line reader's (nn/line-reader.ts).
 */
export function gateNetwork(name: string, inputShape: readonly [number, number, number], classes: number, seed: number): Sequential {
  const model = new Sequential({
    name,
    layers: [
      new Conv2D({ filters: 32, kernelSize: 3, padding: 'valid', activation: 'relu', inputShape: [...inputShape] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Conv2D({ filters: 64, kernelSize: 3, padding: 'valid', activation: 'relu' }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 128, activation: 'relu' }),
      new Dense({ units: classes, activation: 'softmax' }),
    ],
  });
  model.build([...inputShape], seed);
  model.compile({ optimizer: new Adam({ learningRate: 0.001 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** What a saved gate records beside its weights (in its model.json's metadata). */
export interface GateFacts {
  /** a field is a digit when the gate's probability of a digit is at least this */
  threshold: number;
}

/**
 * Share of digits the gate's threshold may refuse (chosen on digits it did not train on). With the
 * classifier's own test (which refuses about 0.5%), the two together accept 99.52% of MNIST training
 * digits neither trained on (lab/gate-select.ts); at 0.005 about 99.4%: the decision keeps a margin above 99%.
 */
export const GATE_ACCEPT_MISS = 0.003;

/** A loaded gate: the network and its threshold. */
export interface Gate {
  model: Sequential;
  threshold: number;
}

/** The gate's probability that each field of x01 ([n, 784], values 0..1) holds one whole digit (1 less its probability of none). */
export function gateScores(gate: Pick<Gate, 'model'>, x01: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 0) return out;
  const p = gate.model.predict(new Tensor([n, 28, 28, 1], x01.subarray(0, n * 784)), { batchSize: Math.min(n, 256) }).data;
  for (let i = 0; i < n; i++) out[i] = 1 - p[GATE_CLASSES * i + NOT_A_DIGIT]!;
  return out;
}

/** What the gate adds to a reading. */
export interface GateSay {
  /** the gate's probability that the input is one whole digit (1 without a gate) */
  digitScore: number;
  /**
   * The input passed one of the two not-a-digit tests (the model's calibrated confidence, the gate's
   * threshold) and failed the other; false without a gate. Alone it is not a digit; in a row of digits
   * (numberFromReadings) it is read as one.
   */
  oneTest: boolean;
}

/**
 * Readings with the gate's say: each gets the gate's score on its input (x01, [n, 784], values 0..1;
 * 1 without a gate), and an input the gate scores under its threshold is not a digit. Scored in chunks.
 */
export function gatedReadings<R extends { isDigit: boolean }>(readings: R[], gate: Gate | null, x01: Float32Array): (R & GateSay)[] {
  if (gate === null) return readings.map((r) => ({ ...r, digitScore: 1, oneTest: false }));
  const scores = new Float32Array(readings.length);
  for (let from = 0; from < readings.length; from += 4096) {
    const n = Math.min(4096, readings.length - from);
    scores.set(gateScores(gate, x01.subarray(from * 784, (from + n) * 784), n), from);
  }
  return readings.map((r, i) => {
    const gatePasses = scores[i]! >= gate.threshold;
    return { ...r, isDigit: r.isDigit && gatePasses, digitScore: scores[i]!, oneTest: r.isDigit !== gatePasses };
  });
}

/** A reading as answered: without what the gate adds (its score, its test). */
export function withoutGateSay<R>({ digitScore: _s, oneTest: _t, ...reading }: R & GateSay): Omit<R, keyof GateSay> {
  return reading;
}
