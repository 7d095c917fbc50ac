/**
 * Weight initialisers, as Keras/TF.js define them, and their configs as
 * TF.js writes them into model.json.
 *
 * Digits' default kernel initialiser is Glorot-uniform: U(-limit, limit) with
 * limit = sqrt(6 / (fanIn + fanOut)); biases start at zero. TF.js writes
 * Glorot-uniform as `VarianceScaling {scale: 1, mode: "fan_avg",
 * distribution: "uniform"}` (sqrt(3 * scale / ((fanIn + fanOut) / 2)) is the
 * same limit), so that is the default config Digits writes too.
 *
 * Model files may name other initialisers; they matter only when such a model
 * is re-initialised (build), since loading overwrites the weights. A `seed` in
 * an initialiser config is kept for the round trip but not used: Digits' one
 * seeded Rng drives every initialisation.
 */
import { DigitsError } from '../errors.js';
import type { Rng } from '../engine/rng.js';
import { isObject, knownKeys, oneOf, positiveNumber, finiteNumber, showValue } from './validate.js';

export interface InitializerConfig {
  class_name: string;
  config: Record<string, unknown>;
}

/** Glorot-uniform, as TF.js serialises `kernelInitializer: 'glorotUniform'`. */
export function glorotUniformConfig(): InitializerConfig {
  return { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } };
}

export function zerosConfig(): InitializerConfig {
  return { class_name: 'Zeros', config: {} };
}

type Mode = 'fan_in' | 'fan_out' | 'fan_avg';
type Distribution = 'uniform' | 'normal' | 'truncated_normal' | 'untruncated_normal';

/** The named VarianceScaling presets (TF.js and Keras spellings). */
const VARIANCE_PRESETS: Record<string, { scale: number; mode: Mode; distribution: Distribution }> = {
  GlorotUniform: { scale: 1, mode: 'fan_avg', distribution: 'uniform' },
  GlorotNormal: { scale: 1, mode: 'fan_avg', distribution: 'truncated_normal' },
  HeUniform: { scale: 2, mode: 'fan_in', distribution: 'uniform' },
  HeNormal: { scale: 2, mode: 'fan_in', distribution: 'truncated_normal' },
  LeCunUniform: { scale: 1, mode: 'fan_in', distribution: 'uniform' },
  LeCunNormal: { scale: 1, mode: 'fan_in', distribution: 'truncated_normal' },
  LecunUniform: { scale: 1, mode: 'fan_in', distribution: 'uniform' },
  LecunNormal: { scale: 1, mode: 'fan_in', distribution: 'truncated_normal' },
};

const SUPPORTED = ['VarianceScaling', ...Object.keys(VARIANCE_PRESETS), 'Zeros', 'Ones', 'Constant'];

/** Check an initialiser config from a model file; returns a copy to keep for getConfig. */
export function parseInitializer(label: string, v: unknown): InitializerConfig {
  if (!isObject(v) || typeof v.class_name !== 'string') {
    throw new DigitsError(`${label}: expected an initializer {"class_name": ..., "config": {...}}, got ${showValue(v)}`);
  }
  const cls = v.class_name;
  const cfg = v.config === undefined ? {} : v.config;
  if (!isObject(cfg)) throw new DigitsError(`${label}.config: expected an object, got ${showValue(cfg)}`);
  const at = `${label} (${cls}).config`;
  if (cls === 'VarianceScaling') {
    knownKeys(at, cfg, ['scale', 'mode', 'distribution', 'seed']);
    positiveNumber(`${at}.scale`, cfg.scale ?? 1);
    oneOf(`${at}.mode`, cfg.mode ?? 'fan_in', ['fan_in', 'fan_out', 'fan_avg']);
    oneOf(`${at}.distribution`, cfg.distribution ?? 'truncated_normal', ['uniform', 'normal', 'truncated_normal', 'untruncated_normal']);
  } else if (cls in VARIANCE_PRESETS || cls === 'Zeros' || cls === 'Ones') {
    knownKeys(at, cfg, ['seed']);
  } else if (cls === 'Constant') {
    knownKeys(at, cfg, ['value']);
    finiteNumber(`${at}.value`, cfg.value);
  } else {
    throw new DigitsError(`${label}.class_name: expected one of ${SUPPORTED.join(', ')}, got ${JSON.stringify(cls)}`);
  }
  if (cfg.seed !== undefined && cfg.seed !== null && !Number.isInteger(cfg.seed)) {
    throw new DigitsError(`${at}.seed: expected an integer or null, got ${showValue(cfg.seed)}`);
  }
  return { class_name: cls, config: JSON.parse(JSON.stringify(cfg)) as Record<string, unknown> };
}

/**
 * Fill `out` per the initialiser. fanIn/fanOut as Keras computes them: dense
 * kernel [in, out] -> (in, out); conv kernel [kh, kw, C, K] -> (kh*kw*C, kh*kw*K).
 */
export function initialize(init: InitializerConfig, out: Float32Array, fanIn: number, fanOut: number, rng: Rng): void {
  const cls = init.class_name;
  if (cls === 'Zeros') return void out.fill(0);
  if (cls === 'Ones') return void out.fill(1);
  if (cls === 'Constant') return void out.fill(init.config.value as number);
  const preset = VARIANCE_PRESETS[cls];
  const scale0 = preset?.scale ?? ((init.config.scale as number | undefined) ?? 1);
  const mode = preset?.mode ?? ((init.config.mode as Mode | undefined) ?? 'fan_in');
  const distribution = preset?.distribution ?? ((init.config.distribution as Distribution | undefined) ?? 'truncated_normal');
  const fan = mode === 'fan_in' ? fanIn : mode === 'fan_out' ? fanOut : (fanIn + fanOut) / 2;
  const scale = scale0 / Math.max(1, fan);
  if (distribution === 'uniform') {
    const limit = Math.sqrt(3 * scale);
    for (let i = 0; i < out.length; i++) out[i] = rng.range(-limit, limit);
    return;
  }
  // Keras: truncated normal at 2 sigma, stddev corrected by 0.8796... so the
  // variance is `scale`; TF.js 'normal' is the uncorrected truncated normal.
  const truncated = distribution !== 'untruncated_normal';
  const stddev = distribution === 'truncated_normal' ? Math.sqrt(scale) / 0.87962566103423978 : Math.sqrt(scale);
  for (let i = 0; i < out.length; i++) {
    let z = rng.normal();
    while (truncated && Math.abs(z) > 2) z = rng.normal();
    out[i] = z * stddev;
  }
}

/**
 * Take a layer's kernel and bias initializers from its Keras config when the
 * config names them (absent or null: keep the layer's defaults).
 */
export function applyInitializers(
  layer: { kernelInitializer: InitializerConfig; biasInitializer: InitializerConfig },
  cfg: Record<string, unknown>,
  label: string,
): void {
  if (cfg.kernel_initializer !== undefined && cfg.kernel_initializer !== null) {
    layer.kernelInitializer = parseInitializer(`${label}.kernel_initializer`, cfg.kernel_initializer);
  }
  if (cfg.bias_initializer !== undefined && cfg.bias_initializer !== null) {
    layer.biasInitializer = parseInitializer(`${label}.bias_initializer`, cfg.bias_initializer);
  }
}
