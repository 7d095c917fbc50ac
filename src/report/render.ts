/**
 * Chart rendering: a Vega-Lite spec → Vega → SVG (headless, no canvas), and
 * SVG → PNG through resvg (a Rust rasteriser shipped as a prebuilt platform
 * package, no install script, no downloads).
 *
 * resvg draws text only with a font it has loaded: we load DejaVu Sans (Debian
 * `fonts-dejavu-core`) or, failing that, the system's fonts, once per process.
 */
import { existsSync } from 'node:fs';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';

/** The font family charts ask for: DejaVu Sans first (what resvg loads), then the browser's usual sans fonts. */
export const CHART_FONT = 'DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif';

/** Font files resvg may load, best first, with their family names. */
const FONT_CANDIDATES: [family: string, files: string[]][] = [
  ['DejaVu Sans', [
    '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf', // Debian, Ubuntu
    '/usr/share/fonts/dejavu/DejaVuSans.ttf', '/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf', // Fedora, Alpine
    '/usr/share/fonts/TTF/DejaVuSans.ttf', '/usr/share/fonts/TTF/DejaVuSans-Bold.ttf', // Arch
  ]],
  ['Liberation Sans', [
    '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf', '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
  ]],
  ['Arial', ['/Library/Fonts/Arial.ttf', '/System/Library/Fonts/Supplemental/Arial.ttf', 'C:\\Windows\\Fonts\\arial.ttf']],
];

let fontOptions: ResvgRenderOptions['font'] | null = null;

/** resvg's font options, found once: the first family with files present, else a scan of the system's fonts. */
function fonts(): ResvgRenderOptions['font'] {
  if (fontOptions) return fontOptions;
  for (const [family, candidates] of FONT_CANDIDATES) {
    const files = candidates.filter((f) => existsSync(f));
    if (files.length > 0) {
      fontOptions = { loadSystemFonts: false, fontFiles: files, defaultFontFamily: family, sansSerifFamily: family };
      return fontOptions;
    }
  }
  fontOptions = { loadSystemFonts: true };
  return fontOptions;
}

/** Defaults shared by every chart: fonts, white background, quiet axes. */
const CONFIG = {
  font: CHART_FONT,
  background: 'white',
  view: { stroke: null },
  axis: { labelFontSize: 12, titleFontSize: 12, gridColor: '#e5e7eb', domainColor: '#9ca3af', tickColor: '#9ca3af' },
  legend: { labelFontSize: 12, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start', offset: 8 },
} as const;

/** Render a Vega-Lite spec to an SVG string (no browser, no canvas). */
export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  const withConfig = { ...spec, config: { ...CONFIG, ...(spec as { config?: object }).config } } as TopLevelSpec;
  const vgSpec = compile(withConfig).spec;
  // A loader that refuses every URL: reports never reach the network.
  const loader = vega.loader();
  loader.load = async (uri: string) => {
    throw new Error(`report charts load no external data (asked for ${uri})`);
  };
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', loader });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterise an SVG to PNG bytes at `scale` × its own size (2: sharp on high-density screens). */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    font: fonts(),
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    imageRendering: 1, // optimizeSpeed: digit images stay crisp pixels, as in the HTML
  });
  return resvg.render().asPng();
}
