/** The page's side of the worker (worker.ts): each request a promise; progress and status as callbacks. */
import type { Reply, Request } from './protocol.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; onReply?: (r: Reply) => void };
/** A request without its id (the client numbers them). */
type Ask = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export class Compute {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private next = 1;

  constructor() {
    // the bundle sits beside the pages (dist/web); a module worker, as the pages are modules
    this.worker = new Worker(new URL('worker.js', document.baseURI), { type: 'module' });
    this.worker.onmessage = (e: MessageEvent<Reply>): void => {
      const r = e.data;
      const p = this.pending.get(r.id);
      if (p === undefined) return;
      if (r.type === 'done') {
        this.pending.delete(r.id);
        p.resolve(r.result);
      } else if (r.type === 'error') {
        this.pending.delete(r.id);
        p.reject(new Error(r.message));
      } else {
        p.onReply?.(r);
      }
    };
    this.worker.onerror = (e: ErrorEvent): void => {
      for (const p of this.pending.values()) p.reject(new Error(`the worker failed: ${e.message}`));
      this.pending.clear();
    };
  }

  /** Ends the worker (what it was doing is dropped). */
  terminate(): void {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new Error('the worker was ended'));
    this.pending.clear();
  }

  /** Sends `ask`; resolves with its result. `onReply` hears its progress and status on the way. */
  request<T>(ask: Ask, onReply?: (r: Reply) => void, transfer: Transferable[] = []): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, ...(onReply ? { onReply } : {}) });
      this.worker.postMessage({ ...ask, id }, transfer);
    });
  }
}
