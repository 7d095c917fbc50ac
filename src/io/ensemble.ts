/**
 * An ensemble as one artifact: a folder with one TF.js layers-model per
 * member (model-0/, model-1/, ...) and ensemble.json:
 *
 *   { "format": "digits-ensemble", "version": 1, "combine": "mean-probabilities",
 *     "members": ["model-0", "model-1", ...] }
 *
 * Each member folder is an ordinary Digits/TF.js model (loadModel reads it).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';
import { Ensemble } from '../nn/ensemble.js';
import type { Sequential } from '../nn/sequential.js';
import { loadModel, makeMetadata, saveModel, type DigitsMetadata } from './model-files.js';

export const ENSEMBLE_JSON = 'ensemble.json';

export async function isEnsembleDir(dir: string): Promise<boolean> {
  return fs.stat(path.join(dir, ENSEMBLE_JSON)).then((s) => s.isFile(), () => false);
}

export async function saveEnsemble(members: Sequential[], dir: string, metadata: (i: number) => DigitsMetadata = (i) => makeMetadata(members[i]!)): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const names = members.map((_, i) => `model-${i}`);
  for (let i = 0; i < members.length; i++) await saveModel(members[i]!, path.join(dir, names[i]!), metadata(i));
  await writeEnsembleJson(dir, names);
}

/** ensemble.json for member folders already in `dir` (written last: a folder without it is not an ensemble yet). */
export async function writeEnsembleJson(dir: string, names: string[]): Promise<void> {
  const tmp = path.join(dir, `${ENSEMBLE_JSON}.tmp-${process.pid}`);
  await fs.writeFile(tmp, JSON.stringify({ format: 'digits-ensemble', version: 1, combine: 'mean-probabilities', members: names }, null, 2) + '\n');
  await fs.rename(tmp, path.join(dir, ENSEMBLE_JSON));
}

export async function loadEnsemble(dir: string): Promise<{ model: Ensemble; metadata: DigitsMetadata | null }> {
  const where = path.join(dir, ENSEMBLE_JSON);
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(where, 'utf8'));
  } catch (err) {
    throw new DigitsError(`${where}: cannot read the ensemble description (${(err as Error).message})`);
  }
  const j = json as { format?: unknown; members?: unknown };
  if (j.format !== 'digits-ensemble' || !Array.isArray(j.members) || j.members.length === 0 || !j.members.every((m) => typeof m === 'string' && !m.includes('..'))) {
    throw new DigitsError(`${where}: expected {"format": "digits-ensemble", "members": ["model-0", ...]}`);
  }
  const loaded = [];
  for (const m of j.members as string[]) loaded.push(await loadModel(path.join(dir, m)));
  return { model: new Ensemble(loaded.map((l) => l.model)), metadata: loaded[0]!.metadata };
}
