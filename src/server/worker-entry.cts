/**
 * Piscina's entry for the server's workers (worker.ts), in CommonJS on purpose. Piscina loads a
 * worker's file with require() first, and on Node 20.19+ require() of an ES module runs Node's
 * require(esm) path, which aborts the whole process (an internal assertion in
 * CreateRequiredModuleFacade) when the worker is terminated while that module is still loading:
 * a server closed within a few hundred milliseconds of starting, before its first worker was
 * ready. This file requires nothing; worker.ts arrives by import(), whose loading a terminated
 * worker simply abandons. The import starts when the worker starts, so the first task does not
 * wait for it.
 */
import type { BatchOutcome, BatchTask, DecodeOutcome, DecodeTask } from './worker.js';

const loaded = import('./worker.js');
// a failed import is reported by the first task that awaits it, not as an unhandled rejection
loaded.catch(() => undefined);

export = {
  async decode(task: DecodeTask): Promise<DecodeOutcome> {
    return (await loaded).decode(task);
  },
  async parseBatch(task: BatchTask): Promise<BatchOutcome> {
    return (await loaded).parseBatch(task);
  },
};
