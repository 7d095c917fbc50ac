/**
 * Digit recognition inside a plain `node:http` server: POST a PNG or JPEG, get JSON back.
 *
 *   node dist/examples/http-server.js MODEL_DIR [PORT]
 *   curl -s --data-binary @digit.png http://127.0.0.1:PORT/predict
 *   → {"label":7,"probabilities":[...]}
 *
 * The Predictor micro-batches the requests that arrive together into one forward pass. Bad images
 * get a 400 with the reason; bodies over 4 MiB a 413. Prints the address once it listens.
 */
import { createServer } from 'node:http';
import { ImageError, openPredictor } from 'digits';

const [model, port = '0'] = process.argv.slice(2);
if (model === undefined) {
  console.error('usage: node dist/examples/http-server.js MODEL_DIR [PORT]');
  process.exit(2);
}
const MAX_BODY = 4 * 1024 * 1024;
const predictor = await openPredictor({ model });

const server = createServer((req, res) => {
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (req.method !== 'POST' || req.url !== '/predict') return reply(404, { error: 'POST an image to /predict' });
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      reply(413, { error: `the image is over ${MAX_BODY} bytes` });
      req.destroy();
    } else {
      chunks.push(chunk);
    }
  });
  req.on('end', () => {
    if (res.headersSent) return;
    predictor.predictImage(Buffer.concat(chunks), 'upload').then(
      (p) => reply(200, p),
      (err: Error) => reply(err instanceof ImageError ? 400 : 500, { error: err.message }),
    );
  });
});

server.listen(Number(port), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/predict`);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => server.close(() => process.exit(0)));
