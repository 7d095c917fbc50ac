/**
 * The end-of-run summary for the terminal: the epoch table (the kept epoch
 * marked), beside the confusion matrix text of metrics.ts.
 */

/** What the `*` of an epoch table means. */
export const KEPT_EPOCH_NOTE = '* the epoch early stopping kept (lowest validation loss)';

/**
 * The epoch table's cells, for the terminal and the report alike: the metrics the history has (loss,
 * accuracy, val_loss, val_accuracy), and per epoch each one to 4 decimals ('-' where there is none).
 */
export function epochTableCells(history: Record<string, (number | null)[] | undefined>): { columns: string[]; rows: string[][] } {
  const columns = (['loss', 'accuracy', 'val_loss', 'val_accuracy'] as const).filter((k) => (history[k]?.length ?? 0) > 0);
  const cell = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(4));
  const rows = Array.from({ length: history.loss?.length ?? 0 }, (_, e) => columns.map((c) => cell(history[c]![e])));
  return { columns, rows };
}

/** One line per epoch: loss, accuracy, validation loss and accuracy; `*` marks the epoch early stopping kept (0-based). */
export function formatEpochTable(history: Record<string, (number | null)[] | undefined>, bestEpoch?: number): string {
  const { columns, rows } = epochTableCells(history);
  const w = 13;
  const lines = ['epoch' + columns.map((c) => c.padStart(w)).join('')];
  rows.forEach((cells, e) => lines.push(String(e + 1).padStart(5) + cells.map((v) => v.padStart(w)).join('') + (e === bestEpoch ? ' *' : '')));
  if (bestEpoch !== undefined) lines.push(KEPT_EPOCH_NOTE);
  return lines.join('\n');
}

/**
 * What a run's weight averaging (metrics.json `averaging`) and BatchNorm pass (`batchNormPass`) made
 * the model, in words: "the weights' moving average, decay 0.999", "the mean of the weights of epochs
 * 13-18", either followed by ", BatchNorm statistics recomputed" (or "the trained weights, BatchNorm
 * statistics recomputed" with the pass alone); undefined when neither is something Digits writes.
 */
export function describeAveraging(averaging: unknown, epochsRun?: number, batchNormPass?: unknown): string | undefined {
  const pass = batchNormPass === true ? ', BatchNorm statistics recomputed' : '';
  const a = (typeof averaging === 'object' && averaging !== null ? averaging : {}) as { mode?: unknown; decay?: unknown; startEpoch?: unknown };
  if (a.mode === 'ema' && typeof a.decay === 'number') return `the weights' moving average, decay ${a.decay}${pass}`;
  if (a.mode === 'swa' && typeof a.startEpoch === 'number') return `the mean of the weights of epochs ${a.startEpoch + 1}-${epochsRun ?? '?'}${pass}`;
  return pass !== '' ? `the trained weights${pass}` : undefined;
}

/** "42.0 s" below a minute, "3 min 7 s" from there on. */
export function formatSeconds(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
