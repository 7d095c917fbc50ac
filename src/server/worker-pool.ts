/**
 * The server's worker threads (a Piscina pool running one of worker.ts's tasks): off the event
 * loop goes the work that grows with a request's body, so that /health and small predictions
 * keep their latency while big bodies are decoded or parsed.
 */
import { Piscina } from 'piscina';

/** Which of worker.ts's exports a pool runs. */
export type WorkerTask = 'decode' | 'parseBatch';

/**
 * A pool of at most `maxThreads` threads running `task`, the first `minThreads` started at once (so that
 * the first request does not wait for one); the others end after `idleTimeout` ms without work, and
 * the memory their work took (a thread's heap grows to its largest task) goes back to the system.
 */
export function workerPool<T, R>(task: WorkerTask, maxThreads: number, minThreads = 1, idleTimeout = 60_000): Piscina<T, R> {
  return new Piscina<T, R>({
    // a CommonJS entry that imports worker.ts: see worker-entry.cts for why
    filename: new URL('./worker-entry.cjs', import.meta.url).href,
    name: task,
    minThreads,
    maxThreads,
    idleTimeout,
    // idle threads wait for a message, not in Atomics.wait: a thread ended (terminate()) while it
    // waited there now and then never exited on Node 24, and kept the process alive
    atomics: 'disabled',
  });
}

