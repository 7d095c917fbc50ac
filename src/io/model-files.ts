/**
 * Model files in the TensorFlow.js layers-model format: a folder holding
 * `model.json` and binary weight shards, so that `tf.loadLayersModel` reads a
 * Digits model unchanged and Digits reads a model TF.js (or the Python
 * converter) wrote.
 *
 * What Digits writes (the layout TF.js 4.22 `model.save` produces, shards
 * named as the TF.js converter names them):
 *
 *   model.json
 *   {
 *     "modelTopology": {
 *       "class_name": "Sequential",
 *       "config": { "name": "sequential", "layers": [ { "class_name": "Conv2D", "config": {...} }, ... ] },
 *       "keras_version": "tfjs-layers 4.22.0",
 *       "backend": "tensor_flow.js"
 *     },
 *     "format": "layers-model",
 *     "generatedBy": "Digits v0.1.0",
 *     "convertedBy": null,
 *     "weightsManifest": [ { "paths": ["group1-shard1of1.bin"],
 *                            "weights": [ { "name": "conv2d/kernel", "shape": [3,3,1,32], "dtype": "float32" }, ... ] } ],
 *     "userDefinedMetadata": { "digits": { version, inputScale, inputShape, classNames, seed, preset, ... } }
 *   }
 *   group1-shard1of1.bin ... groupNshard1ofK.bin  (little-endian float32, weights back to back in
 *                                                   manifest order, split every 4 MiB)
 *
 * The first layer's config carries `batch_input_shape: [null, H, W, C]` and
 * `dtype: "float32"`, as TF.js writes it, which is how a reader learns the
 * input shape.
 *
 * What Digits reads, besides its own files: `model.json` as tfjs-node's file
 * handler writes it (one `weights.bin`), as the Python converter writes it
 * (`modelTopology.model_config` wrapper, any number of groups and shards),
 * older topologies whose `config` is the bare array of layers, and an
 * `InputLayer` entry in place of `batch_input_shape` (Keras 3 `batch_shape`
 * too).
 *
 * Writes are atomic at the folder level: the files are written into a staging
 * folder, then moved into place with `model.json` last (see `saveModel`).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError, describe } from '../errors.js';
import { VERSION } from '../version.js';
import { writeFileSynced } from '../util/atomic.js';
import { layerFactory, registeredLayerNames } from '../nn/layer.js';
import type { Layer } from '../nn/layer.js';
import { Sequential } from '../nn/index.js';
import { withWeightBudget } from '../nn/base.js';
import type { Precision } from '../engine/backend.js';

/** The topology and weights manifest of a saved model (TF.js layers-model format). */
export const MODEL_JSON = 'model.json';
/** Most layers a model file may have (Digits' models have tens). */
export const MAX_LAYERS = 10_000;

/** TF.js converter's default shard size (`weight_shard_size_bytes`): 4 MiB. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;
/** The tfjs-layers version whose model.json schema Digits writes. */
export const TFJS_LAYERS_VERSION = '4.22.0';

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

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Factor from Digits' image data (pixels / 255, i.e. 0..1) to what the model
 * takes: raw pixels × inputScale. 1 for models trained on 0..1 (inputScale
 * 1/255, also assumed without metadata), 255 for raw-pixel models.
 */
export function unitPixelFactor(metadata: Pick<DigitsMetadata, 'inputScale'> | null | undefined): number {
  return 255 * (metadata?.inputScale ?? 1 / 255);
}

/** How saveModel writes: the largest weight shard. */
export interface SaveOptions {
  /** largest shard in bytes (default 4 MiB, as the TF.js converter) */
  shardBytes?: number;
  /**
   * Test hook: runs after every file is written to the staging folder and
   * before anything is moved into place. An error thrown here must leave the
   * target folder as it was.
   */
  beforeCommit?: () => void | Promise<void>;
}

/** What saveModel wrote: model.json and the weight shards. */
export interface SaveResult {
  /** files written, relative to the model folder, model.json last */
  files: string[];
  /** bytes of weight data */
  weightBytes: number;
}

/** A model folder read by loadModel: the model, its Digits metadata (null for a model TF.js saved), and its digest. */
export interface LoadedModel {
  model: Sequential;
  /** null when model.json has no userDefinedMetadata.digits (a model TF.js saved) */
  metadata: DigitsMetadata | null;
}

// ---------------------------------------------------------------------------------------------
// metadata

/** Version of the installed Digits package (from its package.json). */
export function digitsVersion(): string {
  return VERSION;
}

export const DIGIT_CLASS_NAMES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Metadata for `model` with Digits' defaults for every fact not given. */
export function makeMetadata(model: Sequential, facts: Partial<DigitsMetadata> = {}): DigitsMetadata {
  return {
    version: facts.version ?? digitsVersion(),
    inputScale: facts.inputScale ?? 1 / 255,
    inputShape: facts.inputShape ?? [...(model.inputShape ?? [28, 28, 1])],
    classNames: facts.classNames ?? [...DIGIT_CLASS_NAMES],
    seed: facts.seed ?? null,
    preset: facts.preset ?? null,
    ...(facts.history !== undefined ? { history: facts.history } : {}),
    ...(facts.testAccuracy !== undefined ? { testAccuracy: facts.testAccuracy } : {}),
    trainedAt: facts.trainedAt ?? null,
    backend: facts.backend ?? null,
    ...(facts.precision !== undefined ? { precision: facts.precision } : {}),
  };
}

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
    ...(m.weightFiles !== undefined ? { weightFiles: structuredClone(m.weightFiles as Record<string, WeightFileDigest>) } : {}),
  };
}

/** The metadata must describe the model it travels with: same input shape, one class name per output. */
function checkAgainstModel(meta: DigitsMetadata, model: Sequential, where: string): void {
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

// ---------------------------------------------------------------------------------------------
// save

/** The model.json object for `model` (without touching the disk), and the weight bytes it describes. */
export function toModelJson(
  model: Sequential,
  metadata: DigitsMetadata,
  shardBytes: number = DEFAULT_SHARD_BYTES,
): { json: Record<string, unknown>; shards: { file: string; bytes: Uint8Array }[] } {
  const inputShape = model.inputShape;
  if (inputShape === null) {
    throw new DigitsError(`saveModel: the model "${model.name}" is not built (call build(inputShape) or train it first)`);
  }
  if (!Number.isInteger(shardBytes) || shardBytes <= 0 || shardBytes % 4 !== 0) {
    throw new DigitsError(`saveModel: shardBytes: expected a positive multiple of 4, got ${describe(shardBytes)}`);
  }
  // Validates what is about to be written, so a bad fact never reaches the file.
  const meta = parseMetadata(metadata, 'saveModel: metadata');
  checkAgainstModel(meta, model, 'saveModel: metadata');

  const layers = model.layers.map((layer, i) => {
    const config: Record<string, unknown> = { ...layer.getConfig(), name: layer.name };
    if (i === 0) {
      // TF.js puts the input shape on the first layer; its reader needs it to build the model.
      config.batch_input_shape = [null, ...inputShape];
      if (config.dtype === undefined) config.dtype = 'float32';
    }
    return { class_name: layer.className, config };
  });

  const named = model.namedWeights();
  const total = named.reduce((s, w) => s + w.tensor.data.byteLength, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const w of named) {
    const d = w.tensor.data;
    all.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), offset);
    offset += d.byteLength;
  }
  // The converter splits the group's bytes every shardBytes, regardless of weight boundaries.
  const count = Math.max(1, Math.ceil(total / shardBytes));
  const shards: { file: string; bytes: Uint8Array }[] = [];
  for (let i = 0; i < count; i++) {
    shards.push({
      file: `group1-shard${i + 1}of${count}.bin`,
      bytes: all.subarray(i * shardBytes, Math.min(total, (i + 1) * shardBytes)),
    });
  }

  meta.weightFiles = Object.fromEntries(shards.map((sh) => [sh.file, { bytes: sh.bytes.byteLength, sha256: sha256Hex(sh.bytes) }]));

  const json: Record<string, unknown> = {
    modelTopology: {
      class_name: 'Sequential',
      config: { name: model.name, layers },
      keras_version: `tfjs-layers ${TFJS_LAYERS_VERSION}`,
      backend: 'tensor_flow.js',
    },
    format: 'layers-model',
    generatedBy: `Digits v${meta.version}`,
    convertedBy: null,
    weightsManifest: [
      {
        paths: shards.map((s) => s.file),
        weights: named.map((w) => ({ name: w.name, shape: [...w.tensor.shape], dtype: 'float32' })),
      },
    ],
    userDefinedMetadata: { digits: meta },
  };
  return { json, shards };
}

/**
 * Save `model` into the folder `dir` (created if needed) as a TF.js
 * layers-model. Atomic: every file is first written to a staging folder;
 * only when all are on disk are they moved into place.
 *  - `dir` does not exist: the staging folder (a hidden sibling of `dir`) is
 *    renamed to `dir` in one step.
 *  - `dir` exists (it may hold other files, a previous model): the old
 *    `model.json` is removed first, then the shards are renamed in, then the
 *    new `model.json` last. A reader therefore sees the old model, no model,
 *    or the new one, never a model.json with shards it does not describe.
 *    Shards of the previous model that the new one does not use are removed.
 * On any failure the staging folder is removed and `dir` is left as it was.
 */
export async function saveModel(
  model: Sequential,
  dir: string,
  metadata: DigitsMetadata,
  opts: SaveOptions = {},
): Promise<SaveResult> {
  const { json, shards } = toModelJson(model, metadata, opts.shardBytes ?? DEFAULT_SHARD_BYTES);
  const text = JSON.stringify(json);
  const weightBytes = shards.reduce((s, x) => s + x.bytes.byteLength, 0);
  const files = [...shards.map((s) => s.file), MODEL_JSON];

  const target = path.resolve(dir);
  const existing = await fs.stat(target).catch(() => null);
  if (existing !== null && !existing.isDirectory()) {
    throw new DigitsError(`${dir}: expected a folder to save the model in, but it is a file`);
  }
  const stamp = `${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const staging = existing === null
    ? path.join(path.dirname(target), `.${path.basename(target)}.saving-${stamp}`)
    : path.join(target, `.saving-${stamp}`);

  try {
    await fs.mkdir(staging, { recursive: true });
    for (const s of shards) await writeFileSynced(path.join(staging, s.file), s.bytes);
    await writeFileSynced(path.join(staging, MODEL_JSON), text);
    if (opts.beforeCommit) await opts.beforeCommit();

    if (existing === null) {
      await fs.rename(staging, target);
    } else {
      const oldShards = await previousShards(target);
      await fs.rm(path.join(target, MODEL_JSON), { force: true });
      for (const s of shards) await fs.rename(path.join(staging, s.file), path.join(target, s.file));
      await fs.rename(path.join(staging, MODEL_JSON), path.join(target, MODEL_JSON));
      await fs.rm(staging, { recursive: true, force: true });
      for (const old of oldShards) {
        if (!files.includes(old)) await fs.rm(path.join(target, old), { force: true }).catch(() => undefined);
      }
    }
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  return { files, weightBytes };
}

/** Shard files named by the model.json already in `dir` (empty if none or unreadable). */
async function previousShards(dir: string): Promise<string[]> {
  try {
    const json = JSON.parse(await fs.readFile(path.join(dir, MODEL_JSON), 'utf8')) as { weightsManifest?: unknown };
    if (!Array.isArray(json.weightsManifest)) return [];
    const out: string[] = [];
    for (const g of json.weightsManifest) {
      if (isObject(g) && Array.isArray(g.paths)) {
        for (const p of g.paths) {
          // only plain file names inside dir: never delete outside the model folder
          if (typeof p === 'string' && p === path.basename(p) && p !== MODEL_JSON) out.push(p);
        }
      }
    }
    return out;
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// load

interface LayerEntry {
  className: string;
  config: Record<string, unknown>;
  /** for messages: the layer's name or its index */
  label: string;
}

/**
 * Load a layers-model from `dir` (a folder holding model.json, or the path
 * of the model.json itself).
 */
export async function loadModel(dir: string): Promise<LoadedModel> {
  let jsonPath = path.join(dir, MODEL_JSON);
  if (dir.endsWith('.json')) {
    const st = await fs.stat(dir).catch(() => null);
    if (st !== null && st.isFile()) jsonPath = dir;
  }
  const folder = path.dirname(jsonPath);

  let text: string;
  try {
    text = await fs.readFile(jsonPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new DigitsError(`${jsonPath}: model file not found (expected a model folder holding model.json, as \`digits train --out\` writes)`);
    }
    if (code === 'EISDIR') throw new DigitsError(`${jsonPath}: expected a file, found a folder`);
    throw new DigitsError(`${jsonPath}: cannot read (${(err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DigitsError(`${jsonPath}: not valid JSON (${(err as Error).message})`);
  }
  return fromModelJson(json, jsonPath, (file, maxBytes) => readShard(folder, file, jsonPath, maxBytes));
}

async function readShard(folder: string, file: string, jsonPath: string, maxBytes: number): Promise<Uint8Array> {
  // A shard is a file in the model folder (or below it): a manifest must not make the loader read
  // elsewhere (by its path or through a symbolic link), nor wait forever on a FIFO or read a device
  // such as /dev/zero without end, nor read a file larger than the weights it should hold.
  const p = path.resolve(folder, file);
  const outside = (from: string, to: string): boolean => {
    const rel = path.relative(from, to);
    return rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
  };
  if (outside(path.resolve(folder), p)) {
    throw new DigitsError(`${jsonPath}: weightsManifest path ${describe(file)}: expected a shard file inside the model folder`);
  }
  try {
    const [realFolder, real] = await Promise.all([fs.realpath(folder), fs.realpath(p)]);
    if (outside(realFolder, real)) {
      throw new DigitsError(`${jsonPath}: weightsManifest path ${describe(file)}: it leads outside the model folder (a symbolic link); ` +
        'expected a shard file inside it');
    }
    const st = await fs.stat(real);
    if (!st.isFile()) throw new DigitsError(`${p}: weight shard is not a regular file (listed in ${jsonPath} weightsManifest)`);
    if (st.size > maxBytes) {
      throw new DigitsError(`${p}: weight shard has the wrong length: expected ${maxBytes} bytes or fewer (the weights listed ` +
        `with it in ${jsonPath}), got ${st.size} bytes; refused without reading it`);
    }
    return new Uint8Array(await fs.readFile(real));
  } catch (err) {
    if (err instanceof DigitsError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DigitsError(`${p}: weight shard not found (listed in ${jsonPath} weightsManifest)`);
    }
    throw new DigitsError(`${p}: cannot read weight shard (${(err as Error).message})`);
  }
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
  const checked = digests !== undefined && listed.length === Object.keys(digests).length && listed.every((p) => digests[p] !== undefined);
  const read = !checked ? readShardBytes : async (file: string, maxBytes: number): Promise<Uint8Array> => {
    const bytes = await readShardBytes(file, maxBytes);
    verifyShard(bytes, digests![file]!, path.join(path.dirname(where), file), where);
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

/** A shard must have the length and SHA-256 its model.json recorded; otherwise it is refused, never loaded. */
function verifyShard(bytes: Uint8Array, want: WeightFileDigest, file: string, where: string): void {
  const refuse = (what: string): never => {
    throw new DigitsError(`${file}: ${what}; refused: the file was truncated or changed after it was saved ` +
      '(restore it from a copy, or train the model again)');
  };
  if (bytes.byteLength !== want.bytes) {
    refuse(`weight shard has the wrong length: expected ${want.bytes} bytes (recorded in ${where}), got ${bytes.byteLength} bytes`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== want.sha256) refuse(`weight shard does not match its SHA-256: expected ${want.sha256} (recorded in ${where}), got ${actual}`);
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
  const dir = path.dirname(where);
  const what = `${weightCount} weights listed in ${at} of ${where}`;
  if (paths.length === 0) return new DigitsError(`${where}: ${at}.paths: expected shard files holding ${need} bytes (${what}), got none`);
  if (paths.length === 1) {
    return new DigitsError(`${path.join(dir, paths[0]!)}: weight shard has the wrong length: expected ${need} bytes ` +
      `(${what}), got ${sizes[0]} bytes`);
  }
  const s = sizes[0]!;
  for (let i = 1; i < paths.length - 1; i++) {
    if (sizes[i] !== s) {
      return new DigitsError(`${path.join(dir, paths[i]!)}: weight shard has the wrong length: expected ${s} bytes ` +
        `(the size of every shard but the last), got ${sizes[i]} bytes`);
    }
  }
  const lastNeed = need - s * (paths.length - 1);
  const all = `${sizes.join(' + ')} = ${sizes.reduce((a, b) => a + b, 0)} bytes`;
  if (lastNeed > 0 && lastNeed <= s) {
    const last = paths.length - 1;
    return new DigitsError(`${path.join(dir, paths[last]!)}: weight shard has the wrong length: expected ${lastNeed} bytes ` +
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

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isShape(v: unknown, allowZero = false): v is number[] {
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
