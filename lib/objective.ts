/**
 * Training objectives: language modelling, supervised fine-tuning, knowledge distillation
 * (DistillSpec) and AdaSPEC selective distillation. Each turns a batch into a scalar loss.
 *
 * @module
 */
import { tf } from "./tf.ts";
import type { Batch } from "./data.ts";
import type { TransformerLM } from "./model.ts";
import { type Divergence, divergence, logProbs } from "./divergence.ts";
import { lossDivisor, type LossNormalisation, selectTokens } from "./selection.ts";
import type { TeacherSource } from "./teacher_cache.ts";
import { readValues } from "./ops.ts";

/** Training objective of one stage. */
export type Objective =
  | { kind: "lm" }
  | { kind: "sft" }
  | {
    kind: "kd";
    teacher: TransformerLM;
    divergence: Divergence;
    /** Cached teacher log-probs of the training examples; the teacher runs every step without it. */
    cache?: TeacherSource;
  }
  | {
    kind: "adaspec";
    teacher: TransformerLM;
    reference: TransformerLM;
    divergence: Divergence;
    /** Cached teacher log-probs and reference losses; both models run every step without it. */
    cache?: TeacherSource;
    /** Selection ratio k: the fraction of valid tokens kept. */
    k: number;
    normalisation: LossNormalisation;
    /** `top` keeps the tokens with the largest ΔL (AdaSPEC); `bottom` the smallest (ablation). */
    mode: "top" | "bottom";
  };

/** A loss with statistics for the progress line. */
export interface LossResult {
  loss: tf.Scalar;
  /** Fraction of valid tokens the loss used (AdaSPEC's kept fraction; 1 otherwise). */
  keptFraction: number;
}

/** Returns the per-position cross-entropy [N] of `logits` against integer `labels`. */
export function crossEntropyRows(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  const oneHot = tf.oneHot(labels, logits.shape[1]).toFloat();
  return tf.neg(tf.sum(tf.logSoftmax(logits).mul(oneHot), -1)) as tf.Tensor1D;
}

/** Returns Σ values·mask / max(1, Σ mask): a masked mean that is 0, not NaN, when the mask is empty. */
export function maskedMean(values: tf.Tensor1D, mask: tf.Tensor1D, count: number): tf.Scalar {
  return tf.sum(values.mul(mask)).div(Math.max(count, 1)) as tf.Scalar;
}

/** Frozen models' outputs for a batch, computed outside the gradient. */
export interface TeacherOutputs {
  /** Teacher log-probs [N, V]. */
  teacher?: tf.Tensor2D;
  /** Reference log-probs [N, V], when L_ref is not cached. */
  reference?: tf.Tensor2D;
  /** Cached L_ref per position [N]. */
  referenceLoss?: Float32Array;
}

/**
 * Returns the frozen teacher (and reference) outputs that `objective` needs for a batch of the
 * training examples `indices`, from the cache when the objective has one.
 */
export function teacherOutputs(
  objective: Objective,
  ids: tf.Tensor2D,
  keyMask: tf.Tensor2D,
  indices: number[],
): TeacherOutputs {
  if (objective.kind !== "kd" && objective.kind !== "adaspec") return {};
  const [rows, length] = ids.shape;
  const cache = objective.cache;
  const teacher = cache
    ? tf.tensor2d(cache.teacherBatch(indices, length), [rows * length, cache.vocabSize])
    : tf.tidy(() => logProbs(objective.teacher.forward(ids, keyMask)));
  if (objective.kind === "kd") return { teacher };
  if (cache?.referenceLoss) return { teacher, referenceLoss: cache.referenceBatch(indices, length) };
  return { teacher, reference: tf.tidy(() => logProbs(objective.reference.forward(ids, keyMask))) };
}

/**
 * Returns the loss of `model` on `batch`. Call inside `tf.variableGrads`; `frozen` comes from
 * {@link teacherOutputs} and `tensors` are the batch as tensors.
 */
export function objectiveLoss(
  objective: Objective,
  model: TransformerLM,
  batch: Batch,
  tensors: { ids: tf.Tensor2D; keyMask: tf.Tensor2D; labels: tf.Tensor1D; lossMask: tf.Tensor1D },
  frozen: TeacherOutputs,
): LossResult {
  const logits = model.forward(tensors.ids, tensors.keyMask);
  if (objective.kind === "lm" || objective.kind === "sft") {
    const rows = crossEntropyRows(logits, tensors.labels);
    return { loss: maskedMean(rows, tensors.lossMask, batch.validCount), keptFraction: 1 };
  }

  if (objective.kind === "kd") {
    const draftRows = divergence(objective.divergence, frozen.teacher!, logProbs(logits));
    return { loss: maskedMean(draftRows, tensors.lossMask, batch.validCount), keptFraction: 1 };
  }

  return adaspecLoss(
    frozen.teacher!,
    logProbs(logits),
    frozen.referenceLoss ?? frozen.reference!,
    batch.lossMask,
    objective,
  );
}

/**
 * Returns the AdaSPEC loss from teacher and draft log-probs [N, V], the reference's log-probs
 * [N, V] or its precomputed L_ref [N], and the loss mask [N]. It scores ΔL(t) = L_draft(t) −
 * L_ref(t) over the valid positions (the pool) and keeps ΔL at or above the linear `1 − k`
 * quantile (`top`). The kept Σ L_draft is divided by the normalisation.
 */
export function adaspecLoss(
  teacher: tf.Tensor2D,
  draft: tf.Tensor2D,
  reference: tf.Tensor2D | Float32Array,
  lossMask: ArrayLike<number>,
  options: { divergence: Divergence; k: number; normalisation: LossNormalisation; mode: "top" | "bottom" },
): LossResult {
  const draftRows = divergence(options.divergence, teacher, draft);
  // ΔL is a value, not part of the graph: the selection mask carries no gradient.
  const referenceRows = reference instanceof Float32Array
    ? reference
    : readValues(() => divergence(options.divergence, teacher, reference));
  const draftValues = draftRows.dataSync();
  const validPositions: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < lossMask.length; i++) {
    if (lossMask[i] === 1) {
      validPositions.push(i);
      scores.push(draftValues[i] - referenceRows[i]);
    }
  }
  // A batch with no valid token still returns a loss tied to the weights, so gradients are zeros.
  if (scores.length === 0) return { loss: tf.sum(draftRows).mul(0) as tf.Scalar, keptFraction: 0 };
  const selection = selectTokens(scores, options.k, options.mode);
  const keep = new Float32Array(lossMask.length);
  validPositions.forEach((position, j) => (keep[position] = selection.keep[j]));
  const divisor = lossDivisor(options.normalisation, scores.length, selection.keptCount, options.k);
  const loss = tf.sum(draftRows.mul(tf.tensor1d(keep))).div(divisor) as tf.Scalar;
  return { loss, keptFraction: selection.keptFraction };
}
