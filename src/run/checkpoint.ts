/**
 * What a training run needs to lose nothing: the run's settings as a
 * checkpoint records them, resuming (settings from the checkpoint, conflicting
 * options refused) and the callback that writes a checkpoint at every epoch end.
 */
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { DigitsError } from '../errors.js';
import type { Callback, Sequential, TrainingState } from '../nn/index.js';
import { checkpointDir, findCheckpoint, readCheckpoint, writeCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.js';
import { makeMetadata, MODEL_JSON, sha256Hex } from '../io/model-files.js';
import { writeFailure } from '../util/disk.js';
import { assertNotHeld } from './lock.js';
import type { BackendName, PrecisionChoice } from '../engine/index.js';
import { PRECISIONS, type Precision } from '../engine/backend.js';

/** The options that decide a training run (what a resumed run takes from its checkpoint). */
export interface RunOptions {
  data: string;
  preset: string;
  epochs?: number;
  batchSize?: number;
  validationSplit?: number;
  seed: number;
  limit?: number;
  testLimit?: number;
  backend: BackendName;
  threads?: number;
  /** the conv kernels' arithmetic; train's default is auto */
  precision?: PrecisionChoice;
  /** the run's folder: the model, its files and, while it trains, its checkpoint */
  out: string;
}

/** A run as its checkpoint records it: the options resolved (preset defaults filled in, the backend chosen) and the data's identity. */
export interface RunSettings {
  preset: string;
  /** "mnist" or an absolute path */
  data: string;
  epochs: number;
  batchSize: number;
  validationSplit: number;
  seed: number;
  limit: number | null;
  testLimit: number | null;
  backend: 'reference' | 'native';
  threads: number;
  /** the conv kernels' arithmetic the run used (absent in checkpoints written before bf16: fp32) */
  precision?: Precision;
  trainImages: number;
  labelsSha256: string;
}

export function dataSpecForCheckpoint(spec: string): string {
  return spec === 'mnist' ? spec : path.resolve(spec);
}

export function labelsDigest(labels: Uint8Array): string {
  return sha256Hex(labels);
}

/** The CLI spelling of each setting. */
const FLAGS: Record<string, string> = {
  data: '--data', preset: '--preset', epochs: '--epochs', batchSize: '--batch-size', validationSplit: '--validation-split',
  seed: '--seed', limit: '--limit', testLimit: '--test-limit', backend: '--backend', threads: '--threads', precision: '--precision', out: '--out',
  ensemble: '--ensemble', tta: '--tta',
};

/**
 * Resuming the interrupted run in `dir`: its checkpoint and the options to run
 * it with. Options in `given` must agree with the checkpoint (a resumed run
 * keeps its settings); those that do not are named, with their CLI spelling.
 * `explicit(key)` says whether the user gave an option (the CLI's defaults are
 * not a conflict); without it every defined option counts as given.
 */
export async function resumeOptions(dir: string, given: Record<string, unknown>, explicit?: (key: string) => boolean): Promise<{ opts: RunOptions; checkpoint: LoadedCheckpoint }> {
  // a run still writing into the folder may be replacing its checkpoint: say so, not that it is damaged
  await assertNotHeld(dir);
  const found = await findCheckpoint(dir);
  if (found === null) {
    const finished = await fs.stat(path.join(dir, MODEL_JSON)).catch(() => null);
    throw new DigitsError(`--resume ${dir}: no checkpoint to resume (${path.join(dir, 'checkpoint')} not found)` +
      (finished ? '; the run there has finished: its model is saved' : '; is it the --out folder of an interrupted `digits train`?'));
  }
  const checkpoint = await readCheckpoint(found);
  const s = checkpoint.settings as unknown as RunSettings;
  const where = path.join(found, 'state.json');
  for (const k of ['preset', 'data', 'backend'] as const) {
    if (typeof s[k] !== 'string') throw new DigitsError(`${where}: settings.${k}: expected a string, got ${JSON.stringify(s[k])}`);
  }
  for (const k of ['epochs', 'batchSize', 'seed', 'threads', 'trainImages'] as const) {
    if (!Number.isInteger(s[k])) throw new DigitsError(`${where}: settings.${k}: expected an integer, got ${JSON.stringify(s[k])}`);
  }
  if (s.precision !== undefined && !PRECISIONS.includes(s.precision)) {
    throw new DigitsError(`${where}: settings.precision: expected "fp32" or "bf16", got ${JSON.stringify(s.precision)}`);
  }
  const conflicts: string[] = [];
  for (const [k, v] of Object.entries(given)) {
    if (k === 'resume' || v === undefined || (explicit !== undefined && !explicit(k))) continue;
    const flag = FLAGS[k] ?? `--${k}`;
    let has: unknown;
    let ok: boolean;
    if (k === 'out') {
      has = dir;
      ok = path.resolve(String(v)) === path.resolve(dir);
    } else if (k === 'data') {
      has = s.data;
      ok = dataSpecForCheckpoint(String(v)) === s.data;
    } else if (k === 'backend') {
      has = s.backend;
      ok = v === 'auto' || v === s.backend;
    } else if (k === 'precision') {
      has = s.precision ?? 'fp32';
      ok = v === 'auto' || v === has;  // auto: the run keeps the precision it chose
    } else if (k in s) {
      has = (s as unknown as Record<string, unknown>)[k];
      ok = v === has;
    } else {
      has = undefined;
      ok = false;
    }
    if (!ok) conflicts.push(has === undefined ? `${flag} (not for a resumed run)` : `${flag} ${String(v)} (the run has ${String(has)})`);
  }
  if (conflicts.length > 0) {
    throw new DigitsError(`--resume ${dir}: a resumed run keeps the settings in its checkpoint; these options conflict with them: ` +
      `${conflicts.join(', ')}. Drop them (digits train --resume ${dir} needs no other option)`);
  }
  const opts: RunOptions = {
    data: s.data, preset: s.preset, epochs: s.epochs, batchSize: s.batchSize, validationSplit: s.validationSplit, seed: s.seed,
    ...(s.limit !== null && s.limit !== undefined ? { limit: s.limit } : {}),
    ...(s.testLimit !== null && s.testLimit !== undefined ? { testLimit: s.testLimit } : {}),
    backend: s.backend as BackendName, threads: s.threads, precision: s.precision ?? 'fp32', out: dir,
  };
  return { opts, checkpoint };
}

/** The data of a resumed run must be the data it started with. */
export function checkResumedData(settings: RunSettings, count: number, labels: Uint8Array, dir: string): void {
  const digest = labelsDigest(labels);
  if (count !== settings.trainImages || digest !== settings.labelsSha256) {
    throw new DigitsError(`--resume ${dir}: the training data changed since the checkpoint (--data ${settings.data}: ` +
      `the run trained on ${settings.trainImages} images, labels SHA-256 ${settings.labelsSha256.slice(0, 12)}…; ` +
      `now ${count} images, ${digest.slice(0, 12)}…)`);
  }
}

/** Bytes a run writes into its --out folder: the model, two checkpoint generations during a swap, the report's allowance. */
export function runBytes(params: number, trainImages: number): number {
  const weights = 4 * params;
  // checkpoint: weights, up to two optimizer slots and a best-weights copy, the sample order
  const checkpoint = 4 * weights + 4 * trainImages + 64 * 1024;
  return weights + 2 * checkpoint + 8 * 1024 * 1024;
}

/**
 * Writes the checkpoint at every epoch end (put it after the callbacks whose
 * state it saves), and on demand. A failed write ends training with a message
 * saying what is left.
 */
export class Checkpointer implements Callback {
  private model: Sequential | null = null;
  /** position (as in TrainingState) of the last checkpoint written or resumed from (null: none) */
  last: { epoch: number; batch: number } | null = null;

  constructor(
    readonly outDir: string,
    private readonly settings: RunSettings,
    private readonly extra: () => Record<string, unknown>,
  ) {}

  get dir(): string {
    return checkpointDir(this.outDir);
  }

  setModel(model: unknown): void {
    this.model = model as Sequential;
  }

  async onEpochEnd(): Promise<void> {
    await this.write(this.model!.trainingState());
  }

  async write(state: TrainingState): Promise<void> {
    const model = this.model!;
    const metadata = makeMetadata(model, {
      seed: this.settings.seed, preset: this.settings.preset, backend: this.settings.backend,
      history: state.history.history as Record<string, number[]>,
    });
    try {
      await writeCheckpoint(this.dir, model, metadata, { settings: { ...this.settings }, state, extra: this.extra() });
    } catch (err) {
      if (err instanceof DigitsError) throw err;
      throw new DigitsError(`cannot write the checkpoint ${this.dir}: ${writeFailure(err)}; ${this.whatIsLeft()}`);
    }
    this.last = { epoch: state.epoch, batch: state.batch };
  }

  /** One sentence on the checkpoint a user can go back to. */
  whatIsLeft(): string {
    if (this.last === null) return 'no checkpoint of this run was written';
    const at = this.last.batch === 0 ? `end of epoch ${this.last.epoch}` : `epoch ${this.last.epoch + 1}, batch ${this.last.batch}`;
    return `the checkpoint of the ${at} in ${this.dir} is intact: free some space, then resume with: npx digits train --resume ${this.outDir}`;
  }
}
