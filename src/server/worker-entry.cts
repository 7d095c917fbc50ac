/**
 * Piscina's entry for the image workers, in CommonJS on purpose. Piscina loads a worker's file
 * with require() first, and on Node 20.19+ require() of an ES module (image-worker.js) runs
 * Node's require(esm) path, which aborts the whole process (an internal assertion in
 * CreateRequiredModuleFacade) when the worker is terminated while that module is still loading:
 * a server closed within a few hundred milliseconds of starting, before its first worker was
 * ready. This file requires nothing; the decoder arrives by import(), whose loading a terminated
 * worker simply abandons. The import starts when the worker starts, so the first image does not
 * wait for it.
 */
import type { DecodeOutcome, DecodeTask } from './image-worker.js';

const loaded: Promise<(task: DecodeTask) => DecodeOutcome> = import('./image-worker.js').then((m) => m.default);
// a failed import is reported by the first task that awaits it, not as an unhandled rejection
loaded.catch(() => undefined);

export = async function decode(task: DecodeTask): Promise<DecodeOutcome> {
  return (await loaded)(task);
};
