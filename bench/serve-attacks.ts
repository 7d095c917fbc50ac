/**
 * The server under the attacks of issue 28, one at a time, each against a fresh `digits serve` in a
 * child process: for each, the attacking request's status and time, the server's peak resident
 * memory (VmHWM) and its resident memory once idle again, and how other clients fare meanwhile (JSON
 * predictions every 20 ms: p99; /health every 50 ms: the slowest, and the longest stall of the server's event
 * loop that /health reports). The attackers run on a worker
 * thread, so that their own work does not delay the probes' timers. Prints one JSON object.
 *
 *   node dist/bench/serve-attacks.js --model DIR [--cli dist/src/cli/main.js]
 *
 * `--cli` runs another build's command (an older checkout's), for a before/after comparison.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import { ihdr, manyScansJpeg, png, pngChunk, zeroBomb } from '../test/hostile-images.js';
import { peakRssMiB as peakMiB, spawnServe } from '../test/serve-process.js';
import { benchProgram } from './options.js';
import { ROOT } from './peer.js';

const program = benchProgram('serve-attacks', 'the server\'s memory and latency under the attacks of the hardening issue')
  .requiredOption('--model <dir>', 'model folder to serve')
  .option('--cli <file>', 'the digits command to run', path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))
  .option('--only <text>', 'run only the attacks whose name contains this');
if (isMainThread) program.parse();
const opts = program.opts<{ model: string; cli: string; only?: string }>();

/** Bytes the process has read (files and sockets alike: rchar in /proc/PID/io), in MiB. */
const readMiB = (pid: number): number => Number(/rchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN) / 2 ** 20;
const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

/**
 * The whole HTTP request, built before the attack starts (so that building it does not stall this
 * process's own probes): the body with a Content-Length, or chunked, `chunk` bytes a chunk.
 */
function request(type: string, body: Buffer, chunk = 0): Buffer {
  if (chunk === 0) {
    return Buffer.concat([Buffer.from(`POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n` +
      'Connection: close\r\n\r\n'), body]);
  }
  const parts = [Buffer.from(`POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`)];
  const framed = Buffer.alloc(body.length * 6 + 5);
  let at = 0;
  for (let i = 0; i < body.length; i += chunk) {
    const piece = body.subarray(i, i + chunk);
    at += framed.write(`${piece.length.toString(16)}\r\n`, at, 'latin1');
    at += piece.copy(framed, at);
    at += framed.write('\r\n', at, 'latin1');
  }
  at += framed.write('0\r\n\r\n', at, 'latin1');
  parts.push(framed.subarray(0, at));
  return Buffer.concat(parts);
}

/** Sends a prepared request; resolves with the answer's status code (0: none). */
function send(port: number, wire: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(wire));
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => { /* the server closed while the attack was still sending: what it answered is in text */ });
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0)));
  });
}

async function serve(): Promise<{ pid: number; port: number; stop: () => void }> {
  const { child, port } = await spawnServe(opts.cli, ['--model', opts.model], ['ignore', 'pipe', 'inherit']);
  return { pid: child.pid!, port, stop: () => child.kill('SIGKILL') };
}

/** Seconds the server is left idle after an attack before its resident memory is read again. */
const SETTLE_SECONDS = 15;

const json = JSON.stringify({ pixels: new Array(784).fill(0), scale: 255 });

/** Runs the attack named `name` on a worker thread against `port`: its payload is built first, then its status and seconds come back. */
function onWorker(name: string, port: number, ready: () => void): Promise<{ status: number | string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { name, port } });
    worker.on('message', (m: { ready?: true; status?: number | string; seconds?: number }) => {
      if (m.ready) ready();
      else resolve({ status: m.status!, seconds: m.seconds! });
    });
    worker.on('error', reject);
  });
}

async function attack(name: string): Promise<Record<string, unknown>> {
  const s = await serve();
  const url = `http://127.0.0.1:${s.port}`;
  await fetch(`${url}/health`);
  const atRest = rssMiB(s.pid);
  const readBefore = readMiB(s.pid);
  const predictions: number[] = [];
  let predictionErrors = 0;
  const health: number[] = [];
  /** the longest the server's event loop was held up, as its /health says */
  let serverLoopStall = 0;
  let healthNot200 = 0;
  let stop = false;
  let probes: Promise<void>[] = [];
  const probe = (): Promise<void>[] => [
    (async () => {
      while (!stop) {
        const t = performance.now();
        const r = await fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json, signal: AbortSignal.timeout(20_000) })
          .catch(() => null);
        if (r?.status === 200) predictions.push(performance.now() - t); else predictionErrors++;
        await r?.arrayBuffer();
        await new Promise((w) => setTimeout(w, 20));
      }
    })(),
    (async () => {
      while (!stop) {
        const t = performance.now();
        const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(20_000) }).catch(() => null);
        health.push(performance.now() - t);
        if (r?.status !== 200) healthNot200++;
        const said = await r?.json().catch(() => null) as { eventLoop?: { delayMaxMs?: number } } | null;
        serverLoopStall = Math.max(serverLoopStall, said?.eventLoop?.delayMaxMs ?? 0);
        await new Promise((w) => setTimeout(w, 50));
      }
    })(),
  ];
  const { status, seconds } = await onWorker(name, s.port, () => (probes = probe()));
  await new Promise((w) => setTimeout(w, 300));
  stop = true;
  await Promise.all(probes);
  const peak = peakMiB(s.pid);
  const read = readMiB(s.pid) - readBefore;
  // memory given back: the resident size once the server has been idle for a while
  await new Promise((w) => setTimeout(w, SETTLE_SECONDS * 1000));
  const after = rssMiB(s.pid);
  s.stop();
  predictions.sort((a, b) => a - b);
  health.sort((a, b) => a - b);
  const p99 = (sorted: number[]): number => +(sorted[Math.floor(sorted.length * 0.99)] ?? NaN).toFixed(1);
  return {
    attack: name, status, seconds: +seconds.toFixed(2), restRssMiB: Math.round(atRest), peakRssMiB: Math.round(peak),
    [`rssMiB${SETTLE_SECONDS}sAfter`]: Math.round(after), readMiB: Math.round(read),
    jsonPredictions: predictions.length, jsonP99Ms: p99(predictions), jsonFailed: predictionErrors,
    healthPolls: health.length, healthP99Ms: p99(health), healthWorstMs: +(health.at(-1) ?? NaN).toFixed(1), healthNot200,
    serverLoopStallMs: serverLoopStall,
  };
}

/** Each attack: its name, and a function that builds its payload and returns what sends it (resolving with a status). */
const attacks: [string, () => (port: number) => Promise<number | string>][] = [];
const once = (name: string, wire: () => Buffer): void => void attacks.push([name, () => {
  const bytes = wire();
  return (port) => send(port, bytes);
}]);
once('4 MB body in one-byte chunks', () => request('image/png', Buffer.alloc(4 * 1024 * 1024, 0x41), 1));
once('PNG with two IHDR (28x28, then 20000x20000)',
  () => request('image/png', png(ihdr(28, 28, 8, 0), ihdr(20000, 20000, 8, 6), pngChunk('IDAT', deflateSync(Buffer.alloc(4 << 20))))));
once('interlaced 28x28 PNG inflating to 1 GiB', () => request('image/png', png(ihdr(28, 28, 8, 0, 1), pngChunk('IDAT', zeroBomb(1024)))));
once('16-bit RGBA 8192x2048 PNG', () => request('image/png', png(ihdr(8192, 2048, 16, 6), pngChunk('IDAT', deflateSync(Buffer.alloc(8192 * 8 * 2048 + 2048))))));
once('progressive JPEG of 4000x4000 with 100,000 scans', () => request('image/jpeg', manyScansJpeg(4000, 4000, 100_000)));
// floods of batches of 1,000 inputs: `clients` at once, each sending again as soon as it is answered,
// for FLOOD_SECONDS; the "status" is how many got 200 of how many were sent (the rest 503)
const FLOOD_SECONDS = 5;
for (const clients of [50, 300]) {
  attacks.push([`${clients} clients sending batches of 1,000 inputs for ${FLOOD_SECONDS} s`, () => {
    const batchBody = Buffer.from(JSON.stringify({ inputs: Array.from({ length: 1000 }, () => new Array(784).fill(0)), scale: 255 }));
    const batchWire = Buffer.concat([Buffer.from(`POST /api/predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${batchBody.length}\r\nConnection: close\r\n\r\n`), batchBody]);
    return async (port) => {
      const until = performance.now() + FLOOD_SECONDS * 1000;
      const statuses: number[] = [];
      await Promise.all(Array.from({ length: clients }, async () => {
        while (performance.now() < until) statuses.push(await send(port, batchWire));
      }));
      return `${statuses.filter((st) => st === 200).length} of ${statuses.length} answered 200, ` +
        `${statuses.filter((st) => st === 503).length} 503, ${statuses.filter((st) => st !== 200 && st !== 503).length} other`;
    };
  }]);
}

if (isMainThread) {
  const results = [];
  for (const [name] of attacks.filter(([n]) => opts.only === undefined || n.includes(opts.only))) results.push(await attack(name));
  console.log(JSON.stringify({ cli: opts.cli, results }, null, 1));
} else {
  const { name, port } = workerData as { name: string; port: number };
  const run = attacks.find(([n]) => n === name)![1]();
  await new Promise((w) => setTimeout(w, 1000)); // the garbage of building the payload collected before the clock starts
  parentPort!.postMessage({ ready: true });
  const started = performance.now();
  const status = await run(port);
  parentPort!.postMessage({ status, seconds: (performance.now() - started) / 1000 });
}
