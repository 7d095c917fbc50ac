/**
 * The model engine: layers, losses, optimizers, callbacks, the Sequential
 * model, its trainer and presets, on top of the Backend kernels. Importing
 * this module registers every built-in layer class (for loading model files,
 * Keras import and ONNX export): a new layer is its own file (the class and
 * its registerLayer call, and fuseWith if it runs fused with the next layer)
 * plus its export line here.
 */
export type { Layer, Param, RunContext, LayerFactory, LayerRegistration, FusedStep, OnnxGraph, OnnxAttributes } from './layer.js';
export { registerLayer, registeredLayerNames, layerFactory, layerRegistration, paramValue } from './layer.js';
export { BaseLayer, type CommonLayerOptions } from './base.js';
export { Conv2D, type Conv2DOptions, type Padding } from './conv2d.js';
export { MaxPooling2D, type MaxPooling2DOptions } from './pooling.js';
export { Flatten, type FlattenOptions } from './flatten.js';
export { Dense, type DenseOptions } from './dense.js';
export { Dropout, type DropoutOptions } from './dropout.js';
export { Activation, type ActivationOptions } from './activation-layer.js';
export { BatchNormalization, type BatchNormalizationOptions } from './batchnorm.js';
export { ACTIVATIONS, isSoftmaxOutputLayer, softmaxBackward, type ActivationName, type SoftmaxOutputLayer } from './activations.js';
export { glorotUniformConfig, zerosConfig, type InitializerConfig } from './initializers.js';
export { crossEntropyOnProbs, countCorrect, argmaxRow, KERAS_EPSILON, type LossName } from './losses.js';
export { Adam, SGD, getOptimizer, type Optimizer, type OptimizerState, type WeightUpdate, type AdamOptions, type SgdOptions } from './optimizers.js';
export {
  EarlyStopping, ProgressCallback,
  type Callback, type CallbackModel, type TrainBeginInfo, type BatchLogs, type EpochLogs, type ProgressEvent, type EarlyStoppingOptions,
} from './callbacks.js';
export { WeightAveraging, type WeightAveragingOptions } from './averaging.js';
export { Sequential, layerFromConfig, type CompileOptions, type SequentialConfig } from './sequential.js';
export {
  type FitOptions, type History, type TrainingState, type TrainingFitOptions, type TrainableModel,
} from './trainer.js';
export { combineShards, shardArrays, type FitShard, type ShardStep, type ShardTotals } from './shard.js';
export { oneHot, datasetToTensors, validationSplitIndices, takeRows } from './batches.js';
export {
  PRESETS, buildPreset, getPreset, presetNames, presetOptimizer, presetCallbacks, presetFitOptions, presetAfterFit,
  type Preset, type TrainingSettings,
} from './presets.js';
export { OneCycle, CosineDecay, ReduceLROnPlateau, type OneCycleOptions, type ReduceLROnPlateauOptions } from './schedules.js';
export { affineParams, randomAffineParams, randomElasticNoise, parseAugment, type AugmentOptions, type AugmentSettings, type ElasticSettings } from './augment.js';
export { Ensemble, DEFAULT_TTA, describeTta, parseTtaViews, type TtaView } from './ensemble.js';
export type { Classifier } from './classifier.js';
