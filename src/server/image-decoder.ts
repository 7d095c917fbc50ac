/**
 * Uploaded images are decoded and preprocessed on worker threads (a Piscina pool), not on
 * the server's event loop. A PNG of 16 million pixels packs into ~20 KB and takes over a
 * second to decode and preprocess: done inline, a handful of such requests would stall
 * every other request, /health included. Off the loop, the server keeps answering while
 * the workers decode, and admission control (maxPending) bounds the queue.
 */
import os from 'node:os';
import { Piscina } from 'piscina';
import { DigitsError } from '../errors.js';
import { ImageError, type Polarity } from '../preprocess/image.js';
import type { DecodeOutcome, DecodeTask } from './image-worker.js';

/** Worker threads by default: all cores but one (the event loop and predictions), at least 1, at most 4. */
export function defaultImageThreads(): number {
  return Math.min(4, Math.max(1, os.availableParallelism() - 1));
}

export class ImageDecoder {
  private readonly pool: Piscina<DecodeTask, DecodeOutcome>;

  constructor(threads = defaultImageThreads()) {
    if (!Number.isInteger(threads) || threads < 1) throw new DigitsError(`imageThreads: expected a whole number >= 1, got ${threads}`);
    this.pool = new Piscina<DecodeTask, DecodeOutcome>({
      // a CommonJS entry that imports the decoder: see image-worker-entry.cts for why
      filename: new URL('./image-worker-entry.cjs', import.meta.url).href,
      minThreads: 1,
      maxThreads: threads,
      idleTimeout: 60_000,
    });
  }

  get threads(): number {
    return this.pool.options.maxThreads;
  }

  /** images decoded so far (by the workers) */
  get completed(): number {
    return this.pool.completed;
  }

  /** PNG/JPEG bytes → the 28×28 MNIST-like field (0..255); a bad image rejects with an ImageError naming `where`. */
  async decode(bytes: Uint8Array, where: string): Promise<{ pixels: Float32Array; polarity: Polarity }> {
    // a copy of the body moves to the worker: Fastify's buffer may share its memory with others
    const own = new Uint8Array(bytes);
    const out = await this.pool.run({ bytes: own, where }, { transferList: [own.buffer] });
    if (!out.ok) throw new ImageError(out.message);
    return { pixels: out.pixels, polarity: out.polarity };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
