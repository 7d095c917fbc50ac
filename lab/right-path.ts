/**
 * What the lab knows of a composed number's candidates. Whether any path through a segmentation's
 * candidates reads `text`: the candidates' fault when none does, the choice's when one does and
 * another was chosen (lab/read-tune.ts, lab/read-diagnose.ts). Which digit each candidate holds
 * whole, from the composition's ink owners (lab/read-diagnose.ts, and what the lab's candidate
 * readers learn from).
 */
import type { ComposedNumber } from '../src/data/compose.js';
import type { CandidateReading, Segmentation } from '../src/preprocess/segment.js';

/** Some run of candidates covers every piece and reads `text`, one digit each, in order. */
export function rightPathExists(seg: Pick<Segmentation, 'pieces' | 'candidates'>, readings: readonly Pick<CandidateReading, 'label'>[], text: string): boolean {
  // reach[j][p]: the first p pieces can read as the first j digits
  const m = text.length, n = seg.pieces;
  const reach = Array.from({ length: m + 1 }, () => new Uint8Array(n + 1));
  reach[0]![0] = 1;
  for (let j = 0; j < m; j++) {
    seg.candidates.forEach((c, i) => {
      if (reach[j]![c.from] && String(readings[i]!.label) === text[j]) reach[j + 1]![c.to] = 1;
    });
  }
  return reach[m]![n] === 1;
}

/** Share of its ink a candidate shares with one digit, both ways, to hold that digit whole (candidateDigits). */
export const WHOLE_SHARE = 0.85;

/**
 * Which digit of a composed number each candidate of its segmentation (made with `pieceMap`) holds
 * whole, from the ink's owners: the digit's index when at least `right` of the candidate's ink is
 * that digit's and it holds at least `right` of that digit's ink; -1 when it is far from any digit
 * (under 0.7 of either); -2 in between.
 */
export function candidateDigits(seg: Pick<Segmentation, 'pieces' | 'candidates' | 'pieceMap'>, number: Pick<ComposedNumber, 'owner' | 'image' | 'boxes'>,
  right = WHOLE_SHARE): Int32Array {
  const k = number.boxes.length, { gray } = number.image;
  if (seg.pieceMap === undefined) throw new Error('candidateDigits: the segmentation was made without its piece map');
  const ink = new Float64Array(seg.pieces * k);
  for (let i = 0; i < gray.length; i++) {
    const p = seg.pieceMap[i]!, d = number.owner[i]!;
    if (p >= 0 && d >= 0) ink[p * k + d]! += 255 - gray[i]!;
  }
  const total = new Float64Array(k);
  for (let p = 0; p < seg.pieces; p++) for (let d = 0; d < k; d++) total[d]! += ink[p * k + d]!;
  return Int32Array.from(seg.candidates, (c) => {
    const held = new Float64Array(k);
    for (let p = c.from; p < c.to; p++) for (let d = 0; d < k; d++) held[d]! += ink[p * k + d]!;
    const all = held.reduce((a, b) => a + b, 0);
    let best = 0;
    for (let d = 1; d < k; d++) if (held[d]! > held[best]!) best = d;
    const purity = all > 0 ? held[best]! / all : 0, whole = total[best]! > 0 ? held[best]! / total[best]! : 0;
    return purity >= right && whole >= right ? best : purity < 0.7 || whole < 0.7 ? -1 : -2;
  });
}
