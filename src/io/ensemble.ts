/**
 * An ensemble as one artifact: a folder with one TF.js layers-model per
 * member (model-0/, model-1/, ...) and ensemble.json:
 *
 *   { "format": "digits-ensemble", "version": 1, "combine": "mean-probabilities",
 *     "members": ["model-0", "model-1", ...],
 *     "tta": [{"dx": 0, "dy": 0, "rotation": 0}, ...],      optional: views used by default (train --tta)
 *     "testAccuracy": 0.99, "trainedAt": "2026-...Z" }      optional: written by train --ensemble
 *
 * Each member folder is an ordinary Digits/TF.js model (loadModel reads it).
 *
 * `loadClassifier` opens either kind of folder (model.json or ensemble.json)
 * and returns a Classifier with its metadata: the one loader of every command
 * and of the server.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';
import { DEFAULT_TTA, Ensemble, parseTtaViews, type TtaView } from '../nn/ensemble.js';
import type { Classifier } from '../nn/classifier.js';
import type { Sequential } from '../nn/sequential.js';
import { loadModel, makeMetadata, MODEL_JSON, saveModel, type DigitsMetadata } from './model-files.js';
import { writeFileAtomic } from '../util/atomic.js';

/** The file that makes a folder an ensemble: its members, how they combine, test-time augmentation. */
export const ENSEMBLE_JSON = 'ensemble.json';

/** Most members an ensemble.json may name. */
export const MAX_MEMBERS = 100;

/** Whether `dir` holds an ensemble (ensemble.json). */
export async function isEnsembleDir(dir: string): Promise<boolean> {
  return fs.stat(path.join(dir, ENSEMBLE_JSON)).then((s) => s.isFile(), () => false);
}

/** Save models as one ensemble folder: model-0/, model-1/, ... and ensemble.json (written last). */
export async function saveEnsemble(members: Sequential[], dir: string, metadata: (i: number) => DigitsMetadata = (i) => makeMetadata(members[i]!)): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const names = members.map((_, i) => `model-${i}`);
  for (let i = 0; i < members.length; i++) await saveModel(members[i]!, path.join(dir, names[i]!), metadata(i));
  await writeEnsembleJson(dir, names);
}

/** What ensemble.json may carry besides its members. */
export interface EnsembleFacts {
  /** TTA views the artifact uses unless told otherwise */
  tta?: readonly TtaView[];
  testAccuracy?: number;
  trainedAt?: string;
}

/** ensemble.json for member folders already in `dir` (written last: a folder without it is not an ensemble yet). */
export async function writeEnsembleJson(dir: string, names: string[], facts: EnsembleFacts = {}): Promise<void> {
  const json = {
    format: 'digits-ensemble', version: 1, combine: 'mean-probabilities', members: names,
    ...(facts.tta && facts.tta.length > 0 ? { tta: facts.tta } : {}),
    ...(facts.testAccuracy !== undefined ? { testAccuracy: facts.testAccuracy } : {}),
    ...(facts.trainedAt !== undefined ? { trainedAt: facts.trainedAt } : {}),
  };
  await writeFileAtomic(path.join(dir, ENSEMBLE_JSON), JSON.stringify(json, null, 2) + '\n');
}

/** One network of a loaded artifact: its folder ('.' for a plain model), the model and its metadata. */
export interface LoadedMember {
  name: string;
  dir: string;
  model: Sequential;
  metadata: DigitsMetadata | null;
}

/** A model or ensemble folder as loadClassifier opened it: the classifier, its members, metadata and test-time augmentation. */
export interface LoadedClassifier {
  kind: 'model' | 'ensemble';
  /** a Sequential, or an Ensemble (also a plain model used with TTA: an ensemble of one) */
  model: Classifier;
  /** the artifact's metadata; an ensemble's is its members' shared facts with its own test accuracy */
  metadata: DigitsMetadata | null;
  /** the networks inside: one for a model, the members of an ensemble */
  members: LoadedMember[];
  /** TTA views in use (empty: none) */
  tta: readonly TtaView[];
  /** the text of the files that define the artifact (model.json; ensemble.json + members'), for an id hash */
  fingerprint: string;
}

export interface LoadOptions {
  /** true: average over the TTA views (the artifact's, else DEFAULT_TTA); false: none; undefined: as the artifact says */
  tta?: boolean;
}

/** Open a model folder (model.json) or an ensemble folder (ensemble.json). */
export async function loadClassifier(dir: string, opts: LoadOptions = {}): Promise<LoadedClassifier> {
  if (await isEnsembleDir(dir)) return loadEnsemble(dir, opts);
  const modelJson = path.join(dir, MODEL_JSON);
  const st = await fs.stat(dir).catch(() => null);
  if (st?.isDirectory() && !(await fs.stat(modelJson).then((s) => s.isFile(), () => false))) {
    throw new DigitsError(`${dir}: neither ${MODEL_JSON} (a model folder, as \`digits train --out\` writes) ` +
      `nor ${ENSEMBLE_JSON} (an ensemble folder, as \`digits train --ensemble N\` writes) is there`);
  }
  const { model, metadata } = await loadModel(dir);
  const fingerprint = await fs.readFile(dir.endsWith('.json') ? dir : modelJson, 'utf8');
  const members = [{ name: '.', dir, model, metadata }];
  if (opts.tta !== true) return { kind: 'model', model, metadata, members, tta: [], fingerprint };
  // a model used with TTA: an ensemble of one, averaging over the views
  return { kind: 'model', model: new Ensemble([model], { tta: DEFAULT_TTA }), metadata, members, tta: DEFAULT_TTA, fingerprint };
}

export async function loadEnsemble(dir: string, opts: LoadOptions = {}): Promise<LoadedClassifier> {
  const where = path.join(dir, ENSEMBLE_JSON);
  let text: string;
  let json: unknown;
  try {
    text = await fs.readFile(where, 'utf8');
  } catch (err) {
    throw new DigitsError(`${where}: cannot read the ensemble description (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DigitsError(`${where}: not valid JSON (${(err as Error).message}); expected {"format": "digits-ensemble", "members": ["model-0", ...]}`);
  }
  const j = json as { format?: unknown; members?: unknown; tta?: unknown; testAccuracy?: unknown; trainedAt?: unknown };
  if (j === null || typeof j !== 'object' || j.format !== 'digits-ensemble' || !Array.isArray(j.members) || j.members.length === 0 ||
    !j.members.every((m) => typeof m === 'string' && m !== '' && !m.includes('..') && !path.isAbsolute(m))) {
    throw new DigitsError(`${where}: expected {"format": "digits-ensemble", "members": ["model-0", ...]} (member folders inside the ensemble folder)`);
  }
  const names = j.members as string[];
  if (names.length > MAX_MEMBERS) {
    throw new DigitsError(`${where}: ${names.length} members; at most ${MAX_MEMBERS} are loaded (each is a whole model in memory)`);
  }
  const twice = names.find((m, i) => names.indexOf(m) !== i);
  if (twice !== undefined) throw new DigitsError(`${where}: member ${JSON.stringify(twice)} is named more than once; name each member folder once`);
  if (j.testAccuracy !== undefined && !(typeof j.testAccuracy === 'number' && j.testAccuracy >= 0 && j.testAccuracy <= 1)) {
    throw new DigitsError(`${where}: testAccuracy: expected a number from 0 to 1, got ${JSON.stringify(j.testAccuracy)}`);
  }
  const recorded = j.tta === undefined ? [] : parseTtaViews(j.tta, `${where}: tta`);
  const members: LoadedMember[] = [];
  let fingerprint = text;
  for (const name of j.members as string[]) {
    const memberDir = path.join(dir, name);
    try {
      const { model, metadata } = await loadModel(memberDir);
      members.push({ name, dir: memberDir, model, metadata });
      fingerprint += await fs.readFile(path.join(memberDir, MODEL_JSON), 'utf8');
    } catch (err) {
      const why = err instanceof DigitsError ? err.message : (err as Error).message;
      throw new DigitsError(`${where}: member "${name}" cannot be loaded: ${why}`);
    }
  }
  const m0 = members[0]!.metadata;
  members.forEach((m, i) => {
    const scale = m.metadata?.inputScale ?? 1 / 255;
    if (Math.abs(scale - (m0?.inputScale ?? 1 / 255)) > 1e-12) {
      throw new DigitsError(`${where}: member "${m.name}" takes pixels x ${scale}, member "${members[0]!.name}" x ${m0?.inputScale ?? 1 / 255}: ` +
        'all members need the same input scaling');
    }
    if (i > 0 && m.metadata && m0 && m.metadata.classNames.join(',') !== m0.classNames.join(',')) {
      throw new DigitsError(`${where}: member "${m.name}" has other class names than member "${members[0]!.name}"`);
    }
  });
  const tta = opts.tta === false ? [] : recorded.length > 0 ? recorded : opts.tta === true ? DEFAULT_TTA : [];
  const model = new Ensemble(members.map((m) => m.model), { tta });
  // the members' shared facts (input scaling, classes, version); seed, history and test accuracy are each member's own
  const presets = new Set(members.map((m) => m.metadata?.preset ?? null));
  // an ensemble is meant to run in bf16 only when every member is
  const bf16 = members.every((m) => m.metadata?.precision === 'bf16');
  const metadata: DigitsMetadata | null = m0 === null ? null : {
    version: m0.version, inputScale: m0.inputScale, inputShape: m0.inputShape, classNames: m0.classNames, backend: m0.backend,
    seed: null,
    preset: presets.size === 1 ? m0.preset : null,
    ...(bf16 ? { precision: 'bf16' as const } : {}),
    ...(typeof j.testAccuracy === 'number' ? { testAccuracy: j.testAccuracy } : {}),
    trainedAt: typeof j.trainedAt === 'string' ? j.trainedAt : m0.trainedAt,
  };
  return { kind: 'ensemble', model, metadata, members, tta, fingerprint };
}
