/**
 * The model engine: layers, losses, optimizers, callbacks, the Sequential
 * model and presets, on top of the Backend kernels. Importing this module
 * registers every built-in layer class (for loading model files).
 */
export type { Layer, Param, RunContext, LayerFactory } from './layer.js';
export { registerLayer, registeredLayerNames, layerFactory } from './layer.js';
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
export {
  Sequential, oneHot, datasetToTensors, layerFromConfig, validationSplitIndices, takeRows,
  type CompileOptions, type FitOptions, type History, type SequentialConfig, type TrainingState,
} from './sequential.js';
export {
  PRESETS, buildPreset, getPreset, presetNames, presetOptimizer, presetCallbacks, presetFitOptions, presetAfterFit,
  type Preset, type TrainingSettings,
} from './presets.js';
export { OneCycle, CosineDecay, ReduceLROnPlateau, type OneCycleOptions, type ReduceLROnPlateauOptions } from './schedules.js';
export { affineParams, randomAffineParams, randomElasticNoise, parseAugment, type AugmentOptions, type AugmentSettings, type ElasticSettings } from './augment.js';
export { Ensemble, DEFAULT_TTA, describeTta, parseTtaViews, type TtaView } from './ensemble.js';
export type { Classifier } from './classifier.js';
