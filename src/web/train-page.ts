/**
 * train.html: trains a preset (`fast` unless ?preset= says otherwise) on MNIST in the page, in the
 * worker over the WebAssembly kernels, with live learning curves and progress; then reports the test
 * accuracy and the training seconds, and lets you draw with the model it trained. The site carries
 * MNIST as gzipped IDX files (site.json's data). ?limit=N trains on the first N images and ?test=M
 * tests on the first M (quick runs); ?seed=S picks the seed.
 *
 * Where the page is cross-origin isolated (served with COOP and COEP headers) it may share memory
 * between workers: it then trains data-parallel on one worker a core (up to 8; ?threads=N asks for N),
 * each on its share of every batch (shards.ts). Elsewhere one worker trains.
 */
import { curves } from './chart.js';
import { Compute } from './compute.js';
import { pageReader, setUpPad } from './pad.js';
import type { Answer, Request, TrainOutcome } from './protocol.js';
import { stopShards } from './shards.js';
import { readSite } from './site.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const button = $<HTMLButtonElement>('train');
const stop = $<HTMLButtonElement>('stop');
const progress = $<HTMLProgressElement>('progress');
const progressText = $('progress-text');
const accuracyOut = $('test-accuracy');
const secondsOut = $('train-seconds');
const status = $('train-status');
const drawSection = $('draw');
const chart = curves($<HTMLCanvasElement>('curve'));

const params = new URLSearchParams(location.search);
const whole = (name: string): number | undefined => {
  const v = params.get(name);
  return v !== null && /^\d+$/.test(v) && Number(v) > 0 ? Number(v) : undefined;
};
const preset = params.get('preset') ?? 'fast';
const limit = whole('limit');
const testLimit = whole('test');
const seed = whole('seed') ?? 0;
$('preset').textContent = preset;

/** SharedArrayBuffer exists, and may be shared with workers, only in a cross-origin isolated page. */
const isolated = globalThis.crossOriginIsolated === true;
const cores = Math.max(1, navigator.hardwareConcurrency || 1);
const threads = isolated ? Math.min(whole('threads') ?? cores, 8) : 1;
$('threads').textContent = threads > 1 ? `${threads} worker threads (the page is cross-origin isolated)`
  : isolated ? 'one worker thread' : 'one worker thread (more need a cross-origin isolated page: COOP and COEP headers)';

const compute = new Compute();
const pad = setUpPad($('drawing'));
/** the helper replicas of a data-parallel training under way, and their shared memory */
let helpers: Compute[] = [];
let shared: SharedArrayBuffer | null = null;

async function train(): Promise<void> {
  const site = await readSite();
  if (site.data === undefined) throw new Error('this site carries no training data (site.json has no "data"); export it with digits export --format web');
  const data = Object.fromEntries(Object.entries(site.data).map(([k, v]) => [k, new URL(v, document.baseURI).href])) as typeof site.data;
  button.disabled = true;
  stop.disabled = false;
  accuracyOut.textContent = '';
  secondsOut.textContent = '';
  let stepsPerEpoch = 1;
  const ask: Omit<Extract<Request, { type: 'train' }>, 'id'> = {
    type: 'train', data, preset, seed, ...(limit ? { limit } : {}), ...(testLimit ? { testLimit } : {}),
    ...(site.gate !== undefined ? { gateUrl: new URL(site.gate, document.baseURI).href } : {}),
    ...(site.lineReader !== undefined ? { lineReaderUrl: new URL(site.lineReader, document.baseURI).href } : {}),
  };
  let helping: Promise<unknown>[] = [];
  let outcome: TrainOutcome;
  try {
    outcome = await compute.request<TrainOutcome>({ ...ask, threads }, (r) => {
      if (r.type === 'status') status.textContent = r.message;
      if (r.type === 'shards') {
        // the lead made the shared memory: a helper replica per other thread
        shared = r.sab;
        helpers = Array.from({ length: threads - 1 }, () => new Compute());
        helping = helpers.map((h, i) => h.request({ ...ask, shard: { index: i + 1, count: threads, sab: r.sab } }));
      }
      if (r.type !== 'progress') return;
      const e = r.event;
      if (e.type === 'trainBegin') {
        stepsPerEpoch = e.info.stepsPerEpoch;
        chart.setSteps(e.info.stepsPerEpoch * e.info.epochs);
        progress.max = e.info.stepsPerEpoch * e.info.epochs;
      } else if (e.type === 'batch') {
        const step = e.epoch * stepsPerEpoch + e.batch;
        progress.value = step;
        chart.add(step, e.loss, e.accuracy);
        progressText.textContent = `epoch ${e.epoch + 1}/${e.epochs} · batch ${e.batch}/${e.batches} · loss ${e.loss.toFixed(3)} · ` +
          `accuracy ${(e.accuracy * 100).toFixed(1)}% · ${Math.round(e.imagesPerSecond).toLocaleString('en-US')} images/s`;
      } else if (e.type === 'epoch' && e.logs.val_accuracy !== undefined) {
        chart.validation((e.epoch + 1) * stepsPerEpoch, e.logs.val_accuracy);
      }
    });
    await Promise.all(helping);
  } finally {
    for (const h of helpers) h.terminate();
    helpers = [];
    shared = null;
  }
  status.textContent = `trained ${outcome.steps.toLocaleString('en-US')} steps on ${outcome.trainImages.toLocaleString('en-US')} images` +
    `${outcome.threads > 1 ? ` on ${outcome.threads} threads` : ''}; ` +
    `tested on ${outcome.testImages.toLocaleString('en-US')}`;
  accuracyOut.textContent = `${(outcome.testAccuracy * 100).toFixed(2)}%`;
  secondsOut.textContent = outcome.trainSeconds.toFixed(1);
  drawSection.hidden = false;
  pad.showModel(outcome.model);
  pad.setReader(pageReader((rgba, width, height) => compute.request<Answer | null>({ type: 'predict', rgba, width, height })));
}

button.addEventListener('click', () => {
  train().catch((err: unknown) => {
    status.textContent = err instanceof Error ? err.message : String(err);
  }).finally(() => {
    button.disabled = false;
    stop.disabled = true;
  });
});
stop.addEventListener('click', () => {
  if (shared !== null) stopShards(shared); // replicas waiting for each other wake and stop
  void compute.request({ type: 'stop' });
});
