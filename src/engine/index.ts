/**
 * Backend selection. 'auto' picks the native backend and falls back to the
 * reference one (saying why, once) when the addon did not build or load.
 */
import type { Backend } from './backend.js';
import { DigitsError } from '../errors.js';
import { loadNativeBackend } from './native.js';
import { ReferenceBackend } from './reference.js';

export type BackendName = 'auto' | 'reference' | 'native';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'reference', 'native'];

export interface BackendChoice {
  backend: Backend;
  /** set when 'auto' fell back to the reference backend: why */
  warning?: string;
}

let warned = false;

export function createBackend(name: BackendName = 'auto', threads?: number): BackendChoice {
  if (!BACKEND_NAMES.includes(name)) {
    throw new DigitsError(`backend: expected one of ${BACKEND_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  }
  if (name === 'reference') return { backend: new ReferenceBackend() };
  const native = loadNativeBackend(threads);
  if (native.ok) return { backend: native.backend };
  if (name === 'native') {
    throw new DigitsError(`backend native: the native addon could not be loaded (${native.reason}); ` +
      'rebuild it with `npm rebuild` or run with --backend reference');
  }
  const choice: BackendChoice = { backend: new ReferenceBackend() };
  if (!warned) {
    choice.warning = `native backend unavailable (${native.reason}); using the reference backend (correct, but slow)`;
    warned = true;
  }
  return choice;
}

export { ReferenceBackend } from './reference.js';
export type { Backend } from './backend.js';
