/**
 * Model files: save and load in the TensorFlow.js layers-model format.
 */
export {
  saveModel, loadModel, fromModelJson, toModelJson, makeMetadata, parseMetadata, digitsVersion,
  DIGIT_CLASS_NAMES, DEFAULT_SHARD_BYTES, MODEL_JSON, TFJS_LAYERS_VERSION,
  type DigitsMetadata, type TrainingHistory, type SaveOptions, type SaveResult, type LoadedModel,
} from './model-files.js';
