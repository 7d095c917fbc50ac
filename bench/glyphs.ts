/**
 * Printed text as an image, for the benchmarks that need glyphs no one drew: printed digits across
 * fonts and weights (bench/printed.ts) and letters and symbols that are not digits
 * (bench/not-a-digit.ts). resvg (the report's renderer) draws an SVG text with a font file.
 */
import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import { grayFromRgba, type GrayImage } from '../src/preprocess/pixels.js';

/** Font files the benchmarks try (those present are used): Debian's DejaVu, Liberation and Lato. */
export const FONT_FILES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Oblique.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf', '/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf', '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
  '/usr/share/fonts/truetype/lato/Lato-Regular.ttf', '/usr/share/fonts/truetype/lato/Lato-Black.ttf',
  '/usr/share/fonts/truetype/lato/Lato-Hairline.ttf', '/usr/share/fonts/truetype/lato/Lato-Thin.ttf',
  '/usr/share/fonts/truetype/lato/Lato-Italic.ttf',
].filter((f) => existsSync(f));

/** Letters that look like no digit (O, l, S, Z, B, g and the like are left out): bench/not-a-digit.ts's outliers. */
export const LETTERS = 'ACEFHKMNPRTUVWXYacefhkmnprtuvwxy';
/** Printed symbols, none a digit. */
export const SYMBOLS = '#%&@*+=~^<>{}€£¥§¶©®™✓✗♥♦♣♠★☺→←↑↓∞≈≠±÷×';

/**
 * `text` in the font of `fontFile`, `size` pixels high, black on white, with `stroke` pixels of
 * outline added to the glyphs (0: as the font draws them; more: a heavier marker).
 */
export function renderText(text: string, fontFile: string, o: { size?: number; stroke?: number } = {}): GrayImage {
  const size = o.size ?? 64;
  const stroke = o.stroke ?? 0;
  const width = Math.ceil(size * 0.9 * text.length + size), height = Math.ceil(size * 1.6);
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>` +
    `<text x="${size / 2}" y="${size * 1.15}" font-size="${size}" font-family="F" fill="black"` +
    (stroke > 0 ? ` stroke="black" stroke-width="${stroke}" stroke-linejoin="round"` : '') + `>${escaped}</text></svg>`;
  const r = new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: [fontFile], defaultFontFamily: 'F' }, background: 'white' });
  const png = r.render();
  return grayFromRgba(png.pixels, png.width, png.height);
}
