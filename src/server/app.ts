/**
 * The HTTP face of a model: Fastify with JSON-schema validation.
 *
 *   POST /api/predict         JSON {"pixels": [784 numbers], "scale": 255 | 1}, row-major 28×28,
 *                             white digit on black as in MNIST (used as is), or
 *                             a raw PNG/JPEG body (Content-Type image/png or image/jpeg, any size,
 *                             either polarity), made MNIST-like by src/preprocess/image.ts.
 *                             → {label, probabilities: [10], model: {id, accuracy}}
 *                               (+ for images: preprocessed: {width: 28, height: 28, pixels: [784 ints 0..255]},
 *                                polarity; the drawing page shows that 28×28 image)
 *   POST /api/predict/batch   JSON {"inputs": [[784 numbers], ...], "scale": 255 | 1}, 1..MAX_BATCH inputs
 *                             → {predictions: [{label, probabilities}], model: {id, accuracy}}
 *   GET  /api/model           architecture, parameter count, test accuracy, when trained
 *   GET  /health              {status: "ok", model, uptimeSeconds}
 *   GET  /                    the drawing page (files of web/)
 *
 * Single predictions are micro-batched across concurrent requests (see
 * Predictor.predict); batches run in chunks that yield to the event loop.
 * Every bad request gets a 4xx JSON body {statusCode, error, message}; the
 * error handler turns anything unexpected into a 500 that is logged, but the
 * tests hold that no bad input gets there.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ImageError, FIELD, preprocessImage } from '../preprocess/image.js';
import { DigitsError } from '../errors.js';
import { MAX_BATCH, type Predictor } from './predictor.js';

/** Body limit of POST /api/predict (an image or one JSON input). */
export const PREDICT_BODY_LIMIT = 4 * 1024 * 1024;
/** Body limit of POST /api/predict/batch: 1,000 inputs of 784 numbers written with ~8 digits fit. */
export const BATCH_BODY_LIMIT = 16 * 1024 * 1024;

export const IMAGE_CONTENT_TYPES = ['image/png', 'image/jpeg'];

/** The web/ folder of the package: dist/src/server/app.js → ../../../web (src/server/app.ts → ../../web under tsx). */
export function defaultWebDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../../web', '../../web']) {
    const dir = path.resolve(here, up);
    try {
      if (statSync(path.join(dir, 'index.html')).isFile()) return dir;
    } catch {
      // try the next
    }
  }
  return path.resolve(here, '../../../web');
}

export interface ServerOptions {
  predictor: Predictor;
  /** Fastify's logger (pino): true logs every request as JSON lines; default false */
  logger?: boolean;
  /** folder with index.html, app.js, style.css (default: the package's web/) */
  webDir?: string;
  predictBodyLimit?: number;
  batchBodyLimit?: number;
  maxBatch?: number;
}

const pixelArray = {
  type: 'array',
  minItems: FIELD * FIELD,
  maxItems: FIELD * FIELD,
  items: { type: 'number', minimum: 0, maximum: 255 },
} as const;

const scaleSchema = {
  type: 'number',
  enum: [255, 1],
  description: '255: pixels are 0..255; 1: pixels are 0..1',
} as const;

const modelRef = {
  type: 'object',
  properties: { id: { type: 'string' }, accuracy: { type: ['number', 'null'] } },
} as const;

const predictionSchema = {
  type: 'object',
  properties: {
    label: { type: 'integer' },
    probabilities: { type: 'array', items: { type: 'number' } },
  },
} as const;

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

class RequestError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
  }
}

/** pixels already schema-checked against 0..255: check the range for the scale, return values 0..1. */
function toUnit(pixels: number[], scale: number, where: string, into: Float32Array, offset: number): void {
  if (scale === 1) {
    for (let i = 0; i < pixels.length; i++) {
      const v = pixels[i]!;
      if (v > 1) throw new RequestError(400, `${where}/${i} must be <= 1 with "scale": 1 (got ${v}); send "scale": 255 for 0..255 pixels`);
      into[offset + i] = v;
    }
  } else {
    for (let i = 0; i < pixels.length; i++) into[offset + i] = pixels[i]! / 255;
  }
}

export function buildServer(opts: ServerOptions): FastifyInstance {
  const { predictor } = opts;
  const maxBatch = opts.maxBatch ?? MAX_BATCH;
  const started = Date.now();
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: Math.max(opts.predictBodyLimit ?? PREDICT_BODY_LIMIT, opts.batchBodyLimit ?? BATCH_BODY_LIMIT),
    // no type coercion ("12" stays a string and is refused), no silent removal of unknown keys
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  // Only JSON and images: text/plain (a Fastify default) gets a 415 like every other type.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(IMAGE_CONTENT_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const limitOf = (url: string): number => (url.startsWith('/api/predict/batch')
    ? opts.batchBodyLimit ?? BATCH_BODY_LIMIT : opts.predictBodyLimit ?? PREDICT_BODY_LIMIT);
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let status = err.statusCode ?? 500;
    if (err instanceof DigitsError) status = 400; // ImageError included
    if (status >= 500) request.log.error(err);
    let message = status >= 500 ? 'internal error (logged on the server)' : err.message;
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      message = `Content-Type ${request.headers['content-type'] ?? '(none)'} is not accepted here: send application/json ` +
        `or a PNG/JPEG image as ${IMAGE_CONTENT_TYPES.join(' or ')}`;
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      message = `the body is over the size limit of ${limitOf(request.url).toLocaleString('en-US')} bytes for ${request.url}`;
    } else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (status === 400 && err instanceof SyntaxError)) {
      message = `the body is not valid JSON (${err.message})`;
    }
    void reply.status(status).send({ statusCode: status, error: httpReason(status), message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      statusCode: 404, error: 'Not Found',
      message: `${request.method} ${request.url}: no such route (try GET /, POST /api/predict, POST /api/predict/batch, GET /api/model, GET /health)`,
    });
  });

  app.post('/api/predict', {
    bodyLimit: opts.predictBodyLimit ?? PREDICT_BODY_LIMIT,
    schema: {
      body: {
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['pixels', 'scale'],
              additionalProperties: false,
              properties: { pixels: pixelArray, scale: scaleSchema },
            },
          },
        },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            ...predictionSchema.properties,
            model: modelRef,
            polarity: { type: 'string' },
            preprocessed: {
              type: 'object',
              properties: {
                width: { type: 'integer' }, height: { type: 'integer' },
                pixels: { type: 'array', items: { type: 'integer' } },
              },
            },
          },
        },
      },
    },
  }, async (request) => {
    const body = request.body as unknown;
    if (Buffer.isBuffer(body)) {
      if (body.length === 0) {
        throw new RequestError(400, `empty body: send a PNG or JPEG image (Content-Type ${request.headers['content-type']})`);
      }
      let pre;
      try {
        pre = preprocessImage(body, 'request body');
      } catch (err) {
        if (err instanceof ImageError) throw new RequestError(err.message.includes('blank') ? 422 : 400, err.message);
        throw err;
      }
      const x = new Float32Array(FIELD * FIELD);
      for (let i = 0; i < x.length; i++) x[i] = pre.pixels[i]! / 255;
      const p = await predictor.predict(x);
      return {
        ...p,
        model: predictor.info,
        polarity: pre.polarity,
        preprocessed: { width: FIELD, height: FIELD, pixels: Array.from(pre.pixels, (v) => Math.round(v)) },
      };
    }
    if (body === undefined || body === null) {
      throw new RequestError(400, 'empty body: send JSON {"pixels": [784 numbers], "scale": 255 | 1} or a PNG/JPEG image');
    }
    const { pixels, scale } = body as { pixels: number[]; scale: number };
    const x = new Float32Array(FIELD * FIELD);
    toUnit(pixels, scale, 'body/pixels', x, 0);
    return { ...await predictor.predict(x), model: predictor.info };
  });

  app.post('/api/predict/batch', {
    bodyLimit: opts.batchBodyLimit ?? BATCH_BODY_LIMIT,
    preValidation: async (request) => {
      if (Buffer.isBuffer(request.body)) {
        throw new RequestError(415, `Content-Type ${request.headers['content-type']} is not accepted here: ` +
          '/api/predict/batch takes application/json {"inputs": [[784 numbers], ...], "scale": 255 | 1}; send images one by one to /api/predict');
      }
      if (request.body === undefined || request.body === null) {
        throw new RequestError(400, 'empty body: send JSON {"inputs": [[784 numbers], ...], "scale": 255 | 1}');
      }
    },
    schema: {
      body: {
        type: 'object',
        required: ['inputs', 'scale'],
        additionalProperties: false,
        properties: {
          inputs: { type: 'array', minItems: 1, maxItems: maxBatch, items: pixelArray },
          scale: scaleSchema,
        },
      },
      response: {
        200: {
          type: 'object',
          properties: { predictions: { type: 'array', items: predictionSchema }, model: modelRef },
        },
      },
    },
  }, async (request) => {
    const body = request.body as { inputs: number[][]; scale: number };
    const per = FIELD * FIELD;
    const x = new Float32Array(body.inputs.length * per);
    body.inputs.forEach((pixels, i) => toUnit(pixels, body.scale, `body/inputs/${i}`, x, i * per));
    const predictions = await predictor.predictBatch(x, body.inputs.length);
    return { predictions, model: predictor.info };
  });

  app.get('/api/model', async () => predictor.describe());

  app.get('/health', async () => ({
    status: 'ok',
    model: predictor.info.id,
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
  }));

  // the drawing page: every file of web/ read once at start
  const webDir = opts.webDir ?? defaultWebDir();
  let files: string[] = [];
  try {
    files = readdirSync(webDir).filter((f) => STATIC_TYPES[path.extname(f)] !== undefined);
  } catch {
    app.log.warn(`${webDir}: no drawing page there; the API works without it`);
  }
  for (const file of files) {
    const body = readFileSync(path.join(webDir, file));
    const type = STATIC_TYPES[path.extname(file)]!;
    const send = async (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => reply.type(type).send(body);
    app.get(`/${file}`, send);
    if (file === 'index.html') app.get('/', send);
  }
  return app;
}

function httpReason(status: number): string {
  const reasons: Record<number, string> = {
    400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large',
    415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 500: 'Internal Server Error',
  };
  return reasons[status] ?? (status < 500 ? 'Client Error' : 'Server Error');
}
