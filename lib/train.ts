/**
 * The training loop: seeded batches, one objective, AdamW, a progress line per interval, and a
 * callback at the end of each epoch (where callers save checkpoints).
 *
 * @module
 */
import { tf } from "./tf.ts";
import { type Batch, batchOrder, makeBatch, type TokenExample } from "./data.ts";
import type { TransformerLM } from "./model.ts";
import { AdamW, type AdamWConfig } from "./optimizer.ts";
import { type Objective, objectiveLoss, teacherOutputs } from "./objective.ts";

/** Settings of one training run. */
export interface TrainConfig extends AdamWConfig {
  /** Passes over the examples. */
  epochs: number;
  /** Sequences per optimiser step. */
  batchSize: number;
  /** Seed of the batch order. */
  seed: number;
  /** Steps between progress lines; 10 by default. */
  logEvery?: number;
  /** Stop after this many steps in total (for quick runs); no limit by default. */
  maxSteps?: number;
  /**
   * Sequences per forward pass; a step accumulates gradients over micro-batches, weighting each
   * by its share of the step's valid tokens. Bounds memory (the wasm heap is limited to a few
   * GB); equals `batchSize` by default. AdaSPEC's selection pool is one micro-batch.
   */
  microBatchSize?: number;
}

/** Summary of one training run, for the result files. */
export interface TrainSummary {
  steps: number;
  epochs: number;
  seconds: number;
  tokensPerSecond: number;
  /** Mean training loss of each epoch. */
  epochLoss: number[];
  /** Mean kept fraction of each epoch (AdaSPEC; 1 for other objectives). */
  epochKeptFraction: number[];
}

/** Rejects a config with a non-positive epoch count, batch size or step limit. */
export function validateTrainConfig(config: TrainConfig): void {
  for (const key of ["epochs", "batchSize"] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1) {
      throw new Error(`invalid training config: ${key} = ${config[key]}; use a positive integer`);
    }
  }
  if (config.maxSteps !== undefined && (!Number.isInteger(config.maxSteps) || config.maxSteps < 1)) {
    throw new Error(`invalid training config: maxSteps = ${config.maxSteps}; use a positive integer`);
  }
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m > 0 ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}

function microBatchGrads(
  model: TransformerLM,
  objective: Objective,
  batch: Batch,
  indices: number[],
  allExamples: number,
): { loss: number; keptFraction: number; grads: tf.NamedTensorMap } {
  const tensors = {
    ids: tf.tensor2d(batch.inputs, [batch.size, batch.length], "int32"),
    keyMask: tf.tensor2d(batch.keyMask, [batch.size, batch.length]),
    labels: tf.tensor1d(batch.labels, "int32"),
    lossMask: tf.tensor1d(batch.lossMask),
  };
  if ((objective.kind === "kd" || objective.kind === "adaspec") && objective.cache) {
    if (objective.cache.examples.length !== allExamples) {
      throw new Error(
        `teacher cache covers ${objective.cache.examples.length} examples but training uses ${allExamples}; build the cache from the same examples`,
      );
    }
  }
  const frozen = teacherOutputs(objective, tensors.ids, tensors.keyMask, indices);
  let keptFraction = 1;
  const { value, grads } = tf.variableGrads(() => {
    const result = objectiveLoss(objective, model, batch, tensors, frozen);
    keptFraction = result.keptFraction;
    return result.loss;
  }, model.variables());
  const loss = value.dataSync()[0];
  tf.dispose([value, frozen.teacher, frozen.reference, ...Object.values(tensors)]);
  if (!Number.isFinite(loss)) {
    tf.dispose(grads);
    throw new Error(`training loss became ${loss}; lower the learning rate or check the data`);
  }
  return { loss, keptFraction, grads };
}

/**
 * Runs one step over the training examples `indices` (split into micro-batches) and applies the
 * optimiser.
 */
function trainStep(
  model: TransformerLM,
  optimizer: AdamW,
  objective: Objective,
  examples: TokenExample[],
  indices: number[],
  microBatchSize: number,
  padId: number,
  allTokens: boolean,
): { loss: number; keptFraction: number; tokens: number } {
  const micro: { batch: Batch; indices: number[] }[] = [];
  for (let i = 0; i < indices.length; i += microBatchSize) {
    const part = indices.slice(i, i + microBatchSize);
    micro.push({ batch: makeBatch(part.map((j) => examples[j]), padId, allTokens), indices: part });
  }
  const totalValid = micro.reduce((a, b) => a + b.batch.validCount, 0);
  let loss = 0, keptFraction = 0, tokens = 0;
  let sum: tf.NamedTensorMap | null = null;
  for (const { batch, indices: part } of micro) {
    const weight = totalValid > 0 ? batch.validCount / totalValid : 1 / micro.length;
    const out = microBatchGrads(model, objective, batch, part, examples.length);
    loss += weight * out.loss;
    keptFraction += weight * out.keptFraction;
    tokens += batch.keyMask.reduce((a, b) => a + b, 0);
    if (micro.length === 1) {
      sum = out.grads;
      break;
    }
    const previous: tf.NamedTensorMap | null = sum;
    sum = tf.tidy(() => {
      const next: tf.NamedTensorMap = {};
      for (const [name, grad] of Object.entries(out.grads)) {
        next[name] = previous ? previous[name].add(grad.mul(weight)) : grad.mul(weight);
      }
      return next;
    });
    tf.dispose(out.grads);
    if (previous) tf.dispose(previous);
  }
  optimizer.apply(model.variables(), sum!);
  tf.dispose(sum!);
  return { loss, keptFraction, tokens };
}

/**
 * Trains `model` in place on `examples` with `objective`. `allTokens` makes every real token a
 * loss position (pretraining). `onEpochEnd` runs after each epoch, for checkpoints.
 */
export async function train(
  model: TransformerLM,
  examples: TokenExample[],
  objective: Objective,
  config: TrainConfig,
  options: {
    label: string;
    allTokens?: boolean;
    padId: number;
    log?: (line: string) => void;
    onEpochEnd?: (epoch: number, summary: TrainSummary) => Promise<void> | void;
    /**
     * Called after every optimiser step with the step number (for memory checks, custom logs and
     * checkpoints at step counts); a returned promise is awaited.
     */
    onStep?: (step: number) => Promise<void> | void;
  },
): Promise<TrainSummary> {
  validateTrainConfig(config);
  if (examples.length === 0) throw new Error(`${options.label}: no training examples`);
  const log = options.log ?? ((line: string) => console.error(line));
  const logEvery = config.logEvery ?? 10;
  const optimizer = new AdamW(model.params, config);
  const stepsPerEpoch = Math.ceil(examples.length / config.batchSize);
  const plannedSteps = Math.min(stepsPerEpoch * config.epochs, config.maxSteps ?? Infinity);
  const summary: TrainSummary = {
    steps: 0,
    epochs: 0,
    seconds: 0,
    tokensPerSecond: 0,
    epochLoss: [],
    epochKeptFraction: [],
  };
  const start = performance.now();
  let tokens = 0;
  let intervalLoss = 0;
  let intervalKept = 0;
  let intervalSteps = 0;
  log(
    `${options.label}: start, ${examples.length} examples, ${config.epochs} epoch(s) × ${stepsPerEpoch} steps, batch ${config.batchSize}, lr ${config.learningRate}, ${model.parameterCount} parameters`,
  );

  try {
    for (let epoch = 0; epoch < config.epochs && summary.steps < plannedSteps; epoch++) {
      let epochLoss = 0;
      let epochKept = 0;
      let epochSteps = 0;
      for (const indices of batchOrder(examples.length, config.batchSize, config.seed, epoch)) {
        if (summary.steps >= plannedSteps) break;
        const { loss, keptFraction, tokens: stepTokens } = trainStep(
          model,
          optimizer,
          objective,
          examples,
          indices,
          config.microBatchSize ?? config.batchSize,
          options.padId,
          options.allTokens ?? false,
        );
        summary.steps++;
        await options.onStep?.(summary.steps);
        epochSteps++;
        epochLoss += loss;
        epochKept += keptFraction;
        intervalLoss += loss;
        intervalKept += keptFraction;
        intervalSteps++;
        tokens += stepTokens;

        if (summary.steps % logEvery === 0 || summary.steps === plannedSteps) {
          const elapsed = (performance.now() - start) / 1000;
          const eta = (elapsed / summary.steps) * (plannedSteps - summary.steps);
          const kept = objective.kind === "adaspec" ? ` kept ${(intervalKept / intervalSteps).toFixed(3)}` : "";
          log(
            `${options.label}: epoch ${epoch + 1}/${config.epochs} step ${summary.steps}/${plannedSteps} loss ${
              (intervalLoss / intervalSteps).toFixed(4)
            }${kept} tok/s ${Math.round(tokens / elapsed)} eta ${formatDuration(eta)}`,
          );
          intervalLoss = 0;
          intervalKept = 0;
          intervalSteps = 0;
        }
        // Let timers and I/O run between steps.
        if (summary.steps % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      }
      summary.epochs = epoch + 1;
      summary.epochLoss.push(epochLoss / Math.max(epochSteps, 1));
      summary.epochKeptFraction.push(epochKept / Math.max(epochSteps, 1));
      summary.seconds = (performance.now() - start) / 1000;
      summary.tokensPerSecond = tokens / summary.seconds;
      await options.onEpochEnd?.(epoch + 1, summary);
    }
  } finally {
    optimizer.dispose();
  }
  summary.seconds = (performance.now() - start) / 1000;
  summary.tokensPerSecond = tokens / summary.seconds;
  log(
    `${options.label}: done, ${summary.steps} steps in ${formatDuration(summary.seconds)}, ${
      Math.round(summary.tokensPerSecond)
    } tok/s, final epoch loss ${summary.epochLoss.at(-1)?.toFixed(4)}`,
  );
  return summary;
}
