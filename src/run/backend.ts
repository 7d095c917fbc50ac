/** The backend a run or a loaded model computes on, chosen from plain options. */
import { createBackend, type Backend, type BackendName, type PrecisionChoice } from '../engine/index.js';
import type { Precision } from '../engine/backend.js';
import type { DigitsMetadata } from '../io/model-files.js';
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
 * The arithmetic a saved model runs in: what the user asked for (`fp32`, `bf16`), else (`auto`, or
 * nothing) bf16 only for a model that records it was trained in bf16, and float32 for every other
 * model (trained in float32, imported from Keras, saved by TensorFlow.js, or older): exact, so its
 * predictions agree with TensorFlow.js, ONNX Runtime and Keras. The same on every CPU.
 */
export function modelPrecision(choice: PrecisionChoice | undefined, metadata: Pick<DigitsMetadata, 'precision'> | null | undefined): Precision {
  if (choice === 'fp32' || choice === 'bf16') return choice;
  return metadata?.precision === 'bf16' ? 'bf16' : 'fp32';
}

/** How a model's arithmetic reads in a sentence: "float32" or "bf16 convolutions". */
export function describePrecision(p: Precision): string {
  return p === 'bf16' ? 'bf16 convolutions' : 'float32';
}

/**
 * Precision `auto`, refined by a preset's own choice (Preset.precision: `fast` runs in fp32), for training: the
 * options with that precision when auto was asked for and the preset has one, else unchanged. (A saved
 * model's arithmetic is modelPrecision's.)
 */
export function withPresetPrecision<T extends BackendOpts>(o: T, preset: string | null | undefined): T {
  if (o.precision !== 'auto' || preset === null || preset === undefined || !presetNames().includes(preset)) return o;
  const p = getPreset(preset).precision;
  return p === undefined ? o : { ...o, precision: p };
}
