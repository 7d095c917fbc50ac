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
import { DigitsError } from '../errors.js';

export const FIELD = 28;
export const BOX = 20;
/**
 * Where MNIST puts a digit's centre of mass, in pixel-centre coordinates
 * (pixel i spans [i, i+1)): on the centre of pixel (14, 14). Measured on the
 * first 2,000 MNIST test images: mean 14.50 (x), 14.49 (y).
 */
export const MNIST_CENTRE = FIELD / 2 + 0.5;

/** Largest decoded image accepted (pixels): guards against decompression bombs. */
export const MAX_IMAGE_PIXELS = 16 * 1024 * 1024;
/** Largest side accepted, in pixels. */
export const MAX_IMAGE_SIDE = 8192;

export type ImageFormat = 'png' | 'jpeg';

/** A grayscale image: 0 = black, 255 = white; alpha 0..255 (null: opaque). */
export interface GrayImage {
  width: number;
  height: number;
  /** [H, W] luminance 0..255 */
  gray: Float32Array;
  /** [H, W] alpha 0..255, or null when the image has no transparency */
  alpha: Float32Array | null;
}

/** An image problem users can read, distinct from other errors (the server maps it to 4xx). */
export class ImageError extends DigitsError {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

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
  const n = width * height;
  const gray = new Float32Array(n);
  const alpha = new Float32Array(n);
  let transparent = false;
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i]!, g = rgba[4 * i + 1]!, b = rgba[4 * i + 2]!, a = rgba[4 * i + 3]!;
    gray[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    alpha[i] = a;
    if (a < 255) transparent = true;
  }
  return { width, height, gray, alpha: transparent ? alpha : null };
}

/**
 * The ink map of an image: 0 where there is no ink, up to 255 for the
 * strongest ink, whatever the polarity.
 *
 * - Transparent background (some pixels with alpha < 128): the ink is the
 *   alpha, so black or white strokes on a transparent canvas both work.
 * - Otherwise the background level is the median of the border pixels; a
 *   light border means dark ink on light paper, so the image is inverted.
 * The result is stretched so the background maps to 0 and the strongest ink to 255.
 */
export function inkMap(img: GrayImage): { ink: Float32Array; polarity: Polarity } {
  const { width: w, height: h } = img;
  const n = w * h;
  const ink = new Float32Array(n);
  let polarity: Polarity;
  if (img.alpha && img.alpha.some((a) => a < 128)) {
    polarity = 'alpha';
    ink.set(img.alpha);
  } else {
    const invert = borderMedian(img.gray, w, h) > 127.5;
    polarity = invert ? 'dark-on-light' : 'light-on-dark';
    for (let i = 0; i < n; i++) ink[i] = invert ? 255 - img.gray[i]! : img.gray[i]!;
  }
  // stretch: background (border median of the ink map) -> 0, the strongest ink -> 255
  const bg = borderMedian(ink, w, h);
  let max = 0;
  for (let i = 0; i < n; i++) if (ink[i]! > max) max = ink[i]!;
  const range = max - bg;
  if (range < 1) return { ink: new Float32Array(n), polarity }; // no ink at all
  for (let i = 0; i < n; i++) {
    const v = ((ink[i]! - bg) / range) * 255;
    ink[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return { ink, polarity };
}

/** How the ink was found: light on dark, dark on light (inverted), or the alpha channel. */
export type Polarity = 'light-on-dark' | 'dark-on-light' | 'alpha';

/** Median of the pixels on the image's border: the background level. */
function borderMedian(v: Float32Array, w: number, h: number): number {
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(v[x]!, v[(h - 1) * w + x]!);
  for (let y = 1; y < h - 1; y++) border.push(v[y * w]!, v[y * w + w - 1]!);
  border.sort((a, b) => a - b);
  return border[border.length >> 1]!;
}

/** Ink counts as part of the digit's bounding box above this level (of 255): ignores faint noise. */
export const INK_THRESHOLD = 32;

/** A rectangle in image pixels: left, top, width, height. */
export interface Box {
  x0: number;
  y0: number;
  /** exclusive */
  x1: number;
  y1: number;
}

/** Bounding box of pixels above `threshold`, or null when there are none. */
export function inkBoundingBox(ink: Float32Array, width: number, height: number, threshold = INK_THRESHOLD): Box | null {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]! > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/**
 * Resample src [sh, sw] to [dh, dw]: area averaging when shrinking (each
 * output pixel is the mean of the input area it covers, fractional edges
 * weighted), bilinear interpolation when enlarging.
 */
export function resize(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  const dst = new Float32Array(dw * dh);
  const sx = sw / dw;
  const sy = sh / dh;
  if (sx >= 1 && sy >= 1) {
    for (let y = 0; y < dh; y++) {
      const fy0 = y * sy, fy1 = (y + 1) * sy;
      for (let x = 0; x < dw; x++) {
        const fx0 = x * sx, fx1 = (x + 1) * sx;
        let sum = 0;
        for (let yy = Math.floor(fy0); yy < Math.min(sh, Math.ceil(fy1)); yy++) {
          const wy = Math.min(yy + 1, fy1) - Math.max(yy, fy0);
          for (let xx = Math.floor(fx0); xx < Math.min(sw, Math.ceil(fx1)); xx++) {
            const wx = Math.min(xx + 1, fx1) - Math.max(xx, fx0);
            sum += src[yy * sw + xx]! * wx * wy;
          }
        }
        dst[y * dw + x] = sum / (sx * sy);
      }
    }
    return dst;
  }
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, sh - 1), ty = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, sw - 1), tx = fx - x0;
      const top = src[y0 * sw + x0]! * (1 - tx) + src[y0 * sw + x1]! * tx;
      const bottom = src[y1 * sw + x0]! * (1 - tx) + src[y1 * sw + x1]! * tx;
      dst[y * dw + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return dst;
}

/** Centre of mass (x, y) of an ink map in pixel-centre coordinates (pixel i spans [i, i+1), centre i + 0.5). */
export function centreOfMass(ink: Float32Array, width: number, height: number): { x: number; y: number } {
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = ink[y * width + x]!;
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  return m > 0 ? { x: mx / m, y: my / m } : { x: width / 2, y: height / 2 };
}

/** An image made MNIST-like: the 28×28 field (0-255, white on black), the ink box in the original image, and its polarity. */
export interface Preprocessed {
  /** [28, 28] row-major, 0..255, white digit on black */
  pixels: Float32Array;
  /** the ink's bounding box in the original image */
  box: Box;
  /** whether the image was inverted (dark ink on light paper) or its alpha used */
  polarity: Polarity;
}

/** An ink map (any size) → the 28×28 MNIST-like field. Throws ImageError when there is no ink. */
export function mnistFromInk(ink: Float32Array, width: number, height: number, where = 'image'): { pixels: Float32Array; box: Box } {
  const box = inkBoundingBox(ink, width, height);
  if (box === null) throw new ImageError(`${where}: the image is blank (no ink found to read a digit from)`);
  const bw = box.x1 - box.x0;
  const bh = box.y1 - box.y0;
  const crop = new Float32Array(bw * bh);
  for (let y = 0; y < bh; y++) crop.set(ink.subarray((box.y0 + y) * width + box.x0, (box.y0 + y) * width + box.x1), y * bw);
  const scale = BOX / Math.max(bw, bh);
  const dw = Math.max(1, Math.min(BOX, Math.round(bw * scale)));
  const dh = Math.max(1, Math.min(BOX, Math.round(bh * scale)));
  const small = resize(crop, bw, bh, dw, dh);
  // place so that the centre of mass lands where MNIST has it, whole-pixel shifts
  const com = centreOfMass(small, dw, dh);
  let ox = Math.round(MNIST_CENTRE - com.x);
  let oy = Math.round(MNIST_CENTRE - com.y);
  ox = Math.min(Math.max(ox, 0), FIELD - dw);
  oy = Math.min(Math.max(oy, 0), FIELD - dh);
  const pixels = new Float32Array(FIELD * FIELD);
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      const v = small[y * dw + x]!;
      pixels[(oy + y) * FIELD + ox + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { pixels, box };
}

/** A decoded image → the 28×28 MNIST-like field (0..255, white on black). */
export function preprocessGray(img: GrayImage, where = 'image'): Preprocessed {
  const { ink, polarity } = inkMap(img);
  const { pixels, box } = mnistFromInk(ink, img.width, img.height, where);
  return { pixels, box, polarity };
}

/** PNG or JPEG bytes → the 28×28 MNIST-like field. Every failure is an ImageError naming `where`. */
export function preprocessImage(bytes: Uint8Array, where = 'image'): Preprocessed {
  return preprocessGray(decodeImage(bytes, where), where);
}
