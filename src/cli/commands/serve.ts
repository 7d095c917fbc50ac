/** `digits serve`: the drawing page and the prediction API over a saved model. */
import * as path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_MODEL_DIR, startServer, type ServeOptions } from '../../server/start.js';
import { SERVER_LIMITS } from '../../server/app.js';
import { defaultImageThreads, MAX_IMAGE_THREADS } from '../../server/image-decoder.js';
import { backendOption, intInRange, noTtaOption, nonNegativeInt, positiveInt, precisionOption, threadsOption, ttaOption } from '../options.js';
import { describePrecision } from '../../run/index.js';
import { warn } from '../terminal.js';

function port(value: string): number {
  const n = nonNegativeInt('--port')(value);
  if (n > 65535) throw new InvalidArgumentError(`--port expects 0..65535 (0: any free port), got "${value}".`);
  return n;
}

/** --cors: comma-separated origins (scheme://host[:port]) or "*". */
function corsOrigins(value: string): string[] {
  const list = value.split(',').map((o) => o.trim()).filter((o) => o !== '');
  if (list.length === 0) throw new InvalidArgumentError('--cors expects origins such as http://localhost:3000 (comma-separated) or "*".');
  for (const o of list) {
    if (o === '*') continue;
    let origin: string | null = null;
    try {
      origin = new URL(o).origin;
    } catch {
      // reported below
    }
    if (origin !== o.replace(/\/$/, '') || !/^https?:/.test(o)) {
      throw new InvalidArgumentError(`--cors expects origins such as http://localhost:3000 (scheme://host[:port], no path) or "*", got "${o}".`);
    }
  }
  return list.map((o) => o.replace(/\/$/, ''));
}

async function serve(o: ServeOptions): Promise<void> {
  const { app, url, predictor } = await startServer({ ...o, onEvent: (e) => { if (e.type === 'warning') warn(e.message); } });
  const acc = predictor.info.accuracy;
  const what = predictor.loaded?.kind === 'ensemble' ? `ensemble of ${predictor.loaded.members.length} models, ` : '';
  const tta = predictor.loaded?.tta.length ? `, test-time augmentation (${predictor.loaded.tta.length} views)` : '';
  process.stdout.write(`serving ${path.resolve(o.model)} (${what}${predictor.info.id}${tta}` +
    `${acc !== null ? `, test accuracy ${(acc * 100).toFixed(2)}%` : ''}) on ${predictor.model.backend.name} backend in ${describePrecision(predictor.model.backend.precision)}\n` +
    `drawing page: ${url}/\nAPI: POST ${url}/api/predict, POST ${url}/api/predict/batch, GET ${url}/api/model, GET ${url}/health\n` +
    'press Ctrl+C to stop\n');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void app.close().then(() => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Adds `digits serve` to the program. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a model: the drawing page at / and the prediction API')
    .option('--model <dir>', 'model folder (model.json + weights) or ensemble folder (ensemble.json)', DEFAULT_MODEL_DIR)
    .option('--port <n>', 'TCP port (0: any free port)', port, 8080)
    .option('--host <addr>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .option('--log', 'log every request as a JSON line (Fastify/pino) on stdout')
    .addOption(ttaOption())
    .addOption(noTtaOption())
    .option('--cors <origins>', 'allow these origins (comma-separated, e.g. http://localhost:3000; "*" for any) to call the API ' +
      'from a browser (default: no CORS headers)', corsOrigins)
    .addOption(new Option('--image-threads <n>', 'worker threads that decode uploaded PNG/JPEG images, off the event loop, ' +
      `1 to ${MAX_IMAGE_THREADS} (default: all cores but one, 1 to 4; here ${defaultImageThreads()})`)
      .argParser(intInRange('--image-threads', 1, MAX_IMAGE_THREADS)))
    .option('--max-pending <n>', 'prediction requests in flight or queued; past it, 503 with Retry-After', positiveInt('--max-pending'),
      SERVER_LIMITS.maxPending)
    .option('--max-pending-images <n>', 'image uploads decoding or waiting for a decoder (counted apart from JSON predictions); ' +
      'past it, 503 with Retry-After', positiveInt('--max-pending-images'), SERVER_LIMITS.maxPendingImages)
    .option('--max-pending-inputs <n>', 'inputs of JSON predictions in flight or queued (a batch counts each input, admitted ' +
      'before its body is read); past it, 503 with Retry-After', positiveInt('--max-pending-inputs'), SERVER_LIMITS.maxPendingInputs)
    .option('--decode-timeout <ms>', 'an uploaded image that takes longer to decode is refused (422) and its decoder ended (0: no limit)',
      nonNegativeInt('--decode-timeout'), SERVER_LIMITS.decodeTimeout)
    .option('--request-timeout <ms>', 'a request (headers and body) must arrive within this, else 408', nonNegativeInt('--request-timeout'),
      SERVER_LIMITS.requestTimeout)
    .option('--headers-timeout <ms>', 'the request headers must arrive within this, else 408 (<= --request-timeout)',
      nonNegativeInt('--headers-timeout'), SERVER_LIMITS.headersTimeout)
    .option('--connection-timeout <ms>', 'close a socket with no traffic for this long', nonNegativeInt('--connection-timeout'),
      SERVER_LIMITS.connectionTimeout)
    .option('--keep-alive-timeout <ms>', 'how long an idle keep-alive socket waits for the next request', nonNegativeInt('--keep-alive-timeout'),
      SERVER_LIMITS.keepAliveTimeout)
    .addHelpText('after', '\nSlow clients (a byte at a time, or silent sockets) are cut off by the timeouts; bodies over 4 MiB\n' +
      '(16 MiB for /api/predict/batch) get 413; only the files of web/ are served.\n' +
      '\nExamples:\n  npx digits serve                          # runs/seed on http://127.0.0.1:8080/\n' +
      '  npx digits serve --model runs/small --port 3000\n' +
      '  npx digits serve --cors http://localhost:3000 --max-pending 64\n' +
      '  curl -s -X POST --data-binary @digit.png -H "Content-Type: image/png" http://127.0.0.1:8080/api/predict')
    .action(serve);
}
