/**
 * Does a heavy upload stall the server? `digits serve` runs in a child process; N clients
 * each POST a 4096×4096 PNG (16 megapixels of paper with one dark bar: ~70 KB as RGBA, that take a
 * second or more to decode and preprocess) while another client polls GET /health every
 * 20 ms. Prints one JSON object: when each upload was answered, and the /health latencies
 * seen meanwhile. Decoded on the event loop, /health waits for every upload; decoded on
 * worker threads (src/server/image-decoder.ts), it answers at once.
 *
 *   node dist/bench/serve-stall.js [--uploads 4] [--model DIR] [--image-threads N]
 */
import { PNG } from 'pngjs';
import { benchProgram, intArg } from './options.js';
import { startServeChild } from './serve-child.js';

function hugePng(): Buffer {
  const side = 4096;
  const png = new PNG({ width: side, height: side });
  png.data.fill(255);
  for (let y = 1000; y < 3000; y++) {
    for (let x = 1800; x < 2200; x++) {
      const i = 4 * (y * side + x);
      png.data[i] = png.data[i + 1] = png.data[i + 2] = 0;
    }
  }
  return PNG.sync.write(png);
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const o = benchProgram('serve-stall', '/health latency of `digits serve` while huge PNG uploads are decoded; prints one JSON object')
    .option('--model <dir>', 'model folder (default runs/seed, else fresh seed-preset weights)', 'runs/seed')
    .option('--uploads <n>', 'concurrent 16-megapixel PNG uploads', intArg(1), 4)
    .option('--image-threads <n>', 'the server\'s --image-threads', intArg(1))
    .parse()
    .opts<{ model: string; uploads: number; imageThreads?: number }>();
  const body = hugePng();
  const server = await startServeChild({ model: o.model, args: o.imageThreads !== undefined ? ['--image-threads', String(o.imageThreads)] : [] });
  try {
    const t0 = performance.now();
    let uploading = true;
    const uploads = Promise.all(Array.from({ length: o.uploads }, async () => {
      const r = await fetch(`${server.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(body) });
      await r.json();
      if (r.status !== 200) throw new Error(`upload answered ${r.status}`);
      return Math.round(performance.now() - t0);
    })).finally(() => { uploading = false; });
    const health: number[] = [];
    const healthErrors: string[] = [];
    while (uploading) {
      const s = performance.now();
      try {
        const r = await fetch(`${server.url}/health`);
        await r.json();
        if (r.status !== 200) healthErrors.push(`HTTP ${r.status}`);
      } catch (err) {
        // a stalled server can drop a keep-alive socket under the client: count it, go on
        healthErrors.push(String((err as Error).cause ?? err));
      }
      health.push(performance.now() - s);
      await pause(20);
    }
    const answeredMs = await uploads;
    health.sort((a, b) => a - b);
    process.stdout.write(JSON.stringify({
      bench: 'serve-stall', model: server.model, uploads: o.uploads, pngBytes: body.length,
      imageThreads: o.imageThreads ?? 'default', uploadsAnsweredMs: answeredMs,
      health: { requests: health.length, medianMs: Math.round(health[health.length >> 1]!), maxMs: Math.round(health.at(-1)!), errors: healthErrors },
    }, null, 2) + '\n');
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`serve-stall: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
