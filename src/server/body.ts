/**
 * Request bodies read with memory that follows their size, whatever the framing: every chunk is
 * copied into one buffer that grows (by doubling, never past the route's limit) as the body
 * arrives, so a body sent in one-byte chunks costs what the same body costs in one piece, not an
 * object per chunk. A Content-Length over the limit is refused before the body is read.
 *
 * Each piece of a body costs a call into JavaScript, so a body framed in one-byte chunks costs the
 * event loop a million calls a megabyte: past MAX_PIECES pieces averaging under MIN_PIECE_BYTES,
 * the body is refused (400) and the rest of it is not read (the server closes the connection after its answer).
 */
import type { IncomingMessage } from 'node:http';

/** An error Fastify's error handler turns into an HTTP answer (statusCode, and code for the message). */
export class BodyError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
  }
}

/** The first chunk of the buffer, before any growth (most bodies fit). */
const FIRST_CAPACITY = 64 * 1024;

/** Pieces a body may arrive in before their average size counts (a socket read is one piece, a chunk of a chunked body another). */
export const MAX_PIECES = 1_024;
/** Least average piece size past MAX_PIECES pieces (bytes). */
export const MIN_PIECE_BYTES = 64;

/** The body of `req`, at most `limit` bytes: 413 (FST_ERR_CTP_BODY_TOO_LARGE) past it, 400 when it disagrees with its Content-Length. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
    const tooLarge = (): BodyError => new BodyError(413, 'FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is too large');
    if (declared !== null && declared > limit) {
      reject(tooLarge());
      return;
    }
    let buf = Buffer.allocUnsafe(Math.min(limit, declared ?? FIRST_CAPACITY, Math.max(FIRST_CAPACITY, declared ?? 0)));
    let size = 0;
    let pieces = 0;
    let done = false;
    const finish = (err: Error | null, drain = true): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err !== null) {
        // let the rest of the body drain (the answer still goes out), unless reading it is the cost
        if (drain) req.resume();
        else req.pause();
        reject(err);
      } else {
        resolve(buf.subarray(0, size));
      }
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > limit) {
        finish(tooLarge());
        return;
      }
      if (++pieces > MAX_PIECES && size < pieces * MIN_PIECE_BYTES) {
        finish(new BodyError(400, 'DIGITS_TINY_PIECES', `the body arrives in pieces of ${(size / pieces).toFixed(1)} bytes on average ` +
          `(${pieces.toLocaleString('en-US')} so far): send it in one piece, or in chunks of at least ${MIN_PIECE_BYTES} bytes`), false);
        return;
      }
      if (size + chunk.length > buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(limit, Math.max(buf.length * 2, size + chunk.length)));
        buf.copy(grown, 0, 0, size);
        buf = grown;
      }
      chunk.copy(buf, size);
      size += chunk.length;
    };
    const onEnd = (): void => {
      if (declared !== null && declared !== size) {
        finish(new BodyError(400, 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', 'Request body size did not match Content-Length'));
      } else {
        finish(null);
      }
    };
    const onError = (err: Error): void => finish(err);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** A charset other than UTF-8 (or ASCII) in a Content-Type, or null. */
export function foreignCharset(contentType: string | undefined): string | null {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  if (m === null) return null;
  const cs = m[1]!.toLowerCase();
  return cs === 'utf-8' || cs === 'utf8' || cs === 'us-ascii' || cs === 'ascii' ? null : m[1]!;
}

/** The answer to a body JSON.parse refused (`why`: its SyntaxError's message). */
export function invalidJsonMessage(why: string): string {
  return `the body is not valid JSON (${why})`;
}

/**
 * JSON text parsed as Fastify's own parser does (keys that would poison prototypes refused), with
 * messages that say what is wrong: a SyntaxError for text that is not JSON, a 400 naming the key
 * for a "__proto__" or a "constructor" holding a "prototype".
 */
export function parseJson(text: string): unknown {
  const suspicious = text.includes('"__proto__"') || (text.includes('"constructor"') && text.includes('"prototype"'));
  if (!suspicious) return JSON.parse(text);
  return JSON.parse(text, (key, value: unknown) => {
    if (key === '__proto__') {
      throw new BodyError(400, 'FST_ERR_PROTO_KEY', 'the JSON body has a "__proto__" key, which is refused (it could change the object it is in); leave it out');
    }
    if (key === 'constructor' && value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, 'prototype')) {
      throw new BodyError(400, 'FST_ERR_PROTO_KEY', 'the JSON body has a "constructor" key holding a "prototype", which is refused; leave it out');
    }
    return value;
  });
}
