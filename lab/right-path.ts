/**
 * Whether any path through a segmentation's candidates reads `text`: the candidates' fault when
 * none does, the choice's when one does and another was chosen. For lab/read-tune.ts and
 * lab/read-diagnose.ts.
 */
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
