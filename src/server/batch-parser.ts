/**
 * A batch's JSON body parsed, checked and scaled on a worker thread. At 1,000 inputs a body is
 * about 3 MB: parsing it, checking it against the schema and scaling its 784,000 numbers takes
 * some 20 ms, and the garbage it leaves costs the collector as much again, all of which would
 * otherwise stop the event loop while every other request waits (measured in bench/serve-attacks).
 * The answer comes back as one Float32Array.
 */
import type { Piscina } from 'piscina';
import { BodyError } from './body.js';
import type { BatchOutcome, BatchTask } from './worker.js';
import { workerPool } from './worker-pool.js';

export class BatchParser {
  private readonly pool: Piscina<BatchTask, BatchOutcome> = workerPool('parseBatch', 1, 0, 5_000);

  /**
   * The inputs of a batch body as values 0..1 back to back (n × 784), or a BodyError with the 4xx
   * to answer. `signal`: the client left; the body leaves the queue.
   */
  async parse(body: Uint8Array, maxBatch: number, signal?: AbortSignal): Promise<{ x: Float32Array; n: number }> {
    // a copy moves to the worker: the body's buffer may share its memory with others
    const own = new Uint8Array(body);
    const out = await this.pool.run({ bytes: own, maxBatch }, { transferList: [own.buffer], ...(signal ? { signal } : {}) });
    if (!out.ok) throw new BodyError(out.statusCode, 'DIGITS_BAD_BATCH', out.message);
    return out;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
