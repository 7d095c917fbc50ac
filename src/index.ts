/**
 * Digits as a library: handwritten-digit recognition in TypeScript.
 *
 * ```ts
 * import { trainRun, openPredictor, preprocessImage } from 'digits';
 *
 * await trainRun({ data: 'mnist', preset: 'fast', seed: 0, backend: 'auto', out: 'runs/fast' });
 * const predictor = await openPredictor({ model: 'runs/fast' });
 * const { label, confidence, isDigit } = await predictor.predictField(preprocessImage(pngBytes).pixels);
 * ```
 *
 * - **Runs**: {@link trainRun}, {@link trainEnsemble}, {@link evaluateRun}, {@link predictRun} and
 *   {@link reportRun} do what the `digits` commands do, from plain options, with progress as events.
 * - **Models and layers**: {@link Sequential} with Keras-shaped layers, optimizers and callbacks;
 *   {@link buildPreset} gives a preset's model.
 * - **Data**: the bundled MNIST, IDX files, Kaggle CSVs, PNG/JPEG files.
 * - **Model files**: the TensorFlow.js layers-model format ({@link saveModel}, {@link loadModel}),
 *   ensembles, ONNX export and Keras import.
 * - **Serving**: {@link Predictor} to embed in any server; `digits/server` has Digits' own HTTP server;
 *   {@link exportSite} writes a static site that reads drawings and trains in the browser.
 *
 * @packageDocumentation
 */

// ------------------------------------------------------------------------------------------- engine
export { Tensor } from './engine/tensor.js';
export {
  createBackend, BACKEND_NAMES, PRECISION_CHOICES, nativeBf16Kernels, type Backend, type BackendName, type BackendChoice, type Bf16Kernels,
  type PrecisionChoice,
} from './engine/index.js';
export type { Precision } from './engine/backend.js';

// ------------------------------------------------------------------------------- models and layers
export { Sequential, type CompileOptions } from './nn/sequential.js';
export type { FitOptions, History, TrainingState } from './nn/trainer.js';
export type { FitShard, ShardStep, ShardTotals } from './nn/shard.js';
export { oneHot, datasetToTensors, validationSplitIndices } from './nn/batches.js';
export {
  registerLayer, registeredLayerNames, type Layer, type Param, type RunContext, type LayerFactory, type LayerRegistration, type FusedStep,
  type OnnxGraph, type OnnxAttributes,
} from './nn/layer.js';
export { Conv2D, type Conv2DOptions, type Padding } from './nn/conv2d.js';
export { MaxPooling2D, type MaxPooling2DOptions } from './nn/pooling.js';
export { Flatten, type FlattenOptions } from './nn/flatten.js';
export { Dense, type DenseOptions } from './nn/dense.js';
export { Dropout, type DropoutOptions } from './nn/dropout.js';
export { Activation, type ActivationOptions } from './nn/activation-layer.js';
export { BatchNormalization, type BatchNormalizationOptions } from './nn/batchnorm.js';
export type { ActivationName } from './nn/activations.js';
export { Adam, SGD, type Optimizer, type AdamOptions, type SgdOptions } from './nn/optimizers.js';
export {
  EarlyStopping, ProgressCallback,
  type Callback, type EpochLogs, type BatchLogs, type ProgressEvent, type EarlyStoppingOptions, type TrainBeginInfo,
} from './nn/callbacks.js';
export { OneCycle, CosineDecay, ReduceLROnPlateau, type OneCycleOptions, type ReduceLROnPlateauOptions } from './nn/schedules.js';
export { WeightAveraging, type WeightAveragingOptions } from './nn/averaging.js';
export type { AugmentOptions, AugmentSettings, ElasticSettings } from './nn/augment.js';
export { Ensemble, DEFAULT_TTA, type TtaView } from './nn/ensemble.js';
export type { Classifier } from './nn/classifier.js';
export {
  fitCalibration, fitTemperature, applyTemperature, readProbabilities, DEFAULT_CALIBRATION, ACCEPT_MISS, type Calibration, type Reading,
} from './nn/calibration.js';
export { calibrationFigures, rejectionCurve, type CalibrationFigures, type ReliabilityBin, type RejectionPoint } from './report/calibration.js';

// ------------------------------------------------------------------------------------------ presets
export { PRESETS, presetNames, getPreset, buildPreset, type Preset, type TrainingSettings } from './nn/presets.js';

// ------------------------------------------------------------------------------------------- data
export { NUM_CLASSES, type Dataset } from './data/dataset.js';
export { loadTrainingData, loadTestData, loadUnlabelled, resolveDataSpec, type LoadOptions, type DataKind } from './data/index.js';
export { loadMnist } from './data/mnist.js';
export { readIdxImages, readIdxLabels, loadIdxDirectory, encodeIdxFile, type Split } from './data/idx.js';
export { readKaggleCsv, type ReadKaggleCsvOptions } from './data/csv.js';
export {
  writeKaggleCsv, writeLabelsCsv, writeSubmission, readSubmission, readLabelsCsv, scoreSubmission, prepareKaggle, type Submission,
} from './data/kaggle.js';
export { splitDataset, subset } from './data/split.js';
export { imageInputFiles, loadImageFiles, IMAGE_EXTENSIONS } from './preprocess/files.js';

// -------------------------------------------------------------------------------- image preprocessing
export {
  preprocessImage, preprocessGray, decodeImage, ImageError, type Preprocessed, type GrayImage, type Box, type Polarity,
} from './preprocess/image.js';

// -------------------------------------------------------------------------------------- model files
export { saveModel, loadModel, makeMetadata, calibrationOf, MODEL_JSON, type DigitsMetadata, type LoadedModel, type SaveOptions, type SaveResult } from './io/model-files.js';
export { loadClassifier, saveEnsemble, isEnsembleDir, ENSEMBLE_JSON, type LoadedClassifier, type LoadedMember } from './io/ensemble.js';
export { exportOnnx, toOnnx, ONNX_OPSET, type OnnxExportOptions, type OnnxExportResult } from './io/onnx.js';
export { importKeras, readKerasH5, type KerasImportOptions, type KerasImportResult, type KerasModel } from './io/keras.js';

// --------------------------------------------------------------------------------------------- runs
export {
  trainRun, resumeOptions, trainEnsemble, combineModels, evaluateRun, predictRun, reportRun, benchThroughput,
  openClassifier, modelInput, predictProbabilities, describeLoaded, chooseBackend, withPresetPrecision, modelPrecision, describePrecision, readRunInfo,
  ignoreEvents, warnOnStderr, type RunEvent, type OnRunEvent, type BackendOpts, type RunOptions, type RunSettings, type TrainHooks, type TrainResult, type RunMetrics,
  type EnsembleOptions, type EnsembleResult, type EnsembleMemberResult, type CombineOptions, type CombinedMember,
  type EvaluateOptions, type EvaluateResult, type PredictOptions, type PredictResult, type ReportOptions, type ReportRunResult,
  type BenchOptions, type BenchResult, type RunInfo, exportSite, type SiteOptions, type SiteResult, readRun, type ReadOptions, type FileRead,
} from './run/index.js';
export {
  segmentGray, segmentInk, chooseDigits, numberFromReadings, candidateBatch, lineBatch, COSTS, LINE_SIDE, type Segmentation, type Candidate, type CandidateReading,
  type SegmentCosts, type NumberRead, type DigitRead,
} from './preprocess/segment.js';
export { composeNumber, candidateDigits, WHOLE_SHARE, type ComposeOptions, type ComposedNumber } from './data/compose.js';
export { outlierFields, digitFields, OUTLIER_KINDS, type OutlierKind } from './data/outliers.js';
export { trainGate, loadGate, gateFor, readsDigits, GATE_DIR, type TrainGateOptions, type GateTraining } from './run/gate.js';
export { buildGate, gateNetwork, gateScores, gatedReadings, type Gate } from './nn/gate.js';
export { trainLineReader, loadLineReader, lineReaderFor, LINE_READER_DIR, type TrainLineReaderOptions, type LineReaderTraining } from './run/line-reader.js';
export { buildLineReader, lineProbabilities, inLine, LINE_CLASSES, LINE_SHAPE, LINE_WEIGHT, NOT_WHOLE, type LineSay } from './nn/line-reader.js';
export { Predictor, openPredictor, type Prediction, type ModelInfo } from './run/predictor.js';

// ------------------------------------------------------------------------------------------ metrics
export {
  classificationReport, confusionMatrix, mostConfusedPairs, argmaxRows, type ClassificationReport, type ClassMetrics, type ConfusedPair,
} from './report/metrics.js';

// ------------------------------------------------------------------------------------------- errors
export { DigitsError, Interrupted } from './errors.js';
export { VERSION } from './version.js';
