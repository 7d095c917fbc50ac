/**
 * The worker side of the server's off-loop work (src/server/worker-pool.ts): decoding and
 * preprocessing an uploaded image (ImageDecoder), and parsing, checking and scaling a batch's JSON
 * body (BatchParser), each the kind of work that grows with the body and would otherwise stall
 * the event loop. Errors come back as values, not throws, so that the main thread can answer with
 * their message intact.
 */
import type { MessagePort } from 'node:worker_threads';
import { Ajv, type ValidateFunction } from 'ajv';
import { ImageError, decodeImage, preprocessImage, type Polarity, FIELD } from '../preprocess/image.js';
import { segmentGray, type Segmentation } from '../preprocess/segment.js';
import { BodyError, invalidJsonMessage, parseJson } from './body.js';
import { AJV_OPTIONS, batchBodySchema, toUnit } from './inputs.js';

export interface DecodeTask {
  bytes: Uint8Array;
  where: string;
  /** 'field' (default): the image made one 28×28 field; 'number': cut into candidate digits (preprocess/segment.ts) */
  mode?: 'field' | 'number';
  /** told once the worker starts on the task (ImageDecoder times the decode from then, not from the queue) */
  started?: MessagePort;
}

export type DecodeOutcome =
  | { ok: true; pixels: Float32Array; polarity: Polarity }
  | { ok: true; segmentation: Segmentation }
  | { ok: false; message: string };

export function decode(task: DecodeTask): DecodeOutcome {
  task.started?.postMessage(null);
  task.started?.close();
  try {
    if (task.mode === 'number') return { ok: true, segmentation: segmentGray(decodeImage(task.bytes, task.where), task.where) };
    const { pixels, polarity } = preprocessImage(task.bytes, task.where);
    return { ok: true, pixels, polarity };
  } catch (err) {
    if (err instanceof ImageError) return { ok: false, message: err.message };
    throw err; // a bug, not a bad image: the server logs it as a 500
  }
}

export interface BatchTask {
  /** the body, UTF-8 JSON */
  bytes: Uint8Array;
  maxBatch: number;
}

export type BatchOutcome =
  | { ok: true; x: Float32Array; n: number }
  | { ok: false; statusCode: number; message: string };

const ajv = new Ajv(AJV_OPTIONS);
const validators = new Map<number, ValidateFunction>();

/** A batch's body → its inputs as values 0..1 back to back, or the 4xx answer to give (the messages Fastify gives for a body it checks). */
export function parseBatch(task: BatchTask): BatchOutcome {
  let body: unknown;
  try {
    body = parseJson(Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) return { ok: false, statusCode: 400, message: invalidJsonMessage(err.message) };
    if (err instanceof BodyError) return { ok: false, statusCode: err.statusCode, message: err.message };
    throw err;
  }
  let validate = validators.get(task.maxBatch);
  if (validate === undefined) validators.set(task.maxBatch, validate = ajv.compile(batchBodySchema(task.maxBatch)));
  if (!validate(body)) {
    const e = validate.errors![0]!;
    return { ok: false, statusCode: 400, message: `body${e.instancePath} ${e.message}` };
  }
  const { inputs, scale } = body as { inputs: number[][]; scale: number };
  const per = FIELD * FIELD;
  const x = new Float32Array(inputs.length * per);
  try {
    inputs.forEach((pixels, i) => toUnit(pixels, scale, `body/inputs/${i}`, x, i * per));
  } catch (err) {
    if (err instanceof BodyError) return { ok: false, statusCode: err.statusCode, message: err.message };
    throw err;
  }
  return { ok: true, x, n: inputs.length };
}
