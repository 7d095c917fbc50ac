/**
 * Classification metrics: confusion matrix, per-class precision/recall/F1,
 * the most confused pairs, and their plain-text rendering for the terminal.
 */
import { argmaxRow } from '../nn/losses.js';

/** Precision, recall, F1 and support of one class. */
export interface ClassMetrics {
  readonly label: number;
  readonly support: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

/** A true class, the class it was read as, and how often. */
export interface ConfusedPair {
  readonly actual: number;
  readonly predicted: number;
  readonly count: number;
}

/** Accuracy, per-class figures, macro F1 and the confusion matrix of a set of predictions. */
export interface ClassificationReport {
  readonly accuracy: number;
  readonly total: number;
  readonly correct: number;
  /** matrix[actual][predicted] */
  readonly confusion: number[][];
  readonly perClass: ClassMetrics[];
  readonly macroF1: number;
}

/** matrix[actual][predicted] = count */
export function confusionMatrix(actual: ArrayLike<number>, predicted: ArrayLike<number>, classes = 10): number[][] {
  if (actual.length !== predicted.length) {
    throw new Error(`confusionMatrix: ${actual.length} labels but ${predicted.length} predictions`);
  }
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < actual.length; i++) m[actual[i]!]![predicted[i]!]! += 1;
  return m;
}

/** Precision, recall and F1 per class; a class never predicted (or absent) gets 0 rather than NaN. */
export function perClassMetrics(confusion: number[][]): ClassMetrics[] {
  const k = confusion.length;
  const out: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const tp = confusion[c]![c]!;
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += confusion[c]![j]!;
      predicted += confusion[j]![c]!;
    }
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    out.push({ label: c, support, precision, recall, f1 });
  }
  return out;
}

/** Off-diagonal cells, largest first (ties: by actual, then predicted). */
export function mostConfusedPairs(confusion: number[][], top = 5): ConfusedPair[] {
  const pairs: ConfusedPair[] = [];
  for (let a = 0; a < confusion.length; a++) {
    for (let p = 0; p < confusion.length; p++) {
      const count = confusion[a]![p]!;
      if (a !== p && count > 0) pairs.push({ actual: a, predicted: p, count });
    }
  }
  pairs.sort((x, y) => y.count - x.count || x.actual - y.actual || x.predicted - y.predicted);
  return pairs.slice(0, top);
}

/** The classification report of predicted labels against the actual ones. */
export function classificationReport(actual: ArrayLike<number>, predicted: ArrayLike<number>, classes = 10): ClassificationReport {
  const confusion = confusionMatrix(actual, predicted, classes);
  let correct = 0;
  for (let c = 0; c < classes; c++) correct += confusion[c]![c]!;
  const total = actual.length;
  const perClass = perClassMetrics(confusion);
  const macroF1 = perClass.reduce((s, m) => s + m.f1, 0) / classes;
  return { accuracy: total === 0 ? 0 : correct / total, total, correct, confusion, perClass, macroF1 };
}

/** Index of the largest value in each row of probs[rows, cols]. */
export function argmaxRows(probs: Float32Array, cols = 10): Uint8Array {
  const rows = probs.length / cols;
  const out = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) out[r] = argmaxRow(probs, r, cols);
  return out;
}

export function formatConfusionMatrix(confusion: number[][]): string {
  const k = confusion.length;
  const width = Math.max(4, ...confusion.flat().map((v) => String(v).length + 1));
  const pad = (s: string): string => s.padStart(width);
  const lines = [`actual \\ predicted`, '     ' + Array.from({ length: k }, (_, j) => pad(String(j))).join('')];
  for (let a = 0; a < k; a++) {
    lines.push(`  ${a}  ` + confusion[a]!.map((v) => pad(String(v))).join(''));
  }
  return lines.join('\n');
}

export function formatPerClass(perClass: ClassMetrics[]): string {
  const lines = ['class  precision  recall     f1  support'];
  for (const m of perClass) {
    lines.push(
      `  ${m.label}    ${m.precision.toFixed(4).padStart(7)}  ${m.recall.toFixed(4).padStart(6)}  ${m.f1.toFixed(4).padStart(6)}  ${String(m.support).padStart(7)}`,
    );
  }
  return lines.join('\n');
}
