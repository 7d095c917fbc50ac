/** The backend a run or a loaded model computes on, chosen from plain options. */
import { createBackend, type Backend, type BackendName, type PrecisionChoice } from '../engine/index.js';
import { getPreset, presetNames } from '../nn/presets.js';
import { warnOnStderr, type OnRunEvent } from './events.js';

/** How to choose a backend: its name, its threads and the conv kernels' arithmetic. */
export interface BackendOpts {
  backend: BackendName;
  threads?: number;
  /** the conv kernels' arithmetic (default fp32) */
  precision?: PrecisionChoice;
}

/** The backend `o` names; a fallback from native to reference is reported once as a warning event. */
export function chooseBackend(o: BackendOpts, onEvent: OnRunEvent = warnOnStderr): Backend {
  const choice = createBackend(o.backend, o.threads, o.precision ?? 'fp32');
  if (choice.warning) onEvent({ type: 'warning', message: choice.warning });
  return choice.backend;
}

/**
 * Precision `auto`, refined by a preset's own choice (Preset.precision: `fast` runs in fp32): the options
 * with that precision when auto was asked for and the preset has one, else unchanged. Training takes the
 * preset it trains, the predicting faces the model's metadata, so that a model is scored in the
 * arithmetic it was trained in.
 */
export function withPresetPrecision<T extends BackendOpts>(o: T, preset: string | null | undefined): T {
  if (o.precision !== 'auto' || preset === null || preset === undefined || !presetNames().includes(preset)) return o;
  const p = getPreset(preset).precision;
  return p === undefined ? o : { ...o, precision: p };
}
