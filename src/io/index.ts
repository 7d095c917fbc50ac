/**
 * Model files: save and load in the TensorFlow.js layers-model format.
 */
export {
  saveModel, loadModel, fromModelJson, toModelJson, makeMetadata, parseMetadata, digitsVersion, sha256Hex,
  DIGIT_CLASS_NAMES, DEFAULT_SHARD_BYTES, MODEL_JSON, TFJS_LAYERS_VERSION,
  type DigitsMetadata, type TrainingHistory, type SaveOptions, type SaveResult, type LoadedModel, type WeightFileDigest,
} from './model-files.js';
export {
  writeCheckpoint, readCheckpoint, findCheckpoint, removeCheckpoint, checkpointDir, CHECKPOINT_DIR,
  type CheckpointData, type LoadedCheckpoint,
} from './checkpoint.js';
