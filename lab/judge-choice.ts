/**
 * How the lab judges a second opinion on a number's candidates (candidate-reader.ts,
 * context-reader.ts, gate-agrees.ts): numbers of 3-6 held-out training digits (lab/held-out.ts),
 * composed as bench/read.ts composes them, each candidate read by the model and the package's gate
 * (the scripts open the model without the line reader, the opinion it was chosen over) and given the
 * opinion's eleven probabilities (the ten digits, and none); then the share read
 * exactly, of all and of those whose every digit the model reads right alone (the benchmark's
 * figure), for each way of weighing the opinion in and each weight of the gate's score.
 */
import { composeNumber } from '../src/data/compose.js';
import { Rng } from '../src/engine/rng.js';
import { GATE_CLASSES, NOT_A_DIGIT, type GateSay } from '../src/nn/gate.js';
import { argmaxRow } from '../src/nn/losses.js';
import type { Predictor, Prediction } from '../src/run/predictor.js';
import { COSTS, chooseDigits, segmentGray, type CandidateReading, type Segmentation } from '../src/preprocess/segment.js';
import { heldOutTrainDigits } from './held-out.js';

/** A held-out number, its candidates read, and the opinion's probabilities ([candidates, GATE_CLASSES]). */
export interface JudgedNumber {
  text: string;
  /** every digit of it read right alone, and taken for a digit */
  readable: boolean;
  seg: Segmentation;
  readings: (Prediction & GateSay)[];
  opinion: Float32Array;
}

/** `count` held-out numbers (seed 7 unless told, as every lab judge), each candidate given `opinion`'s probabilities. */
export async function heldOutNumbers(predictor: Predictor, count: number,
  opinion: (seg: Segmentation, gray: Float32Array) => Float32Array, seed = 7): Promise<JudgedNumber[]> {
  const held = await heldOutTrainDigits();
  const alone = await predictor.predictBatch(held.images, held.count);
  const rng = new Rng(seed);
  const out: JudgedNumber[] = [];
  for (let k = 0; k < count; k++) {
    const rows = Array.from({ length: 3 + rng.int(4) }, () => rng.int(held.count));
    const number = composeNumber(held, rows, rng, { gap: [-2, 6] });
    const seg = segmentGray(number.image, 'a composed number', { pieceMap: true }) as Segmentation;
    out.push({
      text: number.text, readable: rows.every((r) => alone[r]!.label === held.labels![r] && alone[r]!.isDigit), seg,
      readings: await predictor.readCandidates(seg), opinion: opinion(seg, number.image.gray),
    });
  }
  return out;
}

/** A way to weigh an opinion (p: its eleven probabilities) into a candidate's reading. */
export type Weighing = (r: Prediction & GateSay, p: Float32Array) => CandidateReading;


/** The ways the lab has weighed a reader's opinion in. */
export const WEIGHINGS: Record<string, Weighing> = {
  // the model and the gate alone
  gate: (r) => r,
  // its probability of a whole digit instead of the gate's, or times it
  'reader scores': (r, p) => ({ ...r, digitScore: 1 - p[NOT_A_DIGIT]! }),
  'gate x reader': (r, p) => ({ ...r, digitScore: r.digitScore * (1 - p[NOT_A_DIGIT]!) }),
  // the gate's score times the reader's probability of the classifier's digit
  'reader agrees': (r, p) => ({ ...r, digitScore: r.digitScore * p[r.label]! }),
  // the classifier's probabilities times the reader's, the gate's score times its probability of a whole digit
  product: (r, p) => {
    const q = r.probabilities.map((v, d) => v * p[d]!);
    const best = argmaxRow(q, 0, 10), sum = q.reduce((a, b) => a + b, 0);
    return { ...r, label: best, confidence: q[best]! / Math.max(1e-12, sum), digitScore: r.digitScore * (1 - p[NOT_A_DIGIT]!) };
  },
  // the reader instead of the classifier and the gate
  'reader reads': (r, p) => {
    const best = argmaxRow(p, 0, 10);
    return { ...r, label: best, confidence: p[best]! / Math.max(1e-9, 1 - p[NOT_A_DIGIT]!), digitScore: 1 - p[NOT_A_DIGIT]! };
  },
};

/** Prints, for each weighing and gate weight, the share of `cases` read exactly: of all, and of the readable ones. */
export function judge(cases: readonly JudgedNumber[], weighings: Record<string, Weighing>, gateWeights: readonly number[]): void {
  const readable = cases.filter((c) => c.readable).length;
  for (const [name, weigh] of Object.entries(weighings)) {
    for (const gate of gateWeights) {
      const costs = { ...COSTS, gate };
      const right = cases.filter((c) => {
        const readings = c.readings.map((r, i) => weigh(r, c.opinion.subarray(i * GATE_CLASSES, (i + 1) * GATE_CLASSES)));
        return chooseDigits(c.seg, readings, costs).map((i) => readings[i]!.label).join('') === c.text;
      });
      console.log(JSON.stringify({ weighing: name, gate, exact: right.length / cases.length, exactOfReadableAlone: right.filter((c) => c.readable).length / readable }));
    }
  }
}
