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

/**
 * What a run's weight averaging (metrics.json `averaging`) made the model, in words: "the weights'
 * moving average, decay 0.999" or "the mean of the weights of epochs 13-18"; undefined when the
 * value is not a weight averaging Digits writes.
 */
export function describeAveraging(averaging: unknown, epochsRun?: number): string | undefined {
  if (typeof averaging !== 'object' || averaging === null) return undefined;
  const a = averaging as { mode?: unknown; decay?: unknown; startEpoch?: unknown };
  if (a.mode === 'ema' && typeof a.decay === 'number') return `the weights' moving average, decay ${a.decay}`;
  if (a.mode === 'swa' && typeof a.startEpoch === 'number') return `the mean of the weights of epochs ${a.startEpoch + 1}-${epochsRun ?? '?'}`;
  return undefined;
}
