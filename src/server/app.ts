/**
 * The HTTP face of a model: Fastify with JSON-schema validation.
 *
 *   POST /api/predict         JSON {"pixels": [784 numbers], "scale": 255 | 1}, row-major 28×28,
 *                             white digit on black as in MNIST (used as is), or
 *                             a raw PNG/JPEG body (Content-Type image/png or image/jpeg, any size,
 *                             either polarity), made MNIST-like by src/preprocess/image.ts.
 *                             → {label, confidence, isDigit, probabilities: [10], model: {id, accuracy}}
 *                               (confidence and probabilities calibrated; isDigit false for what is not a digit)
 *                               (+ for images: preprocessed: {width: 28, height: 28, pixels: [784 ints 0..255]},
 *                                polarity; the drawing page shows that 28×28 image)
 *   POST /api/predict/batch   JSON {"inputs": [[784 numbers], ...], "scale": 255 | 1}, 1..MAX_BATCH inputs
 *                             → {predictions: [{label, confidence, isDigit, probabilities}], model: {id, accuracy}}
 *   POST /api/read            a PNG/JPEG of one or more digits in a row (any size, either polarity)
 *                             → {text: "4721", digits: [{label, confidence, isDigit, box: {x, y, width, height}}],
 *                                model, polarity}, in reading order (preprocess/segment.ts)
 *   GET  /api/model           architecture, parameter count, test accuracy, when trained
 *   GET  /health              {status: "ok" | "saturated", model, uptimeSeconds, what is pending,
 *                             eventLoop: {delayMaxMs}: the longest the loop was held up lately}
 *   GET  /                    the drawing page (the built pages, dist/web: web/build.mjs)
 *   GET  /site.json           {predict: "server"}: the page sends its drawings here (src/web/page.ts)
 *
 * Single predictions are micro-batched across concurrent requests (see
 * Predictor.predict); batches run in chunks that yield to the event loop. Work
 * that grows with a body runs on worker threads: decoding an image
 * (image-decoder.ts) and parsing a batch's JSON (batch-parser.ts).
 * Every bad request gets a 4xx JSON body {statusCode, error, message}; the
 * error handler turns anything unexpected into a 500 that is logged, but the
 * tests (and the fuzz tests, test/fuzz-api.test.ts) hold that no bad input gets there.
 *
 * Abuse (each limit has a default in SERVER_LIMITS and a `digits serve` option):
 *   - slow clients: a request must bring its headers within headersTimeout and
 *     all of itself within requestTimeout (Node answers 408 and closes); a
 *     socket idle for connectionTimeout is closed; keep-alive sockets wait
 *     keepAliveTimeout for the next request. So sockets that send nothing, or
 *     a byte at a time, are cut off instead of piling up.
 *   - body size: 413 past the route's limit, whether the Content-Length says so
 *     up front or a chunked body grows past it.
 *   - predictions in flight or queued (maxPending requests): past it, 503 with
 *     Retry-After; /health and the page do not count.
 *   - static files: only the files found in dist/web at start have routes; any
 *     other path, traversal attempts included, is a 404.
 *   - CORS: no Access-Control-* headers unless corsOrigins names origins.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import { ImageError, FIELD } from '../preprocess/image.js';
import { DigitsError } from '../errors.js';
import { releaseFreeMemory } from '../engine/native.js';
import { MAX_BATCH, type Predictor } from '../run/predictor.js';
import { DecodeBudgetError, ImageDecoder } from './image-decoder.js';
import { BatchParser } from './batch-parser.js';
import { BodyError, foreignCharset, invalidJsonMessage, parseJson, readBody } from './body.js';
import { AJV_OPTIONS, predictBodySchema, toUnit } from './inputs.js';

/** Body limit of POST /api/predict (an image or one JSON input). */
export const PREDICT_BODY_LIMIT = 4 * 1024 * 1024;
/** Body limit of POST /api/predict/batch: 1,000 inputs of 784 numbers written with ~8 digits fit. */
export const BATCH_BODY_LIMIT = 16 * 1024 * 1024;

/** Defaults of the abuse limits (milliseconds, and prediction requests for maxPending). */
export const SERVER_LIMITS = {
  /** a socket with no traffic for this long is closed */
  connectionTimeout: 30_000,
  /** the whole request (headers and body) must arrive within this */
  requestTimeout: 30_000,
  /** the request's headers must arrive within this (<= requestTimeout) */
  headersTimeout: 10_000,
  /** an idle keep-alive socket waits this long for the next request */
  keepAliveTimeout: 5_000,
  /** prediction requests in flight or queued; past it, 503 with Retry-After */
  maxPending: 256,
  /** image uploads being decoded or waiting for a decoder; past it, 503 (JSON predictions are counted apart) */
  maxPendingImages: 64,
  /** inputs of JSON predictions (a batch counts each of its inputs) admitted and not yet answered; past it, 503 before the body is read */
  maxPendingInputs: 4_000,
  /** longest an uploaded image may take to decode before it is refused (422) and its worker ended */
  decodeTimeout: 5_000,
} as const;

/** The fewest bytes one input of a batch takes in JSON: 784 one-digit numbers and their commas. */
const MIN_INPUT_BYTES = 2 * 784;

/** Quiet time after the last big body before the C heap's free memory is given back (releaseFreeMemory). */
const TRIM_AFTER_MS = 2_000;
const TRIM_AGAIN_MS = 10_000;

/** /health's event-loop delay covers the current window of this length and the one before. */
const LOOP_DELAY_WINDOW_MS = 10_000;

/** Seconds a client told 503 is asked to wait (Retry-After). */
export const RETRY_AFTER_SECONDS = 1;

export const IMAGE_CONTENT_TYPES = ['image/png', 'image/jpeg'];

/** The built pages (web/build.mjs): dist/src/server/app.js → dist/web (src/server/app.ts → ../../dist/web under tsx). */
export function defaultWebDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../web', '../../dist/web']) {
    const dir = path.resolve(here, up);
    try {
      if (statSync(path.join(dir, 'index.html')).isFile()) return dir;
    } catch {
      // try the next
    }
  }
  return path.resolve(here, '../../web');
}

/**
 * The built pages the server does not serve: the training page (it needs the MNIST files a web
 * export carries; `digits export --format web` makes that site), its bundle, and the kernels the
 * drawing page only loads where it predicts in the page.
 */
const EXPORT_ONLY_PAGES = new Set(['train.html', 'train-page.js', 'worker.js', 'digits.wasm']);

/** What buildServer serves and its limits: the predictor, logging, CORS origins, timeouts, the admission limit, image decoding threads. */
/** The abuse limits, each optional: an unset one takes its default in SERVER_LIMITS (whose comments say what each does). */
export type ServerLimits = { -readonly [K in keyof typeof SERVER_LIMITS]?: number };

/** The limits set in `o`, and nothing else of it (undefined ones left out). */
export function serverLimits(o: ServerLimits): ServerLimits {
  const out: ServerLimits = {};
  for (const key of Object.keys(SERVER_LIMITS) as (keyof typeof SERVER_LIMITS)[]) if (o[key] !== undefined) out[key] = o[key];
  return out;
}

export interface ServerOptions extends ServerLimits {
  predictor: Predictor;
  /** Fastify's logger (pino): true logs every request as JSON lines; default false */
  logger?: boolean;
  /** folder with index.html, page.js, style.css (default: the package's built pages, dist/web) */
  webDir?: string;
  predictBodyLimit?: number;
  batchBodyLimit?: number;
  maxBatch?: number;
  /** origins allowed to call the API from a browser (CORS); none or empty: no CORS headers. "*": any origin */
  corsOrigins?: string[];
  /** worker threads that decode uploaded images (default: all cores but one, 1 to 4) */
  imageThreads?: number;
}

const modelRef = {
  type: 'object',
  properties: { id: { type: 'string' }, accuracy: { type: ['number', 'null'] } },
} as const;

const predictionSchema = {
  type: 'object',
  properties: {
    label: { type: 'integer' },
    confidence: { type: 'number' },
    isDigit: { type: 'boolean' },
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

/** A batch's JSON body as read: parsed and checked on a worker thread by the route (BatchParser). */
class BatchBody {
  constructor(readonly bytes: Buffer) {}
}

/** 503 with Retry-After: the server is busy with `what` (load shedding). */
function busy(what: string): RequestError {
  return new RequestError(503, `the server is busy: ${what}; retry in ${RETRY_AFTER_SECONDS} s`, { 'retry-after': String(RETRY_AFTER_SECONDS) });
}

/**
 * Admission of one kind of work: at most `limit` at a time in flight or queued; past it, busy(describe(count)).
 * `after` runs when each one ends.
 */
class Gate {
  count = 0;
  constructor(private readonly limit: number, private readonly describe: (count: number) => string, private readonly after?: () => void) {}

  get full(): boolean {
    return this.count >= this.limit;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.full) throw busy(this.describe(this.count));
    this.count++;
    try {
      return await work();
    } finally {
      this.count--;
      this.after?.();
    }
  }
}

class RequestError extends Error {
  constructor(readonly statusCode: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

/** The Fastify app of `digits serve`: the drawing page, POST /api/predict, /api/predict/batch, GET /api/model and /health, with its limits. */
export function buildServer(opts: ServerOptions): FastifyInstance {
  const { predictor } = opts;
  const maxBatch = opts.maxBatch ?? MAX_BATCH;
  const started = Date.now();
  const limits = { ...SERVER_LIMITS, ...definedOnly(opts) };
  if (limits.requestTimeout > 0 && limits.headersTimeout > limits.requestTimeout) {
    throw new DigitsError(`headersTimeout (${limits.headersTimeout} ms) must not exceed requestTimeout (${limits.requestTimeout} ms)`);
  }
  const app = Fastify({
    logger: opts.logger ?? false,
    connectionTimeout: limits.connectionTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    // Node checks the headers and request timeouts every connectionsCheckingInterval (default 30 s):
    // check often enough that a timeout means about what it says.
    http: { headersTimeout: limits.headersTimeout, connectionsCheckingInterval: checkingInterval(limits.headersTimeout, limits.requestTimeout) },
    clientErrorHandler: (err, socket) => clientError(err, socket, limits),
    bodyLimit: Math.max(opts.predictBodyLimit ?? PREDICT_BODY_LIMIT, opts.batchBodyLimit ?? BATCH_BODY_LIMIT),
    ajv: { customOptions: AJV_OPTIONS },
  });

  // Images are decoded on worker threads, so a huge one does not stall the event loop.
  const decoder = new ImageDecoder(opts.imageThreads);
  // A batch's JSON (up to 16 MiB) is parsed and checked on a worker thread too: see batch-parser.ts.
  const batchParser = new BatchParser();
  app.addHook('onClose', async () => {
    await Promise.all([decoder.close(), batchParser.close()]);
  });

  const limitOf = (url: string): number => (url.startsWith('/api/predict/batch')
    ? opts.batchBodyLimit ?? BATCH_BODY_LIMIT : opts.predictBodyLimit ?? PREDICT_BODY_LIMIT);

  // Only JSON and images: text/plain (a Fastify default) gets a 415 like every other type. Both are
  // read by readBody, whose memory follows the body's size whatever its framing (one-byte chunks
  // included), and JSON in another charset than UTF-8 is refused rather than misread.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(IMAGE_CONTENT_TYPES, async (request: FastifyRequest, payload: IncomingMessage) =>
    readBody(payload, request.routeOptions.bodyLimit ?? limitOf(request.url)));
  app.addContentTypeParser('application/json', async (request: FastifyRequest, payload: IncomingMessage) => {
    const charset = foreignCharset(request.headers['content-type']);
    if (charset !== null) {
      throw new RequestError(415, `Content-Type ${request.headers['content-type']}: JSON is read as UTF-8 only, not ${charset}; ` +
        'send it as UTF-8 (charset=utf-8 or none)');
    }
    const body = await readBody(payload, request.routeOptions.bodyLimit ?? limitOf(request.url));
    if (body.length === 0) throw new BodyError(400, 'FST_ERR_CTP_EMPTY_JSON_BODY', "Body cannot be empty when content-type is set to 'application/json'");
    if (request.url.startsWith('/api/predict/batch')) return new BatchBody(body); // parsed off the loop, by the route
    try {
      return parseJson(body.toString('utf8'));
    } catch (err) {
      if (err instanceof SyntaxError) throw Object.assign(err, { statusCode: 400 });
      throw err;
    }
  });
  if (opts.corsOrigins && opts.corsOrigins.length > 0) {
    void app.register(cors, { origin: opts.corsOrigins.includes('*') ? '*' : opts.corsOrigins, methods: ['GET', 'POST'] });
  }

  // Prediction requests in flight or queued in the predictor: past maxPending, 503 (load shedding).
  // Image uploads are counted apart (maxPendingImages), so that JSON predictions never wait behind
  // image decodes.
  const predicting = new Gate(limits.maxPending, (n) => `${n} predictions are in flight or queued (limit ${limits.maxPending})`);
  // Work is admitted before a body is read: a JSON prediction reserves its inputs (one, or a batch's
  // as its Content-Length allows, every one when it does not say) against maxPendingInputs, and gives
  // them back when its answer is sent or its client leaves.
  let pendingInputs = 0;
  app.addHook('preParsing', async (request, reply, payload) => {
    if (request.method !== 'POST' || !request.url.startsWith('/api/predict')) return payload;
    const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (IMAGE_CONTENT_TYPES.includes(type)) return payload; // images are admitted apart (images.run)
    const declared = Number(request.headers['content-length']);
    const inputs = !request.url.startsWith('/api/predict/batch') ? 1
      : Math.max(1, Math.min(maxBatch, Number.isFinite(declared) && declared > 0 ? Math.ceil(declared / MIN_INPUT_BYTES) : maxBatch));
    // batches may fill three quarters of the limit: single predictions always find room beside them
    const batch = request.url.startsWith('/api/predict/batch');
    const cap = batch ? Math.max(1, Math.floor((limits.maxPendingInputs * 3) / 4)) : limits.maxPendingInputs;
    if (pendingInputs + inputs > cap) {
      throw busy(`${pendingInputs} inputs of JSON predictions are in flight or queued ` +
        `(limit ${limits.maxPendingInputs}${batch ? `, ${cap} of them for batches` : ''}; this request would add ${inputs})`);
    }
    pendingInputs += inputs;
    let held = true;
    reply.raw.once('close', () => {
      if (held) pendingInputs -= inputs;
      held = false;
    });
    return payload;
  });

  // After big bodies (images, batches), once the server has been quiet for TRIM_AFTER_MS, the C heap
  // gives back what they freed, and again TRIM_AGAIN_MS later (by then the garbage collector has
  // freed the rest of their buffers): resident memory returns to about its level at rest.
  let trim: NodeJS.Timeout | null = null;
  const afterBigBody = (): void => {
    if (trim !== null) clearTimeout(trim);
    let rounds = 0;
    const release = (): void => {
      releaseFreeMemory();
      trim = ++rounds < 2 ? setTimeout(release, TRIM_AGAIN_MS).unref() : null;
    };
    trim = setTimeout(release, TRIM_AFTER_MS).unref();
  };
  app.addHook('onClose', async () => {
    if (trim !== null) clearTimeout(trim);
  });

  const images = new Gate(limits.maxPendingImages,
    (n) => `${n} images are being decoded or wait for a decoder (limit ${limits.maxPendingImages})`, afterBigBody);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof RequestError) void reply.headers(err.headers);
    if (err instanceof BodyError && err.code === 'DIGITS_TINY_PIECES') lingeringClose(request.raw.socket, reply);
    if (err instanceof BodyError && err.code === 'FST_ERR_PROTO_KEY') {
      void reply.status(400).send({ statusCode: 400, error: httpReason(400), message: err.message });
      return;
    }
    let status = err.statusCode ?? 500;
    if (err instanceof DigitsError) status = 400; // ImageError included
    const known = status < 500 || err instanceof RequestError; // a 503 says why
    if (!known) request.log.error(err);
    let message = known ? err.message : 'internal error (logged on the server)';
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      message = `Content-Type ${request.headers['content-type'] ?? '(none)'} is not accepted here: send application/json ` +
        `or a PNG/JPEG image as ${IMAGE_CONTENT_TYPES.join(' or ')}`;
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      message = `the body is over the size limit of ${limitOf(request.url).toLocaleString('en-US')} bytes for ${request.url}`;
    } else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (status === 400 && err instanceof SyntaxError)) {
      message = invalidJsonMessage(err.message);
    }
    void reply.status(status).send({ statusCode: status, error: httpReason(status), message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      statusCode: 404, error: 'Not Found',
      message: `${request.method} ${request.url}: no such route (try GET /, POST /api/predict, POST /api/predict/batch, POST /api/read, GET /api/model, GET /health)`,
    });
  });

  /**
   * An uploaded image decoded on a worker (`decode` runs it with the budget and the client's signal),
   * admitted before decoding, so that a busy server does not decode images it will not predict; a
   * client that hangs up takes its image out of the queue (or ends the worker decoding it). A bad image
   * is a 400, a blank one or one past its budget a 422.
   */
  const decodeBody = <T>(decode: (opts: { budgetMs: number; signal: AbortSignal }) => Promise<T>, reply: FastifyReply): Promise<T> => {
    const gone = clientGone(reply);
    return images.run(async () => {
      try {
        return await decode({ budgetMs: limits.decodeTimeout, signal: gone });
      } catch (err) {
        if (err instanceof DecodeBudgetError) throw new RequestError(422, err.message);
        if (err instanceof ImageError) throw new RequestError(err.message.includes('blank') ? 422 : 400, err.message);
        throw err;
      }
    });
  };

  app.post('/api/predict', {
    bodyLimit: opts.predictBodyLimit ?? PREDICT_BODY_LIMIT,
    schema: {
      body: { content: { 'application/json': { schema: predictBodySchema } } },
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
  }, async (request, reply) => {
    const body = request.body as unknown;
    if (Buffer.isBuffer(body)) {
      if (body.length === 0) {
        throw new RequestError(400, `empty body: send a PNG or JPEG image (Content-Type ${request.headers['content-type']})`);
      }
      const pre = await decodeBody((opts) => decoder.decode(body, 'request body', opts), reply);
      return predicting.run(async () => {
        return {
          ...await predictor.predictField(pre.pixels),
          model: predictor.info,
          polarity: pre.polarity,
          preprocessed: { width: FIELD, height: FIELD, pixels: Array.from(pre.pixels, (v) => Math.round(v)) },
        };
      });
    }
    if (body === undefined || body === null) {
      throw new RequestError(400, 'empty body: send JSON {"pixels": [784 numbers], "scale": 255 | 1} or a PNG/JPEG image');
    }
    const { pixels, scale } = body as { pixels: number[]; scale: number };
    const x = new Float32Array(FIELD * FIELD);
    toUnit(pixels, scale, 'body/pixels', x, 0);
    return { ...await predicting.run(() => predictor.predict(x)), model: predictor.info };
  });

  app.post('/api/read', {
    bodyLimit: opts.predictBodyLimit ?? PREDICT_BODY_LIMIT,
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            text: { type: 'string' },
            digits: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  label: { type: 'integer' }, confidence: { type: 'number' }, isDigit: { type: 'boolean' },
                  box: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' }, width: { type: 'integer' }, height: { type: 'integer' } } },
                },
              },
            },
            model: modelRef,
            polarity: { type: 'string' },
          },
        },
      },
    },
  }, async (request, reply) => {
    const body = request.body as unknown;
    if (!Buffer.isBuffer(body)) {
      throw new RequestError(415, `/api/read takes an image: a PNG or JPEG body (Content-Type ${IMAGE_CONTENT_TYPES.join(' or ')}) of one or more digits in a row`);
    }
    if (body.length === 0) throw new RequestError(400, `empty body: send a PNG or JPEG image (Content-Type ${request.headers['content-type']})`);
    const seg = await decodeBody((opts) => decoder.segment(body, 'request body', opts), reply);
    return predicting.run(async () => ({ ...await predictor.readSegmentation(seg), model: predictor.info, polarity: seg.polarity }));
  });

  app.post('/api/predict/batch', {
    bodyLimit: opts.batchBodyLimit ?? BATCH_BODY_LIMIT,
    preValidation: async (request) => {
      if (!(request.body instanceof BatchBody) && Buffer.isBuffer(request.body)) {
        throw new RequestError(415, `Content-Type ${request.headers['content-type']} is not accepted here: ` +
          '/api/predict/batch takes application/json {"inputs": [[784 numbers], ...], "scale": 255 | 1}; send images one by one to /api/predict');
      }
      if (request.body === undefined || request.body === null) {
        throw new RequestError(400, 'empty body: send JSON {"inputs": [[784 numbers], ...], "scale": 255 | 1}');
      }
    },
    // the body's schema (inputs.ts, batchBodySchema) is checked by the batch parser's worker
    schema: {
      response: {
        200: {
          type: 'object',
          properties: { predictions: { type: 'array', items: predictionSchema }, model: modelRef },
        },
      },
    },
  }, async (request, reply) => {
    try {
      const { x, n } = await batchParser.parse((request.body as BatchBody).bytes, maxBatch, clientGone(reply));
      const predictions = await predicting.run(() => predictor.predictBatch(x, n));
      return { predictions, model: predictor.info };
    } finally {
      afterBigBody();
    }
  });

  app.get('/api/model', async () => predictor.describe());

  // The longest the event loop was held up (every request waits that long), over the last 10-20 s.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  let previousWindowMax = 0;
  const rotate = setInterval(() => {
    previousWindowMax = loopDelay.max;
    loopDelay.reset();
  }, LOOP_DELAY_WINDOW_MS).unref();
  app.addHook('onClose', async () => {
    clearInterval(rotate);
    loopDelay.disable();
  });

  // 503 while a prediction path is full, so that a load balancer sees it and sends traffic elsewhere
  app.get('/health', async (_request, reply) => {
    const saturated = predicting.full || images.full || pendingInputs >= limits.maxPendingInputs;
    if (saturated) void reply.status(503).header('retry-after', String(RETRY_AFTER_SECONDS));
    return {
      status: saturated ? 'saturated' : 'ok',
      model: predictor.info.id,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      predictions: { pending: predicting.count, limit: limits.maxPending, inputs: pendingInputs, inputLimit: limits.maxPendingInputs },
      images: { pending: images.count, queued: decoder.queued, limit: limits.maxPendingImages },
      eventLoop: { delayMaxMs: Math.round(Math.max(previousWindowMax, loopDelay.max) / 1e5) / 10, windowSeconds: (2 * LOOP_DELAY_WINDOW_MS) / 1000 },
    };
  });

  // the drawing page: every file of the built pages read once at start, one route each (no path is ever
  // mapped to the disk, so there is nothing to traverse)
  const webDir = opts.webDir ?? defaultWebDir();
  let files: string[] = [];
  try {
    files = readdirSync(webDir, { withFileTypes: true })
      .filter((f) => f.isFile() && STATIC_TYPES[path.extname(f.name)] !== undefined && !EXPORT_ONLY_PAGES.has(f.name)).map((f) => f.name);
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
  // the drawing page reads site.json first: here the server predicts (src/web/page.ts)
  app.get('/site.json', async (_request, reply) => reply.send({ predict: 'server' }));
  return app;
}

/**
 * What Node's HTTP parser refuses before Fastify sees a request (a timeout, a
 * malformed request line or headers): the same JSON shape as every other error,
 * then the socket is closed (as Fastify's default handler does).
 */
function clientError(err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex, limits: Record<keyof typeof SERVER_LIMITS, number>): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let message = `malformed HTTP request (${err.code ?? 'error'}${err.reason ? `: ${err.reason}` : ''})`;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    message = `the request did not arrive in time: headers are expected within ${limits.headersTimeout} ms ` +
      `and the whole request within ${limits.requestTimeout} ms`;
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    message = 'the request headers are over the size limit (16 KiB)';
  }
  const body = JSON.stringify({ statusCode: status, error: httpReason(status), message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${httpReason(status)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** How long a connection whose body is left unread stays open after its answer, so that the client can read it. */
const LINGER_MS = 2_000;

/**
 * The rest of the body is not read (reading it is the cost): once the answer is out, the server's side
 * is closed (FIN) and the socket destroyed LINGER_MS later. Closed at once, the socket would reset
 * the connection over the unread bytes, and a client still sending could lose the answer.
 */
function lingeringClose(socket: Duplex, reply: FastifyReply): void {
  reply.raw.once('finish', () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}

/** Aborts when the client closes the connection before its answer is sent: its work leaves the queue. */
function clientGone(reply: FastifyReply): AbortSignal {
  const gone = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone.abort(new RequestError(499, 'the client closed the connection'));
  });
  return gone.signal;
}

/** Half the shortest of the headers/request timeouts (0: off), between 10 ms and 1 s. */
function checkingInterval(...timeouts: number[]): number {
  const on = timeouts.filter((t) => t > 0);
  return on.length === 0 ? 1000 : Math.max(10, Math.min(1000, Math.floor(Math.min(...on) / 2)));
}

/** The options that were given (undefined ones fall back to the defaults). */
function definedOnly(opts: ServerOptions): ServerLimits {
  const out = serverLimits(opts);
  for (const [key, v] of Object.entries(out)) {
    // the admission limits count something and must admit at least one; the timeouts may be 0 (off)
    const least = key.startsWith('maxPending') ? 1 : 0;
    if (!Number.isSafeInteger(v) || v < least) throw new DigitsError(`${key}: expected a whole number >= ${least}, got ${v}`);
  }
  return out;
}

function httpReason(status: number): string {
  const reasons: Record<number, string> = {
    400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Payload Too Large',
    415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable',
  };
  return reasons[status] ?? (status < 500 ? 'Client Error' : 'Server Error');
}
