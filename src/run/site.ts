/**
 * `digits export --format web`: a static site that reads drawings and trains in the page, from any
 * static host or a plain local server, offline. The site is one flat folder:
 *
 *   index.html, train.html, style.css   the drawing page and the training page (web/)
 *   page.js, train-page.js, worker.js   their bundles; the worker runs the engine (src/web)
 *   digits.wasm                         the kernels as WebAssembly
 *   model.json, group1-shard*.bin       the model, in the format `digits train` saves
 *   *-ubyte.gz                          MNIST as gzipped IDX files, for train.html (unless data: false)
 *   gate.json, gate-group1-shard*.bin   the digit gate (isDigit, and reading numbers), when the package has one
 *   line-reader.json, line-reader-*.bin the line reader (reading numbers), when the package has one
 *   site.json                           what the pages read first: predict in the page, where the files are
 *
 * The folder is written whole and swapped into place (util/atomic.ts), so a failed export leaves the
 * old site. An existing folder that is not a Digits site (no site.json) is refused, never replaced.
 */
import { promises as fs, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { DigitsError } from '../errors.js';
import { ENSEMBLE_JSON, isEnsembleDir } from '../io/ensemble.js';
import { loadModel, makeMetadata, toModelJson } from '../io/model-files.js';
import { mnistDataDir } from '../data/mnist.js';
import { writeFolderAtomic } from '../util/atomic.js';
import type { OnRunEvent } from './events.js';
import { warnOnStderr } from './events.js';
import { GATE_DIR, readsDigits } from './gate.js';
import { LINE_READER_DIR } from './line-reader.js';

const gzip = promisify(zlib.gzip);

/** The built pages: dist/src/run/site.js → dist/web. */
export function webBuildDir(): string {
  return fileURLToPath(new URL('../../web', import.meta.url));
}

/** The site's description the pages read (src/web/protocol.ts, SiteConfig). */
export const SITE_JSON = 'site.json';

/** MNIST's four files as the export carries them, by the name site.json gives each. */
const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte', trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte', testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** What exportSite writes: the model, the folder, and whether the site carries MNIST. */
export interface SiteOptions {
  /** the model folder (model.json + shards) the drawing page predicts with */
  model: string;
  /** the site folder to write */
  out: string;
  /** carry MNIST for train.html (default true; about 11 MB gzipped) */
  data?: boolean;
}

/** What exportSite wrote. */
export interface SiteResult {
  /** the site folder, absolute */
  out: string;
  /** every file of the site and its size */
  files: { name: string; bytes: number }[];
  /** bytes of the pages' JavaScript and WebAssembly, gzipped as a server would send them */
  codeGzipBytes: number;
}

/**
 * Writes the site (what `digits export --format web` writes): the pages, the WebAssembly kernels, the
 * model and MNIST, into `o.out`, whole or not at all; says what it wrote as an 'info' event.
 */
export async function exportSite(o: SiteOptions, onEvent: OnRunEvent = warnOnStderr): Promise<SiteResult> {
  const web = webBuildDir();
  let pages: string[];
  try {
    pages = readdirSync(web).filter((f) => statSync(path.join(web, f)).isFile());
  } catch {
    throw new DigitsError(`${web}: the built pages are missing (run \`npm run build\` in the Digits checkout)`);
  }
  if (!pages.includes('index.html') || !pages.includes('digits.wasm')) {
    throw new DigitsError(`${web}: the built pages are incomplete (run \`npm run build\` in the Digits checkout)`);
  }
  if (await isEnsembleDir(o.model)) {
    throw new DigitsError(`--model ${o.model}: an ensemble (${ENSEMBLE_JSON}) cannot run in the page yet; ` +
      `export one of its members, e.g. --model ${path.join(o.model, 'model-0')}`);
  }
  const existing = await fs.readdir(o.out).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    if (err.code === 'ENOTDIR') throw new DigitsError(`--out ${o.out}: is a file; expected a folder for the site`);
    throw new DigitsError(`--out ${o.out}: cannot read (${err.message})`);
  });
  if (existing !== null && existing.length > 0 && !existing.includes(SITE_JSON)) {
    throw new DigitsError(`--out ${o.out}: the folder exists and is not a Digits site (it has no ${SITE_JSON}); ` +
      'choose a new or empty folder (an export replaces the whole folder)');
  }

  const loaded = await loadModel(o.model); // its shards checked against their SHA-256
  const { json, shards } = toModelJson(loaded.model, loaded.metadata ?? makeMetadata(loaded.model));
  const files: { name: string; data: string | Uint8Array }[] = [];
  for (const f of pages) files.push({ name: f, data: await fs.readFile(path.join(web, f)) });
  for (const s of shards) files.push({ name: s.file, data: s.bytes });
  files.push({ name: 'model.json', data: JSON.stringify(json) });

  // the package's digit gate (isDigit, and reading numbers) and line reader (reading numbers) beside
  // it, those the package has, for a model of digits: each as `${name}.json` and its `${name}-` shards
  const site: Record<string, unknown> = { predict: 'page', model: 'model.json' };
  const carry = async (dir: string, name: string): Promise<string | undefined> => {
    const m = readsDigits(loaded.metadata) ? await loadModel(dir).catch(() => null) : null;
    if (m === null) return undefined;
    const { json: j, shards: sh } = toModelJson(m.model, m.metadata ?? makeMetadata(m.model), undefined, `${name}-`);
    for (const s of sh) files.push({ name: s.file, data: s.bytes });
    files.push({ name: `${name}.json`, data: JSON.stringify(j) });
    return `${name}.json`;
  };
  site.gate = await carry(GATE_DIR, 'gate');
  if (site.gate === undefined && readsDigits(loaded.metadata)) {
    onEvent({ type: 'warning', message: `${GATE_DIR}: no digit gate; the page tells digits from other marks by the model's confidence alone` });
  }
  site.lineReader = await carry(LINE_READER_DIR, 'line-reader');
  if (o.data !== false) {
    const dir = mnistDataDir();
    const names: Record<string, string> = {};
    for (const [key, file] of Object.entries(MNIST_FILES)) {
      names[key] = `${file}.gz`;
      files.push({ name: `${file}.gz`, data: await gzip(await fs.readFile(path.join(dir, file)), { level: 9 }) });
    }
    site.data = names;
  }
  files.push({ name: SITE_JSON, data: `${JSON.stringify(site, null, 2)}\n` });
  await writeFolderAtomic(o.out, files);

  const code = files.filter((f) => /\.(js|wasm)$/.test(f.name));
  const codeGzipBytes = (await Promise.all(code.map(async (f) => (await gzip(f.data, { level: 9 })).byteLength))).reduce((a, b) => a + b, 0);
  const out = path.resolve(o.out);
  const listed = files.map((f) => ({ name: f.name, bytes: typeof f.data === 'string' ? Buffer.byteLength(f.data) : f.data.byteLength }));
  onEvent({ type: 'info', message: `wrote ${out}: ${listed.length} files, ${(listed.reduce((s, f) => s + f.bytes, 0) / 1e6).toFixed(1)} MB; ` +
    `the pages' code is ${(codeGzipBytes / 1024).toFixed(0)} KB gzipped` });
  return { out, files: listed, codeGzipBytes };
}
