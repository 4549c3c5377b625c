/**
 * Experiment profiles: model sizes, data sizes and training budgets for each scale.
 *
 * @module
 */

/** Shape of one model in a profile (vocabulary and context length come from the profile). */
export interface ModelShape {
  layers: number;
  width: number;
  heads: number;
  mlpWidth: number;
}

/** Optimiser budget of one training stage. */
export interface StageBudget {
  epochs: number;
  /** Sequences per optimiser step. */
  batchSize: number;
  /** Sequences per forward pass (gradients accumulate over a step); bounds memory. */
  microBatchSize: number;
  learningRate: number;
}

/** Everything that sizes an experiment. */
export interface Profile {
  name: "smoke" | "small";
  /** BPE vocabulary size shared by target, draft and reference. */
  vocabSize: number;
  /** Maximum training sequence length in tokens; also the models' context length. */
  maxLength: number;
  /** Training examples used (a seeded sample of the training split). */
  trainExamples: number;
  /** Test prompts evaluated (the first ones of the test split). */
  testPrompts: number;
  /** Maximum new tokens per test prompt. */
  maxNewTokens: number;
  /**
   * Test prompts (the first ones) that also run the real decoding loops for wall-clock speed and
   * the lossless check; α of every prompt comes from exact teacher-forced counts.
   */
  timingPrompts: number;
  /** Lookahead γ of speculative decoding. */
  gamma: number;
  target: ModelShape;
  /** Draft of the large-gap pair (target/draft parameters at least 30×). */
  draft: ModelShape;
  /** Draft of the small-gap pair (target/draft parameters about 8×), distilled from the same target. */
  smallGapDraft: ModelShape;
  /** Language-model pretraining of target and draft on the training text. */
  pretrainTarget: StageBudget;
  pretrainDraft: StageBudget;
  /** Supervised fine-tuning of the target on responses. */
  targetSft: StageBudget;
  /** Distillation of the reference (DistillSpec) and of the AdaSPEC draft. */
  distill: StageBudget;
  /** AdaSPEC selection ratio k. */
  k: number;
  /**
   * Distillation epochs among which the optimal-epoch budget chooses by validation α; it contains
   * `distill.epochs`, the fixed budget. Every run trains to the largest and keeps each epoch.
   */
  epochGrid: number[];
  /** Validation prompts (the first ones of the validation split) for choosing epochs. */
  validationPrompts: number;
  /** Seed of the data sample, the tokenizer and the target. */
  seed: number;
  /**
   * Seeds of the draft runs. Each one seeds the draft's initialisation, its pretraining order and its
   * distillation order, so every Table 1 cell is trained once per seed.
   */
  seeds: number[];
}

/**
 * The profiles. `smoke` runs every code path in seconds, and its numbers mean nothing. `small` is
 * sized for a 2-core CPU, with a target/draft parameter ratio above 30×.
 *
 * NOTE: the learning rates are larger than the authors' (1e-5 for the target, 3e-4 for
 * distillation), because these models start far less trained. They were set once for these
 * scales and not tuned against AdaSPEC's result.
 */
export const PROFILES: Readonly<Record<Profile["name"], Profile>> = Object.freeze({
  smoke: {
    name: "smoke",
    vocabSize: 300,
    maxLength: 320,
    trainExamples: 48,
    testPrompts: 4,
    maxNewTokens: 24,
    timingPrompts: 4,
    gamma: 4,
    target: { layers: 2, width: 32, heads: 2, mlpWidth: 64 },
    draft: { layers: 1, width: 16, heads: 2, mlpWidth: 32 },
    smallGapDraft: { layers: 1, width: 24, heads: 2, mlpWidth: 48 },
    pretrainTarget: { epochs: 1, batchSize: 8, microBatchSize: 4, learningRate: 3e-3 },
    pretrainDraft: { epochs: 2, batchSize: 8, microBatchSize: 4, learningRate: 3e-3 },
    // Large enough that the distilled drafts get some tokens accepted, so every counting path runs.
    targetSft: { epochs: 3, batchSize: 8, microBatchSize: 4, learningRate: 1e-2 },
    distill: { epochs: 3, batchSize: 8, microBatchSize: 4, learningRate: 1e-2 },
    k: 0.4,
    epochGrid: [1, 3],
    validationPrompts: 4,
    seed: 42,
    // Two seeds keep the smoke run short; the small profile has three.
    seeds: [42, 43],
  },
  small: {
    name: "small",
    vocabSize: 512,
    maxLength: 384,
    trainExamples: 960,
    testPrompts: 60,
    maxNewTokens: 192,
    timingPrompts: 10,
    gamma: 4,
    target: { layers: 4, width: 128, heads: 4, mlpWidth: 512 },
    draft: { layers: 1, width: 24, heads: 2, mlpWidth: 96 },
    smallGapDraft: { layers: 1, width: 64, heads: 2, mlpWidth: 256 },
    pretrainTarget: { epochs: 1, batchSize: 16, microBatchSize: 8, learningRate: 1e-3 },
    pretrainDraft: { epochs: 2, batchSize: 16, microBatchSize: 8, learningRate: 3e-3 },
    targetSft: { epochs: 3, batchSize: 16, microBatchSize: 8, learningRate: 5e-4 },
    distill: { epochs: 3, batchSize: 16, microBatchSize: 8, learningRate: 1e-3 },
    k: 0.4,
    // The AdaSPEC paper's grid is {1, 3, 6, 10, 15, 20, 30}. Three epochs at most keep a five-task
    // run within hours on two cores.
    // NOTE: validation α still rose at epoch 3 in most cells of the measured run, so the
    // optimal-epoch budget there usually selects the same checkpoints as the 3-epoch budget.
    epochGrid: [1, 2, 3],
    validationPrompts: 40,
    seed: 42,
    seeds: [42, 43, 44],
  },
});

/** Returns the profile called `name`, or an error listing the valid names. */
export function getProfile(name: string): Profile {
  const profile = (PROFILES as Record<string, Profile>)[name];
  if (!profile) {
    throw new Error(`unknown profile "${name}": use one of ${Object.keys(PROFILES).join(", ")}`);
  }
  return profile;
}
