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
}

/** What one run did, for the result files. */
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

/** Runs one batch through the objective and the optimiser; returns the loss and kept fraction. */
function trainStep(
  model: TransformerLM,
  optimizer: AdamW,
  objective: Objective,
  batch: Batch,
): { loss: number; keptFraction: number } {
  const tensors = {
    ids: tf.tensor2d(batch.inputs, [batch.size, batch.length], "int32"),
    keyMask: tf.tensor2d(batch.keyMask, [batch.size, batch.length]),
    labels: tf.tensor1d(batch.labels, "int32"),
    lossMask: tf.tensor1d(batch.lossMask),
  };
  const frozen = teacherOutputs(objective, tensors.ids, tensors.keyMask);
  let keptFraction = 1;
  const variables = model.variables();
  const { value, grads } = tf.variableGrads(() => {
    const result = objectiveLoss(objective, model, batch, tensors, frozen);
    keptFraction = result.keptFraction;
    return result.loss;
  }, variables);
  const loss = value.dataSync()[0];
  if (!Number.isFinite(loss)) {
    tf.dispose([value, grads, frozen.teacher, frozen.reference, ...Object.values(tensors)]);
    throw new Error(`training loss became ${loss}; lower the learning rate or check the data`);
  }
  optimizer.apply(variables, grads);
  tf.dispose([value, grads, frozen.teacher, frozen.reference, ...Object.values(tensors)]);
  return { loss, keptFraction };
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
    `${options.label}: start, ${examples.length} examples, ${config.epochs} epochs × ${stepsPerEpoch} steps, batch ${config.batchSize}, lr ${config.learningRate}, ${model.parameterCount} parameters`,
  );

  try {
    for (let epoch = 0; epoch < config.epochs && summary.steps < plannedSteps; epoch++) {
      let epochLoss = 0;
      let epochKept = 0;
      let epochSteps = 0;
      for (const indices of batchOrder(examples.length, config.batchSize, config.seed, epoch)) {
        if (summary.steps >= plannedSteps) break;
        const batch = makeBatch(indices.map((i) => examples[i]), options.padId, options.allTokens);
        const { loss, keptFraction } = trainStep(model, optimizer, objective, batch);
        summary.steps++;
        epochSteps++;
        epochLoss += loss;
        epochKept += keptFraction;
        intervalLoss += loss;
        intervalKept += keptFraction;
        intervalSteps++;
        tokens += batch.keyMask.reduce((a, b) => a + b, 0);

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
