/**
 * Token-level divergences between a teacher distribution p and a student distribution q, given
 * as log-probabilities [N, V]. Each returns one value per row; `0 · log 0` counts as 0.
 *
 * @module
 */
import { tf } from "./tf.ts";

/** The divergences the distillation losses support. */
export type Divergence = "fkl" | "rkl" | "tvd" | "jsd";

// Entries where the weighting distribution is 0 contribute 0 even when the other log-prob is −∞.
// The mask is built from values outside the gradient, because comparison ops have no gradient.
// A null mask means every entry is positive, so the masking ops are skipped.
function klRows(logA: tf.Tensor2D, logB: tf.Tensor2D, maskA: tf.Tensor2D | null): tf.Tensor1D {
  if (maskA === null) return tf.sum(tf.exp(logA).mul(logA.sub(logB)), -1) as tf.Tensor1D;
  const safeA = tf.where(maskA.cast("bool"), logA, tf.zerosLike(logA));
  const safeB = tf.where(maskA.cast("bool"), logB, tf.zerosLike(logB));
  return tf.sum(tf.exp(safeA).mul(maskA).mul(safeA.sub(safeB)), -1) as tf.Tensor1D;
}

function positiveMask(logProbs: tf.Tensor2D): tf.Tensor2D | null {
  const values = logProbs.dataSync();
  let allPositive = true;
  for (let i = 0; i < values.length && allPositive; i++) allPositive = values[i] > -Infinity;
  if (allPositive) return null;
  const mask = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) mask[i] = values[i] > -Infinity ? 1 : 0;
  return tf.tensor2d(mask, logProbs.shape);
}

/**
 * Returns KL(p ‖ q) per row: forward KL from teacher p to student q.
 *
 * @example
 * ```ts
 * import { tf } from "./tf.ts";
 * import { forwardKl } from "./divergence.ts";
 * const kl = forwardKl(tf.log(tf.tensor2d([[0.5, 0.5]])), tf.log(tf.tensor2d([[0.9, 0.1]]))).dataSync()[0];
 * if (Math.abs(kl - 0.5108) > 1e-4) throw new Error(`KL ${kl}`);
 * ```
 */
export function forwardKl(logP: tf.Tensor2D, logQ: tf.Tensor2D): tf.Tensor1D {
  return klRows(logP, logQ, positiveMask(logP));
}

/** Returns KL(q ‖ p) per row: reverse KL, weighted by the student. */
export function reverseKl(logP: tf.Tensor2D, logQ: tf.Tensor2D): tf.Tensor1D {
  return klRows(logQ, logP, positiveMask(logQ));
}

/** Returns the total variation distance ½ Σ |p − q| per row. */
export function totalVariation(logP: tf.Tensor2D, logQ: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.abs(tf.exp(logP).sub(tf.exp(logQ))), -1).mul(0.5) as tf.Tensor1D;
}

/**
 * Returns JSD(β) = β·KL(p ‖ m) + (1 − β)·KL(q ‖ m) per row, with m = βp + (1 − β)q mixed in
 * probability space (mixing log-probabilities gives a different, wrong number).
 */
export function jensenShannon(logP: tf.Tensor2D, logQ: tf.Tensor2D, beta = 0.5): tf.Tensor1D {
  if (!(beta > 0 && beta < 1)) throw new Error(`invalid JSD beta ${beta}: use a value in (0, 1)`);
  const mixture = tf.exp(logP).mul(beta).add(tf.exp(logQ).mul(1 - beta));
  const logM = tf.log(tf.maximum(mixture, 1e-38)) as tf.Tensor2D;
  return klRows(logP, logM, positiveMask(logP)).mul(beta)
    .add(klRows(logQ, logM, positiveMask(logQ)).mul(1 - beta)) as tf.Tensor1D;
}

/** Returns the per-row divergence named by `kind` (teacher log-probs first). */
export function divergence(kind: Divergence, logP: tf.Tensor2D, logQ: tf.Tensor2D): tf.Tensor1D {
  switch (kind) {
    case "fkl":
      return forwardKl(logP, logQ);
    case "rkl":
      return reverseKl(logP, logQ);
    case "tvd":
      return totalVariation(logP, logQ);
    case "jsd":
      return jensenShannon(logP, logQ);
    default:
      throw new Error(`unknown divergence "${kind}": use fkl, rkl, tvd or jsd`);
  }
}

/** Returns log-softmax of `logits / temperature`. */
export function logProbs(logits: tf.Tensor2D, temperature = 1): tf.Tensor2D {
  if (!(temperature > 0)) throw new Error(`invalid temperature ${temperature}: use a positive number`);
  return tf.logSoftmax(temperature === 1 ? logits : logits.div(temperature)) as tf.Tensor2D;
}
