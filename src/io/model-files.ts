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
import type { Sequential } from '../nn/index.js';
import {
  DIGIT_CLASS_NAMES, MODEL_JSON, checkAgainstModel, fromModelJson, isObject, parseMetadata, type DigitsMetadata, type LoadedModel, type WeightFileDigest,
} from './model-format.js';

export {
  MODEL_JSON, MAX_LAYERS, MAX_MODEL_WEIGHTS, DIGIT_CLASS_NAMES, unitPixelFactor, calibrationOf, parseMetadata, checkAgainstModel, fromModelJson,
  buildWithinDeclared, concatBytes, type TrainingHistory, type DigitsMetadata, type WeightFileDigest, type LoadedModel, type ShardVerifier,
} from './model-format.js';


/** TF.js converter's default shard size (`weight_shard_size_bytes`): 4 MiB. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;
/** The tfjs-layers version whose model.json schema Digits writes. */
export const TFJS_LAYERS_VERSION = '4.22.0';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
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

// ---------------------------------------------------------------------------------------------
// metadata

/** Version of the installed Digits package (from its package.json). */
export function digitsVersion(): string {
  return VERSION;
}


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
    ...(facts.calibration !== undefined ? { calibration: facts.calibration } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// save

/** The model.json object for `model` (without touching the disk), and the weight bytes it describes. */
export function toModelJson(
  model: Sequential,
  metadata: DigitsMetadata,
  shardBytes: number = DEFAULT_SHARD_BYTES,
  /** put before each shard's file name (a site that holds two models side by side) */
  shardPrefix = '',
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
      file: `${shardPrefix}group1-shard${i + 1}of${count}.bin`,
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
  return fromModelJson(json, jsonPath, (file, maxBytes) => readShard(folder, file, jsonPath, maxBytes), verifyShard);
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
