/**
 * AdaSPEC in TypeScript: train speculative-decoding draft models by selective knowledge
 * distillation with TensorFlow.js, and measure their acceptance rate.
 *
 * @module
 */
export { tf } from "./lib/tf.ts";
export {
  activeBackend,
  BACKEND_ENV,
  type BackendInfo,
  type BackendName,
  BACKENDS,
  initBackend,
  resolveBackendName,
} from "./lib/backend.ts";
export { hashText, Rng, stableStringify } from "./lib/rng.ts";
export { assertSameTokenizer, BpeTokenizer, type BpeTrainOptions, type TokenizerJSON } from "./lib/tokenizer.ts";
export {
  type Batch,
  batchOrder,
  DATA_DIR_ENV,
  formatGsm8k,
  GSM8K_INSTRUCTION,
  loadGsm8k,
  makeBatch,
  readJsonLines,
  resolveDataDir,
  type TextExample,
  type TokenExample,
  tokenizeExamples,
} from "./lib/data.ts";
export {
  countParameters,
  KvCache,
  type ModelConfig,
  parameterShapes,
  TransformerLM,
  validateModelConfig,
} from "./lib/model.ts";
export { decodeSafetensors, encodeSafetensors, loadModel, saveModel } from "./lib/checkpoint.ts";
export {
  type Divergence,
  divergence,
  forwardKl,
  jensenShannon,
  logProbs,
  reverseKl,
  totalVariation,
} from "./lib/divergence.ts";
export { linearQuantile, lossDivisor, type LossNormalisation, type Selection, selectTokens } from "./lib/selection.ts";
export {
  adaspecLoss,
  crossEntropyRows,
  maskedMean,
  type Objective,
  objectiveLoss,
  teacherOutputs,
} from "./lib/objective.ts";
export { AdamW, type AdamWConfig } from "./lib/optimizer.ts";
export { train, type TrainConfig, type TrainSummary, validateTrainConfig } from "./lib/train.ts";
export {
  acceptanceRate,
  blockEfficiency,
  countAcceptance,
  type DecodeResult,
  greedyDecode,
  predictedSpeedup,
  speculativeDecode,
} from "./lib/speculative.ts";
export { acceptProbability, expectedAcceptance, residualDistribution, sampleIndex } from "./lib/sampling.ts";
export {
  distinctNgramRatio,
  type DraftResult,
  evaluateDrafts,
  type EvaluationResult,
  type PromptRecord,
  type TargetQuality,
} from "./lib/evaluate.ts";
export { type AcceptanceCounts, exactAcceptance, exactAcceptanceAll, walkBlocks } from "./lib/exact_alpha.ts";
export { getProfile, type ModelShape, type Profile, PROFILES, type StageBudget } from "./lib/profiles.ts";
export {
  bestEpoch,
  runTable1,
  type Table1Options,
  type Table1Result,
  type Table1Row,
  type TaskRun,
} from "./lib/experiments/table1.ts";
export {
  BUDGETS,
  METHOD_NAMES,
  PAIRS,
  PROTOCOLS,
  renderTable,
  type SeedResult,
  summariseCells,
  tally,
} from "./lib/experiments/table1_summary.ts";
export { escapeLatex, histogramSvg, overlaidHistogramSvg, type Row, toCsv, toLatex, toMarkdown } from "./lib/report.ts";
export { readJsonFile, writeBytesAtomic, writeJsonLines, writeTextAtomic } from "./lib/fs.ts";
export { PAPER_PAIRS, PAPER_TABLE1 } from "./lib/paper.ts";
export { meanInterval, pairedBootstrap, type PairedComparison, pooledAlpha, type PromptCounts } from "./lib/stats.ts";
export {
  carveIndices,
  fitPrompt,
  getTask,
  loadTask,
  loadTaskSplits,
  type PromptParts,
  type Split,
  SPLITS,
  TASK_NAMES,
  type TaskExample,
  type TaskName,
  TASKS,
  type TaskSpec,
  TEMPLATES,
  tokenizeTaskExamples,
} from "./lib/tasks.ts";
export { type FieldSpec, type FileFormat, formatFromPath, parseCsv, readRecords } from "./lib/formats.ts";
export {
  ChecksumError,
  type DataSource,
  downloadFile,
  DOWNLOADS,
  resolveTaskData,
  sha256File,
  type TaskData,
  type TaskDataOptions,
} from "./lib/sources.ts";
export { loadSyntheticSplits, synthesizeRecords } from "./lib/synthetic.ts";
