/**
 * Images made MNIST-like: the ONE implementation of the preprocessing that
 * `digits serve` (image uploads, and so the drawing page, which sends its
 * canvas as a PNG) and `digits predict --input *.png|*.jpg|folder` share.
 *
 * Pipeline (MNIST's own recipe, LeCun et al.):
 *
 *   PNG/JPEG bytes → decode → grayscale ink map, ink bright on dark
 *     (inverted when the image is dark on light; an image with a transparent
 *      background uses its alpha as the ink)
 *   → contrast stretched so the background is 0 and the strongest ink 255
 *   → cropped to the ink's bounding box
 *   → scaled so the longer side is 20 px, keeping the aspect ratio
 *     (area averaging when shrinking, bilinear when enlarging)
 *   → placed in a 28×28 field so that its centre of mass is on pixel (14, 14), as in MNIST.
 *
 * Shapes: a decoded image is [H, W] row-major; the result is [28, 28]
 * row-major values 0..255 (white digit on black, as MNIST), as Float32Array.
 */
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import {
  ImageError, grayFromRgba, preprocessGray, type GrayImage, type Preprocessed,
} from './pixels.js';

export {
  FIELD, BOX, MNIST_CENTRE, INK_THRESHOLD, ImageError, grayFromRgba, inkMap, inkBoundingBox, resize, centreOfMass, mnistFromInk,
  preprocessGray, type GrayImage, type Polarity, type Box, type Preprocessed,
} from './pixels.js';

/** Largest decoded image accepted (pixels): guards against decompression bombs. */
export const MAX_IMAGE_PIXELS = 16 * 1024 * 1024;
/** Largest side accepted, in pixels. */
export const MAX_IMAGE_SIDE = 8192;

export type ImageFormat = 'png' | 'jpeg';

/** 'png' or 'jpeg' from the file's first bytes, or null. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47 &&
    bytes[4] === 0x0d && bytes[5] === 0x0a && bytes[6] === 0x1a && bytes[7] === 0x0a) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

function checkSize(width: number, height: number, where: string): void {
  if (!(width > 0) || !(height > 0)) throw new ImageError(`${where}: the image is empty (${width}×${height} pixels)`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new ImageError(`${where}: the image is ${width}×${height} pixels; at most ${MAX_IMAGE_SIDE} px a side and ` +
      `${MAX_IMAGE_PIXELS.toLocaleString('en-US')} pixels in all are accepted`);
  }
}

/**
 * Largest raw image data a PNG may inflate to (bytes): what the largest accepted RGBA image of 8 bits
 * per channel needs, with the filter byte of every row (interlaced passes have fewer than 2 rows per
 * image row, and round each up to a byte). A PNG of more bits per pixel (16-bit channels) gets fewer pixels.
 */
export const MAX_PNG_RAW_BYTES = MAX_IMAGE_PIXELS * 4 + 16 * MAX_IMAGE_SIDE;

/** Channels of each PNG colour type, and the bit depths it allows. */
const PNG_COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] }, // grayscale
  2: { channels: 3, depths: [8, 16] }, // RGB
  3: { channels: 1, depths: [1, 2, 4, 8] }, // palette
  4: { channels: 2, depths: [8, 16] }, // grayscale + alpha
  6: { channels: 4, depths: [8, 16] }, // RGBA
};

/** The Adam7 passes: [x0, y0, dx, dy]. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** Bytes of filtered scanlines a PNG's image data inflates to: each row a filter byte and its packed pixels, per interlace pass. */
function pngRawBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number): number => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  let total = 0;
  for (const [x0, y0, dx, dy] of ADAM7) total += rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy));
  return total;
}

/**
 * A PNG's structure checked before anything is decoded: its chunks lie inside the file, IHDR comes
 * first, is 13 bytes and comes once (the size checked here is the size the decoder uses), its
 * dimensions, bit depth and colour type are ones Digits accepts, and its image data does not
 * inflate past what those dimensions need (for every variant, interlaced ones included). Throws an
 * ImageError naming `where`.
 */
function checkPng(bytes: Uint8Array, where: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string): never => {
    throw new ImageError(`${where}: could not decode the PNG image (${why})`);
  };
  let header: { width: number; height: number; bitsPerPixel: number; interlaced: boolean } | null = null;
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let at = 8;
  for (;;) {
    if (at + 8 > bytes.length) fail(header === null ? 'no IHDR chunk' : 'it ends before its IEND chunk');
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (at + 12 + length > bytes.length) fail(`the ${JSON.stringify(type)} chunk at byte ${at} runs past the end of the file`);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (header === null && type !== 'IHDR') fail(`the first chunk is ${JSON.stringify(type)}, expected IHDR`);
    if (type === 'IHDR') {
      if (header !== null) fail('a second IHDR chunk');
      if (length !== 13) fail(`the IHDR chunk has ${length} bytes, expected 13`);
      const width = view.getUint32(at + 8);
      const height = view.getUint32(at + 12);
      const depth = data[8]!;
      const colorType = data[9]!;
      const interlace = data[12]!;
      const ct = PNG_COLOR_TYPES[colorType];
      if (ct === undefined) fail(`colour type ${colorType}`);
      if (!ct!.depths.includes(depth)) fail(`bit depth ${depth} with colour type ${colorType}`);
      if (interlace > 1) fail(`interlace method ${interlace}`);
      checkSize(width, height, where);
      header = { width, height, bitsPerPixel: ct!.channels * depth, interlaced: interlace === 1 };
      const raw = pngRawBytes(width, height, header.bitsPerPixel, header.interlaced);
      if (raw > MAX_PNG_RAW_BYTES) {
        throw new ImageError(`${where}: the image is ${width}×${height} pixels of ${header.bitsPerPixel} bits; ` +
          `at most ${MAX_PNG_RAW_BYTES.toLocaleString('en-US')} bytes of image data are accepted (${raw.toLocaleString('en-US')} needed)`);
      }
    } else if (type === 'IDAT') {
      idat.push(data);
      idatBytes += length;
    } else if (type === 'IEND') {
      break;
    }
    at += 12 + length;
  }
  if (idatBytes === 0) fail('no IDAT chunk');
  const need = pngRawBytes(header!.width, header!.height, header!.bitsPerPixel, header!.interlaced);
  const compressed = idat.length === 1 ? idat[0]! : Buffer.concat(idat, idatBytes);
  try {
    // inflated at most to what the dimensions need (one byte more reveals a bomb): the decoder then
    // inflates the same bytes knowing they fit
    inflateSync(compressed, { maxOutputLength: need + 1 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new ImageError(`${where}: the PNG's image data inflates to more than the ${need.toLocaleString('en-US')} bytes ` +
        `its ${header!.width}×${header!.height} pixels need`);
    }
    fail(`its image data does not inflate: ${(err as Error).message}`);
  }
}

/** Most scans a JPEG may have: encoders write about 10 for a progressive image (libjpeg-turbo suggests refusing past 500). */
export const MAX_JPEG_SCANS = 1000;
/**
 * Most pixels a JPEG's scans may cover in all (scans × pixels): each scan of a progressive JPEG is a
 * pass of the decoder over the whole image, so a few bytes per scan can buy minutes of decoding.
 * 100 scans of the largest image, or 1,000 of one of 1.6 megapixels.
 */
export const MAX_JPEG_SCAN_PIXELS = 100 * MAX_IMAGE_PIXELS;

/**
 * Width, height and scan count of a JPEG, read from its markers before decoding (the frame header,
 * SOFn, and every start of scan, SOS, skipping the entropy-coded data between them); the scans stop
 * being counted past `maxScans`. Null when the markers do not parse (the decoder then says what is wrong).
 */
function jpegLayout(bytes: Uint8Array, maxScans: number): { width: number; height: number; scans: number } | null {
  let at = 2;
  let size: { width: number; height: number } | null = null;
  let scans = 0;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) { // fill byte
      at++;
      continue;
    }
    if (marker === 0xd9) break; // end of image
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { // no length
      at += 2;
      continue;
    }
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2) return null;
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (at + 9 > bytes.length) return null;
      size ??= { height: (bytes[at + 5]! << 8) | bytes[at + 6]!, width: (bytes[at + 7]! << 8) | bytes[at + 8]! };
    }
    at += 2 + length;
    if (marker === 0xda) { // a scan: its entropy-coded data runs to the next marker that is not a stuffed 0 or a restart
      if (size === null) return null;
      if (++scans > maxScans) break;
      while (at + 1 < bytes.length && !(bytes[at] === 0xff && bytes[at + 1] !== 0x00 && (bytes[at + 1]! < 0xd0 || bytes[at + 1]! > 0xd7))) at++;
    }
  }
  return size === null ? null : { ...size, scans };
}

function checkJpegWork(layout: { width: number; height: number; scans: number }, where: string): void {
  const { width, height, scans } = layout;
  if (scans > MAX_JPEG_SCANS || scans * width * height > MAX_JPEG_SCAN_PIXELS) {
    throw new ImageError(`${where}: the progressive JPEG has ${scans > MAX_JPEG_SCANS ? `over ${MAX_JPEG_SCANS.toLocaleString('en-US')}` : scans} ` +
      `scans of ${width}×${height} pixels, too many to decode; at most ${MAX_JPEG_SCANS.toLocaleString('en-US')} scans and ` +
      `${MAX_JPEG_SCAN_PIXELS.toLocaleString('en-US')} pixels over all scans are accepted: send a baseline JPEG or a PNG`);
  }
}

/**
 * Decode PNG or JPEG bytes to grayscale (ITU-R BT.601 luma) plus alpha.
 * `where` names the input in messages (a file path, "request body").
 */
export function decodeImage(bytes: Uint8Array, where = 'image'): GrayImage {
  const format = sniffImageFormat(bytes);
  if (format === null) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new ImageError(`${where}: not a PNG or JPEG image (it starts with bytes ${head || '(none: it is empty)'})`);
  }
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  try {
    if (format === 'png') {
      checkPng(bytes, where);
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      ({ width, height } = png);
      rgba = png.data;
    } else {
      const layout = jpegLayout(bytes, MAX_JPEG_SCANS);
      if (layout) {
        checkSize(layout.width, layout.height, where);
        checkJpegWork(layout, where);
      }
      // the decoder's own limits sit just above ours (it counts megapixels in millions), so the size
      // checked above is the limit a user meets, with our message
      const img = jpeg.decode(bytes, {
        useTArray: true, formatAsRGBA: true, tolerantDecoding: false,
        maxResolutionInMP: Math.ceil(MAX_IMAGE_PIXELS / 1e6) + 1, maxMemoryUsageInMB: 512,
      });
      ({ width, height } = img);
      rgba = img.data;
    }
  } catch (err) {
    if (err instanceof ImageError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new ImageError(`${where}: could not decode the ${format === 'png' ? 'PNG' : 'JPEG'} image (${why})`);
  }
  checkSize(width, height, where);
  if (rgba.length < width * height * 4) {
    throw new ImageError(`${where}: the ${format} image is truncated (${rgba.length} bytes of pixels for ${width}×${height})`);
  }
  return grayFromRgba(rgba, width, height);
}

/** PNG or JPEG bytes → the 28×28 MNIST-like field. Every failure is an ImageError naming `where`. */
export function preprocessImage(bytes: Uint8Array, where = 'image'): Preprocessed {
  return preprocessGray(decodeImage(bytes, where), where);
}
