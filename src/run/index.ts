/**
 * The run layer: everything a face (the CLI, the server, a library user, the
 * benches and tests) does with data and models, as functions of plain options
 * that report progress as events and never print or read argv.
 */
export { ignoreEvents, warnOnStderr, type RunEvent, type OnRunEvent } from './events.js';
export { chooseBackend, withPresetPrecision, modelPrecision, describePrecision, type BackendOpts } from './backend.js';
export { trainRun, type TrainHooks, type TrainResult, type RunMetrics } from './train.js';
export { resumeOptions, type RunOptions, type RunSettings } from './checkpoint.js';
export { trainEnsemble, MAX_ENSEMBLE, type EnsembleOptions, type EnsembleResult, type EnsembleMemberResult } from './ensemble.js';
export { combineModels, type CombineOptions, type CombinedMember } from './combine.js';
export {
  evaluateRun, predictRun, reportRun, type EvaluateOptions, type EvaluateResult, type PredictOptions, type PredictResult,
  type ReportOptions, type ReportRunResult,
} from './evaluate.js';
export { openClassifier, modelInput, predictProbabilities, describeLoaded } from './predict.js';
export { benchThroughput, type BenchOptions, type BenchResult } from './bench.js';
export { lockRunFolder, LOCK_FILE } from './lock.js';
export { exportSite, SITE_JSON, type SiteOptions, type SiteResult } from './site.js';
export { readRunInfo, type RunInfo } from './artifacts.js';
export { readRun, type ReadOptions, type FileRead } from './read.js';
