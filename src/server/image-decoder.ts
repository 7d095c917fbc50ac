/**
 * Uploaded images are decoded and preprocessed on worker threads (a Piscina pool), not on
 * the server's event loop. A PNG of 16 million pixels packs into ~20 KB and takes over a
 * second to decode and preprocess: done inline, a handful of such requests would stall
 * every other request, /health included. Off the loop, the server keeps answering while
 * the workers decode, and admission control (maxPending) bounds the queue.
 */
import os from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { DigitsError } from '../errors.js';
import { ImageError, type Polarity } from '../preprocess/image.js';
import type { Segmentation } from '../preprocess/segment.js';
import type { DecodeOutcome, DecodeTask } from './worker.js';
import { workerPool } from './worker-pool.js';

/** Most image-decoding worker threads a server takes. */
export const MAX_IMAGE_THREADS = 64;

/** Worker threads by default: all cores but one (the event loop and predictions), at least 1, at most 4. */
export function defaultImageThreads(): number {
  return Math.min(4, Math.max(1, os.availableParallelism() - 1));
}

/** An image whose decode ran past its budget: refused (a 4xx), its worker ended. */
export class DecodeBudgetError extends ImageError {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeBudgetError';
  }
}

/** Decodes uploaded images on a pool of worker threads. */
export class ImageDecoder {
  private readonly pool: Piscina<DecodeTask, DecodeOutcome>;

  constructor(threads = defaultImageThreads()) {
    if (!Number.isInteger(threads) || threads < 1) throw new DigitsError(`imageThreads: expected a whole number >= 1, got ${threads}`);
    if (threads > MAX_IMAGE_THREADS) throw new DigitsError(`imageThreads: expected at most ${MAX_IMAGE_THREADS}, got ${threads}`);
    this.pool = workerPool<DecodeTask, DecodeOutcome>('decode', threads);
  }

  get threads(): number {
    return this.pool.options.maxThreads;
  }

  /** images decoded so far (by the workers) */
  get completed(): number {
    return this.pool.completed;
  }

  /**
   * PNG/JPEG bytes → the 28×28 MNIST-like field (0..255); a bad image rejects with an ImageError naming
   * `where`. A decode that runs past `budgetMs` rejects with a DecodeBudgetError, and one whose `signal`
   * aborts (its client hung up) with the signal's reason: either way it leaves the queue, and a worker
   * already decoding it is ended (a decoder cannot be interrupted otherwise), so the pool is free again.
   */
  async decode(bytes: Uint8Array, where: string, opts: { budgetMs?: number; signal?: AbortSignal } = {}):
    Promise<{ pixels: Float32Array; polarity: Polarity }> {
    const out = await this.run(bytes, where, 'field', opts);
    if (!('pixels' in out)) throw new Error('the decoder answered a field request with a segmentation');
    return out;
  }

  /** PNG/JPEG bytes → the candidate digits of the number it holds (preprocess/segment.ts), on a worker, as `decode` does. */
  async segment(bytes: Uint8Array, where: string, opts: { budgetMs?: number; signal?: AbortSignal } = {}): Promise<Segmentation> {
    const out = await this.run(bytes, where, 'number', opts);
    if (!('segmentation' in out)) throw new Error('the decoder answered a number request with a field');
    return out.segmentation;
  }

  private async run(bytes: Uint8Array, where: string, mode: 'field' | 'number', opts: { budgetMs?: number; signal?: AbortSignal }):
    Promise<{ pixels: Float32Array; polarity: Polarity } | { segmentation: Segmentation }> {
    // a copy of the body moves to the worker: Fastify's buffer may share its memory with others
    const own = new Uint8Array(bytes);
    // The budget is the decode's own time: it starts when a worker takes the task, so neither the
    // queue nor the start of a worker that replaces an ended one counts against it.
    const budgetMs = opts.budgetMs !== undefined && opts.budgetMs > 0 ? opts.budgetMs : 0;
    const budget = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const { port1, port2 } = new MessageChannel();
    if (budgetMs > 0) port1.once('message', () => { timer = setTimeout(() => budget.abort(), budgetMs); });
    const signal = opts.signal !== undefined ? AbortSignal.any([budget.signal, opts.signal]) : budget.signal;
    let out: DecodeOutcome;
    try {
      out = await this.pool.run({ bytes: own, where, mode, started: port2 }, { transferList: [own.buffer, port2], signal });
    } catch (err) {
      if (budget.signal.aborted) {
        throw new DecodeBudgetError(`${where}: the image took more than ${(budgetMs / 1000).toLocaleString('en-US')} s to decode ` +
          '(too many progressive scans or too many pixels for its size): send a smaller or a baseline image');
      }
      throw err;
    } finally {
      clearTimeout(timer);
      port1.close();
    }
    if (!out.ok) throw new ImageError(out.message);
    return 'segmentation' in out ? { segmentation: out.segmentation } : { pixels: out.pixels, polarity: out.polarity };
  }

  /** images waiting for a worker */
  get queued(): number {
    return this.pool.queueSize;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
