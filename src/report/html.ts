/**
 * The report page: one self-contained HTML file (inline CSS, charts as inline
 * SVG, digit images as data: URIs; no script, no font or stylesheet from the
 * network), readable on a phone and a laptop.
 */
import type { DigitTile } from './digits.js';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * An SVG from Vega made fit to inline in HTML: ids prefixed (several charts
 * on one page must not share a gradient or clip id), the XML namespace
 * declarations dropped (HTML does not need them), scalable by CSS.
 */
export function inlineSvg(svg: string, prefix: string): string {
  return svg
    .replace(/^<\?xml[^>]*>\s*/, '')
    .replace(/\s+xmlns(:xlink)?="[^"]*"/g, '')
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`)
    .replace(/^<svg\b/, '<svg role="img"');
}

/** Natural width of a Vega SVG (its width attribute), for the figure's max-width. */
export function svgWidth(svg: string): number | null {
  const m = /^<svg[^>]*\swidth="([\d.]+)"/.exec(svg.replace(/^<\?xml[^>]*>\s*/, ''));
  return m ? Number(m[1]) : null;
}

export const CSS = `
:root { --fg: #111827; --muted: #4b5563; --line: #e5e7eb; --bg: #f9fafb; --card: #fff; --accent: #2563eb; --bad: #dc2626; --good: #15803d; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 0 0 8px; }
h3 { font-size: 1rem; margin: 16px 0 6px; }
p { margin: 6px 0; }
.sub { color: var(--muted); margin: 0 0 12px; overflow-wrap: anywhere; }
nav { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 8px 0 16px; font-size: .9rem; }
nav a { color: var(--accent); text-decoration: none; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 12px 0 20px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .k { color: var(--muted); font-size: .8rem; }
.card .v { font-size: 1.35rem; font-weight: 600; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px; margin: 0 0 16px; }
.figs { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.figs > div { min-width: 0; }
figure { margin: 0; flex: 1 1 320px; min-width: 0; }
figure svg { display: block; width: 100%; height: auto; }
figcaption, .note { color: var(--muted); font-size: .85rem; }
a.png { font-size: .8rem; color: var(--accent); }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: var(--bg); }
td.low { color: var(--bad); font-weight: 600; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(118px, 1fr)); gap: 8px; }
.tile { margin: 0; text-align: center; border: 1px solid var(--line); border-radius: 6px; padding: 6px 4px; background: #fff; }
.tile img { width: 56px; height: 56px; image-rendering: pixelated; image-rendering: crisp-edges; }
.tile .t { font-size: .78rem; font-weight: 600; line-height: 1.25; }
.tile .s { font-size: .72rem; color: var(--muted); }
.tile.wrong .t { color: var(--bad); }
ul.pairs { margin: 4px 0; padding-left: 20px; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow-x: auto; font-size: .8rem; }
footer { color: var(--muted); font-size: .8rem; padding-bottom: 24px; }
@media (max-width: 600px) {
  body { font-size: 14px; }
  header, main, footer { padding: 0 8px; }
  section { padding: 10px; border-radius: 8px; }
  .gallery { grid-template-columns: repeat(auto-fill, minmax(76px, 1fr)); gap: 6px; }
  .tile { padding: 4px 2px; }
  .tile .t { font-size: .7rem; }
  /* tables fit the screen: cells wrap (a layer's output shape, a long setting) rather than hide in a scroll */
  table { font-size: .78rem; width: 100%; }
  th, td { padding: 3px 4px; white-space: normal; overflow-wrap: anywhere; }
  .kv th:last-child, .kv td:last-child { text-align: left; }
}
@media print { body { background: #fff; } section { break-inside: avoid; } }
`;

/** A figure: the inline SVG and a link to its PNG beside the report. */
export function figureHtml(svg: string, id: string, png: string, caption?: string): string {
  const w = svgWidth(svg);
  return `<figure${w ? ` style="max-width:${Math.ceil(w)}px"` : ''}>${inlineSvg(svg, id)}` +
    `<figcaption>${caption ? escapeHtml(caption) + ' · ' : ''}<a class="png" href="${escapeHtml(png)}">${escapeHtml(png)}</a></figcaption></figure>`;
}

/** A table (in a div that scrolls sideways on a wide screen; on a phone its cells wrap). `cls`: the table's class ('kv' for settings: values left-aligned on a phone). */
export function tableHtml(head: string[], rows: (string | { html: string; cls?: string })[][], cls?: string): string {
  const cell = (c: string | { html: string; cls?: string }): string =>
    typeof c === 'string' ? `<td>${escapeHtml(c)}</td>` : `<td${c.cls ? ` class="${c.cls}"` : ''}>${c.html}</td>`;
  return `<div class="scroll"><table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table></div>`;
}

export function galleryHtml(tiles: DigitTile[]): string {
  return `<div class="gallery">${tiles.map((t) =>
    `<figure class="tile${t.wrong ? ' wrong' : ''}"><img alt="${escapeHtml(t.title)}" src="${t.uri}">` +
    `<div class="t">${escapeHtml(t.title)}</div>${t.subtitle ? `<div class="s">${escapeHtml(t.subtitle)}</div>` : ''}</figure>`).join('')}</div>`;
}

export interface Section {
  id: string;
  title: string;
  body: string;
}

export function pageHtml(o: { title: string; subtitle: string; cards: { k: string; v: string }[]; sections: Section[]; footer: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(o.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(o.title)}</h1>
<p class="sub">${escapeHtml(o.subtitle)}</p>
<div class="cards">${o.cards.map((c) => `<div class="card"><div class="k">${escapeHtml(c.k)}</div><div class="v">${escapeHtml(c.v)}</div></div>`).join('')}</div>
<nav>${o.sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join('')}</nav>
</header>
<main>
${o.sections.map((s) => `<section id="${s.id}">\n<h2>${escapeHtml(s.title)}</h2>\n${s.body}\n</section>`).join('\n')}
</main>
<footer>${o.footer}</footer>
</body>
</html>
`;
}
