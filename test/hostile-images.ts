/**
 * Images built to cost a decoder memory or time, shared by the tests that refuse them
 * (image-bombs, serve-memory, the image fuzzer) and by bench/serve-attacks: PNG chunks with valid
 * CRCs (so the decoders get past their checks), zlib streams that inflate to far more than they
 * weigh, and progressive JPEGs of many cheap scans.
 */
import { constants, crc32, deflateRawSync } from 'node:zlib';

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG chunk: length, type, data and the CRC of type and data. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An IHDR chunk (compression and filter method 0). */
export function ihdr(width: number, height: number, depth: number, colorType: number, interlace = 0): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(width, 0);
  d.writeUInt32BE(height, 4);
  d[8] = depth;
  d[9] = colorType;
  d[12] = interlace;
  return pngChunk('IHDR', d);
}

/** The signature, the chunks given, and IEND. */
export const png = (...chunks: Buffer[]): Buffer => Buffer.concat([PNG_SIGNATURE, ...chunks, pngChunk('IEND', new Uint8Array(0))]);

/**
 * A zlib stream that inflates to `mib` MiB of zeros from a few KB: one byte-aligned deflate block
 * of 1 MiB repeated (the stream's checksum is never reached: inflation stops at the cap first).
 */
export function zeroBomb(mib: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: constants.Z_FULL_FLUSH });
  return Buffer.concat([Buffer.from([0x78, 0x01]), ...Array.from({ length: mib }, () => block), Buffer.from([0x03, 0x00, 0, 0, 0, 0])]);
}

/** A JPEG marker segment: FF, the marker, the length (2 + payload) and the payload. */
function segment(marker: number, payload: number[]): Buffer {
  return Buffer.from([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 0xff, ...payload]);
}

/** Bits (0/1) packed MSB first, the last byte padded with ones, every 0xFF followed by a stuffed 0x00. */
function entropyCoded(bits: number[]): Buffer {
  const out: number[] = [];
  for (let i = 0; i < bits.length; i += 8) {
    let byte = 0;
    for (let b = 0; b < 8; b++) byte = (byte << 1) | (i + b < bits.length ? bits[i + b]! : 1);
    out.push(byte);
    if (byte === 0xff) out.push(0x00);
  }
  return Buffer.from(out);
}

/**
 * A grey progressive JPEG of width×height whose image is flat grey but which takes `scans` scans
 * to say so: a DC scan, then `scans - 1` AC scans of a few bytes each, every one an end-of-band run
 * of 32,767 blocks repeated over the whole image. Each scan costs a decoder a pass over every
 * block; the bytes cost almost nothing.
 */
export function manyScansJpeg(width: number, height: number, scans: number): Buffer {
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const huffman = (tableClass: number, symbol: number): number[] => [tableClass << 4, 1, ...new Array(15).fill(0), symbol];
  const sos = (ss: number, se: number): Buffer => segment(0xda, [1, 1, 0x00, ss, se, 0x00]);
  // DC: one code, "0" for a difference of 0 in every block
  const dc = Buffer.concat([sos(0, 0), entropyCoded(new Array(blocks).fill(0))]);
  // AC: one code, "0" for EOB run r = 14, then 14 one-bits: a run of 2^14 + 16383 = 32,767 blocks
  const runs = Math.ceil(blocks / 32767);
  const ac = Buffer.concat([sos(1, 63), entropyCoded(Array.from({ length: runs }, () => [0, ...new Array(14).fill(1)]).flat())]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xdb, [0, ...new Array(64).fill(1)]),
    segment(0xc2, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]),
    segment(0xc4, huffman(0, 0x00)),
    segment(0xc4, huffman(1, 0xe0)),
    dc,
    ...new Array<Buffer>(Math.max(0, scans - 1)).fill(ac),
    Buffer.from([0xff, 0xd9]),
  ]);
}
