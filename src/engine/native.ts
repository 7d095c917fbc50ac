/**
 * Loader of the native backend (C++ addon under native/, built by node-gyp).
 * Placeholder until the addon lands: reports that it is not built.
 */
import type { Backend } from './backend.js';

export type NativeLoad = { ok: true; backend: Backend } | { ok: false; reason: string };

export function loadNativeBackend(_threads?: number): NativeLoad {
  return { ok: false, reason: 'the native addon is not part of this build yet' };
}
