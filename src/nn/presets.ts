/**
 * Model presets: an architecture and the settings to train it.
 *
 * `seed`, the reference model of Digits (135,114 parameters):
 *   input 28x28x1
 *   Conv2D 32 3x3 valid relu -> MaxPool 2
 *   Conv2D 64 3x3 same relu  -> MaxPool 2
 *   Conv2D 128 3x3 valid relu -> MaxPool 2
 *   Flatten -> Dense 64 relu -> Dropout 0.2 -> Dense 128 relu -> Dropout 0.2 -> Dense 10 softmax
 * trained with Adam (lr 0.001), categorical cross-entropy, accuracy, batch 32,
 * 8 epochs, 20% validation split, early stopping on val_loss (patience 3,
 * best weights restored).
 */
import { DigitsError } from '../errors.js';
import type { Layer } from './layer.js';
import { EarlyStopping, type Callback, type EarlyStoppingOptions } from './callbacks.js';
import { Conv2D } from './conv2d.js';
import { Dense } from './dense.js';
import { Dropout } from './dropout.js';
import { Flatten } from './flatten.js';
import { Adam, SGD, type Optimizer } from './optimizers.js';
import { MaxPooling2D } from './pooling.js';
import { Sequential } from './sequential.js';

/** How a preset is trained (plain data: it goes into model metadata as is). */
export interface TrainingSettings {
  optimizer: { name: 'adam'; learningRate: number } | { name: 'sgd'; learningRate: number; momentum: number };
  loss: 'categoricalCrossentropy';
  metrics: 'accuracy'[];
  batchSize: number;
  epochs: number;
  validationSplit: number;
  /** null: no early stopping */
  earlyStopping: Required<Pick<EarlyStoppingOptions, 'monitor' | 'patience' | 'restoreBestWeights'>> | null;
}

export interface Preset {
  name: string;
  description: string;
  inputShape: readonly number[];
  /** fresh, unbuilt layers of the architecture */
  layers(): Layer[];
  training: TrainingSettings;
}

export const PRESETS: Readonly<Record<string, Preset>> = Object.freeze({
  seed: {
    name: 'seed',
    description: 'three conv/pool blocks (32, 64, 128 filters), dense 64 and 128 with dropout 0.2, softmax over 10 digits',
    inputShape: [28, 28, 1],
    layers: (): Layer[] => [
      new Conv2D({ filters: 32, kernelSize: 3, padding: 'valid', activation: 'relu', inputShape: [28, 28, 1] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Conv2D({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
      new MaxPooling2D({ poolSize: 2 }),
      new Conv2D({ filters: 128, kernelSize: 3, padding: 'valid', activation: 'relu' }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 64, activation: 'relu' }),
      new Dropout({ rate: 0.2 }),
      new Dense({ units: 128, activation: 'relu' }),
      new Dropout({ rate: 0.2 }),
      new Dense({ units: 10, activation: 'softmax' }),
    ],
    training: {
      optimizer: { name: 'adam', learningRate: 0.001 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
      batchSize: 32,
      epochs: 8,
      validationSplit: 0.2,
      earlyStopping: { monitor: 'val_loss', patience: 3, restoreBestWeights: true },
    },
  },
});

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

export function getPreset(name: string): Preset {
  const p = Object.prototype.hasOwnProperty.call(PRESETS, name) ? PRESETS[name] : undefined;
  if (p === undefined) throw new DigitsError(`preset: expected one of ${presetNames().map((n) => JSON.stringify(n)).join(', ')}, got ${JSON.stringify(name)}`);
  return p;
}

/** The preset's optimizer, as a fresh instance. */
export function presetOptimizer(training: TrainingSettings): Optimizer {
  const o = training.optimizer;
  return o.name === 'adam' ? new Adam({ learningRate: o.learningRate }) : new SGD({ learningRate: o.learningRate, momentum: o.momentum });
}

/** The callbacks the preset trains with (early stopping), as fresh instances. */
export function presetCallbacks(training: TrainingSettings): Callback[] {
  return training.earlyStopping === null ? [] : [new EarlyStopping({ ...training.earlyStopping })];
}

/**
 * The preset's model, built with `seed` (weights initialised) and compiled
 * with its optimizer and loss, and a copy of its training settings.
 */
export function buildPreset(name: string, seed = 0): { model: Sequential; training: TrainingSettings } {
  const preset = getPreset(name);
  const model = new Sequential({ name: 'sequential', layers: preset.layers() });
  model.build(preset.inputShape, seed);
  const training = structuredClone(preset.training);
  model.compile({ optimizer: presetOptimizer(training), loss: training.loss, metrics: training.metrics });
  return { model, training };
}
