/**
 * Training checkpoints: everything an interrupted `fit` needs to go on and
 * end with exactly the weights of an uninterrupted run. A checkpoint is a
 * folder (`<out>/checkpoint/`) holding
 *
 *   model.json, group1-shard*.bin   the weights, as a TF.js layers-model (shard SHA-256s in its metadata)
 *   state.json                      position, settings, and the training state as JSON; its typed
 *                                   arrays (optimizer slots, the epoch's sample order, EarlyStopping's
 *                                   best weights) are references into state.bin
 *   state.bin                       those arrays back to back (little-endian), its SHA-256 in state.json
 *
 * The folder is replaced atomically (writeFolderAtomic: staged, fsynced,
 * renamed), so a reader finds the previous checkpoint or the new one, whole;
 * after a crash in the middle of the swap the previous one is `checkpoint.prev`.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError, describe } from '../errors.js';
import { VERSION } from '../version.js';
import type { Sequential, TrainingState } from '../nn/index.js';
import { concatBytes, loadModel, sha256Hex, toModelJson, MODEL_JSON, type DigitsMetadata } from './model-files.js';
import { previousFolder, writeFolderAtomic } from '../util/atomic.js';

export const CHECKPOINT_DIR = 'checkpoint';
export const STATE_JSON = 'state.json';
export const STATE_BIN = 'state.bin';
const FORMAT = 'digits-checkpoint';
const FORMAT_VERSION = 1;

export interface CheckpointData {
  /** how the run was started (JSON): whatever its owner needs to start it again */
  settings: Record<string, unknown>;
  /** Sequential.trainingState() at the moment of the checkpoint */
  state: TrainingState;
  /** more facts for the owner (JSON), e.g. training seconds so far */
  extra?: Record<string, unknown>;
}

export interface LoadedCheckpoint extends CheckpointData {
  /** the folder it was read from (`checkpoint`, or `checkpoint.prev` after a crash during a swap) */
  dir: string;
  /** the model as it was at the checkpoint (shards verified) */
  model: Sequential;
  metadata: DigitsMetadata | null;
  writtenAt: string;
}

/** `<outDir>/checkpoint` */
export function checkpointDir(outDir: string): string {
  return path.join(outDir, CHECKPOINT_DIR);
}

/** Write (replace) the checkpoint folder `dir` atomically. */
export async function writeCheckpoint(
  dir: string, model: Sequential, metadata: DigitsMetadata, data: CheckpointData,
  opts: { beforeCommit?: () => void | Promise<void> } = {},
): Promise<void> {
  const { json, shards } = toModelJson(model, metadata);
  const blobs: Uint8Array[] = [];
  const offset = { bytes: 0 };
  const encoded = encode(data.state, blobs, offset, 'state');
  const bin = concatBytes(blobs, offset.bytes);
  const s = data.state;
  const stateJson = {
    format: FORMAT,
    formatVersion: FORMAT_VERSION,
    generatedBy: `Digits v${VERSION}`,
    writtenAt: new Date().toISOString(),
    position: { epoch: s.epoch, batch: s.batch, epochs: s.epochs, steps: s.steps },
    settings: data.settings,
    extra: data.extra ?? {},
    stateFile: { file: STATE_BIN, bytes: bin.byteLength, sha256: sha256Hex(bin) },
    state: encoded,
  };
  await writeFolderAtomic(dir, [
    ...shards.map((sh) => ({ name: sh.file, data: sh.bytes })),
    { name: MODEL_JSON, data: JSON.stringify(json) },
    { name: STATE_BIN, data: bin },
    { name: STATE_JSON, data: JSON.stringify(stateJson) },
  ], opts);
}

/**
 * The checkpoint of the run in `outDir`: the path of `checkpoint/`, or of
 * `checkpoint.prev` when a crash came in the middle of replacing it; null
 * when there is none.
 */
export async function findCheckpoint(outDir: string): Promise<string | null> {
  for (const dir of [checkpointDir(outDir), previousFolder(checkpointDir(outDir))]) {
    const st = await fs.stat(path.join(dir, STATE_JSON)).catch(() => null);
    if (st !== null && st.isFile()) return dir;
  }
  return null;
}

/** Remove the checkpoint of the run in `outDir` (when it has finished). */
export async function removeCheckpoint(outDir: string): Promise<void> {
  await fs.rm(checkpointDir(outDir), { recursive: true, force: true });
  await fs.rm(previousFolder(checkpointDir(outDir)), { recursive: true, force: true });
}

/** Read and verify the checkpoint folder `dir`: state.bin's length and SHA-256, the weight shards' (via loadModel). */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const jsonPath = path.join(dir, STATE_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(jsonPath, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DigitsError(`${jsonPath}: checkpoint not found`);
    throw new DigitsError(`${jsonPath}: cannot read the checkpoint (${code ?? (err as Error).message})`);
  }
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new DigitsError(`${jsonPath}: ${field}: expected ${expected}, got ${describe(got)}`);
  };
  if (!isObject(raw) || raw.format !== FORMAT) fail('format', `"${FORMAT}"`, isObject(raw) ? raw.format : raw);
  const j = raw as Record<string, unknown>;
  if (j.formatVersion !== FORMAT_VERSION) fail('formatVersion', String(FORMAT_VERSION), j.formatVersion);
  if (!isObject(j.settings)) fail('settings', 'an object', j.settings);
  if (!isObject(j.extra)) fail('extra', 'an object', j.extra);
  const sf = j.stateFile;
  if (!isObject(sf) || sf.file !== STATE_BIN || !Number.isInteger(sf.bytes) || typeof sf.sha256 !== 'string') {
    fail('stateFile', `{file: "${STATE_BIN}", bytes, sha256}`, sf);
  }
  const binPath = path.join(dir, STATE_BIN);
  let bin: Uint8Array;
  try {
    bin = new Uint8Array(await fs.readFile(binPath));
  } catch (err) {
    throw new DigitsError(`${binPath}: cannot read the checkpoint's state (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const want = sf as { bytes: number; sha256: string };
  const refuse = (what: string): never => {
    throw new DigitsError(`${binPath}: checkpoint state refused: ${what}; the file was truncated or changed after it was written`);
  };
  if (bin.byteLength !== want.bytes) refuse(`expected ${want.bytes} bytes (recorded in ${jsonPath}), got ${bin.byteLength} bytes`);
  const actual = sha256Hex(bin);
  if (actual !== want.sha256) refuse(`SHA-256 is ${actual}, expected ${want.sha256} (recorded in ${jsonPath})`);
  const state = checkState(decode(j.state, bin, `${jsonPath}: state`), `${jsonPath}: state`);
  const { model, metadata } = await loadModel(dir);
  return {
    dir, model, metadata, state,
    settings: j.settings as Record<string, unknown>,
    extra: j.extra as Record<string, unknown>,
    writtenAt: typeof j.writtenAt === 'string' ? j.writtenAt : '',
  };
}

// ---------------------------------------------------------------------------------------------
// state <-> JSON + binary

/**
 * JSON for a state tree: a Float32Array/Int32Array becomes {"$f32"|"$i32": [byteOffset, length]}
 * into the blob, a non-finite number {"$num": "NaN" | "Infinity" | "-Infinity"}.
 */
function encode(v: unknown, blobs: Uint8Array[], offset: { bytes: number }, at: string): unknown {
  if (v instanceof Float32Array || v instanceof Int32Array) {
    const ref = [offset.bytes, v.length];
    blobs.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    offset.bytes += v.byteLength;
    return v instanceof Float32Array ? { $f32: ref } : { $i32: ref };
  }
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $num: String(v) };
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x, i) => encode(x, blobs, offset, `${at}[${i}]`));
  if (isObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k.startsWith('$')) throw new DigitsError(`writeCheckpoint: ${at}.${k}: keys starting with $ are reserved`);
      if (x !== undefined) out[k] = encode(x, blobs, offset, `${at}.${k}`);
    }
    return out;
  }
  throw new DigitsError(`writeCheckpoint: ${at}: cannot store ${describe(v)} in a checkpoint`);
}

function decode(v: unknown, bin: Uint8Array, at: string): unknown {
  if (Array.isArray(v)) return v.map((x, i) => decode(x, bin, `${at}[${i}]`));
  if (!isObject(v)) return v;
  const keys = Object.keys(v);
  if (keys.length === 1 && (keys[0] === '$f32' || keys[0] === '$i32')) {
    const ref = v[keys[0]];
    const [off, len] = Array.isArray(ref) ? ref as number[] : [];
    if (!Number.isInteger(off) || !Number.isInteger(len) || off! < 0 || len! < 0 || off! % 4 !== 0 || off! + len! * 4 > bin.byteLength) {
      throw new DigitsError(`${at}: expected [byteOffset, length] inside state.bin (${bin.byteLength} bytes), got ${JSON.stringify(ref)}`);
    }
    const copy = new Uint8Array(bin.subarray(off!, off! + len! * 4));
    return keys[0] === '$f32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
  }
  if (keys.length === 1 && keys[0] === '$num') {
    const n = Number(v.$num);
    if (!['NaN', 'Infinity', '-Infinity'].includes(String(v.$num))) throw new DigitsError(`${at}: expected "NaN", "Infinity" or "-Infinity", got ${describe(v.$num)}`);
    return n;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = decode(x, bin, `${at}.${k}`);
  return out;
}

/** The decoded state has the fields and types of a TrainingState (fit checks it against the run). */
function checkState(v: unknown, at: string): TrainingState {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new DigitsError(`${at}.${field}: expected ${expected}, got ${describe(got)}`);
  };
  if (!isObject(v)) fail('', 'an object', v);
  const s = v as Record<string, unknown>;
  for (const k of ['epoch', 'batch', 'epochs', 'batchSize', 'steps', 'correct', 'seen']) {
    if (!Number.isInteger(s[k]) || (s[k] as number) < 0) fail(k, 'a non-negative integer', s[k]);
  }
  if (typeof s.lossSum !== 'number') fail('lossSum', 'a number', s.lossSum);
  if (typeof s.stopTraining !== 'boolean') fail('stopTraining', 'true or false', s.stopTraining);
  const isRngState = (r: unknown): boolean => Array.isArray(r) && r.length === 5 && r.every((x) => typeof x === 'number');
  if (!isRngState(s.rng)) fail('rng', '5 numbers', s.rng);
  if (!isObject(s.layerRngs) || !Object.values(s.layerRngs).every(isRngState)) fail('layerRngs', '{layer: 5 numbers}', s.layerRngs);
  if (!(s.order instanceof Int32Array)) fail('order', 'an Int32Array', s.order);
  const h = s.history;
  if (!isObject(h) || !Array.isArray(h.epoch) || !isObject(h.history) ||
      !Object.values(h.history).every((a) => Array.isArray(a) && a.every((x) => typeof x === 'number'))) {
    fail('history', '{epoch: [...], history: {loss: [...], ...}}', h);
  }
  const o = s.optimizer;
  if (!isObject(o) || typeof o.className !== 'string' || typeof o.learningRate !== 'number' || !Number.isInteger(o.iterations) ||
      !Array.isArray(o.slots) || !o.slots.every((x) => isObject(x) && typeof x.name === 'string' && x.data instanceof Float32Array)) {
    fail('optimizer', '{className, learningRate, iterations, slots: [{name, data}]}', o);
  }
  if (!Array.isArray(s.callbacks) || !s.callbacks.every((c) => isObject(c) && typeof c.className === 'string' && 'state' in c)) {
    fail('callbacks', '[{className, state}]', s.callbacks);
  }
  const f = s.fitOptions;
  if (f !== undefined && !(isObject(f) && (f.augment === null || isObject(f.augment)) &&
      typeof f.labelSmoothing === 'number' && typeof f.sam === 'number')) {
    fail('fitOptions', '{augment: {...} or null, labelSmoothing: number, sam: number}', f);
  }
  return v as unknown as TrainingState;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}
