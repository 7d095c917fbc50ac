/**
 * The JSON inputs of the prediction routes: their schemas (checked by Fastify for one input, by
 * a worker thread for a batch, with the same messages) and their pixels scaled to 0..1.
 */
import { FIELD } from '../preprocess/image.js';
import { BodyError } from './body.js';

/** 784 numbers 0..255: one 28×28 input, row-major. */
export const pixelArray = {
  type: 'array',
  minItems: FIELD * FIELD,
  maxItems: FIELD * FIELD,
  items: { type: 'number', minimum: 0, maximum: 255 },
} as const;

export const scaleSchema = {
  type: 'number',
  enum: [255, 1],
  description: '255: pixels are 0..255; 1: pixels are 0..1',
} as const;

/** POST /api/predict's JSON body: {"pixels": [784 numbers], "scale": 255 | 1}. */
export const predictBodySchema = {
  type: 'object',
  required: ['pixels', 'scale'],
  additionalProperties: false,
  properties: { pixels: pixelArray, scale: scaleSchema },
} as const;

/** POST /api/predict/batch's body: {"inputs": [[784 numbers], ...], "scale": 255 | 1}, 1..maxBatch inputs. */
export function batchBodySchema(maxBatch: number): Record<string, unknown> {
  return {
    type: 'object',
    required: ['inputs', 'scale'],
    additionalProperties: false,
    properties: {
      inputs: { type: 'array', minItems: 1, maxItems: maxBatch, items: pixelArray },
      scale: scaleSchema,
    },
  };
}

/** Ajv's options as the server gives them to Fastify: no type coercion ("12" stays a string and is refused), no silent removal of unknown keys. */
export const AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, allErrors: false } as const;

/** Pixels already schema-checked against 0..255: checks the range for the scale and writes values 0..1 into `into` at `offset`. */
export function toUnit(pixels: number[], scale: number, where: string, into: Float32Array, offset: number): void {
  if (scale === 1) {
    for (let i = 0; i < pixels.length; i++) {
      const v = pixels[i]!;
      if (v > 1) throw new BodyError(400, 'DIGITS_PIXEL_RANGE', `${where}/${i} must be <= 1 with "scale": 1 (got ${v}); send "scale": 255 for 0..255 pixels`);
      into[offset + i] = v;
    }
  } else {
    for (let i = 0; i < pixels.length; i++) into[offset + i] = pixels[i]! / 255;
  }
}
