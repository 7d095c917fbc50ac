/**
 * The worker side of ImageDecoder (src/server/image-decoder.ts): decode and preprocess
 * one uploaded image off the server's event loop. Errors come back as values, not
 * throws, so that the main thread can rebuild the ImageError with its message intact.
 */
import { ImageError, preprocessImage, type Polarity } from '../preprocess/image.js';

export interface DecodeTask {
  bytes: Uint8Array;
  where: string;
}

export type DecodeOutcome =
  | { ok: true; pixels: Float32Array; polarity: Polarity }
  | { ok: false; message: string };

export default function decode(task: DecodeTask): DecodeOutcome {
  try {
    const { pixels, polarity } = preprocessImage(task.bytes, task.where);
    return { ok: true, pixels, polarity };
  } catch (err) {
    if (err instanceof ImageError) return { ok: false, message: err.message };
    throw err; // a bug, not a bad image: the server logs it as a 500
  }
}
