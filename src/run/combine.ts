/**
 * An ensemble of models trained apart (other recipes, seeds,
 * machines) as one ensemble artifact, as `train --ensemble` writes it: DIR/model-i/ for
 * each member and DIR/ensemble.json. A MODEL may be an ensemble folder: its members join.
 * Every member is loaded (its shards checked against their digests) and re-saved; members
 * must take the same input and give the same 10 classes, and no two may hold the same
 * weights. ensemble.json is written last, so a failure leaves no ensemble behind.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';
import { DEFAULT_TTA } from '../nn/index.js';
import { ENSEMBLE_JSON, loadClassifier, writeEnsembleJson, type LoadedMember } from '../io/ensemble.js';
import { makeMetadata, MODEL_JSON, saveModel } from '../io/model-files.js';
import { checkOutputFolder } from '../util/disk.js';

/** Where combineModels writes the ensemble, and whether it records test-time augmentation. */
export interface CombineOptions {
  /** the new ensemble folder */
  out: string;
  /** record test-time augmentation in ensemble.json (used unless --no-tta) */
  tta?: boolean;
}

function weightsHash(m: LoadedMember): string {
  const h = createHash('sha256');
  for (const { tensor } of m.model.namedWeights()) h.update(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
  return h.digest('hex');
}

/** Each member of the new ensemble: its folder name in it and the folder it came from. */
export interface CombinedMember {
  name: string;
  from: string;
}

/**
 * Model or ensemble folders (an ensemble's members all join) saved as one ensemble folder
 * `o.out`, as `train --ensemble` writes it; returns the members in order.
 */
export async function combineModels(dirs: string[], o: CombineOptions): Promise<CombinedMember[]> {
  if (dirs.length === 0) throw new DigitsError('digits ensemble: name the model folders to combine (at least 2)');
  for (const f of [MODEL_JSON, ENSEMBLE_JSON]) {
    if (await fs.stat(path.join(o.out, f)).then(() => true, () => false)) {
      throw new DigitsError(`--out ${o.out}: it already holds ${f}; pick a new folder (an ensemble is never written over a model)`);
    }
  }
  const members: { from: string; member: LoadedMember; hash: string }[] = [];
  for (const dir of dirs) {
    const loaded = await loadClassifier(dir, { tta: false });
    for (const member of loaded.members) {
      const from = loaded.kind === 'ensemble' ? path.join(dir, member.name) : dir;
      members.push({ from, member, hash: weightsHash(member) });
    }
  }
  if (members.length < 2) throw new DigitsError(`digits ensemble: ${dirs[0]} gives 1 model; an ensemble needs at least 2`);
  const first = members[0]!;
  const shapeOf = (m: LoadedMember): string => JSON.stringify(m.model.inputShape);
  for (const m of members) {
    if (shapeOf(m.member) !== shapeOf(first.member)) {
      throw new DigitsError(`${m.from}: takes input ${shapeOf(m.member)}, but ${first.from} takes ${shapeOf(first.member)}; members must take the same images`);
    }
    const classes = m.member.model.outputShape?.at(-1);
    if (classes !== 10) throw new DigitsError(`${m.from}: gives ${classes ?? 'no'} outputs; members must give the 10 digit probabilities`);
    const twin = members.find((other) => other !== m && other.hash === m.hash);
    if (twin !== undefined && members.indexOf(twin) < members.indexOf(m)) {
      throw new DigitsError(`${m.from} and ${twin.from} hold the same weights; name each model once`);
    }
  }
  await checkOutputFolder(o.out, `--out ${o.out}`);
  const names = members.map((_, i) => `model-${i}`);
  for (let i = 0; i < members.length; i++) {
    const { member } = members[i]!;
    await saveModel(member.model, path.join(o.out, names[i]!), member.metadata ?? makeMetadata(member.model));
  }
  await writeEnsembleJson(o.out, names, o.tta ? { tta: DEFAULT_TTA } : {});
  return members.map((m, i) => ({ name: names[i]!, from: m.from }));
}
