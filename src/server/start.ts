/**
 * A model folder served: the drawing page and the prediction API of
 * buildServer over a saved model (or ensemble), listening on a port.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DigitsError } from '../errors.js';
import type { BackendName, PrecisionChoice } from '../engine/index.js';
import { MODEL_JSON } from '../io/model-files.js';
import { ENSEMBLE_JSON } from '../io/ensemble.js';
import { warnOnStderr, type OnRunEvent } from '../run/events.js';
import { buildServer, serverLimits, type ServerLimits } from './app.js';
import { openPredictor, type Predictor } from '../run/predictor.js';

import { DEFAULT_MODEL_DIR } from '../run/predict.js';

/** The model `digits serve` serves when none is named: the folder `npm start` trains. */
export { DEFAULT_MODEL_DIR };

/** What startServer serves and how: the model folder, address, backend and the server limits. */
export interface ServeOptions extends ServerLimits {
  model: string;
  port: number;
  host: string;
  backend: BackendName;
  threads?: number;
  precision?: PrecisionChoice;
  log?: boolean;
  tta?: boolean;
  /** origins allowed by CORS (--cors a,b) */
  cors?: string[];
  /** worker threads that decode uploaded images */
  imageThreads?: number;
  /** warnings while loading (a backend fallback); default: dropped */
  onEvent?: OnRunEvent;
}

/** Load the model (or ensemble) folder and start listening; resolves with the running server and its URL. */
export async function startServer(o: ServeOptions): Promise<{ app: FastifyInstance; url: string; predictor: Predictor }> {
  const jsonPath = path.join(o.model, MODEL_JSON);
  const exists = (file: string): Promise<boolean> => fs.stat(file).then((s) => s.isFile(), () => false);
  if (!(await exists(jsonPath)) && !(await exists(path.join(o.model, ENSEMBLE_JSON)))) {
    const trained = o.model === DEFAULT_MODEL_DIR
      ? 'run `npm start` (trains the seed model into runs/seed) or `npx digits train --out DIR` and pass --model DIR'
      : `train one with \`npx digits train --out ${o.model}\`, or pass --model with a folder holding model.json (or ensemble.json)`;
    throw new DigitsError(`no model at ${path.resolve(jsonPath)}: ${trained}`);
  }
  const predictor = await openPredictor(o, o.onEvent ?? warnOnStderr);
  const app = buildServer({
    predictor, logger: o.log ?? false, corsOrigins: o.cors, imageThreads: o.imageThreads, ...serverLimits(o),
  });
  let address: string;
  try {
    address = await app.listen({ port: o.port, host: o.host });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? 'the port is in use (pick another with --port)'
      : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
      : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? 'no such address on this machine' : e.message;
    throw new DigitsError(`cannot listen on ${o.host}:${o.port}: ${why}`);
  }
  return { app, url: address, predictor };
}
