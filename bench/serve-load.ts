/**
 * Load test of POST /api/predict on loopback with autocannon.
 *
 *   node dist/bench/serve-load.js [--model DIR] [--duration S] [--connections N] [--threads N] [--body json|png]
 *
 * Starts `digits serve` in a child process on 127.0.0.1 (an ephemeral port),
 * so the server and the load generator each have their own event loop, sends
 * one MNIST test digit as JSON {"pixels", "scale": 255} (or as a 140×140 PNG
 * with --body png, which adds decoding and preprocessing) for --duration
 * seconds from --connections connections, and prints one JSON object.
 * Target (issue 5): >= 2,000 requests/s, p99 < 20 ms, zero errors on 2 cores.
 * The model is runs/seed when it exists, else the seed preset with fresh
 * weights (the same arithmetic per request).
 */
import * as os from 'node:os';
import autocannon from 'autocannon';
import { PNG } from 'pngjs';
import { loadMnist } from '../src/data/mnist.js';
import { benchProgram, intArg, oneOfArg } from './options.js';
import { startServeChild } from './serve-child.js';


async function main(): Promise<void> {
  const o = benchProgram('serve-load', 'load test of POST /api/predict on loopback with autocannon; prints one JSON object')
    .option('--model <dir>', 'model folder (default runs/seed, else fresh seed-preset weights)', 'runs/seed')
    .option('--duration <s>', 'seconds of load', intArg(1), 10)
    .option('--connections <n>', 'concurrent connections', intArg(1), 10)
    .option('--threads <n>', 'engine threads of the server', intArg(1))
    .option('--body <kind>', 'json pixels or a png upload', oneOfArg('json', 'png'), 'json')
    .parse()
    .opts<{ model: string; duration: number; connections: number; threads?: number; body: 'json' | 'png' }>();
  const { duration, connections } = o;
  const threads = o.threads !== undefined ? String(o.threads) : '';
  const bodyKind = o.body;
  const mnist = await loadMnist('test', { limit: 1 });
  const pixels = Array.from(mnist.images, (v) => Math.round(v * 255));
  let body: Buffer;
  let contentType: string;
  if (bodyKind === 'png') {
    const png = new PNG({ width: 140, height: 140 });
    for (let y = 0; y < 140; y++) {
      for (let x = 0; x < 140; x++) {
        const v = 255 - pixels[Math.floor(y / 5) * 28 + Math.floor(x / 5)]!; // dark ink on white paper
        const i = 4 * (y * 140 + x);
        png.data[i] = png.data[i + 1] = png.data[i + 2] = v;
        png.data[i + 3] = 255;
      }
    }
    body = PNG.sync.write(png);
    contentType = 'image/png';
  } else {
    body = Buffer.from(JSON.stringify({ pixels, scale: 255 }));
    contentType = 'application/json';
  }

  const server = await startServeChild({ model: o.model, args: threads ? ['--threads', threads] : [] });
  const url = server.url;
  try {
    const target = { url: `${url}/api/predict`, method: 'POST' as const, headers: { 'content-type': contentType }, body };
    // warm-up: 2 s, not counted
    await autocannon({ ...target, connections, duration: 2 });
    const r = await autocannon({ ...target, connections, duration });
    const result = {
      bench: 'serve-load',
      endpoint: 'POST /api/predict',
      body: bodyKind === 'png' ? 'PNG 140x140 (decode + preprocess + predict)' : 'JSON 784 pixels, scale 255',
      model: server.model,
      serverThreads: threads ? Number(threads) : 'all cores',
      cores: os.cpus().length,
      connections,
      durationSeconds: duration,
      requests: r.requests.total,
      requestsPerSec: { mean: r.requests.average, min: r.requests.min, max: r.requests.max },
      latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      target: { requestsPerSec: 2000, p99Ms: 20, errors: 0 },
      meetsTarget: r.requests.average >= 2000 && r.latency.p99 < 20 && r.errors === 0 && r.non2xx === 0 && r.timeouts === 0,
    };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`serve-load: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
