/**
 * The end-of-run summary for the terminal: the epoch table (the kept epoch
 * marked), beside the confusion matrix text of metrics.ts.
 */

/** One line per epoch: loss, accuracy, validation loss and accuracy; `*` marks the epoch early stopping kept (0-based). */
export function formatEpochTable(history: Record<string, (number | null)[] | undefined>, bestEpoch?: number): string {
  const cols = (['loss', 'accuracy', 'val_loss', 'val_accuracy'] as const).filter((k) => history[k] && history[k]!.length > 0);
  const epochs = history.loss?.length ?? 0;
  const cell = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(4));
  const w = 13;
  const lines = ['epoch' + cols.map((c) => c.padStart(w)).join('')];
  for (let e = 0; e < epochs; e++) {
    const mark = e === bestEpoch ? ' *' : '';
    lines.push(String(e + 1).padStart(5) + cols.map((c) => cell(history[c]![e]).padStart(w)).join('') + mark);
  }
  if (bestEpoch !== undefined) lines.push(`* the epoch early stopping kept (lowest validation loss)`);
  return lines.join('\n');
}
