/**
 * Reading the TensorFlow.js layers-model format (model-files.ts describes it) from its parsed
 * model.json and a way to get its shards' bytes: no files, so the browser loads models with the same
 * checks (src/web). model-files.ts reads and writes the folders on disk and re-exports all of this.
 */
import { DigitsError, describe } from '../errors.js';
import { layerFactory, registeredLayerNames } from '../nn/layer.js';
import type { Layer } from '../nn/layer.js';
import { Sequential } from '../nn/index.js';
import { withWeightBudget } from '../nn/base.js';
import type { Precision } from '../engine/backend.js';
import { DEFAULT_CALIBRATION, parseCalibration, type Calibration } from '../nn/calibration.js';

/** The topology and weights manifest of a saved model (TF.js layers-model format). */
export const MODEL_JSON = 'model.json';
/** Most layers a model file may have (Digits' models have tens). */
export const MAX_LAYERS = 10_000;

/**
 * Per-epoch training history, as `Sequential.fit(...).history` (Keras
 * `History.history`): {loss: [...], accuracy: [...], val_loss: [...], val_accuracy: [...]}.
 */
export type TrainingHistory = Record<string, number[]>;

/** Digits' own facts about a model, stored in `userDefinedMetadata.digits`. */
export interface DigitsMetadata {
  /** Digits version that wrote the file */
  version: string;
  /** multiply raw pixels by this before the model sees them: 1/255 means raw 0..255 pixels are divided by 255 */
  inputScale: number;
  /** input shape without the batch dimension, [H, W, C] */
  inputShape: number[];
  /** label of each output unit, ['0', ..., '9'] */
  classNames: string[];
  /** seed of the run that trained the model (null: unknown) */
  seed: number | null;
  /** preset the model was built from ('seed'), null for a custom or imported model */
  preset: string | null;
  history?: TrainingHistory;
  /** accuracy on the held-out test images, 0..1 */
  testAccuracy?: number;
  /** ISO 8601 time the training finished (null: untrained / unknown) */
  trainedAt: string | null;
  /** backend that trained it: 'reference' or 'native' (null: unknown) */
  backend: string | null;
  /**
   * The convolutions' arithmetic the model was trained in: 'bf16' (operands rounded to bfloat16), which
   * is then also how it is meant to run (`--precision auto` runs it so), or 'fp32'. Absent in models
   * TF.js or older Digits versions wrote, which run in float32.
   */
  precision?: Precision;
  /**
   * The temperature its probabilities are read with and its not-a-digit threshold, fitted on the
   * validation split after training (nn/calibration.ts). Absent in models older Digits versions or
   * TF.js wrote, or trained without a validation split: those read with DEFAULT_CALIBRATION.
   */
  calibration?: Calibration;
  /**
   * Length and SHA-256 (hex) of every weight shard, by file name, written by
   * saveModel; loading refuses a shard that does not match. Absent in models
   * TF.js or older Digits versions wrote (their shards are loaded unchecked).
   */
  weightFiles?: Record<string, WeightFileDigest>;
}

export interface WeightFileDigest {
  bytes: number;
  sha256: string;
}

/** How a model's probabilities are read: its saved calibration, else DEFAULT_CALIBRATION. */
export function calibrationOf(metadata: Pick<DigitsMetadata, 'calibration'> | null | undefined): Calibration {
  return metadata?.calibration ?? DEFAULT_CALIBRATION;
}

/**
 * Factor from Digits' image data (pixels / 255, i.e. 0..1) to what the model
 * takes: raw pixels × inputScale. 1 for models trained on 0..1 (inputScale
 * 1/255, also assumed without metadata), 255 for raw-pixel models.
 */
export function unitPixelFactor(metadata: Pick<DigitsMetadata, 'inputScale'> | null | undefined): number {
  return 255 * (metadata?.inputScale ?? 1 / 255);
}

/** A model folder read by loadModel: the model, its Digits metadata (null for a model TF.js saved), and its digest. */
export interface LoadedModel {
  model: Sequential;
  /** null when model.json has no userDefinedMetadata.digits (a model TF.js saved) */
  metadata: DigitsMetadata | null;
}

/**
 * Checks a shard against the length and SHA-256 its model.json recorded (`file` its path, `where` the
 * model.json's), throwing when it differs; model-files.ts's on disk.
 */
export type ShardVerifier = (bytes: Uint8Array, digest: WeightFileDigest, file: string, where: string) => void | Promise<void>;

export const DIGIT_CLASS_NAMES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Check a metadata object field by field; `where` prefixes messages (file and JSON path). */
export function parseMetadata(raw: unknown, where: string): DigitsMetadata {
  const fail = (field: string, expected: string, actual: unknown): never => {
    throw new DigitsError(`${where}.${field}: expected ${expected}, got ${describe(actual)}`);
  };
  if (!isObject(raw)) throw new DigitsError(`${where}: expected an object, got ${describe(raw)}`);
  const m = raw;
  if (typeof m.version !== 'string') fail('version', 'a string', m.version);
  if (typeof m.inputScale !== 'number' || !(m.inputScale > 0) || !Number.isFinite(m.inputScale)) {
    fail('inputScale', 'a positive number (1/255 means raw 0..255 pixels are divided by 255)', m.inputScale);
  }
  if (!isShape(m.inputShape)) fail('inputShape', 'an array of positive integers [H, W, C]', m.inputShape);
  if (!Array.isArray(m.classNames) || m.classNames.length === 0 || !m.classNames.every((c) => typeof c === 'string')) {
    fail('classNames', 'a non-empty array of strings', m.classNames);
  }
  if (m.seed !== null && m.seed !== undefined && !Number.isInteger(m.seed)) fail('seed', 'an integer or null', m.seed);
  if (m.preset !== null && m.preset !== undefined && typeof m.preset !== 'string') fail('preset', 'a string or null', m.preset);
  if (m.history !== undefined) {
    if (!isObject(m.history)) fail('history', 'an object of per-epoch number arrays {loss: [...], ...}', m.history);
    for (const [k, v] of Object.entries(m.history as Record<string, unknown>)) {
      // JSON turns NaN/Infinity losses into null
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' || x === null)) fail(`history.${k}`, 'an array of numbers', v);
    }
  }
  if (m.testAccuracy !== undefined && (typeof m.testAccuracy !== 'number' || !(m.testAccuracy >= 0 && m.testAccuracy <= 1))) {
    fail('testAccuracy', 'a number from 0 to 1', m.testAccuracy);
  }
  if (m.trainedAt !== null && m.trainedAt !== undefined && typeof m.trainedAt !== 'string') {
    fail('trainedAt', 'an ISO 8601 time string or null', m.trainedAt);
  }
  if (m.backend !== null && m.backend !== undefined && typeof m.backend !== 'string') fail('backend', 'a string or null', m.backend);
  if (m.precision !== undefined && m.precision !== 'fp32' && m.precision !== 'bf16') fail('precision', '"fp32" or "bf16"', m.precision);
  const calibration = m.calibration === undefined ? undefined : parseCalibration(m.calibration, 'calibration', fail);
  if (m.weightFiles !== undefined) {
    if (!isObject(m.weightFiles)) fail('weightFiles', 'an object {file: {bytes, sha256}}', m.weightFiles);
    for (const [k, v] of Object.entries(m.weightFiles as Record<string, unknown>)) {
      if (!isObject(v) || !Number.isInteger(v.bytes) || (v.bytes as number) < 0 || typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256)) {
        fail(`weightFiles[${JSON.stringify(k)}]`, '{bytes: integer, sha256: 64 hex digits}', v);
      }
    }
  }
  return {
    version: m.version as string,
    inputScale: m.inputScale as number,
    inputShape: [...(m.inputShape as number[])],
    classNames: [...(m.classNames as string[])],
    seed: (m.seed as number | null | undefined) ?? null,
    preset: (m.preset as string | null | undefined) ?? null,
    ...(m.history !== undefined ? { history: m.history as TrainingHistory } : {}),
    ...(m.testAccuracy !== undefined ? { testAccuracy: m.testAccuracy as number } : {}),
    trainedAt: (m.trainedAt as string | null | undefined) ?? null,
    backend: (m.backend as string | null | undefined) ?? null,
    ...(m.precision !== undefined ? { precision: m.precision as Precision } : {}),
    ...(calibration !== undefined ? { calibration } : {}),
    ...(m.weightFiles !== undefined ? { weightFiles: structuredClone(m.weightFiles as Record<string, WeightFileDigest>) } : {}),
  };
}

/** The metadata must describe the model it travels with: same input shape, one class name per output. */
export function checkAgainstModel(meta: DigitsMetadata, model: Sequential, where: string): void {
  const shape = model.inputShape ?? [];
  if (meta.inputShape.length !== shape.length || meta.inputShape.some((d, i) => d !== shape[i])) {
    throw new DigitsError(`${where}.inputShape: expected [${shape.join(', ')}] (the model's input shape), ` +
      `got [${meta.inputShape.join(', ')}]`);
  }
  const out = model.outputShape;
  const units = out === null ? null : out[out.length - 1];
  if (units !== null && units !== undefined && meta.classNames.length !== units) {
    throw new DigitsError(`${where}.classNames: expected ${units} names (one per model output), got ${meta.classNames.length}`);
  }
}

interface LayerEntry {
  className: string;
  config: Record<string, unknown>;
  /** for messages: the layer's name or its index */
  label: string;
}

/**
 * Build a Digits model from a parsed model.json. `where` names the file in
 * messages; `readShard(path)` returns a shard's bytes (path as written in the
 * manifest).
 */
export async function fromModelJson(
  json: unknown,
  where: string,
  readShardBytes: (file: string, maxBytes: number) => Promise<Uint8Array>,
  verifyShard?: ShardVerifier,
): Promise<LoadedModel> {
  if (!isObject(json)) throw new DigitsError(`${where}: expected a JSON object (a TF.js layers-model), got ${describe(json)}`);
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new DigitsError(`${where}: format: expected "layers-model" (a TF.js Layers model), got ${describe(json.format)}` +
      (json.format === 'graph-model' ? ' (graph models from tf.saved_model conversion cannot be loaded)' : ''));
  }
  if (json.modelTopology === undefined || json.modelTopology === null) {
    throw new DigitsError(`${where}: modelTopology: expected the Keras model topology of a layers-model, but it is missing`);
  }
  const { name, entries, inputShape } = readTopology(json.modelTopology, where);
  const layers = entries.map((e) => buildLayer(e, where));

  // the weights the manifest declares bound what building may allocate (and are bounded themselves)
  const declared = declaredWeightValues(json.weightsManifest);
  let model: Sequential;
  try {
    model = new Sequential({ name, layers });
    buildWithinDeclared(model, inputShape, declared, where, 'weightsManifest');
  } catch (err) {
    if (err instanceof DigitsError && err.message.startsWith(`${where}: layer `)) throw err;
    throw new DigitsError(`${where}: cannot build the model from modelTopology with input shape [${inputShape.join(', ')}]: ${(err as Error).message}`);
  }

  let metadata: DigitsMetadata | null = null;
  const udm = json.userDefinedMetadata;
  if (isObject(udm) && udm.digits !== undefined) {
    metadata = parseMetadata(udm.digits, `${where}: userDefinedMetadata.digits`);
    checkAgainstModel(metadata, model, `${where}: userDefinedMetadata.digits`);
  }
  // Verify the shards when the digests describe this manifest's files; a model.json another tool
  // rewrote (TF.js saving a Digits model again as weights.bin, keeping its metadata) is read unchecked.
  const digests = metadata?.weightFiles;
  const listed = manifestPaths(json.weightsManifest);
  const checked = verifyShard !== undefined && digests !== undefined && listed.length === Object.keys(digests).length && listed.every((p) => digests[p] !== undefined);
  const read = !checked ? readShardBytes : async (file: string, maxBytes: number): Promise<Uint8Array> => {
    const bytes = await readShardBytes(file, maxBytes);
    await verifyShard!(bytes, digests![file]!, siblingPath(where, file), where);
    return bytes;
  };
  const weights = await readWeights(json.weightsManifest, where, read);
  assignWeights(model, weights, where);
  return { model, metadata };
}

/** Most weight values a model file may declare: 1 GiB of float32 (Digits' largest preset has 1.1 million). */
export const MAX_MODEL_WEIGHTS = 256 * 1024 * 1024;

/**
 * Builds `model` for `inputShape` allowing its layers twice the `declared` weight values of its file
 * and 16 M values more: a model a little off its file still gets the precise message of
 * assignWeights, one far larger than its file (a Dense of a million units in a file of a few KB) is
 * refused while building, naming the layer, before it allocates. A file declaring more than
 * MAX_MODEL_WEIGHTS values (1 GiB) is refused first; `declaredBy` names what declared them.
 */
export function buildWithinDeclared(model: Sequential, inputShape: readonly number[], declared: number, where: string, declaredBy: string): void {
  if (declared > MAX_MODEL_WEIGHTS) {
    throw new DigitsError(`${where}: ${declaredBy} declares ${declared.toLocaleString('en-US')} weight values; ` +
      `at most ${MAX_MODEL_WEIGHTS.toLocaleString('en-US')} (1 GiB) are loaded`);
  }
  withWeightBudget(2 * declared + 16 * 1024 * 1024, where, () => model.build(inputShape, 0));
}

/**
 * The float32 weight values a weightsManifest declares (optimizer state left out), read from its
 * shapes alone; Infinity when it is malformed (readWeights then says how).
 */
function declaredWeightValues(manifest: unknown): number {
  if (!Array.isArray(manifest)) return Infinity;
  let total = 0;
  for (const g of manifest) {
    if (!isObject(g) || !Array.isArray(g.weights)) return Infinity;
    for (const w of g.weights as unknown[]) {
      if (!isObject(w) || !isShape(w.shape, true)) return Infinity;
      if (w.group === 'optimizer') continue;
      total += (w.shape as number[]).reduce((a, b) => a * b, 1);
    }
  }
  return total;
}

/** The shard files a weightsManifest names (nothing for a malformed one: readWeights reports that). */
function manifestPaths(manifest: unknown): string[] {
  if (!Array.isArray(manifest)) return [];
  return manifest.flatMap((g: unknown) => (isObject(g) && Array.isArray(g.paths) ? g.paths.filter((p): p is string => typeof p === 'string') : []));
}

/** Find the Sequential config under the wrappers TF.js and the converter use. */
function readTopology(raw: unknown, where: string): { name: string; entries: LayerEntry[]; inputShape: number[] } {
  let topo: unknown = raw;
  if (isObject(topo) && topo.model_config !== undefined) {
    topo = topo.model_config;
    if (typeof topo === 'string') {
      try {
        topo = JSON.parse(topo);
      } catch {
        throw new DigitsError(`${where}: modelTopology.model_config: expected a model config object, got a string that is not JSON`);
      }
    }
  }
  if (!isObject(topo)) throw new DigitsError(`${where}: modelTopology: expected an object, got ${describe(topo)}`);
  if (topo.class_name !== 'Sequential') {
    throw new DigitsError(`${where}: modelTopology.class_name: expected "Sequential" (Digits loads sequential models), got ${describe(topo.class_name)}`);
  }
  let name = 'sequential';
  let rawLayers: unknown;
  if (Array.isArray(topo.config)) {
    rawLayers = topo.config; // tfjs-layers before 1.0 / Keras 2.1: config is the list of layers
  } else if (isObject(topo.config)) {
    rawLayers = topo.config.layers;
    if (typeof topo.config.name === 'string') name = topo.config.name;
  }
  if (!Array.isArray(rawLayers)) {
    throw new DigitsError(`${where}: modelTopology.config.layers: expected an array of layers, got ${describe(rawLayers)}`);
  }

  let inputShape: number[] | null = null;
  const entries: LayerEntry[] = [];
  if (rawLayers.length > MAX_LAYERS) {
    throw new DigitsError(`${where}: modelTopology has ${rawLayers.length} layers; at most ${MAX_LAYERS.toLocaleString('en-US')} are loaded`);
  }
  rawLayers.forEach((l, i) => {
    const at = `modelTopology.config.layers[${i}]`;
    if (!isObject(l) || typeof l.class_name !== 'string' || !isObject(l.config)) {
      throw new DigitsError(`${where}: ${at}: expected {"class_name": string, "config": object}, got ${describe(l)}`);
    }
    const config = l.config;
    const label = typeof config.name === 'string' ? `"${config.name}"` : `#${i}`;
    const declared = declaredInputShape(config, `${where}: ${at}.config`);
    if (l.class_name === 'InputLayer') {
      if (entries.length > 0) {
        throw new DigitsError(`${where}: ${at}: an InputLayer is only allowed before the first layer of a Sequential model`);
      }
      if (declared === null) {
        throw new DigitsError(`${where}: ${at}.config: expected batch_input_shape (or batch_shape) on the InputLayer`);
      }
      inputShape = declared;
      return;
    }
    if (entries.length === 0 && inputShape === null) inputShape = declared;
    entries.push({ className: l.class_name, config, label });
  });
  if (entries.length === 0) throw new DigitsError(`${where}: modelTopology.config.layers: expected at least one layer, got none`);
  if (inputShape === null) {
    throw new DigitsError(`${where}: modelTopology: expected the input shape, as batch_input_shape on the first layer or an InputLayer; found neither`);
  }
  return { name, entries, inputShape };
}

/** batch_input_shape / batch_shape ([null, ...]) or input_shape ([...]) of a layer config, without the batch dim. */
function declaredInputShape(config: Record<string, unknown>, where: string): number[] | null {
  for (const key of ['batch_input_shape', 'batch_shape'] as const) {
    const v = config[key];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || v.length < 2 || !isShape(v.slice(1))) {
      throw new DigitsError(`${where}.${key}: expected [null, H, W, C] with positive integer sizes, got ${JSON.stringify(v)}`);
    }
    return v.slice(1) as number[];
  }
  const v = config.input_shape;
  if (v !== undefined && v !== null) {
    if (!isShape(v)) throw new DigitsError(`${where}.input_shape: expected positive integer sizes [H, W, C], got ${JSON.stringify(v)}`);
    return [...v];
  }
  return null;
}

function buildLayer(e: LayerEntry, where: string): Layer {
  const factory = layerFactory(e.className);
  if (factory === undefined) {
    throw new DigitsError(`${where}: layer ${e.label} has class "${e.className}", which Digits does not support ` +
      `(supported: ${registeredLayerNames().join(', ')})`);
  }
  let layer: Layer;
  try {
    layer = factory(e.config);
  } catch (err) {
    // the layer's own message usually names it already ('Conv2D "conv2d" config.padding: ...')
    const msg = (err as Error).message;
    const named = typeof e.config.name === 'string' && msg.includes(`"${e.config.name}"`);
    throw new DigitsError(`${where}: ${named ? '' : `layer ${e.label} (${e.className}): `}${msg}`);
  }
  if (typeof e.config.name === 'string') layer.name = e.config.name;
  return layer;
}

/** Bytes per element of the dtypes TF.js writes with a fixed size (string tensors have none). */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
/** Bytes per element of TF.js quantized weights, by `quantization.dtype`. */
const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

interface ManifestWeight {
  name: string;
  shape: number[];
  values: Float32Array;
  /** for messages */
  source: string;
}

async function readWeights(
  manifest: unknown,
  where: string,
  readShardBytes: (file: string, maxBytes: number) => Promise<Uint8Array>,
): Promise<ManifestWeight[]> {
  if (manifest === undefined || manifest === null) return [];
  if (!Array.isArray(manifest)) throw new DigitsError(`${where}: weightsManifest: expected an array of weight groups, got ${describe(manifest)}`);
  const out: ManifestWeight[] = [];
  const seenPaths = new Set<string>();
  for (let g = 0; g < manifest.length; g++) {
    const at = `weightsManifest[${g}]`;
    const group: unknown = manifest[g];
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights) ||
        !group.paths.every((p) => typeof p === 'string')) {
      throw new DigitsError(`${where}: ${at}: expected {"paths": [file names], "weights": [specs]}, got ${describe(group)}`);
    }
    const paths = group.paths as string[];

    // The specs first, so that a bad dtype is reported before any shard is read.
    // Optimizer state (`group: "optimizer"`, written by TF.js's save({includeOptimizer: true}))
    // is skipped, but its bytes still count for the offsets of what follows.
    const specs: { name: string; shape: number[]; bytes: number; skip: boolean }[] = [];
    group.weights.forEach((w: unknown, i: number) => {
      const wat = `${at}.weights[${i}]`;
      if (!isObject(w) || typeof w.name !== 'string') throw new DigitsError(`${where}: ${wat}: expected {"name", "shape", "dtype"}, got ${describe(w)}`);
      if (!isShape(w.shape, true)) throw new DigitsError(`${where}: ${wat} "${w.name}": shape: expected an array of non-negative integers, got ${JSON.stringify(w.shape)}`);
      const shape = [...(w.shape as number[])];
      const count = shape.reduce((a, b) => a * b, 1);
      const quantized = w.quantization !== undefined && w.quantization !== null;
      if (w.group === 'optimizer') {
        const per = quantized ? QUANTIZED_BYTES[String((w.quantization as Record<string, unknown>).dtype)] : DTYPE_BYTES[String(w.dtype)];
        if (per === undefined) {
          throw new DigitsError(`${where}: ${wat} "${w.name}": optimizer weight of dtype ${describe(w.dtype)} has no fixed size ` +
            '(expected float32, int32, bool or complex64)');
        }
        specs.push({ name: w.name, shape, bytes: per * count, skip: true });
        return;
      }
      if (w.dtype !== 'float32') {
        throw new DigitsError(`${where}: ${wat} "${w.name}": dtype: expected "float32", got ${describe(w.dtype)}`);
      }
      if (quantized) {
        throw new DigitsError(`${where}: ${wat} "${w.name}": quantization: expected none (Digits reads unquantized float32 weights), ` +
          `got ${JSON.stringify(w.quantization)}`);
      }
      specs.push({ name: w.name, shape, bytes: 4 * count, skip: false });
    });

    // each shard listed once in the whole manifest, and none larger than its group's weights need
    for (const p of paths) {
      if (seenPaths.has(p)) throw new DigitsError(`${where}: ${at}.paths: ${describe(p)} is listed more than once; each shard holds its own weights`);
      seenPaths.add(p);
    }
    const need = specs.reduce((s, w) => s + w.bytes, 0);
    const buffers: Uint8Array[] = [];
    for (const p of paths) buffers.push(await readShardBytes(p, need));
    const sizes = buffers.map((b) => b.byteLength);
    const have = sizes.reduce((a, b) => a + b, 0);
    if (have !== need) throw shardLengthError(where, at, paths, sizes, need, specs.length);

    const all = concatBytes(buffers, have);
    let off = 0;
    for (const s of specs) {
      if (s.skip) {
        off += s.bytes;
        continue;
      }
      const values = new Float32Array(s.bytes / 4);
      new Uint8Array(values.buffer).set(all.subarray(off, off + s.bytes));
      off += s.bytes;
      const bad = values.findIndex((v) => !Number.isFinite(v)); // a NaN or infinite weight makes every prediction meaningless
      if (bad >= 0) {
        throw new DigitsError(`${where}: ${at} (${paths.join(', ')}) weight "${s.name}": value ${bad} is ${values[bad]}; expected finite numbers`);
      }
      out.push({ name: s.name, shape: s.shape, values, source: `${at} (${paths.join(', ')})` });
    }
  }
  return out;
}

/**
 * Name the shard that has the wrong length. With several shards, the TF.js
 * converter makes every shard but the last exactly the same size, so the
 * first shard that differs from the first one is the culprit, else the last.
 */
function shardLengthError(where: string, at: string, paths: string[], sizes: number[], need: number, weightCount: number): DigitsError {
    const what = `${weightCount} weights listed in ${at} of ${where}`;
  if (paths.length === 0) return new DigitsError(`${where}: ${at}.paths: expected shard files holding ${need} bytes (${what}), got none`);
  if (paths.length === 1) {
    return new DigitsError(`${siblingPath(where, paths[0]!)}: weight shard has the wrong length: expected ${need} bytes ` +
      `(${what}), got ${sizes[0]} bytes`);
  }
  const s = sizes[0]!;
  for (let i = 1; i < paths.length - 1; i++) {
    if (sizes[i] !== s) {
      return new DigitsError(`${siblingPath(where, paths[i]!)}: weight shard has the wrong length: expected ${s} bytes ` +
        `(the size of every shard but the last), got ${sizes[i]} bytes`);
    }
  }
  const lastNeed = need - s * (paths.length - 1);
  const all = `${sizes.join(' + ')} = ${sizes.reduce((a, b) => a + b, 0)} bytes`;
  if (lastNeed > 0 && lastNeed <= s) {
    const last = paths.length - 1;
    return new DigitsError(`${siblingPath(where, paths[last]!)}: weight shard has the wrong length: expected ${lastNeed} bytes ` +
      `(${what}), got ${sizes[last]} bytes (all shards: ${all})`);
  }
  // no last shard can make up the difference: the shards together are the wrong size
  return new DigitsError(`${where}: ${at}: its ${paths.length} weight shards hold ${all}, expected ${need} bytes in all (${what})`);
}

/**
 * Match manifest weights to the model's by name: exactly (`conv2d/kernel`),
 * else by the last two path parts (`layer/param`), which tolerates a scope
 * prefix some writers add (`sequential/conv2d/kernel`).
 */
function assignWeights(model: Sequential, manifest: ManifestWeight[], where: string): void {
  const wanted = model.namedWeights();
  const wantedNames = new Set(wanted.map((w) => w.name));
  const byName = new Map<string, ManifestWeight>();
  for (const w of manifest) {
    let key = w.name;
    if (!wantedNames.has(key)) {
      const parts = key.split('/');
      if (parts.length > 2) key = parts.slice(-2).join('/');
    }
    if (!wantedNames.has(key)) {
      throw new DigitsError(`${where}: weightsManifest has weight "${w.name}" (${w.source}), which the model does not have ` +
        `(its weights: ${[...wantedNames].join(', ')})`);
    }
    if (byName.has(key)) throw new DigitsError(`${where}: weightsManifest lists weight "${key}" twice`);
    byName.set(key, w);
  }
  const map = new Map<string, Float32Array>();
  for (const w of wanted) {
    const m = byName.get(w.name);
    if (m === undefined) {
      throw new DigitsError(`${where}: weightsManifest has no weight "${w.name}" (shape [${w.tensor.shape.join(', ')}]), ` +
        'which the model needs');
    }
    if (m.shape.length !== w.tensor.shape.length || m.shape.some((d, i) => d !== w.tensor.shape[i])) {
      throw new DigitsError(`${where}: weight "${m.name}": shape: expected [${w.tensor.shape.join(', ')}] (as the layer ` +
        `config implies), got [${m.shape.join(', ')}]`);
    }
    map.set(w.name, m.values);
  }
  model.setNamedWeights(map);
}

// ---------------------------------------------------------------------------------------------
// helpers

/** The file `file` beside `where` (a model.json's path), for messages: '/m/model.json', 'a.bin' → '/m/a.bin'. */
function siblingPath(where: string, file: string): string {
  return where.slice(0, Math.max(where.lastIndexOf('/'), where.lastIndexOf('\\')) + 1) + file;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isShape(v: unknown, allowZero = false): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isInteger(d) && (allowZero ? d >= 0 : d > 0));
}

/** The parts back to back (the part itself when there is one). */
export function concatBytes(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
