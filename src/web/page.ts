/**
 * The drawing page (index.html). Where site.json says 'page' (a web export) the model runs here, in a
 * worker over the WebAssembly kernels, and nothing is asked of any server but the site's files; where
 * it says 'server' (`digits serve`) the canvas goes as a PNG to POST /api/predict, which runs the
 * native kernels and ensembles, and answers with the 28×28 image it saw, and to POST /api/read, which
 * reads it as a number.
 */
import { Compute } from './compute.js';
import { pageReader, setUpPad, type Reader } from './pad.js';
import type { Answer, ModelFacts } from './protocol.js';
import { readSite } from './site.js';

const pad = setUpPad(document.getElementById('drawing')!);
const status = document.getElementById('status')!;

/** The server reads the drawing: the same preprocessing as `digits predict` (src/preprocess/image.ts). */
const serverReader: Reader = async (canvas) => {
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('the canvas could not be encoded as PNG');
  let res: Response;
  try {
    res = await fetch('api/predict', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: blob });
  } catch (err) {
    throw new Error(`cannot reach the server: ${err instanceof Error ? err.message : String(err)}`);
  }
  const answer = (await res.json().catch(() => null)) as (Answer & { message?: string }) | null;
  if (res.status === 422) return null; // blank: nothing to read yet
  if (!res.ok || answer === null) throw new Error(`error ${res.status}: ${answer?.message ?? res.statusText}`);
  // the same drawing read as a number (one or more digits in a row), for the digits' boxes
  const read = await fetch('api/read', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: blob }).catch(() => null);
  const number = read?.ok ? ((await read.json().catch(() => null)) as Answer['number'] | null) : null;
  return { ...answer, ...(number ? { number } : {}) };
};

async function main(): Promise<void> {
  const site = await readSite();
  if (site.predict === 'server') {
    pad.setReader(serverReader);
    const res = await fetch('api/model').catch(() => null);
    if (res?.ok) {
      const { members, ...m } = (await res.json()) as Omit<ModelFacts, 'members'> & { members?: unknown };
      pad.showModel({ ...m, ...(Array.isArray(members) ? { members: members.length } : {}) });
    }
    return;
  }
  if (site.model === undefined) throw new Error('site.json names no model');
  status.textContent = 'loading the model…';
  const compute = new Compute();
  const facts = await compute.request<ModelFacts>({
    type: 'load', modelUrl: new URL(site.model, document.baseURI).href,
    ...(site.gate !== undefined ? { gateUrl: new URL(site.gate, document.baseURI).href } : {}),
    ...(site.lineReader !== undefined ? { lineReaderUrl: new URL(site.lineReader, document.baseURI).href } : {}),
  });
  status.textContent = '';
  pad.showModel(facts);
  pad.setReader(pageReader((rgba, width, height) => compute.request<Answer | null>({ type: 'predict', rgba, width, height })));
}

main().catch((err: unknown) => {
  status.textContent = err instanceof Error ? err.message : String(err);
});
